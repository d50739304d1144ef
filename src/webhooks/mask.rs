//! `event_mask`: `*` or event names separated by `;` (commas accepted too).

use crate::db::events;

/// Every event a webhook can subscribe to.
pub const EVENTS: [&str; 3] = [events::MESSAGE, events::INQUIRY, events::BOOKING_ASSIGNED];

/// Why a mask was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskError {
    Blank,
    Unknown,
}

/// The names of a mask, trimmed and without duplicates: `["*"]` or known event names.
pub fn parse(mask: &str) -> Result<Vec<String>, MaskError> {
    let mut names: Vec<String> = Vec::new();
    for name in mask
        .split([';', ','])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if name != "*" && !EVENTS.contains(&name) {
            return Err(MaskError::Unknown);
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_accept_a_star_or_known_names_split_on_semicolons_or_commas() {
        let cases: [(&str, Result<Vec<&str>, MaskError>); 10] = [
            ("*", Ok(vec!["*"])),
            (" * ", Ok(vec!["*"])),
            ("message", Ok(vec!["message"])),
            ("message;inquiry", Ok(vec!["message", "inquiry"])),
            (
                "message, message_thread_booking_assigned;",
                Ok(vec!["message", "message_thread_booking_assigned"]),
            ),
            ("message;message", Ok(vec!["message"])),
            ("message;*", Ok(vec!["*"])),
            ("", Err(MaskError::Blank)),
            (" ; , ", Err(MaskError::Blank)),
            ("message;booking", Err(MaskError::Unknown)),
        ];
        for (mask, expected) in cases {
            let expected = expected.map(|v| v.into_iter().map(str::to_owned).collect::<Vec<_>>());
            assert_eq!(parse(mask), expected, "{mask:?}");
        }
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_eq!(parse("Message"), Err(MaskError::Unknown));
    }
}
