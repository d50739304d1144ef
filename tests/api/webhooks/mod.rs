//! Webhooks (§10): the collection through the router, deliveries to a real receiver.

mod client;
mod collection;
mod delivery;
mod gates;
mod hygiene;
mod masks;
mod metrics;
mod raw;
pub mod receiver;
mod retries;
mod stored_test;
mod test_call;
mod wire;
mod workers;

use std::future::Future;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use ota_inbox::webhooks::{Worker, WorkerConfig};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::time::Instant;
use uuid::Uuid;

use crate::support::{Account, TestApp};
use receiver::PATIENCE;

/// A worker tuned for tests: short timeout and retry delays.
pub fn test_config() -> WorkerConfig {
    WorkerConfig {
        timeout: Duration::from_millis(300),
        schedule: vec![Duration::from_millis(100); 3],
        concurrency: 8,
        per_webhook: 4,
        lease: Duration::from_secs(10),
        sweep_interval: Duration::from_secs(1),
        shutdown_grace: Duration::from_millis(300),
        db_writers: 4,
        retention: Duration::from_secs(3600),
    }
}

pub fn start_worker(db: &PgPool, config: WorkerConfig) -> Worker {
    Worker::spawn(db.clone(), config).expect("starting the worker")
}

/// An active webhook body with data: a property webhook, or a global one for `null`.
pub fn active(receiver: &receiver::Receiver, property: Value) -> Value {
    json!({
        "callback_url": receiver.url("/hook"), "event_mask": "*", "property_id": property,
        "is_global": property.is_null(), "is_active": true, "send_data": true
    })
}

/// A user, a property with the Messages app and a Booking.com booking on it.
pub struct Scene {
    pub account: Account,
    pub property: Uuid,
    pub booking: Uuid,
}

pub async fn scene(app: &TestApp) -> Scene {
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    Scene {
        account,
        property,
        booking,
    }
}

/// Creates a webhook and answers its `data`.
pub async fn create_webhook(app: &TestApp, key: &str, webhook: Value) -> Value {
    app.post("/api/v1/webhooks")
        .key(key)
        .json(json!({ "webhook": webhook }))
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .json()["data"]
        .clone()
}

pub fn id_of(data: &Value) -> Uuid {
    data["id"].as_str().unwrap().parse().unwrap()
}

/// The attempts of a webhook, oldest first, through the API.
pub async fn attempts(app: &TestApp, key: &str, webhook: Uuid) -> Vec<Value> {
    let body = app
        .get(&format!(
            "/api/v1/webhooks/{webhook}/deliveries?order[attempted_at]=asc&pagination[limit]=100"
        ))
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    body["data"].as_array().unwrap().clone()
}

/// Polls `check` until it answers `Some`; panics after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no delivery is pending, and answers the count of each final state.
pub async fn settled(db: &PgPool) -> Vec<(String, i64)> {
    eventually("every delivery to end", || async {
        let states: Vec<(String, i64)> = sqlx::query_as(
            "select state, count(*) from webhook_deliveries group by state order by state",
        )
        .fetch_all(db)
        .await
        .unwrap();
        (!states.iter().any(|(s, _)| s == "pending")).then_some(states)
    })
    .await
}

/// A guest message on the booking's thread, through the admin API; answers the message id.
pub async fn guest_writes(app: &TestApp, booking: Uuid, text: &str) -> Uuid {
    app.guest_writes(booking, text).await.id()
}

pub async fn put(app: &TestApp, key: &str, path: &str, body: Value) -> crate::support::Response {
    app.request(Method::PUT, path)
        .key(key)
        .json(body)
        .send()
        .await
}
