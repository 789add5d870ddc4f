//! LAST over every account, where the organisation rollups answer windows
//! in which no series went quiet and series-by-series reads answer the
//! rest: both must give each account's latest value in the window, for
//! accounts that report every day, start late, stop early or pause.

use super::*;

#[tokio::test]
async fn last_over_every_account_equals_each_accounts_latest_value_in_any_window() {
    let app = spawn_app().await;
    let steady = app.create_account(Network::X, "steady").await.name;
    let paused = app.create_account(Network::X, "paused").await.name;
    let late = app.create_account(Network::X, "late").await.name;
    let stopped = app.create_account(Network::X, "stopped").await.name;
    let first_day = t("2026-03-01T00:00:00Z");
    let mut rows = Vec::new();
    for day in 0..20 {
        let midnight = first_day + TimeDelta::days(day);
        // Values change every day so a stale one would show; times vary
        // within the day so cut last days matter.
        let value = |base: f64| base + (day * day) as f64;
        rows.push(obs(
            "followers",
            &steady,
            midnight + TimeDelta::hours(3 + day % 5),
            value(1_000.0),
        ));
        rows.push(obs(
            "followers",
            &steady,
            midnight + TimeDelta::hours(18),
            value(1_001.0),
        ));
        if !(6..=8).contains(&day) {
            rows.push(obs(
                "followers",
                &paused,
                midnight + TimeDelta::hours(9),
                value(500.0),
            ));
        }
        if day >= 10 {
            // Stamped exactly at midnight on even days: windows cut 1 µs
            // after a midnight must count it, and those starting 1 µs after
            // one must not.
            let at = if day % 2 == 0 {
                midnight
            } else {
                midnight + TimeDelta::hours(12)
            };
            rows.push(obs("followers", &late, at, value(70.0)));
        }
        if day <= 12 {
            rows.push(obs(
                "followers",
                &stopped,
                midnight + TimeDelta::hours(1),
                value(9.0),
            ));
        }
        if day % 4 == 0 {
            rows.push(obs(
                "followers",
                "",
                midnight + TimeDelta::hours(6),
                value(3.0),
            ));
        }
    }
    // The same times for a summed metric, whose windows are read as a day
    // grid.
    let likes: Vec<pb::Observation> = rows
        .iter()
        .map(|row| pb::Observation {
            metric_key: "likes".into(),
            ..row.clone()
        })
        .collect();
    rows.extend(likes);
    // Written in two halves, the later first: rollups built out of order.
    let (early, later) = rows.split_at(rows.len() / 2);
    write(&app, later.to_vec()).await.unwrap();
    write(&app, early.to_vec()).await.unwrap();
    assert_rollups_match_observations(&app).await;

    let mut checked = 0;
    // Some windows start before the data does.
    for first in -3..20 {
        for days in [1, 2, 3, 5, 9, 21] {
            let hours = TimeDelta::hours;
            let micro = TimeDelta::microseconds(1);
            for (start_offset, end_offset) in [
                (hours(0), hours(0)),
                (hours(0), hours(20)),
                (hours(7), hours(0)),
                (hours(5), hours(2)),
                (hours(0), hours(19)),
                (micro, micro),
            ] {
                let start = first_day + TimeDelta::days(first) + start_offset;
                let end = first_day + TimeDelta::days(first + days) + end_offset;
                for (metric, aggregation) in [
                    ("followers", Aggregation::Last),
                    ("likes", Aggregation::Sum),
                ] {
                    let whole = query(&app, metric, &[], start, end, Interval::Unspecified).await;
                    assert_buckets(
                        &format!("{metric} from {start} to {end}"),
                        &whole,
                        &[start, end],
                        |start, end| expected_base(&rows, metric, aggregation, &[], start, end),
                        EXACT,
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 828);
    for interval in [Interval::Day, Interval::Week] {
        let start = first_day + TimeDelta::hours(5);
        let end = first_day + TimeDelta::days(21);
        let buckets = query(&app, "followers", &[], start, end, interval).await;
        let mut bounds: Vec<DateTime<Utc>> = buckets
            .iter()
            .map(|bucket| time_of(bucket.start.as_ref().unwrap()))
            .collect();
        bounds.push(end);
        assert_buckets(
            &format!("followers by {interval:?}"),
            &buckets,
            &bounds,
            |start, end| expected_base(&rows, "followers", Aggregation::Last, &[], start, end),
            EXACT,
        );
    }
}
