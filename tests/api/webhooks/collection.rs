//! The webhook collection: CRUD, wire shape, validation, list parameters.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{create_webhook, id_of, put, scene};
use crate::support::TestApp;

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
            "id",
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
    // As Channex writes it: the id again, and the property as a relationship.
    assert_eq!(attributes["id"], json!(id));
    assert_eq!(
        data["relationships"],
        json!({"property": {"data": {"type": "property", "id": s.property}}})
    );
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
    assert_eq!(
        list["meta"],
        json!({"limit": 1, "page": 1, "total": 2, "order_by": "inserted_at", "order_direction": "desc"})
    );
    assert_ne!(list["data"][0]["id"], json!(id), "newest first");
    // A global webhook has no property relationship.
    assert!(list["data"][0].get("relationships").is_none());
    let oldest = app
        .get("/api/v1/webhooks?pagination[limit]=1&order[inserted_at]=asc")
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        oldest["data"][0]["id"],
        json!(id),
        "oldest first when asked"
    );

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
            with("event_mask", json!("bookings")),
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

#[tokio::test]
async fn a_vanished_property_violates_the_constraint_the_handlers_map_to_a_422() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let write = ota_inbox::db::webhooks::WebhookWrite {
        property_id: Some(uuid::Uuid::new_v4()),
        callback_url: "http://pms.example/".into(),
        event_mask: "*".into(),
        event_names: vec!["*".into()],
        headers: json!({}),
        request_params: json!({}),
        is_active: true,
        send_data: true,
        is_global: false,
        protected: false,
        signing_secret: None,
    };
    let err = ota_inbox::db::webhooks::insert(&app.db, account.user_id, &write)
        .await
        .unwrap_err();
    assert_eq!(
        ota_inbox::db::violated_constraint(&err),
        Some("webhooks_property_id_fkey")
    );
}
