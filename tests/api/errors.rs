//! Every row of the error table (§4) reached through HTTP.

use axum::http::{Method, StatusCode};
use ota_inbox::{AppState, app};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

use crate::support::{ADMIN_TOKEN, MAX_ATTACHMENT_BYTES, TestApp};

#[tokio::test]
async fn a_body_that_is_not_json_or_not_an_object_is_a_400() {
    let app = TestApp::new().await;
    let account = app.user().await;
    for body in ["{", "[1]", "\"text\"", "", "{\"property\": }"] {
        let response = app
            .post("/api/v1/properties")
            .key(&account.key)
            .raw("application/json", body)
            .send()
            .await;
        let details = response.expect_error(400, "bad_request");
        assert!(details["body"].is_array(), "{body}: {details}");
    }
}

#[tokio::test]
async fn a_missing_key_is_a_401() {
    let app = TestApp::new().await;
    app.get("/api/v1/properties")
        .send()
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn unknown_routes_are_a_json_404() {
    let app = TestApp::new().await;
    for path in [
        "/nothing",
        "/api/v1/nothing",
        "/api/v2/message_threads",
        "/admin/nothing/here",
    ] {
        app.get(path).send().await.expect_error(404, "not_found");
    }
}

#[tokio::test]
async fn an_unknown_resource_is_a_404_with_the_documented_title() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let response = app
        .get("/api/v1/properties/5848b518-07a4-4c8c-a998-2784d638ba30")
        .key(&account.key)
        .send()
        .await;
    response.expect_error(404, "not_found");
    assert_eq!(response.json()["errors"]["title"], "Resouce Not Found");
}

#[tokio::test]
async fn a_known_path_with_a_wrong_method_is_a_405() {
    let app = TestApp::new().await;
    let account = app.user().await;
    app.request(Method::PUT, "/health")
        .send()
        .await
        .expect_error(405, "method_not_allowed");
    app.request(Method::PATCH, "/api/v1/properties")
        .key(&account.key)
        .send()
        .await
        .expect_error(405, "method_not_allowed");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_and_only_upload_routes_take_more() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let big = json!({"property": {"title": "x".repeat(1024 * 1024 + 10)}});
    app.post("/api/v1/properties")
        .key(&account.key)
        .json(big.clone())
        .send()
        .await
        .expect_error(413, "payload_too_large");

    // The guest-message route takes a body of the same size (its limit fits an attachment).
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    let attachment = base64_of(&vec![0xabu8; MAX_ATTACHMENT_BYTES]);
    let body = json!({"message": {"message": "x".repeat(9000), "attachments": [
        {"file": attachment, "file_name": "a.bin", "file_type": "application/octet-stream"}
    ]}});
    assert!(body.to_string().len() > MAX_ATTACHMENT_BYTES);
    app.admin(
        Method::POST,
        &format!("/admin/bookings/{booking}/guest_messages"),
    )
    .json(body)
    .send()
    .await
    .expect_status(StatusCode::CREATED);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = TestApp::new().await;
    let account = app.user().await;
    for content_type in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data",
    ] {
        app.post("/api/v1/properties")
            .key(&account.key)
            .raw(content_type, r#"{"property": {"title": "x"}}"#)
            .send()
            .await
            .expect_error(415, "unsupported_media_type");
    }
    // Both JSON media types are accepted.
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ] {
        app.post("/api/v1/properties")
            .key(&account.key)
            .raw(content_type, r#"{"property": {"title": "x"}}"#)
            .send()
            .await
            .expect_status(StatusCode::CREATED);
    }
}

#[tokio::test]
async fn an_ota_without_messaging_is_a_422_not_supported() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "Expedia").await;
    app.admin(
        Method::POST,
        &format!("/admin/bookings/{booking}/guest_messages"),
    )
    .json(json!({"message": {"message": "hi"}}))
    .send()
    .await
    .expect_error(422, "not_supported");
}

#[tokio::test]
async fn invalid_fields_are_a_422_with_details_per_field() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let details = app
        .post("/api/v1/properties")
        .key(&account.key)
        .json(json!({"property": {"title": "", "currency": "euro", "timezone": 5}}))
        .send()
        .await
        .expect_error(422, "validation_error");
    assert_eq!(
        details,
        json!({"title": ["can't be blank"], "currency": ["is too long"], "timezone": ["is invalid"]})
    );
}

#[tokio::test]
async fn malformed_path_ids_and_query_values_are_a_422_bad_request() {
    let app = TestApp::new().await;
    let account = app.user().await;
    for id in [
        "abc",
        "1",
        "5848b518-07a4-4c8c-a998-2784d638ba3",
        "%00",
        "5848b518-07a4-4c8c-a998-2784d638ba30x",
    ] {
        let details = app
            .get(&format!("/api/v1/properties/{id}"))
            .key(&account.key)
            .send()
            .await
            .expect_error(422, "bad_request");
        assert_eq!(details, json!({"id": ["is invalid"]}), "{id}");
    }
    for query in [
        "pagination[page]=0",
        "pagination[limit]=-1",
        "pagination[page]=x",
    ] {
        let details = app
            .get(&format!("/api/v1/properties?{query}"))
            .key(&account.key)
            .send()
            .await
            .expect_error(422, "bad_request");
        let name = query.split('=').next().unwrap();
        assert!(details.get(name).is_some(), "{query}: {details}");
    }
}

/// An application whose database cannot be reached.
fn app_without_database() -> axum::Router {
    let pool = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy("postgres://nobody:nothing@127.0.0.1:1/none")
        .unwrap();
    app(AppState::new(pool, Some(ADMIN_TOKEN), MAX_ATTACHMENT_BYTES))
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after() {
    let router = app_without_database();
    for (path, auth) in [
        ("/ready", None),
        ("/api/v1/properties", Some(("user-api-key", "oik_whatever"))),
        (
            "/admin/outbox",
            Some(("authorization", "Bearer test-admin-token")),
        ),
    ] {
        let mut request = axum::http::Request::get(path);
        if let Some((name, value)) = auth {
            request = request.header(name, value);
        }
        let response = tower::ServiceExt::oneshot(
            router.clone(),
            request.body(axum::body::Body::empty()).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(response.headers()["retry-after"], "5", "{path}");
    }
}

#[tokio::test]
async fn health_answers_without_a_database() {
    let router = app_without_database();
    let response = tower::ServiceExt::oneshot(
        router,
        axum::http::Request::get("/health")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn ready_answers_when_the_database_does() {
    let app = TestApp::new().await;
    app.get("/ready").send().await.expect_status(StatusCode::OK);
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::new().await;
    let response = app.get("/health").send().await;
    assert!(response.headers.get("x-request-id").is_some());
    let response = app
        .get("/health")
        .header("x-request-id", "trace-me")
        .send()
        .await;
    assert_eq!(response.headers["x-request-id"], "trace-me");
}

#[tokio::test]
async fn a_key_over_its_rate_limit_gets_a_429_with_retry_after() {
    let test_app = TestApp::new().await;
    let account = test_app.user().await;
    let limited = app(
        AppState::new(test_app.db.clone(), Some(ADMIN_TOKEN), MAX_ATTACHMENT_BYTES)
            .with_rate_limit(3),
    );
    let call = |key: String| {
        let router = limited.clone();
        async move {
            let request = axum::http::Request::get("/api/v1/properties")
                .header("user-api-key", key)
                .body(axum::body::Body::empty())
                .unwrap();
            tower::ServiceExt::oneshot(router, request).await.unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(call(account.key.clone()).await.status(), StatusCode::OK);
    }
    let refused = call(account.key.clone()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    // Another key of another user is counted apart.
    let other = test_app.user().await;
    assert_eq!(call(other.key).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_failing_statement_is_a_500_that_shows_nothing_of_its_cause() {
    let app = TestApp::new().await;
    // Break the store under the server's feet: the next read of the outbox fails.
    sqlx::query("alter table ota_outbox rename to ota_outbox_gone")
        .execute(&app.db)
        .await
        .unwrap();
    let response = app.admin(Method::GET, "/admin/outbox").send().await;
    let details = response.expect_error(500, "internal_server_error");
    assert_eq!(details, serde_json::Value::Null);
    let body = String::from_utf8_lossy(&response.body);
    assert!(!body.contains("ota_outbox"), "{body}");
    assert_eq!(response.json()["errors"]["title"], "Internal Server Error");
}
