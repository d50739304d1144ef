//! The OTAs: which of them have messaging, how their names map to thread providers, and
//! identifiers shaped like theirs for what the admin API is not given.

use rand::Rng;
use serde_json::{Value, json};
use uuid::Uuid;

/// A messaging provider, as written in `message_thread.provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    BookingCom,
    AirBnb,
}

impl Provider {
    /// Every provider with messaging.
    pub const ALL: [Provider; 2] = [Provider::BookingCom, Provider::AirBnb];

    /// The OTA name without case or punctuation, as `bookings.ota_key` holds it: what
    /// [`Provider::for_ota`] reads.
    pub fn ota_key(self) -> String {
        normalize(self.ota_name())
    }

    /// The provider of a booking's OTA name; `None` for OTAs without messaging.
    pub fn for_ota(ota_name: &str) -> Option<Self> {
        match normalize(ota_name).as_str() {
            "bookingcom" => Some(Self::BookingCom),
            "airbnb" => Some(Self::AirBnb),
            _ => None,
        }
    }

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BookingCom => "BookingCom",
            Self::AirBnb => "AirBNB",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "BookingCom" => Some(Self::BookingCom),
            "AirBNB" => Some(Self::AirBnb),
            _ => None,
        }
    }

    /// The OTA (channel) name used for threads created without a booking.
    pub fn ota_name(self) -> &'static str {
        match self {
            Self::BookingCom => "BookingCom",
            Self::AirBnb => "Airbnb",
        }
    }

    /// `no_reply_needed` exists on Booking.com only.
    pub fn supports_no_reply_needed(self) -> bool {
        self == Self::BookingCom
    }

    /// A new conversation id as the OTA writes them: Booking.com's are UUIDs, Airbnb's
    /// message-thread ids are ten-digit numbers.
    pub fn new_thread_id(self) -> String {
        match self {
            Self::BookingCom => Uuid::new_v4().to_string(),
            Self::AirBnb => digits(10),
        }
    }

    /// A thread's `meta` (§6): Airbnb threads carry their listing and live-feed event ids,
    /// other threads `{}`.
    pub fn thread_meta(self, listing_id: &str, live_feed_event_id: Uuid) -> Value {
        match self {
            Self::BookingCom => json!({}),
            Self::AirBnb => json!({
                "listing_id": listing_id,
                "live_feed_event_id": live_feed_event_id,
            }),
        }
    }
}

/// An OTA name without case or punctuation (`Booking.com` → `bookingcom`).
fn normalize(ota_name: &str) -> String {
    ota_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A reservation code like the OTA's: Airbnb's are `HM` and eight capitals or digits
/// (`HM5MBZ1AVA`), Booking.com's (and the default) ten digits.
pub fn reservation_code(ota_name: &str) -> String {
    match Provider::for_ota(ota_name) {
        Some(Provider::AirBnb) => {
            const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
            let mut rng = rand::rng();
            let tail: String = (0..8)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect();
            format!("HM{tail}")
        }
        _ => digits(10),
    }
}

/// The Airbnb listing id of a property, when none is given: eleven digits derived from the
/// property's id, so that every thread of the property names the same listing.
pub fn listing_id_of(property_id: Uuid) -> String {
    let (high, _) = property_id.as_u64_pair();
    (10_000_000_000 + high % 90_000_000_000).to_string()
}

/// `n` random digits, the first not zero.
fn digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|i| {
            let low = if i == 0 { 1 } else { 0 };
            char::from(b'0' + rng.random_range(low..10u8))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_booking_com_and_airbnb_have_messaging() {
        for (name, expected) in [
            ("BookingCom", Some(Provider::BookingCom)),
            ("Booking.com", Some(Provider::BookingCom)),
            ("Airbnb", Some(Provider::AirBnb)),
            ("AirBNB", Some(Provider::AirBnb)),
            ("Expedia", None),
            ("Agoda", None),
            ("Offline", None),
            ("", None),
        ] {
            assert_eq!(Provider::for_ota(name), expected, "{name}");
        }
    }

    #[test]
    fn generated_ids_look_like_the_otas() {
        let airbnb = Provider::AirBnb.new_thread_id();
        assert_eq!(airbnb.len(), 10);
        assert!(airbnb.bytes().all(|b| b.is_ascii_digit()) && !airbnb.starts_with('0'));
        assert!(Uuid::try_parse(&Provider::BookingCom.new_thread_id()).is_ok());

        let code = reservation_code("Airbnb");
        assert!(code.starts_with("HM") && code.len() == 10, "{code}");
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        for ota in ["BookingCom", "Expedia"] {
            let code = reservation_code(ota);
            assert_eq!(code.len(), 10);
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }

        let property = Uuid::new_v4();
        let listing = listing_id_of(property);
        assert_eq!(listing.len(), 11);
        assert_eq!(listing, listing_id_of(property));
        assert_eq!(
            Provider::BookingCom.thread_meta(&listing, property),
            json!({})
        );
        assert_eq!(
            Provider::AirBnb.thread_meta(&listing, property),
            json!({"listing_id": listing, "live_feed_event_id": property})
        );
    }

    #[test]
    fn wire_names_round_trip() {
        for p in [Provider::BookingCom, Provider::AirBnb] {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
            assert_eq!(Provider::for_ota(p.ota_name()), Some(p));
        }
        for p in Provider::ALL {
            assert_eq!(Provider::for_ota(&p.ota_key()), Some(p));
        }
        assert!(Provider::BookingCom.supports_no_reply_needed());
        assert!(!Provider::AirBnb.supports_no_reply_needed());
    }
}
