//! TLS and mutual TLS on the gRPC listener, through tonic's rustls support:
//! the `serve` flags, and turning their PEM files into a server
//! configuration with errors that name the file at fault.
//!
//! Health and reflection share the listener, so under TLS they are served
//! over TLS too (and under mutual TLS they need a client certificate like
//! everything else: the handshake happens before any method is known).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

/// How long a client may take to complete the TLS handshake. Without a
/// bound, a peer that opens a connection and sends nothing would hold a
/// handshake task for good.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS flags of `goalpost serve`. Without any, the listener speaks
/// plaintext gRPC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct TlsSettings {
    /// A PEM file with the server's certificate chain, its own certificate
    /// first. Serves gRPC over TLS; needs --tls-key.
    #[arg(long, env = "GOALPOST_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// A PEM file with the private key of --tls-cert (PKCS#8, PKCS#1 or
    /// SEC1). Needs --tls-cert.
    #[arg(long, env = "GOALPOST_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// A PEM file with the CA certificates that sign client certificates.
    /// Turns on mutual TLS: a client without a certificate signed by one of
    /// them is refused during the handshake. Needs --tls-cert and --tls-key.
    #[arg(long, env = "GOALPOST_TLS_CLIENT_CA", requires_all = ["tls_cert", "tls_key"])]
    pub tls_client_ca: Option<PathBuf>,
}

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Only one of the certificate and the key was given.
    #[error("--tls-cert and --tls-key go together: {missing} is missing")]
    Incomplete {
        /// The flag that was not given.
        missing: &'static str,
    },
    /// A client CA was given without a server certificate and key.
    #[error(
        "--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS with client certificates"
    )]
    ClientCaWithoutTls,
    /// A file could not be read.
    #[error("cannot read {flag} {path}: {source}")]
    Unreadable {
        /// The flag that named the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// A file is not the PEM it should be, or holds none of what it should.
    #[error("{flag} {path} {problem}")]
    BadPem {
        /// The flag that named the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it, as the end of a sentence.
        problem: String,
    },
    /// rustls refused the files together, most often a key that does not
    /// belong to the certificate.
    #[error(
        "the TLS files are unusable together ({reason}): check that --tls-key {key} is the key of --tls-cert {cert}"
    )]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        reason: String,
    },
}

impl TlsSettings {
    /// Whether these settings ask for TLS at all.
    pub fn is_enabled(&self) -> bool {
        self.tls_cert.is_some() || self.tls_key.is_some() || self.tls_client_ca.is_some()
    }

    /// `off`, `on` or `mutual`, for the start-up log line.
    pub fn mode(&self) -> &'static str {
        match (&self.tls_cert, &self.tls_client_ca) {
            (None, _) => "off",
            (Some(_), None) => "on",
            (Some(_), Some(_)) => "mutual",
        }
    }

    /// The server configuration these settings ask for: `None` for
    /// plaintext. Every file is read and checked now, so a bad one stops
    /// start-up with its name rather than failing the first handshake.
    pub fn server_config(&self) -> Result<Option<ServerTlsConfig>, TlsError> {
        let (cert_path, key_path) = match (&self.tls_cert, &self.tls_key) {
            (None, None) if self.tls_client_ca.is_some() => {
                return Err(TlsError::ClientCaWithoutTls);
            }
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(TlsError::Incomplete {
                    missing: "--tls-key",
                });
            }
            (None, Some(_)) => {
                return Err(TlsError::Incomplete {
                    missing: "--tls-cert",
                });
            }
            (Some(cert), Some(key)) => (cert, key),
        };
        let cert = read_certificates("--tls-cert", cert_path)?;
        let key = read_key(key_path)?;
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(cert, key))
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca_path) = &self.tls_client_ca {
            let ca = read_certificates("--tls-client-ca", ca_path)?;
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        // Building an acceptor is the only way to have rustls judge the
        // files together (a key of another certificate, an unsupported key
        // type) before the first client does.
        Server::builder()
            .tls_config(config.clone())
            .map_err(|error| TlsError::Rejected {
                cert: cert_path.clone(),
                key: key_path.clone(),
                reason: error_chain(&error),
            })?;
        Ok(Some(config))
    }
}

/// TLS on a server builder when the settings asked for it, so the builder
/// chain reads the same with and without.
pub trait WithTls: Sized {
    /// Applies `config`, when there is one. The configuration holds the
    /// files' bytes, read and checked once by
    /// [`TlsSettings::server_config`], so this does not fail in practice.
    fn with_tls(self, config: Option<ServerTlsConfig>) -> Result<Self, tonic::transport::Error>;
}

impl<L> WithTls for Server<L> {
    fn with_tls(self, config: Option<ServerTlsConfig>) -> Result<Self, tonic::transport::Error> {
        match config {
            Some(config) => self.tls_config(config),
            None => Ok(self),
        }
    }
}

/// The caller's address, whether the connection is plaintext or TLS (tonic
/// files the two under different connection-info types).
pub fn peer_address(extensions: &http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.get_ref().remote_addr())
        })
}

/// The bytes of a PEM file holding at least one certificate, checked.
fn read_certificates(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = read(flag, path)?;
    let mut count = 0;
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        certificate.map_err(|error| bad_pem(flag, path, &error))?;
        count += 1;
    }
    if count == 0 {
        return Err(TlsError::BadPem {
            flag,
            path: path.to_owned(),
            problem: "holds no certificate (expected a PEM CERTIFICATE block)".to_owned(),
        });
    }
    Ok(bytes)
}

/// The bytes of a PEM file holding a private key, checked.
fn read_key(path: &Path) -> Result<Vec<u8>, TlsError> {
    let flag = "--tls-key";
    let bytes = read(flag, path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(_) => Ok(bytes),
        Err(pem::Error::NoItemsFound) => Err(TlsError::BadPem {
            flag,
            path: path.to_owned(),
            problem: "holds no private key (expected a PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)".to_owned(),
        }),
        Err(error) => Err(bad_pem(flag, path, &error)),
    }
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable {
        flag,
        path: path.to_owned(),
        source,
    })
}

fn bad_pem(flag: &'static str, path: &Path, error: &pem::Error) -> TlsError {
    TlsError::BadPem {
        flag,
        path: path.to_owned(),
        problem: format!("is not valid PEM: {error}"),
    }
}

/// An error with its causes: tonic's own text ("transport error") hides
/// what rustls said.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cert: Option<&str>, key: Option<&str>, ca: Option<&str>) -> TlsSettings {
        TlsSettings {
            tls_cert: cert.map(PathBuf::from),
            tls_key: key.map(PathBuf::from),
            tls_client_ca: ca.map(PathBuf::from),
        }
    }

    #[test]
    fn the_serve_flags_must_come_in_usable_combinations() {
        use crate::config::{Cli, Command};
        use clap::Parser;
        let parse = |flags: &[&str]| {
            let args = ["goalpost", "serve"].iter().chain(flags).copied();
            Cli::try_parse_from(args).map(|cli| match cli.command {
                Command::Serve(settings) => settings.tls,
                _ => panic!("serve parses as serve"),
            })
        };
        let cases: [(&str, &[&str], Option<&str>); 6] = [
            ("no flags: plaintext", &[], Some("off")),
            (
                "a certificate and a key",
                &["--tls-cert", "c", "--tls-key", "k"],
                Some("on"),
            ),
            (
                "and a client CA",
                &["--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca"],
                Some("mutual"),
            ),
            ("a certificate alone", &["--tls-cert", "c"], None),
            ("a key alone", &["--tls-key", "k"], None),
            ("a client CA alone", &["--tls-client-ca", "ca"], None),
        ];
        for (description, flags, expected) in cases {
            let parsed = parse(flags);
            assert_eq!(
                parsed.as_ref().ok().map(TlsSettings::mode),
                expected,
                "{description}"
            );
        }
    }

    #[test]
    fn no_tls_flags_mean_plaintext() {
        let none = TlsSettings::default();
        assert!(!none.is_enabled());
        assert!(none.server_config().unwrap().is_none());
    }

    #[test]
    fn incomplete_settings_are_refused_with_the_missing_flag() {
        let cases = [
            (
                "a certificate without a key",
                settings(Some("c"), None, None),
                "--tls-key is missing",
            ),
            (
                "a key without a certificate",
                settings(None, Some("k"), None),
                "--tls-cert is missing",
            ),
            (
                "a client CA alone",
                settings(None, None, Some("ca")),
                "--tls-client-ca needs",
            ),
        ];
        for (description, settings, expected) in cases {
            let error = settings.server_config().expect_err(description).to_string();
            assert!(error.contains(expected), "{description}: {error}");
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = settings(
            Some("/nonexistent/cert.pem"),
            Some("/nonexistent/key.pem"),
            None,
        )
        .server_config()
        .expect_err("no such file")
        .to_string();
        assert!(
            error.contains("--tls-cert /nonexistent/cert.pem"),
            "{error}"
        );
    }

    #[test]
    fn files_without_the_right_pem_blocks_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        let error = settings(not_pem.to_str(), not_pem.to_str(), None)
            .server_config()
            .expect_err("no certificate")
            .to_string();
        assert!(error.contains("holds no certificate"), "{error}");
        assert!(error.contains(not_pem.to_str().unwrap()), "{error}");
    }
}
