//! What the benchmarks print: latency percentiles, rates, and verdicts
//! against goals.

use std::time::Duration;

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
