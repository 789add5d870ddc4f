//! What the rollups and QueryMetric should hold, computed here from the rows
//! written (DESIGN §1) independently of the service, and the checks that
//! compare them with what it stored.

use super::*;

/// The rollup `rollup` should find, computed from the rows written.
pub(crate) fn expected_rollup(
    rows: &[pb::Observation],
    metric: &str,
    account: &str,
    day: NaiveDate,
) -> Option<Rollup> {
    let selected: Vec<&pb::Observation> = effective(rows)
        .into_iter()
        .filter(|row| {
            row.metric_key == metric && row.account == account && observed(row).date_naive() == day
        })
        .collect();
    let last = selected.iter().max_by_key(|row| observed(row))?;
    let values = || selected.iter().map(|row| row.value);
    Some((
        values().sum(),
        selected.len() as i64,
        values().fold(f64::INFINITY, f64::min),
        values().fold(f64::NEG_INFINITY, f64::max),
        last.value,
        observed(last),
    ))
}

/// Asserts every rollup row equals the aggregate of the raw observations of
/// its series and day, and that no series-day lacks its rollup.
pub(crate) async fn assert_rollups_match_observations(app: &TestApp) {
    let mismatches: Vec<String> = sqlx::query_scalar(
        "with raw as (
             select series_id, (observed_at at time zone 'UTC')::date as day,
                    sum(value) as value_sum, count(*) as value_count,
                    min(value) as value_min, max(value) as value_max,
                    (array_agg(value order by observed_at desc))[1] as last_value,
                    max(observed_at) as last_observed_at, min(observed_at) as first_observed_at,
                    min(metric_id) as metric_id
             from observation
             group by 1, 2
         )
         select format('series %s on %s: raw %s, rollup %s', series_id, day, r, d)
         from raw r full join observation_daily d using (series_id, day)
         where r.value_count is distinct from d.value_count
            or r.value_sum is distinct from d.value_sum
            or r.value_min is distinct from d.value_min
            or r.value_max is distinct from d.value_max
            or r.last_value is distinct from d.last_value
            or r.last_observed_at is distinct from d.last_observed_at
            or r.first_observed_at is distinct from d.first_observed_at
            or r.metric_id is distinct from d.metric_id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("compare rollups with observations");
    assert!(
        mismatches.is_empty(),
        "rollups out of step: {mismatches:#?}"
    );
    // Every observation carries its series' metric number, which the
    // (metric, time) index reads by.
    let misfiled: i64 = sqlx::query_scalar(
        "select count(*) from observation o join series s using (series_id)
         where o.metric_id <> s.metric_id
            or s.metric_id <> (select metric_id from metric_definition m where m.metric_key = s.metric_key)",
    )
    .fetch_one(&app.pool)
    .await
    .expect("compare observations' metric numbers with their series'");
    assert_eq!(misfiled, 0, "observations filed under another metric");
    // The organisation-level rollups are every series' rollups of a metric
    // and day together (sums compared to the last few bits: they are added
    // up in a different order), with the count of series observed the day
    // before and not on the day.
    let mismatches: Vec<String> = sqlx::query_scalar(
        "with combined as (
             select s.metric_key, d.day, sum(d.value_sum) as value_sum,
                    sum(d.value_count)::int8 as value_count,
                    min(d.value_min) as value_min, max(d.value_max) as value_max,
                    sum(d.last_value) as last_sum,
                    max(d.last_observed_at) as last_observed_at,
                    min(d.first_observed_at) as first_observed_at
             from observation_daily d join series s using (series_id)
             group by 1, 2
         ),
         departed as (
             select s.metric_key, d.day + 1 as day, count(*) as departures
             from observation_daily d join series s using (series_id)
             left join observation_daily n on n.series_id = d.series_id and n.day = d.day + 1
             where n.series_id is null
             group by 1, 2
         )
         select format('%s on %s: series %s, departures %s, organisation %s',
                       metric_key, day, c, x.departures, g)
         from combined c full join observation_daily_organisation g using (metric_key, day)
         left join departed x using (metric_key, day)
         where c.value_count is distinct from g.value_count
            or c.value_min is distinct from g.value_min
            or c.value_max is distinct from g.value_max
            or abs(c.value_sum - g.value_sum) > 1e-9 * greatest(1, abs(c.value_sum))
            or abs(c.last_sum - g.last_sum) > 1e-9 * greatest(1, abs(c.last_sum))
            or c.last_observed_at is distinct from g.last_observed_at
            or c.first_observed_at is distinct from g.first_observed_at
            or coalesce(x.departures, 0) is distinct from g.departures",
    )
    .fetch_all(&app.pool)
    .await
    .expect("compare organisation rollups with series rollups");
    assert!(
        mismatches.is_empty(),
        "organisation rollups out of step: {mismatches:#?}"
    );
    assert_selection_rollups_match_series(app).await;
}

/// Asserts every registered selection's rollups are its members' series
/// rollups of each day together, with no day missing or extra.
pub(crate) async fn assert_selection_rollups_match_series(app: &TestApp) {
    let mismatches: Vec<String> = sqlx::query_scalar(
        "with combined as (
             select k.selection_id, d.day, sum(d.value_sum) as value_sum,
                    sum(d.value_count)::int8 as value_count,
                    min(d.value_min) as value_min, max(d.value_max) as value_max,
                    max(d.last_observed_at) as last_observed_at,
                    min(d.first_observed_at) as first_observed_at
             from rollup_selection k
             join series s on s.metric_id = k.metric_id
                 and (s.account_id = any(k.accounts) or (k.organisation and s.account_id is null))
             join observation_daily d using (series_id)
             group by 1, 2
         )
         select format('selection %s on %s: series %s, selection %s', selection_id, day, c, g)
         from combined c full join observation_daily_selection g using (selection_id, day)
         where c.value_count is distinct from g.value_count
            or c.value_min is distinct from g.value_min
            or c.value_max is distinct from g.value_max
            or abs(c.value_sum - g.value_sum) > 1e-9 * greatest(1, abs(c.value_sum))
            or c.last_observed_at is distinct from g.last_observed_at
            or c.first_observed_at is distinct from g.first_observed_at",
    )
    .fetch_all(&app.pool)
    .await
    .expect("compare selection rollups with series rollups");
    assert!(
        mismatches.is_empty(),
        "selection rollups out of step: {mismatches:#?}"
    );
    let members: Vec<String> = sqlx::query_scalar(
        "select format('selection %s', k.selection_id)
         from rollup_selection k
         where cardinality(k.accounts) + k.organisation::int
               <> (select count(*) from rollup_selection_member m
                   where m.selection_id = k.selection_id and m.metric_id = k.metric_id)",
    )
    .fetch_all(&app.pool)
    .await
    .expect("count selection members");
    assert!(
        members.is_empty(),
        "selections with members missing: {members:?}"
    );
}

/// Waits until no client connection of the test database is inside a
/// transaction; false if that takes longer than `limit`.
pub(crate) async fn transactions_end_within(app: &TestApp, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and backend_type = 'client backend'
               and pid <> pg_backend_pid() and xact_start is not null",
        )
        .fetch_one(&app.pool)
        .await
        .expect("read pg_stat_activity");
        if open == 0 {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The rows that count: for each (metric_key, account, observed_at) the one
/// written last.
pub(crate) fn effective(rows: &[pb::Observation]) -> Vec<&pb::Observation> {
    let mut latest: BTreeMap<(&str, &str, DateTime<Utc>), &pb::Observation> = BTreeMap::new();
    for row in rows {
        latest.insert((&row.metric_key, &row.account, observed(row)), row);
    }
    latest.into_values().collect()
}

/// DESIGN §1, computed independently: the value of base `metric` over
/// `[start, end)` and `accounts` (empty = all, "" = organisation-wide).
pub(crate) fn expected_base(
    rows: &[pb::Observation],
    metric: &str,
    aggregation: Aggregation,
    accounts: &[&str],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<f64> {
    let selected: Vec<&pb::Observation> = effective(rows)
        .into_iter()
        .filter(|row| {
            let at = observed(row);
            row.metric_key == metric
                && (accounts.is_empty() || accounts.contains(&row.account.as_str()))
                && start <= at
                && at < end
        })
        .collect();
    if selected.is_empty() {
        return None;
    }
    let values = || selected.iter().map(|row| row.value);
    Some(match aggregation {
        Aggregation::Sum => values().sum(),
        Aggregation::Avg => values().sum::<f64>() / selected.len() as f64,
        Aggregation::Min => values().fold(f64::INFINITY, f64::min),
        Aggregation::Max => values().fold(f64::NEG_INFINITY, f64::max),
        Aggregation::Last => {
            let mut latest: BTreeMap<&str, (DateTime<Utc>, f64)> = BTreeMap::new();
            for row in &selected {
                let at = observed(row);
                let entry = latest.entry(&row.account).or_insert((at, row.value));
                if at >= entry.0 {
                    *entry = (at, row.value);
                }
            }
            latest.values().map(|(_, value)| value).sum()
        }
        Aggregation::Unspecified => panic!("{metric} has no aggregation"),
    })
}

/// A derived metric's formula, each term with the aggregation of its metric.
pub(crate) struct Ratio {
    pub(crate) numerator: &'static [(&'static str, f64, Aggregation)],
    pub(crate) denominator: &'static [(&'static str, f64, Aggregation)],
    pub(crate) scale: f64,
}

pub(crate) const CLICK_THROUGH_RATE: Ratio = Ratio {
    numerator: &[("clicks", 1.0, Aggregation::Sum)],
    denominator: &[("impressions", 1.0, Aggregation::Sum)],
    scale: 100.0,
};

pub(crate) const ENGAGEMENT_RATE: Ratio = Ratio {
    numerator: &[
        ("likes", 1.0, Aggregation::Sum),
        ("comments", 1.0, Aggregation::Sum),
        ("shares", 1.0, Aggregation::Sum),
    ],
    denominator: &[("followers", 1.0, Aggregation::Last)],
    scale: 100.0,
};

pub(crate) const NET_PROMOTER_SCORE: Ratio = Ratio {
    numerator: &[
        ("promoters", 1.0, Aggregation::Sum),
        ("detractors", -1.0, Aggregation::Sum),
    ],
    denominator: &[("nps_responses", 1.0, Aggregation::Sum)],
    scale: 100.0,
};

pub(crate) const SHARE_OF_VOICE: Ratio = Ratio {
    numerator: &[("mentions", 1.0, Aggregation::Sum)],
    denominator: &[
        ("mentions", 1.0, Aggregation::Sum),
        ("competitor_mentions", 1.0, Aggregation::Sum),
    ],
    scale: 100.0,
};

/// DESIGN §1, computed independently: scale × Σ aggregated numerator terms /
/// Σ aggregated denominator terms; no data when a side has no observation of
/// any term or the denominator is 0.
pub(crate) fn expected_ratio(
    rows: &[pb::Observation],
    ratio: &Ratio,
    accounts: &[&str],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<f64> {
    let side = |terms: &[(&str, f64, Aggregation)]| -> Option<f64> {
        let values: Vec<Option<f64>> = terms
            .iter()
            .map(|(key, coefficient, aggregation)| {
                expected_base(rows, key, *aggregation, accounts, start, end)
                    .map(|value| coefficient * value)
            })
            .collect();
        if values.iter().all(Option::is_none) {
            None
        } else {
            Some(values.iter().flatten().sum())
        }
    };
    let numerator = side(ratio.numerator)?;
    let denominator = side(ratio.denominator)?;
    if denominator == 0.0 {
        None
    } else {
        Some(ratio.scale * numerator / denominator)
    }
}
