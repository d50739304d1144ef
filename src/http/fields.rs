//! Field-by-field validation of JSON bodies, collecting every error into one 422
//! `validation_error` whose `details` name the fields.

use chrono::NaiveDate;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{ApiError, FieldErrors};

pub const BLANK: &str = "can't be blank";
pub const INVALID: &str = "is invalid";
pub const TOO_LONG: &str = "is too long";

/// The members of one JSON object, read field by field.
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    errors: FieldErrors,
}

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            errors: FieldErrors::new(),
        }
    }

    /// The object under `key` of a body such as `{"property": {...}}`.
    pub fn envelope(mut body: Map<String, Value>, key: &str) -> Result<Self, ApiError> {
        match body.remove(key) {
            Some(Value::Object(map)) => Ok(Self::new(map)),
            None | Some(Value::Null) => Err(ApiError::invalid(key, BLANK)),
            Some(_) => Err(ApiError::invalid(key, INVALID)),
        }
    }

    pub fn error(&mut self, field: &str, message: &str) {
        let messages = self.errors.entry(field.to_owned()).or_default();
        if !messages.iter().any(|m| m == message) {
            messages.push(message.to_owned());
        }
    }

    pub fn has_error(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }

    /// The names of the fields that failed so far.
    pub fn error_fields(&self) -> impl Iterator<Item = &str> {
        self.errors.keys().map(String::as_str)
    }

    /// The raw member, `None` when absent or null.
    pub fn value(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    /// An optional string of at most `max_chars` characters, without NUL characters.
    pub fn string(&mut self, field: &str, max_chars: usize) -> Option<String> {
        match self.value(field) {
            None => None,
            Some(Value::String(s)) => {
                let s = s.clone();
                check_text(self, field, &s, max_chars).then_some(s)
            }
            Some(_) => {
                self.error(field, INVALID);
                None
            }
        }
    }

    /// A string that must be present and not blank.
    pub fn required_string(&mut self, field: &str, max_chars: usize) -> Option<String> {
        let value = self.string(field, max_chars);
        match value {
            Some(s) if !s.trim().is_empty() => Some(s),
            _ if self.has_error(field) => None,
            _ => {
                self.error(field, BLANK);
                None
            }
        }
    }

    pub fn uuid(&mut self, field: &str) -> Option<Uuid> {
        match self.value(field) {
            None => None,
            Some(Value::String(s)) => {
                let parsed = super::path::parse_uuid(s);
                if parsed.is_none() {
                    self.error(field, INVALID);
                }
                parsed
            }
            Some(_) => {
                self.error(field, INVALID);
                None
            }
        }
    }

    pub fn required_uuid(&mut self, field: &str) -> Option<Uuid> {
        let value = self.uuid(field);
        if value.is_none() && !self.has_error(field) {
            self.error(field, BLANK);
        }
        value
    }

    /// A date `YYYY-MM-DD`.
    pub fn date(&mut self, field: &str) -> Option<NaiveDate> {
        match self.value(field) {
            None => None,
            Some(Value::String(s)) => {
                let parsed = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .filter(|_| s.len() == 10);
                if parsed.is_none() {
                    self.error(field, INVALID);
                }
                parsed
            }
            Some(_) => {
                self.error(field, INVALID);
                None
            }
        }
    }

    pub fn required_date(&mut self, field: &str) -> Option<NaiveDate> {
        let value = self.date(field);
        if value.is_none() && !self.has_error(field) {
            self.error(field, BLANK);
        }
        value
    }

    pub fn bool(&mut self, field: &str) -> Option<bool> {
        match self.value(field) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(field, INVALID);
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub fn int(&mut self, field: &str, min: i64, max: i64) -> Option<i64> {
        match self.value(field) {
            None => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Some(i),
                _ => {
                    self.error(field, INVALID);
                    None
                }
            },
            Some(_) => {
                self.error(field, INVALID);
                None
            }
        }
    }

    /// A decimal amount given as a string or a number, rendered as a string with two decimals.
    pub fn amount(&mut self, field: &str) -> Option<String> {
        let text = match self.value(field) {
            None => return None,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => String::new(),
        };
        match text.parse::<f64>() {
            // `abs`: `-0` is in the range and would be written "-0.00".
            Ok(v) if v.is_finite() && (0.0..1e12).contains(&v) => Some(format!("{:.2}", v.abs())),
            _ => {
                self.error(field, INVALID);
                None
            }
        }
    }

    /// An optional list of at most `max_len` UUIDs; absent and null are both `None`.
    pub fn uuid_list(&mut self, field: &str, max_len: usize) -> Option<Vec<Uuid>> {
        match self.value(field) {
            None => None,
            Some(Value::Array(items)) if items.len() <= max_len => {
                let parsed: Option<Vec<Uuid>> = items
                    .iter()
                    .map(|item| item.as_str().and_then(super::path::parse_uuid))
                    .collect();
                if parsed.is_none() {
                    self.error(field, INVALID);
                }
                parsed
            }
            Some(Value::Array(_)) => {
                self.error(field, TOO_LONG);
                None
            }
            Some(_) => {
                self.error(field, INVALID);
                None
            }
        }
    }

    /// An optional nested object.
    pub fn object(&mut self, field: &str) -> Option<Fields> {
        match self.map.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(Fields::new(map.clone())),
            Some(_) => {
                self.error(field, INVALID);
                None
            }
        }
    }

    /// Moves a nested object's errors into this one as `parent.child`.
    pub fn absorb(&mut self, parent: &str, nested: Fields) {
        for (field, messages) in nested.errors {
            for message in messages {
                self.error(&format!("{parent}.{field}"), &message);
            }
        }
    }

    /// `Ok` when no field failed, else one 422 naming each failed field.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// Text PostgreSQL can store and the contract allows: no NUL, at most `max_chars` characters.
fn check_text(fields: &mut Fields, field: &str, s: &str, max_chars: usize) -> bool {
    if s.contains('\0') {
        fields.error(field, INVALID);
        false
    } else if s.chars().count() > max_chars {
        fields.error(field, TOO_LONG);
        false
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        match value {
            Value::Object(map) => Fields::new(map),
            _ => unreachable!(),
        }
    }

    fn details(f: Fields) -> Value {
        match f.finish() {
            Err(e) => e.body()["errors"]["details"].clone(),
            Ok(()) => Value::Null,
        }
    }

    #[test]
    fn strings_are_checked_for_type_blankness_length_and_nul() {
        let mut f = fields(json!({
            "ok": "Roxy", "number": 5, "object": {}, "blank": "  ", "long": "xxxx", "nul": "a\u{0}b"
        }));
        assert_eq!(f.required_string("ok", 10).as_deref(), Some("Roxy"));
        assert_eq!(f.required_string("number", 10), None);
        assert_eq!(f.required_string("object", 10), None);
        assert_eq!(f.required_string("blank", 10), None);
        assert_eq!(f.required_string("long", 3), None);
        assert_eq!(f.required_string("nul", 10), None);
        assert_eq!(f.required_string("missing", 10), None);
        assert_eq!(f.string("absent", 10), None);
        assert_eq!(
            details(f),
            json!({
                "number": [INVALID], "object": [INVALID], "blank": [BLANK], "long": [TOO_LONG],
                "nul": [INVALID], "missing": [BLANK]
            })
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let mut f = fields(json!({ "emoji": "😀😀😀" }));
        assert!(f.string("emoji", 3).is_some());
        assert!(f.finish().is_ok());
    }

    #[test]
    fn envelopes_must_be_objects() {
        let body = |v: Value| v.as_object().cloned().unwrap();
        assert!(Fields::envelope(body(json!({"user": {}})), "user").is_ok());
        let missing = Fields::envelope(body(json!({"other": {}})), "user").unwrap_err();
        assert_eq!(
            missing.body()["errors"]["details"],
            json!({"user": [BLANK]})
        );
        let wrong = Fields::envelope(body(json!({"user": "x"})), "user").unwrap_err();
        assert_eq!(
            wrong.body()["errors"]["details"],
            json!({"user": [INVALID]})
        );
    }

    #[test]
    fn uuids_dates_numbers_and_lists_are_parsed_strictly() {
        let mut f = fields(json!({
            "id": "5848b518-07a4-4c8c-a998-2784d638ba30", "bad_id": "5848", "num_id": 1,
            "date": "2024-02-29", "bad_date": "2023-02-29", "short_date": "2024-2-9",
            "n": 3, "big": 1000, "float": 1.5,
            "ids": ["5848b518-07a4-4c8c-a998-2784d638ba30"], "bad_ids": ["x"],
            "amount": "50", "bad_amount": "fifty", "neg_amount": -1, "neg_zero": "-0"
        }));
        assert!(f.required_uuid("id").is_some());
        assert!(f.required_uuid("bad_id").is_none());
        assert!(f.required_uuid("num_id").is_none());
        assert!(f.required_date("date").is_some());
        assert!(f.required_date("bad_date").is_none());
        assert!(f.required_date("short_date").is_none());
        assert_eq!(f.int("n", 0, 10), Some(3));
        assert_eq!(f.int("big", 0, 10), None);
        assert_eq!(f.int("float", 0, 10), None);
        assert_eq!(f.uuid_list("ids", 10).map(|v| v.len()), Some(1));
        assert_eq!(f.uuid_list("bad_ids", 10), None);
        assert_eq!(f.amount("amount").as_deref(), Some("50.00"));
        assert_eq!(f.amount("bad_amount"), None);
        assert_eq!(f.amount("neg_amount"), None);
        assert_eq!(f.amount("neg_zero").as_deref(), Some("0.00"));
        let d = details(f);
        for field in [
            "bad_id",
            "num_id",
            "bad_date",
            "short_date",
            "big",
            "float",
            "bad_ids",
            "bad_amount",
            "neg_amount",
        ] {
            assert_eq!(d[field], json!([INVALID]), "{field}");
        }
        assert_eq!(d.as_object().unwrap().len(), 9);
    }
}
