//! Retries: what is tried again, when, and what ends a delivery.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::receiver::{Receiver, Reply};
use super::{
    active, attempts, create_webhook, guest_writes, id_of, put, scene, settled, start_worker,
    test_config,
};
use crate::support::TestApp;

#[tokio::test]
async fn a_5xx_twice_then_200_is_delivered_once_after_three_attempts() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::scripted(vec![Reply::Status(500), Reply::Status(503)]).await;
    let worker = start_worker(&app.db, test_config());
    let webhook =
        id_of(&create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await);
    guest_writes(&app, s.booking, "Hi").await;
    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 1)]);

    let got = receiver.received();
    assert_eq!(got.len(), 3);
    let ids: HashSet<&str> = got
        .iter()
        .map(|r| r.header("x-ota-inbox-delivery").unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "every attempt carries the delivery's id");
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "the same body each time"
    );

    let log = attempts(&app, &s.account.key, webhook).await;
    let summary: Vec<(Value, Value, Value, bool)> = log
        .iter()
        .map(|a| {
            let a = &a["attributes"];
            (
                a["attempt"].clone(),
                a["status_code"].clone(),
                a["result"].clone(),
                a["next_attempt_at"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!(1), json!(500), json!("retry"), true),
            (json!(2), json!(503), json!("retry"), true),
            (json!(3), json!(200), json!("delivered"), false),
        ]
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_4xx_ends_the_delivery_without_retries() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::scripted(vec![Reply::Status(410)]).await;
    let worker = start_worker(&app.db, test_config());
    let webhook =
        id_of(&create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await);
    guest_writes(&app, s.booking, "Hi").await;
    // Failed is final: the worker never takes the delivery again.
    assert_eq!(settled(&app.db).await, vec![("failed".to_owned(), 1)]);
    assert_eq!(receiver.received().len(), 1);
    let log = attempts(&app, &s.account.key, webhook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["attributes"]["status_code"], 410);
    assert_eq!(log[0]["attributes"]["result"], "failed");
    assert_eq!(log[0]["attributes"]["next_attempt_at"], Value::Null);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_receiver_that_hangs_times_out_and_is_retried_until_the_schedule_ends() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::scripted(vec![Reply::Hang; 10]).await;
    let mut config = test_config();
    config.schedule = vec![Duration::from_millis(50); 2];
    let worker = start_worker(&app.db, config);
    let webhook =
        id_of(&create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await);
    guest_writes(&app, s.booking, "Hi").await;
    // One attempt and two retries, all timed out: the delivery has failed.
    assert_eq!(settled(&app.db).await, vec![("failed".to_owned(), 1)]);
    assert_eq!(receiver.received().len(), 3);
    let log = attempts(&app, &s.account.key, webhook).await;
    let results: Vec<&str> = log
        .iter()
        .map(|a| a["attributes"]["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["retry", "retry", "failed"]);
    for a in &log {
        let a = &a["attributes"];
        assert_eq!(a["status_code"], Value::Null);
        assert!(a["error"].as_str().unwrap().contains("timed out"), "{a}");
        assert!(a["duration_ms"].as_i64().unwrap() >= 250, "{a}");
    }
    worker.shutdown().await;
}

#[tokio::test]
async fn a_callback_that_refuses_connections_is_retried() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let worker = start_worker(&app.db, test_config());
    let webhook = id_of(
        &create_webhook(
            &app,
            &s.account.key,
            json!({"callback_url": format!("http://127.0.0.1:{port}/"), "event_mask": "*",
                   "property_id": s.property, "is_active": true}),
        )
        .await,
    );
    guest_writes(&app, s.booking, "Hi").await;
    assert_eq!(settled(&app.db).await, vec![("failed".to_owned(), 1)]);
    let log = attempts(&app, &s.account.key, webhook).await;
    assert_eq!(log.len(), 4, "one attempt and three retries");
    assert!(
        log[0]["attributes"]["error"]
            .as_str()
            .unwrap()
            .starts_with("connection failed")
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_slow_callback_does_not_hold_up_other_webhooks() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let other_property = app.property(&s.account, true).await;
    let other_booking = app.booking(other_property, "BookingCom").await;
    let slow = Receiver::scripted(vec![Reply::Hang; 100]).await;
    let fast = Receiver::start().await;
    let mut config = test_config();
    // Without a per-webhook limit, the slow callback would hold all four slots for a minute.
    config.timeout = Duration::from_secs(60);
    config.concurrency = 4;
    config.per_webhook = 1;
    config.lease = Duration::from_secs(120);
    let worker = start_worker(&app.db, config);
    create_webhook(&app, &s.account.key, active(&slow, json!(s.property))).await;
    create_webhook(&app, &s.account.key, active(&fast, json!(other_property))).await;
    for i in 0..10 {
        guest_writes(&app, s.booking, &format!("slow {i}")).await;
    }
    slow.wait_for(1).await;
    for i in 0..10 {
        guest_writes(&app, other_booking, &format!("fast {i}")).await;
    }
    fast.wait_for(10).await;
    // The API answers meanwhile.
    app.get("/api/v1/webhooks")
        .key(&s.account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        slow.received().len(),
        1,
        "one attempt at a time for the slow one"
    );
    worker.kill().await;
}

#[tokio::test]
async fn inactive_and_deactivated_webhooks_get_nothing() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::scripted(vec![Reply::Status(500)]).await;
    let mut config = test_config();
    config.schedule = vec![Duration::from_millis(500)];
    let worker = start_worker(&app.db, config);
    let mut inactive = active(&receiver, json!(s.property));
    inactive["is_active"] = json!(false);
    create_webhook(&app, &s.account.key, inactive).await;
    let webhook =
        id_of(&create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await);
    guest_writes(&app, s.booking, "Hi").await;
    receiver.wait_for(1).await;
    // Deactivated while a retry waits: the retry is dropped.
    put(
        &app,
        &s.account.key,
        &format!("/api/v1/webhooks/{webhook}"),
        json!({"webhook": {"is_active": false}}),
    )
    .await
    .expect_status(StatusCode::OK);
    assert_eq!(settled(&app.db).await, vec![("cancelled".to_owned(), 1)]);
    assert_eq!(receiver.received().len(), 1);
    worker.shutdown().await;
}
