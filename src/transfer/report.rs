//! Plain-text summary tables and progress lines for the long-running commands.

use std::io::IsTerminal;
use std::time::Instant;

/// Renders rows as an aligned text table with a header line.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            if i == 0 {
                out.push_str(&format!("{cell:<width$}"));
            } else {
                out.push_str(&format!("  {cell:>width$}"));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Progress of a long command: rows done and rows per second, on stderr when it is a terminal.
pub struct Progress {
    enabled: bool,
    started: Instant,
    last: Instant,
    rows: u64,
}

impl Progress {
    /// Starts counting; prints only when standard error is a terminal.
    pub fn new() -> Self {
        let now = Instant::now();
        Progress {
            enabled: std::io::stderr().is_terminal(),
            started: now,
            last: now,
            rows: 0,
        }
    }

    /// Adds `rows` done in `table`, printing at most a few times a second.
    pub fn add(&mut self, table: &str, rows: u64) {
        self.rows += rows;
        if !self.enabled || self.last.elapsed().as_millis() < 250 {
            return;
        }
        self.last = Instant::now();
        eprint!(
            "\r{table}: {} rows, {:.0} rows/s   ",
            self.rows,
            self.rate()
        );
    }

    /// Rows per second so far.
    pub fn rate(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 {
            self.rows as f64 / secs
        } else {
            0.0
        }
    }

    /// Ends the progress line.
    pub fn finish(&self) {
        if self.enabled {
            eprintln!(
                "\r{} rows in {:.1} s ({:.0} rows/s)        ",
                self.rows,
                self.started.elapsed().as_secs_f64(),
                self.rate()
            );
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned() {
        let text = render_table(
            &["table", "rows"],
            &[
                vec!["pops".into(), "53".into()],
                vec!["users".into(), "1".into()],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "table  rows");
        assert_eq!(lines[2], "pops     53");
        assert_eq!(lines[3], "users     1");
    }
}
