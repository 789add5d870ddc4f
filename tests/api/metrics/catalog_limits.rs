//! The catalog's one hard limit: observations carry their metric's number
//! as a smallint, so the catalog numbers at most 32,767 metrics.

use super::*;

#[tokio::test]
async fn a_full_catalog_refuses_a_new_metric_and_keeps_serving() {
    let app = spawn_app().await;
    // Jump to the last number instead of creating 32,000 metrics.
    sqlx::query("alter table metric_definition alter column metric_id restart with 32767")
        .execute(&app.pool)
        .await
        .expect("move the metric numbers to their end");
    create_metric(&app, base_metric("last_numbered", Aggregation::Sum)).await;
    let status = metric_client(&app)
        .create_metric_definition(create_request(base_metric(
            "one_too_many",
            Aggregation::Sum,
        )))
        .await
        .expect_err("no number is left");
    assert_error(&status, Code::ResourceExhausted, "METRIC_CATALOG_FULL");
    // Nothing was stored, and the next requests are served as before.
    let missing = metric_client(&app)
        .get_metric_definition(pb::GetMetricDefinitionRequest {
            name: "metrics/one_too_many".into(),
        })
        .await
        .expect_err("not stored");
    assert_eq!(missing.code(), Code::NotFound);
    let last = metric_client(&app)
        .get_metric_definition(pb::GetMetricDefinitionRequest {
            name: "metrics/last_numbered".into(),
        })
        .await
        .expect("the last numbered metric")
        .into_inner();
    assert_eq!(last.key, "last_numbered");
}
