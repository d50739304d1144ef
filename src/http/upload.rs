//! Attachments in JSON bodies: `{"file": base64, "file_name", "file_type"}` (§7.4).

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

use super::fields::{BLANK, Fields, INVALID};

pub const TOO_LARGE: &str = "is too large";
const MAX_FILE_NAME_BYTES: usize = 255;
const MAX_FILE_TYPE_CHARS: usize = 255;

/// Standard base64, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A decoded attachment, valid in every part.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file_name: String,
    pub file_type: String,
    pub data: Vec<u8>,
}

/// Reads an attachment object; errors land on `file`, `file_name` and `file_type`.
pub fn read(fields: &mut Fields, max_bytes: usize) -> Option<Upload> {
    let data = read_file(fields, max_bytes);
    let file_name = fields.required_string("file_name", MAX_FILE_NAME_BYTES);
    let file_name = file_name.filter(|name| {
        let ok = is_safe_file_name(name);
        if !ok {
            fields.error("file_name", INVALID);
        }
        ok
    });
    let file_type = fields.required_string("file_type", MAX_FILE_TYPE_CHARS);
    let file_type = file_type.filter(|t| {
        let ok = is_mime_type(t);
        if !ok {
            fields.error("file_type", INVALID);
        }
        ok
    });
    Some(Upload {
        file_name: file_name?,
        file_type: file_type?,
        data: data?,
    })
}

fn read_file(fields: &mut Fields, max_bytes: usize) -> Option<Vec<u8>> {
    let encoded = match fields.value("file") {
        None => {
            fields.error("file", BLANK);
            return None;
        }
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => {
            fields.error("file", INVALID);
            return None;
        }
    };
    // Refuse before decoding: 4 base64 characters carry 3 bytes.
    let max_encoded = max_bytes.div_ceil(3).saturating_mul(4);
    let compact: Vec<u8> = encoded
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if compact.len() > max_encoded {
        fields.error("file", TOO_LARGE);
        return None;
    }
    match decode_base64(&compact) {
        Some(data) if data.is_empty() => {
            fields.error("file", BLANK);
            None
        }
        Some(data) if data.len() > max_bytes => {
            fields.error("file", TOO_LARGE);
            None
        }
        Some(data) => Some(data),
        None => {
            fields.error("file", INVALID);
            None
        }
    }
}

/// Standard base64 (padding optional; line breaks and spaces skipped), or URL-safe base64.
pub fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    BASE64
        .decode(input)
        .ok()
        .or_else(|| general_purpose::URL_SAFE_NO_PAD.decode(input).ok())
}

/// A file name that cannot escape a directory or break a header: no path separators, no control
/// characters, at most 255 bytes, not `.` or `..`.
pub fn is_safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_BYTES
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// `type/subtype` with RFC 7230 token characters, optionally followed by `; name=value` parameters.
pub fn is_mime_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    is_token(kind)
        && is_token(subtype)
        && parts.all(|param| {
            param.trim().split_once('=').is_some_and(|(name, value)| {
                is_token(name.trim()) && {
                    let value = value.trim();
                    is_token(value)
                        || (value.len() >= 2
                            && value.starts_with('"')
                            && value.ends_with('"')
                            && !value[1..value.len() - 1]
                                .chars()
                                .any(|c| c == '"' || c.is_control()))
                }
            })
        })
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn fields(value: Value) -> Fields {
        Fields::new(value.as_object().cloned().unwrap())
    }

    #[test]
    fn base64_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        let encoded = general_purpose::STANDARD.encode(&all);
        assert_eq!(decode_base64(encoded.as_bytes()).unwrap(), all);
        let unpadded = encoded.trim_end_matches('=');
        assert_eq!(decode_base64(unpadded.as_bytes()).unwrap(), all);
        let url_safe = general_purpose::URL_SAFE_NO_PAD.encode(&all);
        assert_eq!(decode_base64(url_safe.as_bytes()).unwrap(), all);
        assert!(decode_base64(b"not base64!").is_none());
        assert!(decode_base64(b"abcde").is_none());
    }

    #[test]
    fn line_wrapped_base64_is_accepted() {
        let data = vec![0xffu8; 200];
        let wrapped: String = general_purpose::STANDARD
            .encode(&data)
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        let mut f = fields(
            json!({"file": wrapped, "file_name": "a.bin", "file_type": "application/octet-stream"}),
        );
        assert_eq!(read(&mut f, 1000).unwrap().data, data);
    }

    #[test]
    fn file_names_cannot_carry_paths_or_control_characters() {
        for ok in [
            "photo.jpeg",
            "Rechnung März 2024.pdf",
            "a b (1).png",
            "😀.txt",
            ".hidden",
        ] {
            assert!(is_safe_file_name(ok), "{ok}");
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b",
            "a\\b",
            "a\nb",
            "a\u{0}b",
            "a\rb",
            long.as_str(),
        ] {
            assert!(!is_safe_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn mime_types_are_checked_for_syntax() {
        for ok in [
            "image/jpeg",
            "application/pdf",
            "text/plain; charset=utf-8",
            "application/vnd.ms-excel",
            "multipart/x; a=\"b c\"",
        ] {
            assert!(is_mime_type(ok), "{ok}");
        }
        for bad in [
            "",
            "image",
            "image/",
            "/jpeg",
            "image/jp eg",
            "image/jpeg; charset",
            "text/plain; a=\"b",
            "ima\u{0}ge/x",
        ] {
            assert!(!is_mime_type(bad), "{bad:?}");
        }
    }

    #[test]
    fn oversized_and_empty_files_are_refused_on_file() {
        let mut f = fields(
            json!({"file": general_purpose::STANDARD.encode([1u8; 11]), "file_name": "a", "file_type": "a/b"}),
        );
        assert!(read(&mut f, 10).is_none());
        let err = f.finish().unwrap_err().body();
        assert_eq!(err["errors"]["details"], json!({"file": [TOO_LARGE]}));

        let mut f = fields(json!({"file": "", "file_name": "a", "file_type": "a/b"}));
        assert!(read(&mut f, 10).is_none());
        assert_eq!(
            f.finish().unwrap_err().body()["errors"]["details"],
            json!({"file": [BLANK]})
        );
    }

    #[test]
    fn exactly_the_limit_is_accepted() {
        let mut f = fields(
            json!({"file": general_purpose::STANDARD.encode([7u8; 10]), "file_name": "a", "file_type": "a/b"}),
        );
        assert_eq!(read(&mut f, 10).unwrap().data.len(), 10);
    }
}
