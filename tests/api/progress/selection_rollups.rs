//! Key results over some accounts read daily rollups of their selection
//! (registered in the background once a goal names it), kept by every load
//! in its own transaction. They must give the same numbers as the
//! accounts' own rollups whatever the writes: concurrent, replayed,
//! corrected, or racing the registration itself; and a read whose snapshot
//! predates a registration must not trust rollups it cannot see.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use goalpost::catalog::cache::CatalogCache;
use goalpost::catalog::repo::load_all;
use goalpost::observations::read::evaluate::{self, MetricPlan, Selection, Window};
use goalpost::observations::read::selected::SeriesCache;
use goalpost::observations::selections::SelectionRollups;
use goalpost::pb;
use goalpost::pb::account::Network;
use goalpost::pb::goal::Framework;
use goalpost::pb::metric_service_client::MetricServiceClient;
use sqlx::{Connection, PgConnection};
use tonic::transport::Channel;
use uuid::Uuid;

use super::progress_at_timestamp;
use super::{activate, add_key_result, assert_close, create_goal, goal, metric_key_result};
use crate::helpers::{TestApp, spawn_app};
use crate::metrics::metric_client;
use crate::observations::{
    account_id, assert_rollups_match_observations, obs, observed, t, ts, write,
    write_resending_aborted,
};

/// How long a registration may take in the background.
const REGISTERED_WITHIN: Duration = Duration::from_secs(20);

/// Waits until `count` selections are registered.
pub(super) async fn wait_for_selections(app: &TestApp, count: i64) {
    let started = Instant::now();
    loop {
        let registered: i64 = sqlx::query_scalar("select count(*) from rollup_selection")
            .fetch_one(&app.pool)
            .await
            .expect("count selections");
        if registered >= count {
            return;
        }
        assert!(
            started.elapsed() < REGISTERED_WITHIN,
            "{registered} of {count} selections registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sum of `likes` over the accounts (`None`: the organisation-wide
/// series) observed in `[start, end]`, from the raw rows.
pub(super) async fn likes_between(
    app: &TestApp,
    accounts: &[Option<Uuid>],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<f64> {
    let ids: Vec<Uuid> = accounts.iter().flatten().copied().collect();
    sqlx::query_scalar(
        "select sum(o.value) from observation o join series s using (series_id)
         where s.metric_key = 'likes'
           and (s.account_id = any($1) or ($2 and s.account_id is null))
           and o.observed_at >= $3 and o.observed_at <= $4",
    )
    .bind(&ids)
    .bind(accounts.contains(&None))
    .bind(start)
    .bind(end)
    .fetch_one(&app.pool)
    .await
    .expect("sum likes")
}

/// The name of account `letter` (a, b or c) among `names`; "" stays ""
/// (the organisation-wide series).
fn named<'n>(names: &'n [String; 3], letter: &str) -> &'n str {
    match letter.as_bytes().first() {
        None => "",
        Some(letter) => &names[usize::from(letter - b'a')],
    }
}

/// One key result of the test goal: its accounts and window.
pub(super) struct Measured {
    pub(super) accounts: Vec<&'static str>,
    pub(super) window_days: i64,
}

/// Checks each key result's current value at many moments (midnights, a
/// microsecond either side, mid-day) against the raw rows.
pub(super) async fn check_progress(
    app: &TestApp,
    okr: &pb::Goal,
    names: &[String; 3],
    measured: &[Measured],
) {
    let start = t("2026-03-01T00:00:00Z");
    let mut moments = Vec::new();
    for day in 1..8 {
        let midnight = start + TimeDelta::days(day);
        moments.extend([
            midnight - TimeDelta::microseconds(1),
            midnight,
            midnight + TimeDelta::microseconds(1),
            midnight + TimeDelta::minutes(611),
        ]);
    }
    for moment in moments {
        let progress = progress_at_timestamp(app, okr, ts(moment)).await;
        for (index, key_result) in measured.iter().enumerate() {
            let accounts: Vec<Option<Uuid>> = (key_result.accounts.iter())
                .map(|letter| account_id(named(names, letter)))
                .collect();
            let from = if key_result.window_days == 0 {
                start
            } else {
                moment - TimeDelta::days(key_result.window_days) + TimeDelta::microseconds(1)
            };
            let expected = likes_between(app, &accounts, from, moment).await;
            let found = progress.key_results[index].current;
            match expected {
                None => assert_eq!(found, None, "key result {index} at {moment}"),
                Some(expected) => assert_close(
                    found.unwrap_or(f64::NAN),
                    expected,
                    &format!("key result {index} at {moment}"),
                ),
            }
        }
    }
}

/// `likes` rows on the accounts `names` (and the organisation-wide series)
/// over a week, stamped at midnights, a microsecond either side and mid-day.
pub(super) fn week_of_likes(names: &[String; 3], seed: f64) -> Vec<pb::Observation> {
    let mut rows = Vec::new();
    for day in 0..7 {
        let midnight = t("2026-03-01T00:00:00Z") + TimeDelta::days(day);
        let stamps = [
            midnight,
            midnight + TimeDelta::microseconds(1),
            midnight + TimeDelta::hours(10),
            midnight + TimeDelta::days(1) - TimeDelta::microseconds(1),
        ];
        for (which, account) in names.iter().map(String::as_str).chain([""]).enumerate() {
            for (at, stamp) in stamps.iter().enumerate() {
                let value = seed + (day * 7) as f64 + (which * 3 + at) as f64;
                rows.push(obs("likes", account, *stamp, value));
            }
        }
    }
    rows
}

/// Accounts a, b and c, with a week of likes from `seed` (see
/// [`week_of_likes`]); their names.
pub(super) async fn accounts_with_a_week(app: &TestApp, seed: f64) -> [String; 3] {
    let mut names: [String; 3] = Default::default();
    for (name, handle) in names.iter_mut().zip(["a", "b", "c"]) {
        *name = app.create_account(Network::X, handle).await.name;
    }
    write(app, week_of_likes(&names, seed))
        .await
        .expect("a week of likes");
    names
}

#[tokio::test]
async fn selection_rollups_stay_exact_through_concurrent_writes_replays_and_corrections() {
    let app = spawn_app().await;
    let names = accounts_with_a_week(&app, 1.0).await;
    let measured = [
        Measured {
            accounts: vec!["a", "b", ""],
            window_days: 0,
        },
        Measured {
            accounts: vec!["a", "c"],
            window_days: 2,
        },
    ];
    let accounts: Vec<Vec<&str>> = (measured.iter())
        .map(|key_result| {
            (key_result.accounts.iter())
                .map(|letter| named(&names, letter))
                .collect()
        })
        .collect();
    let okr = goal_over(&app, "Be liked", &[(&accounts[0], 0), (&accounts[1], 2)]).await;
    activate(&app, &okr).await;
    wait_for_selections(&app, 2).await;
    assert_rollups_match_observations(&app).await;
    check_progress(&app, &okr, &names, &measured).await;

    // Four writers at once over the same keys: two replay the week with
    // new values (corrections), two add fresh rows to the same days.
    let mut writers = Vec::new();
    for writer in 0..4 {
        let client = metric_client(&app);
        let names = names.clone();
        writers.push(tokio::spawn(async move {
            let rows = if writer < 2 {
                week_of_likes(&names, 100.0 * f64::from(writer + 1))
            } else {
                let mut fresh = week_of_likes(&names, f64::from(writer));
                for row in &mut fresh {
                    let moved = observed(row) + TimeDelta::seconds(i64::from(writer));
                    row.observed_at = Some(ts(moved));
                }
                fresh
            };
            load(client, rows).await
        }));
    }
    for writer in writers {
        writer.await.expect("a writer").expect("a concurrent write");
    }
    assert_rollups_match_observations(&app).await;
    check_progress(&app, &okr, &names, &measured).await;

    // A batch sent again changes nothing the second time.
    write(&app, week_of_likes(&names, 100.0))
        .await
        .expect("a correction");
    let before: Vec<String> = rollup_rows(&app).await;
    write(&app, week_of_likes(&names, 100.0))
        .await
        .expect("its replay");
    assert_eq!(
        rollup_rows(&app).await,
        before,
        "the replay changed nothing"
    );
    assert_rollups_match_observations(&app).await;
    check_progress(&app, &okr, &names, &measured).await;
}

/// Writes `rows` through its own client, as a concurrent writer: a load
/// whose rollup merge keeps crossing another's is answered ABORTED
/// (`CONCURRENT_WRITE`, with retry info) and sent again.
async fn load(
    client: MetricServiceClient<Channel>,
    rows: Vec<pb::Observation>,
) -> Result<(), tonic::Status> {
    write_resending_aborted(client, rows).await.map(|_| ())
}

pub(super) async fn rollup_rows(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("select t::text from observation_daily_selection t order by 1")
        .fetch_all(&app.pool)
        .await
        .expect("read selection rollups")
}

/// Creates a goal with a key result of `likes` over each of `selections`
/// (account names, "" for the organisation-wide series) and its window.
pub(super) async fn goal_over(
    app: &TestApp,
    title: &str,
    selections: &[(&[&str], i32)],
) -> pb::Goal {
    let okr = create_goal(
        app,
        goal(
            title,
            Framework::Okr,
            "2026-03-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
        ),
    )
    .await;
    for (accounts, window_days) in selections {
        add_key_result(
            app,
            &okr,
            pb::KeyResult {
                baseline_value: Some(0.0),
                target_value: Some(10_000.0),
                ..metric_key_result("likes", accounts, *window_days)
            },
        )
        .await;
    }
    okr
}

#[tokio::test]
async fn selections_registered_before_and_while_loads_run_get_every_loaded_value() {
    let app = spawn_app().await;
    let names = accounts_with_a_week(&app, 0.5).await;
    let selections: [&[usize]; 6] = [&[0], &[1, 2], &[0, 1, 2], &[1], &[0, 1], &[2]];
    let title = |index: usize| format!("Be liked {index}");
    let accounts_of = |selection: &[usize]| -> Vec<String> {
        selection.iter().map(|at| names[*at].clone()).collect()
    };
    // Three selections registered before the loads, whose deltas they
    // then take; three while the loads run, racing their merges.
    for (index, selection) in selections[..3].iter().enumerate() {
        let accounts = accounts_of(selection);
        let accounts: Vec<&str> = accounts.iter().map(String::as_str).collect();
        goal_over(&app, &title(index), &[(&accounts, 3)]).await;
    }
    wait_for_selections(&app, 3).await;
    let mut loads = Vec::new();
    for writer in 0..3 {
        let client = metric_client(&app);
        let names = names.clone();
        loads.push(tokio::spawn(async move {
            for round in 0..12 {
                let seed = writer * 20 + round;
                let mut rows = week_of_likes(&names, f64::from(seed));
                // Odd rounds add fresh values; even ones correct stored ones.
                if round % 2 == 1 {
                    for row in &mut rows {
                        row.observed_at = Some(ts(observed(row) + TimeDelta::seconds(seed.into())));
                    }
                }
                load(client.clone(), rows).await.expect("a load");
            }
        }));
    }
    for (index, selection) in selections.iter().enumerate().skip(3) {
        let accounts = accounts_of(selection);
        let accounts: Vec<&str> = accounts.iter().map(String::as_str).collect();
        goal_over(&app, &title(index), &[(&accounts, 3)]).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    for load in loads {
        load.await.expect("a load task");
    }
    wait_for_selections(&app, 6).await;
    assert_rollups_match_observations(&app).await;
}

/// LIKES over `selection` in `window`, read on `conn` with `series`.
async fn likes_read(
    conn: &mut PgConnection,
    series: &SeriesCache,
    selection: &Selection,
    window: Window,
) -> Option<f64> {
    let catalog = load_all(conn).await.expect("the catalog");
    let plan = MetricPlan::resolve(&catalog, "likes").expect("likes is in the catalog");
    evaluate::evaluate(conn, series, &plan, selection, &[window])
        .await
        .expect("evaluate likes")[0]
}

#[tokio::test]
async fn a_read_older_than_a_registration_reads_the_accounts_own_rollups() {
    let app = spawn_app().await;
    let names = accounts_with_a_week(&app, 1.0).await;
    let selection = Selection::from_list(names[..2].iter().map(|name| account_id(name)));
    let window = Window::half_open(t("2026-03-02T00:00:00Z"), t("2026-03-05T00:00:00Z"));
    let expected = likes_between(
        &app,
        &[account_id(&names[0]), account_id(&names[1])],
        window.start,
        window.end - TimeDelta::microseconds(1),
    )
    .await;
    assert!(expected.is_some());

    // A reader whose snapshot is taken before the registration…
    let mut old = app.pool.acquire().await.expect("a connection");
    let mut old_reader = old.begin().await.expect("begin");
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *old_reader)
        .await
        .expect("repeatable read");
    sqlx::query("select 1")
        .execute(&mut *old_reader)
        .await
        .expect("take the snapshot");

    // …and a registration, learnt by a cache that reads use.
    let okr = goal_over(&app, "Be liked", &[(&[&names[0], &names[1]], 3)]).await;
    wait_for_selections(&app, 1).await;
    let goal_id = Uuid::parse_str(okr.name.trim_start_matches("goals/")).expect("a goal id");
    let rollups = SelectionRollups::start(app.pool.clone(), CatalogCache::default());
    let Selection::Some { accounts, .. } = &selection else {
        panic!("a selection of accounts");
    };
    let started = Instant::now();
    while rollups.id("likes", accounts, false).is_none() {
        rollups.request(goal_id);
        assert!(started.elapsed() < REGISTERED_WITHIN, "the cache learns it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let series = SeriesCache::with_rollups(rollups.clone());

    // The old snapshot cannot see the selection's rollups: the read finds
    // that out and reads the accounts' own, and forgets the selection.
    let found = likes_read(&mut old_reader, &series, &selection, window).await;
    assert_eq!(found, expected, "the old snapshot's value");
    let plain = likes_read(&mut old_reader, &SeriesCache::default(), &selection, window).await;
    assert_eq!(plain, expected, "the accounts' own rollups");
    assert_eq!(rollups.id("likes", accounts, false), None, "forgotten");
    old_reader.rollback().await.expect("end the old read");

    // A new snapshot reads the selection's rollups, once learnt again.
    let started = Instant::now();
    while rollups.id("likes", accounts, false).is_none() {
        rollups.request(goal_id);
        assert!(
            started.elapsed() < REGISTERED_WITHIN,
            "the cache learns it again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut new = app.pool.acquire().await.expect("a connection");
    let found = likes_read(&mut new, &series, &selection, window).await;
    let expected = expected.unwrap_or(f64::NAN);
    assert_close(
        found.unwrap_or(f64::NAN),
        expected,
        "the new snapshot's value",
    );
}
