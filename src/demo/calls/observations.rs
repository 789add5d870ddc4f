//! A year of daily observations for every demo series, in one
//! StreamObservations call: one transaction, so a failed load leaves nothing
//! half written, and a rerun replaces each value with the same one.

use super::{Clients, failed};
use crate::api::time::to_proto;
use crate::demo::DemoError;
use crate::demo::accounts::{AccountKey, DemoAccount};
use crate::demo::goals::AccountNames;
use crate::demo::timeline::{Timeline, observation_time};
use crate::pb;

/// Observations per stream message: well below the service's 10,000 and the
/// 4 MiB message limit, large enough that a year takes a few messages.
const CHUNK: usize = 5_000;

/// The source every demo observation names.
pub const SOURCE: &str = "goalpost-demo";

/// Writes every day of the timeline for every series of every account;
/// returns how many observations the service stored.
pub async fn write_observations(
    clients: &mut Clients,
    accounts: &[(AccountKey, DemoAccount)],
    names: &AccountNames,
    timeline: &Timeline,
) -> Result<i64, DemoError> {
    let mut observations = Vec::new();
    for (key, account) in accounts {
        let Some(name) = names.get(key) else {
            continue;
        };
        for metric in account.profile.metrics() {
            for day in timeline.days() {
                observations.push(pb::Observation {
                    metric_key: metric.key().to_owned(),
                    account: name.clone(),
                    observed_at: Some(to_proto(observation_time(day))),
                    value: account.value(metric, day, timeline.anchor),
                    source: SOURCE.to_owned(),
                    recorded_at: None,
                    recorded_by: String::new(),
                });
            }
        }
    }
    let chunks: Vec<pb::StreamObservationsRequest> = observations
        .chunks(CHUNK)
        .map(|chunk| pb::StreamObservationsRequest {
            observations: chunk.to_vec(),
        })
        .collect();
    let response = clients
        .metrics
        .stream_observations(tokio_stream::iter(chunks))
        .await
        .map_err(failed("writing the observations"))?
        .into_inner();
    Ok(response.observation_count)
}
