//! Webhook deliveries in `/metrics`: attempts by result and deliveries by outcome, counted by
//! the worker that makes them.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::receiver::{Receiver, Reply};
use super::{
    active, create_webhook, guest_writes, id_of, put, scene, settled, start_worker, test_config,
};
use crate::ops::metrics::{sample, scrape};
use crate::support::TestApp;

fn attempts(result: &str) -> String {
    format!(r#"ota_inbox_webhook_attempts_total{{result="{result}"}}"#)
}

fn deliveries(outcome: &str) -> String {
    format!(r#"ota_inbox_webhook_deliveries_total{{outcome="{outcome}"}}"#)
}

#[tokio::test]
async fn attempts_and_deliveries_are_counted_by_their_outcome() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let before = scrape(&app).await;

    // A webhook deactivated before its delivery's attempt: the delivery is cancelled.
    let idle = Receiver::start().await;
    let webhook = create_webhook(&app, &s.account.key, active(&idle, json!(s.property))).await;
    guest_writes(&app, s.booking, "while it was active").await;
    let mut body = active(&idle, json!(s.property));
    body["is_active"] = Value::Bool(false);
    put(
        &app,
        &s.account.key,
        &format!("/api/v1/webhooks/{}", id_of(&webhook)),
        json!({ "webhook": body }),
    )
    .await
    .expect_status(StatusCode::OK);

    // Then one delivery that succeeds on its second attempt, one refused for good.
    let flaky = Receiver::scripted(vec![Reply::Status(500)]).await;
    let refusing = Receiver::scripted(vec![Reply::Status(404)]).await;
    let other = scene(&app).await;
    create_webhook(&app, &s.account.key, active(&flaky, json!(s.property))).await;
    create_webhook(
        &app,
        &other.account.key,
        active(&refusing, json!(other.property)),
    )
    .await;
    let worker = start_worker(&app.db, test_config());
    guest_writes(&app, s.booking, "retried, then delivered").await;
    guest_writes(&app, other.booking, "refused").await;
    let states = settled(&app.db).await;
    worker.shutdown().await;
    assert_eq!(
        states,
        vec![
            ("cancelled".to_owned(), 1),
            ("delivered".to_owned(), 1),
            ("failed".to_owned(), 1)
        ]
    );

    let after = scrape(&app).await;
    let grew = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(grew(&attempts("retry")) >= 1.0, "{after}");
    assert!(grew(&attempts("delivered")) >= 1.0);
    assert!(grew(&attempts("failed")) >= 1.0);
    assert!(grew(&deliveries("delivered")) >= 1.0);
    assert!(grew(&deliveries("failed")) >= 1.0);
    assert!(grew(&deliveries("cancelled")) >= 1.0);
    assert!(grew("ota_inbox_webhook_attempt_duration_seconds_count") >= 3.0);
}
