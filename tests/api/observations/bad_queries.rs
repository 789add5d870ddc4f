//! QueryMetric requests that are rejected, each naming the field at fault.

use super::*;

#[tokio::test]
async fn bad_queries_are_rejected_naming_the_field() {
    let app = spawn_app().await;
    let account = app.create_account(Network::Other, "acme").await.name;
    let start = t("2026-03-02T00:00:00Z");
    let end = t("2026-03-03T00:00:00Z");
    let good = || pb::QueryMetricRequest {
        metric_key: "likes".into(),
        accounts: vec![account.clone()],
        start: Some(ts(start)),
        end: Some(ts(end)),
        interval: Interval::Day as i32,
    };
    let mut client = metric_client(&app);
    client.query_metric(good()).await.expect("a good query");

    let cases: Vec<(&str, pb::QueryMetricRequest, Vec<&str>)> = vec![
        (
            "no metric key",
            pb::QueryMetricRequest {
                metric_key: String::new(),
                ..good()
            },
            vec!["metric_key"],
        ),
        (
            "no start",
            pb::QueryMetricRequest {
                start: None,
                ..good()
            },
            vec!["start"],
        ),
        (
            "no end",
            pb::QueryMetricRequest {
                end: None,
                ..good()
            },
            vec!["end"],
        ),
        (
            "neither start nor end",
            pb::QueryMetricRequest {
                start: None,
                end: None,
                ..good()
            },
            vec!["end", "start"],
        ),
        (
            "end equal to start",
            pb::QueryMetricRequest {
                end: Some(ts(start)),
                ..good()
            },
            vec!["end"],
        ),
        (
            "end before start",
            pb::QueryMetricRequest {
                start: Some(ts(end)),
                end: Some(ts(start)),
                ..good()
            },
            vec!["end"],
        ),
        (
            "start before 1970",
            pb::QueryMetricRequest {
                start: Some(ts(t("1969-12-31T00:00:00Z"))),
                end: Some(ts(t("1970-01-02T00:00:00Z"))),
                ..good()
            },
            vec!["start"],
        ),
        (
            "malformed account",
            pb::QueryMetricRequest {
                accounts: vec![account.clone(), "accounts/x".into()],
                ..good()
            },
            vec!["accounts[1]"],
        ),
        (
            "name of another kind of resource",
            pb::QueryMetricRequest {
                accounts: vec!["audits/0190b6f4-5e6b-7c1d-9a2e-3f4a5b6c7d8e".into()],
                ..good()
            },
            vec!["accounts[0]"],
        ),
        (
            "unknown account",
            pb::QueryMetricRequest {
                accounts: vec![String::new(), MISSING_ACCOUNT.into()],
                ..good()
            },
            vec!["accounts[1]"],
        ),
        (
            "unknown interval number",
            pb::QueryMetricRequest {
                interval: 9,
                ..good()
            },
            vec!["interval"],
        ),
        (
            "several problems at once",
            pb::QueryMetricRequest {
                metric_key: String::new(),
                accounts: vec!["x".into()],
                start: None,
                ..good()
            },
            vec!["accounts[0]", "metric_key", "start"],
        ),
    ];
    for (description, request, fields) in cases {
        let error = client.query_metric(request).await.expect_err(description);
        // Every violation is reported; their order is not part of the
        // contract, so both sides are compared sorted.
        assert_error(&error, Code::InvalidArgument, "INVALID_ARGUMENT");
        let mut found: Vec<String> = error
            .get_error_details()
            .bad_request()
            .unwrap_or_else(|| panic!("{description}: no BadRequest in {error:?}"))
            .field_violations
            .iter()
            .map(|violation| violation.field.clone())
            .collect();
        found.sort();
        assert_eq!(found, fields, "{description}: {error:?}");
    }

    let error = client
        .query_metric(pb::QueryMetricRequest {
            start: Some(ts(t("2024-01-01T00:00:00Z"))),
            end: Some(ts(t("2026-01-01T00:00:00Z"))),
            interval: Interval::Hour as i32,
            ..good()
        })
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Code::InvalidArgument,
        "over 10,000 buckets: {error:?}"
    );

    let error = client
        .query_metric(pb::QueryMetricRequest {
            metric_key: "nope".into(),
            ..good()
        })
        .await
        .unwrap_err();
    assert_error(&error, Code::NotFound, "METRIC_NOT_FOUND");
}
