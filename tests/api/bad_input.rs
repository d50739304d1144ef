//! A catalogue of malformed input fired at every endpoint: never a 5xx, never a panic, never a
//! body outside the contract's error format.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;

/// Bodies that are wrong in every way we could think of.
fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![
        ("application/json", b"{".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"\"text\"".to_vec()),
        ("application/json", b"12".to_vec()),
        ("application/json", b"".to_vec()),
        ("application/json", b"\xff\xfe".to_vec()),
        ("application/json", br#"{"a": "\ud800"}"#.to_vec()),
        ("application/json", deep.into_bytes()),
        ("text/plain", b"hello".to_vec()),
        ("application/x-www-form-urlencoded", b"message=hi".to_vec()),
    ];
    let envelopes = [
        "message",
        "property",
        "application_installation",
        "attachment",
        "user",
        "api_key",
        "booking",
        "inquiry",
    ];
    let values = [
        json!(5),
        json!(null),
        json!({}),
        json!("hi"),
        json!([1, 2]),
        json!(true),
        json!({"message": 5}),
        json!({"message": null}),
        json!({"message": {}}),
        json!({"message": "a\u{0}b"}),
        json!({"message": "😀".repeat(10_001)}),
        json!({"title": "a\u{0}b", "email": "a\u{0}@b", "name": 7, "user_id": "x", "property_id": 1}),
        json!({"property_ids": ["x"], "property_id": "00000000-0000-0000-0000-000000000000"}),
        json!({"file": 5, "file_name": ["x"], "file_type": {}}),
        json!({"file": "////", "file_name": "..", "file_type": "a/b"}),
        json!({"attachment_id": "00000000-0000-0000-0000-000000000000"}),
        json!({"arrival_date": "2024-13-01", "departure_date": 20240101, "customer": "x", "ota_name": ""}),
        json!({"checkin_date": "x", "number_of_adults": -1, "expected_payout_amount_accurate": "NaN"}),
        json!({"attachments": [5, {"file": null}], "ota_message_id": 9}),
        json!({"booking_id": 12}),
    ];
    for envelope in envelopes {
        for value in &values {
            out.push((
                "application/json",
                json!({ envelope: value }).to_string().into_bytes(),
            ));
        }
    }
    out.push((
        "application/json",
        json!({"message": "hi"}).to_string().into_bytes(),
    ));
    out.push((
        "application/json",
        json!({"booking_id": "nope"}).to_string().into_bytes(),
    ));
    out
}

#[tokio::test]
async fn no_malformed_input_gets_a_server_error_or_a_non_contract_body() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    let message = app.guest_writes(booking, "hello").await.json();
    let thread = message["data"]["relationships"]["message_thread"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let attachment = app
        .post("/api/v1/attachments")
        .key(&account.key)
        .json(json!({"attachment": {"file": "aGk=", "file_name": "a.txt", "file_type": "text/plain"}}))
        .send()
        .await
        .id();

    let api_posts = [
        format!("/api/v1/message_threads/{thread}/messages"),
        format!("/api/v1/message_threads/{thread}/close"),
        format!("/api/v1/message_threads/{thread}/no_reply_needed"),
        format!("/api/v1/bookings/{booking}/messages"),
        "/api/v1/attachments".to_owned(),
        "/api/v1/properties".to_owned(),
        "/api/v1/applications/install".to_owned(),
        "/api/v1/webhooks".to_owned(),
        "/api/v1/webhooks/test".to_owned(),
    ];
    let admin_posts = [
        "/admin/users".to_owned(),
        "/admin/api_keys".to_owned(),
        "/admin/bookings".to_owned(),
        format!("/admin/bookings/{booking}/guest_messages"),
        format!("/admin/message_threads/{thread}/guest_messages"),
        "/admin/inquiries".to_owned(),
        format!("/admin/message_threads/{thread}/assign_booking"),
    ];
    let mut calls = 0;
    for (content_type, body) in bodies() {
        for path in &api_posts {
            let response = app
                .post(path)
                .key(&account.key)
                .raw(content_type, body.clone())
                .send()
                .await;
            check(&response, path, &body);
            calls += 1;
        }
        for path in &admin_posts {
            let response = app
                .admin(Method::POST, path)
                .raw(content_type, body.clone())
                .send()
                .await;
            check(&response, path, &body);
            calls += 1;
        }
    }

    let gets = [
        "/api/v1/message_threads".to_owned(),
        format!("/api/v1/message_threads/{thread}/messages"),
        format!("/api/v1/bookings/{booking}/messages"),
        "/api/v1/properties".to_owned(),
        "/api/v1/applications/installed".to_owned(),
        "/api/v1/webhooks".to_owned(),
    ];
    let queries = [
        "pagination[page]=99999999999999999999999",
        "pagination[page]=18446744073709551615",
        "pagination[limit]=-1",
        "pagination[limit]=1e3",
        "pagination[page]=%00",
        "order[inserted_at]=%F0%9F%98%80",
        "order[%00]=asc",
        "filter[property_id]=%00",
        "filter[inserted_at][gte]=99999-01-01",
        "filter[inserted_at][gt]=-5000-01-01",
        "filter[last_message_received_at][lte]=-4714-11-23T00:00:00",
        "filter[updated_at][lt]=0000-01-01",
        "filter[is_closed]=1",
        "filter[sender]=😀",
        "filter[provider]=",
        "%ZZ=1",
        "filter[[]]]=1",
    ];
    for path in &gets {
        for query in queries {
            let full = format!("{path}?{query}");
            let response = app.get(&full).key(&account.key).send().await;
            check(&response, &full, b"");
            calls += 1;
        }
    }
    let admin_outbox = app
        .admin(
            Method::GET,
            "/admin/outbox?pagination[limit]=abc&filter[property_id]=x",
        )
        .send()
        .await;
    check(&admin_outbox, "/admin/outbox", b"");

    for (content_type, body) in bodies() {
        let path = format!("/api/v1/webhooks/{}", uuid::Uuid::new_v4());
        let response = app
            .request(Method::PUT, &path)
            .key(&account.key)
            .raw(content_type, body.clone())
            .send()
            .await;
        check(&response, &path, &body);
    }
    for id in [
        "%00",
        "%F0%9F%98%80",
        "..",
        "null",
        "00000000-0000-0000-0000-00000000000g",
    ] {
        for path in [
            format!("/api/v1/applications/{id}/uninstall"),
            format!("/api/v1/webhooks/{id}"),
        ] {
            let response = app
                .request(Method::DELETE, &path)
                .key(&account.key)
                .send()
                .await;
            check(&response, &path, b"");
        }
        let response = app
            .admin(Method::DELETE, &format!("/admin/api_keys/{id}"))
            .send()
            .await;
        check(&response, "/admin/api_keys/{id}", b"");
        for path in [
            format!("/api/v1/webhooks/{id}"),
            format!("/api/v1/webhooks/{id}/deliveries"),
        ] {
            let response = app.get(&path).key(&account.key).send().await;
            check(&response, &path, b"");
        }
    }
    for id in [
        "%00",
        "%F0%9F%98%80",
        "..",
        "null",
        &"a".repeat(5000),
        "00000000-0000-0000-0000-00000000000g",
    ] {
        for path in [
            format!("/api/v1/message_threads/{id}"),
            format!("/api/v1/message_threads/{id}/messages"),
            format!("/api/v1/bookings/{id}/messages"),
            format!("/api/v1/bookings/{id}"),
            format!("/api/v1/attachments/{id}"),
            format!("/api/v1/attachments/{attachment}/{id}"),
            format!("/api/v1/properties/{id}"),
        ] {
            let response = app.get(&path).key(&account.key).send().await;
            check(&response, &path, b"");
            calls += 1;
        }
    }
    assert!(calls > 2000, "{calls}");
    // The data we started with is intact.
    let threads: i64 = sqlx::query_scalar("select count(*) from message_threads")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(threads, 1);
}

#[track_caller]
fn check(response: &crate::support::Response, path: &str, body: &[u8]) {
    let shown = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
    assert!(
        response.status.as_u16() < 500,
        "{path} {shown}: {} {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    if response.status.is_client_error() {
        let json: Value = serde_json::from_slice(&response.body).unwrap_or_else(|_| {
            panic!(
                "{path} {shown}: not JSON: {:?}",
                String::from_utf8_lossy(&response.body)
            )
        });
        assert!(
            json["errors"]["code"].is_string() && json["errors"]["title"].is_string(),
            "{path}: {json}"
        );
        assert!(
            response.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
    } else {
        assert!(
            response.status == StatusCode::OK || response.status == StatusCode::CREATED,
            "{path}: {}",
            response.status
        );
    }
}
