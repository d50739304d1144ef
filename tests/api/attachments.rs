//! Attachments (§7.4): byte-exact round trips, limits, names, headers and access.

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::support::{Account, MAX_ATTACHMENT_BYTES, TestApp};

async fn setup() -> (TestApp, Account, uuid::Uuid) {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    (app, account, property)
}

async fn upload(
    app: &TestApp,
    key: &str,
    file: &str,
    name: &str,
    kind: &str,
) -> crate::support::Response {
    app.post("/api/v1/attachments")
        .key(key)
        .json(json!({"attachment": {"file": file, "file_name": name, "file_type": kind}}))
        .send()
        .await
}

#[tokio::test]
async fn bytes_in_are_bytes_out_with_the_documented_headers() {
    let (app, account, property) = setup().await;
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0, 0xff, 0xff]).collect();
    let id = upload(
        &app,
        &account.key,
        &STANDARD.encode(&bytes),
        "Room 12 – plan (v2).png",
        "image/png",
    )
    .await
    .expect_status(StatusCode::OK)
    .id();
    let booking = app.booking(property, "BookingCom").await;
    let sent = app
        .post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&account.key)
        .json(json!({"message": {"attachment_id": id, "message": "the plan"}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    let url = sent["data"]["attributes"]["attachments"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        url,
        format!("attachments/{id}/Room%2012%20%E2%80%93%20plan%20%28v2%29.png")
    );
    for path in [
        format!("/api/v1/{url}"),
        format!("/api/v1/attachments/{id}"),
    ] {
        let download = app
            .get(&path)
            .key(&account.key)
            .send()
            .await
            .expect_status(StatusCode::OK);
        assert_eq!(download.body, bytes, "{path}");
        assert_eq!(download.headers["content-type"], "image/png");
        assert_eq!(download.headers["content-length"], bytes.len().to_string());
        assert_eq!(download.headers["x-content-type-options"], "nosniff");
        assert!(
            download.headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("inline; filename=")
        );
        let etag = download.headers["etag"].to_str().unwrap().to_owned();
        let cached = app
            .get(&path)
            .key(&account.key)
            .header("if-none-match", &etag)
            .send()
            .await;
        assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
        assert!(cached.body.is_empty());
    }
    app.get(&format!("/api/v1/attachments/{id}/other-name.png"))
        .key(&account.key)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn guest_attachments_download_as_attachments_for_non_images() {
    let (app, account, property) = setup().await;
    let booking = app.booking(property, "Airbnb").await;
    let message = app
        .admin(Method::POST, &format!("/admin/bookings/{booking}/guest_messages"))
        .json(json!({"message": {"attachments": [{"file": STANDARD.encode(b"<html>"), "file_name": "page.html", "file_type": "text/html"}]}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .json();
    assert_eq!(message["data"]["attributes"]["message"], "");
    let url = message["data"]["attributes"]["attachments"][0]
        .as_str()
        .unwrap();
    let download = app
        .get(&format!("/api/v1/{url}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(download.body, b"<html>");
    assert!(
        download.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
}

#[tokio::test]
async fn the_size_limit_is_on_the_decoded_file_and_the_body() {
    let (app, account, _) = setup().await;
    let exactly = STANDARD.encode(vec![1u8; MAX_ATTACHMENT_BYTES]);
    upload(
        &app,
        &account.key,
        &exactly,
        "max.bin",
        "application/octet-stream",
    )
    .await
    .expect_status(StatusCode::OK);
    let over = STANDARD.encode(vec![1u8; MAX_ATTACHMENT_BYTES + 1]);
    let details = upload(
        &app,
        &account.key,
        &over,
        "big.bin",
        "application/octet-stream",
    )
    .await
    .expect_error(422, "validation_error");
    assert_eq!(details, json!({"file": ["is too large"]}));
    let huge = "A".repeat(ota_inbox::routes::upload_body_limit(MAX_ATTACHMENT_BYTES) + 1);
    upload(
        &app,
        &account.key,
        &huge,
        "huge.bin",
        "application/octet-stream",
    )
    .await
    .expect_error(413, "payload_too_large");
}

#[tokio::test]
async fn bad_files_names_and_types_are_refused_and_nothing_is_stored() {
    let (app, account, _) = setup().await;
    for (file, name, kind, field, message) in [
        ("not base64!", "a.txt", "text/plain", "file", "is invalid"),
        ("", "a.txt", "text/plain", "file", "can't be blank"),
        (
            "aGk=",
            "../etc/passwd",
            "text/plain",
            "file_name",
            "is invalid",
        ),
        ("aGk=", "a\\b.txt", "text/plain", "file_name", "is invalid"),
        ("aGk=", "a\nb.txt", "text/plain", "file_name", "is invalid"),
        ("aGk=", "", "text/plain", "file_name", "can't be blank"),
        ("aGk=", "a.txt", "text", "file_type", "is invalid"),
        ("aGk=", "a.txt", "text/plain; x", "file_type", "is invalid"),
    ] {
        let details = upload(&app, &account.key, file, name, kind)
            .await
            .expect_error(422, "validation_error");
        assert_eq!(details, json!({field: [message]}), "{name:?} {kind:?}");
    }
    let long_name = format!("{}.txt", "n".repeat(252));
    let details = upload(&app, &account.key, "aGk=", &long_name, "text/plain")
        .await
        .expect_error(422, "validation_error");
    assert_eq!(details, json!({"file_name": ["is too long"]}));
    let stored: i64 = sqlx::query_scalar("select count(*) from attachments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn downloads_need_the_uploader_or_a_key_that_sees_the_thread() {
    let (app, account, property) = setup().await;
    let id = upload(&app, &account.key, "aGk=", "a.pdf", "application/pdf")
        .await
        .id();
    let stranger = app.user().await;
    app.property(&stranger, true).await;
    // Not yet in a message: only the uploader.
    app.get(&format!("/api/v1/attachments/{id}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    app.get(&format!("/api/v1/attachments/{id}"))
        .key(&stranger.key)
        .send()
        .await
        .expect_error(401, "unauthorized");
    let booking = app.booking(property, "BookingCom").await;
    app.post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&account.key)
        .json(json!({"message": {"attachment_id": id}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    app.get(&format!("/api/v1/attachments/{id}/a.pdf"))
        .key(&stranger.key)
        .send()
        .await
        .expect_error(401, "unauthorized");
    // Another key of the owner that sees the property can read it.
    let second = app.key_for(account.user_id, Some(vec![property])).await;
    app.get(&format!("/api/v1/attachments/{id}/a.pdf"))
        .key(&second)
        .send()
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn a_sent_attachment_follows_its_thread_not_its_uploader() {
    let (app, account, property) = setup().await;
    let other_property = app.property(&account, true).await;
    let uploader_key = app.key_for(account.user_id, Some(vec![property])).await;
    let other_key = app
        .key_for(account.user_id, Some(vec![other_property]))
        .await;
    let id = upload(&app, &uploader_key, "aGk=", "a.pdf", "application/pdf")
        .await
        .id();
    // Before it is sent, only the key that uploaded it may read it, not the user's other keys.
    app.get(&format!("/api/v1/attachments/{id}"))
        .key(&other_key)
        .send()
        .await
        .expect_error(401, "unauthorized");
    app.get(&format!("/api/v1/attachments/{id}"))
        .key(&uploader_key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    let booking = app.booking(property, "BookingCom").await;
    app.post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&uploader_key)
        .json(json!({"message": {"attachment_id": id}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    // Once in a thread, only keys that see that thread.
    app.get(&format!("/api/v1/attachments/{id}"))
        .key(&uploader_key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    app.get(&format!("/api/v1/attachments/{id}"))
        .key(&other_key)
        .send()
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn uploading_without_the_messages_app_is_a_403_before_the_body_is_read() {
    let app = TestApp::new().await;
    let account = app.user().await;
    app.property(&account, false).await;
    for (content_type, body) in [
        ("text/plain", "x"),
        ("application/json", "{"),
        ("application/json", "{}"),
    ] {
        app.post("/api/v1/attachments")
            .key(&account.key)
            .raw(content_type, body)
            .send()
            .await
            .expect_error(403, "forbidden");
    }
}

#[tokio::test]
async fn an_undecodable_file_name_is_a_404_and_an_undecodable_id_a_422() {
    let (app, account, _) = setup().await;
    let id = upload(&app, &account.key, "aGk=", "a.pdf", "application/pdf")
        .await
        .id();
    app.get(&format!("/api/v1/attachments/{id}/%FF"))
        .key(&account.key)
        .send()
        .await
        .expect_error(404, "not_found");
    let details = app
        .get("/api/v1/attachments/%FF/a.pdf")
        .key(&account.key)
        .send()
        .await
        .expect_error(422, "bad_request");
    assert_eq!(details, json!({"id": ["is invalid"]}));
}
