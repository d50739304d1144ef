//! The write model of `{"webhook": {...}}` (§10): each field read and checked, the errors
//! collected into one 422. Creates need `callback_url` and `event_mask`; updates take any
//! subset; the test call needs `callback_url` only.

use std::collections::HashSet;

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::mask::{self, MaskError};
use crate::db::webhooks::{SigningSecret, WebhookWrite};
use crate::error::ApiError;
use crate::http::fields::{BLANK, Fields, INVALID, TOO_LONG};

pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_MASK_CHARS: usize = 1000;
pub const MAX_ENTRIES: usize = 32;
pub const MAX_HEADER_VALUE_CHARS: usize = 4096;
pub const MAX_PARAM_CHARS: usize = 2048;
pub const MIN_SECRET_CHARS: usize = 16;
pub const MAX_SECRET_CHARS: usize = 255;
pub const TOO_SHORT: &str = "is too short (minimum is 16 characters)";

/// Headers a webhook may not set: HTTP framing, and ours.
const RESERVED_HEADERS: [&str; 10] = [
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
];
const OWN_HEADER_PREFIX: &str = "x-ota-inbox-";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
    Test,
}

/// The fields a body carried. `Some(None)` is an explicit `null`.
#[derive(Debug, Default)]
pub struct WebhookPatch {
    pub callback_url: Option<String>,
    pub event_mask: Option<(String, Vec<String>)>,
    pub property_id: Option<Option<Uuid>>,
    pub headers: Option<Value>,
    pub request_params: Option<Value>,
    pub is_active: Option<bool>,
    pub send_data: Option<bool>,
    pub is_global: Option<bool>,
    pub protected: Option<bool>,
    pub signing_secret: Option<Option<SigningSecret>>,
}

/// Reads `{"webhook": {...}}`; the field errors stay in the answered [`Fields`], so the caller
/// can run its access gates before answering 422 (§3).
pub fn read(body: Map<String, Value>, mode: Mode) -> Result<(WebhookPatch, Fields), ApiError> {
    let nulls: HashSet<String> = match body.get("webhook") {
        Some(Value::Object(map)) => map
            .iter()
            .filter(|(_, v)| v.is_null())
            .map(|(k, _)| k.clone())
            .collect(),
        _ => HashSet::new(),
    };
    let mut f = Fields::envelope(body, "webhook")?;
    let mut patch = WebhookPatch::default();

    match f.string("callback_url", MAX_URL_CHARS) {
        Some(url) if url.trim().is_empty() => f.error("callback_url", BLANK),
        Some(url) if !is_callback_url(&url) => f.error("callback_url", INVALID),
        Some(url) => patch.callback_url = Some(url),
        None if f.has_error("callback_url") => {}
        None if mode != Mode::Update || nulls.contains("callback_url") => {
            f.error("callback_url", BLANK)
        }
        None => {}
    }

    match f.string("event_mask", MAX_MASK_CHARS) {
        Some(raw) => match mask::parse(&raw) {
            // Kept exactly as written: it round-trips to the client unchanged.
            Ok(names) => patch.event_mask = Some((raw, names)),
            Err(MaskError::Blank) => f.error("event_mask", BLANK),
            Err(MaskError::Unknown) => f.error("event_mask", INVALID),
        },
        None if f.has_error("event_mask") => {}
        None if mode == Mode::Create || nulls.contains("event_mask") => {
            f.error("event_mask", BLANK)
        }
        None => {}
    }

    if nulls.contains("property_id") {
        patch.property_id = Some(None);
    } else if let Some(id) = f.uuid("property_id") {
        patch.property_id = Some(Some(id));
    }

    patch.headers = read_map(&mut f, &nulls, "headers", header_entry);
    patch.request_params = read_map(&mut f, &nulls, "request_params", param_entry);

    patch.is_active = f.bool("is_active");
    patch.send_data = f.bool("send_data");
    patch.is_global = f.bool("is_global");
    patch.protected = f.bool("protected");

    if nulls.contains("signing_secret") {
        patch.signing_secret = Some(None);
    } else if let Some(secret) = f.string("signing_secret", MAX_SECRET_CHARS) {
        if secret.chars().count() < MIN_SECRET_CHARS {
            f.error("signing_secret", TOO_SHORT);
        } else {
            patch.signing_secret = Some(Some(SigningSecret(secret)));
        }
    }
    Ok((patch, f))
}

/// The overrides a test call of a stored webhook may carry: `callback_url`, `headers` and
/// `request_params` of `{"webhook": {...}}`; other fields (and a missing envelope) are ignored.
pub fn read_test_overrides(mut body: Map<String, Value>) -> Result<WebhookPatch, ApiError> {
    let wanted = ["callback_url", "headers", "request_params"];
    let webhook = match body.remove("webhook") {
        None | Some(Value::Null) => return Ok(WebhookPatch::default()),
        Some(Value::Object(map)) => map
            .into_iter()
            .filter(|(k, _)| wanted.contains(&k.as_str()))
            .collect::<Map<String, Value>>(),
        Some(_) => return Err(ApiError::invalid("webhook", INVALID)),
    };
    let mut envelope = Map::new();
    envelope.insert("webhook".to_owned(), Value::Object(webhook));
    let (patch, f) = read(envelope, Mode::Update)?;
    f.finish()?;
    Ok(patch)
}

/// `headers` or `request_params`: an object of at most [`MAX_ENTRIES`] scalar members, each
/// checked by `entry`; `null` is an empty object. Answers the object with string values.
fn read_map(
    f: &mut Fields,
    nulls: &HashSet<String>,
    field: &str,
    entry: fn(&str, &str) -> bool,
) -> Option<Value> {
    if nulls.contains(field) {
        return Some(Value::Object(Map::new()));
    }
    let object = match f.value(field) {
        None => return None,
        Some(Value::Object(object)) => object.clone(),
        Some(_) => {
            f.error(field, INVALID);
            return None;
        }
    };
    if object.len() > MAX_ENTRIES {
        f.error(field, TOO_LONG);
        return None;
    }
    let mut out = Map::new();
    for (name, value) in object {
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                f.error(field, INVALID);
                return None;
            }
        };
        if !entry(&name, &text) {
            f.error(field, INVALID);
            return None;
        }
        out.insert(name, Value::String(text));
    }
    Some(Value::Object(out))
}

fn header_entry(name: &str, value: &str) -> bool {
    let Ok(parsed) = HeaderName::from_bytes(name.as_bytes()) else {
        return false;
    };
    let lower = parsed.as_str();
    !RESERVED_HEADERS.contains(&lower)
        && !lower.starts_with(OWN_HEADER_PREFIX)
        && value.chars().count() <= MAX_HEADER_VALUE_CHARS
        && HeaderValue::from_str(value).is_ok()
}

fn param_entry(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 255
        && !name.contains('\0')
        && value.chars().count() <= MAX_PARAM_CHARS
        && !value.contains('\0')
}

/// An absolute `http` or `https` URL with a host, exactly as written: control characters
/// (CR, LF, TAB, any C0 or C1 character, DEL) are refused, not dropped as URL parsers do, so the
/// URL stored is the URL called.
pub fn is_callback_url(raw: &str) -> bool {
    if raw.trim() != raw || raw.chars().any(char::is_control) {
        return false;
    }
    match reqwest::Url::parse(raw) {
        Ok(url) => {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty())
        }
        Err(_) => false,
    }
}

impl WebhookPatch {
    /// The state of a new webhook: the defaults of §10 and what the body says.
    pub fn into_new(self) -> WebhookWrite {
        let (event_mask, event_names) = self.event_mask.unwrap_or_default();
        WebhookWrite {
            property_id: self.property_id.flatten(),
            callback_url: self.callback_url.unwrap_or_default(),
            event_mask,
            event_names,
            headers: self.headers.unwrap_or_else(|| Value::Object(Map::new())),
            request_params: self
                .request_params
                .unwrap_or_else(|| Value::Object(Map::new())),
            is_active: self.is_active.unwrap_or(false),
            send_data: self.send_data.unwrap_or(false),
            is_global: self.is_global.unwrap_or(false),
            protected: self.protected.unwrap_or(false),
            signing_secret: self.signing_secret.flatten(),
        }
    }

    /// An existing webhook with the body's fields applied.
    pub fn apply_to(self, mut w: WebhookWrite) -> WebhookWrite {
        if let Some(url) = self.callback_url {
            w.callback_url = url;
        }
        if let Some((mask, names)) = self.event_mask {
            w.event_mask = mask;
            w.event_names = names;
        }
        if let Some(property_id) = self.property_id {
            w.property_id = property_id;
        }
        if let Some(headers) = self.headers {
            w.headers = headers;
        }
        if let Some(params) = self.request_params {
            w.request_params = params;
        }
        w.is_active = self.is_active.unwrap_or(w.is_active);
        w.send_data = self.send_data.unwrap_or(w.send_data);
        w.is_global = self.is_global.unwrap_or(w.is_global);
        w.protected = self.protected.unwrap_or(w.protected);
        if let Some(secret) = self.signing_secret {
            w.signing_secret = secret;
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn details(result: Result<(WebhookPatch, Fields), ApiError>) -> Value {
        let err = match result {
            Ok((_, f)) => match f.finish() {
                Ok(()) => return Value::Null,
                Err(e) => e,
            },
            Err(e) => e,
        };
        err.body()["errors"]["details"].clone()
    }

    #[test]
    fn callback_urls_must_be_absolute_http_or_https() {
        for ok in [
            "http://pms.example/hook",
            "https://pms.example:8443/a/b?x=1",
            "http://127.0.0.1:9000/",
            "http://receiver/hook",
        ] {
            assert!(is_callback_url(ok), "{ok}");
        }
        for bad in [
            "",
            "pms.example/hook",
            "/hook",
            "ftp://pms.example/",
            "javascript:alert(1)",
            "mailto:a@b.c",
            "http://",
            " http://pms.example/",
            "file:///etc/passwd",
        ] {
            assert!(!is_callback_url(bad), "{bad}");
        }
        for bad in [
            "http://pms.example/ho\r\nok",
            "http://pms.example/ho\nok",
            "http://pms.example/ho\tok",
            "http://pms.\texample/",
            "http://pms.example/\u{7f}",
            "http://pms.example/\u{0}",
            "http://pms.example/\u{1b}",
            "http://pms.example/\u{85}",
        ] {
            assert!(!is_callback_url(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_create_needs_a_callback_url_and_an_event_mask() {
        let d = details(read(body(json!({"webhook": {}})), Mode::Create));
        assert_eq!(d, json!({"callback_url": [BLANK], "event_mask": [BLANK]}));
        let d = details(read(body(json!({"webhook": {}})), Mode::Update));
        assert_eq!(d, Value::Null);
        let d = details(read(
            body(json!({"webhook": {"callback_url": "http://x/"}})),
            Mode::Test,
        ));
        assert_eq!(d, Value::Null);
    }

    #[test]
    fn every_field_is_checked_for_its_type() {
        let d = details(read(
            body(json!({"webhook": {
                "callback_url": 5, "event_mask": "message;nope", "property_id": "x",
                "headers": [], "request_params": {"a": {"b": 1}}, "is_active": "yes",
                "send_data": 1, "is_global": "true", "protected": null, "signing_secret": "short"
            }})),
            Mode::Create,
        ));
        assert_eq!(
            d,
            json!({
                "callback_url": [INVALID], "event_mask": [INVALID], "property_id": [INVALID],
                "headers": [INVALID], "request_params": [INVALID], "is_active": [INVALID],
                "send_data": [INVALID], "is_global": [INVALID], "signing_secret": [TOO_SHORT]
            })
        );
    }

    #[test]
    fn headers_may_not_be_reserved_or_malformed() {
        for (headers, ok) in [
            (json!({"Authorization": "Bearer x", "X-Tenant": 5}), true),
            (json!({"Content-Type": "text/plain"}), false),
            (json!({"x-ota-inbox-signature": "forged"}), false),
            (json!({"Host": "evil"}), false),
            (json!({"bad name": "x"}), false),
            (json!({"X-A": "line\r\nbreak"}), false),
            (json!({"X-A": null}), false),
        ] {
            let result = read(body(json!({"webhook": {"headers": headers}})), Mode::Update);
            assert_eq!(details(result) == Value::Null, ok, "{headers}");
        }
        let many: Map<String, Value> = (0..=MAX_ENTRIES)
            .map(|i| (format!("X-{i}"), json!("v")))
            .collect();
        let d = details(read(
            body(json!({"webhook": {"headers": many}})),
            Mode::Update,
        ));
        assert_eq!(d, json!({"headers": [TOO_LONG]}));
    }

    #[test]
    fn scalar_values_are_kept_as_strings() {
        let (patch, f) = read(
            body(json!({"webhook": {"headers": {"X-N": 5}, "request_params": {"flag": true}}})),
            Mode::Update,
        )
        .unwrap();
        f.finish().unwrap();
        assert_eq!(patch.headers, Some(json!({"X-N": "5"})));
        assert_eq!(patch.request_params, Some(json!({"flag": "true"})));
    }

    #[test]
    fn nulls_clear_and_absent_fields_keep() {
        let (patch, _) = read(
            body(
                json!({"webhook": {"property_id": null, "signing_secret": null, "headers": null}}),
            ),
            Mode::Update,
        )
        .unwrap();
        let existing = WebhookWrite {
            property_id: Some(Uuid::new_v4()),
            callback_url: "http://a/".into(),
            event_mask: "*".into(),
            event_names: vec!["*".into()],
            headers: json!({"X-A": "1"}),
            request_params: json!({"p": "1"}),
            is_active: true,
            send_data: true,
            is_global: true,
            protected: false,
            signing_secret: Some(SigningSecret("0123456789abcdef".into())),
        };
        let merged = patch.apply_to(existing);
        assert_eq!(merged.property_id, None);
        assert_eq!(merged.signing_secret, None);
        assert_eq!(merged.headers, json!({}));
        assert_eq!(merged.request_params, json!({"p": "1"}));
        assert_eq!(merged.callback_url, "http://a/");
        assert!(merged.is_active && merged.send_data);
    }

    #[test]
    fn the_mask_is_kept_as_written_and_matched_as_parsed() {
        let (patch, _) = read(
            body(json!({"webhook": {"event_mask": " message, inquiry "}})),
            Mode::Update,
        )
        .unwrap();
        let (raw, names) = patch.event_mask.unwrap();
        assert_eq!(raw, " message, inquiry ");
        assert_eq!(names, vec!["message", "inquiry"]);
    }

    #[test]
    fn defaults_follow_the_contract() {
        let (patch, _) = read(
            body(json!({"webhook": {"callback_url": "http://a/", "event_mask": "*", "is_global": true}})),
            Mode::Create,
        )
        .unwrap();
        let new = patch.into_new();
        assert!(!new.is_active && !new.send_data && !new.protected && new.is_global);
        assert_eq!(new.headers, json!({}));
        assert_eq!(new.signing_secret, None);
    }
}
