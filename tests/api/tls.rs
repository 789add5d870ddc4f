//! TLS and mutual TLS on the gRPC listener, with certificates made here: a
//! test CA, a server certificate for localhost and 127.0.0.1, client
//! certificates from that CA and from another one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use goalpost::app::Application;
use goalpost::config::ServeSettings;
use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::audit_service_client::AuditServiceClient;
use goalpost::tls::TlsSettings;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

use crate::helpers::{TestApp, spawn_app_with};

/// A certificate and its key, as PEM files.
struct KeyPairFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl KeyPairFiles {
    fn identity(&self) -> Identity {
        Identity::from_pem(read(&self.cert), read(&self.key))
    }
}

/// The certificates of one test, written to a temporary directory.
struct TestPki {
    dir: TempDir,
    /// The CA that signs the server's and the good client's certificates.
    ca: PathBuf,
    server: KeyPairFiles,
    /// A client certificate signed by the CA.
    client: KeyPairFiles,
    /// A client certificate signed by a CA the server does not know.
    stranger: KeyPairFiles,
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a CA key")).expect("a CA")
}

impl TestPki {
    fn new() -> TestPki {
        let dir = tempfile::tempdir().expect("a directory for certificates");
        let ca = new_ca("goalpost test CA");
        let other_ca = new_ca("some other CA");
        let ca_path = write(dir.path(), "ca.pem", &ca.pem());
        let server = leaf(
            dir.path(),
            "server",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &ca,
        );
        let client = leaf(
            dir.path(),
            "client",
            &["reporting-job"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &ca,
        );
        let stranger = leaf(
            dir.path(),
            "stranger",
            &["reporting-job"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &other_ca,
        );
        TestPki {
            dir,
            ca: ca_path,
            server,
            client,
            stranger,
        }
    }

    /// Server settings for TLS, and for mutual TLS when `mutual`.
    fn settings(&self, mutual: bool) -> TlsSettings {
        TlsSettings {
            tls_cert: Some(self.server.cert.clone()),
            tls_key: Some(self.server.key.clone()),
            tls_client_ca: mutual.then(|| self.ca.clone()),
        }
    }

    /// A TLS endpoint of `app` that trusts the test CA, presenting
    /// `identity` when given.
    fn endpoint(&self, app: &TestApp, identity: Option<Identity>) -> Endpoint {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.ca)))
            .domain_name("localhost");
        if let Some(identity) = identity {
            tls = tls.identity(identity);
        }
        Endpoint::from_shared(format!("https://{}", app.address()))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .tls_config(tls)
            .expect("a client TLS configuration")
    }
}

fn leaf(
    dir: &Path,
    name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &CertifiedIssuer<'static, KeyPair>,
) -> KeyPairFiles {
    let mut params = CertificateParams::new(
        names
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>(),
    )
    .expect("leaf parameters");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("a leaf key");
    let cert = params.signed_by(&key, issuer).expect("a signed leaf");
    KeyPairFiles {
        cert: write(dir, &format!("{name}.pem"), &cert.pem()),
        key: write(dir, &format!("{name}.key"), &key.serialize_pem()),
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write a certificate file");
    path
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read a certificate file")
}

/// The health check through `endpoint`, or why it failed: under TLS 1.3 a
/// refused client certificate may surface at the first call rather than at
/// connect, so both count.
async fn health_check(endpoint: Endpoint) -> Result<ServingStatus, String> {
    let channel = endpoint
        .connect()
        .await
        .map_err(|error| format!("connect: {error:?}"))?;
    health_check_on(channel).await
}

async fn health_check_on(channel: Channel) -> Result<ServingStatus, String> {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|response| response.into_inner().status())
        .map_err(|status| format!("call: {status:?}"))
}

/// Asserts the handshake failed with `reason` (a rustls error or the
/// server's TLS alert), not with something unrelated.
fn assert_refused(answer: Result<ServingStatus, String>, reason: &str) {
    match answer {
        Ok(status) => panic!("the call got through: {status:?}"),
        Err(error) => assert!(error.contains(reason), "expected {reason}: {error}"),
    }
}

/// A real API call: an account created and read back.
async fn create_and_get_account(channel: Channel, handle: &str) {
    let mut audits = AuditServiceClient::new(channel);
    let created = audits
        .create_account(pb::CreateAccountRequest {
            account: Some(pb::Account {
                network: Network::Instagram as i32,
                handle: handle.to_owned(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("create an account over TLS")
        .into_inner();
    let read = audits
        .get_account(pb::GetAccountRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get the account over TLS")
        .into_inner();
    assert_eq!(read.handle, handle);
}

/// The services reflection lists, over `channel`.
async fn reflected_services(channel: Channel) -> Vec<String> {
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection over TLS")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("a reflection answer")
        .expect("one answer");
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => list
            .service
            .into_iter()
            .map(|service| service.name)
            .collect(),
        other => panic!("not a service list: {other:?}"),
    }
}

#[tokio::test]
async fn a_client_trusting_the_ca_reaches_health_reflection_and_the_api_over_tls() {
    let pki = TestPki::new();
    let app = spawn_app_with(|settings| settings.tls = pki.settings(false)).await;
    let channel = pki
        .endpoint(&app, None)
        .connect()
        .await
        .expect("a TLS connection");
    assert_eq!(
        health_check_on(channel.clone()).await,
        Ok(ServingStatus::Serving)
    );
    assert!(
        reflected_services(channel.clone())
            .await
            .contains(&"goalpost.v1.AuditService".to_owned())
    );
    create_and_get_account(channel, "tls_shop").await;
}

#[tokio::test]
async fn a_plaintext_client_is_refused_by_a_tls_server() {
    let pki = TestPki::new();
    let app = spawn_app_with(|settings| settings.tls = pki.settings(false)).await;
    // The helper's channel speaks plaintext HTTP/2. It did connect: the TCP
    // connection opens and the client's preface is sent before the server
    // can judge it; the server then closes the connection, and calls fail.
    let answer = health_check_on(app.channel.clone()).await;
    assert!(answer.is_err(), "plaintext got through: {answer:?}");
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_server_certificate_refuses_it() {
    let pki = TestPki::new();
    let app = spawn_app_with(|settings| settings.tls = pki.settings(false)).await;
    let other = TestPki::new();
    let answer = health_check(other.endpoint(&app, None)).await;
    assert_refused(answer, "InvalidCertificate");
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = TestPki::new();
    let app = spawn_app_with(|settings| settings.tls = pki.settings(true)).await;
    let answer = health_check(pki.endpoint(&app, None)).await;
    assert_refused(answer, "CertificateRequired");
}

#[tokio::test]
async fn mutual_tls_refuses_a_certificate_from_another_ca() {
    let pki = TestPki::new();
    let app = spawn_app_with(|settings| settings.tls = pki.settings(true)).await;
    let answer = health_check(pki.endpoint(&app, Some(pki.stranger.identity()))).await;
    assert_refused(answer, "UnknownCA");
}

#[tokio::test]
async fn mutual_tls_serves_a_client_with_a_certificate_from_the_client_ca() {
    let pki = TestPki::new();
    let app = spawn_app_with(|settings| settings.tls = pki.settings(true)).await;
    let endpoint = pki.endpoint(&app, Some(pki.client.identity()));
    assert_eq!(
        health_check(endpoint.clone()).await,
        Ok(ServingStatus::Serving)
    );
    let channel = endpoint.connect().await.expect("a mutual TLS connection");
    create_and_get_account(channel, "mtls_shop").await;
}

#[tokio::test]
async fn unusable_tls_files_stop_start_up_and_name_the_file() {
    let pki = TestPki::new();
    let missing = pki.dir.path().join("missing.pem");
    let cases = [
        (
            "a certificate file that does not exist",
            TlsSettings {
                tls_cert: Some(missing.clone()),
                tls_key: Some(pki.server.key.clone()),
                tls_client_ca: None,
            },
            missing.display().to_string(),
        ),
        (
            "a key file holding a certificate",
            TlsSettings {
                tls_cert: Some(pki.server.cert.clone()),
                tls_key: Some(pki.server.cert.clone()),
                tls_client_ca: None,
            },
            format!(
                "--tls-key {} holds no private key",
                pki.server.cert.display()
            ),
        ),
        (
            "the key of another certificate",
            TlsSettings {
                tls_cert: Some(pki.server.cert.clone()),
                tls_key: Some(pki.client.key.clone()),
                tls_client_ca: None,
            },
            format!("--tls-key {}", pki.client.key.display()),
        ),
        (
            "a client CA file holding a key",
            TlsSettings {
                tls_cert: Some(pki.server.cert.clone()),
                tls_key: Some(pki.server.key.clone()),
                tls_client_ca: Some(pki.server.key.clone()),
            },
            format!(
                "--tls-client-ca {} holds no certificate",
                pki.server.key.display()
            ),
        ),
    ];
    for (description, tls, expected) in cases {
        // The files are checked before any database is reached.
        let mut settings = ServeSettings::new(
            "127.0.0.1:0".parse().unwrap(),
            Some("postgres://nobody@127.0.0.1:1/none".into()),
        );
        settings.tls = tls;
        let error = match Application::build(&settings).await {
            Ok(_) => panic!("{description}: started"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains(&expected), "{description}: {error}");
    }
}
