//! The reads that take times and intervals: QueryMetric, and the progress of
//! the fixture's goals at any moment and over any range.

use goalpost::pb;
use proptest::prelude::*;

use super::generators::{enum_number, hostile_text};
use super::{Ctx, Fixture, Fuzz, Outcomes, answered, moment, near, range};

#[derive(Debug, Clone)]
struct Reads {
    query: pb::QueryMetricRequest,
    goal: String,
    start: Option<prost_types::Timestamp>,
    end: Option<prost_types::Timestamp>,
    as_of: Option<prost_types::Timestamp>,
    interval: i32,
}

fn reads(fixture: &Fixture) -> impl Strategy<Value = Reads> + use<> {
    let account = prop_oneof![
        Just(String::new()),
        near(prop::sample::select(fixture.accounts.clone())),
    ];
    let query = (
        prop_oneof![
            4 => near(prop::sample::select(fixture.metric_keys.clone())),
            1 => hostile_text(),
        ],
        prop::collection::vec(account, 0..4),
        range(),
        enum_number(4),
    )
        .prop_map(
            |(metric_key, accounts, (start, end), interval)| pb::QueryMetricRequest {
                metric_key,
                accounts,
                start,
                end,
                interval,
            },
        );
    (
        query,
        near(prop::sample::select(fixture.goals.clone())),
        range(),
        prop::option::of(moment()),
        enum_number(4),
    )
        .prop_map(|(query, goal, (start, end), as_of, interval)| Reads {
            query,
            goal,
            start,
            end,
            as_of,
            interval,
        })
}

async fn read(mut ctx: Ctx, reads: Reads) -> Outcomes {
    let Reads {
        query,
        goal,
        start,
        end,
        as_of,
        interval,
    } = reads;
    vec![
        (
            "QueryMetric",
            answered(ctx.metrics.query_metric(query).await),
        ),
        (
            "GetProgressHistory",
            answered(
                ctx.progress
                    .get_progress_history(pb::GetProgressHistoryRequest {
                        goal: goal.clone(),
                        start,
                        end,
                        interval,
                    })
                    .await,
            ),
        ),
        (
            "GetGoalProgress",
            answered(
                ctx.progress
                    .get_goal_progress(pb::GetGoalProgressRequest {
                        goal: goal.clone(),
                        as_of,
                    })
                    .await,
            ),
        ),
        (
            "CheckGoal",
            answered(
                ctx.progress
                    .check_goal(pb::CheckGoalRequest { goal, as_of })
                    .await,
            ),
        ),
    ]
}

#[test]
fn reads_at_any_time_fail_only_deliberately() {
    let fuzz = Fuzz::start();
    fuzz.check(reads(fuzz.fixture()), read);
}
