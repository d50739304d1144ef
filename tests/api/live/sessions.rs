//! Chat sessions (§12): a Bearer credential scoped to one property, alive while used, dead with
//! the key that minted it; and the chat's `reopen`.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{chat_session, scene};
use crate::support::{TestApp, base64};

#[tokio::test]
async fn a_session_works_the_messages_api_of_its_property_only() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let other_property = app.property(&s.account, true).await;
    let other_booking = app.booking(other_property, "BookingCom").await;
    app.guest_writes(s.booking, "Hi").await;
    app.guest_writes(other_booking, "Elsewhere").await;
    let thread = app.thread_of(s.booking).await;
    let other_thread = app.thread_of(other_booking).await;
    let session = chat_session(&app, &s.account.key, s.property).await;

    let list = app
        .get("/api/v1/message_threads")
        .bearer(&session)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(list["meta"]["total"], 1);
    assert_eq!(list["data"][0]["id"], json!(thread));
    let filtered = app
        .get(&format!(
            "/api/v1/message_threads?filter[property_id]={}",
            s.property
        ))
        .bearer(&session)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(filtered["data"][0]["id"], json!(thread));
    app.get(&format!("/api/v1/message_threads/{other_thread}"))
        .bearer(&session)
        .send()
        .await
        .expect_error(401, "unauthorized");
    app.get(&format!(
        "/api/v1/message_threads?filter[property_id]={other_property}"
    ))
    .bearer(&session)
    .send()
    .await
    .expect_error(401, "unauthorized");
    app.get(&format!("/api/v1/bookings/{other_booking}"))
        .bearer(&session)
        .send()
        .await
        .expect_error(401, "unauthorized");
    app.get(&format!("/api/v1/bookings/{}", s.booking))
        .bearer(&session)
        .send()
        .await
        .expect_status(StatusCode::OK);

    // It writes as the token creator's user, with attachments, through `user-api-key` too.
    let upload = app
        .post("/api/v1/attachments")
        .key(&session)
        .json(json!({"attachment": {"file": base64(b"map"), "file_name": "map.txt", "file_type": "text/plain"}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .id();
    let sent = app
        .post(&format!("/api/v1/message_threads/{thread}/messages"))
        .bearer(&session)
        .json(json!({"message": {"message": "Here you go", "attachment_id": upload}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        sent["data"]["relationships"]["user"]["data"]["id"],
        json!(s.account.user_id)
    );
    let url = sent["data"]["attributes"]["attachments"][0]
        .as_str()
        .unwrap();
    let download = app
        .get(&format!("/api/v1/{url}"))
        .bearer(&session)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(download.body, b"map");
}

#[tokio::test]
async fn a_session_cannot_provision_or_manage_webhooks() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let session = chat_session(&app, &s.account.key, s.property).await;
    for (method, path, body) in [
        (Method::GET, "/api/v1/webhooks", None),
        (
            Method::POST,
            "/api/v1/webhooks",
            Some(
                json!({"webhook": {"callback_url": "http://127.0.0.1:1/h", "event_mask": "*", "property_id": s.property}}),
            ),
        ),
        (Method::GET, "/api/v1/applications/installed", None),
        (
            Method::POST,
            "/api/v1/applications/install",
            Some(
                json!({"application_installation": {"property_id": s.property, "application_code": "channex_messages"}}),
            ),
        ),
        (
            Method::POST,
            "/api/v1/properties",
            Some(json!({"property": {"title": "Mine now"}})),
        ),
    ] {
        let mut call = app.request(method.clone(), path).bearer(&session);
        if let Some(body) = body {
            call = call.json(body);
        }
        call.send().await.expect_error(401, "unauthorized");
    }
    assert_eq!(app.count("select count(*) from webhooks").await, 0);
    assert_eq!(app.count("select count(*) from properties").await, 1);
}

#[tokio::test]
async fn a_session_dies_with_its_key_or_when_left_unused() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let session = chat_session(&app, &s.account.key, s.property).await;
    let idle = chat_session(&app, &s.account.key, s.property).await;
    let list = |token: String| {
        let app = &app;
        async move {
            app.get("/api/v1/message_threads")
                .bearer(&token)
                .send()
                .await
        }
    };
    list(session.clone()).await.expect_status(StatusCode::OK);

    // Unused for longer than the idle limit (12 hours by default): gone.
    sqlx::query(
        "update chat_sessions set last_used_at = now() - interval '13 hours' where token_hash = $1",
    )
    .bind(Sha256::digest(idle.as_bytes()).to_vec())
    .execute(&app.db)
    .await
    .unwrap();
    list(idle).await.expect_error(401, "unauthorized");
    list(session.clone()).await.expect_status(StatusCode::OK);

    let key_id: Uuid = sqlx::query_scalar("select id from api_keys where user_id = $1")
        .bind(s.account.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    app.admin(Method::DELETE, &format!("/admin/api_keys/{key_id}"))
        .send()
        .await
        .expect_status(StatusCode::OK);
    list(session).await.expect_error(401, "unauthorized");
}

#[tokio::test]
async fn use_keeps_a_session_alive_touching_it_at_most_once_a_minute() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let session = chat_session(&app, &s.account.key, s.property).await;
    let idle_seconds = || async {
        sqlx::query_scalar::<_, f64>(
            "select extract(epoch from now() - last_used_at)::float8 from chat_sessions",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    let call = || async {
        app.get("/api/v1/message_threads")
            .bearer(&session)
            .send()
            .await
            .expect_status(StatusCode::OK);
    };

    sqlx::query("update chat_sessions set last_used_at = now() - interval '11 hours'")
        .execute(&app.db)
        .await
        .unwrap();
    call().await;
    assert!(idle_seconds().await < 5.0, "used: touched");

    sqlx::query("update chat_sessions set last_used_at = now() - interval '30 seconds'")
        .execute(&app.db)
        .await
        .unwrap();
    call().await;
    let idle = idle_seconds().await;
    assert!(
        (29.0..40.0).contains(&idle),
        "touched less than a minute ago: left alone ({idle})"
    );
}

#[tokio::test]
async fn reopen_opens_a_closed_thread_through_the_thread_gates() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    app.guest_writes(s.booking, "Hi").await;
    let thread = app.thread_of(s.booking).await;
    let session = chat_session(&app, &s.account.key, s.property).await;
    let post = |path: String, token: String| {
        let app = &app;
        async move { app.post(&path).bearer(&token).send().await }
    };

    let closed = post(
        format!("/api/v1/message_threads/{thread}/close"),
        session.clone(),
    )
    .await
    .expect_status(StatusCode::OK)
    .json();
    assert_eq!(closed["data"]["attributes"]["is_closed"], true);
    for _ in 0..2 {
        let reopened = post(
            format!("/api/v1/message_threads/{thread}/reopen"),
            session.clone(),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
        assert_eq!(reopened["data"]["id"], json!(thread));
        assert_eq!(reopened["data"]["attributes"]["is_closed"], false);
    }

    let stranger = app.user().await;
    post(
        format!("/api/v1/message_threads/{thread}/reopen"),
        stranger.key,
    )
    .await
    .expect_error(401, "unauthorized");
    post(
        format!("/api/v1/message_threads/{}/reopen", Uuid::new_v4()),
        session.clone(),
    )
    .await
    .expect_error(404, "not_found");
    post("/api/v1/message_threads/nope/reopen".to_owned(), session)
        .await
        .expect_error(422, "bad_request");
}
