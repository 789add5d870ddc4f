//! What the fuzzing properties (`tests/api/fuzz/`, the `properties`
//! modules) found, kept as plain tests: forged page tokens ending on times
//! PostgreSQL cannot bind, and errors echoing wide characters.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use goalpost::pb;
use serde_json::json;

use crate::helpers::{assert_violations, spawn_app};
use crate::metrics::metric_client;
use crate::progress::progress_client;

/// A page token in the service's format for the empty filter.
fn token(after: serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(json!({"after": after, "filter": ""}).to_string())
}

/// Microseconds since 1970 of the moment before 4714-11-24 BC, where
/// PostgreSQL's timestamps begin: a time chrono holds and PostgreSQL refuses.
const BEFORE_POSTGRESQL: i64 = -210_866_803_200_000_001;

#[tokio::test]
async fn a_page_token_ending_on_a_time_beyond_postgresql_is_a_page_token_violation() {
    let app = spawn_app().await;
    let nil = uuid::Uuid::nil().to_string();
    for micros in [BEFORE_POSTGRESQL, i64::MIN, i64::MAX] {
        let observations = metric_client(&app)
            .list_observations(pb::ListObservationsRequest {
                page_token: token(json!(["likes", nil, micros])),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_violations(&observations, &["page_token"]);
        let report = progress_client(&app)
            .list_goal_progress(pb::ListGoalProgressRequest {
                page_token: token(json!([nil, micros])),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_violations(&report, &["page_token"]);
    }
}
#[tokio::test]
async fn errors_echoing_wide_characters_reach_the_client_whole() {
    let app = spawn_app().await;
    let day = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    for wide in ["\u{2028}", "🎯"] {
        // Each character takes 3 or 4 bytes, 9 or 12 once percent-encoded:
        // counted as characters, the echoed name overflowed the 16 KiB of
        // headers a tonic client accepts, which then saw a protocol error.
        let unknown = metric_client(&app)
            .query_metric(pb::QueryMetricRequest {
                metric_key: wide.repeat(1_000),
                start: day(1_700_000_000),
                end: day(1_700_086_400),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::NotFound, "{unknown:?}");
        let observations = (0..30)
            .map(|_| pb::Observation {
                metric_key: "likes".into(),
                account: wide.repeat(300),
                observed_at: day(1_700_000_000),
                ..Default::default()
            })
            .collect();
        let invalid = metric_client(&app)
            .write_observations(pb::WriteObservationsRequest { observations })
            .await
            .unwrap_err();
        let fields: Vec<String> = (0..20)
            .map(|row| format!("observations[{row}].account"))
            .collect();
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        assert_violations(&invalid, &fields);
    }
}
