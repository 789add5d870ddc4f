//! ListMetricDefinitions: pages, filters and bad list requests.

use super::builtin::{BUILTIN_BASE, BUILTIN_DERIVED};
use super::*;

#[tokio::test]
async fn listing_pages_through_the_catalog_in_key_order_once() {
    let app = spawn_app().await;
    // Custom metrics sort in among the built-in ones.
    create_metric(&app, base_metric("aaa_first", Aggregation::Sum)).await;
    create_metric(&app, base_metric("zzz_last", Aggregation::Max)).await;
    let (whole, pages) = list_all(&app, "", 1000).await;
    assert_eq!(pages, 1);
    assert_eq!(whole.len(), 43);

    let (paged, pages) = list_all(&app, "", 7).await;
    assert_eq!(pages, 7, "43 definitions in pages of 7");
    assert_eq!(paged, whole, "every definition once, in the same order");
    let mut sorted = keys(&paged);
    sorted.sort_unstable();
    assert_eq!(keys(&paged), sorted, "ordered by key");
    assert_eq!(paged.first().unwrap().key, "aaa_first");
    assert_eq!(paged.last().unwrap().key, "zzz_last");

    // The default page size is 50, enough for the whole catalog here.
    let (default_paged, pages) = list_all(&app, "", 0).await;
    assert_eq!(pages, 1);
    assert_eq!(default_paged, whole);
}

#[tokio::test]
async fn list_filters_select_derived_and_custom_metrics() {
    let app = spawn_app().await;
    create_metric(&app, base_metric("webinar_signups", Aggregation::Sum)).await;
    create_metric(
        &app,
        derived_metric(
            "signups_per_click",
            vec![term("webinar_signups", 1.0)],
            vec![term("clicks", 1.0)],
            1.0,
        ),
    )
    .await;

    let mut derived: Vec<&str> = BUILTIN_DERIVED.iter().map(|(key, ..)| *key).collect();
    derived.push("signups_per_click");
    derived.sort_unstable();
    let mut builtin_derived: Vec<&str> = BUILTIN_DERIVED.iter().map(|(key, ..)| *key).collect();
    builtin_derived.sort_unstable();
    let mut base: Vec<&str> = BUILTIN_BASE.iter().map(|(key, ..)| *key).collect();
    base.push("webinar_signups");
    base.sort_unstable();

    let cases: [(&str, &str, Vec<&str>); 7] = [
        ("derived without prefix", "kind = DERIVED", derived.clone()),
        (
            "derived with prefix",
            "kind = KIND_DERIVED",
            derived.clone(),
        ),
        ("not derived", "kind != DERIVED", base.clone()),
        (
            "custom base",
            "kind = BASE AND builtin = false",
            vec!["webinar_signups"],
        ),
        (
            "custom",
            "builtin = false",
            vec!["signups_per_click", "webinar_signups"],
        ),
        (
            "built-in derived",
            "kind = DERIVED AND builtin = true",
            builtin_derived,
        ),
        (
            "custom and built-in",
            "builtin = true AND builtin = false",
            vec![],
        ),
    ];
    for (description, filter, expected) in cases {
        let (listed, _) = list_all(&app, filter, 5).await;
        assert_eq!(keys(&listed), expected, "{description}: {filter}");
    }
}

#[tokio::test]
async fn bad_list_requests_say_what_is_supported() {
    let app = spawn_app().await;
    let mut client = metric_client(&app);
    let cases = [
        (
            "negative page size",
            pb::ListMetricDefinitionsRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        (
            "or",
            pb::ListMetricDefinitionsRequest {
                filter: "kind = BASE OR kind = DERIVED".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "unknown field",
            pb::ListMetricDefinitionsRequest {
                filter: "colour = RED".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "unknown enum value",
            pb::ListMetricDefinitionsRequest {
                filter: "kind = RATIO".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "not a boolean",
            pb::ListMetricDefinitionsRequest {
                filter: "builtin = maybe".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            "garbage token",
            pb::ListMetricDefinitionsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ];
    for (description, request, field) in cases {
        let error = client.list_metric_definitions(request).await.unwrap_err();
        assert_violations(&error, &[field]);
        if description == "or" || description == "unknown field" {
            assert!(
                error.message().contains("supported"),
                "{description}: {}",
                error.message()
            );
        }
    }

    // A token only continues the listing it came from.
    let page = client
        .list_metric_definitions(pb::ListMetricDefinitionsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let error = client
        .list_metric_definitions(pb::ListMetricDefinitionsRequest {
            page_size: 2,
            page_token: page.next_page_token,
            filter: "kind = DERIVED".into(),
        })
        .await
        .unwrap_err();
    assert_violations(&error, &["page_token"]);
}
