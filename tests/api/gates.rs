//! The gates of §3 on every Messages API endpoint, in the contract's order.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Account, TestApp};

/// One user with a Booking.com thread (holding a guest attachment) on a property with the app.
struct World {
    app: TestApp,
    owner: Account,
    property: Uuid,
    booking: Uuid,
    thread: Uuid,
    attachment: String,
}

impl World {
    async fn new() -> Self {
        let app = TestApp::new().await;
        let owner = app.user().await;
        let property = app.property(&owner, true).await;
        let booking = app.booking(property, "BookingCom").await;
        let message = app
            .admin(
                Method::POST,
                &format!("/admin/bookings/{booking}/guest_messages"),
            )
            .json(json!({"message": {"message": "photo", "attachments": [
                {"file": "aGVsbG8=", "file_name": "door.jpg", "file_type": "image/jpeg"}
            ]}}))
            .send()
            .await
            .expect_status(StatusCode::CREATED)
            .json();
        let thread = message["data"]["relationships"]["message_thread"]["data"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let attachment = message["data"]["attributes"]["attachments"][0]
            .as_str()
            .unwrap()
            .to_owned();
        Self {
            app,
            owner,
            property,
            booking,
            thread,
            attachment,
        }
    }

    /// Every resource endpoint as (method, path, body), for the thread, booking and attachment.
    fn endpoints(
        &self,
        thread: &str,
        booking: &str,
        attachment_id: &str,
    ) -> Vec<(Method, String, Option<Value>)> {
        let message = Some(json!({"message": {"message": "hi"}}));
        vec![
            (
                Method::GET,
                format!("/api/v1/message_threads/{thread}"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/message_threads/{thread}/messages"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/message_threads/{thread}/messages"),
                message.clone(),
            ),
            (
                Method::POST,
                format!("/api/v1/message_threads/{thread}/close"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/message_threads/{thread}/no_reply_needed"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/bookings/{booking}/messages"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/bookings/{booking}/messages"),
                message,
            ),
            (
                Method::GET,
                format!("/api/v1/attachments/{attachment_id}"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/attachments/{attachment_id}/door.jpg"),
                None,
            ),
        ]
    }

    fn real_endpoints(&self) -> Vec<(Method, String, Option<Value>)> {
        let attachment_id = self.attachment.split('/').nth(1).unwrap().to_owned();
        self.endpoints(
            &self.thread.to_string(),
            &self.booking.to_string(),
            &attachment_id,
        )
    }

    async fn call(
        &self,
        method: &Method,
        path: &str,
        body: &Option<Value>,
        key: Option<&str>,
    ) -> crate::support::Response {
        let mut call = self.app.request(method.clone(), path);
        if let Some(key) = key {
            call = call.key(key);
        }
        if let Some(body) = body {
            call = call.json(body.clone());
        }
        call.send().await
    }
}

#[tokio::test]
async fn every_endpoint_answers_401_to_a_missing_wrong_revoked_or_foreign_key() {
    let world = World::new().await;
    let stranger = world.app.user().await;
    let other_property = world.app.property(&world.owner, true).await;
    let limited = world
        .app
        .key_for(world.owner.user_id, Some(vec![other_property]))
        .await;
    let revoked_key = world.app.key_for(world.owner.user_id, None).await;
    let key_row: Uuid =
        sqlx::query_scalar("select id from api_keys order by inserted_at desc limit 1")
            .fetch_one(&world.app.db)
            .await
            .unwrap();
    world
        .app
        .admin(Method::DELETE, &format!("/admin/api_keys/{key_row}"))
        .send()
        .await
        .expect_status(StatusCode::OK);

    for (method, path, body) in world.real_endpoints() {
        for key in [
            None,
            Some("oik_not-a-key"),
            Some(revoked_key.as_str()),
            Some(stranger.key.as_str()),
            Some(limited.as_str()),
        ] {
            let response = world.call(&method, &path, &body, key).await;
            response.expect_error(401, "unauthorized");
        }
    }
    // Auth comes first: a malformed id with no key is still a 401.
    for (method, path, body) in world.endpoints("nope", "nope", "nope") {
        world
            .call(&method, &path, &body, None)
            .await
            .expect_error(401, "unauthorized");
    }
    world
        .app
        .get("/api/v1/message_threads")
        .send()
        .await
        .expect_error(401, "unauthorized");
    world
        .app
        .post("/api/v1/attachments")
        .json(json!({}))
        .send()
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn every_endpoint_answers_422_to_a_malformed_id_before_looking_it_up() {
    let world = World::new().await;
    for bad in [
        "nope",
        "123",
        "4e160f0b016a424aa30da9f0a8b1cbaa",
        "4e160f0b-016a-424a-a30d-a9f0a8b1cbaz",
    ] {
        for (method, path, body) in world.endpoints(bad, bad, bad) {
            let details = world
                .call(&method, &path, &body, Some(&world.owner.key))
                .await
                .expect_error(422, "bad_request");
            assert_eq!(details, json!({"id": ["is invalid"]}), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn every_endpoint_answers_404_to_an_unknown_id() {
    let world = World::new().await;
    let unknown = Uuid::new_v4().to_string();
    for (method, path, body) in world.endpoints(&unknown, &unknown, &unknown) {
        let response = world
            .call(&method, &path, &body, Some(&world.owner.key))
            .await;
        response.expect_error(404, "not_found");
        assert_eq!(response.json()["errors"]["title"], "Resouce Not Found");
    }
}

#[tokio::test]
async fn every_endpoint_answers_403_once_the_messages_app_is_uninstalled() {
    let world = World::new().await;
    let installed = world
        .app
        .get("/api/v1/applications/installed")
        .key(&world.owner.key)
        .send()
        .await
        .json();
    let installation = installed["data"][0]["id"].as_str().unwrap().to_owned();
    world
        .app
        .delete(&format!("/api/v1/applications/{installation}/uninstall"))
        .key(&world.owner.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    for (method, path, body) in world.real_endpoints() {
        world
            .call(&method, &path, &body, Some(&world.owner.key))
            .await
            .expect_error(403, "forbidden");
    }
    let filtered = format!(
        "/api/v1/message_threads?filter%5Bproperty_id%5D={}",
        world.property
    );
    world
        .app
        .get(&filtered)
        .key(&world.owner.key)
        .send()
        .await
        .expect_error(403, "forbidden");
    world
        .app
        .get("/api/v1/message_threads")
        .key(&world.owner.key)
        .send()
        .await
        .expect_error(403, "forbidden");
    world
        .app
        .post("/api/v1/attachments")
        .key(&world.owner.key)
        .json(json!({"attachment": {"file": "aGk=", "file_name": "a.txt", "file_type": "text/plain"}}))
        .send()
        .await
        .expect_error(403, "forbidden");
}

#[tokio::test]
async fn access_is_checked_before_the_app() {
    let world = World::new().await;
    let stranger = world.app.user().await;
    let bare = world.app.property(&stranger, false).await;
    let booking = world.app.booking(bare, "BookingCom").await;
    // The owner of a property without the app gets 403; anybody else 401.
    world
        .app
        .get(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&stranger.key)
        .send()
        .await
        .expect_error(403, "forbidden");
    world
        .app
        .get(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&world.owner.key)
        .send()
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn booking_endpoints_answer_not_supported_for_otas_without_messaging() {
    let world = World::new().await;
    for ota in ["Expedia", "Agoda", "Offline"] {
        let booking = world.app.booking(world.property, ota).await;
        for method in [Method::GET, Method::POST] {
            let body = (method == Method::POST).then(|| json!({"message": {"message": "hi"}}));
            world
                .call(
                    &method,
                    &format!("/api/v1/bookings/{booking}/messages"),
                    &body,
                    Some(&world.owner.key),
                )
                .await
                .expect_error(422, "not_supported");
        }
    }
    // Nothing was written for them.
    let threads: i64 = sqlx::query_scalar("select count(*) from message_threads")
        .fetch_one(&world.app.db)
        .await
        .unwrap();
    assert_eq!(threads, 1);
}

#[tokio::test]
async fn no_reply_needed_is_not_supported_on_airbnb_threads() {
    let world = World::new().await;
    let inquiry = world
        .app
        .admin(Method::POST, "/admin/inquiries")
        .json(
            json!({"inquiry": {"property_id": world.property, "guest_name": "Andrew",
            "checkin_date": "2030-01-01", "checkout_date": "2030-01-03"}}),
        )
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .id();
    world
        .app
        .post(&format!(
            "/api/v1/message_threads/{inquiry}/no_reply_needed"
        ))
        .key(&world.owner.key)
        .send()
        .await
        .expect_error(422, "not_supported");
    let airbnb = world.app.booking(world.property, "Airbnb").await;
    world.app.guest_writes(airbnb, "hi").await;
    let thread = world
        .app
        .get(&format!("/api/v1/bookings/{airbnb}"))
        .key(&world.owner.key)
        .send()
        .await
        .json();
    let thread = thread["data"]["relationships"]["message_thread"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world
        .app
        .post(&format!("/api/v1/message_threads/{thread}/no_reply_needed"))
        .key(&world.owner.key)
        .send()
        .await
        .expect_error(422, "not_supported");
}

#[tokio::test]
async fn sending_validates_the_body_after_every_other_gate() {
    let world = World::new().await;
    for path in [
        format!("/api/v1/message_threads/{}/messages", world.thread),
        format!("/api/v1/bookings/{}/messages", world.booking),
    ] {
        let details = world
            .call(
                &Method::POST,
                &path,
                &Some(json!({"message": {}})),
                Some(&world.owner.key),
            )
            .await
            .expect_error(422, "validation_error");
        assert_eq!(details, json!({"message": ["can't be blank"]}));
        // A stranger learns nothing about the body: 401 comes first.
        let stranger = world.app.user().await;
        world
            .call(
                &Method::POST,
                &path,
                &Some(json!({"message": {}})),
                Some(&stranger.key),
            )
            .await
            .expect_error(401, "unauthorized");
    }
}
