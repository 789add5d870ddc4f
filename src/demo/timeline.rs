//! When things happen in the demo's story, all relative to its anchor: the
//! UTC day the demo goals start.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};

/// How many weeks before the first run the demo goals start.
pub const GOALS_STARTED_WEEKS_AGO: u64 = 6;
/// How many days of history the demo writes, ending with the latest day whose
/// observation time has passed.
pub const HISTORY_DAYS: u64 = 365;
/// The hour of the day (UTC) at which every daily value is observed.
pub const OBSERVATION_HOUR: u32 = 6;
/// The SMART goal's length: about half a year.
const SMART_DAYS: u64 = 182;
/// The OKR's length: a quarter.
const OKR_DAYS: u64 = 91;
/// The days before the start whose bounce rate is the SMART goal's baseline.
const BASELINE_DAYS: u64 = 90;
/// How many days before the goals start the audit describes.
const AUDIT_DAYS_BEFORE: u64 = 3;

/// The demo's calendar for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// The day the goals start (at midnight UTC).
    pub anchor: NaiveDate,
    /// The last day with an observation.
    pub last_day: NaiveDate,
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

impl Timeline {
    /// The calendar at `now`: anchored at the start of goals a first run
    /// created (`existing_start`), else six weeks before `now`, so that a
    /// rerun continues the same story instead of shifting it.
    pub fn new(existing_start: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Timeline {
        let today = now.date_naive();
        let anchor = existing_start
            .map(|start| start.date_naive())
            .unwrap_or(today - Days::new(7 * GOALS_STARTED_WEEKS_AGO));
        let observed_today = observation_time(today) <= now;
        let last_day = if observed_today {
            today
        } else {
            today - Days::new(1)
        };
        Timeline { anchor, last_day }
    }

    /// Every day with an observation, oldest first.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let first = self.first_day();
        first.iter_days().take(HISTORY_DAYS as usize)
    }

    /// The first day with an observation.
    pub fn first_day(&self) -> NaiveDate {
        self.last_day - Days::new(HISTORY_DAYS - 1)
    }

    /// The goals' start.
    pub fn start(&self) -> DateTime<Utc> {
        midnight(self.anchor)
    }

    /// The SMART goal's deadline.
    pub fn smart_deadline(&self) -> DateTime<Utc> {
        midnight(self.anchor + Days::new(SMART_DAYS))
    }

    /// The OKR's deadline.
    pub fn okr_deadline(&self) -> DateTime<Utc> {
        midnight(self.anchor + Days::new(OKR_DAYS))
    }

    /// The inclusive range whose bounce rate is the SMART goal's baseline:
    /// the 90 days before the start.
    pub fn baseline(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            midnight(self.anchor - Days::new(BASELINE_DAYS)),
            self.start(),
        )
    }

    /// The moment the audit describes: the observation time a few days
    /// before the goals start, so the values it records are the daily ones.
    pub fn audit_as_of(&self) -> DateTime<Utc> {
        observation_time(self.audit_day())
    }

    /// The day the audit describes.
    pub fn audit_day(&self) -> NaiveDate {
        self.anchor - Days::new(AUDIT_DAYS_BEFORE)
    }

    /// A moment `days` days and `hours` hours after the start, for backdated
    /// milestones.
    pub fn after_start(&self, days: u64, hours: i64) -> DateTime<Utc> {
        midnight(self.anchor + Days::new(days)) + TimeDelta::hours(hours)
    }

    /// The Monday midnight at least twelve weeks before the start, where the
    /// guide's weekly query begins (ISO weeks start on Monday).
    pub fn query_start(&self) -> DateTime<Utc> {
        use chrono::Datelike;
        let day = self.anchor - Days::new(12 * 7);
        let monday = day - Days::new(u64::from(day.weekday().num_days_from_monday()));
        midnight(monday)
    }

    /// The midnight after the last observed day, where the guide's query ends.
    pub fn query_end(&self) -> DateTime<Utc> {
        midnight(self.last_day + Days::new(1))
    }
}

/// When the value of `day` is observed.
pub fn observation_time(day: NaiveDate) -> DateTime<Utc> {
    midnight(day) + TimeDelta::hours(i64::from(OBSERVATION_HOUR))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    #[test]
    fn a_first_run_starts_the_goals_six_weeks_ago() {
        let timeline = Timeline::new(None, at("2026-12-02T10:00:00Z"));
        assert_eq!(timeline.start(), at("2026-10-21T00:00:00Z"));
        assert_eq!(timeline.smart_deadline(), at("2027-04-21T00:00:00Z"));
        assert_eq!(timeline.okr_deadline(), at("2027-01-20T00:00:00Z"));
        assert_eq!(
            timeline.baseline(),
            (at("2026-07-23T00:00:00Z"), at("2026-10-21T00:00:00Z"))
        );
        assert_eq!(timeline.audit_as_of(), at("2026-10-18T06:00:00Z"));
    }

    #[test]
    fn a_rerun_keeps_the_anchor_of_the_goals_it_finds() {
        let timeline = Timeline::new(Some(at("2026-10-21T00:00:00Z")), at("2026-12-20T10:00:00Z"));
        assert_eq!(timeline.anchor, "2026-10-21".parse().unwrap());
        assert_eq!(timeline.last_day, "2026-12-20".parse().unwrap());
    }

    #[test]
    fn history_is_a_year_of_days_whose_observation_time_has_passed() {
        let before = Timeline::new(None, at("2026-12-02T05:59:59Z"));
        assert_eq!(before.last_day, "2026-12-01".parse().unwrap());
        let after = Timeline::new(None, at("2026-12-02T06:00:00Z"));
        assert_eq!(after.last_day, "2026-12-02".parse().unwrap());
        let days: Vec<NaiveDate> = after.days().collect();
        assert_eq!(days.len(), 365);
        assert_eq!(days[0], after.first_day());
        assert_eq!(days[364], after.last_day);
        assert!(observation_time(after.last_day) <= at("2026-12-02T06:00:00Z"));
    }

    #[test]
    fn the_guide_query_runs_from_a_monday_to_the_midnight_after_the_last_day() {
        let timeline = Timeline::new(None, at("2026-12-02T10:00:00Z"));
        assert_eq!(timeline.query_start(), at("2026-07-27T00:00:00Z"));
        assert_eq!(timeline.query_end(), at("2026-12-03T00:00:00Z"));
    }
}
