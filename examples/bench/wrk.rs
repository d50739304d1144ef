//! Driving wrk and reading its report.

use std::process::Command;

/// One wrk run.
#[derive(Debug, Clone)]
pub struct Load {
    /// Full URL (the Lua script may change the path).
    pub url: String,
    /// `bench/<script>.lua`
    pub script: &'static str,
    pub connections: u32,
    pub seconds: u64,
    /// `$KEY` of the scripts: the API key.
    pub key: String,
    /// `$THREADS` of the POST script: thread ids, comma separated.
    pub threads: String,
}

/// What a run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs wrk (2 threads) and reads requests/s and the 50th and 99th percentile latencies.
pub fn run(load: &Load) -> anyhow::Result<Measured> {
    let out = Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            &load.connections.to_string(),
            "-d",
            &format!("{}s", load.seconds),
            "--latency",
            "-s",
        ])
        .arg(format!(
            "{}/bench/{}.lua",
            env!("CARGO_MANIFEST_DIR"),
            load.script
        ))
        .arg(&load.url)
        .env("KEY", &load.key)
        .env("THREADS", &load.threads)
        .output()
        .map_err(|e| anyhow::anyhow!("running wrk (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("Non-2xx") || text.contains("Socket errors") {
        anyhow::bail!(
            "wrk failed on {}:\n{text}\n{}",
            load.url,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse(&text).ok_or_else(|| anyhow::anyhow!("unreadable wrk report:\n{text}"))
}

/// Runs several loads at once (one wrk each) and answers their measures in order.
pub fn run_together(loads: &[Load]) -> anyhow::Result<Vec<Measured>> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = loads
            .iter()
            .map(|load| scope.spawn(move || run(load)))
            .collect();
        runs.into_iter()
            .map(|run| {
                run.join()
                    .map_err(|_| anyhow::anyhow!("a wrk thread panicked"))?
            })
            .collect()
    })
}

fn parse(text: &str) -> Option<Measured> {
    let field = |prefix: &str| {
        text.lines().find_map(|line| {
            line.trim()
                .strip_prefix(prefix)
                .map(|rest| rest.trim().to_owned())
        })
    };
    Some(Measured {
        requests_per_second: field("Requests/sec:")?.parse().ok()?,
        p50_ms: milliseconds(&field("50%")?)?,
        p99_ms: milliseconds(&field("99%")?)?,
    })
}

/// `850.00us`, `1.46ms`, `1.02s`, `2.00m` → milliseconds.
fn milliseconds(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        _ => return None,
    };
    Some(number * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_reports_are_read_in_milliseconds() {
        let report = "Running 1s test @ http://127.0.0.1:1/\n  Latency Distribution\n     50%  850.00us\n     75%    1.46ms\n     90%    2.00ms\n     99%    1.02s\n  1000 requests in 1.00s, 1.00MB read\nRequests/sec:   1000.50\n";
        let m = parse(report).unwrap();
        assert_eq!(m.requests_per_second, 1000.5);
        assert!((m.p50_ms - 0.85).abs() < 1e-9);
        assert!((m.p99_ms - 1020.0).abs() < 1e-9);
        assert_eq!(milliseconds("2.00m"), Some(120_000.0));
        assert_eq!(milliseconds("fast"), None);
    }
}
