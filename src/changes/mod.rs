//! Change notifications: every write that can move a goal's progress is
//! announced on one PostgreSQL channel when it commits, so every replica
//! hears every write (DESIGN §6).
//!
//! Goal, key result, checkpoint and milestone writes are announced by
//! triggers (migration `change_notifications`), and so are changes to the
//! metric catalog (migration `catalog_notifications`); observations by the ingest
//! code, once per load and metric ([`announce_observations`]), since a row
//! trigger would cost every row of a bulk load. [`hub::Hub`] listens and
//! hands the changes to the watchers of this process.

pub mod hub;

use sqlx::PgConnection;
use uuid::Uuid;

/// The channel every change is announced on.
pub const CHANNEL: &str = "goalpost_changes";

/// Loads naming more accounts of one metric than this announce `*`, every
/// account: a notification's payload is limited to 8,000 bytes.
const LISTED_ACCOUNTS: i64 = 100;

/// Kept in step with the changes as the listener hears them, before any
/// watcher is told: the hub calls these at once, in order, from its own task,
/// so they must be quick and must not wait.
pub trait Follower: Send + Sync {
    /// A change was heard; `None` is one this build cannot read, which may
    /// be anything.
    fn heard(&self, change: Option<&Change>);
    /// The listener stopped listening: changes may now go unheard.
    fn deafened(&self);
    /// The listener listens (again): changes from now on are heard, those
    /// announced while it was deaf are lost.
    fn listening(&self);
}

/// A committed write that may move some goal's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A goal, its key results, their accounts, checkpoints or milestones
    /// changed, or the goal was deleted.
    Goal(Uuid),
    /// A metric definition or formula was added, changed or removed.
    Catalog,
    /// Observations of one base metric were written.
    Observations {
        /// The metric's key.
        metric_key: String,
        /// The series written.
        accounts: Accounts,
    },
}

/// The series of a metric a load wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// Too many to list: treat as every account.
    Every,
    /// These accounts; `None` is the organisation-wide series.
    Listed(Vec<Option<Uuid>>),
}

impl Accounts {
    /// Whether a load of these series can move a read of `selected`, where
    /// an empty selection means every account and the organisation-wide
    /// series (as a key result's account list does).
    pub fn touch(&self, selected: &[Option<Uuid>]) -> bool {
        match self {
            Accounts::Every => true,
            Accounts::Listed(_) if selected.is_empty() => true,
            Accounts::Listed(written) => written.iter().any(|account| selected.contains(account)),
        }
    }
}

impl Change {
    /// Reads a notification's payload; `None` for one this build does not
    /// know (a newer replica's), which listeners then treat as "anything may
    /// have changed".
    pub fn parse(payload: &str) -> Option<Change> {
        let mut words = payload.split(' ');
        match words.next()? {
            "goal" => {
                let id = Uuid::parse_str(words.next()?).ok()?;
                words.next().is_none().then_some(Change::Goal(id))
            }
            "catalog" => words.next().is_none().then_some(Change::Catalog),
            "observations" => {
                let metric_key = words.next()?.to_owned();
                let accounts = match words.clone().next()? {
                    "*" => Accounts::Every,
                    _ => Accounts::Listed(
                        words
                            .map(|word| match word {
                                "-" => Some(None),
                                id => Uuid::parse_str(id).ok().map(Some),
                            })
                            .collect::<Option<Vec<_>>>()?,
                    ),
                };
                Some(Change::Observations {
                    metric_key,
                    accounts,
                })
            }
            _ => None,
        }
    }
}

/// Announces, at commit, the metrics and accounts of the series a load
/// wrote, one notification per metric. Called in the load's transaction, so
/// a load that rolls back announces nothing.
pub async fn announce_observations(
    conn: &mut PgConnection,
    series_ids: &[i64],
) -> Result<(), sqlx::Error> {
    if series_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "select pg_notify($1, 'observations ' || metric_key || ' ' || case
             when count(*) > $3 then '*'
             else string_agg(coalesce(account_id::text, '-'), ' ')
         end)
         from series where series_id = any($2)
         group by metric_key",
    )
    .bind(CHANNEL)
    .bind(series_ids)
    .bind(LISTED_ACCOUNTS)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "0193a6f8-5a4e-7c3b-9d2e-1f0a2b3c4d5e";

    fn account() -> Option<Uuid> {
        Some(Uuid::parse_str(ACCOUNT).unwrap())
    }

    #[test]
    fn payloads_read_back_as_changes() {
        assert_eq!(
            Change::parse(&format!("goal {ACCOUNT}")),
            Some(Change::Goal(account().unwrap()))
        );
        assert_eq!(
            Change::parse(&format!("observations likes {ACCOUNT} -")),
            Some(Change::Observations {
                metric_key: "likes".into(),
                accounts: Accounts::Listed(vec![account(), None]),
            })
        );
        assert_eq!(Change::parse("catalog"), Some(Change::Catalog));
        assert_eq!(
            Change::parse("observations likes *"),
            Some(Change::Observations {
                metric_key: "likes".into(),
                accounts: Accounts::Every,
            })
        );
    }

    #[test]
    fn unknown_or_damaged_payloads_are_not_guessed_at() {
        for payload in [
            "",
            "goal",
            "goal not-a-uuid",
            &format!("goal {ACCOUNT} extra"),
            "observations",
            "observations likes",
            "observations likes nonsense",
            "metric likes",
            "catalog likes",
        ] {
            assert_eq!(Change::parse(payload), None, "{payload:?}");
        }
    }

    #[test]
    fn a_load_touches_a_selection_sharing_a_series() {
        let other = Some(Uuid::now_v7());
        let written = Accounts::Listed(vec![account()]);
        assert!(written.touch(&[]), "an empty selection is every account");
        assert!(written.touch(&[other, account()]));
        assert!(!written.touch(&[other]));
        assert!(
            !written.touch(&[None]),
            "the organisation-wide series is its own"
        );
        assert!(Accounts::Listed(vec![None]).touch(&[None]));
        assert!(Accounts::Every.touch(&[other]));
    }
}
