//! What one measured run produced — a rate and latency percentiles — for the API load generator
//! and for pgbench alike, so the report can put them side by side.

use hdrhistogram::Histogram;
use std::time::Duration;

/// Result of one fixed-duration run.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Completed operations in the measured window.
    pub count: u64,
    /// Operations per second.
    pub rate: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
}

/// A histogram of latencies in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants known to be valid, so this cannot fail.
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|e| panic!("histogram: {e}"))
}

/// Records one latency (saturating at the histogram's bound).
pub fn record(hist: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    hist.saturating_record(micros.max(1));
}

impl Measurement {
    /// Summarises a histogram collected over `window`.
    pub fn from_histogram(hist: &Histogram<u64>, window: Duration) -> Measurement {
        let count = hist.len();
        Measurement {
            count,
            rate: count as f64 / window.as_secs_f64().max(1e-9),
            p50_ms: hist.value_at_quantile(0.50) as f64 / 1000.0,
            p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
        }
    }
}
