//! MetricService catalog methods through real gRPC calls: the built-in
//! metrics of DESIGN §1 and custom base and derived metrics.

use goalpost::pb;
use goalpost::pb::metric_definition::{Aggregation, Better, Kind};
use goalpost::pb::metric_service_client::MetricServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{TestApp, assert_error, assert_violations, page_through, spawn_app};

mod bad_definitions;
mod builtin;
mod catalog_limits;
mod custom;
mod listing;

/// A client of MetricService.
pub fn metric_client(app: &TestApp) -> MetricServiceClient<Channel> {
    MetricServiceClient::new(app.channel.clone())
}

/// A custom base metric aggregating by `aggregation`, higher being better.
pub fn base_metric(key: &str, aggregation: Aggregation) -> pb::MetricDefinition {
    pb::MetricDefinition {
        key: key.to_owned(),
        kind: Kind::Base as i32,
        aggregation: aggregation as i32,
        better: Better::Higher as i32,
        ..Default::default()
    }
}

/// A formula term.
pub fn term(metric_key: &str, coefficient: f64) -> pb::Term {
    pb::Term {
        metric_key: metric_key.to_owned(),
        coefficient,
    }
}

/// A custom derived metric, higher being better.
pub fn derived_metric(
    key: &str,
    numerator: Vec<pb::Term>,
    denominator: Vec<pb::Term>,
    scale: f64,
) -> pb::MetricDefinition {
    pb::MetricDefinition {
        key: key.to_owned(),
        kind: Kind::Derived as i32,
        better: Better::Higher as i32,
        formula: Some(pb::Formula {
            numerator,
            denominator,
            scale,
        }),
        ..Default::default()
    }
}

fn create_request(definition: pb::MetricDefinition) -> pb::CreateMetricDefinitionRequest {
    pb::CreateMetricDefinitionRequest {
        metric_definition: Some(definition),
        request_id: String::new(),
    }
}

/// Creates a custom metric, failing the test if that fails.
pub async fn create_metric(
    app: &TestApp,
    definition: pb::MetricDefinition,
) -> pb::MetricDefinition {
    metric_client(app)
        .create_metric_definition(create_request(definition))
        .await
        .expect("create a metric definition")
        .into_inner()
}

/// Every definition matching `filter`, read `page_size` at a time, and how
/// many pages that took.
async fn list_all(
    app: &TestApp,
    filter: &str,
    page_size: i32,
) -> (Vec<pb::MetricDefinition>, usize) {
    let client = metric_client(app);
    page_through(page_size, |page_token| {
        let mut client = client.clone();
        async move {
            let page = client
                .list_metric_definitions(pb::ListMetricDefinitionsRequest {
                    page_size,
                    page_token,
                    filter: filter.to_owned(),
                })
                .await
                .unwrap_or_else(|e| panic!("list with filter {filter:?}: {e:?}"))
                .into_inner();
            (page.metric_definitions, page.next_page_token)
        }
    })
    .await
}

fn keys(definitions: &[pb::MetricDefinition]) -> Vec<&str> {
    definitions.iter().map(|d| d.key.as_str()).collect()
}
