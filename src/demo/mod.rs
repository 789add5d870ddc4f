//! `goalpost demo`: a realistic data set loaded into a running goalpost
//! through its own gRPC API, then a short guide of what to try next.
//!
//! The data set is pure and deterministic ([`accounts`], [`goals`],
//! [`series`], [`timeline`]); [`calls`] sends it, finding whatever an earlier
//! run stored so that a rerun duplicates nothing; [`guide`] prints the result.

pub mod accounts;
mod calls;
pub mod goals;
pub mod guide;
pub mod request_id;
pub mod series;
pub mod timeline;

use chrono::Utc;

use self::calls::Clients;
use self::goals::{OKR_TITLE, SMART_TITLE};
use self::timeline::Timeline;
use crate::config::DemoSettings;
use crate::pb;

/// Why the demo could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// `--server` is not a URL a gRPC channel can use.
    #[error(
        "--server {server:?} is not a usable address ({reason}): give a URL such as http://127.0.0.1:50051"
    )]
    BadServer {
        /// The address given.
        server: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing answered at the address.
    #[error(
        "cannot reach goalpost at {server} ({reason}): start it with `goalpost serve` or point --server at a running one"
    )]
    Unreachable {
        /// The address given.
        server: String,
        /// Why the connection failed.
        reason: String,
    },
    /// `--token` cannot be sent.
    #[error("invalid --token: {0}")]
    BadToken(String),
    /// The service refused a call.
    #[error("{step} failed: {code:?}: {message}")]
    Call {
        /// What the demo was doing.
        step: String,
        /// The gRPC status code.
        code: tonic::Code,
        /// The status message.
        message: String,
    },
    /// The service answered, but not as the demo expects.
    #[error("{step}: {problem}")]
    Unexpected {
        /// What the demo was doing.
        step: String,
        /// What was wrong with the answer.
        problem: String,
    },
}

/// What a demo run loaded, for the guide and for tests.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The server the demo talked to, as given.
    pub server: String,
    /// The story's calendar.
    pub timeline: Timeline,
    /// Every demo account.
    pub accounts: Vec<AccountLine>,
    /// How many accounts this run created.
    pub accounts_created: usize,
    /// How many observations the service stored in this run (new or
    /// replaced with the same value).
    pub observations: i64,
    /// How many series they belong to.
    pub series: usize,
    /// The completed audit.
    pub audit: AuditLine,
    /// The goals with their progress now, S.M.A.R.T. first.
    pub goals: Vec<GoalLine>,
    /// Whether WatchGoalProgress answered, so the guide may suggest it.
    pub watch_available: bool,
}

/// One demo account.
#[derive(Debug, Clone)]
pub struct AccountLine {
    /// Its resource name.
    pub name: String,
    /// The network's short name.
    pub network: &'static str,
    /// Its handle.
    pub handle: &'static str,
}

/// The demo audit.
#[derive(Debug, Clone)]
pub struct AuditLine {
    /// Its resource name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// How many findings completing it produced.
    pub findings: usize,
    /// Whether this run created it.
    pub created: bool,
}

/// One demo goal and where it stands.
#[derive(Debug, Clone)]
pub struct GoalLine {
    /// Its resource name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// SMART or OKR.
    pub framework: pb::goal::Framework,
    /// Its state after the run.
    pub state: pb::goal::State,
    /// Whether this run created it.
    pub created: bool,
    /// Its progress now.
    pub progress: pb::GoalProgress,
}

/// Loads the demo data set into the service at `settings.server` and prints
/// what was loaded and what to try next.
pub async fn run(settings: &DemoSettings) -> Result<(), DemoError> {
    let summary = load(settings).await?;
    print!("{}", guide::render(&summary));
    Ok(())
}

/// Loads the demo data set into the service at `settings.server`.
pub async fn load(settings: &DemoSettings) -> Result<Summary, DemoError> {
    let server = settings.server.trim().to_owned();
    let mut clients = Clients::connect(&server, settings.token.as_deref()).await?;

    let accounts = accounts::accounts();
    let (names, accounts_created) = calls::ensure_accounts(&mut clients, &accounts).await?;
    tracing::info!(
        accounts = names.len(),
        created = accounts_created,
        "demo accounts ready"
    );

    // Goals a first run created fix the story's anchor, so a rerun on a
    // later day writes the same values for the days it shares.
    let mut existing = calls::find_goals(&mut clients).await?;
    let existing_start = [SMART_TITLE, OKR_TITLE]
        .iter()
        .filter_map(|title| existing.get(*title)?.start_time)
        .find_map(|start| crate::api::time::to_utc(&start));
    let timeline = Timeline::new(existing_start, Utc::now());

    let series: usize = accounts
        .iter()
        .map(|(_, account)| account.profile.metrics().len())
        .sum();
    tracing::info!(
        series,
        days = timeline::HISTORY_DAYS,
        "writing the demo observations"
    );
    let observations =
        calls::write_observations(&mut clients, &accounts, &names, &timeline).await?;

    let (audit, audit_created) =
        calls::ensure_audit(&mut clients, &accounts, &names, &timeline).await?;
    tracing::info!(audit = %audit.name, findings = audit.findings.len(), "demo audit ready");

    let mut goals = Vec::new();
    for plan in [goals::smart(&timeline), goals::okr(&timeline, &names)] {
        let found = existing.remove(&plan.goal.title);
        let (goal, created) = calls::ensure_goal(&mut clients, &plan, found).await?;
        let progress = calls::progress(&mut clients, &goal.name).await?;
        goals.push(GoalLine {
            framework: pb::goal::Framework::try_from(goal.framework)
                .unwrap_or(pb::goal::Framework::Unspecified),
            state: pb::goal::State::try_from(goal.state).unwrap_or(pb::goal::State::Unspecified),
            name: goal.name,
            title: goal.title,
            created,
            progress,
        });
    }
    let goal_names: Vec<String> = goals.iter().map(|goal| goal.name.clone()).collect();
    let watch_available = calls::watch_answers(&mut clients, &goal_names).await;

    Ok(Summary {
        server,
        timeline,
        accounts: accounts
            .iter()
            .filter_map(|(key, account)| {
                Some(AccountLine {
                    name: names.get(key)?.clone(),
                    network: account.network_name,
                    handle: account.handle,
                })
            })
            .collect(),
        accounts_created,
        observations,
        series,
        audit: AuditLine {
            name: audit.name,
            title: audit.title,
            findings: audit.findings.len(),
            created: audit_created,
        },
        goals,
        watch_available,
    })
}
