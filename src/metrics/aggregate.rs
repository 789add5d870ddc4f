//! The exact aggregation rules of DESIGN §1, as pure functions: merging
//! partial aggregates of a series, aggregating a base metric across series,
//! and evaluating a derived metric's formula.

use chrono::{DateTime, Utc};

/// What is known of one series' observations in part of a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Partial {
    /// The sum of the values.
    pub sum: f64,
    /// How many values.
    pub count: i64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The value observed last.
    pub last_value: f64,
    /// When it was observed.
    pub last_at: DateTime<Utc>,
}

impl Partial {
    /// The aggregate of both parts.
    pub fn merge(self, other: Partial) -> Partial {
        let (last_value, last_at) = if other.last_at > self.last_at {
            (other.last_value, other.last_at)
        } else {
            (self.last_value, self.last_at)
        };
        Partial {
            sum: self.sum + other.sum,
            count: self.count + other.count,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            last_value,
            last_at,
        }
    }
}

/// How a base metric's observations combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Every observation added up.
    Sum,
    /// Each series' latest observation, added up across series.
    Last,
    /// The mean of every observation.
    Avg,
    /// The smallest observation.
    Min,
    /// The largest observation.
    Max,
}

/// What a bucket holds of a base metric across every selected series:
/// enough to give its value under any aggregation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Combined {
    /// The sum of every value.
    pub sum: f64,
    /// How many values; positive.
    pub count: i64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// Each series' latest value, added up across series.
    pub last_sum: f64,
}

impl Combined {
    /// Combines the partials of a bucket, one per series (already merged);
    /// `None` when no series has an observation: no data, not zero.
    pub fn of<'a>(series: impl IntoIterator<Item = &'a Partial>) -> Option<Combined> {
        series
            .into_iter()
            .filter(|partial| partial.count > 0)
            .map(|p| Combined {
                sum: p.sum,
                count: p.count,
                min: p.min,
                max: p.max,
                last_sum: p.last_value,
            })
            .reduce(|a, b| Combined {
                sum: a.sum + b.sum,
                count: a.count + b.count,
                min: a.min.min(b.min),
                max: a.max.max(b.max),
                last_sum: a.last_sum + b.last_sum,
            })
    }

    /// The base metric's value under `aggregation`.
    pub fn value(&self, aggregation: Aggregation) -> f64 {
        match aggregation {
            Aggregation::Sum => self.sum,
            Aggregation::Last => self.last_sum,
            Aggregation::Avg => self.sum / self.count as f64,
            Aggregation::Min => self.min,
            Aggregation::Max => self.max,
        }
    }
}

/// A base metric's value over a bucket from its series' partials (one per
/// series, already merged). `None` when no series has an observation.
pub fn aggregate<'a>(
    aggregation: Aggregation,
    series: impl IntoIterator<Item = &'a Partial>,
) -> Option<f64> {
    Combined::of(series).map(|combined| combined.value(aggregation))
}

/// Formula terms: (metric key, coefficient) pairs.
pub type Terms = Vec<(String, f64)>;

/// A derived metric's formula: `scale × Σ numerator / Σ denominator`.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    /// (metric key, coefficient) above the bar.
    pub numerator: Terms,
    /// (metric key, coefficient) below the bar.
    pub denominator: Terms,
    /// The factor applied to the ratio.
    pub scale: f64,
}

impl Formula {
    /// Every metric the formula reads, numerator first, without repeats.
    pub fn terms(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for (key, _) in self.numerator.iter().chain(&self.denominator) {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
        keys
    }

    /// The formula's value given each term's aggregated value (`None` = no
    /// data). A side has no data when none of its terms has; a term without
    /// data beside one with data counts as 0; a zero denominator has no data.
    pub fn evaluate(&self, value_of: impl Fn(&str) -> Option<f64>) -> Option<f64> {
        let side = |terms: &[(String, f64)]| -> Option<f64> {
            let values: Vec<(Option<f64>, f64)> = terms
                .iter()
                .map(|(key, coefficient)| (value_of(key), *coefficient))
                .collect();
            values.iter().any(|(value, _)| value.is_some()).then(|| {
                values
                    .iter()
                    .map(|(value, coefficient)| value.unwrap_or(0.0) * coefficient)
                    .sum()
            })
        };
        let numerator = side(&self.numerator)?;
        let denominator = side(&self.denominator)?;
        (denominator != 0.0).then(|| self.scale * numerator / denominator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn partial(values: &[(f64, &str)]) -> Partial {
        let mut result: Option<Partial> = None;
        for &(value, time) in values {
            let one = Partial {
                sum: value,
                count: 1,
                min: value,
                max: value,
                last_value: value,
                last_at: at(time),
            };
            result = Some(result.map_or(one, |so_far| so_far.merge(one)));
        }
        result.unwrap()
    }

    #[test]
    fn merged_partials_keep_the_latest_value() {
        let merged = partial(&[(5.0, "2026-03-01T10:00:00Z")])
            .merge(partial(&[(3.0, "2026-03-01T09:00:00Z")]));
        assert_eq!(
            (merged.sum, merged.count, merged.min, merged.max),
            (8.0, 2, 3.0, 5.0)
        );
        assert_eq!(merged.last_value, 5.0);
    }

    #[test]
    fn base_aggregations() {
        let a = partial(&[
            (10.0, "2026-03-01T01:00:00Z"),
            (30.0, "2026-03-01T05:00:00Z"),
        ]);
        let b = partial(&[(100.0, "2026-03-01T02:00:00Z")]);
        assert_eq!(aggregate(Aggregation::Sum, [&a, &b]), Some(140.0));
        // LAST: each series' latest (30 and 100), summed across series.
        assert_eq!(aggregate(Aggregation::Last, [&a, &b]), Some(130.0));
        assert_eq!(aggregate(Aggregation::Avg, [&a, &b]), Some(140.0 / 3.0));
        assert_eq!(aggregate(Aggregation::Min, [&a, &b]), Some(10.0));
        assert_eq!(aggregate(Aggregation::Max, [&a, &b]), Some(100.0));
        assert_eq!(aggregate(Aggregation::Sum, []), None, "no data is not zero");
    }

    #[test]
    fn derived_values_are_ratios_of_aggregates() {
        let engagement = Formula {
            numerator: vec![
                ("likes".into(), 1.0),
                ("comments".into(), 1.0),
                ("shares".into(), 1.0),
            ],
            denominator: vec![("followers".into(), 1.0)],
            scale: 100.0,
        };
        let values = |key: &str| match key {
            "likes" => Some(30.0),
            "shares" => Some(10.0),
            "followers" => Some(400.0),
            _ => None,
        };
        // comments has no data but its side does: it counts as 0.
        assert_eq!(engagement.evaluate(values), Some(10.0));
        assert_eq!(
            engagement.evaluate(|key| (key == "likes").then_some(1.0)),
            None,
            "no denominator data"
        );
        assert_eq!(
            engagement.evaluate(|key| (key == "followers").then_some(1.0)),
            None,
            "no numerator data"
        );
        assert_eq!(
            engagement.evaluate(|key| Some(if key == "followers" { 0.0 } else { 1.0 })),
            None,
            "zero denominator"
        );
        let nps = Formula {
            numerator: vec![("promoters".into(), 1.0), ("detractors".into(), -1.0)],
            denominator: vec![("nps_responses".into(), 1.0)],
            scale: 100.0,
        };
        assert_eq!(nps.terms(), ["promoters", "detractors", "nps_responses"]);
        let answers = |key: &str| match key {
            "promoters" => Some(60.0),
            "detractors" => Some(10.0),
            "nps_responses" => Some(100.0),
            _ => None,
        };
        assert_eq!(nps.evaluate(answers), Some(50.0));
    }
}
