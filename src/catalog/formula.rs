//! How a metric's value over a window is defined (DESIGN §1): a base
//! metric's aggregation, and a derived metric's formula over aggregated
//! values, evaluated as a pure function.

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
