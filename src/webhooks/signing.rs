//! `X-Ota-Inbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` (§10).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's value for a body sent at `timestamp` (unix seconds). HMAC takes keys of any
/// length, so this is always `Some`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Checked with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_0123456789abcdef'
        assert_eq!(
            signature("whsec_0123456789abcdef", 1_700_000_000, br#"{"a":1}"#).unwrap(),
            "t=1700000000,v1=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2"
        );
    }

    #[test]
    fn the_signature_changes_with_secret_time_and_body() {
        let sign = |secret: &str, t: i64, body: &[u8]| signature(secret, t, body).unwrap();
        let base = sign("secret-secret-secret", 1, b"body");
        assert_ne!(base, sign("secret-secret-secreT", 1, b"body"));
        assert_ne!(base, sign("secret-secret-secret", 2, b"body"));
        assert_ne!(base, sign("secret-secret-secret", 1, b"bodY"));
    }
}
