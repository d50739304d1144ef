//! The admin API (§9): accounts, bookings, guest messages, inquiries, booking assignment and the
//! OTA outbox.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::{Account, Response, TestApp, assert_timestamp, base64};

/// The wire form of a stored time.
fn wire(ts: DateTime<Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn validation(details: Value) -> Value {
    json!({"errors": {"code": "validation_error", "title": "Validation Error", "details": details}})
}

/// A user with a property (Messages app installed) and a Booking.com booking on it.
async fn booked(app: &TestApp) -> (Account, Uuid, Uuid) {
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    (account, property, booking)
}

async fn guest_message(app: &TestApp, booking: Uuid, message: Value) -> Response {
    app.admin(
        Method::POST,
        &format!("/admin/bookings/{booking}/guest_messages"),
    )
    .json(json!({ "message": message }))
    .send()
    .await
}

async fn thread_guest_message(app: &TestApp, thread: Uuid, message: Value) -> Response {
    app.admin(
        Method::POST,
        &format!("/admin/message_threads/{thread}/guest_messages"),
    )
    .json(json!({ "message": message }))
    .send()
    .await
}

/// What the property sends through the Messages API; answers the message id.
async fn property_writes(app: &TestApp, key: &str, thread: Uuid, text: &str) -> Uuid {
    app.post(&format!("/api/v1/message_threads/{thread}/messages"))
        .key(key)
        .json(json!({"message": {"message": text}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .id()
}

async fn inquiry(app: &TestApp, body: Value) -> Response {
    app.admin(Method::POST, "/admin/inquiries")
        .json(json!({ "inquiry": body }))
        .send()
        .await
}

async fn assign(app: &TestApp, thread: Uuid, body: Value) -> Response {
    app.admin(
        Method::POST,
        &format!("/admin/message_threads/{thread}/assign_booking"),
    )
    .json(body)
    .send()
    .await
}

#[derive(Debug, sqlx::FromRow)]
struct ThreadRow {
    property_id: Uuid,
    booking_id: Option<Uuid>,
    provider: String,
    title: String,
    is_closed: bool,
    message_count: i32,
    last_message: Option<Value>,
    last_message_received_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

async fn thread_row(app: &TestApp, id: Uuid) -> ThreadRow {
    sqlx::query_as(
        r#"select property_id, booking_id, provider, title, is_closed, message_count,
             last_message, last_message_received_at, updated_at
           from message_threads where id = $1"#,
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    event: String,
    property_id: Uuid,
    user_id: Uuid,
    payload: Value,
}

/// The webhook events (the live stream's other events have `webhook = false`).
async fn events(app: &TestApp) -> Vec<EventRow> {
    sqlx::query_as(
        "select event, property_id, user_id, payload from events where webhook order by seq",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Rows of every table of the schema but the migrations' own.
async fn table_counts(app: &TestApp) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        r#"select table_name::text from information_schema.tables
           where table_schema = 'public' and table_type = 'BASE TABLE'
             and table_name <> '_sqlx_migrations'
           order by 1"#,
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut counts = Vec::new();
    for table in tables {
        let n = app
            .count(&format!("select count(*) from \"{table}\""))
            .await;
        counts.push((table, n));
    }
    counts
}

// ---- reset ----

#[tokio::test]
async fn reset_deletes_all_data_and_keeps_the_schema() {
    let app = TestApp::new().await;
    let (account, property, booking) = booked(&app).await;
    app.key_for(account.user_id, Some(vec![property])).await;
    guest_message(
        &app,
        booking,
        json!({"message": "hi", "attachments": [
            {"file": base64(b"data"), "file_name": "a.txt", "file_type": "text/plain"}
        ]}),
    )
    .await
    .expect_status(StatusCode::CREATED);
    let thread = app.thread_of(booking).await;
    property_writes(&app, &account.key, thread, "hello").await;
    inquiry(
        &app,
        json!({"property_id": property, "guest_name": "Ann", "checkin_date": "2030-08-01", "checkout_date": "2030-08-03"}),
    )
    .await
    .expect_status(StatusCode::CREATED);

    let before = table_counts(&app).await;
    for table in [
        "users",
        "api_keys",
        "api_key_properties",
        "properties",
        "application_installations",
        "channels",
        "bookings",
        "message_threads",
        "messages",
        "attachments",
        "ota_outbox",
        "events",
    ] {
        let n = before.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
        assert!(n.is_some_and(|n| n > 0), "{table} before the reset: {n:?}");
    }
    let migrations = app.count("select count(*) from _sqlx_migrations").await;
    assert!(migrations > 0);

    let response = app
        .admin(Method::POST, "/admin/reset")
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(response.json(), json!({"meta": {"message": "Success"}}));

    for (table, n) in table_counts(&app).await {
        // The stream's counter stays: stream ids never go back.
        if table == "event_stream" {
            continue;
        }
        assert_eq!(n, 0, "{table} after the reset");
    }
    assert_eq!(app.count("select count(*) from event_stream").await, 1);
    assert_eq!(
        app.count("select count(*) from _sqlx_migrations").await,
        migrations
    );
    // The old key is gone with its user.
    app.get("/api/v1/properties")
        .key(&account.key)
        .send()
        .await
        .expect_error(401, "unauthorized");

    // The schema still works end to end, and resetting an empty database is fine.
    let (_, _, booking) = booked(&app).await;
    app.guest_writes(booking, "after the reset").await;
    assert_eq!(app.count("select count(*) from users").await, 1);
    app.admin(Method::POST, "/admin/reset")
        .send()
        .await
        .expect_status(StatusCode::OK);
    app.admin(Method::POST, "/admin/reset")
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(app.count("select count(*) from users").await, 0);
}

// ---- users ----

#[tokio::test]
async fn creating_a_user_answers_201_with_the_user() {
    let app = TestApp::new().await;
    let response = app
        .admin(Method::POST, "/admin/users")
        .json(json!({"user": {"email": "  Ann.Lee@Example.com ", "name": "Ann Lee"}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    let data = response.data();
    assert_timestamp(&data["attributes"]["inserted_at"]);
    assert_timestamp(&data["attributes"]["updated_at"]);
    assert_eq!(
        data,
        json!({
            "id": response.id(), "type": "user",
            "attributes": {
                "email": "Ann.Lee@Example.com", "name": "Ann Lee",
                "inserted_at": data["attributes"]["inserted_at"],
                "updated_at": data["attributes"]["updated_at"]
            }
        })
    );
    let stored: String = sqlx::query_scalar("select email from users where id = $1")
        .bind(response.id())
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, "Ann.Lee@Example.com");

    let nameless = app
        .admin(Method::POST, "/admin/users")
        .json(json!({"user": {"email": "solo@example.com"}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(nameless.data()["attributes"]["name"], Value::Null);
}

#[tokio::test]
async fn a_taken_email_is_a_422() {
    let app = TestApp::new().await;
    app.admin(Method::POST, "/admin/users")
        .json(json!({"user": {"email": "ann@example.com"}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    for email in ["ann@example.com", " ann@example.com "] {
        let response = app
            .admin(Method::POST, "/admin/users")
            .json(json!({"user": {"email": email, "name": "Another Ann"}}))
            .send()
            .await;
        response.expect_error(422, "validation_error");
        assert_eq!(
            response.json(),
            validation(json!({"email": ["has already been taken"]})),
            "{email:?}"
        );
    }
    assert_eq!(app.count("select count(*) from users").await, 1);
}

#[tokio::test]
async fn invalid_users_are_a_422_naming_each_field() {
    let app = TestApp::new().await;
    let long_email = format!("{}@example.com", "a".repeat(243));
    assert_eq!(long_email.chars().count(), 255);
    let cases = [
        (json!({}), json!({"user": ["can't be blank"]})),
        (
            json!({"user": "ann@example.com"}),
            json!({"user": ["is invalid"]}),
        ),
        (json!({"user": {}}), json!({"email": ["can't be blank"]})),
        (
            json!({"user": {"email": "  "}}),
            json!({"email": ["can't be blank"]}),
        ),
        (
            json!({"user": {"email": "not-an-email"}}),
            json!({"email": ["is invalid"]}),
        ),
        (
            json!({"user": {"email": "a@b@c"}}),
            json!({"email": ["is invalid"]}),
        ),
        (
            json!({"user": {"email": "ann lee@example.com"}}),
            json!({"email": ["is invalid"]}),
        ),
        (
            json!({"user": {"email": "@example.com"}}),
            json!({"email": ["is invalid"]}),
        ),
        (
            json!({"user": {"email": 42}}),
            json!({"email": ["is invalid"]}),
        ),
        (
            json!({"user": {"email": "a\u{0}@b.c"}}),
            json!({"email": ["is invalid"]}),
        ),
        (
            json!({"user": {"email": long_email}}),
            json!({"email": ["is too long"]}),
        ),
        (
            json!({"user": {"email": "ann@example.com", "name": "x".repeat(256)}}),
            json!({"name": ["is too long"]}),
        ),
        (
            json!({"user": {"email": "ann@example.com", "name": ["Ann"]}}),
            json!({"name": ["is invalid"]}),
        ),
    ];
    for (body, details) in cases {
        let response = app
            .admin(Method::POST, "/admin/users")
            .json(body.clone())
            .send()
            .await;
        response.expect_error(422, "validation_error");
        assert_eq!(response.json(), validation(details), "{body}");
    }
    assert_eq!(app.count("select count(*) from users").await, 0);
}

// ---- api keys ----

#[tokio::test]
async fn creating_an_api_key_shows_the_plaintext_once() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let response = app
        .admin(Method::POST, "/admin/api_keys")
        .json(json!({"api_key": {"user_id": account.user_id}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    let data = response.data();
    let key = data["attributes"]["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("oik_"), "{key}");
    assert_timestamp(&data["attributes"]["inserted_at"]);
    assert_eq!(
        data,
        json!({
            "id": response.id(), "type": "api_key",
            "attributes": {
                "key": key, "user_id": account.user_id, "property_ids": null,
                "inserted_at": data["attributes"]["inserted_at"], "revoked_at": null
            }
        })
    );

    // No key, not even this one, is ever shown again.
    let revoked = app
        .admin(
            Method::DELETE,
            &format!("/admin/api_keys/{}", response.id()),
        )
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert!(!String::from_utf8_lossy(&revoked.body).contains(&key));
    assert!(!String::from_utf8_lossy(&revoked.body).contains("oik_"));
}

#[tokio::test]
async fn a_key_without_property_ids_sees_every_property_of_its_user_even_later_ones() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let before = app.property(&account, false).await;
    let key = app.key_for(account.user_id, None).await;
    let after = app.property(&account, false).await;
    let other = app.user().await;
    app.property(&other, false).await;

    let list = app
        .get("/api/v1/properties")
        .key(&key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    let ids: BTreeSet<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([before.to_string().as_str(), after.to_string().as_str()])
    );
    assert_eq!(list["meta"]["total"], 2);
}

#[tokio::test]
async fn a_key_with_property_ids_lists_them_once_and_sees_only_them() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let a = app.property(&account, false).await;
    let b = app.property(&account, false).await;
    app.property(&account, false).await;

    let response = app
        .admin(Method::POST, "/admin/api_keys")
        .json(json!({"api_key": {"user_id": account.user_id, "property_ids": [b, a, b]}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    let listed: BTreeSet<String> = response.data()["attributes"]["property_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, BTreeSet::from([a.to_string(), b.to_string()]));
    assert_eq!(
        app.count_with(
            "select count(*) from api_key_properties where api_key_id = $1::uuid",
            &response.id().to_string()
        )
        .await,
        2
    );
    let key = response.data()["attributes"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = app
        .get("/api/v1/properties")
        .key(&key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(list["meta"]["total"], 2);

    // An empty list is a key that sees nothing.
    let empty = app
        .admin(Method::POST, "/admin/api_keys")
        .json(json!({"api_key": {"user_id": account.user_id, "property_ids": []}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(empty.data()["attributes"]["property_ids"], json!([]));
    let key = empty.data()["attributes"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = app
        .get("/api/v1/properties")
        .key(&key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(list["meta"]["total"], 0);
}

#[tokio::test]
async fn invalid_api_keys_are_a_422_and_create_nothing() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let mine = app.property(&account, false).await;
    let other = app.user().await;
    let theirs = app.property(&other, false).await;
    let keys_before = app.count("select count(*) from api_keys").await;

    let cases = [
        (json!({}), json!({"api_key": ["can't be blank"]})),
        (
            json!({"api_key": {}}),
            json!({"user_id": ["can't be blank"]}),
        ),
        (
            json!({"api_key": {"user_id": "nope"}}),
            json!({"user_id": ["is invalid"]}),
        ),
        (
            json!({"api_key": {"user_id": Uuid::new_v4()}}),
            json!({"user_id": ["not found"]}),
        ),
        (
            json!({"api_key": {"user_id": account.user_id, "property_ids": [theirs]}}),
            json!({"property_ids": ["must be properties of the user"]}),
        ),
        (
            json!({"api_key": {"user_id": account.user_id, "property_ids": [mine, theirs]}}),
            json!({"property_ids": ["must be properties of the user"]}),
        ),
        (
            json!({"api_key": {"user_id": account.user_id, "property_ids": [Uuid::new_v4()]}}),
            json!({"property_ids": ["must be properties of the user"]}),
        ),
        (
            json!({"api_key": {"user_id": account.user_id, "property_ids": ["not-a-uuid"]}}),
            json!({"property_ids": ["is invalid"]}),
        ),
        (
            json!({"api_key": {"user_id": account.user_id, "property_ids": [mine, 5]}}),
            json!({"property_ids": ["is invalid"]}),
        ),
        (
            json!({"api_key": {"user_id": account.user_id, "property_ids": mine}}),
            json!({"property_ids": ["is invalid"]}),
        ),
    ];
    for (body, details) in cases {
        let response = app
            .admin(Method::POST, "/admin/api_keys")
            .json(body.clone())
            .send()
            .await;
        response.expect_error(422, "validation_error");
        assert_eq!(response.json(), validation(details), "{body}");
    }
    assert_eq!(
        app.count("select count(*) from api_keys").await,
        keys_before
    );
}

// ---- bookings ----

#[tokio::test]
async fn creating_a_booking_answers_201_with_the_booking() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let response = app
        .admin(Method::POST, "/admin/bookings")
        .json(json!({"booking": {
            "property_id": property, "ota_name": " BookingCom ", "ota_reservation_code": " 4123 ",
            "arrival_date": "2030-07-01", "departure_date": "2030-07-02",
            "customer": {"name": " Roxy ", "surname": " Maldonado "}
        }}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    let data = response.data();
    assert_timestamp(&data["attributes"]["inserted_at"]);
    assert_eq!(
        data,
        json!({
            "id": response.id(), "type": "booking",
            "attributes": {
                "property_id": property, "ota_name": "BookingCom", "ota_reservation_code": "4123",
                "arrival_date": "2030-07-01", "departure_date": "2030-07-02",
                "customer": {"name": "Roxy", "surname": "Maldonado"},
                "status": "new", "inserted_at": data["attributes"]["inserted_at"]
            }
        })
    );
    // No thread until someone writes.
    assert_eq!(app.count("select count(*) from message_threads").await, 0);

    // One channel per property and OTA.
    app.booking(property, "BookingCom").await;
    assert_eq!(app.count("select count(*) from channels").await, 1);
    app.booking(property, "Expedia").await;
    assert_eq!(app.count("select count(*) from channels").await, 2);
    assert_eq!(app.count("select count(*) from bookings").await, 3);
}

#[tokio::test]
async fn a_booking_without_a_reservation_code_gets_a_generated_one() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let mut codes = BTreeSet::new();
    for code in [None, Some(""), Some("   ")] {
        let mut booking = json!({
            "property_id": property, "ota_name": "AirBNB",
            "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
            "customer": {"name": "Roxy"}
        });
        if let Some(code) = code {
            booking["ota_reservation_code"] = json!(code);
        }
        let response = app
            .admin(Method::POST, "/admin/bookings")
            .json(json!({ "booking": booking }))
            .send()
            .await
            .expect_status(StatusCode::CREATED);
        let attributes = response.data()["attributes"].clone();
        let generated = attributes["ota_reservation_code"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            generated.len() == 10 && generated.bytes().all(|b| b.is_ascii_digit()),
            "{code:?}: {generated}"
        );
        assert_eq!(
            attributes["customer"],
            json!({"name": "Roxy", "surname": null})
        );
        codes.insert(generated);
    }
    assert_eq!(codes.len(), 3, "{codes:?}");
}

#[tokio::test]
async fn invalid_bookings_are_a_422_naming_each_field_and_create_nothing() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let valid = json!({
        "property_id": property, "ota_name": "BookingCom",
        "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
        "customer": {"name": "Roxy", "surname": "Maldonado"}
    });
    let with = |changes: Value| {
        let mut booking = valid.clone();
        for (field, value) in changes.as_object().unwrap() {
            if value.is_null() {
                booking.as_object_mut().unwrap().remove(field);
            } else {
                booking[field] = value.clone();
            }
        }
        json!({ "booking": booking })
    };
    let cases = [
        (json!({}), json!({"booking": ["can't be blank"]})),
        (json!({"booking": []}), json!({"booking": ["is invalid"]})),
        (
            with(json!({"customer": null})),
            json!({"customer": ["can't be blank"]}),
        ),
        (
            with(json!({"customer": "Roxy"})),
            json!({"customer": ["is invalid"]}),
        ),
        (
            with(json!({"customer": {}})),
            json!({"customer.name": ["can't be blank"]}),
        ),
        (
            with(json!({"customer": {"name": "  ", "surname": "M"}})),
            json!({"customer.name": ["can't be blank"]}),
        ),
        (
            with(json!({"customer": {"name": "Roxy", "surname": 7}})),
            json!({"customer.surname": ["is invalid"]}),
        ),
        (
            with(json!({"customer": {"name": "x".repeat(256)}})),
            json!({"customer.name": ["is too long"]}),
        ),
        (
            with(json!({"departure_date": "2030-07-01"})),
            json!({"departure_date": ["must be after arrival_date"]}),
        ),
        (
            with(json!({"departure_date": "2030-06-30"})),
            json!({"departure_date": ["must be after arrival_date"]}),
        ),
        (
            with(json!({"arrival_date": "2023-02-30"})),
            json!({"arrival_date": ["is invalid"]}),
        ),
        (
            with(json!({"arrival_date": "2030-7-1"})),
            json!({"arrival_date": ["is invalid"]}),
        ),
        (
            with(json!({"arrival_date": "2030-07-01T00:00:00"})),
            json!({"arrival_date": ["is invalid"]}),
        ),
        (
            with(json!({"departure_date": 20300704})),
            json!({"departure_date": ["is invalid"]}),
        ),
        (
            with(json!({"arrival_date": null})),
            json!({"arrival_date": ["can't be blank"]}),
        ),
        (
            with(json!({"ota_name": null})),
            json!({"ota_name": ["can't be blank"]}),
        ),
        (
            with(json!({"ota_name": "x".repeat(101)})),
            json!({"ota_name": ["is too long"]}),
        ),
        (
            with(json!({"property_id": null})),
            json!({"property_id": ["can't be blank"]}),
        ),
        (
            with(json!({"property_id": "abc"})),
            json!({"property_id": ["is invalid"]}),
        ),
        (
            with(json!({"property_id": Uuid::new_v4().to_string()})),
            json!({"property_id": ["not found"]}),
        ),
        (
            with(json!({"ota_reservation_code": "R\u{0}1"})),
            json!({"ota_reservation_code": ["is invalid"]}),
        ),
        (
            json!({"booking": {"customer": {}}}),
            json!({
                "property_id": ["can't be blank"], "ota_name": ["can't be blank"],
                "arrival_date": ["can't be blank"], "departure_date": ["can't be blank"],
                "customer.name": ["can't be blank"]
            }),
        ),
    ];
    for (body, details) in cases {
        let response = app
            .admin(Method::POST, "/admin/bookings")
            .json(body.clone())
            .send()
            .await;
        response.expect_error(422, "validation_error");
        assert_eq!(response.json(), validation(details), "{body}");
    }
    assert_eq!(app.count("select count(*) from bookings").await, 0);
    assert_eq!(app.count("select count(*) from channels").await, 0);
    // The valid body itself is accepted.
    app.admin(Method::POST, "/admin/bookings")
        .json(with(json!({})))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_bookings_of_an_ota_share_one_channel() {
    let app = TestApp::new().await;
    let account = app.user().await;
    for round in 0..5 {
        let property = app.property(&account, true).await;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let call = app
                .admin(Method::POST, "/admin/bookings")
                .json(json!({"booking": {
                    "property_id": property, "ota_name": "Agoda",
                    "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
                    "customer": {"name": "Roxy"}
                }}));
            tasks.spawn(call.send());
        }
        while let Some(response) = tasks.join_next().await {
            response.unwrap().expect_status(StatusCode::CREATED);
        }
        let channels = app
            .count_with(
                "select count(*) from channels where property_id = $1::uuid",
                &property.to_string(),
            )
            .await;
        assert_eq!(channels, 1, "round {round}");
    }
    assert_eq!(app.count("select count(*) from bookings").await, 30);
}

// ---- guest messages on bookings ----

#[tokio::test]
async fn a_guest_message_creates_the_booking_thread_once() {
    let app = TestApp::new().await;
    let (_, property, booking) = booked(&app).await;

    let first = guest_message(&app, booking, json!({"message": "Hello, is parking free?"}))
        .await
        .expect_status(StatusCode::CREATED);
    let thread = app.thread_of(booking).await;
    let data = first.data();
    assert_timestamp(&data["attributes"]["inserted_at"]);
    assert_eq!(
        data,
        json!({
            "id": first.id(), "type": "message",
            "attributes": {
                "message": "Hello, is parking free?", "attachments": [], "sender": "guest",
                "inserted_at": data["attributes"]["inserted_at"],
                "updated_at": data["attributes"]["inserted_at"]
            },
            "relationships": {
                "message_thread": {"data": {"id": thread, "type": "message_thread"}}
            }
        })
    );
    let row = thread_row(&app, thread).await;
    assert_eq!(row.property_id, property);
    assert_eq!(row.booking_id, Some(booking));
    assert_eq!(row.provider, "BookingCom");
    assert_eq!(row.title, "Roxy Maldonado");
    assert_eq!(row.message_count, 1);

    let second = guest_message(&app, booking, json!({"message": "And breakfast?"}))
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(
        second.data()["relationships"]["message_thread"]["data"]["id"],
        thread.to_string()
    );
    assert_eq!(app.count("select count(*) from message_threads").await, 1);
    assert_eq!(app.count("select count(*) from messages").await, 2);

    let at = second.data()["attributes"]["inserted_at"].clone();
    let row = thread_row(&app, thread).await;
    assert_eq!(row.message_count, 2);
    assert_eq!(
        row.last_message,
        Some(
            json!({"attachments": [], "inserted_at": at, "message": "And breakfast?", "sender": "guest"})
        )
    );
    assert_eq!(
        row.last_message_received_at.map(wire),
        at.as_str().map(str::to_owned)
    );
    assert_eq!(wire(row.updated_at), at.as_str().unwrap());
    assert!(!row.is_closed);
}

#[tokio::test]
async fn a_guest_message_reopens_a_closed_thread() {
    let app = TestApp::new().await;
    let (account, _, booking) = booked(&app).await;
    app.guest_writes(booking, "first").await;
    let thread = app.thread_of(booking).await;

    sqlx::query("update message_threads set is_closed = true where id = $1")
        .bind(thread)
        .execute(&app.db)
        .await
        .unwrap();
    app.guest_writes(booking, "still there?").await;
    assert!(!thread_row(&app, thread).await.is_closed);

    // Closed through the Messages API, reopened through the thread route.
    let closed = app
        .post(&format!("/api/v1/message_threads/{thread}/close"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(closed.data()["attributes"]["is_closed"], true);
    thread_guest_message(&app, thread, json!({"message": "hello again"}))
        .await
        .expect_status(StatusCode::CREATED);
    let row = thread_row(&app, thread).await;
    assert!(!row.is_closed);
    assert_eq!(row.message_count, 3);
}

#[tokio::test]
async fn guest_attachments_round_trip_byte_exact() {
    let app = TestApp::new().await;
    let (_, _, booking) = booked(&app).await;
    let first: Vec<u8> = (0..=255u8).chain([0x00, 0x00, 0xff, 0xff, 0x00]).collect();
    let second = vec![0xffu8, 0x00, 0xfe, 0x01];
    let response = guest_message(
        &app,
        booking,
        json!({"message": "", "attachments": [
            {"file": base64(&first), "file_name": "all bytes.bin", "file_type": "application/octet-stream"},
            // Unpadded base64 is accepted too.
            {"file": base64(&second).trim_end_matches('='), "file_name": "photo 1 (é).jpg", "file_type": "image/jpeg"}
        ]}),
    )
    .await
    .expect_status(StatusCode::CREATED);
    let message = response.id();

    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        user_id: Option<Uuid>,
        message_id: Option<Uuid>,
        position: i32,
        file_name: String,
        file_type: String,
        byte_size: i32,
        sha256: Vec<u8>,
        data: Vec<u8>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        r#"select id, user_id, message_id, position, file_name, file_type, byte_size, sha256, data
           from attachments order by position"#,
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    for (row, (position, bytes, name, kind)) in rows.iter().zip([
        (0, &first, "all bytes.bin", "application/octet-stream"),
        (1, &second, "photo 1 (é).jpg", "image/jpeg"),
    ]) {
        assert_eq!(row.data, *bytes, "{name}");
        assert_eq!(row.byte_size as usize, bytes.len());
        assert_eq!(row.sha256, Sha256::digest(bytes).to_vec());
        assert_eq!(row.position, position);
        assert_eq!(row.file_name, name);
        assert_eq!(row.file_type, kind);
        assert_eq!(row.message_id, Some(message));
        assert_eq!(row.user_id, None);
    }

    let urls = json!([
        format!("attachments/{}/all%20bytes.bin", rows[0].id),
        format!("attachments/{}/photo%201%20%28%C3%A9%29.jpg", rows[1].id),
    ]);
    let attributes = response.data()["attributes"].clone();
    assert_eq!(attributes["attachments"], urls);
    assert_eq!(attributes["message"], "");
    let row = thread_row(&app, app.thread_of(booking).await).await;
    assert_eq!(row.last_message.unwrap()["attachments"], urls);
    let event = events(&app).await.pop().unwrap();
    assert_eq!(event.payload["attachments"], urls);
    assert_eq!(event.payload["have_attachment"], true);
}

#[tokio::test]
async fn invalid_guest_messages_are_a_422_naming_the_field_and_write_nothing() {
    let app = TestApp::new().await;
    let (_, _, booking) = booked(&app).await;
    let file = |file: Value, name: &str, kind: &str| json!({"file": file, "file_name": name, "file_type": kind});
    let ok = file(json!(base64(b"ok")), "a.txt", "text/plain");
    let too_big = base64(&vec![1u8; crate::support::MAX_ATTACHMENT_BYTES + 1]);
    let cases = [
        (
            json!({"attachments": [file(json!("not base64!"), "a.txt", "text/plain")]}),
            json!({"attachments[0].file": ["is invalid"]}),
        ),
        (
            json!({"attachments": [file(json!("abcde"), "a.txt", "text/plain")]}),
            json!({"attachments[0].file": ["is invalid"]}),
        ),
        (
            json!({"attachments": [file(json!(""), "a.txt", "text/plain")]}),
            json!({"attachments[0].file": ["can't be blank"]}),
        ),
        (
            json!({"attachments": [file(json!(12), "a.txt", "text/plain")]}),
            json!({"attachments[0].file": ["is invalid"]}),
        ),
        (
            json!({"attachments": [{"file_name": "a.txt", "file_type": "text/plain"}]}),
            json!({"attachments[0].file": ["can't be blank"]}),
        ),
        (
            json!({"attachments": [file(json!(too_big), "a.txt", "text/plain")]}),
            json!({"attachments[0].file": ["is too large"]}),
        ),
        (
            json!({"attachments": [file(json!(base64(b"x")), "../x", "text/plain")]}),
            json!({"attachments[0].file_name": ["is invalid"]}),
        ),
        (
            json!({"attachments": [file(json!(base64(b"x")), "a\\b", "text/plain")]}),
            json!({"attachments[0].file_name": ["is invalid"]}),
        ),
        (
            json!({"attachments": [file(json!(base64(b"x")), "..", "text/plain")]}),
            json!({"attachments[0].file_name": ["is invalid"]}),
        ),
        (
            json!({"attachments": [file(json!(base64(b"x")), "a\nb", "text/plain")]}),
            json!({"attachments[0].file_name": ["is invalid"]}),
        ),
        (
            json!({"attachments": [file(json!(base64(b"x")), "", "text/plain")]}),
            json!({"attachments[0].file_name": ["can't be blank"]}),
        ),
        (
            json!({"attachments": [file(json!(base64(b"x")), &"a".repeat(256), "text/plain")]}),
            json!({"attachments[0].file_name": ["is too long"]}),
        ),
        (
            json!({"attachments": [file(json!(base64(b"x")), "a.txt", "text")]}),
            json!({"attachments[0].file_type": ["is invalid"]}),
        ),
        (
            json!({"attachments": [file(json!(base64(b"x")), "a.txt", "")]}),
            json!({"attachments[0].file_type": ["can't be blank"]}),
        ),
        (
            json!({"attachments": [ok.clone(), file(json!("%%%"), "b.txt", "text/plain")]}),
            json!({"attachments[1].file": ["is invalid"]}),
        ),
        (
            json!({"attachments": [5]}),
            json!({"attachments[0]": ["is invalid"]}),
        ),
        (
            json!({"attachments": ok.clone()}),
            json!({"attachments": ["is invalid"]}),
        ),
        (
            json!({"attachments": vec![ok.clone(); 11]}),
            json!({"attachments": ["is too long"]}),
        ),
        (
            json!({"message": "a\u{0}b"}),
            json!({"message": ["is invalid"]}),
        ),
        (
            json!({"message": "x".repeat(10_001)}),
            json!({"message": ["is too long"]}),
        ),
        (
            json!({"message": "é".repeat(10_001)}),
            json!({"message": ["is too long"]}),
        ),
        (
            json!({"message": ""}),
            json!({"message": ["can't be blank"]}),
        ),
        (
            json!({"message": "  \n "}),
            json!({"message": ["can't be blank"]}),
        ),
        (
            json!({"message": null}),
            json!({"message": ["can't be blank"]}),
        ),
        (json!({}), json!({"message": ["can't be blank"]})),
        (json!({"message": 5}), json!({"message": ["is invalid"]})),
        (
            json!({"message": "hi", "ota_message_id": "x".repeat(256)}),
            json!({"ota_message_id": ["is too long"]}),
        ),
        (json!("hi"), json!({"message": ["is invalid"]})),
    ];
    for (message, details) in cases {
        let response = guest_message(&app, booking, message.clone()).await;
        response.expect_error(422, "validation_error");
        assert_eq!(response.json(), validation(details), "{message}");
    }
    // No envelope at all.
    let response = app
        .admin(
            Method::POST,
            &format!("/admin/bookings/{booking}/guest_messages"),
        )
        .json(json!({"text": "hi"}))
        .send()
        .await;
    assert_eq!(
        response.json(),
        validation(json!({"message": ["can't be blank"]}))
    );

    for table in ["message_threads", "messages", "attachments", "events"] {
        assert_eq!(
            app.count(&format!("select count(*) from {table}")).await,
            0,
            "{table}"
        );
    }
    // Ten thousand characters are fine.
    guest_message(&app, booking, json!({"message": "é".repeat(10_000)}))
        .await
        .expect_status(StatusCode::CREATED);
}

#[tokio::test]
async fn an_empty_message_with_an_empty_attachment_list_is_blank() {
    let app = TestApp::new().await;
    let (_, _, booking) = booked(&app).await;
    let response = guest_message(&app, booking, json!({"message": "", "attachments": []})).await;
    response.expect_error(422, "validation_error");
    assert_eq!(
        response.json(),
        validation(json!({"message": ["can't be blank"]}))
    );
    assert_eq!(app.count("select count(*) from messages").await, 0);
}

#[tokio::test]
async fn a_failed_guest_message_writes_nothing() {
    let app = TestApp::new().await;
    let (_, _, booking) = booked(&app).await;
    app.guest_writes(booking, "first").await;
    let thread = app.thread_of(booking).await;
    let before = thread_row(&app, thread).await;

    let body = json!({"message": "with files", "attachments": [
        {"file": base64(b"valid"), "file_name": "ok.txt", "file_type": "text/plain"},
        {"file": "***", "file_name": "bad.txt", "file_type": "text/plain"}
    ]});
    let response = guest_message(&app, booking, body.clone()).await;
    assert_eq!(
        response.json(),
        validation(json!({"attachments[1].file": ["is invalid"]}))
    );
    let response = thread_guest_message(&app, thread, body).await;
    assert_eq!(
        response.json(),
        validation(json!({"attachments[1].file": ["is invalid"]}))
    );

    assert_eq!(app.count("select count(*) from messages").await, 1);
    assert_eq!(app.count("select count(*) from attachments").await, 0);
    assert_eq!(
        app.count("select count(*) from events where webhook").await,
        1
    );
    let after = thread_row(&app, thread).await;
    assert_eq!(after.message_count, 1);
    assert_eq!(after.last_message, before.last_message);
    assert_eq!(after.updated_at, before.updated_at);
}

#[tokio::test]
async fn a_redelivered_ota_message_id_is_stored_once() {
    let app = TestApp::new().await;
    let (_, property, booking) = booked(&app).await;
    let first = guest_message(
        &app,
        booking,
        json!({"message": "hi", "ota_message_id": "ota-1"}),
    )
    .await
    .expect_status(StatusCode::CREATED);
    let thread = app.thread_of(booking).await;

    let again = guest_message(
        &app,
        booking,
        json!({"message": "hi (again)", "ota_message_id": "ota-1"}),
    )
    .await
    .expect_status(StatusCode::OK);
    assert_eq!(again.json(), first.json());
    let via_thread = thread_guest_message(
        &app,
        thread,
        json!({"message": "hi", "ota_message_id": "ota-1"}),
    )
    .await
    .expect_status(StatusCode::OK);
    assert_eq!(via_thread.id(), first.id());

    assert_eq!(thread_row(&app, thread).await.message_count, 1);
    assert_eq!(app.count("select count(*) from messages").await, 1);
    assert_eq!(
        app.count("select count(*) from events where webhook").await,
        1
    );

    // The id is the OTA's within one thread: another booking may reuse it.
    let other = app.booking(property, "BookingCom").await;
    guest_message(
        &app,
        other,
        json!({"message": "hi", "ota_message_id": "ota-1"}),
    )
    .await
    .expect_status(StatusCode::CREATED);
    // An empty OTA id is no id.
    for _ in 0..2 {
        guest_message(
            &app,
            booking,
            json!({"message": "no id", "ota_message_id": ""}),
        )
        .await
        .expect_status(StatusCode::CREATED);
    }
    assert_eq!(thread_row(&app, thread).await.message_count, 3);
}

#[tokio::test]
async fn an_ota_without_messaging_is_not_supported_even_before_validation() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    for ota in ["Expedia", "Agoda", "Offline"] {
        let booking = app.booking(property, ota).await;
        for body in [json!({"message": "hi"}), json!({"message": ""})] {
            let response = guest_message(&app, booking, body).await;
            response.expect_error(422, "not_supported");
            assert_eq!(
                response.json(),
                json!({"errors": {"code": "not_supported", "title": "Method not supported"}}),
                "{ota}"
            );
        }
    }
    assert_eq!(app.count("select count(*) from message_threads").await, 0);
    assert_eq!(app.count("select count(*) from messages").await, 0);
    // Airbnb bookings have messaging, under any spelling of the name.
    for ota in ["Airbnb", "AirBNB"] {
        let booking = app.booking(property, ota).await;
        app.guest_writes(booking, "hi").await;
        let row = thread_row(&app, app.thread_of(booking).await).await;
        assert_eq!(row.provider, "AirBNB");
    }
}

#[tokio::test]
async fn guest_messages_to_unknown_bookings_and_threads_are_a_404() {
    let app = TestApp::new().await;
    for path in [
        format!("/admin/bookings/{}/guest_messages", Uuid::new_v4()),
        format!("/admin/message_threads/{}/guest_messages", Uuid::new_v4()),
    ] {
        let response = app
            .admin(Method::POST, &path)
            .json(json!({"message": {"message": "hi"}}))
            .send()
            .await;
        response.expect_error(404, "not_found");
        assert_eq!(
            response.json(),
            json!({"errors": {"code": "not_found", "title": "Resouce Not Found"}})
        );
    }
    for path in [
        "/admin/bookings/123/guest_messages",
        "/admin/message_threads/abc/guest_messages",
    ] {
        let details = app
            .admin(Method::POST, path)
            .json(json!({"message": {"message": "hi"}}))
            .send()
            .await
            .expect_error(422, "bad_request");
        assert_eq!(details, json!({"id": ["is invalid"]}), "{path}");
    }
}

#[tokio::test]
async fn each_new_guest_message_records_a_message_event() {
    let app = TestApp::new().await;
    let (account, property, booking) = booked(&app).await;
    let first = guest_message(
        &app,
        booking,
        json!({"message": "hi", "ota_message_id": "m-1"}),
    )
    .await
    .expect_status(StatusCode::CREATED);
    let thread = app.thread_of(booking).await;
    // A redelivery and a property message record nothing.
    guest_message(
        &app,
        booking,
        json!({"message": "hi", "ota_message_id": "m-1"}),
    )
    .await
    .expect_status(StatusCode::OK);
    property_writes(&app, &account.key, thread, "Welcome!").await;
    let second = thread_guest_message(
        &app,
        thread,
        json!({"message": "thanks", "attachments": [
            {"file": base64(b"pdf"), "file_name": "id.pdf", "file_type": "application/pdf"}
        ]}),
    )
    .await
    .expect_status(StatusCode::CREATED);

    let events = events(&app).await;
    assert_eq!(events.len(), 2);
    let keys: BTreeSet<&str> = [
        "id",
        "message",
        "meta",
        "sender",
        "property_id",
        "booking_id",
        "message_thread_id",
        "live_feed_event_id",
        "attachments",
        "have_attachment",
        "ota_message_id",
    ]
    .into();
    for (event, (message, text, attachments, ota_id)) in events.iter().zip([
        (&first, "hi", json!([]), json!("m-1")),
        (
            &second,
            "thanks",
            second.data()["attributes"]["attachments"].clone(),
            Value::Null,
        ),
    ]) {
        assert_eq!(event.event, "message");
        assert_eq!(event.property_id, property);
        assert_eq!(event.user_id, account.user_id);
        let payload = event.payload.as_object().unwrap();
        assert_eq!(
            payload.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            keys
        );
        assert_eq!(payload["id"], message.id().to_string());
        assert_eq!(payload["message"], text);
        assert_eq!(payload["meta"], Value::Null);
        assert_eq!(payload["sender"], "guest");
        assert_eq!(payload["property_id"], property.to_string());
        assert_eq!(payload["booking_id"], booking.to_string());
        assert_eq!(payload["message_thread_id"], thread.to_string());
        assert!(
            payload["live_feed_event_id"]
                .as_str()
                .is_some_and(|s| s.parse::<Uuid>().is_ok())
        );
        assert_eq!(payload["attachments"], attachments);
        assert_eq!(
            payload["have_attachment"],
            !attachments.as_array().unwrap().is_empty()
        );
        assert_eq!(payload["ota_message_id"], ota_id);
    }
    assert_ne!(
        events[0].payload["live_feed_event_id"],
        events[1].payload["live_feed_event_id"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_guest_messages_share_one_thread() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    for round in 0..5 {
        let booking = app.booking(property, "BookingCom").await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..4 {
            let call = app
                .admin(
                    Method::POST,
                    &format!("/admin/bookings/{booking}/guest_messages"),
                )
                .json(json!({"message": {"message": format!("message {i}")}}));
            tasks.spawn(call.send());
        }
        while let Some(response) = tasks.join_next().await {
            response.unwrap().expect_status(StatusCode::CREATED);
        }
        let thread = app.thread_of(booking).await;
        assert_eq!(
            thread_row(&app, thread).await.message_count,
            4,
            "round {round}"
        );
    }
    assert_eq!(app.count("select count(*) from message_threads").await, 5);
}

// ---- guest messages on threads ----

#[tokio::test]
async fn a_guest_message_on_a_thread_joins_it() {
    let app = TestApp::new().await;
    let (_, property, booking) = booked(&app).await;
    app.guest_writes(booking, "first").await;
    let thread = app.thread_of(booking).await;
    let response = thread_guest_message(&app, thread, json!({"message": "second"}))
        .await
        .expect_status(StatusCode::CREATED);
    let data = response.data();
    assert_eq!(data["attributes"]["sender"], "guest");
    assert_eq!(data["attributes"]["message"], "second");
    assert_eq!(
        data["relationships"],
        json!({"message_thread": {"data": {"id": thread, "type": "message_thread"}}})
    );
    let row = thread_row(&app, thread).await;
    assert_eq!(row.message_count, 2);
    assert_eq!(row.last_message.unwrap()["message"], "second");
    assert_eq!(app.count("select count(*) from message_threads").await, 1);

    // An inquiry thread (no booking) takes guest messages too.
    let inquiry_thread = inquiry(
        &app,
        json!({"property_id": property, "guest_name": "Ann", "checkin_date": "2030-08-01", "checkout_date": "2030-08-03"}),
    )
    .await
    .expect_status(StatusCode::CREATED)
    .id();
    thread_guest_message(&app, inquiry_thread, json!({"message": "Is it free?"}))
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(thread_row(&app, inquiry_thread).await.message_count, 2);
    let last = events(&app).await.pop().unwrap();
    assert_eq!(last.event, "message");
    assert_eq!(last.payload["booking_id"], Value::Null);
    assert_eq!(
        last.payload["message_thread_id"],
        inquiry_thread.to_string()
    );
}

// ---- inquiries ----

#[tokio::test]
async fn an_inquiry_creates_an_airbnb_thread_with_its_system_message() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let response = inquiry(
        &app,
        json!({
            "property_id": property, "guest_name": "Ann Lee",
            "checkin_date": "2030-08-01", "checkout_date": "2030-08-05",
            "number_of_adults": 2, "number_of_children": 1, "currency": "USD",
            "expected_payout_amount_accurate": "350.5", "listing_id": "L-77",
            "listing_name": "Blue flat"
        }),
    )
    .await
    .expect_status(StatusCode::CREATED);
    let thread = response.id();
    let data = response.data();
    let channel: Uuid = sqlx::query_scalar(
        "select id from channels where property_id = $1 and ota_name = 'Airbnb'",
    )
    .bind(property)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let attributes = &data["attributes"];
    assert_timestamp(&attributes["inserted_at"]);
    let at = attributes["last_message"]["inserted_at"].clone();
    assert_timestamp(&at);
    assert_eq!(
        data,
        json!({
            "id": thread, "type": "message_thread",
            "attributes": {
                "title": "Ann Lee", "is_closed": false, "provider": "AirBNB", "message_count": 1,
                "last_message": {"attachments": [], "inserted_at": at, "message": "inquiry", "sender": "system"},
                "last_message_received_at": at,
                "inserted_at": attributes["inserted_at"], "updated_at": at
            },
            "relationships": {
                "channel": {"data": {"id": channel, "type": "channel"}},
                "property": {"data": {"id": property, "type": "property"}}
            }
        })
    );

    #[derive(sqlx::FromRow)]
    struct MessageRow {
        id: Uuid,
        sender: String,
        message: String,
        meta: Option<Value>,
    }
    let messages: Vec<MessageRow> = sqlx::query_as(
        "select id, sender, message, meta from messages where message_thread_id = $1",
    )
    .bind(thread)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(messages.len(), 1);
    let system = &messages[0];
    assert_eq!(
        (system.sender.as_str(), system.message.as_str()),
        ("system", "inquiry")
    );
    let meta = system.meta.clone().unwrap();
    assert_eq!(meta["status"], "active");
    let live_feed_event_id = meta["live_feed_event_id"].clone();
    assert!(
        live_feed_event_id
            .as_str()
            .is_some_and(|s| s.parse::<Uuid>().is_ok()),
        "{meta}"
    );
    let details = &meta["booking_details"];
    assert!(details["non_response_at"].is_string(), "{details}");
    assert_eq!(
        details,
        &json!({
            "checkin_date": "2030-08-01", "checkout_date": "2030-08-05", "currency": "USD",
            "expected_payout_amount_accurate": "350.50", "guest_name": "Ann Lee",
            "listing_id": "L-77", "listing_name": "Blue flat", "nights": 4,
            "non_response_at": details["non_response_at"],
            "number_of_adults": 2, "number_of_children": 1, "number_of_guests": 3,
            "number_of_infants": 0, "number_of_pets": 0,
            "property_id": property, "room_type_id": null
        })
    );

    let events = events(&app).await;
    assert_eq!(events.len(), 1, "no guest text, no message event");
    let event = &events[0];
    assert_eq!(event.event, "inquiry");
    assert_eq!(event.property_id, property);
    assert_eq!(event.user_id, account.user_id);
    assert_eq!(
        event.payload,
        json!({
            "message_thread_id": thread, "message_id": system.id, "property_id": property,
            "live_feed_event_id": live_feed_event_id, "title": "Ann Lee",
            "booking_details": details
        })
    );
    assert_eq!(app.count("select count(*) from bookings").await, 0);
}

#[tokio::test]
async fn an_inquiry_with_a_message_adds_the_guest_text_after_the_system_message() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let response = inquiry(
        &app,
        json!({
            "property_id": property, "guest_name": "  Bo  ",
            "checkin_date": "2030-08-01", "checkout_date": "2030-08-02",
            "message": "Can I bring my dog?"
        }),
    )
    .await
    .expect_status(StatusCode::CREATED);
    let thread = response.id();
    let attributes = response.data()["attributes"].clone();
    assert_eq!(attributes["title"], "Bo");
    assert_eq!(attributes["message_count"], 2);
    assert_eq!(attributes["last_message"]["sender"], "guest");
    assert_eq!(attributes["last_message"]["message"], "Can I bring my dog?");

    let senders: Vec<(String, String)> = sqlx::query_as(
        "select sender, message from messages where message_thread_id = $1 order by seq",
    )
    .bind(thread)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        senders,
        vec![
            ("system".to_owned(), "inquiry".to_owned()),
            ("guest".to_owned(), "Can I bring my dog?".to_owned())
        ]
    );
    // Defaults: one adult, the property's currency, one night.
    let meta: Value = sqlx::query_scalar(
        "select meta from messages where message_thread_id = $1 and sender = 'system'",
    )
    .bind(thread)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let details = &meta["booking_details"];
    assert_eq!(details["number_of_adults"], 1);
    assert_eq!(details["number_of_children"], 0);
    assert_eq!(details["number_of_guests"], 1);
    assert_eq!(details["nights"], 1);
    assert_eq!(details["currency"], "EUR");
    assert_eq!(details["expected_payout_amount_accurate"], Value::Null);

    let names: Vec<String> = events(&app).await.into_iter().map(|e| e.event).collect();
    assert_eq!(names, vec!["message", "inquiry"]);
}

#[tokio::test]
async fn invalid_inquiries_are_a_422_and_create_nothing() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let valid = json!({
        "property_id": property, "guest_name": "Ann",
        "checkin_date": "2030-08-01", "checkout_date": "2030-08-05"
    });
    let with = |changes: Value| {
        let mut inquiry = valid.clone();
        for (field, value) in changes.as_object().unwrap() {
            if value.is_null() {
                inquiry.as_object_mut().unwrap().remove(field);
            } else {
                inquiry[field] = value.clone();
            }
        }
        inquiry
    };
    let cases = [
        (
            with(json!({"checkout_date": "2030-07-31"})),
            json!({"checkout_date": ["must be after checkin_date"]}),
        ),
        (
            with(json!({"checkout_date": "2030-08-01"})),
            json!({"checkout_date": ["must be after checkin_date"]}),
        ),
        (
            with(json!({"checkin_date": "2030-02-30"})),
            json!({"checkin_date": ["is invalid"]}),
        ),
        (
            with(json!({"checkin_date": null})),
            json!({"checkin_date": ["can't be blank"]}),
        ),
        (
            with(json!({"guest_name": null})),
            json!({"guest_name": ["can't be blank"]}),
        ),
        (
            with(json!({"guest_name": " "})),
            json!({"guest_name": ["can't be blank"]}),
        ),
        (
            with(json!({"guest_name": 3})),
            json!({"guest_name": ["is invalid"]}),
        ),
        (
            with(json!({"property_id": null})),
            json!({"property_id": ["can't be blank"]}),
        ),
        (
            with(json!({"property_id": "p-1"})),
            json!({"property_id": ["is invalid"]}),
        ),
        (
            with(json!({"property_id": Uuid::new_v4().to_string()})),
            json!({"property_id": ["not found"]}),
        ),
        (
            with(json!({"currency": "usd"})),
            json!({"currency": ["is invalid"]}),
        ),
        (
            with(json!({"number_of_adults": -1})),
            json!({"number_of_adults": ["is invalid"]}),
        ),
        (
            with(json!({"number_of_children": "2"})),
            json!({"number_of_children": ["is invalid"]}),
        ),
        (
            with(json!({"expected_payout_amount_accurate": "lots"})),
            json!({"expected_payout_amount_accurate": ["is invalid"]}),
        ),
        (
            with(json!({"message": "x".repeat(10_001)})),
            json!({"message": ["is too long"]}),
        ),
    ];
    for (body, details) in cases {
        let response = inquiry(&app, body.clone()).await;
        response.expect_error(422, "validation_error");
        assert_eq!(response.json(), validation(details), "{body}");
    }
    let response = app
        .admin(Method::POST, "/admin/inquiries")
        .json(valid.clone())
        .send()
        .await;
    assert_eq!(
        response.json(),
        validation(json!({"inquiry": ["can't be blank"]}))
    );

    for table in ["message_threads", "messages", "events", "channels"] {
        assert_eq!(
            app.count(&format!("select count(*) from {table}")).await,
            0,
            "{table}"
        );
    }
    inquiry(&app, valid)
        .await
        .expect_status(StatusCode::CREATED);
}

// ---- booking assignment ----

/// An inquiry thread on the property; answers its id.
async fn inquiry_thread(app: &TestApp, property: Uuid) -> Uuid {
    inquiry(
        app,
        json!({"property_id": property, "guest_name": "Ann Lee", "checkin_date": "2030-08-01", "checkout_date": "2030-08-05"}),
    )
    .await
    .expect_status(StatusCode::CREATED)
    .id()
}

#[tokio::test]
async fn assigning_a_booking_links_the_inquiry_thread() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let thread = inquiry_thread(&app, property).await;
    let booking = app.booking(property, "Airbnb").await;

    let response = assign(&app, thread, json!({"booking_id": booking}))
        .await
        .expect_status(StatusCode::OK);
    let data = response.data();
    assert_eq!(data["id"], thread.to_string());
    assert_eq!(data["type"], "message_thread");
    assert_eq!(
        data["relationships"]["booking"],
        json!({"data": {"id": booking, "type": "booking"}})
    );
    assert_eq!(data["attributes"]["message_count"], 1);
    assert_eq!(thread_row(&app, thread).await.booking_id, Some(booking));

    let shown = app
        .get(&format!("/api/v1/bookings/{booking}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        shown.data()["relationships"]["message_thread"],
        json!({"data": {"id": thread, "type": "message_thread"}})
    );

    let assigned: Vec<EventRow> = events(&app)
        .await
        .into_iter()
        .filter(|e| e.event == "message_thread_booking_assigned")
        .collect();
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].property_id, property);
    assert_eq!(assigned[0].user_id, account.user_id);
    assert_eq!(
        assigned[0].payload,
        json!({"message_thread_id": thread, "booking_id": booking, "property_id": property})
    );

    // Assigning the same booking again changes nothing.
    let again = assign(&app, thread, json!({"booking_id": booking}))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(again.data()["relationships"], data["relationships"]);
    assert_eq!(
        app.count("select count(*) from events where event = 'message_thread_booking_assigned'")
            .await,
        1
    );

    // The booking's guest messages now land in the inquiry thread.
    app.guest_writes(booking, "We booked!").await;
    assert_eq!(app.count("select count(*) from message_threads").await, 1);
    assert_eq!(thread_row(&app, thread).await.message_count, 2);
}

#[tokio::test]
async fn a_booking_that_does_not_fit_the_thread_is_a_422() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let elsewhere = app.property(&account, true).await;
    let thread = inquiry_thread(&app, property).await;

    let foreign = app.booking(elsewhere, "Airbnb").await;
    let with_thread = app.booking(property, "Airbnb").await;
    app.guest_writes(with_thread, "I have my own thread").await;
    let cases = [
        (
            json!({"booking_id": foreign}),
            json!({"booking_id": ["must belong to the thread's property"]}),
        ),
        (
            json!({"booking_id": with_thread}),
            json!({"booking_id": ["has already been taken"]}),
        ),
        (
            json!({"booking_id": Uuid::new_v4()}),
            json!({"booking_id": ["not found"]}),
        ),
        (
            json!({"booking_id": "b-1"}),
            json!({"booking_id": ["is invalid"]}),
        ),
        (
            json!({"booking_id": 7}),
            json!({"booking_id": ["is invalid"]}),
        ),
        (
            json!({"booking_id": null}),
            json!({"booking_id": ["can't be blank"]}),
        ),
        (json!({}), json!({"booking_id": ["can't be blank"]})),
    ];
    for (body, details) in cases {
        let response = assign(&app, thread, body.clone()).await;
        response.expect_error(422, "validation_error");
        assert_eq!(response.json(), validation(details), "{body}");
    }
    assert_eq!(thread_row(&app, thread).await.booking_id, None);

    // A thread that has a booking keeps it.
    let booking = app.booking(property, "Airbnb").await;
    assign(&app, thread, json!({"booking_id": booking}))
        .await
        .expect_status(StatusCode::OK);
    let another = app.booking(property, "Airbnb").await;
    let response = assign(&app, thread, json!({"booking_id": another})).await;
    assert_eq!(
        response.json(),
        validation(json!({"booking_id": ["thread already has a booking"]}))
    );
    let booking_thread = app.thread_of(with_thread).await;
    let response = assign(&app, booking_thread, json!({"booking_id": another})).await;
    assert_eq!(
        response.json(),
        validation(json!({"booking_id": ["thread already has a booking"]}))
    );
    assert_eq!(thread_row(&app, thread).await.booking_id, Some(booking));
    assert_eq!(
        app.count("select count(*) from events where event = 'message_thread_booking_assigned'")
            .await,
        1
    );
}

#[tokio::test]
async fn assigning_to_an_unknown_or_malformed_thread_is_a_404_or_422() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "Airbnb").await;
    // The thread is looked up before the body is read.
    for body in [json!({"booking_id": booking}), json!({})] {
        assign(&app, Uuid::new_v4(), body)
            .await
            .expect_error(404, "not_found");
    }
    let details = app
        .admin(Method::POST, "/admin/message_threads/t-1/assign_booking")
        .json(json!({"booking_id": booking}))
        .send()
        .await
        .expect_error(422, "bad_request");
    assert_eq!(details, json!({"id": ["is invalid"]}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_assignments_of_one_booking_give_it_to_one_thread() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    for round in 0..5 {
        let booking = app.booking(property, "Airbnb").await;
        let mut threads = Vec::new();
        for _ in 0..3 {
            threads.push(inquiry_thread(&app, property).await);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for thread in threads {
            let call = app
                .admin(
                    Method::POST,
                    &format!("/admin/message_threads/{thread}/assign_booking"),
                )
                .json(json!({"booking_id": booking}));
            tasks.spawn(call.send());
        }
        let mut statuses = Vec::new();
        while let Some(response) = tasks.join_next().await {
            let response = response.unwrap();
            if response.status == StatusCode::UNPROCESSABLE_ENTITY {
                assert_eq!(
                    response.json(),
                    validation(json!({"booking_id": ["has already been taken"]}))
                );
            }
            statuses.push(response.status.as_u16());
        }
        statuses.sort_unstable();
        assert_eq!(statuses, vec![200, 422, 422], "round {round}");
    }
}

// ---- outbox ----

#[tokio::test]
async fn the_outbox_is_empty_at_first() {
    let app = TestApp::new().await;
    let (_, _, booking) = booked(&app).await;
    // Guest messages are not the property's: they never reach the outbox.
    app.guest_writes(booking, "hi").await;
    let response = app
        .admin(Method::GET, "/admin/outbox")
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        response.json(),
        json!({"data": [], "meta": {
            "limit": 10, "page": 1, "total": 0, "order_by": "inserted_at", "order_direction": "asc"
        }})
    );
}

#[tokio::test]
async fn a_property_message_is_recorded_in_the_outbox() {
    let app = TestApp::new().await;
    let (account, property, booking) = booked(&app).await;
    app.guest_writes(booking, "hi").await;
    let thread = app.thread_of(booking).await;
    let message = property_writes(&app, &account.key, thread, "Welcome!").await;

    let list = app
        .admin(Method::GET, "/admin/outbox")
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(list["meta"]["total"], 1);
    let entry = &list["data"][0];
    assert_timestamp(&entry["attributes"]["inserted_at"]);
    assert!(
        entry["id"]
            .as_str()
            .is_some_and(|id| id.parse::<Uuid>().is_ok())
    );
    assert_eq!(
        entry,
        &json!({
            "id": entry["id"], "type": "outbox_entry",
            "attributes": {
                "kind": "message", "property_id": property, "message_thread_id": thread,
                "message_id": message,
                "payload": {
                    "message_id": message, "message": "Welcome!", "attachments": [],
                    "provider": "BookingCom", "booking_id": booking
                },
                "inserted_at": entry["attributes"]["inserted_at"]
            }
        })
    );
}

#[tokio::test]
async fn the_outbox_filters_orders_and_pages() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let a = app.property(&account, true).await;
    let b = app.property(&account, true).await;
    let mut threads = Vec::new();
    for property in [a, a, b] {
        let booking = app.booking(property, "BookingCom").await;
        app.guest_writes(booking, "hi").await;
        threads.push(app.thread_of(booking).await);
    }
    // In order: thread 0, thread 1, thread 2, thread 0.
    let mut sent = Vec::new();
    for (i, thread) in [threads[0], threads[1], threads[2], threads[0]]
        .into_iter()
        .enumerate()
    {
        sent.push(property_writes(&app, &account.key, thread, &format!("reply {i}")).await);
    }
    let message_ids = |query: &str| {
        let call = app.admin(Method::GET, &format!("/admin/outbox{query}"));
        async move {
            let list = call.send().await.expect_status(StatusCode::OK).json();
            let ids: Vec<Uuid> = list["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    e["attributes"]["message_id"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .collect();
            (ids, list["meta"].clone())
        }
    };

    let (all, meta) = message_ids("").await;
    assert_eq!(all, sent, "oldest first");
    assert_eq!(meta["total"], 4);
    let (desc, meta) = message_ids("?order[inserted_at]=desc").await;
    assert_eq!(desc, sent.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(meta["order_direction"], "desc");

    let (of_a, meta) = message_ids(&format!("?filter[property_id]={a}")).await;
    assert_eq!(of_a, vec![sent[0], sent[1], sent[3]]);
    assert_eq!(meta["total"], 3);
    let (of_b, _) = message_ids(&format!("?filter[property_id]={b}")).await;
    assert_eq!(of_b, vec![sent[2]]);
    let (of_thread, meta) =
        message_ids(&format!("?filter[message_thread_id]={}", threads[0])).await;
    assert_eq!(of_thread, vec![sent[0], sent[3]]);
    assert_eq!(meta["total"], 2);
    let (either, _) = message_ids(&format!(
        "?filter[message_thread_id]={},{}",
        threads[1], threads[2]
    ))
    .await;
    assert_eq!(either, vec![sent[1], sent[2]]);
    let (both, _) = message_ids(&format!(
        "?filter[property_id]={b}&filter[message_thread_id]={}",
        threads[0]
    ))
    .await;
    assert!(both.is_empty());
    let (none, meta) = message_ids(&format!("?filter[property_id]={}", Uuid::new_v4())).await;
    assert!(none.is_empty());
    assert_eq!(meta["total"], 0);

    let (page, meta) =
        message_ids("?pagination[limit]=3&pagination[page]=2&order[inserted_at]=desc").await;
    assert_eq!(page, vec![sent[0]]);
    assert_eq!(
        meta,
        json!({"limit": 3, "page": 2, "total": 4, "order_by": "inserted_at", "order_direction": "desc"})
    );

    for (query, parameter) in [
        ("?filter[property_id]=nope", "filter[property_id]"),
        (
            &*format!("?filter[property_id]={a},x"),
            "filter[property_id]",
        ),
        (
            "?filter[message_thread_id]=123",
            "filter[message_thread_id]",
        ),
        ("?order[kind]=asc", "order[kind]"),
        ("?order[inserted_at]=up", "order[inserted_at]"),
        ("?pagination[page]=0", "pagination[page]"),
    ] {
        let response = app
            .admin(Method::GET, &format!("/admin/outbox{query}"))
            .send()
            .await;
        response.expect_error(422, "bad_request");
        assert_eq!(
            response.json(),
            json!({"errors": {"code": "bad_request", "title": "Bad Request", "details": {parameter: ["is invalid"]}}}),
            "{query}"
        );
    }
}
