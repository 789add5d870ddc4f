//! The rules deciding when the organisation rollups answer a LAST window.

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
            last_sum: 100.0,
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
    let within_a_day = Window::half_open(at("2026-03-01T06:00:00Z"), at("2026-03-01T18:00:00Z"));
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
    let span = |start: &str, end: &str| Span::of(&Window::half_open(at(start), at(end))).unwrap();
    let known = |answer: Answer| match answer {
        Answer::Known(combined) => Some(combined.map(|combined| combined.last_sum)),
        _ => None,
    };
    // Departures on the first day do not matter: those series were
    // observed before the window.
    let answer = span("2026-03-01T00:00:00Z", "2026-03-04T00:00:00Z").answer(&days);
    assert_eq!(known(answer), Some(Some(100.0)));
    // Cut after the last day's newest value: whole.
    let answer = span("2026-03-02T00:00:00Z", "2026-03-03T21:00:00Z").answer(&days);
    assert_eq!(known(answer), Some(Some(100.0)));
    // Cut before its first value: the day before is the last.
    let answer = span("2026-03-02T00:00:00Z", "2026-03-03T00:00:00.000001Z").answer(&days);
    assert_eq!(known(answer), Some(Some(100.0)));
    // Cut between them: the part before the cut is read per series,
    // over the days before.
    match span("2026-03-02T00:00:00Z", "2026-03-03T19:00:00Z").answer(&days) {
        Answer::WithCutPart {
            whole,
            day: cut_day,
            cut,
        } => {
            assert_eq!(
                whole.map(|whole| whole.last_at),
                Some(Some(at("2026-03-02T20:00:00Z")))
            );
            assert_eq!(
                (cut_day, cut),
                (day("2026-03-03"), at("2026-03-03T19:00:00Z"))
            );
        }
        other => panic!("expected a cut part, got {other:?}"),
    }
    // Unless the window has no whole day before the cut day.
    assert_eq!(
        span("2026-03-03T00:00:00Z", "2026-03-03T19:00:00Z").answer(&days),
        Answer::Unknown
    );
    // A departure on the last day: that day is read as a cut part, over
    // the days before.
    let mut departed = days;
    departed.get_mut(&day("2026-03-03")).unwrap().departures = 1;
    match span("2026-03-01T00:00:00Z", "2026-03-04T00:00:00Z").answer(&departed) {
        Answer::WithCutPart {
            day: cut_day, cut, ..
        } => {
            assert_eq!(
                (cut_day, cut),
                (day("2026-03-03"), at("2026-03-04T00:00:00Z"))
            );
        }
        other => panic!("expected the last day apart, got {other:?}"),
    }
    // A departure before the last day.
    let mut departed_before = departed.clone();
    departed_before
        .get_mut(&day("2026-03-02"))
        .unwrap()
        .departures = 1;
    assert_eq!(
        span("2026-03-01T00:00:00Z", "2026-03-04T00:00:00Z").answer(&departed_before),
        Answer::Unknown
    );
    // A day without rows between days with rows.
    departed.remove(&day("2026-03-02"));
    assert_eq!(
        span("2026-03-01T00:00:00Z", "2026-03-04T00:00:00Z").answer(&departed),
        Answer::Unknown
    );
    // Days without rows before the first with rows: the data starts
    // inside the window.
    let starting: BTreeMap<NaiveDate, OrganisationDay> =
        [row("2026-03-02", 0, "2026-03-02T20:00:00Z")]
            .into_iter()
            .collect();
    for start in ["2026-02-20T00:00:00Z", "2026-02-20T06:00:00Z"] {
        let answer = span(start, "2026-03-03T00:00:00Z").answer(&starting);
        assert_eq!(known(answer), Some(Some(100.0)));
    }
    // But a cut first day with rows may hide a series that went quiet.
    assert_eq!(
        span("2026-03-01T12:00:00Z", "2026-03-04T00:00:00Z").answer(&departed),
        Answer::Unknown
    );
    // No rows at all: no data, known without reading a series.
    assert_eq!(
        span("2026-03-05T00:00:00Z", "2026-03-07T00:00:00Z").answer(&departed),
        Answer::Known(None)
    );
    // Unless the window starts within a day with rows.
    assert_eq!(
        span("2026-03-03T12:00:00Z", "2026-03-05T00:00:00Z").answer(&departed),
        Answer::Unknown
    );
}
