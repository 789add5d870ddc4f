//! The writes of AuditService and MetricService with bodies near valid
//! ones: accounts, audits and their entries, metric definitions, and
//! observations written in a batch and streamed.

use goalpost::pb;
use proptest::prelude::*;
use prost_types::FieldMask;
use tonic::Status;
use uuid::Uuid;

use super::generators::{enum_number, hostile_f64, hostile_text, sometimes};
use super::{Ctx, Fixture, Fuzz, Outcomes, answered, moment, near, near_text};

/// Update masks: absent, or paths near the resource's own.
pub fn mask(paths: &'static [&'static str]) -> impl Strategy<Value = Option<FieldMask>> {
    let path = near(prop::sample::select(paths).prop_map(str::to_owned));
    prop::option::of(prop::collection::vec(path, 0..4).prop_map(|paths| FieldMask { paths }))
}

/// AIP-155 request ids: none, a UUID, or near one.
pub fn request_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        near(any::<u128>().prop_map(|id| Uuid::from_u128(id).to_string())),
    ]
}

fn account() -> impl Strategy<Value = pb::Account> {
    (
        (
            sometimes(enum_number(11)),
            prop_oneof!["@?[a-z][a-z0-9_.]{0,15}", hostile_text()],
            sometimes(near_text(&["https://instagram.com/acme"])),
            sometimes(near_text(&["Acme"])),
        ),
        (
            sometimes(near_text(&["social team"])),
            sometimes(near_text(&["brand\nsupport"])),
            sometimes(enum_number(4)),
        ),
    )
        .prop_map(
            |((network, handle, profile_url, display_name), (owner, purpose, status))| {
                pb::Account {
                    network: network.unwrap_or(1),
                    handle,
                    profile_url: profile_url.unwrap_or_default(),
                    display_name: display_name.unwrap_or_default(),
                    owner: owner.unwrap_or_default(),
                    purpose: purpose.unwrap_or_default(),
                    status: status.unwrap_or_default(),
                    ..Default::default()
                }
            },
        )
}

fn entry(fixture: &Fixture) -> impl Strategy<Value = pb::AuditEntry> + use<> {
    // Entries are mostly valid, so that audits holding them get created
    // and completed, their figures becoming findings and observations.
    let metric = prop_oneof![
        4 => prop::sample::select(vec!["likes".to_owned(), "followers".to_owned()]),
        2 => near(prop::sample::select(fixture.metric_keys.clone())),
        1 => hostile_text(),
    ];
    let value = prop_oneof![4 => 0.0..1e6f64, 1 => hostile_f64()];
    (
        (
            prop::sample::select(fixture.accounts.clone()),
            sometimes(near(prop::sample::select(fixture.accounts.clone()))),
        ),
        prop::collection::btree_map(metric, value, 0..4),
        sometimes(prop::collection::vec(
            near_text(&["https://instagram.com/p/1"]),
            0..3,
        )),
        sometimes(enum_number(3)),
        sometimes(near_text(&["grew\nwell"])),
    )
        .prop_map(
            |(account, metrics, top_post_urls, assessment, notes)| pb::AuditEntry {
                account: account.1.unwrap_or(account.0),
                metrics,
                top_post_urls: top_post_urls.unwrap_or_default(),
                assessment: assessment.unwrap_or_default(),
                notes: notes.unwrap_or_default(),
            },
        )
}

fn audit(fixture: &Fixture) -> impl Strategy<Value = pb::Audit> + use<> {
    (
        near_text(&["Q3 audit"]),
        sometimes(near_text(&["Ana"])),
        sometimes(prop::option::of(moment())),
        prop::collection::vec(entry(fixture), 0..4),
    )
        .prop_map(|(title, auditor, as_of, entries)| pb::Audit {
            title,
            auditor: auditor.unwrap_or_default(),
            as_of: as_of.flatten(),
            entries,
            ..Default::default()
        })
}

fn definition(fixture: &Fixture) -> impl Strategy<Value = pb::MetricDefinition> + use<> {
    let term = (
        near(prop::sample::select(fixture.metric_keys.clone())),
        prop_oneof![1.0..10.0f64, hostile_f64()],
    )
        .prop_map(|(metric_key, coefficient)| pb::Term {
            metric_key,
            coefficient,
        });
    let formula = (
        prop::collection::vec(term.clone(), 0..3),
        prop::collection::vec(term, 0..3),
        prop_oneof![1.0..1000.0f64, hostile_f64()],
    )
        .prop_map(|(numerator, denominator, scale)| pb::Formula {
            numerator,
            denominator,
            scale,
        });
    (
        prop_oneof!["fuzz_[a-z0-9_]{1,20}", hostile_text()],
        any::<bool>(),
        (
            sometimes(near_text(&["Custom"])),
            sometimes(near_text(&["what it counts"])),
            sometimes(near_text(&["%"])),
        ),
        (
            sometimes(enum_number(2)),
            sometimes(enum_number(5)),
            sometimes(enum_number(2)),
            prop::option::of(formula),
        ),
    )
        .prop_map(|(key, derived, texts, numbers)| {
            let (display_name, description, unit) = texts;
            let (kind, aggregation, better, formula) = numbers;
            pb::MetricDefinition {
                key,
                display_name: display_name.unwrap_or_default(),
                description: description.unwrap_or_default(),
                unit: unit.unwrap_or_default(),
                kind: kind.unwrap_or(if derived { 2 } else { 1 }),
                aggregation: aggregation.unwrap_or(if derived { 0 } else { 1 }),
                better: better.unwrap_or(1),
                formula,
                ..Default::default()
            }
        })
}

/// A valid observation of a base metric in the past year, a few fields
/// replaced.
fn observation(fixture: &Fixture) -> impl Strategy<Value = pb::Observation> + use<> {
    let mut accounts = fixture.accounts.clone();
    accounts.push(String::new());
    let days_ago = (0i64..365).prop_map(|days| prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() - days * 86_400,
        nanos: 0,
    });
    (
        (
            prop::sample::select(vec!["likes", "followers", "fuzz_reach"]),
            sometimes(near(prop::sample::select(fixture.metric_keys.clone()))),
        ),
        (
            prop::sample::select(accounts.clone()),
            sometimes(near(prop::sample::select(accounts))),
        ),
        (days_ago, sometimes(prop::option::of(moment()))),
        prop_oneof![5 => 0.0..1e6f64, 1 => hostile_f64()],
        sometimes(near_text(&["api"])),
    )
        .prop_map(
            |(metric_key, account, observed_at, value, source)| pb::Observation {
                metric_key: metric_key.1.unwrap_or_else(|| metric_key.0.to_owned()),
                account: account.1.unwrap_or(account.0),
                observed_at: observed_at.1.unwrap_or(Some(observed_at.0)),
                value,
                source: source.unwrap_or_default(),
                recorded_at: None,
                recorded_by: String::new(),
            },
        )
}

#[derive(Debug, Clone)]
struct Writes {
    account: pb::Account,
    account_mask: Option<FieldMask>,
    audit: pb::Audit,
    entry: pb::AuditEntry,
    definition: pb::MetricDefinition,
    request_id: String,
    batch: Vec<pb::Observation>,
    chunks: Vec<Vec<pb::Observation>>,
}

fn writes(fixture: &Fixture) -> impl Strategy<Value = Writes> + use<> {
    // Empty batches and streams included: both are legal requests.
    let batch = || prop::collection::vec(observation(fixture), 0..4);
    (
        (
            account(),
            mask(goalpost::accounts::model::UPDATABLE_FIELDS),
            audit(fixture),
            entry(fixture),
        ),
        (
            definition(fixture),
            request_id(),
            batch(),
            prop::collection::vec(batch(), 0..3),
        ),
    )
        .prop_map(
            |((account, account_mask, audit, entry), (definition, request_id, batch, chunks))| {
                Writes {
                    account,
                    account_mask,
                    audit,
                    entry,
                    definition,
                    request_id,
                    batch,
                    chunks,
                }
            },
        )
}

async fn write(mut ctx: Ctx, writes: Writes) -> Outcomes {
    let Writes {
        account,
        account_mask,
        audit,
        entry,
        definition,
        request_id,
        batch,
        chunks,
    } = writes;
    let fixture = ctx.fixture.clone();
    let chunks = chunks
        .into_iter()
        .map(|observations| pb::StreamObservationsRequest { observations });
    let created_account = ctx
        .audits
        .create_account(pb::CreateAccountRequest {
            account: Some(account.clone()),
            request_id: request_id.clone(),
        })
        .await
        .map(tonic::Response::into_inner);
    let created_audit = ctx
        .audits
        .create_audit(pb::CreateAuditRequest {
            audit: Some(audit),
            request_id: request_id.clone(),
        })
        .await
        .map(tonic::Response::into_inner);
    let mut outcomes: Outcomes = vec![
        (
            "CreateAccount",
            created_account.as_ref().map(drop).map_err(Status::clone),
        ),
        (
            "CreateAudit",
            created_audit.as_ref().map(drop).map_err(Status::clone),
        ),
    ];
    // What was created from fuzzed fields goes on through its life: the
    // audit's figures become findings and observations when it completes.
    if let Ok(audit) = created_audit {
        let completed = ctx
            .audits
            .complete_audit(pb::CompleteAuditRequest {
                name: audit.name,
                etag: String::new(),
            })
            .await;
        outcomes.push(("CompleteAudit", answered(completed)));
    }
    if let Ok(account) = created_account {
        let deleted = ctx
            .audits
            .delete_account(pb::DeleteAccountRequest {
                name: account.name,
                etag: String::new(),
            })
            .await;
        outcomes.push(("DeleteAccount", answered(deleted)));
    }
    outcomes.extend([
        (
            "UpdateAccount",
            answered(
                ctx.audits
                    .update_account(pb::UpdateAccountRequest {
                        account: Some(pb::Account {
                            name: fixture.accounts[1].clone(),
                            ..account
                        }),
                        update_mask: account_mask,
                    })
                    .await,
            ),
        ),
        (
            "UpsertAuditEntry",
            answered(
                ctx.audits
                    .upsert_audit_entry(pb::UpsertAuditEntryRequest {
                        audit: fixture.audits[1].clone(),
                        entry: Some(entry),
                        etag: String::new(),
                    })
                    .await,
            ),
        ),
        (
            "CreateMetricDefinition",
            answered(
                ctx.metrics
                    .create_metric_definition(pb::CreateMetricDefinitionRequest {
                        metric_definition: Some(definition),
                        request_id,
                    })
                    .await,
            ),
        ),
        (
            "WriteObservations",
            answered(
                ctx.metrics
                    .write_observations(pb::WriteObservationsRequest {
                        observations: batch,
                    })
                    .await,
            ),
        ),
        (
            "StreamObservations",
            answered(
                ctx.metrics
                    .stream_observations(tokio_stream::iter(chunks))
                    .await,
            ),
        ),
    ]);
    outcomes
}

#[test]
fn writes_fail_only_deliberately() {
    let fuzz = Fuzz::start();
    fuzz.check(writes(fuzz.fixture()), write);
}
