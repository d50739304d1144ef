//! `GET /metrics`: scraped after real traffic.
//!
//! The recorder is the process's, shared by every test: counters are compared before and after
//! (they only grow), and the tests that read gauges take turns ([`SCRAPES`]).

use axum::http::{Method, StatusCode};
use ota_inbox::{AppState, routes};
use serde_json::json;
use uuid::Uuid;

use crate::support::{ADMIN_TOKEN, TestApp};

/// One gauge-reading test at a time: a scrape sets the gauges from its own database.
pub static SCRAPES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The body of `GET /metrics`.
pub async fn scrape(app: &TestApp) -> String {
    let response = app
        .get("/metrics")
        .send()
        .await
        .expect_status(StatusCode::OK);
    let content_type = response.headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    String::from_utf8(response.body).unwrap()
}

/// The value of one series (`name{labels}` as rendered), 0 when absent.
pub fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn requests(method: &str, route: &str, status: u16) -> String {
    format!(
        r#"ota_inbox_http_requests_total{{method="{method}",route="{route}",status="{status}"}}"#
    )
}

#[tokio::test]
async fn a_scrape_after_traffic_counts_requests_by_route_template_method_and_status() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let shown = requests("GET", "/api/v1/properties/{id}", 200);
    let missing = requests("GET", "/api/v1/properties/{id}", 404);
    let unmatched = requests("GET", "unmatched", 404);
    let wrong_method = requests("DELETE", "/api/v1/properties/{id}", 405);
    let latency = r#"ota_inbox_http_request_duration_seconds_count{method="GET",route="/api/v1/properties/{id}",status="200"}"#;
    let before = scrape(&app).await;

    for _ in 0..3 {
        app.get(&format!("/api/v1/properties/{property}"))
            .key(&account.key)
            .send()
            .await
            .expect_status(StatusCode::OK);
    }
    let nowhere = Uuid::new_v4();
    app.get(&format!("/api/v1/properties/{nowhere}"))
        .key(&account.key)
        .send()
        .await
        .expect_error(404, "not_found");
    app.get(&format!("/no/such/route/{nowhere}"))
        .send()
        .await
        .expect_error(404, "not_found");
    app.delete(&format!("/api/v1/properties/{property}"))
        .key(&account.key)
        .send()
        .await
        .expect_error(405, "method_not_allowed");

    let after = scrape(&app).await;
    assert!(
        sample(&after, &shown) >= sample(&before, &shown) + 3.0,
        "{after}"
    );
    assert!(sample(&after, &missing) >= sample(&before, &missing) + 1.0);
    assert!(sample(&after, &unmatched) >= sample(&before, &unmatched) + 1.0);
    assert!(sample(&after, &wrong_method) >= sample(&before, &wrong_method) + 1.0);
    assert!(sample(&after, latency) >= sample(&before, latency) + 3.0);
    let bucket = r#"ota_inbox_http_request_duration_seconds_bucket{method="GET",route="/api/v1/properties/{id}",status="200",le="+Inf"}"#;
    assert!(
        sample(&after, bucket) >= 3.0,
        "no histogram buckets: {after}"
    );
    // Route templates only: never a raw path, an id or a key.
    for secret in [
        property.to_string(),
        nowhere.to_string(),
        account.key.clone(),
    ] {
        assert!(!after.contains(&secret), "{secret} in the metrics");
    }
}

#[tokio::test]
async fn the_pool_and_the_webhook_queue_are_read_when_scraped() {
    let _turn = SCRAPES.lock().await;
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    app.post("/api/v1/webhooks")
        .key(&account.key)
        .json(json!({"webhook": {
            "callback_url": "http://127.0.0.1:9/hook", "event_mask": "message",
            "property_id": property, "is_active": true
        }}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    let empty = scrape(&app).await;
    assert_eq!(sample(&empty, "ota_inbox_webhook_queue_depth"), 0.0);
    assert_eq!(
        sample(&empty, "ota_inbox_webhook_oldest_due_age_seconds"),
        0.0
    );

    // No worker runs here: the deliveries wait. One fell due 90 s ago, one waits for a retry.
    app.guest_writes(booking, "first").await;
    app.guest_writes(booking, "second").await;
    let ids: Vec<Uuid> =
        sqlx::query_scalar("select id from webhook_deliveries order by inserted_at")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(ids.len(), 2);
    for (id, offset) in ids.iter().zip(["-90 seconds", "1 hour"]) {
        sqlx::query(
            "update webhook_deliveries set next_attempt_at = now() + $2::interval where id = $1",
        )
        .bind(id)
        .bind(offset)
        .execute(&app.db)
        .await
        .unwrap();
    }

    let body = scrape(&app).await;
    assert_eq!(
        sample(&body, "ota_inbox_webhook_queue_depth"),
        2.0,
        "{body}"
    );
    assert_eq!(sample(&body, "ota_inbox_webhook_queue_due"), 1.0);
    let age = sample(&body, "ota_inbox_webhook_oldest_due_age_seconds");
    assert!((90.0..150.0).contains(&age), "oldest due age {age}");
    assert_eq!(sample(&body, "ota_inbox_database_up"), 1.0);
    // The test pool: at most 10 connections, one of them answering this scrape at least.
    assert_eq!(sample(&body, "ota_inbox_db_pool_max_connections"), 10.0);
    let in_use = sample(&body, r#"ota_inbox_db_pool_connections{state="in_use"}"#);
    let idle = sample(&body, r#"ota_inbox_db_pool_connections{state="idle"}"#);
    assert!(
        in_use + idle >= 1.0 && in_use + idle <= 10.0,
        "{in_use} + {idle}"
    );

    // Delivered, the queue is empty again.
    sqlx::query("update webhook_deliveries set state = 'delivered'")
        .execute(&app.db)
        .await
        .unwrap();
    let body = scrape(&app).await;
    assert_eq!(sample(&body, "ota_inbox_webhook_queue_depth"), 0.0);
    assert_eq!(sample(&body, "ota_inbox_webhook_queue_due"), 0.0);
}

#[tokio::test]
async fn a_scrape_with_the_database_away_says_so_and_still_answers() {
    let _turn = SCRAPES.lock().await;
    let app = TestApp::new().await;
    app.db.close().await;
    let body = scrape(&app).await;
    assert_eq!(sample(&body, "ota_inbox_database_up"), 0.0);
    assert!(body.contains("ota_inbox_webhook_queue_depth NaN"), "{body}");
}

#[tokio::test]
async fn a_metrics_token_guards_the_endpoint() {
    let app = TestApp::with_state(|state| state.with_metrics(Some("scrape-me-please"), true)).await;
    app.get("/metrics")
        .send()
        .await
        .expect_error(401, "unauthorized");
    app.get("/metrics")
        .bearer("not-the-token")
        .send()
        .await
        .expect_error(401, "unauthorized");
    // The admin token is not the metrics token.
    app.get("/metrics")
        .bearer(ADMIN_TOKEN)
        .send()
        .await
        .expect_error(401, "unauthorized");
    let response = app.get("/metrics").bearer("scrape-me-please").send().await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&response.body).contains("ota_inbox_http_requests_total"));
}

#[tokio::test]
async fn with_a_metrics_listener_the_main_router_has_no_metrics() {
    let app = TestApp::with_state(|state| state.with_metrics(None, false)).await;
    app.get("/metrics")
        .send()
        .await
        .expect_error(404, "not_found");
    let index = app.get("/").send().await.json();
    assert!(index["links"].get("metrics").is_none(), "{index}");

    // The METRICS_ADDR listener serves it, and nothing else.
    let state = AppState::new(app.db.clone(), Some(ADMIN_TOKEN), 1024);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, routes::metrics::router(state))
            .await
            .unwrap();
    });
    let client = reqwest::Client::new();
    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("ota_inbox_db_pool_max_connections")
    );
    let other = client
        .request(Method::GET, format!("http://{addr}/api/v1/properties"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let body: serde_json::Value = serde_json::from_str(&other.text().await.unwrap()).unwrap();
    assert_eq!(body["errors"]["code"], "not_found");
    server.abort();
}
