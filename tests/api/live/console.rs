//! The OTA console's server side: `/console`, the admin reads and `/admin/events/stream`.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use ota_inbox::{AppState, app};
use serde_json::{Value, json};

use super::{Live, SOON, open, quick, scene};
use crate::support::{ADMIN_TOKEN, MAX_ATTACHMENT_BYTES, TestApp, fresh_database};
use crate::webhooks::receiver::Receiver;
use crate::webhooks::{active, create_webhook, settled, start_worker, test_config};

async fn admin_list(app: &TestApp, path: &str) -> Value {
    app.admin(Method::GET, path)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json()
}

#[tokio::test]
async fn the_console_page_is_never_framed_and_is_off_with_the_admin_api() {
    let app = TestApp::new().await;
    let page = app
        .get("/console")
        .send()
        .await
        .expect_status(StatusCode::OK);
    let header = |name: &str| page.headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    assert!(header("content-security-policy").ends_with("frame-ancestors 'none'"));
    assert_eq!(header("x-frame-options"), "DENY");
    assert!(String::from_utf8(page.body).unwrap().contains("<html"));

    let (db, _) = fresh_database().await;
    let off = TestApp {
        router: app_without_admin(db.clone()),
        db,
    };
    let page = off.get("/console").send().await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        String::from_utf8(page.body)
            .unwrap()
            .contains("Page not found")
    );
}

fn app_without_admin(db: sqlx::PgPool) -> axum::Router {
    app(AppState::new(db, None, MAX_ATTACHMENT_BYTES))
}

#[tokio::test]
async fn the_admin_reads_list_every_users_data() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let other = app.user().await;
    let no_app = app.property(&other, false).await;
    app.guest_writes(s.booking, "Hi").await;
    let thread = app.thread_of(s.booking).await;
    app.post(&format!("/api/v1/message_threads/{thread}/messages"))
        .key(&s.account.key)
        .json(json!({"message": {"message": "Hello"}}))
        .send()
        .await
        .expect_status(StatusCode::OK);

    let users = admin_list(&app, "/admin/users").await;
    assert_eq!(users["meta"]["total"], 2);
    assert_eq!(users["data"][0]["id"], json!(s.account.user_id));
    assert_eq!(users["data"][0]["type"], "user");

    let properties = admin_list(&app, "/admin/properties").await;
    assert_eq!(properties["meta"]["total"], 2);
    let attributes = &properties["data"][1]["attributes"];
    assert_eq!(properties["data"][1]["id"], json!(no_app));
    assert_eq!(
        (&attributes["user_id"], &attributes["messages_app"]),
        (&json!(other.user_id), &json!(false))
    );
    let mine = admin_list(
        &app,
        &format!("/admin/properties?filter[user_id]={}", s.account.user_id),
    )
    .await;
    assert_eq!(mine["meta"]["total"], 1);
    assert_eq!(mine["data"][0]["attributes"]["messages_app"], true);

    let second = app.booking(s.property, "Airbnb").await;
    let bookings = admin_list(
        &app,
        &format!("/admin/bookings?filter[property_id]={}", s.property),
    )
    .await;
    assert_eq!(bookings["meta"]["total"], 2);
    assert_eq!(bookings["data"][0]["id"], json!(second), "newest first");
    assert_eq!(bookings["data"][1]["type"], "booking");
    let none = admin_list(
        &app,
        &format!("/admin/bookings?filter[property_id]={no_app}"),
    )
    .await;
    assert_eq!(none["meta"]["total"], 0);

    let threads = admin_list(&app, "/admin/message_threads").await;
    assert_eq!(threads["meta"]["total"], 1);
    assert_eq!(threads["data"][0]["id"], json!(thread));
    assert_eq!(threads["data"][0]["attributes"]["message_count"], 2);

    let messages = admin_list(
        &app,
        &format!("/admin/message_threads/{thread}/messages?order[inserted_at]=asc"),
    )
    .await;
    assert_eq!(messages["meta"]["total"], 2);
    let senders: Vec<&str> = messages["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["attributes"]["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, ["guest", "property"]);
}

#[tokio::test]
async fn admin_reads_need_the_token_and_well_formed_parameters() {
    let app = TestApp::new().await;
    for path in [
        "/admin/users",
        "/admin/properties",
        "/admin/bookings",
        "/admin/message_threads",
        "/admin/webhook_deliveries",
        "/admin/events/stream",
    ] {
        app.get(path).send().await.expect_error(401, "unauthorized");
        app.get(path)
            .bearer("wrong")
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
    for (path, name) in [
        (
            "/admin/bookings?filter[property_id]=x",
            "filter[property_id]",
        ),
        (
            "/admin/message_threads?pagination[page]=0",
            "pagination[page]",
        ),
        ("/admin/users?order[email]=asc", "order[email]"),
        (
            "/admin/webhook_deliveries?filter[webhook_id]=x",
            "filter[webhook_id]",
        ),
    ] {
        let details = app
            .admin(Method::GET, path)
            .send()
            .await
            .expect_error(422, "bad_request");
        assert!(details.get(name).is_some(), "{path}: {details}");
    }
    app.admin(Method::GET, "/admin/message_threads/nope/messages")
        .send()
        .await
        .expect_error(422, "bad_request");
    app.admin(
        Method::GET,
        &format!("/admin/message_threads/{}/messages", uuid::Uuid::new_v4()),
    )
    .send()
    .await
    .expect_error(404, "not_found");
}

#[tokio::test]
async fn webhook_deliveries_are_listed_newest_first_with_their_attempts() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    let webhook = create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await;
    let worker = start_worker(&app.db, test_config());
    app.guest_writes(s.booking, "first").await;
    app.guest_writes(s.booking, "second").await;
    settled(&app.db).await;
    worker.shutdown().await;

    let list = admin_list(
        &app,
        &format!(
            "/admin/webhook_deliveries?filter[webhook_id]={}",
            webhook["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(list["meta"]["total"], 2);
    let newest = &list["data"][0];
    assert_eq!(newest["type"], "webhook_delivery");
    let attributes = &newest["attributes"];
    assert_eq!(attributes["payload"]["message"], "second");
    assert_eq!(attributes["event"], "message");
    assert_eq!(attributes["state"], "delivered");
    assert_eq!(attributes["attempts"], 1);
    assert_eq!(attributes["next_attempt_at"], Value::Null);
    assert_eq!(attributes["callback_url"], receiver.url("/hook"));
    let log = attributes["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (
            &log[0]["attempt"],
            &log[0]["status_code"],
            &log[0]["result"]
        ),
        (&json!(1), &json!(200), &json!("delivered"))
    );
    crate::support::assert_timestamp(&log[0]["attempted_at"]);
    let elsewhere = admin_list(
        &app,
        &format!(
            "/admin/webhook_deliveries?filter[property_id]={}",
            uuid::Uuid::new_v4()
        ),
    )
    .await;
    assert_eq!(elsewhere["meta"]["total"], 0);
}

#[tokio::test]
async fn the_admin_stream_carries_every_event_and_the_consoles_hints() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let other = live.user().await;
    let no_app = live.property(&other, false).await;
    let no_app_booking = live.booking(no_app, "BookingCom").await;
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let mut sse = open(
        &live.router,
        "/admin/events/stream",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(sse.status, StatusCode::OK);

    live.guest_writes(no_app_booking, "no app, still seen by the admin")
        .await;
    let event = sse.event(SOON).await.unwrap();
    assert_eq!(event.event, "message");
    assert_eq!(event.data["property_id"], json!(no_app));
    let first_id = event.id.unwrap();

    live.guest_writes(s.booking, "Hi").await;
    let thread = live.thread_of(s.booking).await;
    live.post(&format!("/api/v1/message_threads/{thread}/messages"))
        .key(&s.account.key)
        .json(json!({"message": {"message": "Hello"}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    let mut names = Vec::new();
    let mut hints = Vec::new();
    while names.len() < 2 || hints.is_empty() {
        let event = sse.event(SOON).await.expect("more events");
        match event.id {
            Some(id) => {
                assert!(id > first_id);
                names.push(event.data["sender"].as_str().unwrap().to_owned());
            }
            None => {
                assert_eq!(event.data, json!({}));
                hints.push(event.event);
            }
        }
    }
    assert_eq!(names, ["guest", "property"]);
    assert_eq!(hints, ["outbox"]);

    // A webhook delivery is a hint too.
    let receiver = Receiver::start().await;
    create_webhook(&live, &s.account.key, active(&receiver, json!(s.property))).await;
    live.guest_writes(s.booking, "ping").await;
    let mut saw_delivery = false;
    while let Some(event) = sse.event(Duration::from_secs(2)).await {
        if event.id.is_none() && event.event == "webhook_delivery" {
            saw_delivery = true;
            break;
        }
    }
    assert!(saw_delivery);
}

#[tokio::test]
async fn after_a_lost_listen_connection_the_console_is_told_to_refetch() {
    let (db, options) = fresh_database().await;
    let live = Live::on(db, quick()).await;
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let mut sse = open(
        &live.router,
        "/admin/events/stream",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(sse.status, StatusCode::OK);
    let mut conn = crate::support::maintenance_connection().await;
    let ended: Vec<bool> = sqlx::query_scalar(
        r#"select pg_terminate_backend(pid) from pg_stat_activity
           where datname = $1 and query like 'LISTEN "ota_inbox_events"%'"#,
    )
    .bind(options.get_database().unwrap())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(ended, vec![true], "the hub's listening connection");
    // The outbox and the deliveries may have changed unheard: both hints come.
    let mut hints = Vec::new();
    while hints.len() < 2 {
        let event = sse.event(SOON).await.expect("a hint after the reconnect");
        assert_eq!(event.id, None, "{event:?}");
        hints.push(event.event);
    }
    hints.sort();
    assert_eq!(hints, ["outbox", "webhook_delivery"]);
    sqlx::Connection::close(conn).await.ok();
}
