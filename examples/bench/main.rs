//! The Messages API benchmark.
//!
//! ```sh
//! cargo run --release --example bench               # the scenarios and the growth check
//! cargo run --release --example bench -- scale-out  # two server processes over one database
//! ```
//!
//! Loads one user with 1,000 properties, 100,000 threads and 1,000,000 messages (and, for the
//! growth check, a second database with 10,000 messages), starts ota-inbox in a process of its
//! own exactly as the binary starts (settings from the environment, migrations, the webhook
//! worker, the principal cache), serves the two references from this process, and drives each
//! scenario with wrk (32 connections) over loopback. Prints a table with the targets and writes
//! `target/bench/results.json` and `target/bench/plans.md`.
//!
//! Needs `wrk`. Uses DATABASE_URL's server if set, else an embedded cluster under
//! `target/bench`. `BENCH_SECONDS` sets each run's length (default 15); `BENCH_REUSE=1` keeps
//! the data of the previous run; `DATABASE_MAX_CONNECTIONS` sizes the server's pool (and the
//! references') as it does for the binary.

mod data;
mod report;
mod scale_out;
mod servers;
mod wrk;

use std::path::Path;

use ota_inbox::db;
use ota_inbox::embedded_pg::{self, EmbeddedPg};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use data::Dataset;
use report::{Against, Report, Row};
use servers::ServerProcess;

/// wrk connections of every scenario.
pub const CONNECTIONS: u32 = 32;
/// The database of 1,000,000 messages and its number of properties.
const LARGE: (&str, i64) = ("ota_inbox_bench", 1_000);
/// The database of 10,000 messages, for the growth check.
const SMALL: (&str, i64) = ("ota_inbox_bench_10k", 10);

/// mimalloc: small, short-lived allocations (headers, JSON) are most of what a request does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    match args.first().map(String::as_str) {
        Some(servers::SERVE) => runtime.block_on(servers::serve(&args[1..])),
        Some("scale-out") => runtime.block_on(run(Mode::ScaleOut)),
        None => runtime.block_on(run(Mode::Scenarios)),
        Some(other) => anyhow::bail!("unknown mode '{other}' (none, or scale-out)"),
    }
}

enum Mode {
    Scenarios,
    ScaleOut,
}

/// How long each wrk run lasts, and whether earlier data is kept.
#[derive(Clone, Copy)]
pub struct Settings {
    pub seconds: u64,
    pub reuse: bool,
}

async fn run(mode: Mode) -> anyhow::Result<()> {
    let settings = Settings {
        seconds: std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(15),
        reuse: std::env::var("BENCH_REUSE").is_ok_and(|v| v == "1"),
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let cluster = Cluster::open(&dir).await?;
    let result = match mode {
        Mode::Scenarios => scenarios(&cluster, settings, &dir).await,
        Mode::ScaleOut => {
            let large = cluster.dataset(LARGE, settings.reuse).await?;
            scale_out::run(&cluster.url(LARGE.0), &large, settings, &dir).await
        }
    };
    cluster.close().await;
    result
}

/// A scenario to run: name, method, path as reported, URL, wrk script, reference, least ratio.
type Planned = (
    &'static str,
    &'static str,
    String,
    String,
    &'static str,
    Against,
    Option<f64>,
);

/// Every scenario against its reference, then the growth runs; prints and writes the report.
async fn scenarios(cluster: &Cluster, settings: Settings, dir: &Path) -> anyhow::Result<()> {
    let large = cluster.dataset(LARGE, settings.reuse).await?;
    data::explain(&large.pool, &large.threads, dir).await?;
    let references = servers::start_references(large.pool.clone(), large.thread).await?;
    let reference = format!("http://{references}");
    let server = ServerProcess::start(&cluster.url(LARGE.0)).await?;
    let api = server.url.clone();
    eprintln!(
        "server pool: {} connections; wrk: {CONNECTIONS} connections, {} s per scenario",
        pool_size(),
        settings.seconds
    );

    let (thread, booking, property) = (large.thread, large.booking, large.property);
    #[rustfmt::skip]
    let plan: Vec<Planned> = vec![
        (report::REFERENCE_QUERY, "GET", servers::QUERY_PATH.into(),
         format!("{reference}{}", servers::QUERY_PATH), "get", Against::Query, None),
        (report::LIST_PAGE_1, "GET", "/api/v1/message_threads".into(),
         format!("{api}/api/v1/message_threads"), "get", Against::Query, Some(0.8)),
        (report::LIST_PAGE_5000, "GET", "/api/v1/message_threads?pagination[page]=5000".into(),
         format!("{api}/api/v1/message_threads?pagination%5Bpage%5D=5000"), "get", Against::Query, Some(0.1)),
        (report::THREAD_MESSAGES, "GET", "/api/v1/message_threads/{id}/messages".into(),
         format!("{api}/api/v1/message_threads/{thread}/messages"), "get", Against::Query, Some(0.8)),
        (report::BOOKING_MESSAGES, "GET", "/api/v1/bookings/{id}/messages".into(),
         format!("{api}/api/v1/bookings/{booking}/messages"), "get", Against::Query, Some(0.8)),
        (report::PROPERTY, "GET", "/api/v1/properties/{id}".into(),
         format!("{api}/api/v1/properties/{property}"), "get", Against::Query, Some(0.8)),
        // Writes last: they grow the tables the reads use.
        (report::REFERENCE_INSERT, "POST", servers::INSERT_PATH.into(),
         format!("{reference}{}", servers::INSERT_PATH), "insert", Against::Insert, None),
        (report::SEND, "POST", "/api/v1/message_threads/{id}/messages".into(),
         api.clone(), "post", Against::Insert, Some(0.5)),
    ];
    let mut rows = Vec::new();
    for (name, method, path, url, script, against, min_ratio) in plan {
        let measured = measure(&large, &url, script, settings.seconds).await?;
        eprintln!("{name}: {:.0}/s", measured.requests_per_second);
        rows.push(Row {
            name: name.to_owned(),
            method,
            path,
            against,
            min_ratio,
            measured,
        });
    }
    server.stop().await;

    // Growth: the same reads on 10,000 messages, same server set-up.
    let small = cluster.dataset(SMALL, settings.reuse).await?;
    let server = ServerProcess::start(&cluster.url(SMALL.0)).await?;
    let api = server.url.clone();
    #[rustfmt::skip]
    let growth = [
        (report::LIST_PAGE_1, "/api/v1/message_threads".to_owned(),
         format!("{api}/api/v1/message_threads")),
        (report::THREAD_MESSAGES, "/api/v1/message_threads/{id}/messages".to_owned(),
         format!("{api}/api/v1/message_threads/{}/messages", small.thread)),
    ];
    for (name, path, url) in growth {
        let measured = measure(&small, &url, "get", settings.seconds).await?;
        rows.push(Row {
            name: format!("{name}{}", report::SMALL),
            method: "GET",
            path,
            against: Against::Query,
            min_ratio: None,
            measured,
        });
    }
    server.stop().await;
    small.pool.close().await;
    large.pool.close().await;

    let report = Report { rows };
    report.print();
    report.write(dir)
}

/// One wrk run of `script` against `url` with the data set's key and POST targets.
pub async fn measure(
    data: &Dataset,
    url: &str,
    script: &'static str,
    seconds: u64,
) -> anyhow::Result<wrk::Measured> {
    let load = wrk::Load {
        url: url.to_owned(),
        script,
        connections: CONNECTIONS,
        seconds,
        key: data.key.clone(),
        threads: data.post_targets(),
    };
    // wrk blocks: off the runtime, so that the references keep both its threads.
    tokio::task::spawn_blocking(move || wrk::run(&load)).await?
}

/// `DATABASE_MAX_CONNECTIONS` as the server reads it (default 20).
pub fn pool_size() -> u32 {
    std::env::var("DATABASE_MAX_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// The PostgreSQL server: DATABASE_URL's, or an embedded cluster under target/bench.
struct Cluster {
    /// The maintenance database.
    admin: PgConnectOptions,
    /// URL of the maintenance database.
    url: String,
    embedded: Option<EmbeddedPg>,
}

impl Cluster {
    async fn open(dir: &Path) -> anyhow::Result<Self> {
        match std::env::var("DATABASE_URL") {
            Ok(url) => Ok(Self {
                admin: url.parse::<PgConnectOptions>()?.database("postgres"),
                url: with_database(&url, "postgres"),
                embedded: None,
            }),
            Err(_) => {
                let pg = EmbeddedPg::start(&dir.join("postgres"), &embedded_pg::Options::default())
                    .await?;
                Ok(Self {
                    admin: pg.connect_options("postgres"),
                    url: pg.url("postgres"),
                    embedded: Some(pg),
                })
            }
        }
    }

    /// The URL of one of its databases.
    fn url(&self, database: &str) -> String {
        with_database(&self.url, database)
    }

    /// A migrated database (`name`) with `properties` properties' worth of data: the data of
    /// an earlier run with `reuse`, else loaded anew.
    async fn dataset(
        &self,
        (name, properties): (&str, i64),
        reuse: bool,
    ) -> anyhow::Result<Dataset> {
        let mut conn = self.admin.connect().await?;
        let exists: bool =
            sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await?;
        if !(reuse && exists) {
            sqlx::query(&format!("drop database if exists {name} with (force)"))
                .execute(&mut conn)
                .await?;
            sqlx::query(&format!("create database {name}"))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await?;
        let options = self
            .admin
            .clone()
            .database(name)
            .log_statements(tracing::log::LevelFilter::Off);
        let pool = db::connect(options, pool_size()).await?;
        db::MIGRATOR.run(&pool).await?;
        Dataset::prepare(pool, properties, reuse && exists).await
    }

    async fn close(self) {
        if let Some(pg) = self.embedded
            && let Err(err) = pg.stop().await
        {
            eprintln!("stopping the embedded PostgreSQL: {err:#}");
        }
    }
}

/// `url` with its database (the path) replaced, query string kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_from = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority_from..]
        .find('/')
        .map_or(base.len(), |i| authority_from + i);
    format!("{}/{database}{query}", &base[..host_end])
}
