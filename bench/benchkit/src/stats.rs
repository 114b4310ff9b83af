//! Latencies summarized from every single operation (no sampling, no histogram buckets), with
//! nearest-rank percentiles; medians over repeated runs.

/// One measured run. Latencies in milliseconds. Each bench names the count in its own output
/// (`ops` for the ledger, `requests` for the webhook intake).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Operations measured.
    pub count: usize,
    /// Operations per second over the measured window.
    pub per_sec: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// `latencies_us` in microseconds; `seconds` the measured window.
pub fn summarize(mut latencies_us: Vec<u64>, seconds: f64) -> Summary {
    latencies_us.sort_unstable();
    let count = latencies_us.len();
    let ms = |us: u64| round3(us as f64 / 1000.0);
    let mean_ms = if count == 0 {
        0.0
    } else {
        round3(latencies_us.iter().map(|&us| us as f64).sum::<f64>() / count as f64 / 1000.0)
    };
    Summary {
        count,
        per_sec: if seconds > 0.0 {
            round1(count as f64 / seconds)
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

/// The median (the mean of the middle two for an even count), rounded to 0.1.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(round1(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }))
}

/// `a / b` to three decimals, or `None` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| round3(a / b))
}

/// Rounded to one decimal.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Rounded to three decimals.
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
        let ten: Vec<u64> = (1..=10).collect();
        // p99.9 of ten values is the largest: no interpolation below it.
        assert_eq!(percentile(&ten, 0.999), 10);
        assert_eq!(percentile(&ten, 0.5), 5);
        assert_eq!(percentile(&[7], 0.5), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn summary_in_milliseconds_over_the_window() {
        let summary = summarize(vec![3000, 1000, 2000, 4000], 2.0);
        assert_eq!(summary.count, 4);
        assert_eq!(summary.per_sec, 2.0);
        assert_eq!(summary.p50_ms, 2.0);
        assert_eq!(summary.p99_ms, 4.0);
        assert_eq!(summary.max_ms, 4.0);
        assert_eq!(summary.mean_ms, 2.5);
        let empty = summarize(Vec::new(), 1.0);
        assert_eq!((empty.count, empty.max_ms, empty.mean_ms), (0, 0.0, 0.0));
        assert_eq!(summarize(vec![1000], 0.0).per_sec, 0.0);
    }

    #[test]
    fn medians_ratios_and_rounding() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(ratio(1.0, 3.0), Some(0.333));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(round3(1.23456), 1.235);
        assert_eq!(round1(1.25), 1.3);
    }
}
