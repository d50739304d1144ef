//! `ota-inbox serve` as a process, and `ota-inbox healthcheck` against a server.

use ota_inbox::{AppState, app};
use uuid::Uuid;

use super::*;
use crate::support::{ADMIN_TOKEN, fresh_database_url};

#[tokio::test]
async fn the_own_postgresql_recipe_ends_with_a_working_key_and_admin_token() {
    let folder = Folder::new();
    let (pool, url) = fresh_database_url().await;
    let db = [("DATABASE_URL", url.as_str()), ("RUST_LOG", "info")];

    // Migrating an up-to-date database is quiet.
    let migrated = run(&folder.0, &["migrate"], &db).await.ok();
    assert_plain_logs(&migrated.stderr);

    let user = run(
        &folder.0,
        &[
            "users",
            "create",
            "--email",
            "pms@example.com",
            "--name",
            "My PMS",
        ],
        &db,
    )
    .await
    .ok();
    let user_id: Uuid = user.line().parse().expect("a user id on stdout");
    let created = run(
        &folder.0,
        &["keys", "create", "--user", "pms@example.com"],
        &db,
    )
    .await
    .ok();
    let key = created.line();
    assert!(key.starts_with("oik_"), "{key}");
    assert!(
        created.stderr.contains("shown this once"),
        "{}",
        created.stderr
    );
    // Only the hash is stored.
    let stored: i64 = sqlx::query_scalar("select count(*) from api_keys where user_id = $1")
        .bind(user_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);

    let served = Served::start(
        &folder.0,
        &[
            ("DATABASE_URL", &url),
            ("ADMIN_TOKEN", "my-admin-token-of-at-least-some-length"),
            ("BIND_ADDR", "localhost:0"),
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("DEMO", "no"),
            ("AUTH_FAILURES_PER_MINUTE", "2"),
            ("RUST_LOG", "info"),
        ],
    )
    .await;
    assert!(
        !served.banner.contains_key("demo API key"),
        "{:?}",
        served.banner
    );

    // The key works, and so does the admin token.
    let properties = get(&served.url("/api/v1/properties"), Some(&key)).await;
    assert_eq!(properties.status(), 200);
    let outbox = reqwest::Client::new()
        .get(served.url("/admin/outbox"))
        .bearer_auth("my-admin-token-of-at-least-some-length")
        .send()
        .await
        .unwrap();
    assert_eq!(outbox.status(), 200);

    // A key limited to one property sees only that one.
    let property = reqwest::Client::new()
        .post(served.url("/api/v1/properties"))
        .header("user-api-key", &key)
        .header("content-type", "application/json")
        .body(
            serde_json::json!({"property": {"title": "Casa Azul", "currency": "EUR"}}).to_string(),
        )
        .send()
        .await
        .unwrap();
    let property = json(property).await;
    let property_id = property["data"]["id"].as_str().unwrap().to_owned();
    let user_id = user_id.to_string();
    let scoped = run(
        &folder.0,
        &[
            "keys",
            "create",
            "--user",
            &user_id,
            "--property",
            &property_id,
        ],
        &db,
    )
    .await
    .ok();
    let scoped_key = scoped.line();
    let seen = json(get(&served.url("/api/v1/properties"), Some(&scoped_key)).await).await;
    assert_eq!(seen["meta"]["total"], 1);

    // Revoked, the key no longer works.
    let key_id = created
        .stderr
        .split_whitespace()
        .skip_while(|w| *w != "key")
        .nth(1)
        .unwrap()
        .to_owned();
    run(&folder.0, &["keys", "revoke", &key_id], &db).await.ok();
    assert_eq!(
        get(&served.url("/api/v1/properties"), Some(&key))
            .await
            .status(),
        401
    );

    // The metrics have a listener of their own; the main port has none.
    let metrics_url = served.banner["metrics"].clone();
    assert_ne!(metrics_url, served.url("/metrics"));
    let metrics = get(&metrics_url, None).await;
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains(r#"route="/api/v1/properties",status="200""#),
        "{metrics}"
    );
    assert_eq!(get(&served.url("/metrics"), None).await.status(), 404);

    // Guessing keys over TCP: the address is refused after two failures (one was the revoked key).
    assert_eq!(
        get(&served.url("/api/v1/properties"), Some("oik_guess"))
            .await
            .status(),
        401
    );
    let refused = get(&served.url("/api/v1/properties"), Some(&scoped_key)).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));

    let (code, stderr) = served.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_plain_logs(&stderr);
    assert!(stderr.contains("listening"), "{stderr}");
    assert!(!stderr.contains(&key), "a key in the logs");
}

#[tokio::test]
async fn serve_takes_demo_1_and_a_host_name_to_bind() {
    let folder = Folder::new();
    let (_pool, url) = fresh_database_url().await;
    let served = Served::start(
        &folder.0,
        &[
            ("DATABASE_URL", &url),
            ("BIND_ADDR", "localhost:0"),
            ("DEMO", "1"),
            ("DATA_DIR", &folder.0.join("data").display().to_string()),
        ],
    )
    .await;
    // No ADMIN_TOKEN with DATABASE_URL: the banner says the admin API is off, and it is.
    assert!(
        served.banner["admin API"].starts_with("off"),
        "{:?}",
        served.banner
    );
    let key = served.banner["demo API key"].clone();
    let threads = json(get(&served.url("/api/v1/message_threads"), Some(&key)).await).await;
    assert_eq!(threads["meta"]["total"], 2);
    assert_eq!(get(&served.url("/admin/outbox"), None).await.status(), 404);
    let index = json(get(&served.url("/"), None).await).await;
    assert_eq!(index["name"], "ota-inbox");
    let (code, stderr) = served.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_plain_logs(&stderr);
}

#[tokio::test]
async fn healthcheck_exits_0_only_when_ready_answers_200() {
    let folder = Folder::new();
    let (pool, _url) = fresh_database_url().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(AppState::new(pool, Some(ADMIN_TOKEN), 1024));
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let ready = format!("http://{addr}/ready");
    run(&folder.0, &["healthcheck", "--url", &ready], &[])
        .await
        .ok();
    // By default, /ready of BIND_ADDR (0.0.0.0 is reached on loopback).
    let bind = format!("0.0.0.0:{}", addr.port());
    run(&folder.0, &["healthcheck"], &[("BIND_ADDR", &bind)])
        .await
        .ok();
    // The server's own health is asked directly, whatever proxy webhooks go through: a proxy
    // that never answers must not be in the way.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    run(
        &folder.0,
        &["healthcheck"],
        &[
            ("BIND_ADDR", &bind),
            ("HTTP_PROXY", &proxy_url),
            ("http_proxy", &proxy_url),
            ("ALL_PROXY", &proxy_url),
        ],
    )
    .await
    .ok();
    drop(proxy);
    let unauthorized = format!("http://{addr}/api/v1/properties");
    run(&folder.0, &["healthcheck", "--url", &unauthorized], &[])
        .await
        .failed(1, "401");
    server.abort();
    let _ = server.await;
    run(&folder.0, &["healthcheck", "--url", &ready], &[])
        .await
        .failed(1, "error");
}
