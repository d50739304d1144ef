//! Cross-origin access (`CORS_ALLOWED_ORIGINS`) and compressed answers.

use std::io::Read;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use ota_inbox::http::cors::AllowedOrigins;
use tower::ServiceExt;

use super::rate_limits::header;
use crate::support::TestApp;

const PMS: &str = "https://pms.example.com";

fn preflight(app: &TestApp, origin: &str) -> crate::support::Call {
    app.request(Method::OPTIONS, "/api/v1/message_threads")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "user-api-key,content-type",
        )
}

#[tokio::test]
async fn without_allowed_origins_there_is_no_cross_origin_access() {
    let app = TestApp::new().await;
    let response = preflight(&app, PMS).send().await;
    response.expect_error(405, "method_not_allowed");
    assert_eq!(header(&response, "access-control-allow-origin"), None);

    let account = app.user().await;
    let response = app
        .get("/api/v1/properties")
        .key(&account.key)
        .header("origin", PMS)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn an_allowed_origin_gets_its_preflight_and_its_answers() {
    let origins: AllowedOrigins = format!("{PMS}, http://localhost:3000").parse().unwrap();
    let app = TestApp::with_state(|state| state.with_cors(origins)).await;

    // The preflight is answered before authentication: it carries no key.
    let response = preflight(&app, PMS).send().await;
    assert!(response.status.is_success(), "{}", response.status);
    assert_eq!(
        header(&response, "access-control-allow-origin").unwrap(),
        PMS
    );
    let methods = header(&response, "access-control-allow-methods").unwrap();
    for method in ["GET", "POST", "PUT", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = header(&response, "access-control-allow-headers").unwrap();
    assert!(allowed.contains("user-api-key"), "{allowed}");
    assert!(allowed.contains("content-type"), "{allowed}");
    assert_eq!(header(&response, "access-control-max-age").unwrap(), "3600");
    assert_eq!(header(&response, "access-control-allow-credentials"), None);

    // Another origin is not allowed: no Allow-Origin, and the browser refuses.
    let other = preflight(&app, "https://evil.example.com").send().await;
    assert_eq!(header(&other, "access-control-allow-origin"), None);

    // The answers themselves, errors included, can be read by the page.
    let account = app.user().await;
    let ok = app
        .get("/api/v1/properties")
        .key(&account.key)
        .header("origin", PMS)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(header(&ok, "access-control-allow-origin").unwrap(), PMS);
    let exposed = header(&ok, "access-control-expose-headers").unwrap();
    assert!(exposed.contains("ratelimit-remaining"), "{exposed}");
    assert!(exposed.contains("retry-after"), "{exposed}");
    let refused = app
        .get("/api/v1/properties")
        .header("origin", "http://localhost:3000")
        .send()
        .await;
    refused.expect_error(401, "unauthorized");
    assert_eq!(
        header(&refused, "access-control-allow-origin").unwrap(),
        "http://localhost:3000"
    );
}

#[tokio::test]
async fn any_origin() {
    let app = TestApp::with_state(|state| state.with_cors(AllowedOrigins::Any)).await;
    let response = preflight(&app, "https://anyone.example.com").send().await;
    assert!(response.status.is_success(), "{}", response.status);
    assert_eq!(
        header(&response, "access-control-allow-origin").unwrap(),
        "*"
    );
}

/// A thread list long enough to be worth compressing.
async fn app_with_threads() -> (TestApp, String) {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    for i in 0..5 {
        let booking = app.booking(property, "BookingCom").await;
        app.guest_writes(
            booking,
            &format!("Hello number {i}, what time is check-in?"),
        )
        .await;
    }
    (app, account.key)
}

#[tokio::test]
async fn json_is_compressed_when_the_client_asks() {
    let (app, key) = app_with_threads().await;
    let plain = app
        .get("/api/v1/message_threads")
        .key(&key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(header(&plain, "content-encoding"), None);
    assert!(plain.body.len() > 2000, "{}", plain.body.len());

    let gzip = app
        .get("/api/v1/message_threads")
        .key(&key)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(header(&gzip, "content-encoding").unwrap(), "gzip");
    assert!(header(&gzip, "vary").unwrap().contains("accept-encoding"));
    assert!(gzip.body.len() < plain.body.len() / 2);
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&gzip.body[..])
        .read_to_end(&mut text)
        .unwrap();
    assert_eq!(text, plain.body);

    let br = app
        .get("/api/v1/message_threads")
        .key(&key)
        .header("accept-encoding", "br;q=1.0, gzip;q=0.5")
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(header(&br, "content-encoding").unwrap(), "br");
    let mut text = Vec::new();
    brotli::Decompressor::new(&br.body[..], 4096)
        .read_to_end(&mut text)
        .unwrap();
    assert_eq!(text, plain.body);

    // A small answer is not worth it.
    let small = app
        .get("/api/v1/properties/not-an-id")
        .key(&key)
        .header("accept-encoding", "gzip")
        .send()
        .await;
    assert_eq!(header(&small, "content-encoding"), None);
}

#[tokio::test]
async fn event_streams_are_never_compressed() {
    let live = crate::live::Live::new().await;
    let scene = crate::live::scene(&live).await;
    let key = scene.account.key;
    let app = &live.app;
    let request = Request::get("/api/v1/events/stream")
        .header("user-api-key", &key)
        .header("accept-encoding", "gzip, br")
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert!(response.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn attachments_go_out_as_stored_even_when_their_type_compresses() {
    let app = TestApp::new().await;
    let account = app.user().await;
    app.property(&account, true).await;
    let text = "Check-in is from 15:00. ".repeat(100);
    let id = app
        .post("/api/v1/attachments")
        .key(&account.key)
        .json(serde_json::json!({"attachment": {
            "file": crate::support::base64(text.as_bytes()),
            "file_name": "notes.txt", "file_type": "text/plain"
        }}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .id();
    let download = app
        .get(&format!("/api/v1/attachments/{id}"))
        .key(&account.key)
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(header(&download, "content-encoding"), None);
    assert_eq!(download.body, text.as_bytes());
}
