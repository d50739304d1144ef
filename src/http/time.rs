//! Timestamps on the wire: UTC, no zone suffix, exactly six fraction digits.

use chrono::{DateTime, Utc};
use serde::Serializer;

pub const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";
/// The webhook envelope's `timestamp` (§10): UTC said with a `Z`, as Channex's example.
pub const FORMAT_Z: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

pub fn format(ts: &DateTime<Utc>) -> String {
    ts.format(FORMAT).to_string()
}

/// `#[serde(serialize_with = "time::serialize")]`
pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&ts.format(FORMAT))
}

/// `#[serde(serialize_with = "time::serialize_z")]`: `2021-12-24T00:00:00.000000Z`.
pub fn serialize_z<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&ts.format(FORMAT_Z))
}

/// `#[serde(serialize_with = "time::serialize_opt")]`
pub fn serialize_opt<S: Serializer>(ts: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => serialize(ts, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_six_fraction_digits_and_no_zone() {
        let whole = Utc.with_ymd_and_hms(2021, 7, 28, 4, 25, 15).unwrap();
        assert_eq!(format(&whole), "2021-07-28T04:25:15.000000");
        let micros = whole + chrono::Duration::microseconds(864_520);
        assert_eq!(format(&micros), "2021-07-28T04:25:15.864520");
    }
}
