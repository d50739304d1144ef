//! The outbound client against receivers that answer by hand: header-name case on the wire,
//! kept connections, answers framed every way, the 64 KiB cap, redirects, timeouts, TLS and
//! proxies.

use std::time::Duration;

use ota_inbox::webhooks::Outbound;
use ota_inbox::webhooks::client::{Callback, MAX_RESPONSE_BYTES};
use ota_inbox::webhooks::http1::Proxies;
use serde_json::{Value, json};
use uuid::Uuid;

use super::raw::{RawReceiver, RawReply, answer};

fn outbound(timeout_ms: u64) -> Outbound {
    Outbound::with_proxies(Duration::from_millis(timeout_ms), Proxies::none()).unwrap()
}

async fn post(
    outbound: &Outbound,
    url: &str,
    headers: Value,
) -> ota_inbox::webhooks::client::Outcome {
    outbound
        .post(&Callback {
            url,
            request_params: &json!({}),
            headers: &headers,
            delivery_id: Uuid::nil(),
            signing_secret: Some("whsec_0123456789abcdef"),
            body: br#"{"event":"message"}"#,
        })
        .await
}

#[tokio::test]
async fn header_names_reach_the_receiver_in_the_case_they_were_written() {
    let receiver = RawReceiver::start(vec![]).await;
    let outcome = post(
        &outbound(2000),
        &receiver.url("/hook?x=1"),
        json!({"X-Api-KEY": "k1", "x-lower-case": "k2", "AUTHORIZATION": "Bearer t"}),
    )
    .await;
    assert_eq!(outcome.status, Some(200));
    assert_eq!(outcome.body, b"ok");
    let request = &receiver.wait_for(1).await[0];
    assert_eq!(request.request_line(), "POST /hook?x=1 HTTP/1.1");
    let lines = request.header_lines();
    for expected in [
        format!("Host: {}", receiver.addr),
        "Content-Type: application/json".to_owned(),
        format!(
            "User-Agent: ota-inbox-webhooks/{}",
            env!("CARGO_PKG_VERSION")
        ),
        "Accept: */*".to_owned(),
        format!("X-Ota-Inbox-Delivery: {}", Uuid::nil()),
        "X-Api-KEY: k1".to_owned(),
        "x-lower-case: k2".to_owned(),
        "AUTHORIZATION: Bearer t".to_owned(),
        "Content-Length: 19".to_owned(),
    ] {
        assert!(
            lines.contains(&expected.as_str()),
            "{expected:?} in {lines:#?}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("X-Ota-Inbox-Signature: t=")),
        "{lines:#?}"
    );
    assert_eq!(request.body, br#"{"event":"message"}"#);
}

#[tokio::test]
async fn a_webhooks_own_user_agent_replaces_ours() {
    let receiver = RawReceiver::start(vec![]).await;
    post(
        &outbound(2000),
        &receiver.url("/"),
        json!({"User-Agent": "pms-probe/1"}),
    )
    .await;
    let lines = receiver.wait_for(1).await[0].head.clone();
    assert!(lines.contains("User-Agent: pms-probe/1\r\n"), "{lines}");
    assert!(!lines.contains("ota-inbox-webhooks"), "{lines}");
}

#[tokio::test]
async fn credentials_in_the_callback_url_are_sent_as_basic_authorization() {
    let receiver = RawReceiver::start(vec![]).await;
    let client = outbound(2000);
    let url = format!("http://pms%40user:pa%20ss@{}/hook?x=1", receiver.addr);
    let outcome = post(&client, &url, json!({})).await;
    assert_eq!(outcome.status, Some(200));
    // The webhook's own Authorization header wins over the URL's credentials.
    post(&client, &url, json!({"authorization": "Bearer t"})).await;
    let requests = receiver.wait_for(2).await;
    // Neither the request line nor the Host header carries them.
    assert_eq!(requests[0].request_line(), "POST /hook?x=1 HTTP/1.1");
    let lines = requests[0].header_lines();
    assert!(
        lines.contains(&format!("Host: {}", receiver.addr).as_str()),
        "{lines:#?}"
    );
    // base64 of "pms@user:pa ss": the user name and password percent-decoded.
    assert!(
        lines.contains(&"Authorization: Basic cG1zQHVzZXI6cGEgc3M="),
        "{lines:#?}"
    );
    let own = requests[1].header_lines();
    assert!(own.contains(&"authorization: Bearer t"), "{own:#?}");
    assert!(
        !own.iter().any(|l| l.starts_with("Authorization: Basic")),
        "{own:#?}"
    );
}

#[tokio::test]
async fn connections_are_kept_and_one_closed_meanwhile_is_replaced() {
    let receiver = RawReceiver::start(vec![
        RawReply::KeepOpen(answer(200, "one")),
        RawReply::KeepOpen(answer(204, "")),
        // Answers, then closes without saying so: the kept connection is dead.
        RawReply::ThenClose(answer(200, "three")),
        RawReply::KeepOpen(answer(200, "four")),
    ])
    .await;
    let client = outbound(2000);
    let url = receiver.url("/hook");
    for expected in ["one", "", "three"] {
        let outcome = post(&client, &url, json!({})).await;
        assert_eq!(outcome.body, expected.as_bytes());
        assert_eq!(outcome.error, None);
    }
    assert_eq!(
        receiver.connections(),
        1,
        "one connection for three requests"
    );
    // Let the close arrive, then send again: a new connection, and an answer.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let outcome = post(&client, &url, json!({})).await;
    assert_eq!(
        (outcome.status, outcome.body),
        (Some(200), b"four".to_vec())
    );
    assert_eq!(receiver.connections(), 2);
    let on: Vec<usize> = receiver.requests().iter().map(|r| r.connection).collect();
    assert_eq!(on, [0, 0, 0, 1], "no request was sent twice");
}

#[tokio::test]
async fn chunked_and_unframed_answers_are_read_and_a_huge_one_is_cut() {
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: yes\r\n\r\n".to_vec();
    let unframed = b"HTTP/1.1 202 Accepted\r\n\r\nuntil the end".to_vec();
    let mut huge = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
        MAX_RESPONSE_BYTES * 3
    )
    .into_bytes();
    huge.extend(vec![b'x'; MAX_RESPONSE_BYTES * 3]);
    let receiver = RawReceiver::start(vec![
        RawReply::KeepOpen(chunked),
        RawReply::KeepOpen(answer(200, "after chunks")),
        RawReply::ThenClose(unframed),
        RawReply::KeepOpen(huge),
    ])
    .await;
    let client = outbound(2000);
    let url = receiver.url("/");
    let outcome = post(&client, &url, json!({})).await;
    assert_eq!(outcome.body, b"Wikipedia in \r\n\r\nchunks.");
    // The chunked answer was read to its end: the connection carries the next request.
    let outcome = post(&client, &url, json!({})).await;
    assert_eq!(outcome.body, b"after chunks");
    assert_eq!(receiver.connections(), 1);
    let outcome = post(&client, &url, json!({})).await;
    assert_eq!(
        (outcome.status, outcome.body),
        (Some(202), b"until the end".to_vec())
    );
    let outcome = post(&client, &url, json!({})).await;
    assert_eq!(outcome.status, Some(200));
    assert_eq!(outcome.body.len(), MAX_RESPONSE_BYTES);
}

#[tokio::test]
async fn redirects_are_answers_and_broken_answers_are_errors() {
    let receiver = RawReceiver::start(vec![
        RawReply::KeepOpen(
            b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere.example/\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        ),
        RawReply::ThenClose(b"this is not HTTP\r\n\r\n".to_vec()),
        RawReply::ThenClose(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort".to_vec()),
    ])
    .await;
    let client = outbound(2000);
    let url = receiver.url("/");
    let outcome = post(&client, &url, json!({})).await;
    assert_eq!(outcome.status, Some(302));
    assert_eq!(receiver.requests().len(), 1, "the redirect is not followed");
    let outcome = post(&client, &url, json!({})).await;
    assert_eq!(outcome.status, None);
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("reading the answer failed")),
        "{outcome:?}"
    );
    let outcome = post(&client, &url, json!({})).await;
    assert_eq!(outcome.status, Some(200));
    assert_eq!(outcome.body, b"short");
    assert!(outcome.error.is_some(), "{outcome:?}");
}

#[tokio::test]
async fn a_silent_receiver_times_out_and_tls_to_a_plain_server_fails() {
    // Accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let outcome = post(&outbound(200), &format!("http://{addr}/"), json!({})).await;
    assert_eq!(outcome.status, None);
    assert_eq!(outcome.error.as_deref(), Some("timed out after 200ms"));
    assert!(outcome.duration < Duration::from_secs(2));

    // A plain HTTP server answers the TLS greeting with an HTTP error.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    let _plain = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = plain.accept().await {
            let mut greeting = [0u8; 512];
            let _ = stream.read(&mut greeting).await;
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let outcome = post(
        &outbound(2000),
        &format!("https://{plain_addr}/"),
        json!({}),
    )
    .await;
    assert_eq!(outcome.status, None);
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("connection failed: TLS")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn through_an_http_proxy_plain_requests_name_the_url_and_tls_asks_for_a_tunnel() {
    let proxy = RawReceiver::start(vec![
        RawReply::KeepOpen(answer(200, "via proxy")),
        RawReply::ThenClose(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_vec()),
    ])
    .await;
    let client = Outbound::with_proxies(
        Duration::from_millis(2000),
        Proxies::new(
            Some(&format!("http://user:secret@{}", proxy.addr)),
            Some(&proxy.addr),
            "direct.example",
        ),
    )
    .unwrap();
    let outcome = post(
        &client,
        "http://pms.example:8080/hook?a=1",
        json!({"X-Api-KEY": "k"}),
    )
    .await;
    assert_eq!(
        (outcome.status, outcome.body),
        (Some(200), b"via proxy".to_vec())
    );
    let forwarded = &proxy.requests()[0];
    assert_eq!(
        forwarded.request_line(),
        "POST http://pms.example:8080/hook?a=1 HTTP/1.1"
    );
    let lines = forwarded.header_lines();
    assert!(lines.contains(&"Host: pms.example:8080"), "{lines:#?}");
    assert!(lines.contains(&"X-Api-KEY: k"), "{lines:#?}");
    assert!(
        lines.contains(&"Proxy-Authorization: Basic dXNlcjpzZWNyZXQ="),
        "{lines:#?}"
    );

    let outcome = post(&client, "https://pms.example/hook", json!({})).await;
    assert_eq!(outcome.status, None);
    assert_eq!(
        outcome.error.as_deref(),
        Some("connection failed: proxy: CONNECT answered 403")
    );
    let tunnel = &proxy.requests()[1];
    assert_eq!(tunnel.request_line(), "CONNECT pms.example:443 HTTP/1.1");
    assert!(
        !tunnel.head.contains("Proxy-Authorization"),
        "HTTPS_PROXY has no credentials"
    );

    // NO_PROXY: straight to the host (here: a name that does not resolve).
    let outcome = post(&client, "http://direct.example/hook", json!({})).await;
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("connection failed") && !e.contains("proxy")),
        "{outcome:?}"
    );
    assert_eq!(proxy.requests().len(), 2);
}
