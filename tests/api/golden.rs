//! Every JSON example of the documentation, reproduced: the test creates matching data and
//! compares the whole answer with the example (tests/golden/*.json): the same keys, nesting,
//! types and values, except ids and timestamps, which must have the example's format. The only
//! keys an answer may have beyond its example are the fields live Channex sends that the
//! examples leave out (§6), listed in [`ADDITIONS`], in the attributes of their resource type.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Account, TestApp};

fn golden(name: &str) -> Value {
    let path = format!("{}/tests/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && Uuid::try_parse(s).is_ok() && s == s.to_lowercase()
}

/// `2021-07-27T09:43:05.864520`
fn is_wire_timestamp(s: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.6f").is_ok()
        && s.len() == 26
        && !s.ends_with('Z')
}

/// `2023-12-01T07:01:38.735Z`
fn is_iso_millis(s: &str) -> bool {
    s.len() == 24 && s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// A check of an added attribute's value.
type Check = fn(&Value) -> bool;

/// What an answer may add to a documented example (§6): `(resource type, attribute, check)`.
/// Nothing else, and only in the `attributes` of a resource of that type.
const ADDITIONS: [(&str, &str, Check); 4] = [
    ("message_thread", "ota_message_thread_id", Value::is_string),
    ("message_thread", "meta", is_thread_meta),
    ("message", "have_attachment", Value::is_boolean),
    ("message", "meta", is_author_meta),
];

/// `{}`, or an Airbnb thread's `{"listing_id", "live_feed_event_id"}`.
fn is_thread_meta(v: &Value) -> bool {
    let Some(meta) = v.as_object() else {
        return false;
    };
    meta.is_empty()
        || (meta.len() == 2
            && meta["listing_id"].as_str().is_some_and(|l| !l.is_empty())
            && meta["live_feed_event_id"].as_str().is_some_and(is_uuid))
}

/// `{"name", "role"}` of a message's author.
fn is_author_meta(v: &Value) -> bool {
    v.as_object().is_some_and(|meta| {
        meta.len() == 2
            && meta["name"].as_str().is_some_and(|n| !n.is_empty())
            && matches!(meta["role"].as_str(), Some("GUEST" | "HOST" | "COHOST"))
    })
}

/// Compares `actual` with `expected` in full; ids and timestamps by their format.
#[track_caller]
fn assert_like(actual: &Value, expected: &Value) {
    assert_like_in(actual, expected, None);
}

/// [`assert_like`] for the attributes of a resource of type `kind` (the data-structure
/// examples).
#[track_caller]
fn assert_like_in(actual: &Value, expected: &Value, kind: Option<&str>) {
    let mut problems = Vec::new();
    compare(actual, expected, "$", kind, &mut problems);
    assert!(
        problems.is_empty(),
        "{}\nactual: {actual:#}",
        problems.join("\n")
    );
}

/// `attributes_of`: the resource type when `actual` is the attributes of a resource.
fn compare(
    actual: &Value,
    expected: &Value,
    path: &str,
    attributes_of: Option<&str>,
    problems: &mut Vec<String>,
) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let mut ek: Vec<_> = e.keys().collect();
            let mut ak: Vec<_> = a
                .iter()
                .filter(|(key, value)| {
                    let added = !e.contains_key(*key)
                        && ADDITIONS.iter().any(|(kind, name, check)| {
                            Some(*kind) == attributes_of && name == key && check(value)
                        });
                    !added
                })
                .map(|(key, _)| key)
                .collect();
            ak.sort();
            ek.sort();
            if ak != ek {
                problems.push(format!("{path}: keys {ak:?}, expected {ek:?}"));
            }
            let kind = e.get("type").and_then(Value::as_str);
            for (key, e) in e {
                if let Some(a) = a.get(key) {
                    let inner = if key == "attributes" { kind } else { None };
                    compare(a, e, &format!("{path}.{key}"), inner, problems);
                }
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if a.len() != e.len() {
                problems.push(format!("{path}: {} items, expected {}", a.len(), e.len()));
            }
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                compare(a, e, &format!("{path}[{i}]"), None, problems);
            }
        }
        (Value::String(a), Value::String(e)) => {
            let same_kind = (is_uuid(e) && is_uuid(a))
                || (is_wire_timestamp(e) && is_wire_timestamp(a))
                || (is_iso_millis(e) && is_iso_millis(a));
            if !same_kind && a != e {
                problems.push(format!("{path}: {a:?}, expected {e:?}"));
            }
        }
        (a, e) if a == e => {}
        (a, e) => problems.push(format!("{path}: {a}, expected {e}")),
    }
}

struct Scene {
    app: TestApp,
    account: Account,
    property: Uuid,
}

impl Scene {
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

    /// A Booking.com booking whose thread title is "Maldonado Roxy".
    async fn booking(&self) -> Uuid {
        self.app
            .admin(Method::POST, "/admin/bookings")
            .json(json!({"booking": {
                "property_id": self.property, "ota_name": "BookingCom",
                "arrival_date": "2021-08-01", "departure_date": "2021-08-03",
                "customer": {"name": "Maldonado", "surname": "Roxy"}
            }}))
            .send()
            .await
            .expect_status(StatusCode::CREATED)
            .id()
    }

    async fn property_sends(&self, booking: Uuid, text: &str) -> Value {
        self.app
            .post(&format!("/api/v1/bookings/{booking}/messages"))
            .key(&self.account.key)
            .json(json!({"message": {"message": text}}))
            .send()
            .await
            .expect_status(StatusCode::OK)
            .json()
    }

    async fn get(&self, path: &str) -> Value {
        self.app
            .get(path)
            .key(&self.account.key)
            .send()
            .await
            .expect_status(StatusCode::OK)
            .json()
    }

    /// A booking thread of two messages, the last "Thanks for your message." from the property.
    async fn answered_thread(&self) -> (Uuid, Uuid) {
        let booking = self.booking().await;
        let guest = self.app.guest_writes(booking, "Can I bring my dog?").await;
        self.property_sends(booking, "Thanks for your message.")
            .await;
        let thread = guest.json()["data"]["relationships"]["message_thread"]["data"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        (booking, thread)
    }
}

#[tokio::test]
async fn the_message_data_structure_is_a_messages_attributes() {
    let scene = Scene::new().await;
    let booking = scene.booking().await;
    let message = scene
        .app
        .guest_writes(booking, "Client Message")
        .await
        .json();
    assert_like_in(
        &message["data"]["attributes"],
        &golden("message"),
        Some("message"),
    );
}

#[tokio::test]
async fn the_message_thread_data_structure_is_a_threads_attributes() {
    let scene = Scene::new().await;
    let (_, thread) = scene.answered_thread().await;
    let thread = scene
        .get(&format!("/api/v1/message_threads/{thread}"))
        .await;
    assert_like_in(
        &thread["data"]["attributes"],
        &golden("message_thread"),
        Some("message_thread"),
    );
}

#[tokio::test]
async fn get_messages_per_booking_matches_the_documentation() {
    let scene = Scene::new().await;
    let booking = scene.booking().await;
    scene.app.guest_writes(booking, "Message").await;
    let list = scene
        .get(&format!("/api/v1/bookings/{booking}/messages"))
        .await;
    assert_like(&list, &golden("booking_messages"));
}

#[tokio::test]
async fn send_message_to_booking_matches_the_documentation() {
    let scene = Scene::new().await;
    let booking = scene.booking().await;
    let sent = scene.property_sends(booking, "MESSAGE CONTENT").await;
    assert_like(&sent, &golden("send_message"));
    assert_eq!(
        sent["data"]["relationships"]["user"]["data"]["id"],
        scene.account.user_id.to_string()
    );
}

#[tokio::test]
async fn create_attachment_matches_the_documentation() {
    let scene = Scene::new().await;
    let created = scene
        .app
        .post("/api/v1/attachments")
        .key(&scene.account.key)
        .json(json!({"attachment": {"file": "aGVsbG8=", "file_name": "photo.jpeg", "file_type": "image/jpeg"}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_like(&created, &golden("attachment_created"));
}

#[tokio::test]
async fn send_attachment_matches_the_documentation_with_the_attachments_url() {
    let scene = Scene::new().await;
    let booking = scene.booking().await;
    let created = scene
        .app
        .post("/api/v1/attachments")
        .key(&scene.account.key)
        .json(json!({"attachment": {"file": "aGVsbG8=", "file_name": "photo.jpeg", "file_type": "image/jpeg"}}))
        .send()
        .await
        .json();
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let sent = scene
        .app
        .post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&scene.account.key)
        .json(json!({"message": {"attachment_id": id, "message": "MESSAGE CONTENT"}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    // The documentation's example shows an empty list; a message with an attachment lists its URL.
    let mut expected = golden("send_message");
    expected["data"]["attributes"]["attachments"] = json!([format!("attachments/{id}/photo.jpeg")]);
    assert_like(&sent, &expected);
}

#[tokio::test]
async fn get_message_threads_matches_the_documentation() {
    let scene = Scene::new().await;
    let (booking, _) = scene.answered_thread().await;
    let list = scene
        .get(&format!(
            "/api/v1/message_threads?filter%5Bbooking_id%5D={booking}"
        ))
        .await;
    let mut expected = golden("message_threads");
    // The one documented difference (§5): the example's meta names `inserted_at`, but live
    // Channex (and ota-inbox) lists threads by their newest message by default.
    expected["meta"]["order_by"] = json!("last_message_received_at");
    assert_like(&list, &expected);
}

#[tokio::test]
async fn get_message_thread_by_id_matches_the_documentation() {
    let scene = Scene::new().await;
    let (_, thread) = scene.answered_thread().await;
    let shown = scene
        .get(&format!("/api/v1/message_threads/{thread}"))
        .await;
    assert_like(&shown, &golden("message_thread_show"));
}

#[tokio::test]
async fn get_messages_of_a_thread_matches_the_documentation() {
    let scene = Scene::new().await;
    let booking = scene.booking().await;
    let guest = scene
        .app
        .guest_writes(booking, "Special request text 1")
        .await
        .json();
    scene.property_sends(booking, "MESSAGE CONTENT").await;
    let thread = guest["data"]["relationships"]["message_thread"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = scene
        .get(&format!("/api/v1/message_threads/{thread}/messages"))
        .await;
    assert_like(&list, &golden("thread_messages"));
}

#[tokio::test]
async fn send_message_to_thread_matches_the_documentation() {
    let scene = Scene::new().await;
    let (_, thread) = scene.answered_thread().await;
    let sent = scene
        .app
        .post(&format!("/api/v1/message_threads/{thread}/messages"))
        .key(&scene.account.key)
        .json(json!({"message": {"message": "MESSAGE CONTENT"}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_like(&sent, &golden("send_message"));
}

#[tokio::test]
async fn close_message_thread_matches_the_documentation() {
    let scene = Scene::new().await;
    let (_, thread) = scene.answered_thread().await;
    let closed = scene
        .app
        .post(&format!("/api/v1/message_threads/{thread}/close"))
        .key(&scene.account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_like(&closed, &golden("close"));
}

async fn inquiry(scene: &Scene) -> Uuid {
    scene
        .app
        .admin(Method::POST, "/admin/inquiries")
        .json(json!({"inquiry": {
            "property_id": scene.property, "guest_name": "Andrew", "checkin_date": "2023-12-02",
            "checkout_date": "2023-12-03", "number_of_adults": 3, "number_of_children": 0,
            "currency": "GBP", "expected_payout_amount_accurate": "50.00",
            "listing_id": "16384756345", "listing_name": "Channex Listing",
            "room_type_id": "a9856c2b-f82f-42fc-8467-b10f4c6ffb74"
        }}))
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .id()
}

#[tokio::test]
async fn an_inquiry_thread_matches_the_documentation() {
    let scene = Scene::new().await;
    let thread = inquiry(&scene).await;
    for text in ["Hi", "Is it free?", "Great"] {
        scene
            .app
            .admin(
                Method::POST,
                &format!("/admin/message_threads/{thread}/guest_messages"),
            )
            .json(json!({"message": {"message": text}}))
            .send()
            .await
            .expect_status(StatusCode::CREATED);
    }
    for text in ["Yes it is", "Hello"] {
        scene
            .app
            .post(&format!("/api/v1/message_threads/{thread}/messages"))
            .key(&scene.account.key)
            .json(json!({"message": {"message": text}}))
            .send()
            .await
            .expect_status(StatusCode::OK);
    }
    let shown = scene
        .get(&format!("/api/v1/message_threads/{thread}"))
        .await;
    let mut expected = golden("inquiry_thread");
    // The one documented difference: this example alone carries the property's title inside
    // the relationship; every other thread example (and ota-inbox) has `{id, type}` only.
    expected["data"]["relationships"]["property"]["data"]
        .as_object_mut()
        .unwrap()
        .remove("title");
    assert_like(&shown, &expected);
}

#[tokio::test]
async fn an_inquirys_system_message_matches_the_documentation() {
    let scene = Scene::new().await;
    let thread = inquiry(&scene).await;
    let list = scene
        .get(&format!("/api/v1/message_threads/{thread}/messages"))
        .await;
    let system = &list["data"][0];
    assert_like(system, &golden("inquiry_message"));
    assert_eq!(
        system["attributes"]["meta"]["booking_details"]["property_id"],
        scene.property.to_string()
    );
}

#[tokio::test]
async fn error_bodies_match_the_documentation() {
    let scene = Scene::new().await;
    let unauthorized = scene.app.get("/api/v1/message_threads").send().await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauthorized.json(), golden("error_unauthorized"));

    let bare = scene.app.property(&scene.account, false).await;
    let booking = scene.app.booking(bare, "BookingCom").await;
    let forbidden = scene
        .app
        .get(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&scene.account.key)
        .send()
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(forbidden.json(), golden("error_forbidden"));

    let expedia = scene.app.booking(scene.property, "Expedia").await;
    let unsupported = scene
        .app
        .get(&format!("/api/v1/bookings/{expedia}/messages"))
        .key(&scene.account.key)
        .send()
        .await;
    assert_eq!(unsupported.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unsupported.json(), golden("error_not_supported"));

    let missing = scene
        .app
        .get(&format!("/api/v1/message_threads/{}", Uuid::new_v4()))
        .key(&scene.account.key)
        .send()
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json(), golden("error_not_found"));
}

#[test]
fn the_comparison_catches_what_it_must() {
    let expected = json!({"a": "2021-07-27T09:43:05.864520", "b": [1], "c": "x", "d": null});
    let mut problems = Vec::new();
    for actual in [
        json!({"a": "2021-07-27T09:43:05.86452", "b": [1], "c": "x", "d": null}),
        json!({"a": "2021-07-27T09:43:05.864520", "b": [], "c": "x", "d": null}),
        json!({"a": "2021-07-27T09:43:05.864520", "b": [1], "c": "y", "d": null}),
        json!({"a": "2021-07-27T09:43:05.864520", "b": [1], "c": "x"}),
        json!({"a": "2021-07-27T09:43:05.864520", "b": [1], "c": "x", "d": 0}),
    ] {
        compare(&actual, &expected, "$", None, &mut problems);
    }
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

#[test]
fn only_the_listed_additions_pass_and_only_where_they_belong() {
    let message = |attributes: Value| json!({"data": {"id": Uuid::nil(), "type": "message", "attributes": attributes}});
    let expected = message(json!({"message": "hi"}));
    let check = |actual: Value| {
        let mut problems = Vec::new();
        compare(&actual, &expected, "$", None, &mut problems);
        problems.len()
    };
    let author = json!({"name": "Roxy", "role": "GUEST"});
    assert_eq!(
        check(message(
            json!({"message": "hi", "have_attachment": false, "meta": author})
        )),
        0
    );
    // Not listed, a bad value, or in the wrong place: each caught.
    assert_eq!(check(message(json!({"message": "hi", "extra": 1}))), 1);
    assert_eq!(
        check(message(json!({"message": "hi", "have_attachment": "no"}))),
        1
    );
    assert_eq!(
        check(message(
            json!({"message": "hi", "meta": {"name": "Roxy", "role": "BOSS"}})
        )),
        1
    );
    assert_eq!(
        check(message(
            json!({"message": "hi", "ota_message_thread_id": "1"})
        )),
        1
    );
    let misplaced = json!({"data": {"id": Uuid::nil(), "type": "message", "attributes": {"message": "hi"}, "have_attachment": true}});
    assert_eq!(check(misplaced), 1);
    let thread = json!({"data": {"id": Uuid::nil(), "type": "message_thread", "attributes": {"title": "A", "ota_message_thread_id": "1234567890", "meta": {}}}});
    let mut problems = Vec::new();
    compare(
        &thread,
        &json!({"data": {"id": Uuid::nil(), "type": "message_thread", "attributes": {"title": "A"}}}),
        "$",
        None,
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
}
