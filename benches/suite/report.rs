//! The Markdown report (`docs/BENCHMARKS.md`): machine, command, then one table per area where
//! each figure sits next to its same-run baseline and the ratio between them.

use crate::measure::Measurement;
use std::fmt::Write as _;

/// A report being written, section by section.
#[derive(Default)]
pub struct Report {
    text: String,
}

/// One compared figure: what, the API's value, the baseline's, and the goal.
pub struct Row<'a> {
    /// What is measured.
    pub what: &'a str,
    /// MapaGov's figure.
    pub value: f64,
    /// The baseline's figure.
    pub baseline: f64,
    /// Unit of both figures.
    pub unit: &'a str,
    /// The goal, in words, and whether it is met (`None`: no goal).
    pub goal: Option<(String, bool)>,
}

impl Report {
    /// Appends raw Markdown.
    pub fn push(&mut self, markdown: &str) {
        self.text.push_str(markdown);
        self.text.push('\n');
    }

    /// Appends a heading and a table of compared figures.
    pub fn table(&mut self, heading: &str, baseline: &str, rows: &[Row<'_>]) {
        let _ = writeln!(self.text, "\n## {heading}\n");
        let _ = writeln!(
            self.text,
            "| measurement | MapaGov | {baseline} | ratio | goal |\n|---|---:|---:|---:|---|"
        );
        for row in rows {
            let ratio = if row.baseline > 0.0 {
                format!("{:.2}", row.value / row.baseline)
            } else {
                "–".into()
            };
            let goal = match &row.goal {
                Some((text, true)) => format!("{text}: **met**"),
                Some((text, false)) => format!("{text}: **missed**"),
                None => String::new(),
            };
            let _ = writeln!(
                self.text,
                "| {} | {} {} | {} {} | {ratio} | {goal} |",
                row.what,
                fmt(row.value),
                row.unit,
                fmt(row.baseline),
                row.unit
            );
        }
    }

    /// The rows for a throughput comparison: rate, p50, p99.
    pub fn rate_rows<'a>(
        what: &'a str,
        api: &Measurement,
        base: &Measurement,
        min_ratio: f64,
    ) -> Vec<Row<'a>> {
        vec![
            Row {
                what,
                value: api.rate,
                baseline: base.rate,
                unit: "/s",
                goal: Some((
                    format!("≥ {min_ratio:.2} × baseline"),
                    api.rate >= min_ratio * base.rate,
                )),
            },
            Row {
                what: "  p50 latency",
                value: api.p50_ms,
                baseline: base.p50_ms,
                unit: "ms",
                goal: None,
            },
            Row {
                what: "  p99 latency",
                value: api.p99_ms,
                baseline: base.p99_ms,
                unit: "ms",
                goal: None,
            },
        ]
    }

    /// The finished document.
    pub fn into_text(self) -> String {
        self.text
    }
}

/// A number with precision that suits its size.
pub fn fmt(value: f64) -> String {
    if value >= 1000.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}
