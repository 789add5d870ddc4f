//! The demo's calls to a running goalpost, through the generated clients.
//! Every step first looks for what an earlier run made, so a rerun changes
//! nothing: accounts are unique by (network, handle), the audit and the goals
//! are found by title (and team), creates carry deterministic request ids,
//! and observations are keyed by (metric, account, time).

mod accounts;
mod audit;
mod goals;
mod observations;

use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use super::DemoError;
use crate::auth::client::BearerToken;
use crate::pb::audit_service_client::AuditServiceClient;
use crate::pb::goal_service_client::GoalServiceClient;
use crate::pb::metric_service_client::MetricServiceClient;
use crate::pb::progress_service_client::ProgressServiceClient;

pub use accounts::ensure_accounts;
pub use audit::ensure_audit;
pub use goals::{ensure_goal, find_goals, progress, watch_answers};
pub use observations::write_observations;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take; activation records a snapshot for each past
/// day, so it is generous.
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// The channel the clients share, sending the demo's token on every call.
type Transport = InterceptedService<Channel, BearerToken>;

/// The clients of the four goalpost services over one channel.
#[derive(Debug, Clone)]
pub struct Clients {
    /// AuditService: accounts and audits.
    pub audits: AuditServiceClient<Transport>,
    /// MetricService: observations.
    pub metrics: MetricServiceClient<Transport>,
    /// GoalService: goals and key results.
    pub goals: GoalServiceClient<Transport>,
    /// ProgressService: how far along the goals are.
    pub progress: ProgressServiceClient<Transport>,
}

impl Clients {
    /// Connects to the goalpost at `server`, a URL such as
    /// `http://127.0.0.1:50051`, to call it with `token` (none in
    /// anonymous mode).
    pub async fn connect(server: &str, token: Option<&str>) -> Result<Clients, DemoError> {
        let token = BearerToken::new(token).map_err(DemoError::BadToken)?;
        let endpoint = Endpoint::from_shared(server.to_owned())
            .map_err(|error| DemoError::BadServer {
                server: server.to_owned(),
                reason: error.to_string(),
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        let channel = endpoint
            .connect()
            .await
            .map_err(|error| DemoError::Unreachable {
                server: server.to_owned(),
                reason: error_chain(&error),
            })?;
        let transport = InterceptedService::new(channel, token);
        Ok(Clients {
            audits: AuditServiceClient::new(transport.clone()),
            metrics: MetricServiceClient::new(transport.clone()),
            goals: GoalServiceClient::new(transport.clone()),
            progress: ProgressServiceClient::new(transport),
        })
    }
}

/// An error with its causes, since a transport error's own text ("transport
/// error") says nothing about what went wrong.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Layers often repeat their cause's words; say them once.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Turns a failed call into an error naming the step.
fn failed(step: impl Into<String>) -> impl FnOnce(tonic::Status) -> DemoError {
    let step = step.into();
    move |status| DemoError::Call {
        step,
        code: status.code(),
        message: status.message().to_owned(),
    }
}

/// Every item of a paged List call: `fetch` gets each page token in turn.
async fn all_pages<T, Fetch, Page>(mut fetch: Fetch) -> Result<Vec<T>, DemoError>
where
    Fetch: FnMut(String) -> Page,
    Page: std::future::Future<Output = Result<(Vec<T>, String), DemoError>>,
{
    let mut items = Vec::new();
    let mut page_token = String::new();
    loop {
        let (page, next_page_token) = fetch(page_token).await?;
        items.extend(page);
        if next_page_token.is_empty() {
            return Ok(items);
        }
        page_token = next_page_token;
    }
}

/// Quotes `value` as a string of the List filters (AIP-160).
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}
