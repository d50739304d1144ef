//! Scale-out: one server process, then two, over the same database. The same total load
//! (thread messages, then sends; wrk's connections split between the processes) gives the
//! combined throughput, and a burst of webhook events drained by the processes' workers shows
//! them sharing one queue (a receiver that takes 20 ms, as a remote PMS would, so that the
//! worker's per-webhook limit and not this machine's CPU bounds one process). Prints a table
//! and writes `target/bench/scale-out.json`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use crate::data::Dataset;
use crate::servers::{Receiver, ServerProcess};
use crate::wrk::{self, Measured};
use crate::{CONNECTIONS, Settings, pool_size};

/// How long the receiver takes to answer.
const RECEIVER_DELAY: Duration = Duration::from_millis(20);
/// Events of each burst.
const EVENTS: i64 = 2_000;

/// What one set-up measured.
struct Figures {
    reads: Measured,
    sends: Measured,
    deliveries_per_second: f64,
    duplicates: u64,
}

pub async fn run(
    database_url: &str,
    data: &Dataset,
    settings: Settings,
    dir: &Path,
) -> anyhow::Result<()> {
    let (receiver, addr) = Receiver::start(RECEIVER_DELAY).await?;
    let webhook = Uuid::new_v4();
    sqlx::query(
        r#"insert into webhooks (id, user_id, callback_url, event_mask, event_names, is_active,
             send_data, is_global)
           values ($1, $2, $3, '*', '{*}', true, true, true)"#,
    )
    .bind(webhook)
    .bind(data.user)
    .bind(format!("http://{addr}/hook"))
    .execute(&data.pool)
    .await?;

    let first = ServerProcess::start(database_url).await?;
    eprintln!("one process…");
    let one = figures(&[&first], data, &receiver, settings.seconds).await;
    let second = match &one {
        Ok(_) => Some(ServerProcess::start(database_url).await?),
        Err(_) => None,
    };
    eprintln!("two processes…");
    let two = match &second {
        Some(second) => figures(&[&first, second], data, &receiver, settings.seconds).await,
        None => Err(anyhow::anyhow!("not run")),
    };
    sqlx::query("delete from webhooks where id = $1")
        .bind(webhook)
        .execute(&data.pool)
        .await?;
    first.stop().await;
    if let Some(second) = second {
        second.stop().await;
    }
    let (one, two) = (one?, two?);

    println!(
        "Scale-out: server pool {} connections per process, wrk {CONNECTIONS} connections in all, {} s per run; webhook receiver answering in {} ms, bursts of {EVENTS} events.\n",
        pool_size(),
        settings.seconds,
        RECEIVER_DELAY.as_millis()
    );
    println!("| | one process | two processes | two / one |");
    println!("|---|---:|---:|---:|");
    let line = |what: &str, a: f64, b: f64, unit: &str| {
        let ratio = if a > 0.0 { b / a } else { 0.0 };
        println!("| {what} | {a:.0}{unit} | {b:.0}{unit} | {ratio:.2} |");
    };
    line(
        "GET …/messages, requests/s",
        one.reads.requests_per_second,
        two.reads.requests_per_second,
        "",
    );
    line(
        "POST …/messages, requests/s",
        one.sends.requests_per_second,
        two.sends.requests_per_second,
        "",
    );
    line(
        "webhook deliveries/s",
        one.deliveries_per_second,
        two.deliveries_per_second,
        "",
    );
    println!(
        "| GET p99 | {:.2} ms | {:.2} ms | |\n| POST p99 | {:.2} ms | {:.2} ms | |\n| deliveries made twice | {} | {} | |",
        one.reads.p99_ms,
        two.reads.p99_ms,
        one.sends.p99_ms,
        two.sends.p99_ms,
        one.duplicates,
        two.duplicates
    );
    let json = |f: &Figures| {
        json!({
            "thread_messages_requests_per_second": f.reads.requests_per_second,
            "thread_messages_p99_ms": f.reads.p99_ms,
            "send_requests_per_second": f.sends.requests_per_second,
            "send_p99_ms": f.sends.p99_ms,
            "webhook_deliveries_per_second": f.deliveries_per_second,
            "webhook_duplicates": f.duplicates,
        })
    };
    let path = dir.join("scale-out.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({
            "one_process": json(&one),
            "two_processes": json(&two),
        }))?,
    )?;
    eprintln!("results: {}", path.display());
    Ok(())
}

/// Reads and sends spread over `servers`, then a burst of webhook events.
async fn figures(
    servers: &[&ServerProcess],
    data: &Dataset,
    receiver: &Receiver,
    seconds: u64,
) -> anyhow::Result<Figures> {
    let connections = CONNECTIONS / servers.len() as u32;
    let loads = |path: String, script: &'static str| -> Vec<wrk::Load> {
        servers
            .iter()
            .map(|server| wrk::Load {
                url: format!("{}{path}", server.url),
                script,
                connections,
                seconds,
                key: data.key.clone(),
                threads: data.post_targets(),
            })
            .collect()
    };
    let reads = together(loads(
        format!("/api/v1/message_threads/{}/messages", data.thread),
        "get",
    ))
    .await?;
    let sends = together(loads(String::new(), "post")).await?;
    let (deliveries_per_second, duplicates) = drain(data, receiver).await?;
    Ok(Figures {
        reads,
        sends,
        deliveries_per_second,
        duplicates,
    })
}

/// Runs the loads at once: requests/s summed, latencies the worst of the processes.
async fn together(loads: Vec<wrk::Load>) -> anyhow::Result<Measured> {
    let measured = tokio::task::spawn_blocking(move || wrk::run_together(&loads)).await??;
    Ok(measured
        .iter()
        .fold(Measured::default(), |sum, m| Measured {
            requests_per_second: sum.requests_per_second + m.requests_per_second,
            p50_ms: sum.p50_ms.max(m.p50_ms),
            p99_ms: sum.p99_ms.max(m.p99_ms),
        }))
}

/// Writes [`EVENTS`] events in one transaction and waits until every delivery has arrived:
/// deliveries per second from the commit, and how many arrived more than once.
async fn drain(data: &Dataset, receiver: &Receiver) -> anyhow::Result<(f64, u64)> {
    let (requests_before, deliveries_before) = receiver.counts();
    let started = Instant::now();
    sqlx::query(
        r#"insert into events (id, event, property_id, user_id, payload)
           select gen_random_uuid(), 'message', $1, $2,
             jsonb_build_object('message', 'Burst message ' || g, 'sender', 'guest')
           from generate_series(1, $3) g"#,
    )
    .bind(data.property)
    .bind(data.user)
    .bind(EVENTS)
    .execute(&data.pool)
    .await?;
    loop {
        let (_, deliveries) = receiver.counts();
        if (deliveries - deliveries_before) as i64 >= EVENTS {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("the burst was not delivered within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Late repeats would show here: give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (requests, deliveries) = receiver.counts();
    let duplicates = (requests - requests_before) - (deliveries - deliveries_before) as u64;
    Ok((EVENTS as f64 / elapsed, duplicates))
}
