//! `event_mask` (§10): every documented Channex event, `;` or `,`, `*`, ARI masks; unknown
//! names refused; what matches.

use axum::http::StatusCode;
use ota_inbox::webhooks::mask::CHANNEX_EVENTS;
use serde_json::json;

use super::receiver::Receiver;
use super::{create_webhook, guest_writes, id_of, put, scene, settled, start_worker, test_config};
use crate::support::TestApp;

#[tokio::test]
async fn every_documented_event_name_is_accepted_and_the_mask_round_trips_as_written() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let plan = "96a44e07-2158-43e4-8baa-8f6f56922ba8";
    let mut masks: Vec<String> = CHANNEX_EVENTS.iter().map(|e| (*e).to_owned()).collect();
    masks.extend([
        // The first provisioning calls of two real clients.
        "booking".to_owned(),
        "booking_new;booking_modification;booking_cancellation;message".to_owned(),
        CHANNEX_EVENTS.join(";"),
        CHANNEX_EVENTS.join(","),
        " message , inquiry;booking_new ".to_owned(),
        format!("ari:rate:*:{plan}"),
        format!("ari:rate,availability:*:{plan};message"),
        "*".to_owned(),
    ]);
    assert_eq!(CHANNEX_EVENTS.len(), 29);
    for mask in &masks {
        let created = create_webhook(
            &app,
            &s.account.key,
            json!({"callback_url": "http://pms.example/", "event_mask": mask, "property_id": s.property}),
        )
        .await;
        assert_eq!(created["attributes"]["event_mask"], json!(mask), "{mask}");
        let shown = app
            .get(&format!("/api/v1/webhooks/{}", id_of(&created)))
            .key(&s.account.key)
            .send()
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(shown["data"]["attributes"]["event_mask"], json!(mask));
    }
    let listed = app
        .get("/api/v1/webhooks?pagination[limit]=100&order[inserted_at]=asc")
        .key(&s.account.key)
        .send()
        .await
        .json();
    let listed: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["attributes"]["event_mask"].as_str().unwrap())
        .collect();
    assert_eq!(listed, masks);
}

#[tokio::test]
async fn an_unknown_event_name_is_a_422_on_event_mask() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    for mask in [
        "bookings",
        "message;nope",
        "Message",
        "ari:price",
        "ari:rate:not-a-room",
        ";",
    ] {
        let details = app
            .post("/api/v1/webhooks")
            .key(&s.account.key)
            .json(json!({"webhook": {"callback_url": "http://pms.example/", "event_mask": mask, "property_id": s.property}}))
            .send()
            .await
            .expect_error(422, "validation_error");
        let expected = if mask == ";" {
            "can't be blank"
        } else {
            "is invalid"
        };
        assert_eq!(details, json!({"event_mask": [expected]}), "{mask}");
    }
    let id = id_of(
        &create_webhook(
            &app,
            &s.account.key,
            json!({"callback_url": "http://pms.example/", "event_mask": "message", "property_id": s.property}),
        )
        .await,
    );
    let details = put(
        &app,
        &s.account.key,
        &format!("/api/v1/webhooks/{id}"),
        json!({"webhook": {"event_mask": "message;reviews"}}),
    )
    .await
    .expect_error(422, "validation_error");
    assert_eq!(details, json!({"event_mask": ["is invalid"]}));
    assert_eq!(app.count("select count(*) from webhooks").await, 1);
}

#[tokio::test]
async fn booking_and_ari_masks_are_stored_but_only_masks_naming_a_produced_event_fire() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let worker = start_worker(&app.db, test_config());
    let mixed = Receiver::start().await;
    let other = Receiver::start().await;
    for (receiver, mask) in [
        (
            &mixed,
            "booking_new;booking_modification;booking_cancellation,message",
        ),
        (&other, "booking;ari:rate:*:*;review"),
    ] {
        create_webhook(
            &app,
            &s.account.key,
            json!({"callback_url": receiver.url("/hook"), "event_mask": mask,
                   "property_id": s.property, "is_active": true, "send_data": true}),
        )
        .await;
    }
    guest_writes(&app, s.booking, "Hello").await;
    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 1)]);
    assert_eq!(mixed.received().len(), 1);
    assert_eq!(mixed.received()[0].json()["event"], "message");
    assert!(other.received().is_empty());
    worker.shutdown().await;
}
