//! Rate limits: the per-credential GCRA with its RateLimit headers, and failed authentications
//! per client address.

use axum::http::{Method, StatusCode};
use uuid::Uuid;

use crate::support::{ADMIN_TOKEN, Response, TestApp};

pub(super) fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn number(response: &Response, name: &str) -> u64 {
    header(response, name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_response_of_a_limited_route_carries_the_ratelimit_headers() {
    // 60 a minute (one a second), 3 at once.
    let app = TestApp::with_state(|state| state.with_rate_limit_burst(60, Some(3))).await;
    let account = app.user().await;

    let mut remaining = vec![];
    for path in [
        "/api/v1/properties".to_owned(),
        // An error answer of a limited route is counted and says so too.
        format!("/api/v1/properties/{}", Uuid::new_v4()),
        "/api/v1/properties/not-an-id".to_owned(),
    ] {
        let response = app.get(&path).key(&account.key).send().await;
        assert_eq!(number(&response, "ratelimit-limit"), 3, "{path}");
        assert!(number(&response, "ratelimit-reset") <= 3, "{path}");
        assert_eq!(
            header(&response, "ratelimit-policy").unwrap(),
            "60;w=60;burst=3"
        );
        assert!(header(&response, "retry-after").is_none());
        remaining.push(number(&response, "ratelimit-remaining"));
    }
    assert_eq!(remaining, vec![2, 1, 0]);

    let refused = app.get("/api/v1/properties").key(&account.key).send().await;
    refused.expect_error(429, "http_too_many_requests");
    assert_eq!(number(&refused, "retry-after"), 1);
    assert_eq!(number(&refused, "ratelimit-remaining"), 0);
    assert_eq!(number(&refused, "ratelimit-limit"), 3);
    assert!((1..=3).contains(&number(&refused, "ratelimit-reset")));

    // Another key of the same user has a quota of its own.
    let second_key = app.key_for(account.user_id, None).await;
    let other = app.get("/api/v1/properties").key(&second_key).send().await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(number(&other, "ratelimit-remaining"), 2);

    // The quota comes back smoothly: one request a second, not a whole window at once.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = app.get("/api/v1/properties").key(&account.key).send().await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(number(&again, "ratelimit-remaining"), 0);
    app.get("/api/v1/properties")
        .key(&account.key)
        .send()
        .await
        .expect_error(429, "http_too_many_requests");
}

#[tokio::test]
async fn routes_that_are_not_limited_carry_no_ratelimit_headers() {
    let app = TestApp::with_state(|state| state.with_rate_limit(5)).await;
    let account = app.user().await;
    for response in [
        app.get("/health").send().await,
        app.get("/").send().await,
        app.admin(Method::GET, "/admin/outbox").send().await,
        // No credential, no quota to tell about.
        app.get("/api/v1/properties").send().await,
    ] {
        assert!(header(&response, "ratelimit-limit").is_none());
    }
    // Without RATE_LIMIT_PER_MINUTE nothing is limited, and nothing says so.
    let unlimited = TestApp::new().await;
    let unlimited_account = unlimited.user().await;
    for _ in 0..8 {
        let response = unlimited
            .get("/api/v1/properties")
            .key(&unlimited_account.key)
            .send()
            .await
            .expect_status(StatusCode::OK);
        assert!(header(&response, "ratelimit-limit").is_none());
    }
    let limited = app.get("/api/v1/properties").key(&account.key).send().await;
    assert_eq!(number(&limited, "ratelimit-limit"), 5);
}

#[tokio::test]
async fn an_address_that_keeps_guessing_keys_gets_429_before_any_lookup() {
    // Three failures a minute: then one each 20 s.
    let app = TestApp::with_state(|state| state.with_auth_failure_limit(3)).await;
    let account = app.user().await;
    let guesser = "198.51.100.7:40000";
    for n in 0..3 {
        app.get("/api/v1/properties")
            .key(&format!("oik_guess{n}"))
            .client_addr(guesser)
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
    // Now even a valid key from that address is refused: its key is not even looked up.
    let refused = app
        .get("/api/v1/properties")
        .key(&account.key)
        .client_addr("198.51.100.7:40001")
        .send()
        .await;
    refused.expect_error(429, "http_too_many_requests");
    let wait = number(&refused, "retry-after");
    assert!((19..=20).contains(&wait), "retry after {wait}");
    // Guessing the admin token from there is refused the same way.
    app.request(Method::GET, "/admin/outbox")
        .bearer("adm_guess")
        .client_addr(guesser)
        .send()
        .await
        .expect_error(429, "http_too_many_requests");

    // Other addresses are not affected, nor are requests whose address is unknown.
    app.get("/api/v1/properties")
        .key(&account.key)
        .client_addr("198.51.100.8:40000")
        .send()
        .await
        .expect_status(StatusCode::OK);
    app.get("/api/v1/properties")
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn only_wrong_credentials_count_as_failures_and_the_admin_token_is_guarded_too() {
    let app = TestApp::with_state(|state| state.with_auth_failure_limit(2)).await;
    let account = app.user().await;
    let client = "203.0.113.50:5000";
    // Requests without a credential and successful ones cost nothing.
    for _ in 0..5 {
        app.get("/api/v1/properties")
            .client_addr(client)
            .send()
            .await
            .expect_error(401, "unauthorized");
        app.get("/api/v1/properties")
            .key(&account.key)
            .client_addr(client)
            .send()
            .await
            .expect_status(StatusCode::OK);
        app.admin(Method::GET, "/admin/outbox")
            .client_addr(client)
            .send()
            .await
            .expect_status(StatusCode::OK);
    }
    // Two wrong admin tokens use up the address's failures, for the API as well.
    for _ in 0..2 {
        app.request(Method::GET, "/admin/outbox")
            .bearer("adm_wrong")
            .client_addr(client)
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
    app.get("/api/v1/properties")
        .key(&account.key)
        .client_addr(client)
        .send()
        .await
        .expect_error(429, "http_too_many_requests");
    app.admin(Method::GET, "/admin/outbox")
        .client_addr(client)
        .send()
        .await
        .expect_error(429, "http_too_many_requests");
    assert_ne!(ADMIN_TOKEN, "adm_wrong");
}

#[tokio::test]
async fn with_the_failure_limit_off_guessing_is_only_a_401() {
    let app = TestApp::with_state(|state| state.with_auth_failure_limit(0)).await;
    for n in 0..40 {
        app.get("/api/v1/properties")
            .key(&format!("oik_guess{n}"))
            .client_addr("192.0.2.1:1234")
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
}
