//! Callback URLs are called as written, and a delivery's lease bounds its attempt: a worker that
//! dies mid-attempt leaves the delivery to be sent again soon, and never by two workers at once.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};

use super::receiver::{Receiver, Reply};
use super::{
    active, create_webhook, guest_writes, id_of, put, scene, settled, start_worker, test_config,
};
use crate::faults::process::ServerProcess;
use crate::support::{TestApp, fresh_database_url};

const CONTROL: [&str; 5] = [
    "http://127.0.0.1:9000/ho\r\nok",
    "http://127.0.0.1:9000/ho\nok",
    "http://127.0.0.1:9000/ho\tok",
    "http://127.0.0.1:9000/\u{7f}",
    "http://127.0.0.1:9000/\u{1}",
];

#[tokio::test]
async fn a_callback_url_with_control_characters_is_a_422_and_never_stored() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let key = &s.account.key;
    let stored = create_webhook(
        &app,
        key,
        json!({"callback_url": "http://127.0.0.1:9000/hook", "event_mask": "*", "property_id": s.property}),
    )
    .await;
    let id = id_of(&stored);
    for url in CONTROL {
        let created = app
            .post("/api/v1/webhooks")
            .key(key)
            .json(json!({"webhook": {"callback_url": url, "event_mask": "*", "property_id": s.property}}))
            .send()
            .await;
        let details = created.expect_error(422, "validation_error");
        assert_eq!(details, json!({"callback_url": ["is invalid"]}), "{url:?}");
        let updated = put(
            &app,
            key,
            &format!("/api/v1/webhooks/{id}"),
            json!({"webhook": {"callback_url": url}}),
        )
        .await;
        updated.expect_error(422, "validation_error");
        let tested = app
            .request(Method::POST, "/api/v1/webhooks/test")
            .key(key)
            .json(json!({"webhook": {"callback_url": url}}))
            .send()
            .await;
        tested.expect_error(422, "validation_error");
    }
    let urls: Vec<String> = sqlx::query_scalar("select callback_url from webhooks")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(urls, ["http://127.0.0.1:9000/hook"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_is_cut_when_its_lease_ends_and_sent_again_only_after() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    // The first request is never answered.
    let receiver = Receiver::scripted(vec![Reply::Hang]).await;
    // A worker whose lease is shorter than its callback timeout: only the lease can end the
    // attempt.
    let lease = Duration::from_millis(1500);
    let mut config = test_config();
    config.timeout = Duration::from_secs(60);
    config.lease = lease;
    let first = start_worker(&app.db, config.clone());
    let second = start_worker(&app.db, config);
    create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await;
    guest_writes(&app, s.booking, "Hi").await;

    let got = receiver.wait_for(2).await;
    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 1)]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = receiver.received();
    assert_eq!(got_all.len(), 2, "sent twice in all");
    let ids: HashSet<&str> = got
        .iter()
        .map(|r| r.header("x-ota-inbox-delivery").unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "the same delivery");
    let ended = receiver.ended();
    let first_end = ended[0].expect("the first attempt was cut");
    // Cut within its lease, and sent again only once it was over.
    assert!(
        first_end - got[0].at <= lease,
        "ran {:?}",
        first_end - got[0].at
    );
    assert!(got[1].at >= first_end, "two attempts overlapped");
    assert!(got[1].at - got[0].at >= lease.mul_f32(0.9));
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_9_the_attempt_in_flight_is_sent_again_within_twice_the_timeout() {
    let (db, url) = fresh_database_url().await;
    let timeout = Duration::from_secs(1);
    let mut server = ServerProcess::start_on(
        db.clone(),
        &url,
        &[
            ("WEBHOOK_TIMEOUT", "1s"),
            ("WEBHOOK_RETRY_SCHEDULE", "100ms"),
        ],
    )
    .await;
    let receiver = Receiver::scripted(vec![Reply::Hang]).await;
    let key = server.api_key().await;
    let auth = ("user-api-key", key.as_str());
    let (_, property) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/properties",
            auth,
            Some(json!({"property": {"title": "Casa"}})),
        )
        .await;
    let property = property["data"]["id"].clone();
    server
        .call(
            reqwest::Method::POST,
            "/api/v1/applications/install",
            auth,
            Some(json!({"application_installation": {"property_id": property, "application_code": "channex_messages"}})),
        )
        .await;
    let (status, _) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/webhooks",
            auth,
            Some(json!({"webhook": active(&receiver, property.clone())})),
        )
        .await;
    assert_eq!(status, 201);
    let admin_token = format!("Bearer {}", crate::support::ADMIN_TOKEN);
    let admin = ("authorization", admin_token.as_str());
    let (_, booking) = server
        .call(
            reqwest::Method::POST,
            "/admin/bookings",
            admin,
            Some(
                json!({"booking": {"property_id": property, "ota_name": "BookingCom",
                "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
                "customer": {"name": "Roxy"}}}),
            ),
        )
        .await;
    let (status, _) = server
        .call(
            reqwest::Method::POST,
            &format!(
                "/admin/bookings/{}/guest_messages",
                booking["data"]["id"].as_str().unwrap()
            ),
            admin,
            Some(json!({"message": {"message": "Hello"}})),
        )
        .await;
    assert_eq!(status, 201);

    // The attempt is in flight (the receiver does not answer): kill the process.
    let first = receiver.wait_for(1).await;
    server.signal("KILL");
    server.exit_within(Duration::from_secs(10)).await;
    let lease_end: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select next_attempt_at from webhook_deliveries")
            .fetch_one(&db)
            .await
            .unwrap();

    // Another process's worker takes over.
    let worker = start_worker(
        &db,
        ota_inbox::webhooks::WorkerConfig::new(timeout, vec![Duration::from_millis(100)], 8),
    );
    let got = receiver.wait_for(2).await;
    assert_eq!(settled(&db).await, vec![("delivered".to_owned(), 1)]);
    let again = got[1].at - first[0].at;
    assert!(
        again <= timeout * 2 + Duration::from_secs(3),
        "sent again after {again:?}"
    );
    assert!(
        got[1].at_utc >= lease_end,
        "sent again before the lease ended"
    );
    assert_eq!(
        got[0].header("x-ota-inbox-delivery"),
        got[1].header("x-ota-inbox-delivery")
    );
    let received: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1]["payload"]["message"], "Hello");
    worker.shutdown().await;
}
