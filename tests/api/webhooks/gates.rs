//! The gates of §3 on the webhook collection: 401, 422 for a malformed id, 404, 403, and who
//! sees which webhook (§2).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{create_webhook, id_of, put, scene};
use crate::support::TestApp;

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
