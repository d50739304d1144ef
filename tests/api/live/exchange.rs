//! `GET /auth/exchange` (§12): the chat page with a fresh session, or an error page that opens
//! nothing.

use axum::http::{Method, StatusCode};
use ota_inbox::ui::csp::FrameAncestors;
use ota_inbox::{AppState, app};
use serde_json::json;
use uuid::Uuid;

use super::{boot_of, exchange_url, one_time_token, scene};
use crate::support::{ADMIN_TOKEN, MAX_ATTACHMENT_BYTES, Response, TestApp};

fn page(response: &Response) -> String {
    String::from_utf8(response.body.clone()).unwrap()
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers.get(name).map(|v| v.to_str().unwrap())
}

/// Asserts an error page: its status, HTML, its title, no session made.
#[track_caller]
fn assert_error_page(response: &Response, status: u16, title: &str) {
    assert_eq!(response.status.as_u16(), status, "{}", page(response));
    assert_eq!(
        header(response, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page(response);
    assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
    assert!(
        !html.contains("ota-boot") && !html.contains("ois_"),
        "{html}"
    );
    let csp = header(response, "content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors *"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

async fn sessions(app: &TestApp) -> i64 {
    app.count("select count(*) from chat_sessions").await
}

#[tokio::test]
async fn a_token_opens_the_chat_page_with_a_session_for_its_property() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let token = one_time_token(&app, &s.account.key, s.property, "Ana </script><b>").await;
    let response = app
        .get(&exchange_url(
            &token,
            s.property,
            "/messages",
            "&lng=es&messages_show_booking=true&hide_messages_attach_btn=true",
        ))
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        header(&response, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    assert_eq!(header(&response, "x-frame-options"), None);
    assert_eq!(header(&response, "referrer-policy"), Some("no-referrer"));
    let csp = header(&response, "content-security-policy").unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' blob: data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors *",
    ] {
        assert!(csp.contains(part), "{csp} lacks {part}");
    }

    let html = page(&response);
    // The username cannot close the boot element.
    assert!(!html.contains("</script><b>"), "{html}");
    let boot = boot_of(&html);
    let session = boot["session_token"].as_str().unwrap().to_owned();
    assert!(
        session.starts_with("ois_") && session.len() == 47,
        "{session}"
    );
    assert_eq!(
        boot,
        json!({
            "session_token": session, "api_base": "/api/v1", "property_id": s.property,
            "thread_id": null, "lng": "es", "show_booking": true, "hide_attach": true,
            "username": "Ana </script><b>"
        })
    );
    assert_eq!(sessions(&app).await, 1);
    let stored = app
        .count_with(
            "select count(*) from chat_sessions s where s::text like '%' || $1 || '%'",
            &session,
        )
        .await;
    assert_eq!(stored, 0, "only the session's hash is stored");

    // The session is a Bearer credential for this property's threads.
    app.guest_writes(s.booking, "Hola").await;
    let threads = app
        .get("/api/v1/message_threads")
        .bearer(&session)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(threads["meta"]["total"], 1, "{threads}");
}

#[tokio::test]
async fn redirect_to_a_thread_opens_that_thread() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    app.guest_writes(s.booking, "Hello").await;
    let thread = app.thread_of(s.booking).await;
    let token = one_time_token(&app, &s.account.key, s.property, "desk").await;
    let response = app
        .get(&exchange_url(
            &token,
            s.property,
            &format!("/messages/{thread}"),
            "",
        ))
        .send()
        .await
        .expect_status(StatusCode::OK);
    let boot = boot_of(&page(&response));
    assert_eq!(boot["thread_id"], json!(thread));
    assert_eq!(
        (
            boot["lng"].as_str(),
            boot["show_booking"].as_bool(),
            boot["hide_attach"].as_bool()
        ),
        (Some("en"), Some(false), Some(false))
    );
}

#[tokio::test]
async fn a_token_opens_the_chat_once() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let token = one_time_token(&app, &s.account.key, s.property, "desk").await;
    let url = exchange_url(&token, s.property, "/messages", "");
    // A link checker's HEAD spends nothing.
    let head = app.request(Method::HEAD, &url).send().await;
    assert_eq!(head.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(sessions(&app).await, 0);
    app.get(&url).send().await.expect_status(StatusCode::OK);
    let again = app.get(&url).send().await;
    assert_error_page(&again, 403, "This link has already been used");
    assert_eq!(sessions(&app).await, 1);
}

#[tokio::test]
async fn two_exchanges_of_one_token_at_once_open_one_chat() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let token = one_time_token(&app, &s.account.key, s.property, "desk").await;
    let url = exchange_url(&token, s.property, "/messages", "");
    let calls = (0..8).map(|_| app.get(&url).send());
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 403),
        "{statuses:?}"
    );
    assert_eq!(sessions(&app).await, 1);
}

#[tokio::test]
async fn expired_unknown_and_revoked_tokens_open_nothing() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let expired = one_time_token(&app, &s.account.key, s.property, "desk").await;
    sqlx::query("update one_time_tokens set expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    let response = app
        .get(&exchange_url(&expired, s.property, "/messages", ""))
        .send()
        .await;
    assert_error_page(&response, 403, "This link has expired");

    let response = app
        .get(&exchange_url("ott_made_up", s.property, "/messages", ""))
        .send()
        .await;
    assert_error_page(&response, 403, "This link is not valid");

    // A token dies with the key that minted it.
    let key_id: Uuid = sqlx::query_scalar("select id from api_keys where user_id = $1")
        .bind(s.account.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let token = one_time_token(&app, &s.account.key, s.property, "desk").await;
    app.admin(Method::DELETE, &format!("/admin/api_keys/{key_id}"))
        .send()
        .await
        .expect_status(StatusCode::OK);
    let response = app
        .get(&exchange_url(&token, s.property, "/messages", ""))
        .send()
        .await;
    assert_error_page(&response, 403, "This link is not valid");
    assert_eq!(sessions(&app).await, 0);
}

#[tokio::test]
async fn a_wrong_property_or_thread_or_a_malformed_link_leaves_the_token_unspent() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let other_property = app.property(&s.account, true).await;
    let other_booking = app.booking(other_property, "BookingCom").await;
    app.guest_writes(other_booking, "elsewhere").await;
    let other_thread = app.thread_of(other_booking).await;
    let token = one_time_token(&app, &s.account.key, s.property, "desk").await;

    let wrong_property = app
        .get(&exchange_url(&token, other_property, "/messages", ""))
        .send()
        .await;
    assert_error_page(&wrong_property, 403, "This link is not valid");
    let wrong_thread = app
        .get(&exchange_url(
            &token,
            s.property,
            &format!("/messages/{other_thread}"),
            "",
        ))
        .send()
        .await;
    assert_error_page(&wrong_thread, 404, "Conversation not found");
    for redirect in [
        "/inbox",
        "https://evil.example/messages",
        "/messages/42",
        "/messages/x/y",
    ] {
        let malformed = app
            .get(&exchange_url(&token, s.property, redirect, ""))
            .send()
            .await;
        assert_error_page(&malformed, 400, "This link is not valid");
    }
    let no_property = app
        .get(&format!(
            "/auth/exchange?oauth_session_key={token}&redirect_to=/messages"
        ))
        .send()
        .await;
    assert_error_page(&no_property, 400, "This link is not valid");
    assert_eq!(sessions(&app).await, 0);

    // Still good for its own property.
    app.get(&exchange_url(&token, s.property, "/messages", ""))
        .send()
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn error_pages_speak_the_asked_language() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    for (lng, lang, title) in [
        ("de", "de", "Dieser Link ist ungültig"),
        ("es-ES", "es", "Este enlace no es válido"),
        ("pt", "pt", "Este link não é válido"),
        ("it", "it", "Questo link non è valido"),
        ("fr", "fr", "Ce lien n&#39;est pas valide"),
        ("ja", "en", "This link is not valid"),
    ] {
        let response = app
            .get(&exchange_url(
                "ott_unknown",
                s.property,
                "/messages",
                &format!("&lng={lng}"),
            ))
            .send()
            .await;
        assert_error_page(&response, 403, title);
        assert!(
            page(&response).contains(&format!("<html lang=\"{lang}\">")),
            "{lng}"
        );
    }
}

#[tokio::test]
async fn the_chat_may_be_framed_only_by_the_allowed_origins() {
    let (db, _) = crate::support::fresh_database().await;
    let ancestors: FrameAncestors = "https://pms.example.com,https://*.example.org"
        .parse()
        .unwrap();
    let router = app(
        AppState::new(db.clone(), Some(ADMIN_TOKEN), MAX_ATTACHMENT_BYTES)
            .with_frame_ancestors(ancestors),
    );
    let app = TestApp { db, router };
    let s = scene(&app).await;
    let token = one_time_token(&app, &s.account.key, s.property, "desk").await;
    for response in [
        app.get(&exchange_url(&token, s.property, "/messages", ""))
            .send()
            .await
            .expect_status(StatusCode::OK),
        app.get(&exchange_url(&token, s.property, "/messages", ""))
            .send()
            .await,
    ] {
        let csp = header(&response, "content-security-policy").unwrap();
        assert!(
            csp.ends_with("frame-ancestors https://pms.example.com https://*.example.org"),
            "{csp}"
        );
    }
}

#[tokio::test]
async fn a_property_without_the_messages_app_opens_no_chat() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let token = one_time_token(&app, &s.account.key, s.property, "desk").await;
    let installation: Uuid =
        sqlx::query_scalar("select id from application_installations where property_id = $1")
            .bind(s.property)
            .fetch_one(&app.db)
            .await
            .unwrap();
    app.delete(&format!("/api/v1/applications/{installation}/uninstall"))
        .key(&s.account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    let response = app
        .get(&exchange_url(&token, s.property, "/messages", ""))
        .send()
        .await;
    assert_error_page(&response, 403, "Messages are not enabled");
    assert_eq!(sessions(&app).await, 0);
}
