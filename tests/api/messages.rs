//! Sending and reading messages (§7.1–§7.3, §7.7, §7.8).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Account, TestApp};

struct Desk {
    app: TestApp,
    account: Account,
    property: Uuid,
}

impl Desk {
    async fn new() -> Self {
        let app = TestApp::new().await;
        let account = app.user().await;
        let property = app.property(&account, true).await;
        Self {
            app,
            account,
            property,
        }
    }

    async fn send(&self, path: &str, body: Value) -> crate::support::Response {
        self.app
            .post(path)
            .key(&self.account.key)
            .json(body)
            .send()
            .await
    }

    async fn upload(&self, key: &str, bytes: &[u8], name: &str) -> String {
        use base64::Engine;
        let file = base64::engine::general_purpose::STANDARD.encode(bytes);
        let created = self
            .app
            .post("/api/v1/attachments")
            .key(key)
            .json(json!({"attachment": {"file": file, "file_name": name, "file_type": "application/pdf"}}))
            .send()
            .await
            .expect_status(StatusCode::OK);
        created.json()["data"]["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn the_first_message_to_a_booking_creates_its_thread() {
    let desk = Desk::new().await;
    let booking = desk.app.booking(desk.property, "BookingCom").await;
    let empty = desk
        .app
        .get(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&desk.account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["meta"]["total"], 0);
    let sent = desk
        .send(
            &format!("/api/v1/bookings/{booking}/messages"),
            json!({"message": {"message": "Welcome!"}}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    let thread = sent["data"]["relationships"]["message_thread"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = desk
        .app
        .get(&format!("/api/v1/message_threads/{thread}"))
        .key(&desk.account.key)
        .send()
        .await
        .json();
    let attributes = &shown["data"]["attributes"];
    assert_eq!(attributes["title"], "Roxy Maldonado");
    assert_eq!(attributes["provider"], "BookingCom");
    assert_eq!(attributes["message_count"], 1);
    assert_eq!(attributes["last_message"]["message"], "Welcome!");
    assert_eq!(attributes["last_message"]["sender"], "property");
    assert_eq!(
        shown["data"]["relationships"]["booking"]["data"]["id"],
        booking.to_string()
    );
    // The second message goes to the same thread.
    let again = desk
        .send(
            &format!("/api/v1/bookings/{booking}/messages"),
            json!({"message": {"message": "Again"}}),
        )
        .await
        .json();
    assert_eq!(
        again["data"]["relationships"]["message_thread"]["data"]["id"],
        thread
    );
    let listed = desk
        .app
        .get(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&desk.account.key)
        .send()
        .await
        .json();
    assert_eq!(listed["meta"]["total"], 2);
    assert_eq!(listed["data"][0]["attributes"]["message"], "Again");
}

#[tokio::test]
async fn every_property_message_is_recorded_in_the_ota_outbox() {
    let desk = Desk::new().await;
    let booking = desk.app.booking(desk.property, "Airbnb").await;
    let sent = desk
        .send(
            &format!("/api/v1/bookings/{booking}/messages"),
            json!({"message": {"message": "Hello"}}),
        )
        .await
        .json();
    let attachment = desk
        .upload(&desk.account.key, b"%PDF-1.4", "invoice.pdf")
        .await;
    let thread = sent["data"]["relationships"]["message_thread"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_file = desk
        .send(
            &format!("/api/v1/message_threads/{thread}/messages"),
            json!({"message": {"attachment_id": attachment}}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(with_file["data"]["attributes"]["message"], "");
    desk.app.guest_writes(booking, "thanks").await;
    let outbox = desk
        .app
        .admin(
            Method::GET,
            &format!("/admin/outbox?filter[message_thread_id]={thread}"),
        )
        .send()
        .await
        .json();
    assert_eq!(
        outbox["meta"]["total"], 2,
        "guest messages are not in the outbox"
    );
    assert_eq!(
        outbox["data"][0]["attributes"]["message_id"],
        sent["data"]["id"]
    );
    assert_eq!(
        outbox["data"][0]["attributes"]["payload"]["message"],
        "Hello"
    );
    assert_eq!(
        outbox["data"][1]["attributes"]["payload"]["attachments"],
        json!([format!("attachments/{attachment}/invoice.pdf")])
    );
    // Property messages never become webhook events; guest messages do.
    let events: Vec<String> = sqlx::query_scalar("select event from events where webhook")
        .fetch_all(&desk.app.db)
        .await
        .unwrap();
    assert_eq!(events, vec!["message"]);
}

#[tokio::test]
async fn sixty_concurrent_sends_to_one_thread_are_all_counted() {
    let desk = Desk::new().await;
    let booking = desk.app.booking(desk.property, "BookingCom").await;
    let first = desk.app.guest_writes(booking, "start").await.json();
    let thread = first["data"]["relationships"]["message_thread"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = desk
        .app
        .get(&format!("/api/v1/message_threads/{thread}"))
        .key(&desk.account.key)
        .send()
        .await
        .json();
    let before = before["data"]["attributes"]["message_count"]
        .as_i64()
        .unwrap();
    let sends = (0..60).map(|i| {
        let call = desk
            .app
            .post(&format!("/api/v1/message_threads/{thread}/messages"))
            .key(&desk.account.key)
            .json(json!({"message": {"message": format!("reply {i}")}}));
        tokio::spawn(call.send())
    });
    for handle in sends.collect::<Vec<_>>() {
        handle.await.unwrap().expect_status(StatusCode::OK);
    }
    let after = desk
        .app
        .get(&format!("/api/v1/message_threads/{thread}"))
        .key(&desk.account.key)
        .send()
        .await
        .json();
    assert_eq!(
        after["data"]["attributes"]["message_count"]
            .as_i64()
            .unwrap(),
        before + 60
    );
    let listed = desk
        .app
        .get(&format!("/api/v1/message_threads/{thread}/messages?pagination[limit]=100&filter[sender]=property"))
        .key(&desk.account.key)
        .send()
        .await
        .json();
    assert_eq!(listed["meta"]["total"], 60);
    let mut texts: Vec<String> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["attributes"]["message"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 60);
    // last_message is the newest message.
    let newest = &listed["data"][0]["attributes"];
    assert_eq!(
        after["data"]["attributes"]["last_message"]["message"],
        newest["message"]
    );
    assert_eq!(
        after["data"]["attributes"]["last_message_received_at"],
        newest["inserted_at"]
    );
}

#[tokio::test]
async fn messages_list_newest_first_and_filter_by_sender() {
    let desk = Desk::new().await;
    let booking = desk.app.booking(desk.property, "BookingCom").await;
    for i in 0..3 {
        desk.app.guest_writes(booking, &format!("guest {i}")).await;
        desk.send(
            &format!("/api/v1/bookings/{booking}/messages"),
            json!({"message": {"message": format!("property {i}")}}),
        )
        .await
        .expect_status(StatusCode::OK);
    }
    let path = format!("/api/v1/bookings/{booking}/messages");
    let all = desk
        .app
        .get(&path)
        .key(&desk.account.key)
        .send()
        .await
        .json();
    assert_eq!(
        all["meta"],
        json!({"limit": 10, "page": 1, "total": 6, "order_by": "inserted_at", "order_direction": "desc"})
    );
    assert_eq!(all["data"][0]["attributes"]["message"], "property 2");
    let guests = desk
        .app
        .get(&format!(
            "{path}?filter[sender]=guest&order[inserted_at]=asc"
        ))
        .key(&desk.account.key)
        .send()
        .await
        .json();
    let texts: Vec<&str> = guests["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["attributes"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["guest 0", "guest 1", "guest 2"]);
    assert_eq!(guests["meta"]["total"], 3);
    let page = desk
        .app
        .get(&format!("{path}?pagination[page]=2&pagination[limit]=4"))
        .key(&desk.account.key)
        .send()
        .await
        .json();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    desk.app
        .get(&format!("{path}?filter[sender]=robot"))
        .key(&desk.account.key)
        .send()
        .await
        .expect_error(422, "bad_request");
    desk.app
        .get(&format!("{path}?order[message]=asc"))
        .key(&desk.account.key)
        .send()
        .await
        .expect_error(422, "bad_request");
}

#[tokio::test]
async fn message_bodies_are_validated_field_by_field() {
    let desk = Desk::new().await;
    let booking = desk.app.booking(desk.property, "BookingCom").await;
    let path = format!("/api/v1/bookings/{booking}/messages");
    let other = desk.app.user().await;
    desk.app.property(&other, true).await;
    let foreign = desk.upload(&other.key, b"x", "x.pdf").await;
    let used = desk.upload(&desk.account.key, b"y", "y.pdf").await;
    desk.send(&path, json!({"message": {"attachment_id": used}}))
        .await
        .expect_status(StatusCode::OK);
    for (body, field, message) in [
        (json!({"message": {}}), "message", "can't be blank"),
        (
            json!({"message": {"message": ""}}),
            "message",
            "can't be blank",
        ),
        (
            json!({"message": {"message": "   "}}),
            "message",
            "can't be blank",
        ),
        (
            json!({"message": {"message": null}}),
            "message",
            "can't be blank",
        ),
        (json!({"message": {"message": 5}}), "message", "is invalid"),
        (json!({"message": {"message": {}}}), "message", "is invalid"),
        (
            json!({"message": {"message": ["a"]}}),
            "message",
            "is invalid",
        ),
        (
            json!({"message": {"message": "a\u{0}b"}}),
            "message",
            "is invalid",
        ),
        (
            json!({"message": {"message": "x".repeat(10_001)}}),
            "message",
            "is too long",
        ),
        (json!({"message": "hi"}), "message", "is invalid"),
        (json!({"text": "hi"}), "message", "can't be blank"),
        (
            json!({"message": {"attachment_id": "nope"}}),
            "attachment_id",
            "is invalid",
        ),
        (
            json!({"message": {"attachment_id": 7}}),
            "attachment_id",
            "is invalid",
        ),
        (
            json!({"message": {"attachment_id": Uuid::new_v4()}}),
            "attachment_id",
            "is invalid",
        ),
        (
            json!({"message": {"attachment_id": foreign}}),
            "attachment_id",
            "is invalid",
        ),
        (
            json!({"message": {"attachment_id": used}}),
            "attachment_id",
            "is invalid",
        ),
    ] {
        let details = desk
            .send(&path, body.clone())
            .await
            .expect_error(422, "validation_error");
        assert_eq!(details, json!({field: [message]}), "{body}");
    }
    // Nothing half-written: only the one good message exists.
    let count: i64 = sqlx::query_scalar("select count(*) from messages")
        .fetch_one(&desk.app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
    // At the limit, with emoji, is fine.
    let long = "😀".repeat(10_000);
    let sent = desk
        .send(&path, json!({"message": {"message": long}}))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        sent["data"]["attributes"]["message"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        10_000
    );
}

#[tokio::test]
async fn inquiries_can_be_read_and_answered_through_the_thread_endpoints() {
    let desk = Desk::new().await;
    let thread = desk
        .app
        .admin(Method::POST, "/admin/inquiries")
        .json(json!({"inquiry": {"property_id": desk.property, "guest_name": "Andrew", "checkin_date": "2030-02-01",
            "checkout_date": "2030-02-04", "number_of_adults": 2, "message": "Is it free?"}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .id();
    let answer = desk
        .send(
            &format!("/api/v1/message_threads/{thread}/messages"),
            json!({"message": {"message": "Yes!"}}),
        )
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(answer.json()["data"]["attributes"]["sender"], "property");
    let listed = desk
        .app
        .get(&format!(
            "/api/v1/message_threads/{thread}/messages?order[inserted_at]=asc"
        ))
        .key(&desk.account.key)
        .send()
        .await
        .json();
    let senders: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["attributes"]["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, ["system", "guest", "property"]);
    assert_eq!(
        listed["data"][0]["attributes"]["meta"]["booking_details"]["nights"],
        3
    );
    assert!(
        listed["data"][1]["attributes"].get("meta").is_none(),
        "meta only on messages that have one"
    );
    let shown = desk
        .app
        .get(&format!("/api/v1/message_threads/{thread}"))
        .key(&desk.account.key)
        .send()
        .await
        .json();
    assert!(shown["data"]["relationships"].get("booking").is_none());
    assert_eq!(shown["data"]["attributes"]["message_count"], 3);
}
