//! `/metrics` read with a real Prometheus text-format parser.

use prometheus_parse::{Sample, Scrape, Value};
use std::io::BufRead;

/// Fetches `/metrics` from `base` and parses it.
pub async fn scrape(http: &reqwest::Client, base: &str) -> Vec<Sample> {
    let resp = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = resp.text().await.expect("metrics body");
    Scrape::parse(std::io::Cursor::new(text).lines())
        .expect("valid Prometheus text format")
        .samples
}

/// The value of the sample `metric` whose labels include `labels` (0 when there is none: a
/// counter that never moved has no series); for a histogram, its count.
pub fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert!(
        matching.len() <= 1,
        "{metric} {labels:?} matches several series: {matching:?}"
    );
    matching.first().map_or(0.0, |s| match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(buckets) => buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .map_or(0.0, |b| b.count),
        Value::Summary(_) => panic!("{metric} is a summary"),
    })
}

/// The distinct values of `label` among the samples of `metric`.
pub fn label_values(samples: &[Sample], metric: &str, label: &str) -> Vec<String> {
    let mut values: Vec<String> = samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter_map(|s| s.labels.get(label).map(str::to_owned))
        .collect();
    values.sort();
    values.dedup();
    values
}

/// How many observations of the histogram `metric` (with `labels`) took at most `seconds`.
pub fn at_most(samples: &[Sample], metric: &str, labels: &[(&str, &str)], seconds: f64) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .find_map(|s| match &s.value {
            Value::Histogram(buckets) => buckets
                .iter()
                .filter(|b| b.less_than >= seconds)
                .map(|b| b.count)
                .reduce(f64::min),
            _ => None,
        })
        .unwrap_or(0.0)
}
