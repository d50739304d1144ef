//! `POST /api/v1/webhooks/test`: one signed test event, and what came back.

use std::time::Duration;

use axum::http::StatusCode;
use ota_inbox::{AppState, app};
use serde_json::{Value, json};

use super::receiver::{Receiver, Reply};
use super::scene;
use crate::support::{ADMIN_TOKEN, MAX_ATTACHMENT_BYTES, TestApp};

const SECRET: &str = "whsec_0123456789abcdef";

/// An app whose test call gives up after `timeout`.
async fn app_with_timeout(timeout: Duration) -> TestApp {
    let plain = TestApp::new().await;
    let state = AppState::new(plain.db.clone(), Some(ADMIN_TOKEN), MAX_ATTACHMENT_BYTES)
        .with_webhook_timeout(timeout);
    TestApp {
        router: app(state),
        db: plain.db,
    }
}

#[tokio::test]
async fn the_test_call_sends_a_signed_test_event_and_answers_what_came_back() {
    let app = app_with_timeout(Duration::from_millis(500)).await;
    let s = scene(&app).await;
    let receiver = Receiver::scripted(vec![
        Reply::Body(202, b"got it".to_vec()),
        Reply::Body(200, vec![b'x'; 200 * 1024]),
        Reply::Hang,
    ])
    .await;
    let webhook = json!({
        "callback_url": receiver.url("/hook?a=1"), "event_mask": "*", "property_id": s.property,
        "headers": {"X-Pms": "yes"}, "request_params": {"b": "2"}, "send_data": true,
        "signing_secret": SECRET
    });
    let answer = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({ "webhook": webhook }))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answer, json!({"status_code": 202, "body": "got it"}));
    let got = &receiver.received()[0];
    assert_eq!(got.path, "/hook");
    assert_eq!(got.query.as_deref(), Some("a=1&b=2"));
    assert_eq!(got.header("x-pms"), Some("yes"));
    assert!(got.header("x-ota-inbox-signature").is_some());
    assert!(got.header("x-ota-inbox-delivery").is_some());
    let body = got.json();
    assert_eq!(body["event"], "test");
    assert_eq!(body["property_id"], json!(s.property));
    assert_eq!(body["user_id"], json!(s.account.user_id));
    assert!(body["payload"].is_object());

    // A huge answer is cut at 64 KiB.
    let answer = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({ "webhook": webhook }))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answer["status_code"], 200);
    assert_eq!(answer["body"].as_str().unwrap().len(), 64 * 1024);

    // A callback that never answers: no status, and why.
    let answer = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({ "webhook": webhook }))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answer["status_code"], Value::Null);
    assert_eq!(answer["body"], Value::Null);
    assert!(
        answer["error"].as_str().unwrap().contains("timed out"),
        "{answer}"
    );
    // Nothing is recorded for a test call.
    let count: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn the_test_call_reports_a_callback_that_cannot_be_reached() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    // A port nothing listens on: bind one, then free it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let answer = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({"webhook": {"callback_url": format!("http://127.0.0.1:{port}/"), "property_id": null}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answer["status_code"], Value::Null);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("connection failed"),
        "{answer}"
    );
    // And the test call validates like a create.
    let details = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({"webhook": {"callback_url": "nope"}}))
        .send()
        .await
        .expect_error(422, "validation_error");
    assert_eq!(details, json!({"callback_url": ["is invalid"]}));
}

#[tokio::test]
async fn a_slow_callback_answers_its_timeout_even_past_the_request_time_limit() {
    let plain = TestApp::new().await;
    // The call may take 1.5 s; the server's own work on a request only 300 ms.
    let app = TestApp::over(plain.db.clone(), |state| {
        state
            .with_webhook_timeout(Duration::from_millis(1500))
            .with_limits(ota_inbox::http::deadline::Limits {
                request: Duration::from_millis(300),
                body_read: Duration::from_secs(5),
            })
    });
    let s = scene(&app).await;
    let receiver = Receiver::scripted(vec![Reply::Hang]).await;
    let answer = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({"webhook": {"callback_url": receiver.url("/slow")}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answer["status_code"], Value::Null);
    assert!(
        answer["error"].as_str().unwrap().contains("timed out"),
        "{answer}"
    );
}
