//! Property tests through real gRPC: arbitrary and near-valid requests to
//! every method, each answered with a deliberate error code and never with
//! INTERNAL, UNKNOWN or a dropped call (a panicking handler).
//!
//! Each test starts one server over a fixture of real resources and runs
//! its cases against it, sequentially; cases are mostly valid requests with
//! a few fields edited or replaced, so that they get past the first check
//! and reach the database. The number of cases is `PROPTEST_CASES` (64 when
//! unset); a failure is shrunk to a small request and printed.

use std::future::Future;
use std::sync::Arc;

use goalpost::pb;
use goalpost::pb::audit_service_client::AuditServiceClient;
use goalpost::pb::goal_service_client::GoalServiceClient;
use goalpost::pb::metric_service_client::MetricServiceClient;
use goalpost::pb::progress_service_client::ProgressServiceClient;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::{TestApp, spawn_app};

mod fixture;
// The generators the library's own property tests use: they name nothing of
// the crate, so they compile here as well. Not every one is used here.
#[allow(dead_code)]
#[path = "../../src/api/fuzzing/generators.rs"]
mod generators;
mod goals;
mod lists;
mod names;
mod reads;
mod writes;

use fixture::Fixture;

/// The cases per property when `PROPTEST_CASES` is not set: enough to reach
/// every branch a few times while the whole file stays within seconds.
const DEFAULT_CASES: u32 = 64;

/// What a case sees: clients of every service and the fixture.
#[derive(Clone)]
pub struct Ctx {
    /// The channel the clients share.
    pub channel: Channel,
    /// AuditService.
    pub audits: AuditServiceClient<Channel>,
    /// GoalService.
    pub goals: GoalServiceClient<Channel>,
    /// MetricService.
    pub metrics: MetricServiceClient<Channel>,
    /// ProgressService.
    pub progress: ProgressServiceClient<Channel>,
    /// The resources the server was started with.
    pub fixture: Arc<Fixture>,
}

/// Every call a case made: the method and how it was answered.
pub type Outcomes = Vec<(&'static str, Result<(), Status>)>;

/// Moments near now, where the fixture's data lies, and any others.
pub fn moment() -> BoxedStrategy<prost_types::Timestamp> {
    let near = (-400 * 86_400i64..400 * 86_400, 0..1_000_000_000i32).prop_map(|(offset, nanos)| {
        prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() + offset,
            nanos,
        }
    });
    prop_oneof![near, generators::hostile_timestamp()].boxed()
}

/// A time range: mostly one of up to 400 days near now, start before
/// end; now and then either end replaced by any moment or left out.
pub fn range() -> impl Strategy<
    Value = (
        Option<prost_types::Timestamp>,
        Option<prost_types::Timestamp>,
    ),
> {
    let at = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
    let valid = (-400i64..0, 1i64..400).prop_map(move |(start, length)| {
        let now = chrono::Utc::now().timestamp();
        (
            at(now + start * 86_400),
            at(now + (start + length) * 86_400),
        )
    });
    let other = || generators::sometimes(prop::option::of(moment()));
    (valid, other(), other()).prop_map(|((start, end), other_start, other_end)| {
        (
            other_start.unwrap_or(Some(start)),
            other_end.unwrap_or(Some(end)),
        )
    })
}

/// Mostly `valid` values, else edited ones or hostile text: requests
/// should mostly get past their first check, to reach the later ones.
pub fn near(valid: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    let valid = valid.boxed();
    prop_oneof![
        4 => valid.clone(),
        2 => generators::mutated(valid),
        1 => generators::hostile_text(),
    ]
    .boxed()
}

/// [`near`] one of `valid`.
pub fn near_text(valid: &'static [&'static str]) -> BoxedStrategy<String> {
    near(prop::sample::select(valid).prop_map(str::to_owned))
}

/// Drops the response: the properties are about how calls fail.
pub fn answered<T>(result: Result<tonic::Response<T>, Status>) -> Result<(), Status> {
    result.map(drop)
}

/// One server with its fixture, on a runtime of its own so that proptest's
/// synchronous runner can drive it (and shrink a failing case).
pub struct Fuzz {
    app: Option<TestApp>,
    ctx: Ctx,
    runtime: tokio::runtime::Runtime,
}

impl Fuzz {
    /// Starts a server and builds the fixture.
    pub fn start() -> Fuzz {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the server");
        let (app, fixture) = runtime.block_on(async {
            let app = spawn_app().await;
            let fixture = fixture::build(&app).await;
            (app, fixture)
        });
        let channel = app.channel.clone();
        let ctx = Ctx {
            channel: channel.clone(),
            audits: AuditServiceClient::new(channel.clone()),
            goals: GoalServiceClient::new(channel.clone()),
            metrics: MetricServiceClient::new(channel.clone()),
            progress: ProgressServiceClient::new(channel),
            fixture: Arc::new(fixture),
        };
        Fuzz {
            app: Some(app),
            ctx,
            runtime,
        }
    }

    /// The fixture, for building strategies.
    pub fn fixture(&self) -> &Fixture {
        &self.ctx.fixture
    }

    /// Runs `case` on values of `strategy` and checks every answer, then
    /// that the server still answers.
    pub fn check<S, F, Fut>(&self, strategy: S, case: F)
    where
        S: Strategy,
        F: Fn(Ctx, S::Value) -> Fut,
        Fut: Future<Output = Outcomes>,
    {
        let mut runner = TestRunner::new(config());
        let result = runner.run(&strategy, |value| {
            let outcomes = self.runtime.block_on(case(self.ctx.clone(), value));
            for (method, outcome) in &outcomes {
                judge(method, outcome)?;
            }
            Ok(())
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
        let mut goals = self.ctx.goals.clone();
        self.runtime
            .block_on(goals.list_goal_types(pb::ListGoalTypesRequest {}))
            .expect("the server still answers after the cases");
    }
}

impl Drop for Fuzz {
    fn drop(&mut self) {
        // The server and its pool belong to this runtime.
        let _context = self.runtime.enter();
        drop(self.app.take());
    }
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        // Cases run against a server: a shrink step costs a round trip.
        max_shrink_iters: 256,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The codes a call may fail with on bad or unlucky input, each only with
/// goalpost's ErrorInfo (so the service chose it). DEADLINE_EXCEEDED and
/// RESOURCE_EXHAUSTED are the service's answers to a slow or loaded
/// machine. INTERNAL and UNKNOWN are bugs; UNAVAILABLE or CANCELLED here
/// mean the handler died, since the database is up throughout.
const DELIBERATE: &[Code] = &[
    Code::InvalidArgument,
    Code::NotFound,
    Code::AlreadyExists,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::ResourceExhausted,
    Code::DeadlineExceeded,
];

/// Checks one answer: a deliberate code with goalpost's ErrorInfo, and for
/// INVALID_ARGUMENT a BadRequest whose every violation names its field (a
/// violation without one is what the database's own rejection of a NUL
/// becomes: the value reached SQL unvalidated).
fn judge(method: &str, outcome: &Result<(), Status>) -> Result<(), TestCaseError> {
    let Err(status) = outcome else {
        return Ok(());
    };
    prop_assert!(
        DELIBERATE.contains(&status.code()),
        "{method} answered {:?}: {}",
        status.code(),
        status.message()
    );
    let details = status.get_error_details();
    prop_assert!(
        details
            .error_info()
            .is_some_and(|info| info.domain == "goalpost"),
        "{method}: no ErrorInfo in {status:?}"
    );
    if status.code() == Code::InvalidArgument {
        let violations = details
            .bad_request()
            .map(|bad| bad.field_violations.clone())
            .unwrap_or_default();
        prop_assert!(!violations.is_empty(), "{method}: no violations listed");
        for violation in violations {
            prop_assert!(
                !violation.field.is_empty(),
                "{method}: a violation without a field: {}",
                violation.description
            );
        }
    }
    Ok(())
}
