//! The operator's commands: what they print, how they fail, the embedded cluster.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use axum::http::StatusCode;
use ota_inbox::embedded_pg::{EmbeddedPg, Options};
use ota_inbox::{AppState, app};
use sqlx::PgPool;
use uuid::Uuid;

use super::*;
use crate::support::{ADMIN_TOKEN, fresh_database_url};

#[tokio::test]
async fn commands_say_what_went_wrong() {
    let folder = Folder::new();
    let (_pool, url) = fresh_database_url().await;
    let db = [("DATABASE_URL", url.as_str())];
    run(
        &folder.0,
        &["users", "create", "--email", "not-an-email"],
        &db,
    )
    .await
    .failed(1, "--email");
    let user = run(
        &folder.0,
        &["users", "create", "--email", "taken@example.com"],
        &db,
    )
    .await
    .ok()
    .line();
    run(
        &folder.0,
        &["users", "create", "--email", "TAKEN@example.com"],
        &db,
    )
    .await
    .failed(1, &format!("exists: {user}"));
    run(
        &folder.0,
        &["keys", "create", "--user", "nobody@example.com"],
        &db,
    )
    .await
    .failed(1, "no user with the email nobody@example.com");
    let stranger = Uuid::new_v4().to_string();
    run(&folder.0, &["keys", "create", "--user", &stranger], &db)
        .await
        .failed(1, "no user");
    run(
        &folder.0,
        &["keys", "create", "--user", &user, "--property", &stranger],
        &db,
    )
    .await
    .failed(1, "--property");
    run(&folder.0, &["keys", "revoke", &stranger], &db)
        .await
        .failed(1, "no API key");
    // Usage errors are clap's: exit 2.
    run(&folder.0, &["keys", "create"], &db)
        .await
        .failed(2, "--user");
    run(&folder.0, &["keys", "revoke", "not-an-id"], &db)
        .await
        .failed(2, "not-an-id");
    run(&folder.0, &["--bind-addr", "127.0.0.1:1", "migrate"], &db)
        .await
        .failed(2, "cannot be used with");
    run(&folder.0, &["serve", "--demo", "maybe"], &db)
        .await
        .failed(2, "maybe");
    run(
        &folder.0,
        &["migrate"],
        &[("DATABASE_URL", "postgres://nobody:x@127.0.0.1:1/nothing")],
    )
    .await
    .failed(1, "connecting to PostgreSQL");
}

#[tokio::test]
async fn demo_seeds_once_and_answers_a_working_key_each_time() {
    let folder = Folder::new();
    let (pool, url) = fresh_database_url().await;
    let data_dir = folder.0.join("data").display().to_string();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("DATA_DIR", data_dir.as_str()),
    ];
    let first = run(&folder.0, &["demo"], &env).await.ok();
    assert!(first.stderr.contains("seeded the demo"), "{}", first.stderr);
    let key = first.line();
    let second = run(&folder.0, &["demo"], &env).await.ok();
    assert!(second.stderr.contains("there already"), "{}", second.stderr);
    assert_eq!(second.line(), key, "the kept key is answered again");
    assert_demo_key_works(&pool, &key).await;
}

async fn assert_demo_key_works(pool: &PgPool, key: &str) {
    let router = app(AppState::new(pool.clone(), Some(ADMIN_TOKEN), 1024));
    let request = axum::http::Request::get("/api/v1/message_threads")
        .header("user-api-key", key)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["meta"]["total"], 2, "{body}");
}

#[tokio::test]
async fn without_database_url_commands_use_the_embedded_cluster_unless_a_server_holds_it() {
    let _turn = crate::embedded::SERIAL.lock().await;
    let folder = Folder::new();
    let data_dir = folder.0.join("data");
    let env = [("DATA_DIR", data_dir.to_str().unwrap())];

    // A running server holds the cluster: the command says what to do instead.
    let server = EmbeddedPg::start(&data_dir.join("postgres"), &Options { unsafe_fast: true })
        .await
        .unwrap();
    let refused = run(
        &folder.0,
        &["keys", "create", "--user", "a@example.com"],
        &env,
    )
    .await
    .failed(1, "a running ota-inbox server holds");
    assert!(
        refused.stderr.contains("POST /admin/api_keys"),
        "{}",
        refused.stderr
    );
    server.stop().await.unwrap();

    // Stopped, the command starts the cluster, does its work and stops it again.
    let user = run(
        &folder.0,
        &["users", "create", "--email", "a@example.com"],
        &env,
    )
    .await
    .ok()
    .line();
    assert!(user.parse::<Uuid>().is_ok(), "{user}");
    let key = run(
        &folder.0,
        &["keys", "create", "--user", "a@example.com"],
        &env,
    )
    .await
    .ok()
    .line();
    assert!(key.starts_with("oik_"));
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "the command left the cluster running"
    );
}

#[tokio::test]
async fn a_data_dir_the_cluster_user_cannot_reach_gets_a_hint() {
    let is_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if !is_root {
        // The cluster then runs as ourselves, who can reach whatever we can create.
        return;
    }
    let folder = Folder::new();
    let closed = folder.0.join("closed");
    std::fs::create_dir_all(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = closed.join("data");
    let out = run(
        &folder.0,
        &["migrate"],
        &[("DATA_DIR", data_dir.to_str().unwrap())],
    )
    .await
    .failed(1, "cannot reach");
    assert!(out.stderr.contains("Set DATA_DIR"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{} is closed to it", closed.display())),
        "{}",
        out.stderr
    );
}
