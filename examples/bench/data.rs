//! The data sets: one user whose properties all have the Messages app, 100 Booking.com bookings
//! and threads per property, 10 messages per thread (guest and property in turn).

use std::path::Path;
use std::time::Instant;

use ota_inbox::{db, http::auth};
use sqlx::PgPool;
use uuid::Uuid;

const THREADS_PER_PROPERTY: i64 = 100;
const MESSAGES_PER_THREAD: i64 = 10;
const EMAIL: &str = "bench@example.com";

/// A loaded database, with what the scenarios need.
pub struct Dataset {
    pub pool: PgPool,
    /// The data's user, and a key of theirs that sees every property.
    pub user: Uuid,
    pub key: String,
    /// Every thread id, in id order.
    pub threads: Vec<Uuid>,
    /// The thread the single-thread scenarios read, and its booking.
    pub thread: Uuid,
    pub booking: Uuid,
    /// A property of the user.
    pub property: Uuid,
}

impl Dataset {
    /// Loads `properties` properties' worth of data into the empty database of `pool`, or, with
    /// `reuse`, takes the data already there (with a new key). Ends with `vacuum analyze` and a checkpoint.
    pub async fn prepare(pool: PgPool, properties: i64, reuse: bool) -> anyhow::Result<Self> {
        let loaded: bool =
            sqlx::query_scalar("select exists (select 1 from users where email = $1)")
                .bind(EMAIL)
                .fetch_one(&pool)
                .await?;
        let user = if reuse && loaded {
            sqlx::query_scalar("select id from users where email = $1")
                .bind(EMAIL)
                .fetch_one(&pool)
                .await?
        } else {
            let started = Instant::now();
            let user = load(&pool, properties).await?;
            eprintln!(
                "loaded {} messages in {:.1} s",
                properties * THREADS_PER_PROPERTY * MESSAGES_PER_THREAD,
                started.elapsed().as_secs_f64()
            );
            user
        };
        let (key, hash) = auth::generate_key();
        let mut conn = pool.acquire().await?;
        db::api_keys::insert(&mut conn, user, &hash, None).await?;
        drop(conn);
        sqlx::query("vacuum analyze").execute(&pool).await?;
        // The WAL of the load and the vacuum written out now, not during the first scenario
        // (a checkpoint needs a superuser or pg_checkpoint: without, the run goes on).
        if let Err(err) = sqlx::query("checkpoint").execute(&pool).await {
            eprintln!("no checkpoint before the run ({err}); the first scenario may pay for one");
        }
        let threads: Vec<Uuid> = sqlx::query_scalar("select id from message_threads order by id")
            .fetch_all(&pool)
            .await?;
        // Beside the middle: not one of the POST scenario's targets (every hundredth), so that
        // reruns on kept data read the same thread.
        let thread = *threads
            .get(threads.len() / 2 + 1)
            .ok_or_else(|| anyhow::anyhow!("too few threads"))?;
        let (booking, property): (Uuid, Uuid) =
            sqlx::query_as("select booking_id, property_id from message_threads where id = $1")
                .bind(thread)
                .fetch_one(&pool)
                .await?;
        Ok(Self {
            pool,
            user,
            key,
            threads,
            thread,
            booking,
            property,
        })
    }

    /// Every hundredth thread, comma separated: where the POST scenario writes.
    pub fn post_targets(&self) -> String {
        self.threads
            .iter()
            .step_by(100)
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The data of `properties` properties; answers the user's id.
async fn load(pool: &PgPool, properties: i64) -> anyhow::Result<Uuid> {
    let user = db::users::insert(pool, EMAIL, Some("Bench")).await?;
    let mut conn = pool.acquire().await?;
    let statements = [
        format!(
            "insert into properties (id, user_id, title) select gen_random_uuid(), '{}', 'Property ' || g from generate_series(1, {properties}) g",
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
    Ok(user.id)
}

/// Writes the plans of the statements behind the lists to `<dir>/plans.md`.
pub async fn explain(pool: &PgPool, threads: &[Uuid], dir: &Path) -> anyhow::Result<()> {
    let user: Uuid = sqlx::query_scalar("select id from users")
        .fetch_one(pool)
        .await?;
    let property: Uuid = sqlx::query_scalar("select id from properties limit 1")
        .fetch_one(pool)
        .await?;
    let thread = threads[threads.len() / 2];
    // As `db::threads::list` writes them: the total (and the scope's check) in a head row, the
    // page joined to it, so that the statement answers even an empty page.
    let page = |filter: &str, order: &str, offset: u32| {
        let total = format!(
            "select (select coalesce(sum(c.threads), 0)::bigint from user_thread_counts c where c.user_id = '{user}') as total, \
             0::bigint as found, 0::bigint as visible, 1::bigint as with_app"
        );
        let columns = "t.id, t.title, t.last_message, t.last_message_received_at, t.inserted_at";
        let outer = order.replace("t.", "p.");
        if i64::from(offset) < db::threads::DEFERRED_FROM {
            format!(
                "select h.*, p.* from ({total}) h left join lateral (select {columns} from message_threads t \
                 where {filter} order by {order} limit 10 offset {offset}) p on true order by {outer}"
            )
        } else {
            format!(
                "select h.*, p.* from ({total}) h left join lateral (select {columns} from message_threads t \
                 join (select t.id from message_threads t where {filter} order by {order} limit 10 \
                 offset {offset}) page on page.id = t.id order by {order}) p on true order by {outer}"
            )
        }
    };
    let by_activity = "t.last_message_received_at desc nulls last, t.id desc";
    let bookings = |filter: &str| {
        format!(
            "select h.total, p.* from (select (select count(*) from bookings b where b.user_id = '{user}'{filter}) as total) h \
             left join lateral (select b.id, b.inserted_at, b.ota_reservation_code, t.id as message_thread_id \
             from bookings b left join message_threads t on t.booking_id = b.id \
             where b.user_id = '{user}'{filter} order by b.inserted_at desc, b.id desc limit 10 offset 0) p on true \
             order by p.inserted_at desc, p.id desc"
        )
    };
    let statements = [
        ("API key lookup, with the user's Messages-app counters (once per key: then from the principal cache)", "select k.id, k.user_id, k.all_properties, array(select property_id from api_key_properties where api_key_id = k.id), u.messages_app_count > 0 and u.messages_app_count = u.properties_count from api_keys k join users u on u.id = k.user_id where k.key_hash = '\\x00' and k.revoked_at is null".to_owned()),
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
        ("A property (`GET /properties/{id}`)", format!("select id, user_id, title, currency, timezone, is_active, inserted_at, updated_at from properties where id = '{property}'")),
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
    // The statements of the message lists exactly as the server sends them, with their
    // parameters: the gates' inputs, the page and its total in one statement.
    let booking: Uuid = sqlx::query_scalar("select booking_id from message_threads where id = $1")
        .bind(thread)
        .fetch_one(pool)
        .await?;
    let gated = [
        (
            "Messages of a thread, page 1, with the gates' inputs and the total (`GET /message_threads/{id}/messages`)",
            db::messages::PageOf::Thread,
            thread,
            None,
        ),
        (
            "Messages of a thread from the guest, page 1, with the total counted",
            db::messages::PageOf::Thread,
            thread,
            Some(vec!["guest".to_owned()]),
        ),
        (
            "Messages of a booking, page 1, with the gates' inputs and the total (`GET /bookings/{id}/messages`)",
            db::messages::PageOf::Booking,
            booking,
            None,
        ),
    ];
    for (name, of, id, senders) in gated {
        let sql = db::messages::gated_page_sql(of, false);
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("explain (analyze, buffers, costs off) {sql}"))
                .bind(id)
                .bind(senders.clone())
                .bind(10_i64)
                .bind(0_i64)
                .bind(user)
                .bind(None::<Vec<Uuid>>)
                .fetch_all(pool)
                .await?;
        out.push_str(&format!(
            "\n## {name}\n\n`$1` = `{id}`, `$2` = `{senders:?}`, `$3` = 10, `$4` = 0, `$5` = the user, `$6` = null\n\n```sql\n{}\n```\n\n```\n{}\n```\n",
            sql.split_whitespace().collect::<Vec<_>>().join(" "),
            rows.join("\n")
        ));
    }
    let path = dir.join("plans.md");
    std::fs::write(&path, out)?;
    eprintln!("query plans: {}", path.display());
    Ok(())
}
