//! The embedded UI assets under `/ui/`.

use axum::http::StatusCode;

use crate::support::TestApp;

#[tokio::test]
async fn assets_are_served_with_their_type_an_etag_and_nosniff() {
    let app = TestApp::new().await;
    let page = app
        .get("/ui/console.html")
        .send()
        .await
        .expect_status(StatusCode::OK);
    let header = |name: &str| page.headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("cache-control"), "no-cache");
    assert!(header("content-security-policy").contains("default-src 'none'"));
    // The console's file may not be framed (as /console may not), whatever
    // IFRAME_ALLOWED_ORIGINS allows for the chat.
    assert!(
        header("content-security-policy").ends_with("frame-ancestors 'none'"),
        "{}",
        header("content-security-policy")
    );
    assert_eq!(header("x-frame-options"), "DENY");
    let etag = header("etag");
    assert!(etag.starts_with('"') && etag.len() == 66, "{etag}");
    assert!(
        String::from_utf8(page.body.clone())
            .unwrap()
            .contains("<html")
    );

    let again = app
        .get("/ui/console.html")
        .header("if-none-match", &etag)
        .send()
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.headers["etag"].to_str().unwrap(), etag);
    let changed = app
        .get("/ui/console.html")
        .header("if-none-match", "\"something-else\"")
        .send()
        .await;
    assert_eq!(changed.status, StatusCode::OK);
}

#[tokio::test]
async fn only_embedded_files_are_served() {
    let app = TestApp::new().await;
    for path in [
        "/ui/nope.js",
        "/ui/../Cargo.toml",
        "/ui/%2e%2e/Cargo.toml",
        "/ui/..%2f..%2fCargo.toml",
        "/ui/%ff",
        "/ui/",
    ] {
        app.get(path).send().await.expect_error(404, "not_found");
    }
    app.post("/ui/console.html")
        .send()
        .await
        .expect_error(405, "method_not_allowed");
}
