//! The principal cache: keys are read once, and every change of what a key resolves to reaches
//! every server process through NOTIFY (in this process, and in two real server processes).

use std::time::Duration;

use axum::http::{Method, StatusCode};
use ota_inbox::http::auth::hash_secret;
use ota_inbox::http::principal_cache::{self, PrincipalCache};
use reqwest::Method as M;
use serde_json::json;
use sqlx::{Connection, PgPool};
use tokio::time::{Instant, sleep};
use uuid::Uuid;

use crate::process::{ServerProcess, wait_for_listeners};
use crate::support::{Following, following, fresh_database, maintenance_connection, wait_until};

/// How soon a change must reach every process.
const BOUND: Duration = Duration::from_secs(1);

/// The application with its principal cache following the database, as the server runs it.
type Cached = Following<PrincipalCache>;

async fn cached_app() -> Cached {
    following(
        |state| state.principals.clone(),
        PrincipalCache::listen,
        PrincipalCache::is_listening,
    )
    .await
}

/// Runs one statement without firing any trigger: a change nobody announces.
async fn silently(db: &PgPool, sql: &str, id: Uuid) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(sql).bind(id).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn key_id(db: &PgPool, key: &str) -> Uuid {
    sqlx::query_scalar("select id from api_keys where key_hash = $1")
        .bind(&hash_secret(key)[..])
        .fetch_one(db)
        .await
        .unwrap()
}

const REVOKE: &str = "update api_keys set revoked_at = now() where id = $1";
const UNREVOKE: &str = "update api_keys set revoked_at = null where id = $1";

impl Cached {
    async fn status(&self, path: &str, key: &str) -> StatusCode {
        self.app.get(path).key(key).send().await.status
    }

    /// Calls `path` with `key` (200) until the key is held: notifications of the set-up may
    /// still arrive and make the cache forget it once.
    async fn warm(&self, path: &str, key: &str) {
        let started = Instant::now();
        loop {
            assert_eq!(self.status(path, key).await, StatusCode::OK, "{path}");
            // Held, and still held once the notifications of the set-up (a new property, an
            // installed app) have arrived: those clear the user's keys when they land.
            if self.cache.holds(&hash_secret(key)) {
                sleep(Duration::from_millis(300)).await;
                if self.cache.holds(&hash_secret(key)) {
                    return;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(5), "never kept");
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `path` with `key` until it answers `expected`; fails after [`BOUND`].
    async fn answers_within_bound(&self, what: &str, path: &str, key: &str, expected: StatusCode) {
        let started = Instant::now();
        loop {
            let status = self.status(path, key).await;
            if status == expected {
                return;
            }
            assert!(
                started.elapsed() < BOUND,
                "{what}: {path} still answers {status}, not {expected}, after {BOUND:?}"
            );
            sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test]
async fn a_cached_key_is_not_read_again_until_a_change_is_announced() {
    let c = cached_app().await;
    let account = c.app.user().await;
    let property = c.app.property(&account, true).await;
    let path = format!("/api/v1/properties/{property}");
    c.warm(&path, &account.key).await;

    // Revoked behind the server's back: the key is still served from memory.
    let id = key_id(&c.app.db, &account.key).await;
    silently(&c.app.db, REVOKE, id).await;
    assert_eq!(c.status(&path, &account.key).await, StatusCode::OK);

    // Revoked through this server: refused at once, without waiting for the notification.
    c.app
        .admin(Method::DELETE, &format!("/admin/api_keys/{id}"))
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        c.status(&path, &account.key).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn changes_committed_elsewhere_reach_the_cache_within_a_second() {
    let c = cached_app().await;
    // (change, SQL run by another connection with its triggers ($1: the key's id), the
    // request that shows it, what it answers afterwards). "property" requests use a key
    // limited to the property (its scope is a row of api_key_properties); "threads" requests
    // a key that sees every property (whose Messages-app state comes with the principal).
    let cases = [
        ("key revoked", REVOKE, "property", StatusCode::UNAUTHORIZED),
        (
            "key deleted",
            "delete from api_keys where id = $1",
            "property",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "key's listed properties changed",
            "delete from api_key_properties where api_key_id = $1",
            "property",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "app uninstalled",
            "delete from application_installations where property_id in (
               select id from properties where user_id = (
                 select user_id from api_keys where id = $1))",
            "threads",
            StatusCode::FORBIDDEN,
        ),
        (
            "user deleted",
            "delete from users where id = (select user_id from api_keys where id = $1)",
            "property",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "everything truncated",
            "truncate users, api_keys, api_key_properties, properties, application_installations cascade",
            "property",
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (change, sql, shown_by, after) in cases {
        let account = c.app.user().await;
        let property = c.app.property(&account, true).await;
        let (key, path) = match shown_by {
            "property" => (
                c.app.key_for(account.user_id, Some(vec![property])).await,
                format!("/api/v1/properties/{property}"),
            ),
            _ => (account.key.clone(), "/api/v1/message_threads".to_owned()),
        };
        c.warm(&path, &key).await;
        let id = key_id(&c.app.db, &key).await;
        let mut conn = c.app.db.acquire().await.unwrap();
        let statement = sqlx::query(sql);
        let statement = if sql.contains("$1") {
            statement.bind(id)
        } else {
            statement
        };
        statement.execute(&mut *conn).await.unwrap();
        c.answers_within_bound(change, &path, &key, after).await;
    }
}

#[tokio::test]
async fn a_new_property_makes_the_users_keys_read_again() {
    let c = cached_app().await;
    let account = c.app.user().await;
    c.app.property(&account, true).await;
    let hash = hash_secret(&account.key);
    c.warm("/api/v1/message_threads", &account.key).await;
    // Created by another connection: "every property has the Messages app" no longer holds.
    sqlx::query("insert into properties (id, user_id, title) values ($1, $2, 'Elsewhere')")
        .bind(Uuid::new_v4())
        .bind(account.user_id)
        .execute(&c.app.db)
        .await
        .unwrap();
    wait_until(BOUND, || !c.cache.holds(&hash)).await;
}

#[tokio::test]
async fn a_lost_listen_connection_drops_the_cache_until_it_is_back() {
    let c = cached_app().await;
    let account = c.app.user().await;
    let property = c.app.property(&account, true).await;
    let path = format!("/api/v1/properties/{property}");
    let hash = hash_secret(&account.key);
    let id = key_id(&c.app.db, &account.key).await;
    c.warm(&path, &account.key).await;

    let mut conn = maintenance_connection().await;
    let ended: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and query = $2",
    )
    .bind(&c.database)
    .bind(format!("LISTEN \"{}\"", principal_cache::CHANNEL))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(ended, vec![true]);
    conn.close().await.ok();
    wait_until(BOUND, || !c.cache.is_listening()).await;
    assert!(c.cache.is_empty(), "dropped with the connection");

    // Changes made meanwhile cannot be missed: the key is read from the database.
    silently(&c.app.db, REVOKE, id).await;
    assert_eq!(
        c.status(&path, &account.key).await,
        StatusCode::UNAUTHORIZED
    );

    // Back: served from memory again.
    wait_until(Duration::from_secs(10), || c.cache.is_listening()).await;
    silently(&c.app.db, UNREVOKE, id).await;
    assert_eq!(c.status(&path, &account.key).await, StatusCode::OK);
    assert!(c.cache.holds(&hash));
    silently(&c.app.db, REVOKE, id).await;
    assert_eq!(c.status(&path, &account.key).await, StatusCode::OK);
}

/// Polls a server until `path` with `key` answers `expected`; answers how long it took.
async fn refused_after(server: &ServerProcess, path: &str, key: &str, expected: u16) -> Duration {
    let started = Instant::now();
    loop {
        let (status, _) = server.call(M::GET, path, Some(key), None).await;
        if status == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} still answers {status}"
        );
        sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_key_revoked_or_an_app_uninstalled_through_one_server_is_refused_by_another_within_a_second()
 {
    let (db, options) = fresh_database().await;
    let database = options.get_database().unwrap().to_owned();
    let (a, b) = tokio::join!(
        ServerProcess::start(&database),
        ServerProcess::start(&database)
    );
    wait_for_listeners(&database, principal_cache::CHANNEL, 2).await;

    let (status, user) = a
        .call(
            M::POST,
            "/admin/users",
            None,
            Some(json!({"user": {"email": "two@example.com"}})),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["data"]["id"].as_str().unwrap();
    let mut keys = Vec::new();
    for _ in 0..2 {
        let (status, key) = a
            .call(
                M::POST,
                "/admin/api_keys",
                None,
                Some(json!({"api_key": {"user_id": user_id}})),
            )
            .await;
        assert_eq!(status, 201, "{key}");
        keys.push((
            key["data"]["id"].as_str().unwrap().to_owned(),
            key["data"]["attributes"]["key"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    let [(revoked_id, revoked), (_, other)] = [keys[0].clone(), keys[1].clone()];
    let (_, property) = a
        .call(
            M::POST,
            "/api/v1/properties",
            Some(&other),
            Some(json!({"property": {"title": "Casa Azul"}})),
        )
        .await;
    let property = property["data"]["id"].as_str().unwrap().to_owned();
    let (status, installation) = a
        .call(
            M::POST,
            "/api/v1/applications/install",
            Some(&other),
            Some(json!({"application_installation": {
                "property_id": property, "application_code": "channex_messages"}})),
        )
        .await;
    assert_eq!(status, 200, "{installation}");
    let installation = installation["data"]["id"].as_str().unwrap().to_owned();

    // B has both keys in memory: a revocation nobody announces goes unseen there (once the
    // set-up's own notifications have all arrived).
    let show = format!("/api/v1/properties/{property}");
    let revoked_uuid: Uuid = revoked_id.parse().unwrap();
    let started = Instant::now();
    loop {
        assert_eq!(b.call(M::GET, &show, Some(&revoked), None).await.0, 200);
        silently(&db, REVOKE, revoked_uuid).await;
        let unseen = b.call(M::GET, &show, Some(&revoked), None).await.0 == 200;
        silently(&db, UNREVOKE, revoked_uuid).await;
        if unseen {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "B keeps nothing"
        );
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        b.call(M::GET, "/api/v1/message_threads", Some(&other), None)
            .await
            .0,
        200
    );

    // Revoked through A: refused by B within the bound.
    let (status, _) = a
        .call(
            M::DELETE,
            &format!("/admin/api_keys/{revoked_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let took = refused_after(&b, &show, &revoked, 401).await;
    assert!(took < BOUND, "B refused the revoked key after {took:?}");

    // The app uninstalled through A: B's thread list says 403 within the bound.
    let (status, _) = a
        .call(
            M::DELETE,
            &format!("/api/v1/applications/{installation}/uninstall"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let took = refused_after(&b, "/api/v1/message_threads", &other, 403).await;
    assert!(took < BOUND, "B still listed threads after {took:?}");

    a.kill().await;
    b.kill().await;
    db.close().await;
}
