//! Authentication and access (§2): API keys for `/api/v1`, the admin token for `/admin`.

use axum::http::{Method, StatusCode};
use ota_inbox::{AppState, app};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::{ADMIN_TOKEN, Account, TestApp, fresh_database};

/// The whole body of a 401.
fn unauthorized() -> Value {
    json!({"errors": {"code": "unauthorized", "title": "Unauthorized"}})
}

#[track_caller]
fn assert_unauthorized(response: &crate::support::Response) {
    response.expect_error(401, "unauthorized");
    assert_eq!(response.json(), unauthorized());
}

/// A key created through the admin API: its id and plaintext.
async fn create_key(
    app: &TestApp,
    user_id: Uuid,
    property_ids: Option<Vec<Uuid>>,
) -> (Uuid, String) {
    let response = app
        .admin(Method::POST, "/admin/api_keys")
        .json(json!({"api_key": {"user_id": user_id, "property_ids": property_ids}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    let key = response.data()["attributes"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    (response.id(), key)
}

async fn properties_seen_by(app: &TestApp, key: &str) -> Value {
    app.get("/api/v1/properties")
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json()
}

#[tokio::test]
async fn a_request_without_a_key_is_a_401_on_every_route() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    for (method, path) in [
        (Method::GET, "/api/v1/properties".to_owned()),
        (Method::POST, "/api/v1/properties".to_owned()),
        (Method::GET, format!("/api/v1/properties/{property}")),
        (Method::GET, format!("/api/v1/bookings/{booking}")),
        (Method::POST, "/api/v1/applications/install".to_owned()),
        (Method::GET, "/api/v1/applications/installed".to_owned()),
        (
            Method::DELETE,
            format!("/api/v1/applications/{}/uninstall", Uuid::new_v4()),
        ),
        (Method::GET, "/api/v1/message_threads".to_owned()),
    ] {
        let response = app
            .request(method.clone(), &path)
            .json(json!({"property": {"title": "x"}}))
            .send()
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_unauthorized(&response);
    }
    // Nothing was created without a key.
    assert_eq!(app.count("select count(*) from properties").await, 1);
}

#[tokio::test]
async fn an_empty_or_non_bearer_credential_is_a_401() {
    let app = TestApp::new().await;
    let account = app.user().await;
    for (name, value) in [
        ("user-api-key", "".to_owned()),
        ("user-api-key", "   ".to_owned()),
        ("authorization", "Bearer ".to_owned()),
        ("authorization", format!("Basic {}", account.key)),
        ("authorization", account.key.clone()),
        ("x-api-key", account.key.clone()),
    ] {
        let response = app
            .get("/api/v1/properties")
            .header(name, &value)
            .send()
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{name}: {value}");
        assert_unauthorized(&response);
    }
}

#[tokio::test]
async fn an_unknown_key_is_a_401() {
    let app = TestApp::new().await;
    let account = app.user().await;
    // One character changed, a prefix, the key with extra characters, a made-up key.
    let mut altered = account.key.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for key in [
        altered.as_str(),
        &account.key[..account.key.len() - 1],
        &format!("{}x", account.key),
        "oik_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ADMIN_TOKEN,
    ] {
        let response = app.get("/api/v1/properties").key(key).send().await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{key}");
        assert_unauthorized(&response);
    }
    // The real key still works.
    properties_seen_by(&app, &account.key).await;
}

#[tokio::test]
async fn authentication_comes_before_the_malformed_id_check() {
    let app = TestApp::new().await;
    let response = app.get("/api/v1/properties/not-a-uuid").send().await;
    assert_unauthorized(&response);
    let response = app
        .get("/api/v1/bookings/not-a-uuid")
        .key("oik_wrong")
        .send()
        .await;
    assert_unauthorized(&response);
    let response = app
        .request(Method::DELETE, "/admin/api_keys/not-a-uuid")
        .send()
        .await;
    assert_unauthorized(&response);
}

#[tokio::test]
async fn a_revoked_key_is_a_401_and_revoking_twice_is_fine() {
    let app = TestApp::new().await;
    let account = app.user().await;
    app.property(&account, false).await;
    let (key_id, key) = create_key(&app, account.user_id, None).await;
    assert_eq!(properties_seen_by(&app, &key).await["meta"]["total"], 1);

    let revoked = app
        .admin(Method::DELETE, &format!("/admin/api_keys/{key_id}"))
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(revoked.json(), json!({"meta": {"message": "Success"}}));
    assert_unauthorized(&app.get("/api/v1/properties").key(&key).send().await);
    assert_unauthorized(&app.get("/api/v1/properties").bearer(&key).send().await);
    let first_revocation: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select revoked_at from api_keys where id = $1")
            .bind(key_id)
            .fetch_one(&app.db)
            .await
            .unwrap();

    let again = app
        .admin(Method::DELETE, &format!("/admin/api_keys/{key_id}"))
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(again.json(), json!({"meta": {"message": "Success"}}));
    assert_unauthorized(&app.get("/api/v1/properties").key(&key).send().await);
    // The second revocation keeps the time of the first.
    let revoked_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select revoked_at from api_keys where id = $1")
            .bind(key_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(revoked_at, first_revocation);

    // The user's other key is untouched.
    assert_eq!(
        properties_seen_by(&app, &account.key).await["meta"]["total"],
        1
    );
}

#[tokio::test]
async fn revoking_an_unknown_key_is_a_404_and_a_malformed_id_a_422() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let response = app
        .admin(
            Method::DELETE,
            &format!("/admin/api_keys/{}", Uuid::new_v4()),
        )
        .send()
        .await;
    response.expect_error(404, "not_found");
    assert_eq!(
        response.json(),
        json!({"errors": {"code": "not_found", "title": "Resouce Not Found"}})
    );
    for id in ["nope", "1", "5848b518-07a4-4c8c-a998-2784d638ba3"] {
        let details = app
            .admin(Method::DELETE, &format!("/admin/api_keys/{id}"))
            .send()
            .await
            .expect_error(422, "bad_request");
        assert_eq!(details, json!({"id": ["is invalid"]}), "{id}");
    }
    assert_eq!(
        app.count("select count(*) from api_keys where revoked_at is not null")
            .await,
        0
    );
    properties_seen_by(&app, &account.key).await;
}

/// A user with properties A and B, a booking on each, and a key limited to A.
struct TwoProperties {
    account: Account,
    a: Uuid,
    b: Uuid,
    booking_a: Uuid,
    booking_b: Uuid,
    limited_key: String,
}

async fn two_properties(app: &TestApp) -> TwoProperties {
    let account = app.user().await;
    let a = app.property(&account, true).await;
    let b = app.property(&account, true).await;
    let booking_a = app.booking(a, "BookingCom").await;
    let booking_b = app.booking(b, "BookingCom").await;
    let limited_key = app.key_for(account.user_id, Some(vec![a])).await;
    TwoProperties {
        account,
        a,
        b,
        booking_a,
        booking_b,
        limited_key,
    }
}

#[tokio::test]
async fn a_key_limited_to_one_property_cannot_see_the_others() {
    let app = TestApp::new().await;
    let t = two_properties(&app).await;
    let key = &t.limited_key;

    let shown = app
        .get(&format!("/api/v1/properties/{}", t.a))
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(shown.id(), t.a);
    assert_unauthorized(
        &app.get(&format!("/api/v1/properties/{}", t.b))
            .key(key)
            .send()
            .await,
    );
    let booking = app
        .get(&format!("/api/v1/bookings/{}", t.booking_a))
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(booking.id(), t.booking_a);
    assert_unauthorized(
        &app.get(&format!("/api/v1/bookings/{}", t.booking_b))
            .key(key)
            .send()
            .await,
    );

    let list = properties_seen_by(&app, key).await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![t.a.to_string()]);
    assert_eq!(list["meta"], json!({"limit": 10, "page": 1, "total": 1}));

    let installed = app
        .get("/api/v1/applications/installed")
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(installed["meta"]["total"], 1);
    assert_eq!(
        installed["data"][0]["attributes"]["property_id"],
        t.a.to_string()
    );

    // The user's unlimited key sees both.
    assert_eq!(
        properties_seen_by(&app, &t.account.key).await["meta"]["total"],
        2
    );
}

#[tokio::test]
async fn another_users_key_cannot_see_my_property_or_booking() {
    let app = TestApp::new().await;
    let me = app.user().await;
    let property = app.property(&me, true).await;
    let booking = app.booking(property, "BookingCom").await;
    app.guest_writes(booking, "hello").await;
    let other = app.user().await;

    assert_unauthorized(
        &app.get(&format!("/api/v1/properties/{property}"))
            .key(&other.key)
            .send()
            .await,
    );
    assert_unauthorized(
        &app.get(&format!("/api/v1/bookings/{booking}"))
            .key(&other.key)
            .send()
            .await,
    );
    let list = properties_seen_by(&app, &other.key).await;
    assert_eq!(
        list,
        json!({"data": [], "meta": {"limit": 10, "page": 1, "total": 0}})
    );
    let installed = app
        .get("/api/v1/applications/installed")
        .key(&other.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(installed["meta"]["total"], 0);

    // A key of the other user limited to a property of mine cannot be made.
    let details = app
        .admin(Method::POST, "/admin/api_keys")
        .json(json!({"api_key": {"user_id": other.user_id, "property_ids": [property]}}))
        .send()
        .await
        .expect_error(422, "validation_error");
    assert!(details.get("property_ids").is_some(), "{details}");
}

#[tokio::test]
async fn a_bearer_token_works_like_the_user_api_key_header() {
    let app = TestApp::new().await;
    let t = two_properties(&app).await;

    let by_header = properties_seen_by(&app, &t.account.key).await;
    let by_bearer = app
        .get("/api/v1/properties")
        .bearer(&t.account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(by_bearer, by_header);
    assert_eq!(by_bearer["meta"]["total"], 2);

    // The scheme is case-insensitive and the scope of a limited key holds.
    let lowercase = app
        .get("/api/v1/properties")
        .header("authorization", &format!("bearer {}", t.limited_key))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(lowercase["meta"]["total"], 1);
    assert_unauthorized(
        &app.get(&format!("/api/v1/bookings/{}", t.booking_b))
            .bearer(&t.limited_key)
            .send()
            .await,
    );
    app.get(&format!("/api/v1/bookings/{}", t.booking_a))
        .bearer(&t.limited_key)
        .send()
        .await
        .expect_status(StatusCode::OK);

    // Writes work the same way.
    app.post("/api/v1/properties")
        .bearer(&t.account.key)
        .json(json!({"property": {"title": "By bearer"}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    assert_unauthorized(
        &app.get("/api/v1/properties")
            .bearer("oik_nope")
            .send()
            .await,
    );
}

#[tokio::test]
async fn keys_are_stored_only_as_sha256_hashes() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, false).await;
    let (key_id, key) = create_key(&app, account.user_id, Some(vec![property])).await;

    // Random (256 bits, URL-safe base64) behind a recognisable prefix, and never twice the same.
    assert!(key.starts_with("oik_") && key.len() == 4 + 43, "{key}");
    assert_ne!(key, account.key);

    let hash: Vec<u8> = sqlx::query_scalar("select key_hash from api_keys where id = $1")
        .bind(key_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(hash.len(), 32);
    assert_eq!(hash, Sha256::digest(key.as_bytes()).to_vec());

    // The plaintext appears nowhere: not in any column as text, not as bytes.
    for (plaintext, label) in [(&key, "limited"), (&account.key, "unlimited")] {
        let as_text = app
            .count_with(
                "select count(*) from api_keys k where strpos(row_to_json(k)::text, $1) > 0",
                plaintext,
            )
            .await;
        assert_eq!(as_text, 0, "{label}");
        let as_bytes = app
            .count_with(
                "select count(*) from api_keys where position(convert_to($1, 'UTF8') in key_hash) > 0",
                plaintext,
            )
            .await;
        assert_eq!(as_bytes, 0, "{label}");
        let anywhere = app
            .count_with(
                "select count(*) from api_key_properties k where strpos(row_to_json(k)::text, $1) > 0",
                plaintext,
            )
            .await;
        assert_eq!(anywhere, 0, "{label}");
    }
}

#[tokio::test]
async fn the_admin_api_needs_the_admin_token() {
    let app = TestApp::new().await;
    let account = app.user().await;
    for auth in [
        None,
        Some(("authorization", "Bearer wrong-token".to_owned())),
        Some(("authorization", format!("Bearer {ADMIN_TOKEN}x"))),
        Some(("authorization", format!("Basic {ADMIN_TOKEN}"))),
        Some(("authorization", ADMIN_TOKEN.to_owned())),
        // The admin token is a bearer token, not a user key; a user key is not an admin token.
        Some(("user-api-key", ADMIN_TOKEN.to_owned())),
        Some(("authorization", format!("Bearer {}", account.key))),
    ] {
        for (method, path) in [
            (Method::POST, "/admin/reset"),
            (Method::POST, "/admin/users"),
            (Method::POST, "/admin/api_keys"),
            (Method::POST, "/admin/bookings"),
            (Method::POST, "/admin/inquiries"),
            (Method::GET, "/admin/outbox"),
        ] {
            let mut call = app
                .request(method.clone(), path)
                .json(json!({"user": {"email": "intruder@example.com"}}));
            if let Some((name, value)) = &auth {
                call = call.header(name, value);
            }
            let response = call.send().await;
            assert_eq!(
                response.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {auth:?}"
            );
            assert_unauthorized(&response);
        }
    }
    // Nothing happened: the reset did not run and no user was created.
    assert_eq!(app.count("select count(*) from users").await, 1);
    properties_seen_by(&app, &account.key).await;
}

#[tokio::test]
async fn without_an_admin_token_the_admin_api_is_not_found() {
    let (pool, _) = fresh_database().await;
    let app = TestApp {
        db: pool.clone(),
        router: app(AppState::new(pool, None, 65536)),
    };
    sqlx::query("insert into users (id, email) values ($1, 'kept@example.com')")
        .bind(Uuid::new_v4())
        .execute(&app.db)
        .await
        .unwrap();
    for token in [None, Some(ADMIN_TOKEN), Some("anything")] {
        for (method, path) in [
            (Method::POST, "/admin/reset"),
            (Method::POST, "/admin/users"),
            (
                Method::DELETE,
                "/admin/api_keys/5848b518-07a4-4c8c-a998-2784d638ba30",
            ),
            (Method::GET, "/admin/outbox"),
        ] {
            let mut call = app
                .request(method.clone(), path)
                .json(json!({"user": {"email": "x@example.com"}}));
            if let Some(token) = token {
                call = call.bearer(token);
            }
            let response = call.send().await;
            response.expect_error(404, "not_found");
            assert_eq!(
                response.json(),
                json!({"errors": {"code": "not_found", "title": "Resouce Not Found"}}),
                "{method} {path}"
            );
        }
    }
    assert_eq!(app.count("select count(*) from users").await, 1);
    // The rest of the API is unaffected.
    assert_unauthorized(&app.get("/api/v1/properties").send().await);
    app.get("/health")
        .send()
        .await
        .expect_status(StatusCode::OK);
}
