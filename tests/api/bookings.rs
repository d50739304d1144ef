//! Bookings as a PMS looks them up (§6, §8): the list with its filters and ranges, one
//! booking, and what a key may see.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Account, TestApp, assert_timestamp};

async fn list(app: &TestApp, key: &str, query: &str) -> Value {
    app.get(&format!("/api/v1/bookings?{query}"))
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json()
}

fn ids(list: &Value) -> Vec<Uuid> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// A booking from `booking` (merged over a valid one) on `property`.
async fn book(app: &TestApp, property: Uuid, booking: Value) -> Uuid {
    let mut body = json!({
        "property_id": property, "ota_name": "BookingCom",
        "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
        "customer": {"name": "Roxy", "surname": "Maldonado"}
    });
    for (k, v) in booking.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.admin(Method::POST, "/admin/bookings")
        .json(json!({ "booking": body }))
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .id()
}

#[tokio::test]
async fn a_pms_finds_a_booking_by_its_reservation_code_and_writes_to_it() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    for code in ["1111111111", "4125638921", "2222222222"] {
        book(&app, property, json!({"ota_reservation_code": code})).await;
    }
    let found = list(
        &app,
        &account.key,
        "filter[ota_reservation_code]=4125638921",
    )
    .await;
    assert_eq!(found["meta"]["total"], 1);
    let booking = &found["data"][0];
    assert_eq!(booking["attributes"]["ota_reservation_code"], "4125638921");
    assert_eq!(booking["attributes"]["unique_id"], "BDC-4125638921");
    let id = booking["id"].as_str().unwrap();
    app.post(&format!("/api/v1/bookings/{id}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "Welcome!"}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    // Now it names its thread.
    let again = list(
        &app,
        &account.key,
        "filter[ota_reservation_code]=4125638921,2222222222",
    )
    .await;
    assert_eq!(again["meta"]["total"], 2);
    let with_thread = again["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id)
        .unwrap();
    let thread = app.thread_of(id.parse().unwrap()).await;
    assert_eq!(
        with_thread["relationships"],
        json!({"message_thread": {"data": {"id": thread, "type": "message_thread"}}})
    );
}

#[tokio::test]
async fn the_list_is_newest_first_paginated_with_meta() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let mut made = Vec::new();
    for _ in 0..12 {
        made.push(book(&app, property, json!({})).await);
    }
    made.reverse();
    let first = list(&app, &account.key, "").await;
    assert_eq!(
        first["meta"],
        json!({"limit": 10, "page": 1, "total": 12, "order_by": "inserted_at", "order_direction": "desc"})
    );
    assert_eq!(ids(&first), made[..10]);
    let second = list(&app, &account.key, "pagination[page]=2").await;
    assert_eq!(ids(&second), made[10..]);
    let oldest = list(
        &app,
        &account.key,
        "order[inserted_at]=asc&pagination[limit]=3",
    )
    .await;
    let mut expected = made.clone();
    expected.reverse();
    assert_eq!(ids(&oldest), expected[..3]);
    // Every booking carries the §6 attributes.
    let attributes = first["data"][0]["attributes"].as_object().unwrap();
    let mut keys: Vec<&str> = attributes.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "amount",
            "arrival_date",
            "currency",
            "customer",
            "departure_date",
            "id",
            "inserted_at",
            "notes",
            "occupancy",
            "ota_name",
            "ota_reservation_code",
            "property_id",
            "status",
            "unique_id",
            "updated_at"
        ]
    );
}

#[tokio::test]
async fn filters_and_ranges_narrow_the_list() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let other_property = app.property(&account, false).await;
    let july = book(
        &app,
        property,
        json!({"arrival_date": "2030-07-01", "departure_date": "2030-07-04"}),
    )
    .await;
    let august = book(
        &app,
        property,
        json!({"ota_name": "Booking.com", "arrival_date": "2030-08-10", "departure_date": "2030-08-12"}),
    )
    .await;
    let airbnb = book(
        &app,
        other_property,
        json!({"ota_name": "Airbnb", "arrival_date": "2030-09-01", "departure_date": "2030-09-05"}),
    )
    .await;
    sqlx::query("update bookings set status = 'cancelled', inserted_at = now() - interval '2 days' where id = $1")
        .bind(july)
        .execute(&app.db)
        .await
        .unwrap();
    let day_ago = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%S");
    let by_property = format!("filter[property_id]={property}");
    let older = format!("filter[inserted_at][lte]={day_ago}");
    let cases: Vec<(&str, Vec<Uuid>)> = vec![
        (&by_property, vec![august, july]),
        ("filter[ota_name]=BookingCom", vec![august, july]),
        ("filter[ota_name]=booking.com", vec![august, july]),
        ("filter[ota_name]=AirBNB", vec![airbnb]),
        ("filter[status]=cancelled", vec![july]),
        ("filter[status]=new,modified", vec![airbnb, august]),
        ("filter[arrival_date][gte]=2030-08-10", vec![airbnb, august]),
        ("filter[arrival_date][gt]=2030-08-10", vec![airbnb]),
        (
            "filter[departure_date][gte]=2030-07-04&filter[departure_date][lt]=2030-08-12",
            vec![july],
        ),
        ("filter[departure_date][lte]=2030-08-12", vec![august, july]),
        ("filter[inserted_at][lt]=2020-01-01", vec![]),
        (&older, vec![july]),
        ("order[arrival_date]=asc", vec![july, august, airbnb]),
        ("order[departure_date]=desc", vec![airbnb, august, july]),
    ];
    for (query, expected) in cases {
        let listed = list(&app, &account.key, query).await;
        assert_eq!(ids(&listed), expected, "{query}");
        assert_eq!(listed["meta"]["total"], expected.len(), "{query}");
    }
}

#[tokio::test]
async fn lists_hold_only_what_the_key_can_see() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let seen = app.property(&account, true).await;
    // No Messages app needed to list or show a booking.
    let hidden = app.property(&account, false).await;
    let in_seen = book(&app, seen, json!({})).await;
    let in_hidden = book(&app, hidden, json!({})).await;
    let limited = app.key_for(account.user_id, Some(vec![seen])).await;
    let everything = list(&app, &account.key, "").await;
    assert_eq!(ids(&everything), vec![in_hidden, in_seen]);
    assert_eq!(ids(&list(&app, &limited, "").await), vec![in_seen]);
    app.get(&format!("/api/v1/bookings/{in_hidden}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);

    // Another user's bookings never show; naming their property (or one the key cannot see)
    // is a 401, as their resources are.
    let stranger = app.user().await;
    let theirs = app.property(&stranger, true).await;
    book(&app, theirs, json!({"ota_reservation_code": "X1"})).await;
    assert_eq!(
        list(&app, &account.key, "filter[ota_reservation_code]=X1").await["meta"]["total"],
        0
    );
    for (key, property) in [
        (&account.key, theirs),
        (&limited, hidden),
        (&account.key, Uuid::new_v4()),
    ] {
        app.get(&format!("/api/v1/bookings?filter[property_id]={property}"))
            .key(key)
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
    app.get(&format!("/api/v1/bookings/{in_hidden}"))
        .key(&limited)
        .send()
        .await
        .expect_error(401, "unauthorized");
    app.get("/api/v1/bookings")
        .send()
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn malformed_list_parameters_are_a_422_naming_them() {
    let app = TestApp::new().await;
    let Account { key, .. } = app.user().await;
    for (query, name) in [
        ("filter[status]=open", "filter[status]"),
        ("filter[property_id]=nope", "filter[property_id]"),
        (
            "filter[arrival_date][gte]=soon",
            "filter[arrival_date][gte]",
        ),
        (
            "filter[inserted_at][lt]=2030-13-01",
            "filter[inserted_at][lt]",
        ),
        ("filter[customer][gt]=a", "filter[customer][gt]"),
        // A code PostgreSQL cannot even compare (text holds no NUL).
        (
            "filter[ota_reservation_code]=4125%00638921",
            "filter[ota_reservation_code]",
        ),
        ("order[amount]=asc", "order[amount]"),
        ("pagination[limit]=0", "pagination[limit]"),
    ] {
        let details = app
            .get(&format!("/api/v1/bookings?{query}"))
            .key(&key)
            .send()
            .await
            .expect_error(422, "bad_request");
        assert_eq!(details, json!({ name: ["is invalid"] }), "{query}");
    }
}

#[tokio::test]
async fn the_admin_api_takes_every_booking_field_and_the_api_shows_them() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let id = book(
        &app,
        property,
        json!({
            "ota_name": "Airbnb", "ota_reservation_code": "HM5MBZ1AVA",
            "customer": {"name": "Ana", "surname": "Lee", "mail": "ana-lee@guest.airbnb.com",
                         "phone": "+44 20 7946 0958", "country": "gb", "language": "en"},
            "currency": "GBP", "amount": "249.6",
            "occupancy": {"adults": 2, "children": 1, "infants": 1},
            "notes": "Arriving by train", "ota_message_thread_id": "1876543210"
        }),
    )
    .await;
    let shown = app
        .get(&format!("/api/v1/bookings/{id}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    let attributes = &shown["data"]["attributes"];
    assert_timestamp(&attributes["inserted_at"]);
    assert_eq!(
        attributes,
        &json!({
            "id": id, "property_id": property, "unique_id": "ABB-HM5MBZ1AVA",
            "ota_name": "Airbnb", "ota_reservation_code": "HM5MBZ1AVA", "status": "new",
            "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
            "currency": "GBP", "amount": "249.60",
            "occupancy": {"adults": 2, "children": 1, "infants": 1},
            "customer": {"name": "Ana", "surname": "Lee", "mail": "ana-lee@guest.airbnb.com",
                         "phone": "+44 20 7946 0958", "country": "GB", "language": "en"},
            "notes": "Arriving by train",
            "inserted_at": attributes["inserted_at"], "updated_at": attributes["updated_at"]
        })
    );
    // The conversation id given goes to the booking's thread.
    app.guest_writes(id, "Hi").await;
    let thread = app.thread_of(id).await;
    let thread = app
        .get(&format!("/api/v1/message_threads/{thread}"))
        .key(&account.key)
        .send()
        .await
        .json();
    assert_eq!(
        thread["data"]["attributes"]["ota_message_thread_id"],
        "1876543210"
    );

    let details = app
        .admin(Method::POST, "/admin/bookings")
        .json(json!({"booking": {
            "property_id": property, "ota_name": "Airbnb",
            "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
            "customer": {"name": "Ana", "mail": "not an address"}, "currency": "pounds",
            "occupancy": {"adults": 1000}
        }}))
        .send()
        .await
        .expect_error(422, "validation_error");
    assert_eq!(
        details,
        json!({"customer.mail": ["is invalid"], "currency": ["is too long"],
               "occupancy.adults": ["is invalid"]})
    );
    assert_eq!(app.count("select count(*) from bookings").await, 1);

    // The largest amount accepted rounds up to thirteen digits, and is stored as such.
    let big = book(&app, property, json!({"amount": "999999999999.999"})).await;
    let shown = app
        .get(&format!("/api/v1/bookings/{big}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(shown["data"]["attributes"]["amount"], "1000000000000.00");
}

#[tokio::test]
async fn a_negative_zero_amount_is_stored_as_zero() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    for amount in [json!("-0"), json!(-0.0), json!("-0.00")] {
        let id = book(&app, property, json!({ "amount": amount })).await;
        let shown = app
            .get(&format!("/api/v1/bookings/{id}"))
            .key(&account.key)
            .send()
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(shown["data"]["attributes"]["amount"], "0.00", "{amount}");
    }
}
