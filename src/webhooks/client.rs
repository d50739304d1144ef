//! The outbound side: one POST to a callback, with the webhook's query parameters and headers
//! (their names exactly as written), our delivery id and signature, a total timeout and a
//! bounded read of the answer. The HTTP itself is [`super::http1`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use uuid::Uuid;

use super::http1::{Http1, Proxies};
use super::signing;

/// `X-Ota-Inbox-Delivery`: the delivery's id, the same on every attempt.
pub const DELIVERY_HEADER: &str = "X-Ota-Inbox-Delivery";
/// `X-Ota-Inbox-Signature`: see [`signing`].
pub const SIGNATURE_HEADER: &str = "X-Ota-Inbox-Signature";
/// The most of a callback's answer that is read; the rest is dropped unread.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Longest error text kept for an attempt.
const MAX_ERROR_CHARS: usize = 500;
const USER_AGENT: &str = concat!("ota-inbox-webhooks/", env!("CARGO_PKG_VERSION"));

/// An HTTP client for callbacks: connections are kept and reused, redirects are not followed
/// (a 3xx is an answer like any other), every request ends within `timeout`.
#[derive(Debug, Clone)]
pub struct Outbound {
    http: Arc<Http1>,
    timeout: Duration,
}

/// One request to a callback.
pub struct Callback<'a> {
    pub url: &'a str,
    /// `request_params`: appended to the URL's query.
    pub request_params: &'a Value,
    /// `headers`: sent as they are, names in the case they were written in (they were checked
    /// when the webhook was written).
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
    /// A client that honours `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`.
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        Self::with_proxies(timeout, Proxies::from_env())
    }

    /// A client with these proxies.
    pub fn with_proxies(timeout: Duration, proxies: Proxies) -> anyhow::Result<Self> {
        Ok(Self {
            http: Arc::new(Http1::new(proxies)?),
            timeout,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs the body; never fails: every problem is an [`Outcome`] without a status.
    pub async fn post(&self, callback: &Callback<'_>) -> Outcome {
        let started = Instant::now();
        let failed = |error: String| Outcome {
            status: None,
            body: Vec::new(),
            error: Some(error.chars().take(MAX_ERROR_CHARS).collect()),
            duration: started.elapsed(),
        };
        let Some(url) = url_with_params(callback.url, callback.request_params) else {
            return failed("the callback URL is invalid".to_owned());
        };
        let custom = extra_headers(callback.headers);
        let has = |name: &str| custom.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        // The webhook's own `User-Agent` or `Accept` replaces ours.
        if !has("user-agent") {
            headers.push(("User-Agent".to_owned(), USER_AGENT.to_owned()));
        }
        if !has("accept") {
            headers.push(("Accept".to_owned(), "*/*".to_owned()));
        }
        // `https://user:password@pms.example/hook`: Basic authorization, as HTTP clients do,
        // unless the webhook sets its own `Authorization`.
        if !has("authorization")
            && let Some(credentials) = url_credentials(&url)
        {
            headers.push(("Authorization".to_owned(), credentials));
        }
        headers.push((DELIVERY_HEADER.to_owned(), callback.delivery_id.to_string()));
        if let Some(secret) = callback.signing_secret {
            let now = chrono::Utc::now().timestamp();
            if let Some(signature) = signing::signature(secret, now, callback.body) {
                headers.push((SIGNATURE_HEADER.to_owned(), signature));
            }
        }
        headers.extend(custom);
        let sent = tokio::time::timeout(
            self.timeout,
            self.http
                .post(&url, &headers, callback.body, MAX_RESPONSE_BYTES),
        )
        .await;
        match sent {
            Err(_) => failed(format!(
                "timed out after {}",
                humantime::format_duration(self.timeout)
            )),
            Ok(Err(failure)) => failed(failure.to_string()),
            Ok(Ok(answer)) => Outcome {
                status: Some(answer.status),
                body: answer.body,
                error: answer
                    .body_error
                    .map(|why| format!("reading the answer failed: {why}"))
                    .map(|e| e.chars().take(MAX_ERROR_CHARS).collect()),
                duration: started.elapsed(),
            },
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

/// `Basic <base64 user:password>` of a URL that carries credentials (percent-decoded).
fn url_credentials(url: &reqwest::Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let pair = format!(
        "{}:{}",
        decode(url.username()),
        decode(url.password().unwrap_or_default())
    );
    Some(format!("Basic {}", STANDARD.encode(pair)))
}

/// The webhook's own headers, names as written; entries that are not valid HTTP are skipped
/// (they were checked when the webhook was written, so none should be).
fn extra_headers(headers: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(headers) = headers.as_object() {
        for (name, value) in headers {
            let value = scalar_text(value);
            let valid = HeaderName::from_bytes(name.as_bytes()).is_ok()
                && HeaderValue::from_str(&value).is_ok();
            if valid {
                out.push((name.clone(), value));
            }
        }
    }
    out
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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
    fn invalid_header_entries_are_skipped_and_names_keep_their_case() {
        let headers = extra_headers(&json!({"X-Token": "abc", "bad name": "x", "X-Bad": "a\nb"}));
        assert_eq!(headers, vec![("X-Token".to_owned(), "abc".to_owned())]);
    }
}
