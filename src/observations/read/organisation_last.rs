//! LAST over every account from the organisation-level rollups, one row per
//! day instead of one probe per series and window.
//!
//! A series' latest value in a window is its value on the last day it was
//! observed there. When no day of the window after its first had a
//! departure (a series observed the day before and not that day), every
//! series observed in the window was observed again on each following day,
//! so on the window's last day too: the sum of every series' latest value
//! is that day's `last_sum`. A window's last day that is cut before some
//! of its observations, or that has departures, is read series by series
//! over the days before it: each series observed that day before the
//! window's end replaces its value of the day before. Windows that do not
//! qualify (a day without rollups, a departure before the last day) are
//! left to the per-series reads, which are exact everywhere.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use rustc_hash::FxHashMap;
use sqlx::PgConnection;

use super::combine::Combined;
use super::day_grid::coalesce;
use super::evaluate::Window;
use super::{ONE_BY_ONE, Statements};
use crate::error::ApiError;

/// A metric's day across every series, as LAST needs it: the
/// organisation-level rollup.
#[derive(sqlx::FromRow, Clone)]
pub struct OrganisationDay {
    pub metric_key: String,
    pub day: NaiveDate,
    /// Each series' last value of the day, added up.
    pub last_sum: f64,
    /// How many series observed the day before were not on the day.
    pub departures: i64,
    pub last_observed_at: DateTime<Utc>,
    pub first_observed_at: DateTime<Utc>,
}

/// The organisation-level rollups of `keys` over day ranges `[first, after)`.
pub async fn read_organisation_days(
    conn: &mut PgConnection,
    keys: &[&str],
    ranges: &[(NaiveDate, NaiveDate)],
) -> Result<Vec<OrganisationDay>, ApiError> {
    let firsts: Vec<NaiveDate> = ranges.iter().map(|range| range.0).collect();
    let afters: Vec<NaiveDate> = ranges.iter().map(|range| range.1).collect();
    Ok(sqlx::query_as(
        "select g.metric_key, g.day, g.last_sum, g.departures, g.last_observed_at,
                g.first_observed_at
         from unnest($2::date[], $3::date[]) as r(first_day, after_last_day)
         join observation_daily_organisation g
             on g.metric_key = any($1) and g.day >= r.first_day and g.day < r.after_last_day",
    )
    .bind(keys)
    .bind(&firsts)
    .bind(&afters)
    .fetch_all(&mut *conn)
    .await?)
}

/// What the organisation rollups tell of a window's LAST for one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    /// Nothing certain: read it series by series.
    Unknown,
    /// The aggregate, or no data.
    Known(Option<Combined>),
    /// The aggregate of the window's whole days, which end the day before
    /// `day`; each series observed on `day` before `cut` replaces its value
    /// of the day before with its latest there.
    WithCutPart {
        whole: Option<Combined>,
        day: NaiveDate,
        cut: DateTime<Utc>,
    },
}

/// The windows answered from the organisation rollups, and the indices of
/// the others.
pub struct Answered {
    /// The combined LAST aggregates per (window index, key).
    pub combined: FxHashMap<(usize, String), Combined>,
    /// The windows left to the per-series reads, in order.
    pub rest: Vec<usize>,
}

/// The days of a window that the organisation rollups could answer it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    /// The day the window starts in (perhaps after its midnight).
    start_day: NaiveDate,
    /// Its first whole day.
    first_whole_day: NaiveDate,
    /// Its last day, whole or cut at `cut_at`.
    last_day: NaiveDate,
    /// Where the last day is cut, when the window ends after its midnight.
    cut_at: Option<DateTime<Utc>>,
}

impl Span {
    fn of(window: &Window) -> Option<Span> {
        if window.is_empty() {
            return None;
        }
        let start_day = window.start.date_naive();
        let first_whole_day = if window.start.time() == NaiveTime::MIN {
            start_day
        } else {
            start_day.checked_add_days(Days::new(1))?
        };
        let (last_day, cut_at) = if window.end.time() == NaiveTime::MIN {
            (
                window.end.date_naive().checked_sub_days(Days::new(1))?,
                None,
            )
        } else {
            (window.end.date_naive(), Some(window.end))
        };
        (first_whole_day <= last_day).then_some(Span {
            start_day,
            first_whole_day,
            last_day,
            cut_at,
        })
    }

    /// The window's LAST aggregate from one metric's daily rows (`None`
    /// inside: no data), when they show that every series observed in it
    /// was observed on its last day, or that none was observed in it.
    fn answer(&self, days: &BTreeMap<NaiveDate, OrganisationDay>) -> Answer {
        // A cut last day counts whole when its values all come before the
        // cut, and not at all when none does (a step at a midnight, cut
        // 1 µs after it). Otherwise the part before the cut is read series
        // by series, over the whole days before it.
        let mut last_day = self.last_day;
        let mut cut_part = None;
        if let Some(cut) = self.cut_at {
            let row = days.get(&last_day);
            let any_before = row.is_some_and(|row| row.first_observed_at < cut);
            let any_after = row.is_some_and(|row| row.last_observed_at >= cut);
            if any_before && any_after {
                cut_part = Some((last_day, cut));
            }
            if !any_before || any_after {
                let Some(before) = last_day.checked_sub_days(Days::new(1)) else {
                    return Answer::Unknown;
                };
                last_day = before;
            }
        }
        match (self.whole_days(days, last_day), cut_part) {
            (Some(whole), None) => Answer::Known(whole),
            // The series of the cut part replace their values of the day
            // before, which must be the window's.
            (Some(_), Some(_)) if last_day < self.first_whole_day => Answer::Unknown,
            (Some(whole), Some((day, cut))) => Answer::WithCutPart { whole, day, cut },
            // Some series went quiet on the last day (today, while accounts
            // have yet to report): read that day series by series over the
            // days before, when those show no departure.
            (None, None) => self.last_day_apart(days, last_day),
            (None, Some(_)) => Answer::Unknown,
        }
    }

    /// The window with its last day, `last_day`, read as a cut part: each
    /// series observed that day (before the window's end) replaces its
    /// value of the day before.
    fn last_day_apart(
        &self,
        days: &BTreeMap<NaiveDate, OrganisationDay>,
        last_day: NaiveDate,
    ) -> Answer {
        let (Some(before), Some(after)) = (
            last_day.checked_sub_days(Days::new(1)),
            last_day.checked_add_days(Days::new(1)),
        ) else {
            return Answer::Unknown;
        };
        if before < self.first_whole_day || !days.contains_key(&last_day) {
            return Answer::Unknown;
        }
        let end_of_day = after.and_time(NaiveTime::MIN).and_utc();
        let cut = self.cut_at.map_or(end_of_day, |cut| cut.min(end_of_day));
        match self.whole_days(days, before) {
            Some(whole) => Answer::WithCutPart {
                whole,
                day: last_day,
                cut,
            },
            None => Answer::Unknown,
        }
    }

    /// The LAST aggregate of the window's days up to `last_day`, whole, from
    /// one metric's daily rows (`None` inside: no data), when they show that
    /// every series observed there was observed on `last_day`, or that none
    /// was observed.
    fn whole_days(
        &self,
        days: &BTreeMap<NaiveDate, OrganisationDay>,
        last_day: NaiveDate,
    ) -> Option<Option<Combined>> {
        if self.start_day > last_day {
            return Some(None);
        }
        let after_last = last_day.checked_add_days(Days::new(1))?;
        if days.range(self.start_day..after_last).next().is_none() {
            return Some(None);
        }
        if last_day < self.first_whole_day {
            return None;
        }
        // Whole days before the first with rows observed no series (the
        // data starts inside the window), unless the window's cut first day
        // observed some that may have gone quiet on the next day unseen.
        let mut rows = days.range(self.first_whole_day..after_last).peekable();
        let mut expected = *rows.peek()?.0;
        if expected > self.first_whole_day
            && self.start_day < self.first_whole_day
            && days.contains_key(&self.start_day)
        {
            return None;
        }
        for (day, row) in rows {
            if *day != expected || (*day > self.start_day && row.departures != 0) {
                return None;
            }
            expected = day.checked_add_days(Days::new(1))?;
        }
        if expected != after_last {
            return None;
        }
        let last = days.get(&last_day)?;
        Some(Some(last_only(last.last_sum, last.last_observed_at)))
    }
}

/// Whether a non-empty window starts and ends inside one UTC day (its end
/// may be the next midnight).
fn within_one_day(window: &Window) -> bool {
    !window.is_empty() && window.start.date_naive() == window.last_day()
}

/// A LAST aggregate: every series' latest value added up, and the newest
/// time. The other aggregates are not known here, and LAST reads none.
fn last_only(last_sum: f64, newest: DateTime<Utc>) -> Combined {
    Combined {
        sum: last_sum,
        count: 1,
        min: f64::NAN,
        max: f64::NAN,
        last_sum,
        last_at: Some(newest),
    }
}

/// A window's LAST of one key that needs a part of one day, from `start`
/// to before `cut`, read series by series.
struct CutPart<'a> {
    window: usize,
    key: &'a str,
    start: DateTime<Utc>,
    cut: DateTime<Utc>,
    /// Whether the part's series replace their values of the day before
    /// (the window's last day, after whole days), or are all the window
    /// holds (a window inside one day).
    replaces: bool,
    /// The window's whole days before the part.
    whole: Option<Combined>,
}

#[derive(sqlx::FromRow)]
struct CutPartChange {
    window: i32,
    metric_key: String,
    /// Each series' latest value before the cut less its value of the day
    /// before (none when it had none), added up.
    delta: f64,
    newest: DateTime<Utc>,
}

/// For each (window, key, start, cut): how the series observed from
/// `start` to before `cut` change the sum of latest values of the day
/// before (or of nothing, when they do not replace it), read from the
/// (metric, time) index of observations and the (metric, day) index of the
/// rollups of the day before, in one statement.
async fn read_cut_parts(
    conn: &mut PgConnection,
    parts: &[CutPart<'_>],
) -> Result<FxHashMap<(usize, String), CutPartChange>, ApiError> {
    let window = |part: &CutPart<'_>| i32::try_from(part.window).unwrap_or(i32::MAX);
    let mut rows: Vec<CutPartChange> = Vec::new();
    if parts.len() <= ONE_BY_ONE {
        for part in parts {
            let found: Vec<CutPartChange> = sqlx::query_as(&CUT_PARTS.one)
                .bind(window(part))
                .bind(part.key)
                .bind(part.start)
                .bind(part.cut)
                .bind(part.replaces)
                .fetch_all(&mut *conn)
                .await?;
            rows.extend(found);
        }
    } else {
        rows = sqlx::query_as(&CUT_PARTS.many)
            .bind(parts.iter().map(window).collect::<Vec<_>>())
            .bind(parts.iter().map(|part| part.key).collect::<Vec<_>>())
            .bind(parts.iter().map(|part| part.start).collect::<Vec<_>>())
            .bind(parts.iter().map(|part| part.cut).collect::<Vec<_>>())
            .bind(parts.iter().map(|part| part.replaces).collect::<Vec<_>>())
            .bind(parts.iter().map(|part| part.start).min())
            .bind(parts.iter().map(|part| part.cut).max())
            .fetch_all(&mut *conn)
            .await?;
    }
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let window = usize::try_from(row.window).ok()?;
            Some(((window, row.metric_key.clone()), row))
        })
        .collect())
}

/// Reading cut parts `(window_index, metric_key, start, cut, replaces)`:
/// `one` with a part's values as `$1` to `$5`, `many` with arrays of them.
static CUT_PARTS: LazyLock<Statements> = LazyLock::new(|| {
    let select = |parts: &str, span: &str, previous: &str, previous_join: &str| {
        format!(
            "select w.window_index as window, w.metric_key,
                    sum(x.value - coalesce(x.previous, 0)) as delta, max(x.observed_at) as newest
             from {parts} as w(window_index, metric_key, part_start, cut, replaces)
             join metric_definition m using (metric_key)
             cross join lateral (
                 select latest.series_id, latest.value, latest.observed_at, {previous}
                 from (
                     select distinct on (o.series_id) o.series_id, o.value, o.observed_at
                     from observation o
                     where o.metric_id = m.metric_id
                       and o.observed_at >= w.part_start and o.observed_at < w.cut {span}
                     order by o.series_id, o.observed_at desc
                 ) latest {previous_join}
             ) x
             group by w.window_index, w.metric_key"
        )
    };
    let day_before = "(w.part_start at time zone 'UTC')::date - 1";
    Statements {
        // One part is usually a day's cut over every account (a window
        // ending now or at a goal's start): the metric's rollups of the
        // day before read as one index range, in series order.
        one: select(
            "(select $1::int4, $2::text, $3::timestamptz, $4::timestamptz, $5::bool)",
            "",
            "d.last_value as previous",
            &format!(
                "left join observation_daily d
                     on w.replaces and d.metric_id = m.metric_id and d.day = {day_before}
                    and d.series_id = latest.series_id"
            ),
        ),
        // Many parts are usually a history's steps, each cut a microsecond
        // after a midnight with a series or two before it: a probe per
        // series, rather than a whole day of rollups per part. The span of
        // every part, so planning covers only the partitions it reaches.
        many: select(
            "unnest($1::int4[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bool[])",
            "and o.observed_at >= $6 and o.observed_at < $7",
            &format!(
                "case when w.replaces then (
                     select d.last_value from observation_daily d
                     where d.series_id = latest.series_id and d.day = {day_before}
                 ) end as previous"
            ),
            "",
        ),
    }
});

/// LAST of `keys` over every account for each window that the
/// organisation rollups can answer; a window is answered for every key or
/// for none.
pub async fn combine(
    conn: &mut PgConnection,
    keys: &[&str],
    windows: &[Window],
) -> Result<Answered, ApiError> {
    let spans: Vec<Option<Span>> = windows.iter().map(Span::of).collect();
    let ranges = coalesce(
        spans
            .iter()
            .flatten()
            .filter_map(|span| {
                Some((
                    span.start_day,
                    span.last_day.checked_add_days(Days::new(1))?,
                ))
            })
            .collect(),
    );
    let mut days: FxHashMap<String, BTreeMap<NaiveDate, OrganisationDay>> = FxHashMap::default();
    if !ranges.is_empty() {
        for row in read_organisation_days(conn, keys, &ranges).await? {
            days.entry(row.metric_key.clone())
                .or_default()
                .insert(row.day, row);
        }
    }
    let none = BTreeMap::new();
    let mut answered = Answered {
        combined: FxHashMap::default(),
        rest: Vec::new(),
    };
    let mut cut_parts: Vec<CutPart> = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        let answers: Option<Vec<Answer>> = span.and_then(|span| {
            let answers: Vec<Answer> = keys
                .iter()
                .map(|key| span.answer(days.get(*key).unwrap_or(&none)))
                .collect();
            (!answers.contains(&Answer::Unknown)).then_some(answers)
        });
        let Some(answers) = answers else {
            // A window inside one day, cut at its start (a bucket from a
            // moment to the next midnight): each series' latest value there
            // from the (metric, time) index, one day's rows at most.
            if span.is_none() && within_one_day(&windows[index]) {
                cut_parts.extend(keys.iter().map(|key| CutPart {
                    window: index,
                    key,
                    start: windows[index].start,
                    cut: windows[index].end,
                    replaces: false,
                    whole: None,
                }));
            } else {
                answered.rest.push(index);
            }
            continue;
        };
        for (key, answer) in keys.iter().zip(answers) {
            match answer {
                Answer::Unknown => {}
                Answer::Known(combined) => {
                    if let Some(combined) = combined {
                        answered
                            .combined
                            .insert((index, (*key).to_owned()), combined);
                    }
                }
                Answer::WithCutPart { whole, day, cut } => cut_parts.push(CutPart {
                    window: index,
                    key,
                    start: day.and_time(NaiveTime::MIN).and_utc(),
                    cut,
                    replaces: true,
                    whole,
                }),
            }
        }
    }
    if !cut_parts.is_empty() {
        let changes = read_cut_parts(conn, &cut_parts).await?;
        for CutPart {
            window: index,
            key,
            whole,
            ..
        } in cut_parts
        {
            let change = changes.get(&(index, key.to_owned()));
            let combined = match (whole, change) {
                (whole, None) => whole,
                (None, Some(change)) => Some(last_only(change.delta, change.newest)),
                (Some(whole), Some(change)) => Some(last_only(
                    whole.last_sum + change.delta,
                    change.newest.max(whole.last_at.unwrap_or(change.newest)),
                )),
            };
            if let Some(combined) = combined {
                answered.combined.insert((index, key.to_owned()), combined);
            }
        }
    }
    Ok(answered)
}

#[cfg(test)]
mod tests;
