//! Attachments: access is decided on the description alone, the bytes stream from PostgreSQL a
//! slice at a time, and an unsent upload belongs to the key that uploaded it.

use axum::http::StatusCode;
use ota_inbox::db;
use ota_inbox::routes::attachments::SLICE_BYTES;
use serde_json::json;
use sqlx::{ConnectOptions, Connection};
use uuid::Uuid;

use crate::support::{TestApp, base64, fresh_database};

async fn upload(app: &TestApp, key: &str, bytes: &[u8]) -> Uuid {
    app.post("/api/v1/attachments")
        .key(key)
        .json(
            json!({"attachment": {"file": base64(bytes), "file_name": "f.bin",
                     "file_type": "application/octet-stream"}}),
        )
        .send()
        .await
        .expect_status(StatusCode::OK)
        .id()
}

/// Bytes that differ at every offset, so that a slice read from the wrong place shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

#[tokio::test]
async fn downloads_stream_every_byte_across_slices() {
    let app = TestApp::with_max_attachment_bytes(3 * SLICE_BYTES).await;
    let account = app.user().await;
    app.property(&account, true).await;
    for len in [1, SLICE_BYTES - 1, SLICE_BYTES, 2 * SLICE_BYTES + 7] {
        let bytes = pattern(len);
        let id = upload(&app, &account.key, &bytes).await;
        let download = app
            .get(&format!("/api/v1/attachments/{id}"))
            .key(&account.key)
            .send()
            .await
            .expect_status(StatusCode::OK);
        assert_eq!(download.headers["content-length"], len.to_string());
        assert!(download.body == bytes, "{len} bytes came back different");
    }
    let stored: String = sqlx::query_scalar(
        "select attstorage::text from pg_attribute
         where attrelid = 'attachments'::regclass and attname = 'data'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        stored, "e",
        "stored out of line, uncompressed: sliced reads"
    );
}

#[tokio::test]
async fn an_unsent_upload_is_readable_by_the_key_that_uploaded_it_only() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let limited = app.key_for(account.user_id, Some(vec![property])).await;
    let other_all = app.key_for(account.user_id, None).await;
    let id = upload(&app, &limited, b"draft").await;
    app.get(&format!("/api/v1/attachments/{id}"))
        .key(&limited)
        .send()
        .await
        .expect_status(StatusCode::OK);
    // The same user's other keys, even one that sees every property, cannot.
    for key in [&account.key, &other_all] {
        app.get(&format!("/api/v1/attachments/{id}"))
            .key(key)
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
    // Sent: it follows its thread.
    let booking = app.booking(property, "BookingCom").await;
    app.post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&limited)
        .json(json!({"message": {"attachment_id": id}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    for key in [&account.key, &other_all, &limited] {
        app.get(&format!("/api/v1/attachments/{id}/f.bin"))
            .key(key)
            .send()
            .await
            .expect_status(StatusCode::OK);
    }
    let key_id: Option<Uuid> =
        sqlx::query_scalar("select uploader_key_id from attachments where id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(key_id.is_some());
}

/// A refused download and a cached one read no byte: the server runs them as a role that may
/// read everything but the attachments' bytes, so reading one would fail the request.
#[tokio::test]
async fn refused_and_cached_downloads_read_no_byte_of_the_file() {
    let (_, options) = fresh_database().await;
    let mut admin = options.connect().await.unwrap();
    let superuser: bool =
        sqlx::query_scalar("select rolsuper from pg_roles where rolname = current_user")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    if !superuser {
        // Roles cannot be made here; the embedded cluster and CI run as a superuser.
        return;
    }
    let writer = TestApp::over(db::connect(options.clone(), 2).await.unwrap(), |s| s);
    let account = writer.user().await;
    let property = writer.property(&account, true).await;
    let stranger = writer.user().await;
    let id = upload(&writer, &account.key, &pattern(1000)).await;
    let booking = writer.booking(property, "BookingCom").await;
    writer
        .post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&account.key)
        .json(json!({"message": {"attachment_id": id}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    let etag = writer
        .get(&format!("/api/v1/attachments/{id}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .headers["etag"]
        .to_str()
        .unwrap()
        .to_owned();

    let role = format!("ota_inbox_no_bytes_{}", std::process::id());
    sqlx::raw_sql(&format!(
        "drop role if exists {role}; create role {role};
         grant select on all tables in schema public to {role};
         revoke select on attachments from {role};
         grant select (id, user_id, uploader_key_id, message_id, position, file_name, file_type,
                       byte_size, sha256, inserted_at) on attachments to {role};"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let reader = TestApp::over(
        db::connect(options.clone().options([("role", role.as_str())]), 2)
            .await
            .unwrap(),
        |s| s,
    );
    reader
        .get(&format!("/api/v1/attachments/{id}"))
        .key(&stranger.key)
        .send()
        .await
        .expect_error(401, "unauthorized");
    let cached = reader
        .get(&format!("/api/v1/attachments/{id}/f.bin"))
        .key(&account.key)
        .header("if-none-match", &etag)
        .send()
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    // The role really cannot read the bytes: a download that does read them fails.
    let read = sqlx::query("select data from attachments")
        .execute(&reader.db)
        .await;
    assert!(read.is_err());
    reader.db.close().await;
    sqlx::raw_sql(&format!(
        "revoke all on all tables in schema public from {role}; drop role {role};"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.ok();
}
