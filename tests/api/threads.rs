//! Thread lists (§5) and thread actions: close, no_reply_needed.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Account, TestApp};

async fn list(app: &TestApp, account: &Account, query: &str) -> Value {
    app.get(&format!("/api/v1/message_threads?{query}"))
        .key(&account.key)
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

async fn thread_of(app: &TestApp, booking: Uuid, text: &str) -> String {
    let message = app.guest_writes(booking, text).await.json();
    message["data"]["relationships"]["message_thread"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn lists_page_newest_first_with_meta() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let mut created = Vec::new();
    for i in 0..13 {
        let booking = app.booking(property, "BookingCom").await;
        created.push(thread_of(&app, booking, &format!("guest {i}")).await);
    }
    created.reverse();
    let first = list(&app, &account, "").await;
    assert_eq!(
        first["meta"],
        json!({"limit": 10, "page": 1, "total": 13, "order_by": "last_message_received_at", "order_direction": "desc"})
    );
    assert_eq!(ids(&first), created[..10]);
    let second = list(
        &app,
        &account,
        "pagination%5Bpage%5D=2&pagination%5Blimit%5D=10",
    )
    .await;
    assert_eq!(ids(&second), created[10..]);
    let small = list(&app, &account, "pagination[page]=3&pagination[limit]=5").await;
    assert_eq!(ids(&small), created[10..]);
    let beyond = list(&app, &account, "pagination[page]=999999999999").await;
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(beyond["meta"]["total"], 13);
    let capped = list(&app, &account, "pagination[limit]=1000").await;
    assert_eq!(capped["meta"]["limit"], 100);
    let ascending = list(&app, &account, "order[inserted_at]=asc&pagination[limit]=3").await;
    let oldest: Vec<String> = created.iter().rev().take(3).cloned().collect();
    assert_eq!(ids(&ascending), oldest);
    assert_eq!(ascending["meta"]["order_direction"], "asc");
}

#[tokio::test]
async fn lists_order_by_activity() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let (a, b) = (
        app.booking(property, "BookingCom").await,
        app.booking(property, "BookingCom").await,
    );
    let thread_a = thread_of(&app, a, "first").await;
    let thread_b = thread_of(&app, b, "second").await;
    app.guest_writes(a, "again").await;
    for field in ["updated_at", "last_message_received_at"] {
        let by_activity = list(&app, &account, &format!("order[{field}]=desc")).await;
        assert_eq!(
            ids(&by_activity),
            vec![thread_a.clone(), thread_b.clone()],
            "{field}"
        );
        assert_eq!(by_activity["meta"]["order_by"], field);
    }
    let details = app
        .get("/api/v1/message_threads?order[title]=asc")
        .key(&account.key)
        .send()
        .await
        .expect_error(422, "bad_request");
    assert_eq!(details, json!({"order[title]": ["is invalid"]}));
}

#[tokio::test]
async fn every_filter_narrows_the_list_and_its_total() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let p1 = app.property(&account, true).await;
    let p2 = app.property(&account, true).await;
    let b1 = app.booking(p1, "BookingCom").await;
    let b2 = app.booking(p2, "Airbnb").await;
    let t1 = thread_of(&app, b1, "one").await;
    let t2 = thread_of(&app, b2, "two").await;
    app.post(&format!("/api/v1/message_threads/{t2}/close"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    let channel =
        list(&app, &account, &format!("filter[booking_id]={b1}")).await["data"][0]["relationships"]
            ["channel"]["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let stamp: String = sqlx::query_scalar("select to_char(inserted_at at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') from message_threads where id = $1")
        .bind(Uuid::parse_str(&t2).unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap();
    for (query, expected) in [
        (format!("filter[property_id]={p1}"), vec![&t1]),
        (format!("filter[property_id]={p1},{p2}"), vec![&t2, &t1]),
        (format!("filter[booking_id]={b2}"), vec![&t2]),
        (format!("filter[channel_id]={channel}"), vec![&t1]),
        ("filter[provider]=AirBNB".to_owned(), vec![&t2]),
        ("filter[provider]=BookingCom".to_owned(), vec![&t1]),
        ("filter[is_closed]=true".to_owned(), vec![&t2]),
        ("filter[is_closed]=false".to_owned(), vec![&t1]),
        (format!("filter[inserted_at][gte]={stamp}"), vec![&t2]),
        (format!("filter[inserted_at][lt]={stamp}"), vec![&t1]),
        (
            "filter[updated_at][gt]=2000-01-01".to_owned(),
            vec![&t2, &t1],
        ),
        (
            "filter[last_message_received_at][lte]=2000-01-01".to_owned(),
            vec![],
        ),
        (
            "filter[unknown]=x&foo=bar&page[limit]=1".to_owned(),
            vec![&t2, &t1],
        ),
    ] {
        let got = list(&app, &account, &query).await;
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(ids(&got), expected, "{query}");
        assert_eq!(got["meta"]["total"], expected.len(), "{query}");
    }
}

#[tokio::test]
async fn malformed_filter_values_name_the_parameter() {
    let app = TestApp::new().await;
    let account = app.user().await;
    app.property(&account, true).await;
    for (query, name) in [
        ("filter[property_id]=x", "filter[property_id]"),
        ("filter[booking_id]=1,2", "filter[booking_id]"),
        ("filter[provider]=Expedia", "filter[provider]"),
        ("filter[is_closed]=maybe", "filter[is_closed]"),
        (
            "filter[inserted_at][gte]=yesterday",
            "filter[inserted_at][gte]",
        ),
        ("filter[title][gte]=2020-01-01", "filter[title][gte]"),
        ("pagination[limit]=-3", "pagination[limit]"),
    ] {
        let details = app
            .get(&format!("/api/v1/message_threads?{query}"))
            .key(&account.key)
            .send()
            .await
            .expect_error(422, "bad_request");
        assert!(details.get(name).is_some(), "{query}: {details}");
    }
}

#[tokio::test]
async fn lists_hold_only_what_the_key_sees_on_properties_with_the_app() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let with_app = app.property(&account, true).await;
    let other_with_app = app.property(&account, true).await;
    let without_app = app.property(&account, false).await;
    let visible = thread_of(&app, app.booking(with_app, "BookingCom").await, "a").await;
    let hidden_by_key = thread_of(&app, app.booking(other_with_app, "BookingCom").await, "b").await;
    let _hidden_by_app = thread_of(&app, app.booking(without_app, "BookingCom").await, "c").await;
    let stranger = app.user().await;
    let stranger_property = app.property(&stranger, true).await;
    thread_of(
        &app,
        app.booking(stranger_property, "BookingCom").await,
        "d",
    )
    .await;

    let all = list(&app, &account, "").await;
    assert_eq!(ids(&all), vec![hidden_by_key.clone(), visible.clone()]);
    let limited = Account {
        user_id: account.user_id,
        key: app
            .key_for(account.user_id, Some(vec![with_app, without_app]))
            .await,
    };
    assert_eq!(ids(&list(&app, &limited, "").await), vec![visible.clone()]);
    // A filter naming a property the key cannot see: 401; one without the app: 403.
    for (property, status, code) in [
        (other_with_app, 401, "unauthorized"),
        (stranger_property, 401, "unauthorized"),
        (Uuid::new_v4(), 401, "unauthorized"),
        (without_app, 403, "forbidden"),
    ] {
        app.get(&format!(
            "/api/v1/message_threads?filter[property_id]={property}"
        ))
        .key(&limited.key)
        .send()
        .await
        .expect_error(status, code);
    }
    // A key whose properties all lack the app: 403.
    let no_app = Account {
        user_id: account.user_id,
        key: app.key_for(account.user_id, Some(vec![without_app])).await,
    };
    app.get("/api/v1/message_threads")
        .key(&no_app.key)
        .send()
        .await
        .expect_error(403, "forbidden");
}

#[tokio::test]
async fn closing_is_idempotent_and_a_new_message_reopens() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    let thread = thread_of(&app, booking, "hello").await;
    for _ in 0..2 {
        let closed = app
            .post(&format!("/api/v1/message_threads/{thread}/close"))
            .key(&account.key)
            .send()
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(closed["data"]["attributes"]["is_closed"], true);
    }
    let sent = app
        .post(&format!("/api/v1/message_threads/{thread}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "we are here"}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(sent.json()["data"]["attributes"]["sender"], "property");
    let shown = app
        .get(&format!("/api/v1/message_threads/{thread}"))
        .key(&account.key)
        .send()
        .await
        .json();
    assert_eq!(shown["data"]["attributes"]["is_closed"], false);
    assert_eq!(shown["data"]["attributes"]["message_count"], 2);
    // A guest message reopens too.
    app.post(&format!("/api/v1/message_threads/{thread}/close"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    app.guest_writes(booking, "one more thing").await;
    let shown = app
        .get(&format!("/api/v1/message_threads/{thread}"))
        .key(&account.key)
        .send()
        .await
        .json();
    assert_eq!(shown["data"]["attributes"]["is_closed"], false);
}

#[tokio::test]
async fn no_reply_needed_marks_the_latest_guest_message_until_the_guest_writes_again() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    app.guest_writes(booking, "thanks!").await;
    let latest = app.guest_writes(booking, "bye!").await.id();
    let thread = thread_of(&app, booking, "x").await;
    let thread_id = Uuid::parse_str(&thread).unwrap();
    // Make "bye!" the newest again by marking after a fresh message.
    let newest = app.guest_writes(booking, "see you").await.id();
    assert_ne!(latest, newest);
    let answered = app
        .post(&format!("/api/v1/message_threads/{thread}/no_reply_needed"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(answered["data"]["id"], thread);
    assert_eq!(answered["data"]["type"], "message_thread");
    let marked: Vec<Uuid> = sqlx::query_scalar("select id from messages where no_reply_needed")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(marked, vec![newest]);
    assert!(
        ota_inbox::db::messages::no_reply_needed(&app.db, thread_id)
            .await
            .unwrap()
    );
    let outbox = app.admin(Method::GET, "/admin/outbox").send().await.json();
    let entry = &outbox["data"][0]["attributes"];
    assert_eq!(entry["kind"], "no_reply_needed");
    assert_eq!(entry["message_id"], newest.to_string());
    assert_eq!(entry["message_thread_id"], thread);
    app.guest_writes(booking, "actually, one question").await;
    assert!(
        !ota_inbox::db::messages::no_reply_needed(&app.db, thread_id)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn list_totals_agree_with_a_count_of_the_threads() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let p1 = app.property(&account, true).await;
    let p2 = app.property(&account, true).await;
    let mut threads = Vec::new();
    for (property, ota) in [
        (p1, "BookingCom"),
        (p1, "Airbnb"),
        (p2, "BookingCom"),
        (p2, "AirBNB"),
        (p2, "BookingCom"),
    ] {
        let booking = app.booking(property, ota).await;
        threads.push(thread_of(&app, booking, "hi").await);
    }
    // Close three, reopen one by a guest message, close one twice.
    for thread in [&threads[0], &threads[2], &threads[3], &threads[3]] {
        app.post(&format!("/api/v1/message_threads/{thread}/close"))
            .key(&account.key)
            .send()
            .await
            .expect_status(StatusCode::OK);
    }
    app.admin(
        Method::POST,
        &format!("/admin/message_threads/{}/guest_messages", threads[2]),
    )
    .json(json!({"message": {"message": "back"}}))
    .send()
    .await
    .expect_status(StatusCode::CREATED);
    let limited = Account {
        user_id: account.user_id,
        key: app.key_for(account.user_id, Some(vec![p2])).await,
    };
    for (who, query, sql) in [
        (
            &account,
            "".to_owned(),
            "select count(*) from message_threads".to_owned(),
        ),
        (
            &account,
            "filter[is_closed]=true".to_owned(),
            "select count(*) from message_threads where is_closed".to_owned(),
        ),
        (
            &account,
            "filter[provider]=AirBNB&filter[is_closed]=false".to_owned(),
            "select count(*) from message_threads where provider = 'AirBNB' and not is_closed"
                .to_owned(),
        ),
        (
            &account,
            format!("filter[property_id]={p2}&filter[is_closed]=false"),
            format!(
                "select count(*) from message_threads where property_id = '{p2}' and not is_closed"
            ),
        ),
        (
            &limited,
            "".to_owned(),
            format!("select count(*) from message_threads where property_id = '{p2}'"),
        ),
        (
            &limited,
            "filter[provider]=BookingCom".to_owned(),
            format!(
                "select count(*) from message_threads where property_id = '{p2}' and provider = 'BookingCom'"
            ),
        ),
    ] {
        let expected: i64 = sqlx::query_scalar(&sql).fetch_one(&app.db).await.unwrap();
        let got = list(&app, who, &query).await;
        assert_eq!(got["meta"]["total"], expected, "{query}");
        assert_eq!(
            got["data"].as_array().unwrap().len() as i64,
            expected,
            "{query}"
        );
    }
}

#[tokio::test]
async fn no_reply_needed_before_any_guest_message_marks_and_records_nothing() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    let sent = app
        .post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "Welcome!"}}))
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    let thread = sent["data"]["relationships"]["message_thread"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(&format!("/api/v1/message_threads/{thread}/no_reply_needed"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
    let kinds: Vec<String> = sqlx::query_scalar("select kind from ota_outbox")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(kinds, vec!["message"]);
}

#[tokio::test]
async fn deep_pages_list_the_same_threads_as_shallow_ones() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    thread_of(&app, booking, "first").await;
    // 1,200 more threads, made in SQL to keep the test fast.
    sqlx::query(
        r#"insert into message_threads (id, property_id, user_id, channel_id, provider, title, inserted_at, updated_at)
           select gen_random_uuid(), t.property_id, t.user_id, t.channel_id, 'BookingCom', 'Guest ' || g,
                  t.inserted_at - make_interval(secs => g), t.inserted_at - make_interval(secs => g)
           from message_threads t, generate_series(1, 1200) g"#,
    )
    .execute(&app.db)
    .await
    .unwrap();
    // By creation, and by the default order (these threads have no message: they come last,
    // newest id first).
    for (order, sql) in [
        ("&order[inserted_at]=desc", "inserted_at desc, id desc"),
        ("", "last_message_received_at desc nulls last, id desc"),
    ] {
        let expected: Vec<String> = sqlx::query_scalar(&format!(
            "select id::text from message_threads order by {sql} offset 990 limit 30"
        ))
        .fetch_all(&app.db)
        .await
        .unwrap();
        // Pages 100 (offset 990: read directly), 101 and 102 (offset 1,000 and 1,010: ids first).
        let mut got = Vec::new();
        for page in 100..=102 {
            let listed = list(
                &app,
                &account,
                &format!("pagination[page]={page}&pagination[limit]=10{order}"),
            )
            .await;
            assert_eq!(listed["meta"]["total"], 1201);
            got.extend(ids(&listed));
        }
        assert_eq!(got, expected, "{order}");
    }
    assert_eq!(ota_inbox::db::threads::DEFERRED_FROM, 1000);
}
