//! The Messages API benchmark: loads 100,000 threads and 1,000,000 messages across 1,000
//! properties, serves ota-inbox and a bare one-query axum route side by side, and drives both
//! with wrk (32 connections) over loopback. Prints a Markdown table.
//!
//! `cargo run --release --example bench` (needs `wrk`; uses DATABASE_URL's server if set, else
//! an embedded cluster under target/bench). `BENCH_SECONDS` sets each run's length (default 15).

use std::process::Command;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use ota_inbox::embedded_pg::{self, EmbeddedPg};
use ota_inbox::{AppState, app, db, http::auth};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgPool};
use uuid::Uuid;

const PROPERTIES: i64 = 1_000;
const THREADS_PER_PROPERTY: i64 = 100;
const MESSAGES_PER_THREAD: i64 = 10;
const CONNECTIONS: u32 = 32;
const DATABASE: &str = "ota_inbox_bench";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let (admin, embedded) = match std::env::var("DATABASE_URL") {
        Ok(url) => (url.parse::<PgConnectOptions>()?.database("postgres"), None),
        Err(_) => {
            let pg = EmbeddedPg::start(
                "target/bench/postgres".as_ref(),
                &embedded_pg::Options::default(),
            )
            .await?;
            (pg.connect_options("postgres"), Some(pg))
        }
    };
    // BENCH_REUSE=1 keeps the data of the previous run (when there is one) instead of loading anew.
    let reuse = std::env::var("BENCH_REUSE").is_ok_and(|v| v == "1");
    let mut conn = admin.connect().await?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut conn)
            .await?;
    if !(reuse && exists) {
        sqlx::query(&format!("drop database if exists {DATABASE} with (force)"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("create database {DATABASE}"))
            .execute(&mut conn)
            .await?;
    }
    // The server's pool: DATABASE_MAX_CONNECTIONS as the server reads it (default 20).
    let pool_size: u32 = std::env::var("DATABASE_MAX_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let pool = db::connect(admin.clone().database(DATABASE), pool_size).await?;
    db::MIGRATOR.run(&pool).await?;

    let (key, threads) = if reuse && exists {
        reuse_data(&pool).await?
    } else {
        let started = Instant::now();
        let loaded = load(&pool).await?;
        eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
        loaded
    };
    sqlx::query("vacuum analyze").execute(&pool).await?;

    explain(&pool, &threads).await?;

    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_addr = api.local_addr()?;
    let state = AppState::new(pool.clone(), None, 10 * 1024 * 1024);
    tokio::spawn(async move { axum::serve(api, app(state)).await });
    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_addr = bare.local_addr()?;
    let baseline = Router::new()
        .route("/baseline", get(one_query))
        .with_state((pool.clone(), threads[0]));
    tokio::spawn(async move { axum::serve(bare, baseline).await });

    let thread = threads[threads.len() / 2];
    let sample: Vec<String> = threads.iter().step_by(100).map(Uuid::to_string).collect();
    let property: Uuid = sqlx::query_scalar("select id from properties limit 1")
        .fetch_one(&pool)
        .await?;
    let scenarios = [
        (
            "bare axum route, one indexed query",
            format!("http://{bare_addr}/baseline"),
            "get",
        ),
        (
            "GET /properties/{id} (key lookup + one indexed query)",
            format!("http://{api_addr}/api/v1/properties/{property}"),
            "get",
        ),
        (
            "GET /message_threads (page 1)",
            format!("http://{api_addr}/api/v1/message_threads"),
            "get",
        ),
        (
            "GET /message_threads (page 5,000 of 10,000)",
            format!("http://{api_addr}/api/v1/message_threads?pagination%5Bpage%5D=5000"),
            "get",
        ),
        (
            "GET /message_threads/{id}/messages",
            format!("http://{api_addr}/api/v1/message_threads/{thread}/messages"),
            "get",
        ),
        (
            "POST /message_threads/{id}/messages",
            format!("http://{api_addr}"),
            "post",
        ),
    ];
    eprintln!("pool: {pool_size} connections; wrk: {CONNECTIONS} connections");
    println!("| scenario | requests/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, url, script) in scenarios {
        let (rps, p50, p99) = wrk(&url, script, seconds, &key, &sample.join(","))?;
        println!("| {name} | {rps:.0} | {p50} | {p99} |");
    }
    pool.close().await;
    if let Some(pg) = embedded {
        pg.stop().await?;
    }
    Ok(())
}

/// The reference: one indexed lookup, no auth, no JSON building beyond one field.
async fn one_query(State((pool, id)): State<(PgPool, Uuid)>) -> String {
    let title: Option<String> =
        sqlx::query_scalar("select title from message_threads where id = $1")
            .bind(id)
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten();
    title.unwrap_or_default()
}

/// Runs wrk and reads requests/s and the 50th and 99th percentile latencies.
fn wrk(
    url: &str,
    script: &str,
    seconds: u64,
    key: &str,
    threads: &str,
) -> anyhow::Result<(f64, String, String)> {
    let out = Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            &CONNECTIONS.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(format!("{}/bench/{script}.lua", env!("CARGO_MANIFEST_DIR")))
        .arg(url)
        .env("KEY", key)
        .env("THREADS", threads)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("Non-2xx") {
        anyhow::bail!(
            "wrk failed on {url}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix(prefix)
                    .map(|rest| rest.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let rps = field("Requests/sec:").parse().unwrap_or(0.0);
    Ok((rps, field("50%"), field("99%")))
}

/// 1 user, 1,000 properties with the app, 100 Booking.com bookings and threads each, 10
/// messages per thread (guest and property in turn). Answers the user's key and the thread ids.
async fn load(pool: &PgPool) -> anyhow::Result<(String, Vec<Uuid>)> {
    let user = db::users::insert(pool, "bench@example.com", Some("Bench")).await?;
    let (key, hash) = auth::generate_key();
    let mut conn = pool.acquire().await?;
    db::api_keys::insert(&mut conn, user.id, &hash, None).await?;
    let statements = [
        format!(
            "insert into properties (id, user_id, title) select gen_random_uuid(), '{}', 'Property ' || g from generate_series(1, {PROPERTIES}) g",
            user.id
        ),
        "insert into application_installations (id, property_id, application_code) select gen_random_uuid(), id, 'channex_messages' from properties".to_owned(),
        "insert into channels (id, property_id, ota_name) select gen_random_uuid(), id, 'BookingCom' from properties".to_owned(),
        format!(
            "insert into bookings (id, property_id, channel_id, ota_name, ota_reservation_code, arrival_date, departure_date, customer_name, customer_surname, inserted_at)
             select gen_random_uuid(), c.property_id, c.id, 'BookingCom', lpad(g::text, 10, '0'), date '2030-01-01' + (g % 300), date '2030-01-04' + (g % 300),
                    'Guest', 'Number ' || g, now() - make_interval(mins => g)
             from channels c, generate_series(1, {THREADS_PER_PROPERTY}) g"
        ),
        format!(
            "insert into message_threads (id, property_id, user_id, channel_id, booking_id, provider, title, message_count, inserted_at, updated_at)
             select gen_random_uuid(), b.property_id, '{}', b.channel_id, b.id, 'BookingCom', b.customer_name || ' ' || b.customer_surname, {MESSAGES_PER_THREAD},
                    b.inserted_at, b.inserted_at
             from bookings b",
            user.id
        ),
        format!(
            "insert into messages (id, message_thread_id, sender, message, user_id, inserted_at, updated_at)
             select gen_random_uuid(), t.id, case when g % 2 = 1 then 'guest' else 'property' end,
                    'Message ' || g || ' of the conversation about the stay.', case when g % 2 = 0 then '{}'::uuid end,
                    t.inserted_at + make_interval(secs => g * 60), t.inserted_at + make_interval(secs => g * 60)
             from message_threads t, generate_series(1, {MESSAGES_PER_THREAD}) g",
            user.id
        ),
        "update message_threads t set last_message = jsonb_build_object('attachments', '[]'::jsonb, 'inserted_at', to_char(m.inserted_at at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), 'message', m.message, 'sender', m.sender),
                last_message_received_at = m.inserted_at, updated_at = m.inserted_at
         from (select distinct on (message_thread_id) * from messages order by message_thread_id, inserted_at desc) m
         where m.message_thread_id = t.id".to_owned(),
    ];
    for sql in statements {
        sqlx::query(&sql).execute(&mut *conn).await?;
    }
    let threads = sqlx::query_scalar("select id from message_threads order by id")
        .fetch_all(&mut *conn)
        .await?;
    Ok((key, threads))
}

/// Writes the plans of the statements behind the lists to target/bench/plans.md.
async fn explain(pool: &PgPool, threads: &[Uuid]) -> anyhow::Result<()> {
    let user: Uuid = sqlx::query_scalar("select id from users")
        .fetch_one(pool)
        .await?;
    let property: Uuid = sqlx::query_scalar("select id from properties limit 1")
        .fetch_one(pool)
        .await?;
    let thread = threads[threads.len() / 2];
    let page = |filter: &str, order: &str, offset: u32| {
        let total = format!(
            "(select coalesce(sum(c.threads), 0)::bigint from user_thread_counts c where c.user_id = '{user}') as total"
        );
        if i64::from(offset) < db::threads::DEFERRED_FROM {
            format!(
                "select t.id, t.title, t.last_message, {total} from message_threads t where {filter} \
                 order by {order} limit 10 offset {offset}"
            )
        } else {
            format!(
                "select t.id, t.title, t.last_message, {total} from message_threads t join (select t.id \
                 from message_threads t where {filter} order by {order} limit 10 offset {offset}) page \
                 on page.id = t.id order by {order}"
            )
        }
    };
    let by_activity = "t.last_message_received_at desc nulls last, t.id desc";
    let bookings = |filter: &str| {
        format!(
            "select b.id, b.ota_reservation_code, t.id as message_thread_id, \
             (select count(*) from bookings b where b.user_id = '{user}'{filter}) as total \
             from bookings b left join message_threads t on t.booking_id = b.id \
             where b.user_id = '{user}'{filter} order by b.inserted_at desc, b.id desc limit 10 offset 0"
        )
    };
    let statements = [
        ("API key lookup, with the user's Messages-app counters", "select k.id, k.user_id, k.all_properties, array(select property_id from api_key_properties where api_key_id = k.id), u.messages_app_count > 0 and u.messages_app_count = u.properties_count from api_keys k join users u on u.id = k.user_id where k.key_hash = '\\x00' and k.revoked_at is null".to_owned()),
        ("Threads, page 1 (default order: newest message first)", page(&format!("t.user_id = '{user}'"), by_activity, 0)),
        ("Threads, page 5,000 (default order)", page(&format!("t.user_id = '{user}'"), by_activity, 49_990)),
        ("Threads by creation, page 1", page(&format!("t.user_id = '{user}'"), "t.inserted_at desc, t.id desc", 0)),
        ("Threads of one property (default order)", page(&format!("t.user_id = '{user}' and t.property_id = '{property}'"), by_activity, 0)),
        ("Thread total (user counters)", format!("select coalesce(sum(c.threads), 0)::bigint from user_thread_counts c where c.user_id = '{user}' and c.is_closed = false")),
        ("Thread total of listed properties (property counters)", format!("select coalesce(sum(c.threads), 0)::bigint from thread_counts c where c.property_id = any(array['{property}'::uuid])")),
        ("Thread total with a time range (counted on the index)", format!("select count(*) from message_threads t where t.user_id = '{user}' and t.inserted_at >= now() - interval '10 minutes'")),
        ("Bookings, page 1 (newest first), with the total", bookings("")),
        ("Bookings by reservation code", bookings(" and b.ota_reservation_code = '0000000042'")),
        ("Bookings of one property", bookings(&format!(" and b.property_id = '{property}'"))),
        ("Messages of a thread, page 1", format!("select m.id, m.message, coalesce((select jsonb_agg(jsonb_build_object('id', a.id, 'file_name', a.file_name) order by a.position) from attachments a where a.message_id = m.id), '[]'::jsonb) from messages m where m.message_thread_id = '{thread}' order by m.inserted_at desc, m.seq desc limit 10 offset 0")),
        ("Messages of a thread from the guest (total)", format!("select count(*) from messages where message_thread_id = '{thread}' and sender = any(array['guest'])")),
    ];
    let mut out = String::from(
        "# Query plans\n\nCaptured by `cargo run --release --example bench` on its data set \
        (1,000 properties, 100,000 threads, 1,000,000 messages, one user), after `vacuum analyze`.\n",
    );
    for (name, sql) in statements {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("explain (analyze, buffers, costs off) {sql}"))
                .fetch_all(pool)
                .await?;
        out.push_str(&format!(
            "\n## {name}\n\n```sql\n{sql}\n```\n\n```\n{}\n```\n",
            rows.join("\n")
        ));
    }
    std::fs::create_dir_all("target/bench")?;
    std::fs::write("target/bench/plans.md", out)?;
    eprintln!("query plans: target/bench/plans.md");
    Ok(())
}

/// The data of an earlier run, with a new key for its user.
async fn reuse_data(pool: &PgPool) -> anyhow::Result<(String, Vec<Uuid>)> {
    let user: Uuid = sqlx::query_scalar("select id from users where email = 'bench@example.com'")
        .fetch_one(pool)
        .await?;
    let (key, hash) = auth::generate_key();
    let mut conn = pool.acquire().await?;
    db::api_keys::insert(&mut conn, user, &hash, None).await?;
    let threads = sqlx::query_scalar("select id from message_threads order by id")
        .fetch_all(&mut *conn)
        .await?;
    Ok((key, threads))
}
