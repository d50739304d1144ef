//! The OTAs: which of them have messaging, and how their names map to thread providers.

/// A messaging provider, as written in `message_thread.provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    BookingCom,
    AirBnb,
}

impl Provider {
    /// The provider of a booking's OTA name; `None` for OTAs without messaging.
    pub fn for_ota(ota_name: &str) -> Option<Self> {
        let normalized: String = ota_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match normalized.as_str() {
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
    fn wire_names_round_trip() {
        for p in [Provider::BookingCom, Provider::AirBnb] {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
            assert_eq!(Provider::for_ota(p.ota_name()), Some(p));
        }
        assert!(Provider::BookingCom.supports_no_reply_needed());
        assert!(!Provider::AirBnb.supports_no_reply_needed());
    }
}
