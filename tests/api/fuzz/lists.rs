//! Every list method with filters near its valid ones, page sizes of any
//! sign and size, and page tokens that are real, edited, forged (valid JSON
//! carrying keys no page ever ended on) or noise.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use goalpost::pb;
use goalpost::pb::audit_service_client::AuditServiceClient;
use goalpost::pb::goal_service_client::GoalServiceClient;
use goalpost::pb::metric_service_client::MetricServiceClient;
use goalpost::pb::progress_service_client::ProgressServiceClient;
use proptest::prelude::*;
use serde_json::{Value, json};
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use super::generators::{hostile_text, mutated};
use super::{Fixture, Fuzz, moment, near};
use crate::helpers::TestApp;

/// The list methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListMethod {
    Accounts,
    Audits,
    Goals,
    GoalProgress,
    MetricDefinitions,
    Observations,
}

impl ListMethod {
    /// Every list method.
    pub const ALL: [ListMethod; 6] = [
        ListMethod::Accounts,
        ListMethod::Audits,
        ListMethod::Goals,
        ListMethod::GoalProgress,
        ListMethod::MetricDefinitions,
        ListMethod::Observations,
    ];

    fn name(self) -> &'static str {
        match self {
            ListMethod::Accounts => "ListAccounts",
            ListMethod::Audits => "ListAudits",
            ListMethod::Goals => "ListGoals",
            ListMethod::GoalProgress => "ListGoalProgress",
            ListMethod::MetricDefinitions => "ListMetricDefinitions",
            ListMethod::Observations => "ListObservations",
        }
    }

    /// Valid filters of the method, over the fixture.
    fn filters(self, fixture: &Fixture) -> Vec<String> {
        let goals = || {
            vec![
                "state = STATE_ACTIVE".to_owned(),
                "goal_type = GOAL_TYPE_BRAND_AWARENESS AND framework = OKR".to_owned(),
                r#"parent = """#.to_owned(),
                format!(r#"parent != "{}""#, fixture.goals[0]),
                r#"owner = "ada" AND team != "social""#.to_owned(),
            ]
        };
        match self {
            ListMethod::Accounts => vec![
                "network = NETWORK_INSTAGRAM".to_owned(),
                r#"handle = "acme" AND status != STATUS_RETIRED"#.to_owned(),
                r#"create_time >= "2020-01-01T00:00:00Z" AND owner < "t""#.to_owned(),
                r#"display_name = "" AND purpose != "brand""#.to_owned(),
            ],
            ListMethod::Audits => vec![
                "state = STATE_DRAFT".to_owned(),
                r#"title != "Q1 audit" AND as_of < "2100-01-01T00:00:00+02:00""#.to_owned(),
                r#"complete_time <= "2026-01-01T00:00:00Z" AND auditor = """#.to_owned(),
            ],
            ListMethod::Goals | ListMethod::GoalProgress => goals(),
            ListMethod::MetricDefinitions => vec![
                "kind = KIND_BASE".to_owned(),
                "builtin = true".to_owned(),
                "kind != DERIVED AND builtin = false".to_owned(),
            ],
            ListMethod::Observations => vec![
                "metric_key = likes".to_owned(),
                format!(r#"account = "{}""#, fixture.accounts[0]),
                r#"account = "" AND metric_key != "fuzz_reach""#.to_owned(),
                r#"observed_at >= "2020-01-01T00:00:00Z""#.to_owned(),
            ],
        }
    }
}

/// One list call, whichever the method.
#[derive(Debug, Clone)]
pub struct ListCall {
    method: ListMethod,
    page_size: i32,
    page_token: String,
    filter: String,
    /// ListGoalProgress only.
    as_of: Option<prost_types::Timestamp>,
}

/// Sends `call`; returns its next page token.
async fn list(channel: Channel, call: ListCall) -> Result<String, Status> {
    let ListCall {
        method,
        page_size,
        page_token,
        filter,
        as_of,
    } = call;
    let next = match method {
        ListMethod::Accounts => {
            AuditServiceClient::new(channel)
                .list_accounts(pb::ListAccountsRequest {
                    page_size,
                    page_token,
                    filter,
                })
                .await?
                .into_inner()
                .next_page_token
        }
        ListMethod::Audits => {
            AuditServiceClient::new(channel)
                .list_audits(pb::ListAuditsRequest {
                    page_size,
                    page_token,
                    filter,
                })
                .await?
                .into_inner()
                .next_page_token
        }
        ListMethod::Goals => {
            GoalServiceClient::new(channel)
                .list_goals(pb::ListGoalsRequest {
                    page_size,
                    page_token,
                    filter,
                })
                .await?
                .into_inner()
                .next_page_token
        }
        ListMethod::GoalProgress => {
            ProgressServiceClient::new(channel)
                .list_goal_progress(pb::ListGoalProgressRequest {
                    page_size,
                    page_token,
                    filter,
                    as_of,
                })
                .await?
                .into_inner()
                .next_page_token
        }
        ListMethod::MetricDefinitions => {
            MetricServiceClient::new(channel)
                .list_metric_definitions(pb::ListMetricDefinitionsRequest {
                    page_size,
                    page_token,
                    filter,
                })
                .await?
                .into_inner()
                .next_page_token
        }
        ListMethod::Observations => {
            MetricServiceClient::new(channel)
                .list_observations(pb::ListObservationsRequest {
                    page_size,
                    page_token,
                    filter,
                })
                .await?
                .into_inner()
                .next_page_token
        }
    };
    Ok(next)
}

/// The token of the second page of `method` with one row a page and no filter.
pub async fn first_page_token(app: &TestApp, method: ListMethod) -> String {
    let call = ListCall {
        method,
        page_size: 1,
        page_token: String::new(),
        filter: String::new(),
        as_of: None,
    };
    list(app.channel.clone(), call)
        .await
        .unwrap_or_else(|status| panic!("{method:?}: {status:?}"))
}

/// Keyset positions no page ended on: microseconds beyond every calendar,
/// or at the edges of PostgreSQL's and chrono's ranges.
fn micros() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        prop::sample::select(vec![
            i64::MIN,
            i64::MAX,
            0,
            -1,
            // 4714-11-24 BC, PostgreSQL's first day, and a day before it.
            -210_866_803_200_000_000,
            -210_866_889_600_000_000,
            // The first and last moments of the years 0001-9999.
            -62_135_596_800_000_000,
            253_402_300_799_999_999,
            // About chrono's first and last years, ±262143 (PostgreSQL's
            // last, 294276, is beyond i64 microseconds since 1970).
            -8_334_000_000_000_000_000,
            8_210_000_000_000_000_000,
        ]),
    ]
}

/// Page tokens in the service's format, for the empty filter, with any key.
fn forged_token() -> impl Strategy<Value = String> {
    let uuid = any::<u128>().prop_map(|id| Uuid::from_u128(id).to_string());
    let metric_key = prop_oneof![
        prop::sample::select(vec!["likes".to_owned(), "fuzz_reach".to_owned()]),
        hostile_text(),
    ];
    let after = prop_oneof![
        uuid.clone().prop_map(Value::String),
        hostile_text().prop_map(Value::String),
        (metric_key, uuid.clone(), micros()).prop_map(|(key, id, at)| json!([key, id, at])),
        (uuid, micros()).prop_map(|(id, at)| json!([id, at])),
        any::<f64>().prop_map(|number| json!(number)),
        Just(Value::Null),
    ];
    after
        .prop_map(|after| URL_SAFE_NO_PAD.encode(json!({"after": after, "filter": ""}).to_string()))
}

fn list_call(fixture: &Fixture) -> impl Strategy<Value = ListCall> + use<> {
    let methods: Vec<(ListMethod, Vec<String>, String)> = ListMethod::ALL
        .into_iter()
        .map(|method| {
            (
                method,
                method.filters(fixture),
                fixture.tokens[&method].clone(),
            )
        })
        .collect();
    prop::sample::select(methods).prop_flat_map(|(method, filters, real)| {
        let filter = prop_oneof![
            3 => near(prop::sample::select(filters)),
            // Tokens are issued for a filter: the fixture's for the empty one.
            2 => Just(String::new()),
        ];
        let token = prop_oneof![
            4 => Just(String::new()),
            2 => Just(real.clone()),
            2 => mutated(Just(real)),
            3 => forged_token(),
            1 => hostile_text(),
        ];
        let page_size = prop_oneof![-1..=3, any::<i32>()];
        (filter, token, page_size, prop::option::of(moment())).prop_map(
            move |(filter, page_token, page_size, as_of)| ListCall {
                method,
                page_size,
                page_token,
                filter,
                as_of,
            },
        )
    })
}

#[test]
fn list_calls_fail_only_deliberately() {
    let fuzz = Fuzz::start();
    fuzz.check(list_call(fuzz.fixture()), |ctx, call| async move {
        let method = call.method.name();
        vec![(method, list(ctx.channel, call).await.map(drop))]
    });
}
