//! The outbound side: one POST to a callback, with the webhook's query parameters and headers,
//! our delivery id and signature, a total timeout and a bounded read of the answer.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use uuid::Uuid;

use super::signing;

/// `X-Ota-Inbox-Delivery`: the delivery's id, the same on every attempt.
pub const DELIVERY_HEADER: &str = "x-ota-inbox-delivery";
/// `X-Ota-Inbox-Signature`: see [`signing`].
pub const SIGNATURE_HEADER: &str = "x-ota-inbox-signature";
/// The most of a callback's answer that is read; the rest is dropped unread.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Longest error text kept for an attempt.
const MAX_ERROR_CHARS: usize = 500;

/// An HTTP client for callbacks: connections are kept and reused, redirects are not followed
/// (a 3xx is an answer like any other), every request ends within `timeout`.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    timeout: Duration,
}

/// One request to a callback.
pub struct Callback<'a> {
    pub url: &'a str,
    /// `request_params`: appended to the URL's query.
    pub request_params: &'a Value,
    /// `headers`: sent as they are (names were checked when the webhook was written).
    pub headers: &'a Value,
    pub delivery_id: Uuid,
    pub signing_secret: Option<&'a str>,
    pub body: &'a [u8],
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The answer's status; `None` when there was no answer (timeout, connection error).
    pub status: Option<u16>,
    /// At most [`MAX_RESPONSE_BYTES`] of the answer's body.
    pub body: Vec<u8>,
    /// Why there was no (complete) answer.
    pub error: Option<String>,
    pub duration: Duration,
}

/// What an outcome means for the delivery (§10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx answer.
    Delivered,
    /// A 5xx answer, a timeout or a connection error: try again later.
    Retry,
    /// Any other answer ends the delivery.
    Failed,
}

impl Outcome {
    pub fn verdict(&self) -> Verdict {
        match self.status {
            Some(status) if (200..300).contains(&status) => Verdict::Delivered,
            Some(status) if (500..600).contains(&status) => Verdict::Retry,
            Some(_) => Verdict::Failed,
            None => Verdict::Retry,
        }
    }
}

impl Outbound {
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ota-inbox-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self { client, timeout })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs the body; never fails: every problem is an [`Outcome`] without a status.
    pub async fn post(&self, callback: &Callback<'_>) -> Outcome {
        let started = Instant::now();
        let url = match url_with_params(callback.url, callback.request_params) {
            Some(url) => url,
            None => {
                return Outcome {
                    status: None,
                    body: Vec::new(),
                    error: Some("the callback URL is invalid".to_owned()),
                    duration: started.elapsed(),
                };
            }
        };
        let mut headers = extra_headers(callback.headers);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(value) = HeaderValue::from_str(&callback.delivery_id.to_string()) {
            headers.insert(DELIVERY_HEADER, value);
        }
        if let Some(secret) = callback.signing_secret {
            let now = chrono::Utc::now().timestamp();
            let signature = signing::signature(secret, now, callback.body);
            if let Some(value) = signature.and_then(|s| HeaderValue::from_str(&s).ok()) {
                headers.insert(SIGNATURE_HEADER, value);
            }
        }
        let sent = self
            .client
            .post(url)
            .headers(headers)
            .body(callback.body.to_vec())
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => {
                return Outcome {
                    status: None,
                    body: Vec::new(),
                    error: Some(describe(&err, self.timeout)),
                    duration: started.elapsed(),
                };
            }
        };
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BYTES - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if body.len() >= MAX_RESPONSE_BYTES {
                        // The rest is not read: dropping the response closes the connection.
                        break;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    error = Some(describe(&err, self.timeout));
                    break;
                }
            }
        }
        Outcome {
            status: Some(status),
            body,
            error,
            duration: started.elapsed(),
        }
    }
}

/// The callback URL with `request_params` appended to its query. A URL with control characters
/// (stored before they were refused) is not called: parsing would drop them and call another URL.
fn url_with_params(callback_url: &str, params: &Value) -> Option<reqwest::Url> {
    if callback_url.chars().any(char::is_control) {
        return None;
    }
    let mut url = reqwest::Url::parse(callback_url).ok()?;
    if let Some(params) = params.as_object().filter(|p| !p.is_empty()) {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, &scalar_text(value));
        }
    }
    Some(url)
}

/// The webhook's own headers; entries that are not valid HTTP are skipped (they were checked
/// when the webhook was written, so none should be).
fn extra_headers(headers: &Value) -> HeaderMap {
    let mut map = HeaderMap::new();
    if let Some(headers) = headers.as_object() {
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes());
            let value = HeaderValue::from_str(&scalar_text(value));
            if let (Ok(name), Ok(value)) = (name, value) {
                map.append(name, value);
            }
        }
    }
    map
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A short description of a failed request, without its URL (which may carry secrets in
/// `request_params`).
fn describe(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("timed out after {}", humantime::format_duration(timeout));
    }
    let mut text = if err.is_connect() {
        "connection failed".to_owned()
    } else if err.is_body() || err.is_decode() {
        "reading the answer failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    // The causes below reqwest's own error: hyper's and the operating system's words.
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome(status: Option<u16>) -> Outcome {
        Outcome {
            status,
            body: Vec::new(),
            error: None,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn only_2xx_delivers_and_only_5xx_or_no_answer_retries() {
        let cases = [
            (Some(200), Verdict::Delivered),
            (Some(204), Verdict::Delivered),
            (Some(299), Verdict::Delivered),
            (Some(301), Verdict::Failed),
            (Some(400), Verdict::Failed),
            (Some(404), Verdict::Failed),
            (Some(429), Verdict::Failed),
            (Some(500), Verdict::Retry),
            (Some(503), Verdict::Retry),
            (Some(599), Verdict::Retry),
            (None, Verdict::Retry),
        ];
        for (status, verdict) in cases {
            assert_eq!(outcome(status).verdict(), verdict, "{status:?}");
        }
    }

    #[test]
    fn request_params_join_the_urls_own_query() {
        let url = url_with_params(
            "https://pms.example/hook?a=1",
            &json!({"token": "s3cr&t", "n": 5}),
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://pms.example/hook?a=1&n=5&token=s3cr%26t"
        );
        let plain = url_with_params("http://pms.example/hook", &json!({})).unwrap();
        assert_eq!(plain.as_str(), "http://pms.example/hook");
        assert!(url_with_params("http://pms.example/ho\nok", &json!({})).is_none());
    }

    #[test]
    fn invalid_header_entries_are_skipped() {
        let map = extra_headers(&json!({"X-Token": "abc", "bad name": "x", "X-Bad": "a\nb"}));
        assert_eq!(map.len(), 1);
        assert_eq!(map["x-token"], "abc");
    }
}
