//! Many clients at once over the threads of one user: no deadlock reaches a client, and the
//! thread counters stay exact.

use axum::http::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::support::TestApp;

/// A user with `properties` properties (Messages app on each) and `per_property` Booking.com
/// threads on each; answers the key and the thread ids.
async fn threads_of_one_user(
    app: &TestApp,
    properties: usize,
    per_property: usize,
) -> (String, Vec<Uuid>) {
    let account = app.user().await;
    let mut threads = Vec::new();
    for _ in 0..properties {
        let property = app.property(&account, true).await;
        for _ in 0..per_property {
            let booking = app.booking(property, "BookingCom").await;
            app.guest_writes(booking, "Hello").await;
            threads.push(app.thread_of(booking).await);
        }
    }
    (account.key, threads)
}

/// Asserts that both counter tables hold exactly what a count over the threads gives.
pub async fn assert_counters_exact(app: &TestApp) {
    let by_property = app
        .count(
            r#"select count(*) from (
                 (select property_id, provider, is_closed, count(*)::bigint as n from message_threads
                  group by 1, 2, 3
                  except select property_id, provider, is_closed, threads from thread_counts where threads <> 0)
                 union all
                 (select property_id, provider, is_closed, threads from thread_counts where threads <> 0
                  except select property_id, provider, is_closed, count(*)::bigint from message_threads
                  group by 1, 2, 3)) diff"#,
        )
        .await;
    let by_user = app
        .count(
            r#"select count(*) from (
                 (select user_id, provider, is_closed, count(*)::bigint as n from message_threads
                  group by 1, 2, 3
                  except select user_id, provider, is_closed, threads from user_thread_counts where threads <> 0)
                 union all
                 (select user_id, provider, is_closed, threads from user_thread_counts where threads <> 0
                  except select user_id, provider, is_closed, count(*)::bigint from message_threads
                  group by 1, 2, 3)) diff"#,
        )
        .await;
    assert_eq!(
        (by_property, by_user),
        (0, 0),
        "counters differ from the threads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closing_reopening_and_sending_at_once_never_fails_and_keeps_counters_exact() {
    let app = TestApp::new().await;
    let (key, threads) = threads_of_one_user(&app, 3, 3).await;
    let clients = 16;
    let rounds = 12;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let app = app.clone();
        let key = key.clone();
        let threads = threads.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for round in 0..rounds {
                // Every client walks the threads in its own order, mixing the four writes that
                // move a thread between open and closed (or lock it).
                let thread = threads[(client * 7 + round * 5) % threads.len()];
                let response = match (client + round) % 4 {
                    0 => {
                        app.post(&format!("/api/v1/message_threads/{thread}/close"))
                            .key(&key)
                            .send()
                            .await
                    }
                    1 => {
                        app.admin(
                            Method::POST,
                            &format!("/admin/message_threads/{thread}/guest_messages"),
                        )
                        .json(json!({"message": {"message": format!("guest {client}/{round}")}}))
                        .send()
                        .await
                    }
                    2 => {
                        app.post(&format!("/api/v1/message_threads/{thread}/messages"))
                            .key(&key)
                            .json(json!({"message": {"message": format!("host {client}/{round}")}}))
                            .send()
                            .await
                    }
                    _ => {
                        app.post(&format!("/api/v1/message_threads/{thread}/no_reply_needed"))
                            .key(&key)
                            .send()
                            .await
                    }
                };
                statuses.push((
                    response.status,
                    String::from_utf8_lossy(&response.body).into_owned(),
                ));
            }
            statuses
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        for (status, body) in task.await.unwrap() {
            if status.is_server_error() {
                failures.push(format!("{status}: {body}"));
            } else {
                assert!(
                    status == StatusCode::OK || status == StatusCode::CREATED,
                    "{status}: {body}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed: {failures:?}",
        failures.len(),
        clients * rounds
    );
    assert_counters_exact(&app).await;
}
