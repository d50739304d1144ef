//! `GET /api/v1/events/stream` (§13): live, resumable, gap-free, scoped.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use ota_inbox::events::HubConfig;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Live, QUIET, SOON, SseEvent, chat_session, open, quick, scene, stream};
use crate::support::fresh_database;

fn ids(events: &[SseEvent]) -> Vec<i64> {
    events.iter().map(|e| e.id.expect("an id")).collect()
}

#[track_caller]
fn assert_increasing(ids: &[i64]) {
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "not increasing: {ids:?}"
    );
}

#[tokio::test]
async fn a_guest_message_reaches_an_open_stream_within_a_second() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    assert_eq!(
        sse.headers["content-type"].to_str().unwrap(),
        "text/event-stream"
    );

    let started = Instant::now();
    let message = live.guest_writes(s.booking, "Is there parking?").await.id();
    let event = sse.event(Duration::from_secs(1)).await;
    let elapsed = started.elapsed();
    let event = event.unwrap_or_else(|| panic!("nothing within a second ({elapsed:?})"));
    assert_eq!(event.event, "message");
    assert!(event.id.is_some_and(|id| id > 0));
    let thread = live.thread_of(s.booking).await;
    let data = &event.data;
    assert_eq!(data["id"], json!(message));
    assert_eq!(data["message"], "Is there parking?");
    assert_eq!(data["sender"], "guest");
    assert_eq!(data["message_thread_id"], json!(thread));
    assert_eq!(data["property_id"], json!(s.property));
    assert_eq!(data["booking_id"], json!(s.booking));
    assert_eq!(data["have_attachment"], false);
    for key in [
        "meta",
        "live_feed_event_id",
        "attachments",
        "ota_message_id",
    ] {
        assert!(data.get(key).is_some(), "{key} in {data}");
    }
}

#[tokio::test]
async fn every_sender_and_every_thread_change_is_streamed_in_order() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let key = &s.account.key;
    let mut sse = stream(&live.router, key, None).await;
    live.guest_writes(s.booking, "Hi").await;
    let thread = live.thread_of(s.booking).await;
    assert_eq!(sse.event(SOON).await.unwrap().data["message"], "Hi");

    let post = |path: String, body: Option<Value>| {
        let live = &live;
        async move {
            let mut call = live.post(&path).key(key);
            if let Some(body) = body {
                call = call.json(body);
            }
            call.send().await.expect_status(StatusCode::OK)
        }
    };
    let base = format!("/api/v1/message_threads/{thread}");
    post(
        format!("{base}/messages"),
        Some(json!({"message": {"message": "Hello!"}})),
    )
    .await;
    post(format!("{base}/close"), None).await;
    post(format!("{base}/close"), None).await; // no change, no event
    post(format!("{base}/reopen"), None).await;
    post(format!("{base}/close"), None).await;
    live.guest_writes(s.booking, "Thanks").await; // reopens the thread
    post(format!("{base}/no_reply_needed"), None).await;
    let inquiry = live
        .admin(Method::POST, "/admin/inquiries")
        .json(
            json!({"inquiry": {"property_id": s.property, "guest_name": "Ann",
                      "checkin_date": "2030-08-01", "checkout_date": "2030-08-03"}}),
        )
        .send()
        .await
        .expect_status(StatusCode::CREATED)
        .id();
    let airbnb = live.booking(s.property, "Airbnb").await;
    live.admin(
        Method::POST,
        &format!("/admin/message_threads/{inquiry}/assign_booking"),
    )
    .json(json!({"booking_id": airbnb}))
    .send()
    .await
    .expect_status(StatusCode::OK);

    let events = sse.events(10, SOON).await;
    assert_increasing(&ids(&events));
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            let detail = e.data["sender"]
                .as_str()
                .or(e.data["change"].as_str())
                .unwrap_or_default();
            (e.event.clone(), detail.to_owned())
        })
        .collect();
    let expected = [
        ("message", "property"),
        ("message_thread_updated", "closed"),
        ("message_thread_updated", "reopened"),
        ("message_thread_updated", "closed"),
        ("message", "guest"),
        ("message_thread_updated", "reopened"),
        ("message_thread_updated", "no_reply_needed"),
        ("message", "system"),
        ("inquiry", ""),
        ("message_thread_booking_assigned", ""),
    ];
    assert_eq!(
        seen,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())),
        "{events:#?}"
    );
    let updated = &events[1].data;
    assert_eq!(
        updated,
        &json!({"message_thread_id": thread, "property_id": s.property, "booking_id": s.booking,
                "is_closed": true, "change": "closed"})
    );
    assert_eq!(events[6].data["is_closed"], false);
    assert!(events[6].data["message_id"].is_string());
    assert_eq!(events[7].data["message"], "inquiry");
    assert_eq!(events[8].data["message_thread_id"], json!(inquiry));
    assert!(sse.event(QUIET).await.is_none(), "one event per change");

    // Only guest messages are webhook events.
    let webhook: Vec<(String, bool)> =
        sqlx::query_as("select event, webhook from events order by stream_seq")
            .fetch_all(&live.db)
            .await
            .unwrap();
    let webhook_events: Vec<&str> = webhook
        .iter()
        .filter(|(_, w)| *w)
        .map(|(e, _)| e.as_str())
        .collect();
    assert_eq!(
        webhook_events,
        [
            "message",
            "message",
            "inquiry",
            "message_thread_booking_assigned"
        ]
    );
}

#[tokio::test]
async fn resuming_with_last_event_id_replays_exactly_the_missed_events() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    for text in ["one", "two"] {
        live.guest_writes(s.booking, text).await;
    }
    let seen = sse.events(2, SOON).await;
    drop(sse);
    for text in ["three", "four", "five"] {
        live.guest_writes(s.booking, text).await;
    }
    let last = seen[1].id.unwrap();

    let mut resumed = stream(&live.router, &s.account.key, Some(last)).await;
    let replayed = resumed.events(3, SOON).await;
    let texts: Vec<&str> = replayed
        .iter()
        .map(|e| e.data["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["three", "four", "five"]);
    assert_eq!(ids(&replayed), vec![last + 1, last + 2, last + 3]);
    // Then live, without repeating anything.
    live.guest_writes(s.booking, "six").await;
    let next = resumed.event(SOON).await.unwrap();
    assert_eq!(
        (next.id, next.data["message"].as_str()),
        (Some(last + 4), Some("six"))
    );
    assert!(resumed.event(QUIET).await.is_none());

    // The query parameter does the same (for clients that cannot set headers).
    let path = format!("/api/v1/events/stream?last_event_id={}", last + 2);
    let auth = format!("Bearer {}", s.account.key);
    let mut by_query = open(&live.router, &path, &[("authorization", &auth)]).await;
    let texts: Vec<String> = by_query
        .events(2, SOON)
        .await
        .iter()
        .map(|e| e.data["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["five", "six"]);
}

#[tokio::test]
async fn a_stream_opened_without_an_id_names_its_start_so_a_reconnect_misses_nothing() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let mut watcher = stream(&live.router, &s.account.key, None).await;
    live.guest_writes(s.booking, "before").await;
    let before = watcher.event(SOON).await.expect("the first message").id;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    // Before any event: an id-only frame with the last id handed out when it opened.
    let first = sse.frame(SOON).await.expect("a first frame");
    assert!(first.is_position(), "{first:?}");
    assert_eq!(first.id, before);
    let start = first.id.unwrap();
    // The connection drops before any event came; meanwhile the guest writes.
    drop(sse);
    live.guest_writes(s.booking, "while away").await;
    let mut resumed = stream(&live.router, &s.account.key, Some(start)).await;
    let event = resumed.event(SOON).await.expect("the missed message");
    assert_eq!(event.data["message"], "while away");
    assert_eq!(event.id, Some(start + 1));
    // A resumed stream already has its id: no id-only frame.
    let mut again = stream(&live.router, &s.account.key, Some(start + 1)).await;
    live.guest_writes(s.booking, "next").await;
    let frame = again.frame(SOON).await.expect("a frame");
    assert!(!frame.is_position(), "{frame:?}");
    assert_eq!(frame.data["message"], "next");
}

#[tokio::test]
async fn many_writers_on_many_connections_are_streamed_once_each_in_order() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let mut bookings = vec![s.booking];
    for _ in 0..5 {
        bookings.push(live.booking(s.property, "BookingCom").await);
    }
    let mut sse = stream(&live.router, &s.account.key, None).await;
    const EACH: usize = 12;
    let writers = bookings.iter().enumerate().map(|(w, booking)| {
        let app = &live.app;
        async move {
            for i in 0..EACH {
                app.guest_writes(*booking, &format!("{w}-{i}")).await;
            }
        }
    });
    futures_util::future::join_all(writers).await;

    let total = bookings.len() * EACH;
    let events = sse.events(total, SOON).await;
    let ids = ids(&events);
    assert_increasing(&ids);
    assert_eq!(
        ids.last().unwrap() - ids[0],
        total as i64 - 1,
        "no gap: {ids:?}"
    );
    let texts: BTreeSet<String> = events
        .iter()
        .map(|e| e.data["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), total, "each message once");
    assert!(sse.event(QUIET).await.is_none(), "nothing twice");
}

#[tokio::test]
async fn two_processes_on_one_database_both_stream_every_event() {
    let (db, options) = fresh_database().await;
    let first = Live::on(db, quick()).await;
    let second_pool = ota_inbox::db::connect(options, 10).await.unwrap();
    let second = Live::on(second_pool, quick()).await;
    let s = scene(&first).await;
    let other = second.booking(s.property, "BookingCom").await;
    let mut on_first = stream(&first.router, &s.account.key, None).await;
    let mut on_second = stream(&second.router, &s.account.key, None).await;

    const EACH: usize = 10;
    let write = |live: &'static str, booking: Uuid| {
        let app = if live == "first" {
            &first.app
        } else {
            &second.app
        };
        async move {
            for i in 0..EACH {
                app.guest_writes(booking, &format!("{live}-{i}")).await;
            }
        }
    };
    futures_util::future::join(write("first", s.booking), write("second", other)).await;

    let a = on_first.events(2 * EACH, SOON).await;
    let b = on_second.events(2 * EACH, SOON).await;
    assert_increasing(&ids(&a));
    assert_eq!(ids(&a), ids(&b), "same ids in both processes");
    let texts = |events: &[SseEvent]| -> Vec<String> {
        events
            .iter()
            .map(|e| e.data["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(&a), texts(&b));
    assert_eq!(texts(&a).iter().collect::<BTreeSet<_>>().len(), 2 * EACH);
}

#[tokio::test]
async fn a_stream_that_falls_behind_catches_up_from_the_database() {
    let live = Live::with(HubConfig {
        capacity: 16,
        ..quick()
    })
    .await;
    let s = scene(&live).await;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    const N: usize = 60;
    for i in 0..N {
        live.guest_writes(s.booking, &format!("m{i}")).await;
    }
    // Nothing was read meanwhile: the hub's buffer overflowed for this stream.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = sse.events(N, SOON).await;
    let texts: Vec<String> = events
        .iter()
        .map(|e| e.data["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, (0..N).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_increasing(&ids(&events));
    assert!(sse.event(QUIET).await.is_none());
}

#[tokio::test]
async fn a_key_limited_to_one_property_never_sees_another() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let b = live.property(&s.account, true).await;
    let b_booking = live.booking(b, "BookingCom").await;
    let limited = live
        .key_for(s.account.user_id, Some(vec![s.property]))
        .await;
    let stranger = live.user().await;
    let stranger_property = live.property(&stranger, true).await;
    let stranger_booking = live.booking(stranger_property, "BookingCom").await;
    let mut sse = stream(&live.router, &limited, None).await;
    let mut filtered = open(
        &live.router,
        &format!("/api/v1/events/stream?filter[property_id]={b}"),
        &[("user-api-key", &s.account.key)],
    )
    .await;

    live.guest_writes(b_booking, "for B").await;
    live.guest_writes(stranger_booking, "for a stranger").await;
    live.guest_writes(s.booking, "for A").await;
    // B's and the stranger's came first: had they been visible, they would come first.
    let event = sse.event(SOON).await.unwrap();
    assert_eq!(event.data["message"], "for A");
    assert!(sse.event(QUIET).await.is_none());
    let event = filtered.event(SOON).await.unwrap();
    assert_eq!(event.data["message"], "for B");
    assert!(filtered.event(QUIET).await.is_none());
}

#[tokio::test]
async fn a_chat_session_streams_its_property_only_and_keeps_its_session_alive() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let b = live.property(&s.account, true).await;
    let b_booking = live.booking(b, "BookingCom").await;
    let session = chat_session(&live, &s.account.key, s.property).await;
    let mut sse = stream(&live.router, &session, None).await;

    live.guest_writes(b_booking, "for B").await;
    live.guest_writes(s.booking, "for A").await;
    let event = sse.event(SOON).await.unwrap();
    assert_eq!(event.data["message"], "for A");
    assert!(sse.event(QUIET).await.is_none());

    // An open stream uses its session: an idle page with a live stream stays signed in.
    sqlx::query("update chat_sessions set last_used_at = now() - interval '11 hours'")
        .execute(&live.db)
        .await
        .unwrap();
    // (Reading keeps the stream going, as the server's connection does.)
    assert!(sse.event(Duration::from_millis(600)).await.is_none());
    let idle: f64 = sqlx::query_scalar(
        "select extract(epoch from now() - last_used_at)::float8 from chat_sessions",
    )
    .fetch_one(&live.db)
    .await
    .unwrap();
    assert!(idle < 5.0, "{idle}");
}

#[tokio::test]
async fn properties_without_the_messages_app_stay_silent() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let no_app = live.property(&s.account, false).await;
    let booking = live.booking(no_app, "BookingCom").await;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    live.guest_writes(booking, "no app here").await;
    live.guest_writes(s.booking, "with the app").await;
    assert_eq!(
        sse.event(SOON).await.unwrap().data["message"],
        "with the app"
    );
    assert!(sse.event(QUIET).await.is_none());

    // A key that sees no property with the app is refused, as thread lists are.
    let lonely = live.user().await;
    live.property(&lonely, false).await;
    let auth = format!("Bearer {}", lonely.key);
    let refused = open(
        &live.router,
        "/api/v1/events/stream",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_requests_get_the_contracts_errors() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let refused = open(&live.router, "/api/v1/events/stream", &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.error_body().await["errors"]["code"], "unauthorized");
    let auth = format!("Bearer {}", s.account.key);
    for (path, header, name) in [
        ("/api/v1/events/stream", Some("-3"), "Last-Event-ID"),
        ("/api/v1/events/stream", Some("ten"), "Last-Event-ID"),
        (
            "/api/v1/events/stream?last_event_id=x",
            None,
            "last_event_id",
        ),
        (
            "/api/v1/events/stream?filter[property_id]=nope",
            None,
            "filter[property_id]",
        ),
    ] {
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(value) = header {
            headers.push(("last-event-id", value));
        }
        let refused = open(&live.router, path, &headers).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        let body = refused.error_body().await;
        assert_eq!(body["errors"]["code"], "bad_request");
        assert!(body["errors"]["details"].get(name).is_some(), "{body}");
    }
    let stranger = live.user().await;
    let theirs = live.property(&stranger, true).await;
    let refused = open(
        &live.router,
        &format!("/api/v1/events/stream?filter[property_id]={theirs}"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keep_alive_comments_flow_while_nothing_happens() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    let start = sse.frame(SOON).await.expect("the starting id");
    assert!(start.is_position(), "{start:?}");
    let frame = sse
        .frame(Duration::from_secs(2))
        .await
        .expect("a keep-alive");
    assert_eq!(frame.comment.as_deref(), Some("keep-alive"));
}

#[tokio::test]
async fn streams_end_at_shutdown_and_when_the_key_is_revoked() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let second_key = live.key_for(s.account.user_id, None).await;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    let mut revoked = stream(&live.router, &second_key, None).await;

    let key_id: Uuid = sqlx::query_scalar(
        "select id from api_keys where user_id = $1 order by inserted_at desc limit 1",
    )
    .bind(s.account.user_id)
    .fetch_one(&live.db)
    .await
    .unwrap();
    live.admin(Method::DELETE, &format!("/admin/api_keys/{key_id}"))
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert!(
        revoked.ends_within(SOON).await,
        "a revoked key's stream ends"
    );

    live.guest_writes(s.booking, "still here").await;
    assert_eq!(sse.event(SOON).await.unwrap().data["message"], "still here");
    live.state.shutdown.cancel();
    assert!(sse.ends_within(SOON).await, "the stream ends at shutdown");
}

#[tokio::test]
async fn revoking_a_key_ends_its_streams_and_its_chat_sessions_streams_at_once() {
    // Periodic checks far away: only the announcement of the revocation can end the streams.
    let live = Live::with(HubConfig {
        recheck: Duration::from_secs(3600),
        ..quick()
    })
    .await;
    let s = scene(&live).await;
    let doomed = live.key_for(s.account.user_id, None).await;
    let session = chat_session(&live, &doomed, s.property).await;
    let mut key_stream = stream(&live.router, &doomed, None).await;
    let mut session_stream = stream(&live.router, &session, None).await;
    let mut kept = stream(&live.router, &s.account.key, None).await;
    // Another user's change is no reason to end anything.
    let other = scene(&live).await;
    live.key_for(other.account.user_id, None).await;

    let key_id: Uuid = sqlx::query_scalar(
        "select id from api_keys where user_id = $1 order by inserted_at desc limit 1",
    )
    .bind(s.account.user_id)
    .fetch_one(&live.db)
    .await
    .unwrap();
    live.admin(Method::DELETE, &format!("/admin/api_keys/{key_id}"))
        .send()
        .await
        .expect_status(StatusCode::OK);
    let started = Instant::now();
    assert!(key_stream.ends_within(SOON).await, "the key's stream ends");
    assert!(
        session_stream.ends_within(SOON).await,
        "the session's stream ends"
    );
    assert!(started.elapsed() < SOON, "{:?}", started.elapsed());

    live.guest_writes(s.booking, "still here").await;
    assert_eq!(
        kept.event(SOON).await.unwrap().data["message"],
        "still here"
    );
}

#[tokio::test]
async fn stream_ids_never_go_back_after_a_reset() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    live.guest_writes(s.booking, "before").await;
    let before = sse.event(SOON).await.unwrap().id.unwrap();
    drop(sse);
    live.admin(Method::POST, "/admin/reset")
        .send()
        .await
        .expect_status(StatusCode::OK);

    let s = scene(&live).await;
    let mut sse = stream(&live.router, &s.account.key, Some(before)).await;
    live.guest_writes(s.booking, "after").await;
    let after = sse.event(SOON).await.unwrap();
    assert_eq!(after.data["message"], "after");
    assert!(after.id.unwrap() > before, "{after:?} after {before}");
}

#[tokio::test]
async fn an_id_this_database_never_handed_out_starts_the_stream_from_now() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let mut watcher = stream(&live.router, &s.account.key, None).await;
    live.guest_writes(s.booking, "before").await;
    let last = watcher.event(SOON).await.unwrap().id.unwrap();
    // A client that kept its id from another database (recreated since) is far ahead.
    let mut sse = stream(&live.router, &s.account.key, Some(last + 1_000_000)).await;
    let first = sse.frame(SOON).await.expect("a first frame");
    assert!(first.is_position(), "{first:?}");
    assert_eq!(first.id, Some(last));
    live.guest_writes(s.booking, "after").await;
    let event = sse.event(SOON).await.expect("the new message");
    assert_eq!(event.data["message"], "after");
    assert_eq!(event.id, Some(last + 1));
    // The newest id itself is a normal resume: nothing replayed, no id-only frame.
    let mut current = stream(&live.router, &s.account.key, Some(last + 1)).await;
    live.guest_writes(s.booking, "next").await;
    let frame = current.frame(SOON).await.expect("a frame");
    assert_eq!(frame.data["message"], "next");
}

#[tokio::test]
async fn a_lost_listen_connection_loses_no_event() {
    let (db, options) = fresh_database().await;
    let live = Live::on(db, quick()).await;
    let s = scene(&live).await;
    let mut sse = stream(&live.router, &s.account.key, None).await;
    live.guest_writes(s.booking, "before").await;
    let before = sse.event(SOON).await.unwrap().id.unwrap();

    let mut conn = crate::support::maintenance_connection().await;
    let ended: Vec<bool> = sqlx::query_scalar(
        r#"select pg_terminate_backend(pid) from pg_stat_activity
           where datname = $1 and query like 'LISTEN "ota_inbox_events"%'"#,
    )
    .bind(options.get_database().unwrap())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(ended, vec![true], "the hub's listening connection");
    // Written while nobody listens: their notifications are lost.
    for text in ["during 1", "during 2"] {
        live.guest_writes(s.booking, text).await;
    }
    let events = sse.events(2, SOON).await;
    assert_eq!(ids(&events), vec![before + 1, before + 2]);
    // And live again.
    live.guest_writes(s.booking, "after").await;
    let after = sse.event(SOON).await.unwrap();
    assert_eq!(
        (after.id, after.data["message"].as_str()),
        (Some(before + 3), Some("after"))
    );
    sqlx::Connection::close(conn).await.ok();
}

#[tokio::test]
async fn an_open_stream_is_counted_in_the_metrics() {
    let live = Live::new().await;
    let s = scene(&live).await;
    let _sse = stream(&live.router, &s.account.key, None).await;
    // Other tests open and close streams in this process too: at least this one is counted.
    let body = live
        .get("/metrics")
        .send()
        .await
        .expect_status(StatusCode::OK)
        .body;
    let body = String::from_utf8(body).unwrap();
    let open: f64 = body
        .lines()
        .find_map(|line| line.strip_prefix("ota_inbox_event_streams_open "))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no gauge in {body}"));
    assert!(open >= 1.0, "{open}");
}
