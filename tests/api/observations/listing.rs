//! Listing observations in pages and with filters, and the observations a
//! completed audit records.

use super::*;

#[tokio::test]
async fn observations_list_by_metric_then_account_then_time_in_pages_covering_each_once() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Threads, "a").await.name;
    let b = app.create_account(Network::Threads, "b").await.name;
    let mut rows = Vec::new();
    for metric in ["likes", "followers"] {
        for account in [b.as_str(), "", a.as_str()] {
            for hour in [16, 8, 12] {
                let at = t("2026-03-02T00:00:00Z") + TimeDelta::hours(hour);
                rows.push(obs(metric, account, at, hour as f64));
            }
        }
    }
    write(&app, rows.clone()).await.unwrap();
    let expected = in_list_order(&rows);

    let (paged, pages) = list_pages(&app, "", 4).await;
    assert_eq!(pages, 5, "18 rows in pages of 4");
    assert_eq!(keyed(&paged), expected);
    let (default_paged, pages) = list_pages(&app, "", 0).await;
    assert_eq!((keyed(&default_paged), pages), (expected.clone(), 1));

    // Rows written while paging never shift a page: one sorting before the
    // first page's end is not seen, one sorting after it is.
    let mut client = metric_client(&app);
    let first = client
        .list_observations(pb::ListObservationsRequest {
            page_size: 4,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keyed(&first.observations), expected[..4]);
    let before_cursor = obs("comments", &a, t("2026-03-02T09:00:00Z"), 1.0);
    let after_cursor = obs("likes", &b, t("2026-03-02T20:00:00Z"), 20.0);
    write(&app, vec![before_cursor, after_cursor.clone()])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let mut page_token = first.next_page_token;
    while !page_token.is_empty() {
        let page = client
            .list_observations(pb::ListObservationsRequest {
                page_size: 4,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        rest.extend(page.observations);
        page_token = page.next_page_token;
    }
    rows.push(after_cursor);
    assert_eq!(keyed(&rest), in_list_order(&rows)[4..]);
}

#[tokio::test]
async fn list_filters_select_by_metric_account_and_time() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Other, "a").await.name;
    let b = app.create_account(Network::Other, "b").await.name;
    let mut rows = Vec::new();
    for metric in ["likes", "followers"] {
        for account in ["", a.as_str(), b.as_str()] {
            for at in [
                "2026-03-02T08:00:00Z",
                "2026-03-02T12:00:00Z",
                "2026-03-02T16:00:00Z",
            ] {
                rows.push(obs(metric, account, t(at), 1.0));
            }
        }
    }
    write(&app, rows.clone()).await.unwrap();

    let noon = t("2026-03-02T12:00:00Z");
    type Predicate<'a> = Box<dyn Fn(&pb::Observation) -> bool + 'a>;
    let cases: Vec<(String, Predicate<'_>)> = vec![
        (
            r#"metric_key = "likes""#.into(),
            Box::new(|row: &pb::Observation| row.metric_key == "likes"),
        ),
        (
            r#"metric_key != "likes""#.into(),
            Box::new(|row: &pb::Observation| row.metric_key != "likes"),
        ),
        (
            format!(r#"account = "{a}""#),
            Box::new(|row: &pb::Observation| row.account == a),
        ),
        (
            r#"account = """#.into(),
            Box::new(|row: &pb::Observation| row.account.is_empty()),
        ),
        (
            r#"account != """#.into(),
            Box::new(|row: &pb::Observation| !row.account.is_empty()),
        ),
        (
            r#"observed_at >= "2026-03-02T12:00:00Z""#.into(),
            Box::new(|row: &pb::Observation| observed(row) >= noon),
        ),
        (
            r#"observed_at > "2026-03-02T12:00:00Z""#.into(),
            Box::new(|row: &pb::Observation| observed(row) > noon),
        ),
        (
            r#"observed_at < "2026-03-02T12:00:00Z""#.into(),
            Box::new(|row: &pb::Observation| observed(row) < noon),
        ),
        (
            r#"observed_at <= "2026-03-02T12:00:00Z""#.into(),
            Box::new(|row: &pb::Observation| observed(row) <= noon),
        ),
        (
            r#"observed_at = "2026-03-02T13:00:00+01:00""#.into(),
            Box::new(|row: &pb::Observation| observed(row) == noon),
        ),
        (
            r#"observed_at != "2026-03-02T12:00:00Z""#.into(),
            Box::new(|row: &pb::Observation| observed(row) != noon),
        ),
        (
            format!(
                r#"metric_key = "followers" AND account != "{b}" AND observed_at < "2026-03-02T16:00:00Z""#
            ),
            Box::new(|row: &pb::Observation| {
                row.metric_key == "followers"
                    && row.account != b
                    && observed(row) < t("2026-03-02T16:00:00Z")
            }),
        ),
        (
            r#"metric_key = "nope""#.into(),
            Box::new(|_: &pb::Observation| false),
        ),
    ];
    for (filter, predicate) in cases {
        let matching: Vec<pb::Observation> =
            rows.iter().filter(|row| predicate(row)).cloned().collect();
        let (listed, _) = list_pages(&app, &filter, 5).await;
        assert_eq!(keyed(&listed), in_list_order(&matching), "{filter}");
    }
}

#[tokio::test]
async fn bad_list_requests_are_invalid_arguments() {
    let app = spawn_app().await;
    let mut client = metric_client(&app);
    let request = |filter: &str| pb::ListObservationsRequest {
        filter: filter.into(),
        ..Default::default()
    };
    let cases = [
        (
            "negative page size",
            pb::ListObservationsRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        ("unknown field", request(r#"source = "crm""#), "filter"),
        (
            "or",
            request(r#"metric_key = "a" OR metric_key = "b""#),
            "filter",
        ),
        (
            "ordering on a metric key",
            request(r#"metric_key < "m""#),
            "filter",
        ),
        (
            "not a time",
            request(r#"observed_at > "yesterday""#),
            "filter",
        ),
        (
            "garbage token",
            pb::ListObservationsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ];
    for (description, request, field) in cases {
        let error = client
            .list_observations(request)
            .await
            .expect_err(description);
        assert_violations(&error, &[field]);
        if description == "unknown field" || description == "or" {
            assert!(
                error.message().contains("supported"),
                "{description}: {}",
                error.message()
            );
        }
    }

    // A token only continues the listing it came from.
    let rows = (0..3)
        .map(|i| {
            obs(
                "likes",
                "",
                t("2026-03-02T00:00:00Z") + TimeDelta::hours(i),
                1.0,
            )
        })
        .collect();
    write(&app, rows).await.unwrap();
    let page = client
        .list_observations(pb::ListObservationsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let error = client
        .list_observations(pb::ListObservationsRequest {
            page_size: 1,
            page_token: page.next_page_token,
            filter: r#"metric_key = "likes""#.into(),
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["page_token"]);
}

#[tokio::test]
async fn completing_an_audit_records_its_base_metric_values_as_observations() {
    let app = spawn_app().await;
    let a = app.create_account(Network::Instagram, "a").await.name;
    let b = app.create_account(Network::X, "b").await.name;
    let as_of = t("2026-06-01T12:00:00Z");
    let entry = |account: &str, metrics: &[(&str, f64)]| pb::AuditEntry {
        account: account.to_owned(),
        metrics: metrics
            .iter()
            .map(|(key, value)| ((*key).to_owned(), *value))
            .collect(),
        ..Default::default()
    };
    let audit = app
        .audits()
        .create_audit(pb::CreateAuditRequest {
            audit: Some(pb::Audit {
                title: "Mid-year audit".into(),
                as_of: Some(ts(as_of)),
                entries: vec![
                    entry(
                        &a,
                        &[
                            ("followers", 1000.0),
                            ("likes", 50.0),
                            ("engagement_rate", 3.5),
                        ],
                    ),
                    entry(&b, &[("followers", 200.0), ("impressions", 4000.0)]),
                ],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        list_all(&app, "").await.is_empty(),
        "a draft records nothing"
    );

    app.audits()
        .complete_audit(pb::CompleteAuditRequest {
            name: audit.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let listed = list_all(&app, "").await;
    let found: Vec<(&str, &str, DateTime<Utc>, f64, &str)> = listed
        .iter()
        .map(|row| {
            (
                row.metric_key.as_str(),
                row.account.as_str(),
                observed(row),
                row.value,
                row.source.as_str(),
            )
        })
        .collect();
    let mut expected = vec![
        ("followers", a.as_str(), as_of, 1000.0, audit.name.as_str()),
        ("followers", b.as_str(), as_of, 200.0, audit.name.as_str()),
        (
            "impressions",
            b.as_str(),
            as_of,
            4000.0,
            audit.name.as_str(),
        ),
        ("likes", a.as_str(), as_of, 50.0, audit.name.as_str()),
    ];
    expected.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
    assert_eq!(
        found, expected,
        "base metrics only, at as_of, sourced to the audit"
    );
    assert!(listed.iter().all(|row| row.recorded_at.is_some()));
    assert_rollups_match_observations(&app).await;

    // The snapshot counts like any other observation.
    let followers = query(
        &app,
        "followers",
        &[],
        as_of - TimeDelta::hours(1),
        as_of + TimeDelta::hours(1),
        Interval::Unspecified,
    )
    .await;
    assert_eq!(values(&followers), [Some(1200.0)]);
}
