//! Deliveries from the worker to a real receiver: the envelope, the headers, which events go
//! to which webhooks.

use axum::http::{Method, StatusCode};
use hmac::{Hmac, Mac};
use ota_inbox::db;
use ota_inbox::messaging::{self, Append, Sender};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use super::receiver::Receiver;
use super::{
    active, attempts, create_webhook, eventually, guest_writes, id_of, scene, settled,
    start_worker, test_config,
};
use crate::support::TestApp;

const SECRET: &str = "whsec_0123456789abcdef";

#[tokio::test]
async fn a_guest_message_arrives_with_envelope_headers_query_and_signature() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    let worker = start_worker(&app.db, test_config());
    create_webhook(
        &app,
        &s.account.key,
        json!({
            "callback_url": receiver.url("/hooks/ota?src=inbox"), "event_mask": "message",
            "property_id": s.property, "is_active": true, "send_data": true,
            "headers": {"Authorization": "Bearer pms-token", "X-Tenant": "42"},
            "request_params": {"token": "a&b"}, "signing_secret": SECRET
        }),
    )
    .await;
    let message_id = guest_writes(&app, s.booking, "Hello, is parking free?").await;
    let got = receiver.wait_for(1).await.remove(0);

    assert_eq!(got.path, "/hooks/ota");
    assert_eq!(got.query.as_deref(), Some("src=inbox&token=a%26b"));
    assert_eq!(got.header("authorization"), Some("Bearer pms-token"));
    assert_eq!(got.header("x-tenant"), Some("42"));
    assert_eq!(got.header("content-type"), Some("application/json"));
    let delivery: Uuid = got.header("x-ota-inbox-delivery").unwrap().parse().unwrap();

    let body = got.json();
    let thread_id = body["payload"]["message_thread_id"].clone();
    assert_eq!(body["event"], "message");
    assert_eq!(body["property_id"], json!(s.property));
    assert_eq!(body["user_id"], json!(s.account.user_id));
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%S%.6f").is_ok()
            && timestamp.len() == 26,
        "{timestamp}"
    );
    let payload = &body["payload"];
    let mut keys: Vec<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attachments",
            "booking_id",
            "have_attachment",
            "id",
            "live_feed_event_id",
            "message",
            "message_thread_id",
            "meta",
            "ota_message_id",
            "property_id",
            "sender"
        ]
    );
    assert_eq!(payload["id"], json!(message_id));
    assert_eq!(payload["message"], "Hello, is parking free?");
    assert_eq!(payload["sender"], "guest");
    assert_eq!(payload["booking_id"], json!(s.booking));
    assert_eq!(payload["property_id"], json!(s.property));
    assert!(thread_id.is_string());
    assert_eq!(payload["attachments"], json!([]));
    assert_eq!(payload["have_attachment"], false);

    // t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">
    let signature = got.header("x-ota-inbox-signature").unwrap();
    let (t, v1) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap();
    let t: i64 = t.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - t).abs() < 300);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&got.body);
    assert_eq!(v1, hex::encode(mac.finalize().into_bytes()));

    // The attempt is in the log, with the delivery id the receiver saw.
    settled(&app.db).await;
    let webhooks = app
        .get("/api/v1/webhooks")
        .key(&s.account.key)
        .send()
        .await
        .json();
    let webhook = id_of(&webhooks["data"][0]);
    let log = attempts(&app, &s.account.key, webhook).await;
    assert_eq!(log.len(), 1);
    let a = &log[0]["attributes"];
    assert_eq!(log[0]["type"], "webhook_delivery_attempt");
    assert_eq!(a["delivery_id"], json!(delivery));
    assert_eq!(a["event"], "message");
    assert_eq!(a["attempt"], 1);
    assert_eq!(a["status_code"], 200);
    assert_eq!(a["error"], Value::Null);
    assert_eq!(a["result"], "delivered");
    assert_eq!(a["next_attempt_at"], Value::Null);
    assert!(a["duration_ms"].as_i64().unwrap() >= 0);
    assert_eq!(a["attempted_at"].as_str().unwrap().len(), 26);
    worker.shutdown().await;
}

#[tokio::test]
async fn messages_the_property_sends_fire_no_event() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    let worker = start_worker(&app.db, test_config());
    create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await;
    let first = app.guest_writes(s.booking, "Hi").await.json();
    let thread_id: Uuid = first["data"]["relationships"]["message_thread"]["data"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // What the Messages API does when the property answers.
    let mut tx = app.db.begin().await.unwrap();
    let thread = db::threads::lock(&mut tx, thread_id)
        .await
        .unwrap()
        .unwrap();
    messaging::append(
        &mut tx,
        &thread,
        &Append {
            user_id: Some(s.account.user_id),
            ..Append::text(Sender::Property, "Yes, parking is free")
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    guest_writes(&app, s.booking, "Thanks!").await;

    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 2)]);
    let texts: Vec<Value> = receiver
        .received()
        .iter()
        .map(|r| r.json()["payload"]["message"].clone())
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(texts.contains(&json!("Hi")) && texts.contains(&json!("Thanks!")));
    let events: Vec<(String, String)> =
        sqlx::query_as("select event, payload->>'sender' from events where webhook order by seq")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(
        events
            .iter()
            .all(|(e, sender)| e == "message" && sender == "guest")
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn inquiries_and_booking_assignment_fire_their_events() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    let worker = start_worker(&app.db, test_config());
    create_webhook(
        &app,
        &s.account.key,
        json!({"callback_url": receiver.url("/hook"), "event_mask": "inquiry;message_thread_booking_assigned",
               "property_id": s.property, "is_active": true, "send_data": true}),
    )
    .await;
    let thread = app
        .admin(Method::POST, "/admin/inquiries")
        .json(
            json!({"inquiry": {"property_id": s.property, "guest_name": "Ana",
              "checkin_date": "2030-08-01", "checkout_date": "2030-08-03",
              "message": "Is the flat free?"}}),
        )
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .id();
    let got = receiver.wait_for(1).await;
    let inquiry = got[0].json();
    assert_eq!(inquiry["event"], "inquiry");
    assert_eq!(inquiry["payload"]["message_thread_id"], json!(thread));
    assert_eq!(inquiry["payload"]["title"], "Ana");
    assert_eq!(
        inquiry["payload"]["booking_details"]["checkin_date"],
        "2030-08-01"
    );

    let booking = app.booking(s.property, "Airbnb").await;
    app.admin(
        Method::POST,
        &format!("/admin/message_threads/{thread}/assign_booking"),
    )
    .json(json!({"booking_id": booking}))
    .send()
    .await
    .expect_status(StatusCode::OK);
    let got = receiver.wait_for(2).await;
    let assigned = got[1].json();
    assert_eq!(assigned["event"], "message_thread_booking_assigned");
    assert_eq!(
        assigned["payload"],
        json!({"message_thread_id": thread, "booking_id": booking, "property_id": s.property})
    );
    // The inquiry's guest text is a `message` event, which this mask leaves out.
    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 2)]);
    assert_eq!(receiver.received().len(), 2);
    worker.shutdown().await;
}

#[tokio::test]
async fn send_data_false_leaves_the_payload_out() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    let worker = start_worker(&app.db, test_config());
    let mut webhook = active(&receiver, json!(s.property));
    webhook["send_data"] = json!(false);
    create_webhook(&app, &s.account.key, webhook).await;
    guest_writes(&app, s.booking, "Hi").await;
    let body = receiver.wait_for(1).await[0].json();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["event", "property_id", "timestamp", "user_id"]);
    assert!(
        receiver.received()[0]
            .header("x-ota-inbox-signature")
            .is_none()
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_property_webhook_suppresses_a_matching_global_one_for_its_property() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let other_property = app.property(&s.account, true).await;
    let other_booking = app.booking(other_property, "BookingCom").await;
    let (global, local, inactive) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let worker = start_worker(&app.db, test_config());
    create_webhook(&app, &s.account.key, active(&global, Value::Null)).await;
    create_webhook(&app, &s.account.key, active(&local, json!(s.property))).await;
    // Inactive or non-matching property webhooks suppress nothing.
    let mut off = active(&inactive, json!(other_property));
    off["is_active"] = json!(false);
    create_webhook(&app, &s.account.key, off).await;
    let mut other_mask = active(&inactive, json!(other_property));
    other_mask["event_mask"] = json!("inquiry");
    create_webhook(&app, &s.account.key, other_mask).await;

    guest_writes(&app, s.booking, "to the property webhook").await;
    guest_writes(&app, other_booking, "to the global webhook").await;
    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 2)]);

    let local_got = local.received();
    let global_got = global.received();
    assert_eq!(local_got.len(), 1);
    assert_eq!(
        local_got[0].json()["payload"]["message"],
        "to the property webhook"
    );
    assert_eq!(global_got.len(), 1);
    assert_eq!(
        global_got[0].json()["payload"]["message"],
        "to the global webhook"
    );
    assert_eq!(global_got[0].json()["property_id"], json!(other_property));
    assert!(inactive.received().is_empty());

    // Another user's global webhook never hears of this user's events.
    let stranger = app.user().await;
    let theirs = Receiver::start().await;
    create_webhook(&app, &stranger.key, active(&theirs, Value::Null)).await;
    guest_writes(&app, other_booking, "again").await;
    global.wait_for(2).await;
    settled(&app.db).await;
    assert!(theirs.received().is_empty());
    worker.shutdown().await;
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_and_paginated() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    let worker = start_worker(&app.db, test_config());
    let webhook =
        id_of(&create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await);
    for i in 0..3 {
        guest_writes(&app, s.booking, &format!("m{i}")).await;
        receiver.wait_for(i + 1).await;
    }
    settled(&app.db).await;
    let page = eventually("three attempts", || async {
        let body = app
            .get(&format!(
                "/api/v1/webhooks/{webhook}/deliveries?pagination[limit]=2"
            ))
            .key(&s.account.key)
            .send()
            .await
            .json();
        (body["meta"]["total"] == 3).then_some(body)
    })
    .await;
    assert_eq!(
        page["meta"],
        json!({"limit": 2, "page": 1, "total": 3, "order_by": "attempted_at", "order_direction": "desc"})
    );
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert!(
        data[0]["attributes"]["attempted_at"].as_str()
            >= data[1]["attributes"]["attempted_at"].as_str()
    );
    worker.shutdown().await;
}
