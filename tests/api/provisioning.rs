//! Provisioning (§8): properties, the Messages app, and bookings as a PMS sees them.

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, assert_timestamp};

/// The fixed id of the Messages application.
const MESSAGES_APP_ID: &str = "8f3c1a6e-52b4-4d0e-9a77-1c0d5e2b6a41";

async fn install(app: &TestApp, key: &str, property_id: Uuid) -> crate::support::Response {
    app.post("/api/v1/applications/install")
        .key(key)
        .json(json!({"application_installation": {
            "property_id": property_id, "application_code": "channex_messages"
        }}))
        .send()
        .await
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn creating_a_property_answers_201_with_its_attributes() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let response = app
        .post("/api/v1/properties")
        .key(&account.key)
        .json(json!({"property": {
            "title": "Casa Azul", "currency": "EUR", "timezone": "Europe/Madrid",
            "unknown_field": "ignored"
        }}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    let id = response.id();
    assert_eq!(
        response.json(),
        json!({"data": {
            "id": id, "type": "property",
            "attributes": {
                "title": "Casa Azul", "currency": "EUR", "timezone": "Europe/Madrid",
                "is_active": true
            }
        }})
    );
    let owner: Uuid = sqlx::query_scalar("select user_id from properties where id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(owner, account.user_id);

    // Currency and timezone are optional.
    let minimal = app
        .post("/api/v1/properties")
        .key(&account.key)
        .json(json!({"property": {"title": "Bare"}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(
        minimal.data()["attributes"],
        json!({"title": "Bare", "currency": null, "timezone": null, "is_active": true})
    );

    // The new property is shown to its owner.
    let shown = app
        .get(&format!("/api/v1/properties/{id}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(shown.json(), response.json());
}

#[tokio::test]
async fn invalid_properties_are_a_422_naming_each_field_and_create_nothing() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let cases = [
        (json!({}), json!({"property": ["can't be blank"]})),
        (
            json!({"property": null}),
            json!({"property": ["can't be blank"]}),
        ),
        (
            json!({"property": "Casa"}),
            json!({"property": ["is invalid"]}),
        ),
        (
            json!({"property": ["Casa"]}),
            json!({"property": ["is invalid"]}),
        ),
        (
            json!({"title": "Casa"}),
            json!({"property": ["can't be blank"]}),
        ),
        (
            json!({"property": {}}),
            json!({"title": ["can't be blank"]}),
        ),
        (
            json!({"property": {"title": ""}}),
            json!({"title": ["can't be blank"]}),
        ),
        (
            json!({"property": {"title": "  \t "}}),
            json!({"title": ["can't be blank"]}),
        ),
        (
            json!({"property": {"title": null}}),
            json!({"title": ["can't be blank"]}),
        ),
        (
            json!({"property": {"title": 5}}),
            json!({"title": ["is invalid"]}),
        ),
        (
            json!({"property": {"title": true}}),
            json!({"title": ["is invalid"]}),
        ),
        (
            json!({"property": {"title": {"en": "Casa"}}}),
            json!({"title": ["is invalid"]}),
        ),
        // PostgreSQL cannot store NUL: a 422, never a 500.
        (
            json!({"property": {"title": "Casa\u{0}Azul"}}),
            json!({"title": ["is invalid"]}),
        ),
        (
            json!({"property": {"title": "x".repeat(256)}}),
            json!({"title": ["is too long"]}),
        ),
        (
            json!({"property": {"title": "Casa", "currency": "eur"}}),
            json!({"currency": ["is invalid"]}),
        ),
        (
            json!({"property": {"title": "Casa", "currency": "EU"}}),
            json!({"currency": ["is invalid"]}),
        ),
        (
            json!({"property": {"title": "Casa", "currency": "EURO"}}),
            json!({"currency": ["is too long"]}),
        ),
        (
            json!({"property": {"title": "Casa", "currency": 978}}),
            json!({"currency": ["is invalid"]}),
        ),
        (
            json!({"property": {"title": "Casa", "timezone": "x".repeat(65)}}),
            json!({"timezone": ["is too long"]}),
        ),
        (
            json!({"property": {"title": "Casa", "timezone": "Europe/\u{0}"}}),
            json!({"timezone": ["is invalid"]}),
        ),
        (
            json!({"property": {"title": 1, "currency": 2, "timezone": 3}}),
            json!({"title": ["is invalid"], "currency": ["is invalid"], "timezone": ["is invalid"]}),
        ),
    ];
    for (body, expected) in cases {
        let response = app
            .post("/api/v1/properties")
            .key(&account.key)
            .json(body.clone())
            .send()
            .await;
        let details = response.expect_error(422, "validation_error");
        assert_eq!(details, expected, "{body}");
        assert_eq!(response.json()["errors"]["title"], "Validation Error");
    }
    assert_eq!(app.count("select count(*) from properties").await, 0);
}

#[tokio::test]
async fn a_title_of_255_characters_is_accepted_whatever_their_byte_length() {
    let app = TestApp::new().await;
    let account = app.user().await;
    for title in ["x".repeat(255), "😀".repeat(255), "é".repeat(255)] {
        let response = app
            .post("/api/v1/properties")
            .key(&account.key)
            .json(json!({"property": {"title": title}}))
            .send()
            .await
            .expect_status(StatusCode::CREATED);
        assert_eq!(response.data()["attributes"]["title"], title.as_str());
    }
    let details = app
        .post("/api/v1/properties")
        .key(&account.key)
        .json(json!({"property": {"title": "😀".repeat(256)}}))
        .send()
        .await
        .expect_error(422, "validation_error");
    assert_eq!(details, json!({"title": ["is too long"]}));
}

#[tokio::test]
async fn a_key_limited_to_listed_properties_cannot_create_properties() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, false).await;
    let limited = app.key_for(account.user_id, Some(vec![property])).await;
    let response = app
        .post("/api/v1/properties")
        .key(&limited)
        .json(json!({"property": {"title": "Sneaky"}}))
        .send()
        .await;
    response.expect_error(401, "unauthorized");
    assert_eq!(app.count("select count(*) from properties").await, 1);
}

#[tokio::test]
async fn a_limited_key_is_refused_before_its_body_is_validated() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, false).await;
    let limited = app.key_for(account.user_id, Some(vec![property])).await;
    app.post("/api/v1/properties")
        .key(&limited)
        .json(json!({"property": {"title": ""}}))
        .send()
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn properties_are_listed_in_pages_of_what_the_key_sees() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let mut created = Vec::new();
    for i in 0..12 {
        let id = app
            .post("/api/v1/properties")
            .key(&account.key)
            .json(json!({"property": {"title": format!("Property {i:02}")}}))
            .send()
            .await
            .expect_status(StatusCode::CREATED)
            .id();
        created.push(id.to_string());
    }
    // Another user's properties never show.
    let other = app.user().await;
    app.property(&other, false).await;

    let page = |query: &'static str| {
        let app = &app;
        let key = account.key.clone();
        async move {
            app.get(&format!("/api/v1/properties{query}"))
                .key(&key)
                .send()
                .await
                .expect_status(StatusCode::OK)
                .json()
        }
    };

    let first = page("").await;
    assert_eq!(first["meta"], json!({"limit": 10, "page": 1, "total": 12}));
    assert_eq!(ids(&first).len(), 10);

    let mut seen = Vec::new();
    for (query, count, page_number) in [
        ("?pagination[page]=1&pagination[limit]=5", 5, 1),
        ("?pagination[page]=2&pagination[limit]=5", 5, 2),
        ("?pagination[page]=3&pagination[limit]=5", 2, 3),
    ] {
        let list = page(query).await;
        assert_eq!(
            list["meta"],
            json!({"limit": 5, "page": page_number, "total": 12}),
            "{query}"
        );
        assert_eq!(ids(&list).len(), count, "{query}");
        seen.extend(ids(&list));
    }
    // The pages cover every property once, oldest first.
    assert_eq!(seen, created);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 12);

    // Past the end: empty, with the total.
    let beyond = page("?pagination[page]=4&pagination[limit]=5").await;
    assert_eq!(
        beyond,
        json!({"data": [], "meta": {"limit": 5, "page": 4, "total": 12}})
    );
    // Percent-encoded brackets are the same parameters.
    let encoded = page("?pagination%5Bpage%5D=2&pagination%5Blimit%5D=5").await;
    assert_eq!(encoded["meta"], json!({"limit": 5, "page": 2, "total": 12}));
    assert_eq!(ids(&encoded), created[5..10]);

    // Every item is a full property resource.
    assert_eq!(
        first["data"][0],
        json!({"id": created[0], "type": "property", "attributes": {
            "title": "Property 00", "currency": null, "timezone": null, "is_active": true
        }})
    );
}

#[tokio::test]
async fn the_page_limit_is_capped_at_one_hundred() {
    let app = TestApp::new().await;
    let account = app.user().await;
    sqlx::query(
        r#"insert into properties (id, user_id, title, inserted_at)
           select gen_random_uuid(), $1, 'P' || g, now() + g * interval '1 millisecond'
           from generate_series(1, 105) g"#,
    )
    .bind(account.user_id)
    .execute(&app.db)
    .await
    .unwrap();
    for limit in ["100", "101", "1000", "18446744073709551615"] {
        let list = app
            .get(&format!("/api/v1/properties?pagination[limit]={limit}"))
            .key(&account.key)
            .send()
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(
            list["meta"],
            json!({"limit": 100, "page": 1, "total": 105}),
            "{limit}"
        );
        assert_eq!(ids(&list).len(), 100, "{limit}");
    }
    let last = app
        .get("/api/v1/properties?pagination[limit]=1000&pagination[page]=2")
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(ids(&last).len(), 5);
    assert_eq!(last["meta"], json!({"limit": 100, "page": 2, "total": 105}));
}

#[tokio::test]
async fn showing_a_property_checks_the_id_existence_and_access() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, false).await;
    let other = app.user().await;

    let response = app
        .get(&format!("/api/v1/properties/{}", Uuid::new_v4()))
        .key(&account.key)
        .send()
        .await;
    response.expect_error(404, "not_found");
    assert_eq!(
        response.json(),
        json!({"errors": {"code": "not_found", "title": "Resouce Not Found"}})
    );

    let response = app
        .get("/api/v1/properties/not-a-uuid")
        .key(&account.key)
        .send()
        .await;
    response.expect_error(422, "bad_request");
    assert_eq!(
        response.json(),
        json!({"errors": {"code": "bad_request", "title": "Bad Request", "details": {"id": ["is invalid"]}}})
    );

    let response = app
        .get(&format!("/api/v1/properties/{property}"))
        .key(&other.key)
        .send()
        .await;
    response.expect_error(401, "unauthorized");

    // Upper-case ids name the same property; the answer uses lower case.
    let shown = app
        .get(&format!(
            "/api/v1/properties/{}",
            property.to_string().to_uppercase()
        ))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(shown.data()["id"], property.to_string());
}

#[tokio::test]
async fn installing_the_messages_app_answers_the_installation_and_twice_the_same_one() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, false).await;

    let first = install(&app, &account.key, property)
        .await
        .expect_status(StatusCode::OK);
    let id = first.id();
    assert_eq!(
        first.json(),
        json!({"data": {
            "id": id, "type": "application_installation",
            "attributes": {
                "id": id, "settings": {}, "property_id": property, "is_active": true,
                "application_id": MESSAGES_APP_ID, "application_code": "channex_messages"
            }
        }})
    );

    let second = install(&app, &account.key, property)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(second.json(), first.json());
    assert_eq!(
        app.count("select count(*) from application_installations")
            .await,
        1
    );

    // A limited key that sees the property may install too (and gets the same installation).
    let limited = app.key_for(account.user_id, Some(vec![property])).await;
    let third = install(&app, &limited, property)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(third.id(), id);
}

#[tokio::test]
async fn installing_checks_the_code_and_the_property() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let mine = app.property(&account, false).await;
    let unlisted = app.property(&account, false).await;
    let limited = app.key_for(account.user_id, Some(vec![mine])).await;
    let other = app.user().await;
    let theirs = app.property(&other, false).await;

    let cases = [
        (
            &account.key,
            json!({"application_installation": {"property_id": mine, "application_code": "channex_channels"}}),
            json!({"application_code": ["is invalid"]}),
        ),
        (
            &account.key,
            json!({"application_installation": {"property_id": mine, "application_code": "CHANNEX_MESSAGES"}}),
            json!({"application_code": ["is invalid"]}),
        ),
        (
            &account.key,
            json!({"application_installation": {"property_id": mine}}),
            json!({"application_code": ["can't be blank"]}),
        ),
        (
            &account.key,
            json!({"application_installation": {"application_code": "channex_messages"}}),
            json!({"property_id": ["can't be blank"]}),
        ),
        (
            &account.key,
            json!({"application_installation": {"property_id": "nope", "application_code": "channex_messages"}}),
            json!({"property_id": ["is invalid"]}),
        ),
        (
            &account.key,
            json!({"application_installation": {"property_id": theirs, "application_code": "channex_messages"}}),
            json!({"property_id": ["not found"]}),
        ),
        (
            &account.key,
            json!({"application_installation": {"property_id": Uuid::new_v4(), "application_code": "channex_messages"}}),
            json!({"property_id": ["not found"]}),
        ),
        (
            &limited,
            json!({"application_installation": {"property_id": unlisted, "application_code": "channex_messages"}}),
            json!({"property_id": ["not found"]}),
        ),
        (
            &account.key,
            json!({"installation": {"property_id": mine, "application_code": "channex_messages"}}),
            json!({"application_installation": ["can't be blank"]}),
        ),
    ];
    for (key, body, expected) in cases {
        let details = app
            .post("/api/v1/applications/install")
            .key(key)
            .json(body.clone())
            .send()
            .await
            .expect_error(422, "validation_error");
        assert_eq!(details, expected, "{body}");
    }
    assert_eq!(
        app.count("select count(*) from application_installations")
            .await,
        0
    );
}

#[tokio::test]
async fn installed_applications_list_only_what_the_key_sees() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let a = app.property(&account, true).await;
    let b = app.property(&account, true).await;
    app.property(&account, false).await;
    let limited = app.key_for(account.user_id, Some(vec![b])).await;
    let other = app.user().await;
    let theirs = app.property(&other, true).await;

    let list = |key: String| {
        let app = &app;
        async move {
            app.get("/api/v1/applications/installed")
                .key(&key)
                .send()
                .await
                .expect_status(StatusCode::OK)
                .json()
        }
    };
    let property_ids = |list: &Value| -> HashSet<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["attributes"]["property_id"].as_str().unwrap().to_owned())
            .collect()
    };

    let all = list(account.key.clone()).await;
    assert_eq!(all["meta"], json!({"limit": 10, "page": 1, "total": 2}));
    assert_eq!(
        property_ids(&all),
        HashSet::from([a.to_string(), b.to_string()])
    );
    for item in all["data"].as_array().unwrap() {
        assert_eq!(item["type"], "application_installation");
        assert_eq!(item["id"], item["attributes"]["id"]);
        assert_eq!(item["attributes"]["application_code"], "channex_messages");
        assert_eq!(item["attributes"]["application_id"], MESSAGES_APP_ID);
        assert_eq!(item["attributes"]["is_active"], true);
        assert_eq!(item["attributes"]["settings"], json!({}));
    }

    let only_b = list(limited).await;
    assert_eq!(only_b["meta"]["total"], 1);
    assert_eq!(property_ids(&only_b), HashSet::from([b.to_string()]));

    let theirs_only = list(other.key.clone()).await;
    assert_eq!(theirs_only["meta"]["total"], 1);
    assert_eq!(
        property_ids(&theirs_only),
        HashSet::from([theirs.to_string()])
    );

    let paged = app
        .get("/api/v1/applications/installed?pagination[limit]=1&pagination[page]=2")
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(paged["meta"], json!({"limit": 1, "page": 2, "total": 2}));
    assert_eq!(ids(&paged).len(), 1);
}

#[tokio::test]
async fn uninstalling_removes_the_installation() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, false).await;
    let installation = install(&app, &account.key, property)
        .await
        .expect_status(StatusCode::OK)
        .id();

    let response = app
        .delete(&format!("/api/v1/applications/{installation}/uninstall"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(response.json(), json!({"meta": {"message": "Success"}}));
    assert_eq!(
        app.count("select count(*) from application_installations")
            .await,
        0
    );
    let installed = app
        .get("/api/v1/applications/installed")
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        installed,
        json!({"data": [], "meta": {"limit": 10, "page": 1, "total": 0}})
    );

    // Gone: a second uninstall is a 404, and installing again makes a new installation.
    app.delete(&format!("/api/v1/applications/{installation}/uninstall"))
        .key(&account.key)
        .send()
        .await
        .expect_error(404, "not_found");
    let again = install(&app, &account.key, property)
        .await
        .expect_status(StatusCode::OK)
        .id();
    assert_ne!(again, installation);
}

#[tokio::test]
async fn uninstalling_what_the_key_cannot_see_is_a_401_and_an_unknown_installation_a_404() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let a = app.property(&account, false).await;
    let b = app.property(&account, false).await;
    let installation_b = install(&app, &account.key, b)
        .await
        .expect_status(StatusCode::OK)
        .id();
    let limited = app.key_for(account.user_id, Some(vec![a])).await;
    let other = app.user().await;

    for key in [&other.key, &limited] {
        app.delete(&format!("/api/v1/applications/{installation_b}/uninstall"))
            .key(key)
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
    assert_eq!(
        app.count("select count(*) from application_installations")
            .await,
        1
    );

    app.delete(&format!(
        "/api/v1/applications/{}/uninstall",
        Uuid::new_v4()
    ))
    .key(&account.key)
    .send()
    .await
    .expect_error(404, "not_found");
    let details = app
        .delete("/api/v1/applications/xyz/uninstall")
        .key(&account.key)
        .send()
        .await
        .expect_error(422, "bad_request");
    assert_eq!(details, json!({"id": ["is invalid"]}));
    app.request(
        Method::POST,
        &format!("/api/v1/applications/{installation_b}/uninstall"),
    )
    .key(&account.key)
    .send()
    .await
    .expect_error(405, "method_not_allowed");
}

#[tokio::test]
async fn a_booking_shows_its_attributes_and_its_thread_once_a_guest_wrote() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app
        .admin(Method::POST, "/admin/bookings")
        .json(json!({"booking": {
            "property_id": property, "ota_name": "BookingCom", "ota_reservation_code": "4123456789",
            "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
            "customer": {"name": "Roxy", "surname": "Maldonado"}
        }}))
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .id();

    let shown = app
        .get(&format!("/api/v1/bookings/{booking}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    let data = &shown["data"];
    assert_timestamp(&data["attributes"]["inserted_at"]);
    assert_eq!(
        shown,
        json!({"data": {
            "id": booking, "type": "booking",
            "attributes": {
                "id": booking, "property_id": property, "unique_id": "BDC-4123456789",
                "ota_name": "BookingCom", "ota_reservation_code": "4123456789", "status": "new",
                "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
                "currency": "EUR", "amount": null,
                "occupancy": {"adults": 1, "children": 0, "infants": 0},
                "customer": {"name": "Roxy", "surname": "Maldonado", "mail": null,
                             "phone": null, "country": null, "language": null},
                "notes": null,
                "inserted_at": data["attributes"]["inserted_at"],
                "updated_at": data["attributes"]["updated_at"]
            }
        }})
    );
    assert!(data.get("relationships").is_none(), "{data}");

    let message = app.guest_writes(booking, "Hello!").await;
    let thread = app.thread_of(booking).await;
    assert_eq!(
        message.data()["relationships"]["message_thread"]["data"]["id"],
        thread.to_string()
    );
    let shown = app
        .get(&format!("/api/v1/bookings/{booking}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        shown["data"]["relationships"],
        json!({"message_thread": {"data": {"id": thread, "type": "message_thread"}}})
    );
    // Nothing else changed.
    assert_eq!(shown["data"]["attributes"], data["attributes"]);
}

#[tokio::test]
async fn showing_a_booking_checks_the_id_existence_and_access() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    let other = app.user().await;

    app.get(&format!("/api/v1/bookings/{}", Uuid::new_v4()))
        .key(&account.key)
        .send()
        .await
        .expect_error(404, "not_found");
    let details = app
        .get("/api/v1/bookings/12345")
        .key(&account.key)
        .send()
        .await
        .expect_error(422, "bad_request");
    assert_eq!(details, json!({"id": ["is invalid"]}));
    app.get(&format!("/api/v1/bookings/{booking}"))
        .key(&other.key)
        .send()
        .await
        .expect_error(401, "unauthorized");
    // A property id is not a booking id.
    app.get(&format!("/api/v1/bookings/{property}"))
        .key(&account.key)
        .send()
        .await
        .expect_error(404, "not_found");
}
