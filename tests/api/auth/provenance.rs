//! The token behind every stored observation: recorded with its source
//! label and shown by ListObservations as `recorded_by`.

use goalpost::auth::scopes::Scope;
use goalpost::pb;
use goalpost::pb::account::Network;

use super::{audits_as, create_token, metrics_as};
use crate::helpers::spawn_app_with;
use crate::observations::{obs, t};

/// An observation of `metric` labelled `api`.
fn labelled(metric: &str, account: &str, at: &str, value: f64) -> pb::Observation {
    pb::Observation {
        source: "api".into(),
        ..obs(metric, account, t(at), value)
    }
}

#[tokio::test]
async fn observations_record_the_token_that_wrote_them() {
    let app = spawn_app_with(|settings| settings.token_cache_secs = 0).await;
    // Before any token: anonymous writes record none.
    let account = app.create_account(Network::Instagram, "acme").await.name;
    crate::observations::write(
        &app,
        vec![labelled("likes", &account, "2026-03-01T00:00:00Z", 1.0)],
    )
    .await
    .expect("an anonymous write");

    let first = create_token(&app.pool, "ingest-a", &[Scope::Ingest]).await;
    let second = create_token(&app.pool, "ingest-b", &[Scope::Ingest]).await;
    let auditor = create_token(&app.pool, "auditor", &[Scope::Write]).await;
    let reader = create_token(&app.pool, "reader", &[Scope::Read]).await;

    metrics_as(&app, &first)
        .write_observations(pb::WriteObservationsRequest {
            observations: vec![
                labelled("likes", &account, "2026-03-02T00:00:00Z", 2.0),
                labelled("likes", &account, "2026-03-03T00:00:00Z", 3.0),
            ],
        })
        .await
        .expect("a batch by ingest-a");
    // The second token streams a new value and rewrites one of the first's
    // with the same number: the stored value is now its.
    let chunk = pb::StreamObservationsRequest {
        observations: vec![
            labelled("likes", &account, "2026-03-03T00:00:00Z", 3.0),
            labelled("likes", &account, "2026-03-04T00:00:00Z", 4.0),
        ],
    };
    metrics_as(&app, &second)
        .stream_observations(tokio_stream::iter([chunk]))
        .await
        .expect("a stream by ingest-b");

    // A completed audit records its values under the completing token.
    let mut audits = audits_as(&app, &auditor);
    let audit = audits
        .create_audit(pb::CreateAuditRequest {
            audit: Some(pb::Audit {
                title: "Q1".into(),
                auditor: "ana".into(),
                as_of: Some(crate::observations::ts(t("2026-03-05T00:00:00Z"))),
                entries: vec![pb::AuditEntry {
                    account: account.clone(),
                    metrics: [("followers".to_owned(), 100.0)].into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("create an audit")
        .into_inner();
    audits
        .complete_audit(pb::CompleteAuditRequest {
            name: audit.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("complete the audit");

    let listed = metrics_as(&app, &reader)
        .list_observations(pb::ListObservationsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("list observations")
        .into_inner()
        .observations;
    let mut provenance: Vec<(String, String, f64, String, String)> = listed
        .into_iter()
        .map(|row| {
            let day = crate::observations::observed(&row).date_naive().to_string();
            (row.metric_key, day, row.value, row.source, row.recorded_by)
        })
        .collect();
    provenance.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let expected = [
        (
            "followers",
            "2026-03-05",
            100.0,
            audit.name.as_str(),
            "auditor",
        ),
        ("likes", "2026-03-01", 1.0, "api", ""),
        ("likes", "2026-03-02", 2.0, "api", "ingest-a"),
        ("likes", "2026-03-03", 3.0, "api", "ingest-b"),
        ("likes", "2026-03-04", 4.0, "api", "ingest-b"),
    ]
    .map(|(metric, day, value, source, token)| {
        (
            metric.to_owned(),
            day.to_owned(),
            value,
            source.to_owned(),
            token.to_owned(),
        )
    });
    assert_eq!(provenance, expected);

    // One source row per label and token, however many rows each wrote.
    let sources: Vec<(String, Option<String>)> = sqlx::query_as(
        "select name, token_name from observation_source where name = 'api' order by token_name nulls first",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        sources,
        [
            ("api".to_owned(), None),
            ("api".to_owned(), Some("ingest-a".to_owned())),
            ("api".to_owned(), Some("ingest-b".to_owned())),
        ]
    );
}
