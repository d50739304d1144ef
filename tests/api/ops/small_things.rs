//! What a new user meets first: the index at `/`, resetting to the demo, the docs' commands.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn the_root_answers_an_index_of_where_to_go() {
    let app = TestApp::new().await;
    let response = app.get("/").send().await.expect_status(StatusCode::OK);
    assert_eq!(
        response.headers["content-type"],
        "application/json; charset=utf-8"
    );
    let index = response.json();
    assert_eq!(index["name"], "ota-inbox");
    assert_eq!(index["version"], env!("CARGO_PKG_VERSION"));
    let links = &index["links"];
    for (name, path) in [
        ("api", "/api/v1"),
        ("docs", "/docs"),
        ("openapi", "/api/v1/openapi.json"),
        ("console", "/console"),
        ("health", "/health"),
        ("ready", "/ready"),
        ("metrics", "/metrics"),
    ] {
        assert_eq!(links[name], path, "{name}");
    }
    let chat = links["chat"]["href"].as_str().unwrap();
    assert!(
        chat.starts_with("/auth/exchange?oauth_session_key="),
        "{chat}"
    );
    assert!(
        links["chat"]["one_time_token"]
            .as_str()
            .unwrap()
            .contains("/api/v1/auth/one_time_token")
    );
    // Only GET: the index is no catch-all.
    app.post("/")
        .send()
        .await
        .expect_error(405, "method_not_allowed");
}

#[tokio::test]
async fn a_reset_with_demo_true_seeds_the_demo_and_answers_its_key() {
    let app = TestApp::new().await;
    let account = app.user().await;
    app.property(&account, true).await;

    let response = app
        .admin(Method::POST, "/admin/reset?demo=true")
        .send()
        .await
        .expect_status(StatusCode::OK);
    let body = response.json();
    assert_eq!(body["meta"]["message"], "Success");
    let demo = &body["data"];
    assert_eq!(demo["email"], "demo@ota-inbox.test");
    let key = demo["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("oik_"));

    // Everything else is gone; the demo is whole and its key works.
    app.get("/api/v1/properties")
        .key(&account.key)
        .send()
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(app.count("select count(*) from users").await, 1);
    let properties = app
        .get("/api/v1/properties")
        .key(&key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(properties["data"][0]["id"], demo["property_id"]);
    let threads = app
        .get("/api/v1/message_threads")
        .key(&key)
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    let mut providers: Vec<&str> = threads["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["attributes"]["provider"].as_str().unwrap())
        .collect();
    providers.sort_unstable();
    assert_eq!(providers, vec!["AirBNB", "BookingCom"]);

    // Without the flag (or with a false one) the reset leaves nothing, as before.
    for query in ["", "?demo=false", "?demo=0"] {
        let plain = app
            .admin(Method::POST, &format!("/admin/reset{query}"))
            .send()
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(plain, json!({"meta": {"message": "Success"}}), "{query}");
        assert_eq!(app.count("select count(*) from users").await, 0);
    }
}

#[tokio::test]
async fn a_bad_demo_flag_is_a_422_and_resets_nothing() {
    let app = TestApp::new().await;
    app.user().await;
    let details = app
        .admin(Method::POST, "/admin/reset?demo=maybe")
        .send()
        .await
        .expect_error(422, "bad_request");
    assert_eq!(details, json!({"demo": ["is invalid"]}));
    assert_eq!(app.count("select count(*) from users").await, 1);
}

#[tokio::test]
async fn two_resets_with_the_demo_at_once_leave_one_demo() {
    let app = TestApp::new().await;
    let (a, b) = tokio::join!(
        app.admin(Method::POST, "/admin/reset?demo=1").send(),
        app.admin(Method::POST, "/admin/reset?demo=yes").send(),
    );
    let a = a.expect_status(StatusCode::OK).json();
    let b = b.expect_status(StatusCode::OK).json();
    assert_eq!(app.count("select count(*) from users").await, 1);
    assert_eq!(app.count("select count(*) from properties").await, 1);
    // The reset that ran last holds the demo: its key works, the other's is gone with the rest.
    let mut working = 0;
    for body in [a, b] {
        let key = body["data"]["api_key"].as_str().unwrap().to_owned();
        let status = app.get("/api/v1/properties").key(&key).send().await.status;
        working += usize::from(status == StatusCode::OK);
    }
    assert_eq!(working, 1);
}

/// The curl commands of the documentation: a URL with brackets needs `-g` (or `%5B`/`%5D`),
/// or curl takes them for a glob and fails.
#[test]
fn no_curl_command_in_the_docs_has_bare_brackets() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files = vec![format!("{root}/README.md")];
    for entry in std::fs::read_dir(format!("{root}/docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path.display().to_string());
        }
    }
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // A command continues on the next line after a trailing backslash.
        let mut command = String::new();
        for line in text.lines() {
            command.push_str(line.trim_end_matches('\\'));
            command.push(' ');
            if line.ends_with('\\') {
                continue;
            }
            if let Some(at) = command.find("curl ") {
                let curl = &command[at..];
                let urls = curl
                    .split(['"', '\'', ' '])
                    .filter(|word| word.contains("http") || word.starts_with('$'));
                let globbing = !curl.contains(" -g ") && !curl.contains("--globoff");
                for url in urls {
                    assert!(
                        !(globbing && (url.contains('[') || url.contains(']'))),
                        "{file}: curl would glob {url}: {curl}"
                    );
                }
                checked += 1;
            }
            command.clear();
        }
    }
    assert!(checked > 20, "only {checked} curl commands found");
}
