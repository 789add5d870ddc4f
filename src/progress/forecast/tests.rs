use super::*;
use proptest::prelude::*;

fn day(n: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + TimeDelta::days(20_454 + n) // day 0 is 2026-01-01
}
fn series(first_day: i64, values: impl IntoIterator<Item = f64>) -> Vec<DailyValue> {
    let daily = |(n, value)| DailyValue {
        day_end: day(n),
        value,
    };
    (first_day..).zip(values).map(daily).collect()
}
fn aim(value: f64, toward_increase: bool) -> Option<ForecastTarget> {
    Some(ForecastTarget {
        value,
        toward_increase,
    })
}
fn period(start: i64, deadline: i64) -> Period {
    let (start, deadline) = (day(start), day(deadline));
    Period { start, deadline }
}
fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

#[test]
fn least_squares_needs_two_distinct_x() {
    assert_eq!(least_squares(&[]), None);
    assert_eq!(least_squares(&[(1.0, 2.0)]), None);
    assert_eq!(least_squares(&[(0.1, 2.0), (0.1, 3.0), (0.1, 4.0)]), None);
    let line = least_squares(&[(0.0, 0.0), (1.0, 2.0), (2.0, 1.0)]);
    let line = line.map(|line| (line.slope, line.intercept));
    assert_eq!(line, Some((0.5, 0.5)));
}

#[test]
fn forecast_days_are_the_last_28_boundaries_then_as_of() {
    let as_of = day(100) + TimeDelta::hours(12);
    let days = forecast_days(as_of, day(0));
    assert_eq!(days.len(), 29);
    assert_eq!((days[0], days[27], days[28]), (day(73), day(100), as_of));
    let at_midnight = forecast_days(day(100), day(0));
    assert_eq!(at_midnight.len(), 28);
    assert_eq!((at_midnight[0], at_midnight[27]), (day(73), day(100)));
    let (start, as_of) = (day(0) + TimeDelta::hours(6), day(3) + TimeDelta::hours(1));
    assert_eq!(forecast_days(as_of, start), [day(1), day(2), day(3), as_of]);
    assert!(forecast_days(day(0), day(0)).is_empty());
    assert!(forecast_days(day(-1), day(0)).is_empty());
}

#[test]
fn forecast_projects_a_steady_rise_to_the_deadline() {
    let daily = series(1, (1..=10).map(|n| 100.0 + 10.0 * f64::from(n)));
    let score_at = |value| Some(value / 350.0);
    let got = forecast(&daily, period(0, 30), day(10), aim(350.0, true), score_at).unwrap();
    assert_close(got.projected_value, 400.0);
    assert_close(got.projected_score.unwrap(), 400.0 / 350.0);
    assert_eq!(got.completion_time, Some(day(25)));
}

#[test]
fn forecast_completion_follows_the_line_towards_the_target() {
    let rising = series(1, (1..=10).map(f64::from));
    let flat = series(1, [7.0; 10]);
    let completion = |daily: &[DailyValue], target| {
        let got = forecast(daily, period(0, 30), day(10), target, |_| None).unwrap();
        got.completion_time
    };
    let (never, on) = (None, |n| Some(day(n)));
    #[rustfmt::skip]
    let cases = [
        ("ahead on the line",    &rising, aim(12.0, true),   on(12)),
        ("already crossed",      &rising, aim(5.0, true),    on(5)),
        ("heading away",         &rising, aim(12.0, false),  never),
        ("flat",                 &flat,   aim(10.0, true),   never),
        ("no target",            &rising, None,              never),
        ("beyond any timestamp", &rising, aim(1e300, true),  never),
    ];
    for (case, daily, target, want) in cases {
        assert_eq!(completion(daily, target), want, "{case}");
    }
}

#[test]
fn forecast_is_absent_at_the_deadline_or_with_fewer_than_two_values() {
    let daily = series(1, [1.0, 2.0, 3.0]);
    let project = |frame, at| forecast(&daily, frame, at, None, |_| None);
    assert_eq!(project(period(0, 3), day(3)), None);
    assert_eq!(project(period(0, 3), day(4)), None);
    assert_eq!(project(period(0, 9), day(1)), None);
    assert!(project(period(0, 9), day(2)).is_some());
}

#[test]
fn forecast_ignores_values_outside_its_span() {
    let mut daily = series(-5, [1000.0; 5]);
    daily.extend(series(1, [1.0, 2.0, 3.0]));
    daily.extend(series(5, [-1000.0]));
    let got = forecast(&daily, period(0, 10), day(3), None, |_| None).unwrap();
    assert_close(got.projected_value, 10.0);
}

#[test]
fn required_slope_spreads_the_gap_over_the_days_left() {
    assert_eq!(required_slope(40.0, day(0), 100.0, day(30)), Some(2.0));
    assert_eq!(required_slope(50.0, day(0), 40.0, day(5)), Some(-2.0));
    assert_eq!(required_slope(40.0, day(30), 100.0, day(30)), None);
}

#[test]
fn best_trend_picks_the_steepest_window_towards_the_target() {
    let up_then_down = (0..40).map(|n| f64::from(if n < 20 { n } else { 60 - 2 * n }));
    let daily = series(0, up_then_down);
    let (upward, downward) = (best_trend(&daily, true), best_trend(&daily, false));
    let (upward, downward) = (upward.unwrap(), downward.unwrap());
    assert!(upward > 0.0 && upward < 1.0, "{upward}");
    assert!(downward < 0.0 && downward > -2.0, "{downward}");
    let steady = best_trend(&series(0, (0..28).map(f64::from)), true);
    assert_close(steady.unwrap(), 1.0);
}

#[test]
fn best_trend_needs_a_full_run_of_calendar_days() {
    assert_eq!(best_trend(&series(0, [1.0; 27]), true), None);
    assert_eq!(best_trend(&[], false), None);
    let mut gap = series(0, (0..27).map(f64::from));
    gap.extend(series(28, [0.0; 32]));
    let after_the_gap = best_trend(&gap, true);
    assert_eq!(
        after_the_gap,
        Some(0.0),
        "only the run after the gap counts"
    );
    let mut repeat = series(0, (0..14).map(f64::from));
    repeat.extend(series(13, (13..27).map(f64::from)));
    let repeated = best_trend(&repeat, true);
    assert_eq!(repeated, None, "a repeated day breaks the run");
}

#[test]
fn achievability_compares_slopes_in_the_target_direction() {
    use Achievability::{Likely, Stretch, Unknown, Unlikely};
    // required, best, toward increase → verdict
    #[rustfmt::skip]
    let cases = [
        ("no required slope",                   None,       Some(1.0),  true,  Unknown),
        ("no history",                          Some(1.0),  None,       true,  Unknown),
        ("the target is already met",           Some(-1.0), Some(-5.0), true,  Likely),
        ("history never moved towards it",      Some(1.0),  Some(0.0),  true,  Unlikely),
        ("within the best trend",               Some(1.0),  Some(1.0),  true,  Likely),
        ("three times the best trend",          Some(3.0),  Some(1.0),  true,  Stretch),
        ("beyond three times",                  Some(3.1),  Some(1.0),  true,  Unlikely),
        ("a decrease within the best trend",    Some(-0.5), Some(-1.0), false, Likely),
        ("a decrease at twice the best",        Some(-2.0), Some(-1.0), false, Stretch),
        ("a decrease with only rising history", Some(-2.0), Some(1.0),  false, Unlikely),
    ];
    for (case, required, best, toward_increase, want) in cases {
        assert_eq!(
            achievability(required, best, toward_increase),
            want,
            "{case}"
        );
    }
}

#[test]
fn direction_towards_the_target_follows_mode_then_baseline_then_better() {
    use Better::{Higher, Lower};
    use TargetMode::{AtLeast, AtMost, Reach};
    #[rustfmt::skip]
    let cases = [
        ("at least aims up",               AtLeast, Lower,  Some(9.0),  1.0,  true),
        ("at most aims down",              AtMost,  Higher, Some(0.0),  1.0,  false),
        ("reach a lower target",           Reach,   Higher, Some(50.0), 40.0, false),
        ("reach a higher target",          Reach,   Lower,  Some(0.0),  40.0, true),
        ("a flat target aims at better",   Reach,   Lower,  Some(40.0), 40.0, false),
        ("no baseline aims at better",     Reach,   Higher, None,       40.0, true),
    ];
    for (case, mode, better, baseline, target, want) in cases {
        let got = increase_moves_toward_target(mode, better, baseline, target);
        assert_eq!(got, want, "{case}");
    }
}

proptest! {
    #[test]
    fn least_squares_recovers_an_exact_line(
        slope in -1e4..1e4f64, intercept in -1e6..1e6f64,
        xs in prop::collection::btree_set(-400i32..400, 2..40)
    ) {
        let points: Vec<_> = xs.iter().map(|x| f64::from(*x)).map(|x| (x, intercept + slope * x)).collect();
        let line = least_squares(&points).unwrap();
        let scale = 1.0 + slope.abs() * 400.0 + intercept.abs();
        prop_assert!((line.slope - slope).abs() < 1e-9 * scale);
        prop_assert!((line.intercept - intercept).abs() < 1e-9 * scale);
    }

    #[test]
    fn sliding_trend_slopes_match_a_fresh_fit_of_each_window(
        values in prop::collection::vec(-1e6..1e6f64, 28..90), level in -1e9..1e9f64
    ) {
        let sliding = window_slopes(&series(0, values.iter().map(|value| value + level)));
        prop_assert_eq!(sliding.len(), values.len() - TREND_DAYS + 1);
        for (first, slope) in sliding.iter().enumerate() {
            let window: Vec<_> = (first..first + TREND_DAYS).map(|i| (i as f64, values[i])).collect();
            let fresh = least_squares(&window).unwrap().slope;
            prop_assert!((slope - fresh).abs() < 1e-6, "{} != {}", slope, fresh);
        }
    }
}
