//! The scenarios, their targets, the printed table and `results.json`.

use std::path::Path;

use serde_json::{Value, json};

use crate::wrk::Measured;

pub const REFERENCE_QUERY: &str = "reference: one indexed query";
pub const REFERENCE_INSERT: &str = "reference: insert one row and commit";
pub const LIST_PAGE_1: &str = "GET /api/v1/message_threads page 1";
pub const LIST_PAGE_5000: &str = "GET /api/v1/message_threads page 5,000";
pub const THREAD_MESSAGES: &str = "GET /api/v1/message_threads/{id}/messages";
pub const BOOKING_MESSAGES: &str = "GET /api/v1/bookings/{id}/messages";
pub const PROPERTY: &str = "GET /api/v1/properties/{id}";
pub const SEND: &str = "POST /api/v1/message_threads/{id}/messages";
/// Suffix of the scenarios run again on the small data set.
pub const SMALL: &str = " (10k messages)";

/// Growth target: p50 with 1M messages at most this times p50 with 10k.
pub const GROWTH_MAX: f64 = 1.2;
/// Reads: p99 at most this times the query reference's p99.
pub const P99_MAX: f64 = 2.0;

/// Which reference a scenario is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    /// The one-query reference (reads).
    Query,
    /// The insert reference (writes).
    Insert,
}

/// A scenario as reported.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub method: &'static str,
    pub path: String,
    pub against: Against,
    /// Least ratio of requests/s to the reference (none for the references themselves and the
    /// growth runs).
    pub min_ratio: Option<f64>,
    pub measured: Measured,
}

impl Row {
    fn is_reference(&self) -> bool {
        self.name == REFERENCE_QUERY || self.name == REFERENCE_INSERT
    }
}

/// Every row, compared with the references of the same run.
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    fn find(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    fn reference(&self, against: Against) -> Option<&Measured> {
        let name = match against {
            Against::Query => REFERENCE_QUERY,
            Against::Insert => REFERENCE_INSERT,
        };
        self.find(name).map(|r| &r.measured)
    }

    fn ratio(&self, row: &Row) -> f64 {
        match self.reference(row.against) {
            Some(r) if r.requests_per_second > 0.0 => {
                row.measured.requests_per_second / r.requests_per_second
            }
            _ => 0.0,
        }
    }

    /// The target of a row, and whether it is met.
    fn target(&self, row: &Row) -> Option<(String, bool)> {
        let min_ratio = row.min_ratio?;
        let ratio = self.ratio(row);
        let mut text = format!("≥ {min_ratio}×");
        let mut met = ratio >= min_ratio;
        if row.against == Against::Query
            && let Some(reference) = self.reference(Against::Query)
        {
            let bound = P99_MAX * reference.p99_ms;
            text.push_str(&format!(", p99 ≤ {bound:.2} ms"));
            met &= row.measured.p99_ms <= bound;
        }
        Some((text, met))
    }

    /// p50 with 1M messages over p50 with 10k, for a scenario run on both.
    fn growth(&self, name: &str) -> Option<f64> {
        let large = self.find(name)?;
        let small = self.find(&format!("{name}{SMALL}"))?;
        (small.measured.p50_ms > 0.0).then(|| large.measured.p50_ms / small.measured.p50_ms)
    }

    /// The Markdown table, the growth lines and a verdict.
    pub fn print(&self) {
        println!("| scenario | requests/s | p50 | p99 | ratio | target | met |");
        println!("|---|---:|---:|---:|---:|---|---|");
        for row in &self.rows {
            let (target, met) = match self.target(row) {
                Some((text, met)) => (text, if met { "yes" } else { "**no**" }),
                None if row.is_reference() => ("reference".to_owned(), ""),
                None => ("—".to_owned(), ""),
            };
            println!(
                "| {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} | {target} | {met} |",
                row.name,
                row.measured.requests_per_second,
                row.measured.p50_ms,
                row.measured.p99_ms,
                self.ratio(row),
            );
        }
        println!();
        for name in [LIST_PAGE_1, THREAD_MESSAGES] {
            match self.growth(name) {
                Some(g) => println!(
                    "growth, {name}: p50 with 1M messages / with 10k = {g:.2} (target ≤ {GROWTH_MAX}: {})",
                    if g <= GROWTH_MAX { "met" } else { "not met" }
                ),
                None => println!("growth, {name}: not measured"),
            }
        }
        let missed: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| self.target(r).is_some_and(|(_, met)| !met))
            .map(|r| r.name.as_str())
            .collect();
        let growth_missed = [LIST_PAGE_1, THREAD_MESSAGES]
            .iter()
            .any(|n| self.growth(n).is_none_or(|g| g > GROWTH_MAX));
        println!();
        if missed.is_empty() && !growth_missed {
            println!("every target met");
        } else {
            println!(
                "targets missed: {}{}",
                missed.join(", "),
                if growth_missed { " (and growth)" } else { "" }
            );
        }
    }

    /// `results.json`: every scenario's figures and the growth ratios.
    pub fn json(&self) -> Value {
        let scenarios: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                json!({
                    "name": row.name,
                    "method": row.method,
                    "path": row.path,
                    "requests_per_second": round(row.measured.requests_per_second, 1),
                    "p50_ms": round(row.measured.p50_ms, 3),
                    "p99_ms": round(row.measured.p99_ms, 3),
                    "ratio_to_reference": round(self.ratio(row), 3),
                })
            })
            .collect();
        json!({
            "scenarios": scenarios,
            "growth": {
                "list_threads_p50_ratio": self.growth(LIST_PAGE_1).map(|g| round(g, 3)),
                "thread_messages_p50_ratio": self.growth(THREAD_MESSAGES).map(|g| round(g, 3)),
            },
        })
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join("results.json");
        std::fs::write(&path, serde_json::to_string_pretty(&self.json())?)?;
        eprintln!("results: {}", path.display());
        Ok(())
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let factor = 10f64.powi(digits);
    (value * factor).round() / factor
}
