//! Workers: several on one database, stopped, killed and restarted; pruning.

use std::collections::HashSet;
use std::time::Duration;

use ota_inbox::db;
use serde_json::json;

use super::receiver::{Receiver, Reply};
use super::{
    active, attempts, create_webhook, guest_writes, id_of, scene, settled, start_worker,
    test_config,
};
use crate::support::TestApp;

#[tokio::test]
async fn two_workers_on_one_database_deliver_each_event_once() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    // A second process: its own pool on the same database.
    let options = (*app.db.connect_options()).clone();
    let other_pool = db::connect(options, 5).await.unwrap();
    let first = start_worker(&app.db, test_config());
    let second = start_worker(&other_pool, test_config());
    create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await;
    let other_booking = app.booking(s.property, "BookingCom").await;
    let mut writers = Vec::new();
    for booking in [s.booking, other_booking] {
        let router = app.router.clone();
        let db = app.db.clone();
        writers.push(tokio::spawn(async move {
            let app = TestApp { router, db };
            for i in 0..40 {
                guest_writes(&app, booking, &format!("message {i}")).await;
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 80)]);
    let got = receiver.received();
    let deliveries: HashSet<String> = got
        .iter()
        .map(|r| r.header("x-ota-inbox-delivery").unwrap().to_owned())
        .collect();
    let messages: HashSet<String> = got
        .iter()
        .map(|r| r.json()["payload"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got.len(), 80, "no attempt was made twice");
    assert_eq!(deliveries.len(), 80);
    assert_eq!(messages.len(), 80);
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn a_worker_killed_mid_way_loses_nothing_once_a_worker_runs_again() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    // The first request hangs: the worker dies while it waits.
    let receiver = Receiver::scripted(vec![Reply::Hang]).await;
    let mut config = test_config();
    config.timeout = Duration::from_secs(5);
    config.lease = Duration::from_millis(1500);
    let worker = start_worker(&app.db, config.clone());
    create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await;
    let first = guest_writes(&app, s.booking, "before the crash").await;
    receiver.wait_for(1).await;
    worker.kill().await;

    // Written while no worker runs.
    let second = guest_writes(&app, s.booking, "while down").await;
    let pending: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries where state = 'pending'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(pending, 2);

    let restarted = start_worker(&app.db, config);
    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 2)]);
    let delivered: HashSet<String> = receiver
        .received()
        .iter()
        .skip(1)
        .map(|r| r.json()["payload"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        delivered,
        HashSet::from([first.to_string(), second.to_string()])
    );
    restarted.shutdown().await;
}

#[tokio::test]
async fn a_worker_stopped_gracefully_gives_its_deliveries_back() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::scripted(vec![Reply::Hang]).await;
    let mut config = test_config();
    config.timeout = Duration::from_secs(60);
    config.lease = Duration::from_secs(120);
    let worker = start_worker(&app.db, config.clone());
    create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await;
    guest_writes(&app, s.booking, "Hi").await;
    receiver.wait_for(1).await;
    // The attempt outlasts the grace period: the stopping worker gives the delivery back.
    worker.shutdown().await;
    let restarted = start_worker(&app.db, test_config());
    // Without the release, the lease would keep the delivery for two minutes.
    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 1)]);
    assert_eq!(receiver.received().len(), 2);
    restarted.shutdown().await;
}

#[tokio::test]
async fn old_finished_deliveries_are_pruned_with_their_attempts() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    let worker = start_worker(&app.db, test_config());
    let webhook =
        id_of(&create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await);
    guest_writes(&app, s.booking, "old").await;
    guest_writes(&app, s.booking, "recent").await;
    assert_eq!(settled(&app.db).await, vec![("delivered".to_owned(), 2)]);
    worker.shutdown().await;
    // One delivery ended 31 days ago; a pending one as old is never pruned.
    sqlx::query(
        "update webhook_deliveries set updated_at = now() - interval '31 days'
         where event_id = (select id from events where payload->>'message' = 'old')",
    )
    .execute(&app.db)
    .await
    .unwrap();
    guest_writes(&app, s.booking, "pending").await;
    sqlx::query(
        "update webhook_deliveries set updated_at = now() - interval '31 days' where state = 'pending'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let thirty_days = 30 * 24 * 3600;
    let deleted = db::webhook_deliveries::prune(&app.db, thirty_days, 100)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let log = attempts(&app, &s.account.key, webhook).await;
    assert_eq!(log.len(), 1, "the old delivery's attempt went with it");
    let states: Vec<String> =
        sqlx::query_scalar("select state from webhook_deliveries order by state")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(states, ["delivered", "pending"]);
}

#[tokio::test]
async fn a_delivery_committed_behind_where_claims_start_is_found_by_the_sweep() {
    let app = TestApp::new().await;
    let s = scene(&app).await;
    let receiver = Receiver::start().await;
    let worker = start_worker(&app.db, test_config());
    create_webhook(&app, &s.account.key, active(&receiver, json!(s.property))).await;
    // Claims now start about where this one was found.
    guest_writes(&app, s.booking, "first").await;
    receiver.wait_for(1).await;
    // A delivery that turns up due an hour ago, as a transaction committed long after it wrote
    // its rows would leave it: behind where claims start.
    let mut tx = app.db.begin().await.unwrap();
    let event = db::events::insert(
        &mut *tx,
        db::events::MESSAGE,
        s.property,
        s.account.user_id,
        &json!({"id": uuid::Uuid::new_v4(), "message": "late"}),
    )
    .await
    .unwrap();
    sqlx::query(
        "update webhook_deliveries set next_attempt_at = now() - interval '1 hour' where event_id = $1",
    )
    .bind(event)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Found within the sweep interval (1 s here).
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].json()["payload"]["message"], "late");
    worker.shutdown().await;
}
