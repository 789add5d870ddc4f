//! QueryMetric reads one snapshot: a write that commits while a query runs
//! is seen whole or not at all.

use chrono::TimeDelta;
use goalpost::pb::Interval;
use goalpost::pb::account::Network;

use crate::helpers::spawn_app;
use crate::observations::{obs, query, t, write};

#[tokio::test]
async fn a_query_racing_atomic_writes_sees_each_of_them_whole() {
    // Each write adds +1 to an account that has data and −1 to a brand-new
    // account, at the same moment: the sum over every account is 0 at any
    // snapshot. A query that found its series in one snapshot and read
    // their rows in a later one would miss the new account's −1.
    let app = spawn_app().await;
    let steady = app.create_account(Network::Facebook, "steady").await.name;
    let start = t("2026-06-01T00:00:00Z");
    write(&app, vec![obs("likes", &steady, start, 0.0)])
        .await
        .unwrap();
    let writes = 120;
    let writer = {
        let app = &app;
        let steady = steady.clone();
        async move {
            for i in 0..writes {
                let fresh = app
                    .create_account(Network::Facebook, &format!("fresh{i}"))
                    .await
                    .name;
                let at = start + TimeDelta::minutes(i + 1);
                write(
                    app,
                    vec![
                        obs("likes", &steady, at, 1.0),
                        obs("likes", &fresh, at, -1.0),
                    ],
                )
                .await
                .unwrap();
            }
        }
    };
    let reader = async {
        let mut reads = 0;
        let end = start + TimeDelta::days(1);
        loop {
            let buckets = query(&app, "likes", &[], start, end, Interval::Unspecified).await;
            assert_eq!(
                buckets[0].value,
                Some(0.0),
                "read {reads} saw part of a write"
            );
            reads += 1;
            let done: i64 = sqlx::query_scalar("select count(*) from account")
                .fetch_one(&app.pool)
                .await
                .unwrap();
            if done > writes {
                break reads;
            }
        }
    };
    let ((), reads) = tokio::join!(writer, reader);
    assert!(reads > 10, "the reader raced the writer ({reads} reads)");
}
