//! What the benchmarks print: latency percentiles, rates, and verdicts
//! against goals.

use std::fmt::Write as _;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Result;

/// Calls made before timing a case, so connection set-up, plan caching and
/// a cold buffer cache do not count.
pub const WARMUP_CALLS: u32 = 10;

/// Latency statistics of one case, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// The median.
    pub p50_ms: f64,
    /// The 99th percentile.
    pub p99_ms: f64,
    /// The arithmetic mean.
    pub mean_ms: f64,
}

impl Latency {
    /// Nearest-rank percentiles and the mean of `samples` (sorted in place).
    pub fn of(samples: &mut [Duration]) -> Latency {
        samples.sort_unstable();
        let ms = |duration: Duration| duration.as_secs_f64() * 1_000.0;
        let percentile = |p: f64| {
            let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len().max(1));
            samples.get(rank - 1).copied().map_or(0.0, ms)
        };
        let total: f64 = samples.iter().copied().map(ms).sum();
        Latency {
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            mean_ms: total / samples.len().max(1) as f64,
        }
    }
}

/// Times `call`: `warmups` untimed calls, then `iterations` timed ones.
/// The call gets its index (warm-ups included), so it can vary its request.
pub async fn time_calls(
    warmups: u32,
    iterations: u32,
    mut call: impl AsyncFnMut(u32) -> Result<()>,
) -> Result<Latency> {
    let mut samples = Vec::with_capacity(usize::try_from(iterations).unwrap_or(0));
    for index in 0..warmups + iterations {
        let started = Instant::now();
        call(index).await?;
        if index >= warmups {
            samples.push(started.elapsed());
        }
    }
    Ok(Latency::of(&mut samples))
}

/// The most a case's latency may be to meet its goal; a bound left out is
/// not judged.
#[derive(Debug, Clone, Copy, Default)]
pub struct LatencyGoal {
    /// The most the median may be, in milliseconds.
    pub p50_ms: Option<f64>,
    /// The most the 99th percentile may be, in milliseconds.
    pub p99_ms: Option<f64>,
}

impl LatencyGoal {
    /// A goal on the median alone.
    pub fn p50(ms: f64) -> LatencyGoal {
        LatencyGoal {
            p50_ms: Some(ms),
            p99_ms: None,
        }
    }

    /// A goal on the median and the 99th percentile.
    pub fn p50_p99(p50_ms: f64, p99_ms: f64) -> LatencyGoal {
        LatencyGoal {
            p50_ms: Some(p50_ms),
            p99_ms: Some(p99_ms),
        }
    }

    /// Whether `stats` is within every bound.
    pub fn met_by(&self, stats: &Latency) -> bool {
        self.p50_ms.is_none_or(|bound| stats.p50_ms <= bound)
            && self.p99_ms.is_none_or(|bound| stats.p99_ms <= bound)
    }

    /// The goal as the report states it, such as `goal p50 ≤ 2, p99 ≤ 10`.
    pub fn describe(&self) -> String {
        let mut text = String::from("goal");
        let bounds = [("p50", self.p50_ms), ("p99", self.p99_ms)];
        for (i, (name, bound)) in bounds
            .iter()
            .filter_map(|(name, bound)| bound.map(|bound| (name, bound)))
            .enumerate()
        {
            let separator = if i == 0 { " " } else { ", " };
            let _ = write!(text, "{separator}{name} ≤ {bound}");
        }
        text
    }
}

/// Prints one latency line with its goal and verdict.
pub fn print_latency(label: &str, stats: &Latency, goal: &LatencyGoal) {
    println!(
        "  {label:<48} p50 {:>8.2}  p99 {:>8.2}  mean {:>8.2}  ({}: {})",
        stats.p50_ms,
        stats.p99_ms,
        stats.mean_ms,
        goal.describe(),
        verdict(goal.met_by(stats))
    );
}

/// The first line under a report's title: the machine and the server.
pub fn print_machine(server_version: &str) {
    println!(
        "  machine                  {} cores, PostgreSQL {server_version}",
        std::thread::available_parallelism().map_or(0, |cores| cores.get())
    );
}

/// "met" or "missed", for the goals printed in the report.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

/// Rows per second.
pub fn rate(rows: u64, seconds: f64) -> f64 {
    rows as f64 / seconds.max(f64::MIN_POSITIVE)
}

/// `n` with thin separators every three digits, such as `5,000,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let stats = Latency::of(&mut samples);
        assert_eq!(stats.p50_ms, 50.0);
        assert_eq!(stats.p99_ms, 99.0);
        assert!((stats.mean_ms - 50.5).abs() < 1e-9);
    }

    #[test]
    fn no_samples_give_zeros_not_a_panic() {
        assert_eq!(
            Latency::of(&mut []),
            Latency {
                p50_ms: 0.0,
                p99_ms: 0.0,
                mean_ms: 0.0
            }
        );
    }

    #[test]
    fn goals_judge_only_their_bounds() {
        let stats = Latency {
            p50_ms: 2.0,
            p99_ms: 12.0,
            mean_ms: 3.0,
        };
        assert!(LatencyGoal::p50(2.0).met_by(&stats));
        assert!(!LatencyGoal::p50_p99(2.0, 10.0).met_by(&stats));
        assert_eq!(
            LatencyGoal::p50_p99(2.0, 10.0).describe(),
            "goal p50 ≤ 2, p99 ≤ 10"
        );
    }

    #[test]
    fn thousands_are_separated() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (5_000_000, "5,000,000"),
        ];
        for (n, expected) in cases {
            assert_eq!(thousands(n), expected, "{n}");
        }
    }
}
