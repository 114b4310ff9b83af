//! Latency percentiles from every single operation's latency (no sampling, no histogram buckets).

use serde::Serialize;

/// Summary of one measured run. Latencies are in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub ops: usize,
    pub ops_per_sec: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// `latencies_us` in microseconds, `seconds` the measured wall time.
pub fn summarize(mut latencies_us: Vec<u64>, seconds: f64) -> Summary {
    latencies_us.sort_unstable();
    let ops = latencies_us.len();
    let ms = |us: u64| round3(us as f64 / 1000.0);
    let mean_ms = if ops == 0 {
        0.0
    } else {
        round3(latencies_us.iter().map(|&us| us as f64).sum::<f64>() / ops as f64 / 1000.0)
    };
    Summary {
        ops,
        ops_per_sec: if seconds > 0.0 {
            round1(ops as f64 / seconds)
        } else {
            0.0
        },
        mean_ms,
        p50_ms: ms(percentile(&latencies_us, 0.50)),
        p99_ms: ms(percentile(&latencies_us, 0.99)),
        p999_ms: ms(percentile(&latencies_us, 0.999)),
        max_ms: ms(latencies_us.last().copied().unwrap_or(0)),
    }
}

/// Nearest-rank percentile of sorted data: the smallest value with at least `q` of the data at or
/// below it.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let data: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&data, 0.50), 500);
        assert_eq!(percentile(&data, 0.99), 990);
        assert_eq!(percentile(&data, 0.999), 999);
        assert_eq!(percentile(&data, 1.0), 1000);
        assert_eq!(percentile(&[7], 0.5), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn summary_in_milliseconds() {
        let summary = summarize(vec![3000, 1000, 2000, 4000], 2.0);
        assert_eq!(summary.ops, 4);
        assert_eq!(summary.ops_per_sec, 2.0);
        assert_eq!(summary.p50_ms, 2.0);
        assert_eq!(summary.max_ms, 4.0);
        assert_eq!(summary.mean_ms, 2.5);
    }
}
