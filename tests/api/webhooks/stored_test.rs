//! `POST /api/v1/webhooks/{id}/test`: a stored webhook tested, with overrides, and logged
//! among its deliveries with `is_test: true`.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::raw::{RawReceiver, RawReply, answer};
use super::receiver::Receiver;
use super::{
    active, attempts, create_webhook, guest_writes, id_of, scene, settled, start_worker,
    test_config,
};
use crate::support::TestApp;

const SECRET: &str = "whsec_0123456789abcdef";

async fn test_call(app: &TestApp, key: &str, webhook: Uuid, body: Option<Value>) -> Value {
    let mut call = app
        .post(&format!("/api/v1/webhooks/{webhook}/test"))
        .key(key);
    if let Some(body) = body {
        call = call.json(body);
    }
    call.send().await.expect_status(StatusCode::OK).json()
}

#[tokio::test]
async fn a_stored_webhook_is_tested_as_stored_and_the_attempt_is_logged_as_a_test() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = RawReceiver::start(vec![RawReply::KeepOpen(answer(201, "noted"))]).await;
    // Inactive: a test call is sent all the same.
    let webhook = id_of(
        &create_webhook(
            &app,
            &s.account.key,
            json!({"callback_url": receiver.url("/hook?a=1"), "event_mask": "message",
                   "property_id": s.property, "send_data": true, "headers": {"X-Api-KEY": "k"},
                   "request_params": {"b": "2"}, "signing_secret": SECRET}),
        )
        .await,
    );
    // No body at all.
    let answer = test_call(&app, &s.account.key, webhook, None).await;
    assert_eq!(answer, json!({"status_code": 201, "body": "noted"}));
    let request = &receiver.wait_for(1).await[0];
    assert_eq!(request.request_line(), "POST /hook?a=1&b=2 HTTP/1.1");
    let lines = request.header_lines();
    assert!(lines.contains(&"X-Api-KEY: k"), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("X-Ota-Inbox-Signature: t="))
    );
    let delivery = lines
        .iter()
        .find_map(|l| l.strip_prefix("X-Ota-Inbox-Delivery: "))
        .unwrap()
        .to_owned();
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["event"], "test");
    assert_eq!(body["property_id"], json!(s.property));
    assert_eq!(body["payload"]["event_mask"], "message");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    let log = attempts(&app, &s.account.key, webhook).await;
    assert_eq!(log.len(), 1);
    let a = &log[0]["attributes"];
    assert_eq!(a["is_test"], true);
    assert_eq!(a["event"], "test");
    assert_eq!(a["event_id"], Value::Null);
    assert_eq!(a["delivery_id"], json!(delivery));
    assert_eq!(a["status_code"], 201);
    assert_eq!(a["result"], "delivered");
    assert_eq!(a["next_attempt_at"], Value::Null);
    // Nothing else was made: no event, no delivery.
    assert_eq!(app.count("select count(*) from events").await, 0);
    assert_eq!(
        app.count("select count(*) from webhook_deliveries").await,
        0
    );
}

#[tokio::test]
async fn the_body_may_override_the_url_headers_and_params_and_nothing_else() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let stored = Receiver::start().await;
    let elsewhere = RawReceiver::start(vec![RawReply::KeepOpen(answer(500, "down"))]).await;
    let webhook = id_of(
        &create_webhook(
            &app,
            &s.account.key,
            json!({"callback_url": stored.url("/hook"), "event_mask": "*", "property_id": s.property,
                   "headers": {"X-Stored": "1"}, "request_params": {"stored": "1"}}),
        )
        .await,
    );
    let answer = test_call(
        &app,
        &s.account.key,
        webhook,
        Some(json!({"webhook": {
            "callback_url": elsewhere.url("/other"), "headers": {"X-Override-CASE": "2"},
            "request_params": {"over": "2"}, "event_mask": "ignored;names", "send_data": "ignored"
        }})),
    )
    .await;
    assert_eq!(answer, json!({"status_code": 500, "body": "down"}));
    assert!(stored.received().is_empty());
    let request = &elsewhere.wait_for(1).await[0];
    assert_eq!(request.request_line(), "POST /other?over=2 HTTP/1.1");
    assert!(request.header_lines().contains(&"X-Override-CASE: 2"));
    assert!(!request.head.contains("X-Stored"));
    // send_data is the stored one (false): no payload.
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert!(body.get("payload").is_none(), "{body}");
    // The stored webhook is unchanged.
    let shown = app
        .get(&format!("/api/v1/webhooks/{webhook}"))
        .key(&s.account.key)
        .send()
        .await
        .json();
    assert_eq!(
        shown["data"]["attributes"]["callback_url"],
        stored.url("/hook")
    );
    // A failed test is logged as failed, and never retried.
    let log = attempts(&app, &s.account.key, webhook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["attributes"]["result"], "failed");
    assert_eq!(log[0]["attributes"]["status_code"], 500);

    // Bad overrides are a 422 naming the field; nothing is sent or logged.
    for (body, details) in [
        (
            json!({"webhook": {"callback_url": "ftp://x/"}}),
            json!({"callback_url": ["is invalid"]}),
        ),
        (
            json!({"webhook": {"headers": {"Host": "evil"}}}),
            json!({"headers": ["is invalid"]}),
        ),
        (json!({"webhook": 5}), json!({"webhook": ["is invalid"]})),
    ] {
        let got = app
            .post(&format!("/api/v1/webhooks/{webhook}/test"))
            .key(&s.account.key)
            .json(body)
            .send()
            .await
            .expect_error(422, "validation_error");
        assert_eq!(got, details);
    }
    assert_eq!(elsewhere.requests().len(), 1);
    assert_eq!(attempts(&app, &s.account.key, webhook).await.len(), 1);
}

#[tokio::test]
async fn deliveries_say_is_test_false_beside_test_calls() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    let worker = start_worker(&app.db, test_config());
    let webhook =
        id_of(&create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await);
    guest_writes(&app, s.booking, "Hello").await;
    settled(&app.db).await;
    test_call(&app, &s.account.key, webhook, Some(json!({}))).await;
    let log = attempts(&app, &s.account.key, webhook).await;
    let kinds: Vec<(Value, Value)> = log
        .iter()
        .map(|a| {
            (
                a["attributes"]["event"].clone(),
                a["attributes"]["is_test"].clone(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (json!("message"), json!(false)),
            (json!("test"), json!(true))
        ]
    );
    assert!(log[0]["attributes"]["event_id"].is_string());
    worker.shutdown().await;
}

#[tokio::test]
async fn a_stored_webhook_test_goes_through_the_usual_gates() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let webhook = id_of(
        &create_webhook(
            &app,
            &s.account.key,
            json!({"callback_url": "http://127.0.0.1:9/", "event_mask": "*", "property_id": s.property}),
        )
        .await,
    );
    let path = format!("/api/v1/webhooks/{webhook}/test");
    app.post(&path)
        .send()
        .await
        .expect_error(401, "unauthorized");
    app.post("/api/v1/webhooks/nope/test")
        .key(&s.account.key)
        .send()
        .await
        .expect_error(422, "bad_request");
    app.post(&format!("/api/v1/webhooks/{}/test", Uuid::new_v4()))
        .key(&s.account.key)
        .send()
        .await
        .expect_error(404, "not_found");
    let stranger = app.user().await;
    app.post(&path)
        .key(&stranger.key)
        .send()
        .await
        .expect_error(401, "unauthorized");
    app.request(Method::GET, &path)
        .key(&s.account.key)
        .send()
        .await
        .expect_error(405, "method_not_allowed");
    // The property loses the Messages app: 403.
    sqlx::query("delete from application_installations")
        .execute(&app.db)
        .await
        .unwrap();
    app.post(&path)
        .key(&s.account.key)
        .send()
        .await
        .expect_error(403, "forbidden");
    assert_eq!(app.count("select count(*) from webhook_attempts").await, 0);
}

#[tokio::test]
async fn old_test_calls_are_pruned() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = RawReceiver::start(vec![]).await;
    let webhook = id_of(
        &create_webhook(
            &app,
            &s.account.key,
            json!({"callback_url": receiver.url("/"), "event_mask": "*", "property_id": s.property}),
        )
        .await,
    );
    test_call(&app, &s.account.key, webhook, None).await;
    test_call(&app, &s.account.key, webhook, None).await;
    sqlx::query(
        "update webhook_attempts set attempted_at = now() - interval '31 days'
         where id = (select id from webhook_attempts order by attempted_at limit 1)",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let deleted = ota_inbox::db::webhook_deliveries::prune(&app.db, 30 * 24 * 3600, 100)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(attempts(&app, &s.account.key, webhook).await.len(), 1);
}
