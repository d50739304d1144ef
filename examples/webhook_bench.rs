//! Webhook delivery benchmark: latency from a guest message's commit to its webhook's arrival
//! at a local receiver, deliveries per second with a fast receiver, and the same under table
//! bloat: while a transaction elsewhere in the database holds back vacuum.
//!
//!     cargo run --release --example webhook_bench
//!
//! Uses DATABASE_URL when set (a scratch database is created and dropped), else a private
//! embedded PostgreSQL cluster in a temporary folder. BENCH_EVENTS (default 1000) sets the
//! number of latency samples, BENCH_BURST (default 5000) the size of the throughput runs;
//! BENCH_CONCURRENCY and BENCH_PER_WEBHOOK override the worker's limits (default 32 and 8);
//! BENCH_HOLD_SECS (default 60) the length of each sustained run of the bloat comparison (0
//! skips it).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use ota_inbox::config::DEFAULT_RETRY_SCHEDULE;
use ota_inbox::db;
use ota_inbox::db::bookings::{Booking, Customer, NewBooking};
use ota_inbox::db::webhooks::WebhookWrite;
use ota_inbox::embedded_pg::{self, EmbeddedPg};
use ota_inbox::messaging::{self, Append, Sender};
use ota_inbox::webhooks::{DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, Worker, WorkerConfig};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgPool};
use tokio::sync::mpsc;
use uuid::Uuid;

/// What the receiver saw: message id → arrival.
type Arrivals = mpsc::UnboundedSender<(Uuid, Instant)>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = env_usize("BENCH_EVENTS", 1000);
    let burst = env_usize("BENCH_BURST", 5000);
    let hold = Duration::from_secs(env_usize("BENCH_HOLD_SECS", 60) as u64);

    let (database, pool) = Database::open().await?;
    let result = run(&pool, events, burst, hold, &database).await;
    pool.close().await;
    database.close().await?;
    result
}

async fn run(
    pool: &PgPool,
    events: usize,
    burst: usize,
    hold: Duration,
    database: &Database,
) -> anyhow::Result<()> {
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let receiver = start_receiver(tx).await?;
    let (_user, property, bookings) = seed(pool, &receiver, 8).await?;
    let mut config = WorkerConfig::new(
        DEFAULT_TIMEOUT,
        vec![Duration::from_secs(60); DEFAULT_RETRY_SCHEDULE.split(',').count()],
        env_usize("BENCH_CONCURRENCY", DEFAULT_CONCURRENCY),
    );
    config.per_webhook = env_usize("BENCH_PER_WEBHOOK", config.per_webhook);
    println!(
        "worker: concurrency {}, {} per webhook; PostgreSQL {}",
        config.concurrency,
        config.per_webhook,
        server_version(pool).await?
    );
    let worker = Worker::spawn(pool.clone(), config.clone())?;

    // Warm up connections on both sides.
    for _ in 0..20 {
        let id = guest_message(pool, &bookings[0]).await?;
        wait_for(&mut arrivals, id).await?;
    }

    // 1. Latency: one message at a time, commit → arrival.
    let mut latencies = Vec::with_capacity(events);
    for _ in 0..events {
        let id = guest_message(pool, &bookings[0]).await?;
        let committed = Instant::now();
        let arrived = wait_for(&mut arrivals, id).await?;
        latencies.push(arrived.saturating_duration_since(committed));
    }
    latencies.sort_unstable();
    println!("\nlatency, commit to arrival, {events} events one at a time (property {property}):");
    for (name, q) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)] {
        println!("  {name}: {:>8.2} ms", ms(percentile(&latencies, q)));
    }
    println!(
        "  max: {:>8.2} ms",
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );

    // 2. Throughput while 8 writers commit as fast as they can.
    let started = Instant::now();
    let mut writers = Vec::new();
    for (i, booking) in bookings.iter().enumerate() {
        let (pool, booking) = (pool.clone(), booking.clone());
        let count = burst / bookings.len() + usize::from(i < burst % bookings.len());
        writers.push(tokio::spawn(async move {
            for _ in 0..count {
                guest_message(&pool, &booking).await?;
            }
            anyhow::Ok(())
        }));
    }
    for writer in writers {
        writer.await??;
    }
    let written = started.elapsed();
    drain(&mut arrivals, burst).await?;
    let elapsed = started.elapsed();
    println!(
        "\nlive: {burst} events written by {} writers in {:.2} s ({:.0}/s), all delivered after {:.2} s: {:.0} deliveries/s",
        bookings.len(),
        written.as_secs_f64(),
        burst as f64 / written.as_secs_f64(),
        elapsed.as_secs_f64(),
        burst as f64 / elapsed.as_secs_f64()
    );

    // 3. A backlog: events written while no worker runs, then one worker drains them.
    worker.shutdown().await;
    for i in 0..burst {
        guest_message(pool, &bookings[i % bookings.len()]).await?;
    }
    let started = Instant::now();
    let worker = Worker::spawn(pool.clone(), config.clone())?;
    drain(&mut arrivals, burst).await?;
    let elapsed = started.elapsed();
    println!(
        "backlog: {burst} waiting events delivered in {:.2} s: {:.0} deliveries/s",
        elapsed.as_secs_f64(),
        burst as f64 / elapsed.as_secs_f64()
    );
    worker.shutdown().await;

    // 4. Bloat: the same sustained load, without and then with a transaction held open
    // elsewhere in the database, which keeps vacuum (and index cleanup) from removing the
    // queue's dead rows.
    if !hold.is_zero() {
        let mut results = Vec::new();
        for held in [false, true] {
            sqlx::query("vacuum webhook_deliveries, webhook_attempts, events")
                .execute(pool)
                .await?;
            let blocker = match held {
                true => Some(database.hold_back_vacuum().await?),
                false => None,
            };
            let run = sustained(pool, &config, &bookings, &mut arrivals, hold, burst).await?;
            if let Some(mut blocker) = blocker {
                sqlx::query("commit").execute(&mut blocker).await?;
            }
            println!(
                "\n{} a transaction held open for {} s:",
                if held { "with" } else { "without" },
                hold.as_secs()
            );
            println!(
                "  live: {} events by {} writers, {:.0} deliveries/s (all arrived {:.2} s after the writers stopped)",
                run.live_events,
                bookings.len(),
                run.live_rate,
                run.live_tail.as_secs_f64()
            );
            println!(
                "  then a backlog of {burst}: {:.0} deliveries/s; queue: {} dead rows, due index {} kB",
                run.backlog_rate, run.dead_rows, run.due_index_kb
            );
            results.push(run);
        }
        if let [without, with] = &results[..] {
            println!(
                "\nheld / not held: live {:.2}, backlog {:.2}",
                with.live_rate / without.live_rate,
                with.backlog_rate / without.backlog_rate
            );
        }
    }

    let failed: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries where state <> 'delivered'")
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(failed == 0, "{failed} deliveries did not succeed");
    Ok(())
}

/// What one sustained run measured.
struct Sustained {
    live_events: usize,
    /// Deliveries per second from the first write until the last arrival.
    live_rate: f64,
    /// How long after the writers stopped the last delivery arrived.
    live_tail: Duration,
    /// Deliveries per second of a backlog written afterwards.
    backlog_rate: f64,
    dead_rows: i64,
    due_index_kb: i64,
}

/// Writers commit guest messages for `length` while a worker delivers them; then a backlog of
/// `burst` events is written with the worker stopped and drained by a new one.
async fn sustained(
    pool: &PgPool,
    config: &WorkerConfig,
    bookings: &[Booking],
    arrivals: &mut mpsc::UnboundedReceiver<(Uuid, Instant)>,
    length: Duration,
    burst: usize,
) -> anyhow::Result<Sustained> {
    let worker = Worker::spawn(pool.clone(), config.clone())?;
    let started = Instant::now();
    let until = started + length;
    let mut writers = Vec::new();
    for booking in bookings {
        let (pool, booking) = (pool.clone(), booking.clone());
        writers.push(tokio::spawn(async move {
            let mut written = 0usize;
            while Instant::now() < until {
                guest_message(&pool, &booking).await?;
                written += 1;
            }
            anyhow::Ok(written)
        }));
    }
    let mut live_events = 0;
    for writer in writers {
        live_events += writer.await??;
    }
    let stopped = Instant::now();
    drain(arrivals, live_events).await?;
    let live_tail = stopped.elapsed();
    let live_rate = live_events as f64 / started.elapsed().as_secs_f64();
    worker.shutdown().await;

    for i in 0..burst {
        guest_message(pool, &bookings[i % bookings.len()]).await?;
    }
    let started = Instant::now();
    let worker = Worker::spawn(pool.clone(), config.clone())?;
    drain(arrivals, burst).await?;
    let backlog_rate = burst as f64 / started.elapsed().as_secs_f64();
    worker.shutdown().await;

    // The statistics reach the views within a second or so.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dead_rows: i64 = sqlx::query_scalar(
        "select coalesce(n_dead_tup, 0) from pg_stat_user_tables where relname = 'webhook_deliveries'",
    )
    .fetch_one(pool)
    .await?;
    let due_index_kb: i64 =
        sqlx::query_scalar("select pg_relation_size('webhook_deliveries_due_idx') / 1024")
            .fetch_one(pool)
            .await?;
    Ok(Sustained {
        live_events,
        live_rate,
        live_tail,
        backlog_rate,
        dead_rows,
        due_index_kb,
    })
}

/// A guest message committed on the booking's thread; answers its id.
async fn guest_message(pool: &PgPool, booking: &Booking) -> anyhow::Result<Uuid> {
    let mut tx = pool.begin().await?;
    let thread = messaging::lock_booking_thread(&mut tx, booking)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (message, _) = messaging::append(
        &mut tx,
        &thread,
        &Append::text(Sender::Guest, "Hello, is there parking nearby?"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    Ok(message.id)
}

async fn wait_for(
    arrivals: &mut mpsc::UnboundedReceiver<(Uuid, Instant)>,
    id: Uuid,
) -> anyhow::Result<Instant> {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), arrivals.recv()).await;
        match next {
            Ok(Some((got, at))) if got == id => return Ok(at),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => anyhow::bail!("message {id} did not arrive within 10 s"),
        }
    }
}

async fn drain(
    arrivals: &mut mpsc::UnboundedReceiver<(Uuid, Instant)>,
    count: usize,
) -> anyhow::Result<()> {
    for received in 0..count {
        match tokio::time::timeout(Duration::from_secs(30), arrivals.recv()).await {
            Ok(Some(_)) => {}
            _ => anyhow::bail!("only {received} of {count} deliveries arrived"),
        }
    }
    Ok(())
}

/// A receiver that answers 200 at once and reports each message's arrival.
async fn start_receiver(arrivals: Arrivals) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let router = Router::new()
        .fallback(receive)
        .with_state(Arc::new(Mutex::new(arrivals)));
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(url)
}

async fn receive(State(arrivals): State<Arc<Mutex<Arrivals>>>, request: Request) -> StatusCode {
    let body = to_bytes(request.into_body(), 1024 * 1024)
        .await
        .unwrap_or_default();
    let at = Instant::now();
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["payload"]["id"].as_str().and_then(|s| s.parse().ok()));
    if let (Some(id), Ok(arrivals)) = (id, arrivals.lock()) {
        let _ = arrivals.send((id, at));
    }
    StatusCode::OK
}

/// A user, a property with the Messages app and an active webhook, and Booking.com bookings.
async fn seed(
    pool: &PgPool,
    callback_url: &str,
    bookings: usize,
) -> anyhow::Result<(Uuid, Uuid, Vec<Booking>)> {
    let user = db::users::insert(pool, &format!("{}@bench.test", Uuid::new_v4()), None).await?;
    let property = db::properties::insert(pool, user.id, "Bench", Some("EUR"), None).await?;
    let mut conn = pool.acquire().await?;
    db::applications::install(&mut conn, property.id, db::applications::MESSAGES_APP).await?;
    let guest = Customer {
        name: "Roxy".to_owned(),
        surname: Some("Maldonado".to_owned()),
        ..Customer::default()
    };
    let mut made = Vec::new();
    for i in 0..bookings {
        made.push(
            db::bookings::insert(
                &mut conn,
                &NewBooking {
                    property_id: property.id,
                    ota_name: "BookingCom",
                    ota_reservation_code: &format!("BENCH-{i}"),
                    arrival_date: NaiveDate::from_ymd_opt(2030, 7, 1).context("date")?,
                    departure_date: NaiveDate::from_ymd_opt(2030, 7, 4).context("date")?,
                    customer: &guest,
                    currency: Some("EUR"),
                    amount: None,
                    occupancy: (2, 0, 0),
                    notes: None,
                    ota_message_thread_id: None,
                },
            )
            .await?,
        );
    }
    db::webhooks::insert(
        pool,
        user.id,
        &WebhookWrite {
            property_id: Some(property.id),
            callback_url: callback_url.to_owned(),
            event_mask: "message".to_owned(),
            event_names: vec!["message".to_owned()],
            headers: json!({}),
            request_params: json!({}),
            is_active: true,
            send_data: true,
            is_global: false,
            protected: false,
            signing_secret: Some(db::webhooks::SigningSecret(
                "bench-signing-secret".to_owned(),
            )),
        },
    )
    .await?;
    Ok((user.id, property.id, made))
}

async fn server_version(pool: &PgPool) -> anyhow::Result<String> {
    Ok(sqlx::query_scalar("show server_version")
        .fetch_one(pool)
        .await?)
}

/// The benchmark's database: a scratch database on DATABASE_URL's server, or an embedded
/// cluster in a temporary folder.
enum Database {
    External {
        admin: Box<PgConnectOptions>,
        name: String,
    },
    Embedded {
        pg: EmbeddedPg,
        dir: std::path::PathBuf,
    },
}

impl Database {
    async fn open() -> anyhow::Result<(Self, PgPool)> {
        let (database, options) = match std::env::var("DATABASE_URL") {
            Ok(url) => {
                let admin: PgConnectOptions = url.parse::<PgConnectOptions>()?.database("postgres");
                let name = format!("ota_inbox_bench_{}", std::process::id());
                let mut conn = admin.connect().await?;
                sqlx::query(&format!("create database {name}"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                let options = admin.clone().database(&name);
                (
                    Database::External {
                        admin: Box::new(admin),
                        name,
                    },
                    options,
                )
            }
            Err(_) => {
                // Readable by the cluster's user when the benchmark runs as root.
                let dir =
                    std::env::temp_dir().join(format!("ota-inbox-bench-{}", std::process::id()));
                std::fs::create_dir_all(&dir)?;
                let pg = EmbeddedPg::start(&dir.join("postgres"), &embedded_pg::Options::default())
                    .await?;
                let options = pg.connect_options(embedded_pg::DATABASE);
                (Database::Embedded { pg, dir }, options)
            }
        };
        let options = options.log_statements(tracing::log::LevelFilter::Off);
        let pool = db::connect(options, 20).await?;
        db::MIGRATOR.run(&pool).await?;
        Ok((database, pool))
    }

    /// A connection elsewhere in the benchmark's database with a transaction open that holds a
    /// transaction id and a snapshot: vacuum keeps every row it might still see. Commit to end.
    async fn hold_back_vacuum(&self) -> anyhow::Result<sqlx::PgConnection> {
        let options = match self {
            Database::External { admin, name } => (**admin).clone().database(name),
            Database::Embedded { pg, .. } => pg.connect_options(embedded_pg::DATABASE),
        };
        let mut conn = options.connect().await?;
        sqlx::query("begin isolation level repeatable read")
            .execute(&mut conn)
            .await?;
        sqlx::query("select txid_current(), count(*) from events")
            .execute(&mut conn)
            .await?;
        Ok(conn)
    }

    async fn close(self) -> anyhow::Result<()> {
        match self {
            Database::External { admin, name } => {
                let mut conn = admin.connect().await?;
                sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut conn)
                    .await?;
            }
            Database::Embedded { pg, dir } => {
                pg.stop().await?;
                std::fs::remove_dir_all(dir)?;
            }
        }
        Ok(())
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
