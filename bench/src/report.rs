//! Latency percentiles from a sorted sample (exact, nearest rank: a run holds at most a few
//! million samples, so no histogram is needed).

use std::time::Duration;

use serde::Serialize;

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    /// None for an empty sample.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let n = samples.len();
        let at = |q: f64| ms(samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1]);
        let total: Duration = samples.iter().sum();
        Some(Self {
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: ms(samples[n - 1]),
            mean_ms: ms(total / n as u32),
        })
    }
}

/// Milliseconds, to a tenth of a microsecond.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=1000).rev().map(Duration::from_micros).collect();
        let l = Latency::of(samples).unwrap();
        assert_eq!(l.p50_ms, 0.5);
        assert_eq!(l.p90_ms, 0.9);
        assert_eq!(l.p99_ms, 0.99);
        assert_eq!(l.p999_ms, 0.999);
        assert_eq!(l.max_ms, 1.0);
        assert_eq!(l.mean_ms, 0.5005);
        assert_eq!(Latency::of(vec![]), None);
        assert_eq!(
            Latency::of(vec![Duration::from_millis(3)]).unwrap().p50_ms,
            3.0
        );
    }
}
