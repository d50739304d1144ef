//! The response cache: a read that nothing changed since is answered from memory, and a write
//! is seen by the next read, in the process that wrote at once and in every other process as
//! soon as its NOTIFY arrives.
//!
//! "Answered from memory" is shown by changing the database behind the server's back (triggers
//! off, nothing announced): a cached answer keeps the old value.

use std::time::Duration;

use axum::http::StatusCode;
use ota_inbox::http::changes;
use ota_inbox::http::response_cache::ResponseCache;
use reqwest::Method as M;
use serde_json::{Value, json};
use sqlx::{Connection, PgPool};
use tokio::time::{Instant, sleep};
use uuid::Uuid;

use crate::process::{ServerProcess, wait_for_listeners};
use crate::support::{
    Account, Following, TestApp, following, fresh_database, maintenance_connection, wait_until,
};

/// How soon a write through one process must be seen through another.
const BOUND: Duration = Duration::from_secs(1);

/// The application with its response cache following the database, as the server runs it.
type Cached = Following<ResponseCache>;

async fn cached_app() -> Cached {
    following(
        |state| state.responses.clone(),
        ResponseCache::listen,
        ResponseCache::is_listening,
    )
    .await
}

/// Changes a thread's title without firing any trigger or telling anyone.
async fn retitle_silently(db: &PgPool, thread: Uuid, title: &str) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("update message_threads set title = $2 where id = $1")
        .bind(thread)
        .bind(title)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// A user with a Messages property and one thread (a guest wrote); answers the thread.
async fn thread_of_new_user(app: &TestApp) -> (Account, Uuid, Uuid) {
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    app.guest_writes(booking, "Hello, is parking included?")
        .await;
    (account, property, app.thread_of(booking).await)
}

fn titles(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|thread| thread["attributes"]["title"].as_str().unwrap().to_owned())
        .collect()
}

fn texts(messages: &Value) -> Vec<String> {
    messages["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["attributes"]["message"].as_str().unwrap().to_owned())
        .collect()
}

impl Cached {
    async fn get(&self, path: &str, key: &str) -> Value {
        self.app
            .get(path)
            .key(key)
            .send()
            .await
            .expect_status(StatusCode::OK)
            .json()
    }

    /// Reads `path` until its answer is kept: the silent retitle is then not seen.
    async fn warm_list(&self, key: &str, thread: Uuid) -> String {
        let started = Instant::now();
        loop {
            let before = titles(&self.get("/api/v1/message_threads", key).await);
            let title = format!("kept {}", Uuid::new_v4());
            retitle_silently(&self.app.db, thread, &title).await;
            let after = titles(&self.get("/api/v1/message_threads", key).await);
            if after == before {
                return before[0].clone();
            }
            // Not kept yet (the set-up's own notifications may still be arriving).
            assert!(started.elapsed() < Duration::from_secs(5), "never kept");
            sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_read_is_answered_from_memory_until_a_write_of_its_user() {
    let c = cached_app().await;
    let (account, _, thread) = thread_of_new_user(&c.app).await;
    let (other, _, other_thread) = thread_of_new_user(&c.app).await;
    let kept = c.warm_list(&account.key, thread).await;
    assert!(!c.cache.is_empty());

    // Another user's write leaves it kept.
    c.app
        .post(&format!("/api/v1/message_threads/{other_thread}/messages"))
        .key(&other.key)
        .json(json!({"message": {"message": "Yes, it is."}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    let list = c.get("/api/v1/message_threads", &account.key).await;
    assert_eq!(titles(&list), vec![kept.clone()]);

    // Its own user's write is seen by the very next read, with the silent change.
    let path = format!("/api/v1/message_threads/{thread}/messages");
    let before = c.get(&path, &account.key).await;
    assert_eq!(texts(&before), vec!["Hello, is parking included?"]);
    c.app
        .post(&path)
        .key(&account.key)
        .json(json!({"message": {"message": "Parking is free."}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    let after = c.get(&path, &account.key).await;
    assert_eq!(
        texts(&after),
        vec!["Parking is free.", "Hello, is parking included?"]
    );
    let list = c.get("/api/v1/message_threads", &account.key).await;
    assert_ne!(titles(&list), vec![kept], "the silent change is read now");
    assert_eq!(
        list["data"][0]["attributes"]["last_message"]["message"],
        "Parking is free."
    );
}

#[tokio::test]
async fn a_write_of_the_admin_api_is_seen_by_the_next_read_of_every_user() {
    let c = cached_app().await;
    let (account, property, thread) = thread_of_new_user(&c.app).await;
    let kept = c.warm_list(&account.key, thread).await;

    // A guest writes (the OTA side, through /admin): read at once.
    let booking = c.app.booking(property, "BookingCom").await;
    c.app.guest_writes(booking, "A second booking").await;
    let list = c.get("/api/v1/message_threads", &account.key).await;
    assert_eq!(list["meta"]["total"], 2, "{list}");
    assert!(!kept.is_empty());
}

#[tokio::test]
async fn answers_are_kept_per_credential() {
    let c = cached_app().await;
    let (account, first, _) = thread_of_new_user(&c.app).await;
    let second = c.app.property(&account, true).await;
    let booking = c.app.booking(second, "BookingCom").await;
    c.app.guest_writes(booking, "On the second property").await;
    let scoped = c.app.key_for(account.user_id, Some(vec![first])).await;

    for _ in 0..3 {
        let all = c.get("/api/v1/message_threads", &account.key).await;
        assert_eq!(all["meta"]["total"], 2, "{all}");
        let only_first = c.get("/api/v1/message_threads", &scoped).await;
        assert_eq!(only_first["meta"]["total"], 1, "{only_first}");
        // The same thread through the key that may not see it: refused, never from memory.
        let hidden = c.app.thread_of(booking).await;
        let status = c
            .app
            .get(&format!("/api/v1/message_threads/{hidden}"))
            .key(&scoped)
            .send()
            .await
            .status;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_notification_or_a_lost_listen_connection_makes_it_read_the_database_again() {
    let c = cached_app().await;
    let (account, _, thread) = thread_of_new_user(&c.app).await;
    let kept = c.warm_list(&account.key, thread).await;

    // A change by hand, announced by hand.
    sqlx::query("select pg_notify($1, $2)")
        .bind(changes::CHANNEL)
        .bind(account.user_id.to_string())
        .execute(&c.app.db)
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let now = titles(&c.get("/api/v1/message_threads", &account.key).await);
        if now != vec![kept.clone()] {
            break;
        }
        assert!(started.elapsed() < BOUND, "the NOTIFY was not heard");
        sleep(Duration::from_millis(5)).await;
    }

    // The LISTEN connection lost: nothing from memory until it is back.
    c.warm_list(&account.key, thread).await;
    let mut conn = maintenance_connection().await;
    let ended: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = $1 and query like '%' || $2 || '%'",
    )
    .bind(&c.database)
    .bind(changes::CHANNEL)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(ended, vec![true]);
    conn.close().await.ok();
    wait_until(BOUND, || !c.cache.is_listening()).await;
    assert!(c.cache.is_empty(), "dropped with the connection");
    retitle_silently(&c.app.db, thread, "while deaf").await;
    let list = c.get("/api/v1/message_threads", &account.key).await;
    assert_eq!(titles(&list), vec!["while deaf"]);

    wait_until(Duration::from_secs(10), || c.cache.is_listening()).await;
    c.warm_list(&account.key, thread).await;
}

#[tokio::test]
async fn a_write_through_one_server_is_read_through_another_within_a_second() {
    let (db, options) = fresh_database().await;
    let database = options.get_database().unwrap().to_owned();
    let (a, b) = tokio::join!(
        ServerProcess::start(&database),
        ServerProcess::start(&database)
    );
    wait_for_listeners(&database, changes::CHANNEL, 2).await;

    let (status, user) = a
        .call(
            M::POST,
            "/admin/users",
            None,
            Some(json!({"user": {"email": "two@example.com"}})),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let (status, key) = a
        .call(
            M::POST,
            "/admin/api_keys",
            None,
            Some(json!({"api_key": {"user_id": user["data"]["id"]}})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let key = key["data"]["attributes"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, property) = a
        .call(
            M::POST,
            "/api/v1/properties",
            Some(&key),
            Some(json!({"property": {"title": "Casa Azul"}})),
        )
        .await;
    let property = property["data"]["id"].as_str().unwrap().to_owned();
    let (status, _) = a
        .call(
            M::POST,
            "/api/v1/applications/install",
            Some(&key),
            Some(json!({"application_installation": {
                "property_id": property, "application_code": "channex_messages"}})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, booking) = a
        .call(
            M::POST,
            "/admin/bookings",
            None,
            Some(json!({"booking": {
                "property_id": property, "ota_name": "BookingCom", "ota_reservation_code": "RC-2",
                "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
                "customer": {"name": "Roxy", "surname": "Maldonado"}}})),
        )
        .await;
    assert_eq!(status, 201, "{booking}");
    let booking = booking["data"]["id"].as_str().unwrap().to_owned();
    let messages = format!("/api/v1/bookings/{booking}/messages");
    let (status, _) = a
        .call(
            M::POST,
            &format!("/admin/bookings/{booking}/guest_messages"),
            None,
            Some(json!({"message": {"message": "Hello"}})),
        )
        .await;
    assert_eq!(status, 201);

    // B answers from memory: a message changed behind its back goes unseen there.
    let started = Instant::now();
    loop {
        let (status, before) = b.call(M::GET, &messages, Some(&key), None).await;
        assert_eq!(status, 200, "{before}");
        let mut tx = db.begin().await.unwrap();
        sqlx::query("set local session_replication_role = replica")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("update messages set message = $1")
            .bind(format!("unseen {}", Uuid::new_v4()))
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let (_, after) = b.call(M::GET, &messages, Some(&key), None).await;
        if texts(&after) == texts(&before) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "B keeps nothing"
        );
        sleep(Duration::from_millis(20)).await;
    }

    // A reply through A: B reads it within the bound.
    let (status, _) = a
        .call(
            M::POST,
            &messages,
            Some(&key),
            Some(json!({"message": {"message": "Welcome!"}})),
        )
        .await;
    assert_eq!(status, 200);
    let started = Instant::now();
    loop {
        let (_, now) = b.call(M::GET, &messages, Some(&key), None).await;
        if texts(&now).first().map(String::as_str) == Some("Welcome!") {
            break;
        }
        assert!(
            started.elapsed() < BOUND,
            "B still answers {now} after {BOUND:?}"
        );
        sleep(Duration::from_millis(5)).await;
    }

    a.kill().await;
    b.kill().await;
    db.close().await;
}
