//! `POST /api/v1/auth/one_time_token` (§12).

use axum::http::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{chat_session, scene};
use crate::support::TestApp;

#[tokio::test]
async fn a_user_key_gets_the_documented_one_time_token() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let group = uuid::Uuid::new_v4();
    let response = app
        .post("/api/v1/auth/one_time_token")
        .key(&s.account.key)
        .json(json!({"one_time_token": {
            "property_id": s.property, "group_id": group, "username": "Front desk"
        }}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    let body = response.json();
    assert_eq!(
        body["meta"],
        json!({"message": "You are successfully received one-time token! Use it for exchange to JWT"})
    );
    let token = body["data"]["token"].as_str().unwrap();
    assert_eq!(body["data"].as_object().unwrap().len(), 1, "{body}");
    assert!(token.len() >= 40, "{token}");

    // Stored as its hash only, valid for 15 minutes, with what it was minted for.
    let hash: Vec<u8> = Sha256::digest(token.as_bytes()).to_vec();
    let (stored_group, username, minutes): (Option<uuid::Uuid>, String, f64) = sqlx::query_as(
        r#"select group_id, username,
             (extract(epoch from (expires_at - inserted_at)) / 60)::float8
           from one_time_tokens where token_hash = $1"#,
    )
    .bind(&hash)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (stored_group, username.as_str()),
        (Some(group), "Front desk")
    );
    assert!((minutes - 15.0).abs() < 0.1, "{minutes}");
    let plaintext = app
        .count_with(
            "select count(*) from one_time_tokens t where t::text like '%' || $1 || '%'",
            token,
        )
        .await;
    assert_eq!(plaintext, 0);

    // Every token is new.
    let again = super::one_time_token(&app, &s.account.key, s.property, "Front desk").await;
    assert_ne!(again, token);
}

#[tokio::test]
async fn the_property_must_be_visible_to_the_key_and_have_the_messages_app() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let other = app.user().await;
    let others_property = app.property(&other, true).await;
    let without_app = app.property(&s.account, false).await;
    let second = app.property(&s.account, true).await;
    let limited = app.key_for(s.account.user_id, Some(vec![second])).await;
    let unknown = uuid::Uuid::new_v4();
    for (key, property, status, code) in [
        (&s.account.key, others_property, 401, "unauthorized"),
        (&s.account.key, unknown, 401, "unauthorized"),
        (&limited, s.property, 401, "unauthorized"),
        (&s.account.key, without_app, 403, "forbidden"),
    ] {
        app.post("/api/v1/auth/one_time_token")
            .key(key)
            .json(json!({"one_time_token": {"property_id": property, "username": "x"}}))
            .send()
            .await
            .expect_error(status, code);
    }
    // Gates come before the rest of the body.
    app.post("/api/v1/auth/one_time_token")
        .key(&s.account.key)
        .json(json!({"one_time_token": {"property_id": without_app}}))
        .send()
        .await
        .expect_error(403, "forbidden");
    app.post("/api/v1/auth/one_time_token")
        .json(json!({"one_time_token": {"property_id": s.property, "username": "x"}}))
        .send()
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(app.count("select count(*) from one_time_tokens").await, 0);
}

#[tokio::test]
async fn bad_bodies_are_named_field_by_field() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    for (body, details) in [
        (json!({}), json!({"one_time_token": ["can't be blank"]})),
        (
            json!({"one_time_token": {}}),
            json!({"property_id": ["can't be blank"], "username": ["can't be blank"]}),
        ),
        (
            json!({"one_time_token": {"property_id": "nope", "username": "x"}}),
            json!({"property_id": ["is invalid"]}),
        ),
        (
            json!({"one_time_token": {"property_id": s.property, "username": "  "}}),
            json!({"username": ["can't be blank"]}),
        ),
        (
            json!({"one_time_token": {"property_id": s.property, "username": "x", "group_id": 5}}),
            json!({"group_id": ["is invalid"]}),
        ),
        (
            json!({"one_time_token": {"property_id": s.property, "username": "x".repeat(256)}}),
            json!({"username": ["is too long"]}),
        ),
    ] {
        let got = app
            .post("/api/v1/auth/one_time_token")
            .key(&s.account.key)
            .json(body.clone())
            .send()
            .await
            .expect_error(422, "validation_error");
        assert_eq!(got, details, "{body}");
    }
    app.post("/api/v1/auth/one_time_token")
        .key(&s.account.key)
        .raw("application/json", "{nope")
        .send()
        .await
        .expect_error(400, "bad_request");
    assert_eq!(app.count("select count(*) from one_time_tokens").await, 0);
}

#[tokio::test]
async fn a_chat_session_cannot_mint_tokens() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let session = chat_session(&app, &s.account.key, s.property).await;
    app.post("/api/v1/auth/one_time_token")
        .bearer(&session)
        .json(json!({"one_time_token": {"property_id": s.property, "username": "x"}}))
        .send()
        .await
        .expect_error(401, "unauthorized");
}
