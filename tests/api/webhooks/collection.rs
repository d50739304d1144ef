//! The webhook collection: CRUD, wire shape, validation, gates, and the test call.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use ota_inbox::{AppState, app};
use serde_json::{Value, json};

use super::receiver::{Receiver, Reply};
use super::{create_webhook, id_of, put, scene};
use crate::support::{ADMIN_TOKEN, MAX_ATTACHMENT_BYTES, TestApp};

const SECRET: &str = "whsec_0123456789abcdef";

#[tokio::test]
async fn a_webhook_is_created_shown_listed_updated_and_deleted() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let key = &s.account.key;
    let created = app
        .post("/api/v1/webhooks")
        .key(key)
        .json(json!({"webhook": {
            "callback_url": "https://pms.example/hooks?src=ota", "event_mask": "message;inquiry",
            "property_id": s.property, "headers": {"Authorization": "Bearer pms-token"},
            "request_params": {"tenant": "42"}, "is_active": true, "send_data": true,
            "signing_secret": SECRET
        }}))
        .send()
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert!(
        !String::from_utf8_lossy(&created.body).contains(SECRET),
        "the secret is never echoed"
    );
    let data = created.json()["data"].clone();
    let id = id_of(&data);
    assert_eq!(data["type"], "webhook");
    let attributes = data["attributes"].as_object().unwrap();
    let mut keys: Vec<&str> = attributes.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "callback_url",
            "event_mask",
            "has_signing_secret",
            "headers",
            "inserted_at",
            "is_active",
            "is_global",
            "property_id",
            "protected",
            "request_params",
            "send_data",
            "updated_at"
        ]
    );
    assert_eq!(
        attributes["callback_url"],
        "https://pms.example/hooks?src=ota"
    );
    assert_eq!(attributes["event_mask"], "message;inquiry");
    assert_eq!(attributes["property_id"], json!(s.property));
    assert_eq!(
        attributes["headers"],
        json!({"Authorization": "Bearer pms-token"})
    );
    assert_eq!(attributes["request_params"], json!({"tenant": "42"}));
    assert_eq!(attributes["is_active"], true);
    assert_eq!(attributes["send_data"], true);
    assert_eq!(attributes["is_global"], false);
    assert_eq!(attributes["protected"], false);
    assert_eq!(attributes["has_signing_secret"], true);
    let inserted_at = attributes["inserted_at"].as_str().unwrap();
    assert_eq!(
        inserted_at.len(),
        26,
        "six fraction digits, no zone: {inserted_at}"
    );

    let shown = app
        .get(&format!("/api/v1/webhooks/{id}"))
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(shown.json()["data"], data);

    let updated = put(
        &app,
        key,
        &format!("/api/v1/webhooks/{id}"),
        json!({"webhook": {"event_mask": "*", "is_active": false, "signing_secret": null}}),
    )
    .await
    .expect_status(StatusCode::OK);
    let after = &updated.json()["data"]["attributes"];
    assert_eq!(after["event_mask"], "*");
    assert_eq!(after["is_active"], false);
    assert_eq!(after["has_signing_secret"], false);
    // Fields the update did not name are kept.
    assert_eq!(after["callback_url"], "https://pms.example/hooks?src=ota");
    assert_eq!(after["headers"], attributes["headers"]);
    assert_eq!(after["send_data"], true);

    create_webhook(
        &app,
        key,
        json!({"callback_url": "http://pms.example/global", "event_mask": "*", "property_id": null, "is_global": true}),
    )
    .await;
    let list = app
        .get("/api/v1/webhooks?pagination[limit]=1")
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(list["meta"], json!({"limit": 1, "page": 1, "total": 2}));
    assert_eq!(list["data"][0]["id"], json!(id), "oldest first");

    let deleted = app
        .delete(&format!("/api/v1/webhooks/{id}"))
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(deleted.json(), json!({"meta": {"message": "Success"}}));
    app.get(&format!("/api/v1/webhooks/{id}"))
        .key(key)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn a_new_webhook_is_inactive_without_data_unless_told() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let data = create_webhook(
        &app,
        &s.account.key,
        json!({"callback_url": "http://pms.example/", "event_mask": "message", "property_id": s.property}),
    )
    .await;
    let a = &data["attributes"];
    assert_eq!(
        (
            &a["is_active"],
            &a["send_data"],
            &a["is_global"],
            &a["protected"]
        ),
        (&json!(false), &json!(false), &json!(false), &json!(false))
    );
    assert_eq!(a["headers"], json!({}));
    assert_eq!(a["request_params"], json!({}));
    assert_eq!(a["has_signing_secret"], false);
}

#[tokio::test]
async fn malformed_webhook_bodies_get_the_contracts_errors() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let key = &s.account.key;
    for raw in ["{", "[]", "", "\"webhook\""] {
        app.post("/api/v1/webhooks")
            .key(key)
            .raw("application/json", raw)
            .send()
            .await
            .expect_error(400, "bad_request");
    }
    app.post("/api/v1/webhooks")
        .key(key)
        .raw("text/plain", "callback_url=x")
        .send()
        .await
        .expect_error(415, "unsupported_media_type");

    let ok = json!({"callback_url": "http://pms.example/", "event_mask": "*", "property_id": s.property});
    let with = |field: &str, value: Value| {
        let mut body = ok.clone();
        body[field] = value;
        body
    };
    let cases = [
        (json!(null), json!({"webhook": ["can't be blank"]})),
        (json!("x"), json!({"webhook": ["is invalid"]})),
        (
            json!({}),
            json!({"callback_url": ["can't be blank"], "event_mask": ["can't be blank"], "property_id": ["can't be blank"]}),
        ),
        (
            with("callback_url", json!("pms.example/hook")),
            json!({"callback_url": ["is invalid"]}),
        ),
        (
            with("callback_url", json!("ftp://pms.example/")),
            json!({"callback_url": ["is invalid"]}),
        ),
        (
            with("callback_url", json!(7)),
            json!({"callback_url": ["is invalid"]}),
        ),
        (
            with(
                "callback_url",
                json!(format!("http://a/{}", "x".repeat(3000))),
            ),
            json!({"callback_url": ["is too long"]}),
        ),
        (
            with("event_mask", json!("booking")),
            json!({"event_mask": ["is invalid"]}),
        ),
        (
            with("event_mask", json!(";")),
            json!({"event_mask": ["can't be blank"]}),
        ),
        (
            with("property_id", json!(null)),
            json!({"property_id": ["can't be blank"]}),
        ),
        (
            with("property_id", json!("nope")),
            json!({"property_id": ["is invalid"]}),
        ),
        (
            with("property_id", json!("5848b518-07a4-4c8c-a998-2784d638ba30")),
            json!({"property_id": ["is invalid"]}),
        ),
        (
            with("headers", json!({"Content-Type": "text/plain"})),
            json!({"headers": ["is invalid"]}),
        ),
        (
            with("headers", json!("Authorization: x")),
            json!({"headers": ["is invalid"]}),
        ),
        (
            with("request_params", json!({"a": [1]})),
            json!({"request_params": ["is invalid"]}),
        ),
        (
            with("is_active", json!("yes")),
            json!({"is_active": ["is invalid"]}),
        ),
        (
            with("signing_secret", json!("short")),
            json!({"signing_secret": ["is too short (minimum is 16 characters)"]}),
        ),
        (
            with("signing_secret", json!(12345678901234567i64)),
            json!({"signing_secret": ["is invalid"]}),
        ),
    ];
    for (webhook, expected) in cases {
        let details = app
            .post("/api/v1/webhooks")
            .key(key)
            .json(json!({ "webhook": webhook }))
            .send()
            .await
            .expect_error(422, "validation_error");
        assert_eq!(details, expected, "{webhook}");
    }
    // Bad updates too, and nothing changes.
    let id = id_of(&create_webhook(&app, key, ok.clone()).await);
    let path = format!("/api/v1/webhooks/{id}");
    for body in [
        json!({"webhook": {"callback_url": null}}),
        json!({"webhook": {"property_id": null}}),
        json!({"webhook": {"event_mask": "nope"}}),
    ] {
        put(&app, key, &path, body.clone())
            .await
            .expect_error(422, "validation_error");
    }
    let shown = app.get(&path).key(key).send().await.json();
    assert_eq!(
        shown["data"]["attributes"]["callback_url"],
        "http://pms.example/"
    );
    assert_eq!(
        shown["data"]["attributes"]["property_id"],
        json!(s.property)
    );
}

#[tokio::test]
async fn the_usual_gates_guard_the_collection() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let key = &s.account.key;
    let webhook = |property: Value, global: bool| json!({"callback_url": "http://pms.example/", "event_mask": "*", "property_id": property, "is_global": global});
    let own = id_of(&create_webhook(&app, key, webhook(json!(s.property), false)).await);
    let global = id_of(&create_webhook(&app, key, webhook(Value::Null, true)).await);

    // 401 without a key, on every route.
    for (method, path) in [
        (Method::GET, "/api/v1/webhooks".to_owned()),
        (Method::POST, "/api/v1/webhooks".to_owned()),
        (Method::POST, "/api/v1/webhooks/test".to_owned()),
        (Method::GET, format!("/api/v1/webhooks/{own}")),
        (Method::PUT, format!("/api/v1/webhooks/{own}")),
        (Method::DELETE, format!("/api/v1/webhooks/{own}")),
        (Method::GET, format!("/api/v1/webhooks/{own}/deliveries")),
    ] {
        app.request(method, &path)
            .json(json!({"webhook": {}}))
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
    // 422 bad_request for a malformed id, 404 for an unknown one.
    let details = app
        .get("/api/v1/webhooks/not-a-uuid")
        .key(key)
        .send()
        .await
        .expect_error(422, "bad_request");
    assert_eq!(details, json!({"id": ["is invalid"]}));
    app.get("/api/v1/webhooks/5848b518-07a4-4c8c-a998-2784d638ba30/deliveries")
        .key(key)
        .send()
        .await
        .expect_error(404, "not_found");

    // Another user: 401 for a property webhook (its property is out of sight), 404 for a global
    // one; and their list does not show ours.
    let stranger = app.user().await;
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        app.request(method.clone(), &format!("/api/v1/webhooks/{own}"))
            .key(&stranger.key)
            .json(json!({"webhook": {}}))
            .send()
            .await
            .expect_error(401, "unauthorized");
        app.request(method, &format!("/api/v1/webhooks/{global}"))
            .key(&stranger.key)
            .json(json!({"webhook": {}}))
            .send()
            .await
            .expect_error(404, "not_found");
    }
    let theirs = app
        .get("/api/v1/webhooks")
        .key(&stranger.key)
        .send()
        .await
        .json();
    assert_eq!(theirs["meta"]["total"], 0);
    // Nor can they point a webhook at our property.
    app.post("/api/v1/webhooks")
        .key(&stranger.key)
        .json(json!({"webhook": webhook(json!(s.property), false)}))
        .send()
        .await
        .expect_error(401, "unauthorized");

    // A key limited to another property: our property webhook and global webhooks are out of
    // sight, and it may not create a global one.
    let other_property = app.property(&s.account, true).await;
    let limited = app
        .key_for(s.account.user_id, Some(vec![other_property]))
        .await;
    app.get(&format!("/api/v1/webhooks/{own}"))
        .key(&limited)
        .send()
        .await
        .expect_error(401, "unauthorized");
    app.get(&format!("/api/v1/webhooks/{global}"))
        .key(&limited)
        .send()
        .await
        .expect_error(401, "unauthorized");
    app.post("/api/v1/webhooks")
        .key(&limited)
        .json(json!({"webhook": webhook(Value::Null, true)}))
        .send()
        .await
        .expect_error(401, "unauthorized");
    let mine = create_webhook(&app, &limited, webhook(json!(other_property), false)).await;
    let listed = app
        .get("/api/v1/webhooks")
        .key(&limited)
        .send()
        .await
        .json();
    assert_eq!(listed["meta"]["total"], 1);
    assert_eq!(listed["data"][0]["id"], mine["id"]);
    // Moving our webhook to a property the limited key cannot see is refused as well.
    put(
        &app,
        &limited,
        &format!("/api/v1/webhooks/{}", id_of(&mine)),
        json!({"webhook": {"property_id": s.property}}),
    )
    .await
    .expect_error(401, "unauthorized");

    // 403: a property without the Messages app, in a body or behind an existing webhook.
    let bare = app.property(&s.account, false).await;
    app.post("/api/v1/webhooks")
        .key(key)
        .json(json!({"webhook": webhook(json!(bare), false)}))
        .send()
        .await
        .expect_error(403, "forbidden");
    put(
        &app,
        key,
        &format!("/api/v1/webhooks/{own}"),
        json!({"webhook": {"property_id": bare}}),
    )
    .await
    .expect_error(403, "forbidden");
    let installed = app
        .get("/api/v1/applications/installed")
        .key(key)
        .send()
        .await
        .json();
    let installation = installed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["attributes"]["property_id"] == json!(s.property))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!("/api/v1/applications/{installation}/uninstall"))
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    for path in [
        format!("/api/v1/webhooks/{own}"),
        format!("/api/v1/webhooks/{own}/deliveries"),
    ] {
        app.get(&path)
            .key(key)
            .send()
            .await
            .expect_error(403, "forbidden");
    }
    // Wrong methods are 405.
    app.request(Method::PATCH, "/api/v1/webhooks")
        .key(key)
        .send()
        .await
        .expect_error(405, "method_not_allowed");
    app.get("/api/v1/webhooks/test")
        .key(key)
        .send()
        .await
        .expect_error(405, "method_not_allowed");
}

#[tokio::test]
async fn list_parameters_are_checked() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    for query in ["pagination[page]=0", "pagination[limit]=x"] {
        app.get(&format!("/api/v1/webhooks?{query}"))
            .key(&s.account.key)
            .send()
            .await
            .expect_error(422, "bad_request");
    }
    let id = id_of(
        &create_webhook(
            &app,
            &s.account.key,
            json!({"callback_url": "http://pms.example/", "event_mask": "*", "property_id": s.property}),
        )
        .await,
    );
    let details = app
        .get(&format!(
            "/api/v1/webhooks/{id}/deliveries?order[status_code]=asc"
        ))
        .key(&s.account.key)
        .send()
        .await
        .expect_error(422, "bad_request");
    assert_eq!(details, json!({"order[status_code]": ["is invalid"]}));
    let empty = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"))
        .key(&s.account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        empty,
        json!({"data": [], "meta": {"limit": 10, "page": 1, "total": 0,
               "order_by": "attempted_at", "order_direction": "desc"}})
    );
}

/// An app whose test call gives up after `timeout`.
async fn app_with_timeout(timeout: Duration) -> TestApp {
    let plain = TestApp::new().await;
    let state = AppState::new(plain.db.clone(), Some(ADMIN_TOKEN), MAX_ATTACHMENT_BYTES)
        .with_webhook_timeout(timeout);
    TestApp {
        router: app(state),
        db: plain.db,
    }
}

#[tokio::test]
async fn the_test_call_sends_a_signed_test_event_and_answers_what_came_back() {
    let app = app_with_timeout(Duration::from_millis(500)).await;
    let s = scene(&app).await;
    let receiver = Receiver::scripted(vec![
        Reply::Body(202, b"got it".to_vec()),
        Reply::Body(200, vec![b'x'; 200 * 1024]),
        Reply::Hang,
    ])
    .await;
    let webhook = json!({
        "callback_url": receiver.url("/hook?a=1"), "event_mask": "*", "property_id": s.property,
        "headers": {"X-Pms": "yes"}, "request_params": {"b": "2"}, "send_data": true,
        "signing_secret": SECRET
    });
    let answer = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({ "webhook": webhook }))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answer, json!({"status_code": 202, "body": "got it"}));
    let got = &receiver.received()[0];
    assert_eq!(got.path, "/hook");
    assert_eq!(got.query.as_deref(), Some("a=1&b=2"));
    assert_eq!(got.header("x-pms"), Some("yes"));
    assert!(got.header("x-ota-inbox-signature").is_some());
    assert!(got.header("x-ota-inbox-delivery").is_some());
    let body = got.json();
    assert_eq!(body["event"], "test");
    assert_eq!(body["property_id"], json!(s.property));
    assert_eq!(body["user_id"], json!(s.account.user_id));
    assert!(body["payload"].is_object());

    // A huge answer is cut at 64 KiB.
    let answer = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({ "webhook": webhook }))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answer["status_code"], 200);
    assert_eq!(answer["body"].as_str().unwrap().len(), 64 * 1024);

    // A callback that never answers: no status, and why.
    let answer = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({ "webhook": webhook }))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answer["status_code"], Value::Null);
    assert_eq!(answer["body"], Value::Null);
    assert!(
        answer["error"].as_str().unwrap().contains("timed out"),
        "{answer}"
    );
    // Nothing is recorded for a test call.
    let count: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn the_test_call_reports_a_callback_that_cannot_be_reached() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    // A port nothing listens on: bind one, then free it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let answer = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({"webhook": {"callback_url": format!("http://127.0.0.1:{port}/"), "property_id": null}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answer["status_code"], Value::Null);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("connection failed"),
        "{answer}"
    );
    // And the test call validates like a create.
    let details = app
        .post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({"webhook": {"callback_url": "nope"}}))
        .send()
        .await
        .expect_error(422, "validation_error");
    assert_eq!(details, json!({"callback_url": ["is invalid"]}));
}
