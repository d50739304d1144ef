//! The body of a delivery (§10): `{"event", "payload", "property_id", "user_id", "timestamp"}`,
//! `payload` left out when the webhook has `send_data: false`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::http::time;

#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    pub event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'a Value>,
    pub property_id: Option<Uuid>,
    pub user_id: Uuid,
    /// When the event happened, in UTC with a `Z` (`2021-12-24T00:00:00.000000Z`).
    #[serde(serialize_with = "time::serialize_z")]
    pub timestamp: DateTime<Utc>,
}

impl Envelope<'_> {
    /// The JSON bytes that are sent, and signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing string-keyed JSON values cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn the_envelope_has_the_contracts_keys_and_leaves_payload_out_without_data() {
        let at = Utc.with_ymd_and_hms(2021, 7, 27, 9, 43, 5).unwrap();
        let (property, user) = (Uuid::new_v4(), Uuid::new_v4());
        let payload = json!({"message": "hi"});
        let with = Envelope {
            event: "message",
            payload: Some(&payload),
            property_id: Some(property),
            user_id: user,
            timestamp: at,
        };
        let parsed: Value = serde_json::from_slice(&with.to_bytes()).unwrap();
        assert_eq!(
            parsed,
            json!({"event": "message", "payload": {"message": "hi"}, "property_id": property,
                   "user_id": user, "timestamp": "2021-07-27T09:43:05.000000Z"})
        );
        let without = Envelope {
            payload: None,
            ..with
        };
        let parsed: Value = serde_json::from_slice(&without.to_bytes()).unwrap();
        assert!(parsed.get("payload").is_none());
        assert_eq!(parsed.as_object().unwrap().len(), 4);
    }
}
