//! Ambiguous credentials are refused, never resolved by picking one of them.

use axum::http::{Method, StatusCode};

use crate::support::{ADMIN_TOKEN, TestApp};

#[tokio::test]
async fn ambiguous_credentials_are_a_401_and_one_key_sent_both_ways_is_accepted() {
    let app = TestApp::new().await;
    let alice = app.user().await;
    let bob = app.user().await;
    let bearer = |key: &str| format!("Bearer {key}");
    let refused: Vec<Vec<(&str, String)>> = vec![
        vec![
            ("user-api-key", alice.key.clone()),
            ("user-api-key", bob.key.clone()),
        ],
        vec![
            ("user-api-key", alice.key.clone()),
            ("user-api-key", alice.key.clone()),
        ],
        vec![
            ("authorization", bearer(&alice.key)),
            ("authorization", bearer(&bob.key)),
        ],
        vec![
            ("user-api-key", alice.key.clone()),
            ("authorization", bearer(&bob.key)),
        ],
        vec![
            ("authorization", bearer(&alice.key)),
            ("user-api-key", bob.key.clone()),
        ],
    ];
    for headers in refused {
        let mut call = app.get("/api/v1/properties");
        for (name, value) in &headers {
            call = call.header(name, value);
        }
        call.send().await.expect_error(401, "unauthorized");
    }
    // One key, sent both ways: one credential.
    app.get("/api/v1/properties")
        .key(&alice.key)
        .bearer(&alice.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn two_admin_tokens_are_a_401() {
    let app = TestApp::new().await;
    app.admin(Method::POST, "/admin/users")
        .bearer(ADMIN_TOKEN)
        .json(serde_json::json!({"user": {"email": "twice@example.com"}}))
        .send()
        .await
        .expect_error(401, "unauthorized");
}
