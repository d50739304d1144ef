//! `event_mask` (§10): `*`, or event names separated by `;` (commas accepted too), any of the
//! documented Channex events, and ARI masks `ari:<restrictions>:<room_type_ids>:<rate_plan_ids>`
//! whose lists are comma-separated values or `*` (`ari:rate:*:96a44e07-…`).
//!
//! Every documented name is accepted so that a PMS can keep the one webhook it registers with
//! Channex; only `message`, `inquiry` and `message_thread_booking_assigned` are ever produced
//! here. ARI masks are checked and stored, and match nothing this server produces.

use crate::db::events;

/// Every event name Channex documents for webhooks.
pub const CHANNEX_EVENTS: [&str; 29] = [
    "ari",
    "booking",
    "booking_new",
    "booking_modification",
    "booking_cancellation",
    "booking_unmapped_room",
    "booking_unmapped_rate",
    "non_acked_booking",
    events::MESSAGE,
    "sync_error",
    "sync_warning",
    "rate_error",
    "reservation_request",
    "alteration_request",
    "accepted_reservation",
    "declined_reservation",
    events::INQUIRY,
    "review",
    "updated_review",
    "new_channel",
    "updated_channel",
    "disconnect_channel",
    "disconnected_channel",
    "disconnect_listing",
    "activate_channel",
    "deactivate_channel",
    "channel_removal_warning",
    "property_removal_warning",
    events::BOOKING_ASSIGNED,
];

/// The events this server produces.
pub const PRODUCED: [&str; 3] = [events::MESSAGE, events::INQUIRY, events::BOOKING_ASSIGNED];

/// The restrictions an ARI mask may name (Channex's ARI collection).
pub const ARI_RESTRICTIONS: [&str; 11] = [
    "availability",
    "rate",
    "min_stay_arrival",
    "min_stay_through",
    "min_stay",
    "closed_to_arrival",
    "closed_to_departure",
    "stop_sell",
    "max_stay",
    "availability_offset",
    "max_availability",
];

/// Why a mask was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskError {
    Blank,
    Unknown,
}

/// The names of a mask, without duplicates, for matching: `["*"]`, or event names and ARI
/// masks (kept whole, normalised without spaces: they never equal a produced event's name).
pub fn parse(mask: &str) -> Result<Vec<String>, MaskError> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = mask;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c == ',' || c.is_whitespace());
        if rest.is_empty() {
            break;
        }
        let name = if starts_ari_mask(rest) {
            let (ari, after) = ari_mask(rest)?;
            rest = after;
            ari
        } else {
            let end = rest.find([';', ',']).unwrap_or(rest.len());
            let name = rest[..end].trim();
            rest = &rest[end..];
            if name != "*" && !CHANNEX_EVENTS.contains(&name) {
                return Err(MaskError::Unknown);
            }
            name.to_owned()
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(MaskError::Blank);
    }
    if names.iter().any(|n| n == "*") {
        return Ok(vec!["*".to_owned()]);
    }
    Ok(names)
}

/// `ari:` (the event name, a colon, then its filters).
fn starts_ari_mask(text: &str) -> bool {
    text.strip_prefix("ari")
        .is_some_and(|after| after.trim_start().starts_with(':'))
}

/// Reads an ARI mask at the start of `text`: up to three colon-separated lists (restrictions,
/// room type ids, rate plan ids), each `*` or comma-separated values. A list ends at `;`, at
/// `:` or at a comma followed by something that is not one of its values, so that
/// `ari:rate,availability;message` and `ari:rate,message` both read as two entries.
/// Answers the mask without spaces and the text after it.
fn ari_mask(text: &str) -> Result<(String, &str), MaskError> {
    let mut rest = text
        .strip_prefix("ari")
        .map(str::trim_start)
        .and_then(|t| t.strip_prefix(':'))
        .ok_or(MaskError::Unknown)?;
    let mut lists: Vec<Vec<String>> = Vec::new();
    let kinds = [is_restriction as fn(&str) -> bool, is_uuid, is_uuid];
    for (i, accepts) in kinds.into_iter().enumerate() {
        let mut values: Vec<String> = Vec::new();
        let mut cursor = rest;
        loop {
            let end = cursor.find([';', ',', ':']).unwrap_or(cursor.len());
            let value = cursor[..end].trim();
            if !(value == "*" || accepts(value)) {
                // The first value of a list must fit; a later one that does not ends the list
                // (and the comma before it separates the next entry).
                if values.is_empty() {
                    return Err(MaskError::Unknown);
                }
                break;
            }
            values.push(value.to_owned());
            rest = &cursor[end..];
            match rest.strip_prefix(',') {
                Some(after) => cursor = after,
                None => break,
            }
        }
        if values.iter().any(|v| v == "*") && values.len() > 1 {
            return Err(MaskError::Unknown);
        }
        lists.push(values);
        // A `:` opens the next list; the rate-plan list is the last one.
        match rest.strip_prefix(':') {
            Some(after) if i < 2 => rest = after,
            Some(_) => return Err(MaskError::Unknown),
            None => break,
        }
    }
    // What follows the mask must separate it from the next entry.
    if !(rest.is_empty() || rest.starts_with(';') || rest.starts_with(',')) {
        return Err(MaskError::Unknown);
    }
    let lists: Vec<String> = lists.iter().map(|values| values.join(",")).collect();
    Ok((format!("ari:{}", lists.join(":")), rest))
}

fn is_restriction(value: &str) -> bool {
    ARI_RESTRICTIONS.contains(&value)
}

fn is_uuid(value: &str) -> bool {
    value.len() == 36 && uuid::Uuid::try_parse(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(mask: &str) -> Result<Vec<String>, MaskError> {
        parse(mask)
    }

    fn ok(v: &[&str]) -> Result<Vec<String>, MaskError> {
        Ok(v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn masks_accept_a_star_or_known_names_split_on_semicolons_or_commas() {
        let cases: [(&str, Result<Vec<String>, MaskError>); 12] = [
            ("*", ok(&["*"])),
            (" * ", ok(&["*"])),
            ("message", ok(&["message"])),
            ("message;inquiry", ok(&["message", "inquiry"])),
            (
                "message, message_thread_booking_assigned;",
                ok(&["message", "message_thread_booking_assigned"]),
            ),
            ("message;message", ok(&["message"])),
            ("message;*", ok(&["*"])),
            ("booking", ok(&["booking"])),
            (
                "booking_new;booking_modification;booking_cancellation;message",
                ok(&[
                    "booking_new",
                    "booking_modification",
                    "booking_cancellation",
                    "message",
                ]),
            ),
            ("", Err(MaskError::Blank)),
            (" ; , ", Err(MaskError::Blank)),
            ("message;bookings", Err(MaskError::Unknown)),
        ];
        for (mask, expected) in cases {
            assert_eq!(names(mask), expected, "{mask:?}");
        }
    }

    #[test]
    fn every_documented_event_is_accepted_alone_and_together() {
        for name in CHANNEX_EVENTS {
            assert_eq!(names(name), ok(&[name]), "{name}");
        }
        assert_eq!(
            names(&CHANNEX_EVENTS.join(";")).unwrap().len(),
            CHANNEX_EVENTS.len()
        );
        assert_eq!(
            names(&CHANNEX_EVENTS.join(",")).unwrap().len(),
            CHANNEX_EVENTS.len()
        );
        for produced in PRODUCED {
            assert!(CHANNEX_EVENTS.contains(&produced));
        }
    }

    #[test]
    fn ari_masks_are_checked_and_kept_whole() {
        let plan = "96a44e07-2158-43e4-8baa-8f6f56922ba8";
        let room = "994d1375-dbbd-4072-8724-b2ab32ce781b";
        let cases = [
            (
                format!("ari:rate:*:{plan}"),
                ok(&[&format!("ari:rate:*:{plan}")]),
            ),
            ("ari:*".to_owned(), ok(&["ari:*"])),
            (
                format!("ari:rate,availability:{room},{room}:*;message"),
                ok(&[&format!("ari:rate,availability:{room},{room}:*"), "message"]),
            ),
            ("ari:rate,message".to_owned(), ok(&["ari:rate", "message"])),
            (
                "message,ari : stop_sell , min_stay ; booking".to_owned(),
                ok(&["message", "ari:stop_sell,min_stay", "booking"]),
            ),
            ("ari".to_owned(), ok(&["ari"])),
        ];
        for (mask, expected) in cases {
            assert_eq!(names(&mask), expected, "{mask:?}");
        }
        for bad in [
            "ari:",
            "ari:price",
            "ari:rate:not-a-uuid",
            "ari:rate:*:*:*",
            "ari:rate,*",
            "ari:rate:*x",
            "ari:rate message",
            "arix:rate",
        ] {
            assert_eq!(names(bad), Err(MaskError::Unknown), "{bad:?}");
        }
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_eq!(parse("Message"), Err(MaskError::Unknown));
    }
}
