//! LAST over every account from the organisation-level rollups, one row per
//! day instead of one probe per series and window.
//!
//! A series' latest value in a window is its value on the last day it was
//! observed there. When no day of the window after its first had a
//! departure (a series observed the day before and not that day), every
//! series observed in the window was observed again on each following day,
//! so on the window's last day too: the sum of every series' latest value
//! is that day's `last_sum`. The window's last day must be whole, or end
//! after its newest observation. Windows that do not qualify (a day without
//! rollups, a departure, a last day still being observed after the window's
//! end) are left to the per-series reads, which are exact everywhere.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use rustc_hash::FxHashMap;
use sqlx::PgConnection;

use super::combine::Combined;
use super::day_grid::{OrganisationDay, coalesce, read_organisation_days};
use super::evaluate::Window;
use crate::error::ApiError;

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
    fn answer(&self, days: &BTreeMap<NaiveDate, OrganisationDay>) -> Option<Option<Combined>> {
        // A cut last day counts whole when its values all come before the
        // cut, and not at all when none does (a step at a midnight, cut
        // 1 µs after it).
        let mut last_day = self.last_day;
        if let Some(cut) = self.cut_at {
            match days.get(&last_day) {
                Some(row) if row.first_observed_at < cut => {
                    if row.last_observed_at >= cut {
                        return None;
                    }
                }
                _ => last_day = last_day.checked_sub_days(Days::new(1))?,
            }
        }
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
        Some(Some(Combined {
            sum: last.last_sum,
            count: last.series_count,
            // Not known here, and not needed: LAST reads `last_sum` alone.
            min: f64::NAN,
            max: f64::NAN,
            last_sum: last.last_sum,
            last_at: Some(last.last_observed_at),
        }))
    }
}

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
    for (index, span) in spans.iter().enumerate() {
        let answers: Option<Vec<Option<Combined>>> = span.and_then(|span| {
            keys.iter()
                .map(|key| span.answer(days.get(*key).unwrap_or(&none)))
                .collect()
        });
        match answers {
            Some(answers) => answered.combined.extend(
                keys.iter()
                    .zip(answers)
                    .filter_map(|(key, combined)| Some(((index, (*key).to_owned()), combined?))),
            ),
            None => answered.rest.push(index),
        }
    }
    Ok(answered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn row(on: &str, departures: i64, last_observed_at: &str) -> (NaiveDate, OrganisationDay) {
        (
            day(on),
            OrganisationDay {
                metric_key: "followers".into(),
                day: day(on),
                value_sum: 0.0,
                value_count: 0,
                value_min: 0.0,
                value_max: 0.0,
                last_sum: 100.0,
                series_count: 2,
                departures,
                last_observed_at: at(last_observed_at),
                first_observed_at: at(&format!("{on}T00:30:00Z")),
            },
        )
    }

    #[test]
    fn spans_need_a_whole_day_or_a_last_day_cut_after_its_start() {
        let window = Window::half_open(at("2026-03-01T06:00:00Z"), at("2026-03-03T00:00:00Z"));
        assert_eq!(
            Span::of(&window),
            Some(Span {
                start_day: day("2026-03-01"),
                first_whole_day: day("2026-03-02"),
                last_day: day("2026-03-02"),
                cut_at: None,
            })
        );
        let within_a_day =
            Window::half_open(at("2026-03-01T06:00:00Z"), at("2026-03-01T18:00:00Z"));
        assert_eq!(Span::of(&within_a_day), None);
        let today = Window::half_open(at("2026-03-01T00:00:00Z"), at("2026-03-01T18:00:00Z"));
        assert_eq!(
            Span::of(&today).unwrap().cut_at,
            Some(at("2026-03-01T18:00:00Z"))
        );
    }

    #[test]
    fn a_window_is_answered_only_without_departures_gaps_or_later_values() {
        let days: BTreeMap<NaiveDate, OrganisationDay> = [
            row("2026-03-01", 5, "2026-03-01T20:00:00Z"),
            row("2026-03-02", 0, "2026-03-02T20:00:00Z"),
            row("2026-03-03", 0, "2026-03-03T20:00:00Z"),
        ]
        .into_iter()
        .collect();
        let span =
            |start: &str, end: &str| Span::of(&Window::half_open(at(start), at(end))).unwrap();
        // Departures on the first day do not matter: those series were
        // observed before the window.
        let answer = span("2026-03-01T00:00:00Z", "2026-03-04T00:00:00Z").answer(&days);
        assert_eq!(
            answer.flatten().map(|combined| combined.last_sum),
            Some(100.0)
        );
        // Cut after the last day's newest value: whole.
        assert!(
            span("2026-03-02T00:00:00Z", "2026-03-03T21:00:00Z")
                .answer(&days)
                .is_some()
        );
        // Cut before its first value: the day before is the last.
        assert_eq!(
            span("2026-03-02T00:00:00Z", "2026-03-03T00:00:00.000001Z")
                .answer(&days)
                .flatten()
                .map(|combined| combined.last_sum),
            Some(100.0)
        );
        // Cut before it: some series may be observed later that day.
        assert!(
            span("2026-03-02T00:00:00Z", "2026-03-03T19:00:00Z")
                .answer(&days)
                .is_none()
        );
        // A departure after the first day.
        let mut departed = days;
        departed.get_mut(&day("2026-03-03")).unwrap().departures = 1;
        assert!(
            span("2026-03-01T00:00:00Z", "2026-03-04T00:00:00Z")
                .answer(&departed)
                .is_none()
        );
        // A day without rows between days with rows.
        departed.remove(&day("2026-03-02"));
        assert!(
            span("2026-03-01T00:00:00Z", "2026-03-04T00:00:00Z")
                .answer(&departed)
                .is_none()
        );
        // Days without rows before the first with rows: the data starts
        // inside the window.
        let starting: BTreeMap<NaiveDate, OrganisationDay> =
            [row("2026-03-02", 0, "2026-03-02T20:00:00Z")]
                .into_iter()
                .collect();
        assert!(
            span("2026-02-20T00:00:00Z", "2026-03-03T00:00:00Z")
                .answer(&starting)
                .is_some()
        );
        assert!(
            span("2026-02-20T06:00:00Z", "2026-03-03T00:00:00Z")
                .answer(&starting)
                .is_some()
        );
        // But a cut first day with rows may hide a series that went quiet.
        assert!(
            span("2026-03-01T12:00:00Z", "2026-03-04T00:00:00Z")
                .answer(&departed)
                .is_none()
        );
        // No rows at all: no data, known without reading a series.
        assert_eq!(
            span("2026-03-05T00:00:00Z", "2026-03-07T00:00:00Z").answer(&departed),
            Some(None)
        );
        // Unless the window starts within a day with rows.
        assert!(
            span("2026-03-03T12:00:00Z", "2026-03-05T00:00:00Z")
                .answer(&departed)
                .is_none()
        );
    }
}
