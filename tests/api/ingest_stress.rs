//! Many writers at once over overlapping series and days, with accounts
//! deleted meanwhile: afterwards every rollup equals its raw rows, every
//! acknowledged row is readable, and nothing of a failed write is stored.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use goalpost::pb;
use goalpost::pb::account::Network;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::{TestApp, spawn_app};
use crate::ingest_races::{OpenStream, delete_account, orphaned_rows};
use crate::observations::{assert_rollups_match_observations, obs, t, write};

/// Each write's rows carry values `write_id × WRITE_SPAN + row`: the stored
/// value tells which write it came from.
const WRITE_SPAN: i64 = 100_000;

/// (account name or "" for the organisation-wide series, observed_at).
type Key = (String, DateTime<Utc>);

/// Which writes were acknowledged, per key.
#[derive(Default)]
struct Ledger {
    next_write: i64,
    acknowledged: BTreeMap<Key, BTreeSet<i64>>,
}

impl Ledger {
    fn new_write(ledger: &Mutex<Ledger>) -> i64 {
        let mut ledger = ledger.lock().unwrap();
        ledger.next_write += 1;
        ledger.next_write
    }
}

/// A small deterministic generator, one per writer.
struct Draw(u64);

impl Draw {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// `count` keys drawn from `accounts` over five days of 2,000 slots each,
/// so writers overlap on series, days and keys.
fn draw_keys(draw: &mut Draw, accounts: &[String], count: usize, sorted: bool) -> Vec<Key> {
    let start = t("2026-02-01T00:00:00Z");
    let mut keys: Vec<Key> = (0..count)
        .map(|_| {
            let account = accounts[draw.next(accounts.len() as u64) as usize].clone();
            let slot = draw.next(5 * 2_000) as i64;
            (account, start + TimeDelta::milliseconds(slot * 43_200))
        })
        .collect();
    if sorted {
        // The shape of a backfill: series by series, in time order.
        keys.sort();
    }
    keys
}

fn rows_of(keys: &[Key], write_id: i64) -> Vec<pb::Observation> {
    keys.iter()
        .enumerate()
        .map(|(row, (account, at))| {
            obs(
                "likes",
                account,
                *at,
                (write_id * WRITE_SPAN + row as i64) as f64,
            )
        })
        .collect()
}

/// Whether a failed write failed in a way a client retries: another writer
/// won a deadlock (ABORTED).
fn retryable(status: &Status) -> bool {
    status.code() == Code::Aborted
}

fn reason(status: &Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// Writes `keys` (by stream or batch) until acknowledged, retrying ABORTED;
/// records the acknowledged write. Fails the test on any other error unless
/// the keys' account may have been deleted.
async fn write_until_done(
    app: &TestApp,
    ledger: &Mutex<Ledger>,
    keys: &[Key],
    by_stream: bool,
    account_may_vanish: bool,
) {
    for _ in 0..5 {
        let write_id = Ledger::new_write(ledger);
        let rows = rows_of(keys, write_id);
        let outcome = if by_stream {
            let open = OpenStream::start(app);
            open.send(&rows).await;
            open.finish().await.map(drop)
        } else {
            write(app, rows).await.map(drop)
        };
        match outcome {
            Ok(()) => {
                let mut ledger = ledger.lock().unwrap();
                for key in keys {
                    ledger
                        .acknowledged
                        .entry(key.clone())
                        .or_default()
                        .insert(write_id);
                }
                return;
            }
            Err(status) if retryable(&status) => continue,
            Err(status)
                if account_may_vanish
                    && matches!(
                        reason(&status).as_str(),
                        "ACCOUNT_DELETED" | "INVALID_ARGUMENT"
                    ) =>
            {
                return;
            }
            Err(status) => panic!("a write failed: {status:?}"),
        }
    }
    panic!("a write was aborted five times in a row");
}

#[tokio::test]
async fn concurrent_streams_batches_and_deletes_keep_every_acknowledged_row() {
    let app = Arc::new(spawn_app().await);
    let mut shared = vec![String::new()];
    for i in 0..3 {
        shared.push(
            app.create_account(Network::Instagram, &format!("shared{i}"))
                .await
                .name,
        );
    }
    let mut doomed = Vec::new();
    let mut bystanders = Vec::new();
    for i in 0..3 {
        doomed.push(
            app.create_account(Network::Reddit, &format!("doomed{i}"))
                .await
                .name,
        );
        bystanders.push(
            app.create_account(Network::Other, &format!("idle{i}"))
                .await
                .name,
        );
    }
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut tasks = Vec::new();
    for writer in 0..3_u64 {
        let (app, ledger, shared) = (app.clone(), ledger.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            let mut draw = Draw(writer);
            for _ in 0..2 {
                let keys = draw_keys(&mut draw, &shared, 20_000, true);
                write_until_done(&app, &ledger, &keys, true, false).await;
            }
        }));
    }
    for writer in 0..4_u64 {
        let (app, ledger, shared) = (app.clone(), ledger.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            let mut draw = Draw(100 + writer);
            for _ in 0..10 {
                let keys = draw_keys(&mut draw, &shared, 500, false);
                write_until_done(&app, &ledger, &keys, false, false).await;
            }
        }));
    }
    for (index, account) in doomed.iter().enumerate() {
        let (app, ledger, account) = (app.clone(), ledger.clone(), account.clone());
        tasks.push(tokio::spawn(async move {
            let mut draw = Draw(200 + index as u64);
            for round in 0..6 {
                let keys = draw_keys(&mut draw, std::slice::from_ref(&account), 2_000, true);
                write_until_done(&app, &ledger, &keys, round % 2 == 0, true).await;
            }
        }));
    }
    let deletes = {
        let (app, doomed, bystanders) = (app.clone(), doomed.clone(), bystanders.clone());
        tokio::spawn(async move {
            for (doomed, bystander) in doomed.iter().zip(&bystanders) {
                tokio::time::sleep(Duration::from_millis(150)).await;
                for name in [doomed, bystander] {
                    match delete_account(app.audits(), name.clone()).await {
                        Ok(_) => {}
                        Err(status) if reason(&status) == "ACCOUNT_HAS_OBSERVATIONS" => {
                            assert_ne!(name, bystander, "an account without data is deletable")
                        }
                        Err(status) => panic!("delete {name}: {status:?}"),
                    }
                }
            }
        })
    };
    for task in tasks {
        task.await.expect("a writer");
    }
    deletes.await.expect("the deletes");

    assert_rollups_match_observations(&app).await;
    let stored: Vec<(Option<uuid::Uuid>, DateTime<Utc>, f64)> = sqlx::query_as(
        "select s.account_id, o.observed_at, o.value from observation o join series s using (series_id)",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(orphaned_rows(&app).await, 0, "rows no query can reach");
    let ledger = ledger.lock().unwrap();
    let mut found = BTreeSet::new();
    for (account_id, at, value) in stored {
        let account = account_id.map_or(String::new(), |id| format!("accounts/{id}"));
        let write_id = value as i64 / WRITE_SPAN;
        let key = (account, at);
        let acknowledged = ledger.acknowledged.get(&key);
        assert!(
            acknowledged.is_some_and(|writes| writes.contains(&write_id)),
            "{key:?} holds a value of write {write_id}, which was not acknowledged for it"
        );
        found.insert(key);
    }
    for key in ledger.acknowledged.keys() {
        assert!(found.contains(key), "acknowledged {key:?} is not stored");
    }
}
