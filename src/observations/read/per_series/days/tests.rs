use super::*;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// A series' day observed from `first` to `last`, its last value `value`.
fn day(first: &str, last: &str, value: f64) -> SeriesDay {
    SeriesDay {
        series_id: 1,
        day: at(first).date_naive(),
        last_value: value,
        last_observed_at: at(last),
        first_observed_at: at(first),
    }
}

fn days() -> Vec<SeriesDay> {
    vec![
        day("2026-03-01T06:00:00Z", "2026-03-01T18:00:00Z", 1.0),
        day("2026-03-02T06:00:00Z", "2026-03-02T18:00:00Z", 2.0),
        day("2026-03-04T00:00:00Z", "2026-03-04T12:00:00Z", 4.0),
    ]
}

#[test]
fn a_window_of_whole_days_takes_the_newest_day_inside_it() {
    let window = Window::half_open(at("2026-03-01T00:00:00Z"), at("2026-03-04T00:00:00Z"));
    assert_eq!(
        latest_in(&days(), &window, None),
        Latest::Found(2.0, at("2026-03-02T18:00:00Z"))
    );
}

#[test]
fn a_trailing_window_counts_the_observation_at_its_end() {
    // (Mar 3 00:00, Mar 4 00:00]: the observation stamped exactly at the end.
    let window = Window::trailing(at("2026-03-04T00:00:00Z"), TimeDelta::days(1));
    let single = [day("2026-03-04T00:00:00Z", "2026-03-04T00:00:00Z", 4.0)];
    assert_eq!(
        latest_in(&single, &window, None),
        Latest::Found(4.0, at("2026-03-04T00:00:00Z"))
    );
    // A day observed at midnight and later cannot tell the midnight value.
    assert_eq!(latest_in(&days(), &window, None), Latest::Unknown);
}

#[test]
fn a_last_day_observed_only_after_the_end_is_passed_over() {
    let window = Window::half_open(at("2026-03-01T00:00:00Z"), at("2026-03-02T05:00:00Z"));
    assert_eq!(
        latest_in(&days(), &window, None),
        Latest::Found(1.0, at("2026-03-01T18:00:00Z"))
    );
}

#[test]
fn a_last_day_observed_on_both_sides_of_the_end_is_unknown() {
    let window = Window::half_open(at("2026-03-01T00:00:00Z"), at("2026-03-02T12:00:00Z"));
    assert_eq!(latest_in(&days(), &window, None), Latest::Unknown);
}

#[test]
fn a_first_day_counts_only_when_its_last_observation_is_inside() {
    let late_start = Window::half_open(at("2026-03-01T19:00:00Z"), at("2026-03-02T05:00:00Z"));
    assert_eq!(latest_in(&days(), &late_start, None), Latest::Nothing);
    let early_start = Window::half_open(at("2026-03-01T12:00:00Z"), at("2026-03-02T05:00:00Z"));
    assert_eq!(
        latest_in(&days(), &early_start, None),
        Latest::Found(1.0, at("2026-03-01T18:00:00Z"))
    );
}

#[test]
fn no_days_or_an_empty_window_hold_nothing() {
    let window = Window::half_open(at("2026-03-03T00:00:00Z"), at("2026-03-04T00:00:00Z"));
    assert_eq!(latest_in(&days(), &window, None), Latest::Nothing);
    assert_eq!(latest_in(&[], &window, None), Latest::Nothing);
    let empty = Window::half_open(at("2026-03-02T00:00:00Z"), at("2026-03-02T00:00:00Z"));
    assert_eq!(latest_in(&days(), &empty, None), Latest::Nothing);
}

#[test]
fn windows_add_up_each_series_and_list_those_the_days_cannot_tell() {
    let series = SelectedSeries {
        ids: vec![1, 2, 3],
        key_index: vec![0, 0, 1],
    };
    let mut rows = days();
    let mut second = day("2026-03-02T01:00:00Z", "2026-03-02T07:00:00Z", 10.0);
    second.series_id = 2;
    rows.push(second);
    rows.sort_by_key(|day| (day.series_id, day.day));
    let windows = [
        Window::half_open(at("2026-03-01T00:00:00Z"), at("2026-03-03T00:00:00Z")),
        Window::half_open(at("2026-03-01T00:00:00Z"), at("2026-03-02T12:00:00Z")),
        Window::half_open(at("2026-03-05T00:00:00Z"), at("2026-03-06T00:00:00Z")),
    ];
    let no_cuts = CutDays {
        ends: &[],
        rows: &FxHashMap::default(),
    };
    let (found, unknown) = resolve(&series, &rows, &no_cuts, &windows);
    assert_eq!(unknown, vec![1]);
    assert_eq!(found.len(), 1);
    let row = &found[0];
    assert_eq!((row.window, row.key_index), (0, 0));
    assert_eq!((row.value_sum, row.value_count), (12.0, 2));
    assert_eq!(
        (row.value_min, row.value_max, row.last_sum),
        (2.0, 10.0, 12.0)
    );
    assert_eq!(row.last_observed_at, Some(at("2026-03-02T18:00:00Z")));
}

#[test]
fn the_span_covers_every_window_and_skips_empty_ones() {
    let windows = [
        Window::half_open(at("2026-03-02T12:00:00Z"), at("2026-03-02T12:00:00Z")),
        Window::trailing(at("2026-03-04T00:00:00Z"), TimeDelta::days(2)),
        Window::half_open(at("2026-03-03T00:00:00Z"), at("2026-03-05T00:00:00Z")),
    ];
    assert_eq!(
        day_span(&windows),
        Some((
            at("2026-03-02T00:00:00Z").date_naive(),
            at("2026-03-05T00:00:00Z").date_naive()
        ))
    );
    assert_eq!(day_span(&windows[..1]), None);
}

#[test]
fn a_window_ending_inside_a_day_takes_that_day_as_read_up_to_its_end() {
    let window = Window::half_open(at("2026-03-01T00:00:00Z"), at("2026-03-02T12:00:00Z"));
    let part = SeriesDay {
        series_id: 1,
        day: at("2026-03-02T00:00:00Z").date_naive(),
        last_value: 1.5,
        last_observed_at: at("2026-03-02T06:00:00Z"),
        first_observed_at: at("2026-03-02T06:00:00Z"),
    };
    assert_eq!(
        latest_in(&days(), &window, Some(Some(&part))),
        Latest::Found(1.5, at("2026-03-02T06:00:00Z"))
    );
    // Nothing on the cut day before the end: the day before counts.
    assert_eq!(
        latest_in(&days(), &window, Some(None)),
        Latest::Found(1.0, at("2026-03-01T18:00:00Z"))
    );
}

#[test]
fn only_windows_ending_inside_a_day_are_cut() {
    let windows = [
        Window::half_open(at("2026-03-01T00:00:00Z"), at("2026-03-02T00:00:00Z")),
        Window::trailing(at("2026-03-04T00:00:00Z"), TimeDelta::days(2)),
        Window::trailing(at("2026-03-04T09:30:00Z"), TimeDelta::days(2)),
        Window::closed(at("2026-03-01T00:00:00Z"), at("2026-03-04T09:30:00Z")),
    ];
    assert_eq!(cut_ends(&windows), vec![at("2026-03-04T09:30:00.000001Z")]);
}
