//! What a delivery looks like on the wire (§10): the envelope's `timestamp`, the payload keys
//! of each event, and header names in the case the webhook's owner wrote them.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::raw::RawReceiver;
use super::receiver::Receiver;
use super::{create_webhook, scene, settled, start_worker, test_config};
use crate::support::TestApp;

/// `2021-12-24T00:00:00.000000Z`: UTC with a `Z`, six fraction digits.
#[track_caller]
fn assert_z_timestamp(value: &Value) {
    let text = value.as_str().unwrap_or_default();
    assert!(
        text.len() == 27
            && text.ends_with('Z')
            && chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.6fZ").is_ok(),
        "{value}"
    );
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn every_event_has_the_contracts_payload_keys_and_a_utc_timestamp() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    let worker = start_worker(&app.db, test_config());
    create_webhook(
        &app,
        &s.account.key,
        json!({"callback_url": receiver.url("/hook"), "event_mask": "*",
               "property_id": s.property, "is_active": true, "send_data": true}),
    )
    .await;
    let message = app
        .admin(
            Method::POST,
            &format!("/admin/bookings/{}/guest_messages", s.booking),
        )
        .json(json!({"message": {"message": "Hi!", "name": "Roxy M.", "role": "guest"}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .data();
    let thread = app
        .admin(Method::POST, "/admin/inquiries")
        .json(
            json!({"inquiry": {"property_id": s.property, "guest_name": "Ana",
                "checkin_date": "2030-08-01", "checkout_date": "2030-08-03",
                "expected_payout_amount_accurate": "250"}}),
        )
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .id();
    let booking = app.booking(s.property, "Airbnb").await;
    app.admin(
        Method::POST,
        &format!("/admin/message_threads/{thread}/assign_booking"),
    )
    .json(json!({"booking_id": booking}))
    .send()
    .await
    .expect_status(StatusCode::OK);
    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 3)]);

    let mut got: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    got.sort_by_key(|b| b["event"].as_str().unwrap_or_default().to_owned());
    let events: Vec<&str> = got.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        ["inquiry", "message", "message_thread_booking_assigned"]
    );
    for body in &got {
        assert_eq!(
            keys(body),
            ["event", "payload", "property_id", "timestamp", "user_id"].into()
        );
        assert_z_timestamp(&body["timestamp"]);
    }

    let inquiry = &got[0]["payload"];
    let expected: BTreeSet<&str> = [
        "status",
        "property_id",
        "message_thread_id",
        "live_feed_event_id",
        "booking_details",
        "message_id",
        "title",
    ]
    .into();
    assert_eq!(keys(inquiry), expected);
    assert_eq!(inquiry["status"], "active");
    assert_eq!(inquiry["booking_details"]["payout_amount"], "250.00");
    assert_eq!(
        inquiry["booking_details"]["expected_payout_amount_accurate"],
        "250.00"
    );

    let payload = &got[1]["payload"];
    let expected: BTreeSet<&str> = [
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
        "inserted_at",
    ]
    .into();
    assert_eq!(keys(payload), expected);
    assert_eq!(payload["inserted_at"], message["attributes"]["inserted_at"]);
    assert_eq!(payload["meta"], json!({"name": "Roxy M.", "role": "GUEST"}));
    assert_eq!(payload["meta"], message["attributes"]["meta"]);

    assert_eq!(
        keys(&got[2]["payload"]),
        ["booking_id", "message_thread_id", "property_id"].into()
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn deliveries_and_test_calls_keep_header_names_as_written() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = RawReceiver::start(vec![]).await;
    let worker = start_worker(&app.db, test_config());
    let headers = json!({"X-Api-KEY": "k", "x-tenant": "42", "Authorization": "Basic dTpw"});
    create_webhook(
        &app,
        &s.account.key,
        json!({"callback_url": receiver.url("/hook"), "event_mask": "message",
               "property_id": s.property, "is_active": true, "headers": headers}),
    )
    .await;
    app.guest_writes(s.booking, "Hello").await;
    app.post("/api/v1/webhooks/test")
        .key(&s.account.key)
        .json(json!({"webhook": {"callback_url": receiver.url("/test"), "headers": headers}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    let requests = receiver.wait_for(2).await;
    for request in &requests {
        let lines = request.header_lines();
        for line in [
            "X-Api-KEY: k",
            "x-tenant: 42",
            "Authorization: Basic dTpw",
            "Content-Type: application/json",
        ] {
            assert!(lines.contains(&line), "{line:?} in {lines:#?}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("X-Ota-Inbox-Delivery: ")),
            "{lines:#?}"
        );
        // The envelope of a test call says UTC the same way.
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_z_timestamp(&body["timestamp"]);
    }
    worker.shutdown().await;
}
