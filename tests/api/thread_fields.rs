//! What live Channex clients read beyond the documented examples: the default thread order
//! (newest message first, §5) and the fields of §6 on threads and messages, in lists and
//! single answers, set through the admin API or generated.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::TestApp;

async fn get(app: &TestApp, key: &str, path: &str) -> Value {
    app.get(path)
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json()
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A thread of a new booking with one guest message; answers (booking, thread).
async fn thread(app: &TestApp, property: Uuid) -> (Uuid, String) {
    let booking = app.booking(property, "BookingCom").await;
    app.guest_writes(booking, "first").await;
    (booking, app.thread_of(booking).await.to_string())
}

#[tokio::test]
async fn page_one_shows_the_thread_with_the_newest_message_first() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let (a_booking, a) = thread(&app, property).await;
    let (_, b) = thread(&app, property).await;
    let (c_booking, c) = thread(&app, property).await;
    // Created a, b, c; then the guest of a writes, then the property answers c.
    app.guest_writes(a_booking, "one more thing").await;
    app.post(&format!("/api/v1/bookings/{c_booking}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "Sure"}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    // And a thread without any message (made in SQL: the API never leaves one).
    let empty: String = sqlx::query_scalar(
        r#"insert into message_threads (id, property_id, user_id, channel_id, provider, title)
           select gen_random_uuid(), property_id, user_id, channel_id, provider, 'Nobody'
           from message_threads limit 1 returning id::text"#,
    )
    .fetch_one(&app.db)
    .await
    .unwrap();

    let listed = get(&app, &account.key, "/api/v1/message_threads").await;
    assert_eq!(
        ids(&listed),
        [c.clone(), a.clone(), b.clone(), empty.clone()]
    );
    assert_eq!(listed["meta"]["order_by"], "last_message_received_at");
    assert_eq!(listed["meta"]["order_direction"], "desc");
    // The chat's list: one property's threads, same order.
    let one = get(
        &app,
        &account.key,
        &format!("/api/v1/message_threads?filter[property_id]={property}"),
    )
    .await;
    assert_eq!(ids(&one), ids(&listed));
    // Oldest activity first: the thread without a message comes first.
    let asc = get(
        &app,
        &account.key,
        "/api/v1/message_threads?order[last_message_received_at]=asc",
    )
    .await;
    assert_eq!(ids(&asc), [empty.clone(), b.clone(), a.clone(), c.clone()]);
    // By creation when asked.
    let created = get(
        &app,
        &account.key,
        "/api/v1/message_threads?order[inserted_at]=desc",
    )
    .await;
    assert_eq!(ids(&created), [empty, c, b, a]);
}

#[tokio::test]
async fn threads_carry_the_otas_thread_id_and_meta_in_lists_and_single_answers() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let given = "f3a9c29d-480d-5f5b-a6c0-65451e335353";
    let bdc = app
        .admin(Method::POST, "/admin/bookings")
        .json(json!({"booking": {
            "property_id": property, "ota_name": "BookingCom", "ota_message_thread_id": given,
            "arrival_date": "2030-07-01", "departure_date": "2030-07-04", "customer": {"name": "Roxy"}
        }}))
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .id();
    app.guest_writes(bdc, "Hello").await;
    let airbnb = app.booking(property, "Airbnb").await;
    app.guest_writes(airbnb, "Hi").await;
    let inquiry = app
        .admin(Method::POST, "/admin/inquiries")
        .json(
            json!({"inquiry": {"property_id": property, "guest_name": "Ana",
            "checkin_date": "2030-08-01", "checkout_date": "2030-08-03",
            "ota_message_thread_id": "1234567890"}}),
        )
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .id();

    let listed = get(&app, &account.key, "/api/v1/message_threads").await;
    for thread in listed["data"].as_array().unwrap() {
        let shown = get(
            &app,
            &account.key,
            &format!("/api/v1/message_threads/{}", thread["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(shown["data"], *thread, "list and show agree");
    }
    let by_id = |id: String| {
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()["attributes"]
            .clone()
    };

    // Booking.com: the given id, meta {}.
    let bdc = by_id(app.thread_of(bdc).await.to_string());
    assert_eq!(bdc["ota_message_thread_id"], given);
    assert_eq!(bdc["meta"], json!({}));
    // Airbnb, generated: a ten-digit thread id, the property's listing and a live-feed id.
    let abb = by_id(app.thread_of(airbnb).await.to_string());
    let generated = abb["ota_message_thread_id"].as_str().unwrap();
    assert!(generated.len() == 10 && generated.bytes().all(|b| b.is_ascii_digit()));
    let listing = abb["meta"]["listing_id"].as_str().unwrap().to_owned();
    assert!(listing.len() == 11 && listing.bytes().all(|b| b.is_ascii_digit()));
    assert!(
        abb["meta"]["live_feed_event_id"]
            .as_str()
            .unwrap()
            .parse::<Uuid>()
            .is_ok()
    );
    // The inquiry: its given id, and the same listing as the property's other Airbnb thread
    // (no listing_id was given), also in its system message.
    let inq = by_id(inquiry.to_string());
    assert_eq!(inq["ota_message_thread_id"], "1234567890");
    assert_eq!(inq["meta"]["listing_id"], listing);
    let messages = get(
        &app,
        &account.key,
        &format!("/api/v1/message_threads/{inquiry}/messages"),
    )
    .await;
    let system = &messages["data"][0]["attributes"]["meta"];
    assert_eq!(system["booking_details"]["listing_id"], listing);
    assert_eq!(
        system["live_feed_event_id"],
        inq["meta"]["live_feed_event_id"]
    );
}

#[tokio::test]
async fn messages_carry_their_author_and_whether_they_have_an_attachment() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    let path = format!("/admin/bookings/{booking}/guest_messages");
    // Given by the OTA: a name and a role (any case).
    app.admin(Method::POST, &path)
        .json(json!({"message": {"message": "From the co-host app", "name": "Sam", "role": "cohost"}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    // Not given: the guest, under the booking's name.
    app.admin(Method::POST, &path)
        .json(json!({"message": {"attachments": [{"file": "aGk=", "file_name": "a.txt", "file_type": "text/plain"}]}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    // The property, as the sending user: their name, else their email address.
    app.post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "Welcome"}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    sqlx::query("update users set name = null")
        .execute(&app.db)
        .await
        .unwrap();
    let sent = app
        .post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "Anything else?"}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    let email: String = sqlx::query_scalar("select email from users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        sent["data"]["attributes"]["meta"],
        json!({"name": email, "role": "HOST"})
    );

    let thread = app.thread_of(booking).await;
    let listed = get(
        &app,
        &account.key,
        &format!("/api/v1/message_threads/{thread}/messages?order[inserted_at]=asc"),
    )
    .await;
    let got: Vec<(Value, Value)> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["attributes"]["meta"].clone(),
                m["attributes"]["have_attachment"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (json!({"name": "Sam", "role": "COHOST"}), json!(false)),
            (
                json!({"name": "Roxy Maldonado", "role": "GUEST"}),
                json!(true)
            ),
            (json!({"name": "Test User", "role": "HOST"}), json!(false)),
            (json!({"name": email, "role": "HOST"}), json!(false)),
        ]
    );

    let details = app
        .admin(Method::POST, &path)
        .json(json!({"message": {"message": "x", "role": "OWNER", "name": 5}}))
        .send()
        .await
        .expect_error(422, "validation_error");
    assert_eq!(
        details,
        json!({"role": ["is invalid"], "name": ["is invalid"]})
    );
}
