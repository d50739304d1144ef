//! `GET /api/v1/events?after=<id>` (§13): the stream's events as a §5 list, oldest first.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Live, SOON, chat_session, scene, stream};

async fn feed(live: &Live, key: &str, query: &str) -> Value {
    live.get(&format!("/api/v1/events{query}"))
        .key(key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json()
}

#[tokio::test]
async fn the_feed_lists_the_streams_events_after_an_id_oldest_first() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    for text in ["a", "b", "c", "d", "e"] {
        live.guest_writes(s.booking, text).await;
    }
    let streamed = sse.events(5, SOON).await;

    let all = feed(&live, &s.account.key, "").await;
    assert_eq!(
        all["meta"],
        json!({"limit": 10, "page": 1, "total": 5, "order_by": "sequence", "order_direction": "asc"})
    );
    let first = &all["data"][0];
    assert_eq!(first["type"], "event");
    assert_eq!(first["attributes"]["event"], "message");
    assert_eq!(
        first["attributes"]["sequence"],
        json!(streamed[0].id.unwrap())
    );
    assert_eq!(first["attributes"]["property_id"], json!(s.property));
    assert_eq!(first["attributes"]["payload"], streamed[0].data);
    crate::support::assert_timestamp(&first["attributes"]["inserted_at"]);

    let after = streamed[1].id.unwrap();
    let page = feed(
        &live,
        &s.account.key,
        &format!("?after={after}&pagination[limit]=2&pagination[page]=1"),
    )
    .await;
    assert_eq!(page["meta"]["total"], 3);
    let texts: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["attributes"]["payload"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["c", "d"]);
    let page2 = feed(
        &live,
        &s.account.key,
        &format!("?after={after}&pagination[limit]=2&pagination[page]=2"),
    )
    .await;
    assert_eq!(page2["data"][0]["attributes"]["payload"]["message"], "e");
    let newest = feed(
        &live,
        &s.account.key,
        "?order[sequence]=desc&pagination[limit]=1",
    )
    .await;
    assert_eq!(newest["data"][0]["attributes"]["payload"]["message"], "e");
}

#[tokio::test]
async fn the_feed_is_scoped_like_the_stream() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let b = live.property(&s.account, true).await;
    let b_booking = live.booking(b, "BookingCom").await;
    live.guest_writes(s.booking, "for A").await;
    live.guest_writes(b_booking, "for B").await;
    let stranger = live.user().await;
    live.property(&stranger, true).await;

    // Events are numbered after commit: wait for the hub to have seen them.
    let mut sse = stream(&live.router, &s.account.key, Some(0)).await;
    sse.events(2, SOON).await;

    let limited = live.key_for(s.account.user_id, Some(vec![b])).await;
    let session = chat_session(&live, &s.account.key, s.property).await;
    for (key, expected) in [
        (&s.account.key, vec!["for A", "for B"]),
        (&limited, vec!["for B"]),
        (&session, vec!["for A"]),
        (&stranger.key, vec![]),
    ] {
        let body = feed(&live, key, "").await;
        let texts: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["attributes"]["payload"]["message"].as_str().unwrap())
            .collect();
        assert_eq!(texts, expected);
        assert_eq!(body["meta"]["total"], expected.len());
    }
    let filtered = feed(&live, &s.account.key, &format!("?filter[property_id]={b}")).await;
    assert_eq!(filtered["meta"]["total"], 1);
}

#[tokio::test]
async fn bad_feed_parameters_are_named() {
    let live = Live::new().await;
    let s = scene(&live).await;
    for (query, name) in [
        ("?after=-1", "after"),
        ("?after=soon", "after"),
        ("?pagination[limit]=0", "pagination[limit]"),
        ("?order[inserted_at]=asc", "order[inserted_at]"),
        ("?filter[property_id]=x", "filter[property_id]"),
    ] {
        let details = live
            .get(&format!("/api/v1/events{query}"))
            .key(&s.account.key)
            .send()
            .await
            .expect_error(422, "bad_request");
        assert!(details.get(name).is_some(), "{query}: {details}");
    }
    live.get("/api/v1/events")
        .send()
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn pruning_keeps_recent_events_and_those_a_delivery_refers_to() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    for text in ["old", "old with a delivery", "recent"] {
        live.guest_writes(s.booking, text).await;
    }
    sse.events(3, SOON).await;
    sqlx::query(
        "update events set inserted_at = now() - interval '8 days' where payload->>'message' like 'old%'",
    )
    .execute(&live.db)
    .await
    .unwrap();
    let webhook: uuid::Uuid = sqlx::query_scalar(
        r#"insert into webhooks (id, user_id, property_id, callback_url, event_mask, event_names)
           values (gen_random_uuid(), $1, $2, 'http://127.0.0.1:1/h', '*', '{*}') returning id"#,
    )
    .bind(s.account.user_id)
    .bind(s.property)
    .fetch_one(&live.db)
    .await
    .unwrap();
    sqlx::query(
        r#"insert into webhook_deliveries (id, event_id, webhook_id)
           select gen_random_uuid(), id, $1 from events
           where payload->>'message' = 'old with a delivery'"#,
    )
    .bind(webhook)
    .execute(&live.db)
    .await
    .unwrap();

    let seven_days = 7 * 24 * 3600;
    let deleted = ota_inbox::db::events::prune(&live.db, seven_days, 100)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let left: Vec<String> =
        sqlx::query_scalar("select payload->>'message' from events order by stream_seq")
            .fetch_all(&live.db)
            .await
            .unwrap();
    assert_eq!(left, ["old with a delivery", "recent"]);
}
