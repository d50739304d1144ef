//! The write model of `POST /admin/bookings` (§9): every field read and checked, the errors
//! collected into one 422.

use chrono::NaiveDate;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::db::bookings::Customer;
use crate::error::ApiError;
use crate::http::fields::{BLANK, Fields, INVALID};
use crate::routes::admin::is_email;
use crate::routes::admin_messages::MAX_MESSAGE_CHARS;

/// Most guests of one kind a booking may hold.
const MAX_GUESTS: i64 = 100;

/// A booking as the OTA delivers it.
#[derive(Debug)]
pub struct BookingForm {
    pub property_id: Uuid,
    pub ota_name: String,
    pub ota_reservation_code: Option<String>,
    pub arrival_date: NaiveDate,
    pub departure_date: NaiveDate,
    pub customer: Customer,
    pub currency: Option<String>,
    pub amount: Option<String>,
    /// Adults, children, infants.
    pub occupancy: (i32, i32, i32),
    pub notes: Option<String>,
    pub ota_message_thread_id: Option<String>,
}

/// Reads `{"booking": {...}}`.
pub fn read(body: Map<String, Value>) -> Result<BookingForm, ApiError> {
    let mut f = Fields::envelope(body, "booking")?;
    let property_id = f.required_uuid("property_id");
    let ota_name = f
        .required_string("ota_name", 100)
        .map(|s| s.trim().to_owned());
    let code = trimmed(f.string("ota_reservation_code", 100));
    let arrival = f.required_date("arrival_date");
    let departure = f.required_date("departure_date");
    if let (Some(a), Some(d)) = (arrival, departure)
        && d <= a
    {
        f.error("departure_date", "must be after arrival_date");
    }
    let customer = match f.object("customer") {
        Some(mut c) => {
            let customer = read_customer(&mut c);
            f.absorb("customer", c);
            customer
        }
        None => {
            if !f.has_error("customer") {
                f.error("customer", BLANK);
            }
            None
        }
    };
    let currency = f.string("currency", 3);
    if currency.as_deref().is_some_and(|c| !is_currency(c)) {
        f.error("currency", INVALID);
    }
    let amount = f.amount("amount");
    let occupancy = match f.object("occupancy") {
        Some(mut o) => {
            let adults = o.int("adults", 0, MAX_GUESTS).unwrap_or(1);
            let children = o.int("children", 0, MAX_GUESTS).unwrap_or(0);
            let infants = o.int("infants", 0, MAX_GUESTS).unwrap_or(0);
            f.absorb("occupancy", o);
            (adults, children, infants)
        }
        None => (1, 0, 0),
    };
    let notes = f.string("notes", MAX_MESSAGE_CHARS);
    let ota_thread_id = trimmed(f.string("ota_message_thread_id", 255));
    f.finish()?;
    let count = |n: i64| i32::try_from(n).unwrap_or(0);
    Ok(BookingForm {
        property_id: property_id.unwrap_or_default(),
        ota_name: ota_name.unwrap_or_default(),
        ota_reservation_code: code,
        arrival_date: arrival.unwrap_or_default(),
        departure_date: departure.unwrap_or_default(),
        customer: customer.unwrap_or_default(),
        currency,
        amount,
        occupancy: (count(occupancy.0), count(occupancy.1), count(occupancy.2)),
        notes,
        ota_message_thread_id: ota_thread_id,
    })
}

/// `customer`: a `name`, and what else the OTA knows of the guest.
fn read_customer(c: &mut Fields) -> Option<Customer> {
    let name = c.required_string("name", 255);
    let surname = trimmed(c.string("surname", 255));
    let mail = trimmed(c.string("mail", 254));
    if mail.as_deref().is_some_and(|m| !is_email(m)) {
        c.error("mail", INVALID);
    }
    let phone = trimmed(c.string("phone", 50));
    let country = trimmed(c.string("country", 2)).map(|s| s.to_ascii_uppercase());
    if country
        .as_deref()
        .is_some_and(|s| s.len() != 2 || !s.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        c.error("country", INVALID);
    }
    let language = trimmed(c.string("language", 35));
    if language.as_deref().is_some_and(|l| !is_language_tag(l)) {
        c.error("language", INVALID);
    }
    Some(Customer {
        name: name?.trim().to_owned(),
        surname,
        mail,
        phone,
        country,
        language,
    })
}

/// A string trimmed, `None` when nothing is left.
fn trimmed(value: Option<String>) -> Option<String> {
    value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// An ISO 4217 code: three capitals.
pub fn is_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// A language tag such as `en` or `pt-BR`: letters and digits in parts joined by `-`.
fn is_language_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.split('-').all(|part| {
            (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn details(v: Value) -> Value {
        match read(body(v)) {
            Ok(_) => Value::Null,
            Err(err) => err.body()["errors"]["details"].clone(),
        }
    }

    const PROPERTY: &str = "5848b518-07a4-4c8c-a998-2784d638ba30";

    #[test]
    fn every_field_is_read() {
        let form = read(body(json!({"booking": {
            "property_id": PROPERTY, "ota_name": " BookingCom ", "ota_reservation_code": " 4125638921 ",
            "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
            "customer": {"name": "Roxy", "surname": "Maldonado", "mail": "roxy@guest.booking.com",
                         "phone": "+351 912 345 678", "country": "pt", "language": "pt-PT"},
            "currency": "EUR", "amount": 420, "occupancy": {"adults": 2, "children": 1},
            "notes": "Late arrival", "ota_message_thread_id": "f3a9c29d-480d-5f5b-a6c0-65451e335353"
        }})))
        .unwrap();
        assert_eq!(form.ota_name, "BookingCom");
        assert_eq!(form.ota_reservation_code.as_deref(), Some("4125638921"));
        assert_eq!(form.customer.country.as_deref(), Some("PT"));
        assert_eq!(form.customer.language.as_deref(), Some("pt-PT"));
        assert_eq!(form.amount.as_deref(), Some("420.00"));
        assert_eq!(form.occupancy, (2, 1, 0));
        assert_eq!(form.notes.as_deref(), Some("Late arrival"));
    }

    #[test]
    fn only_the_required_fields_are_required() {
        let form = read(body(json!({"booking": {
            "property_id": PROPERTY, "ota_name": "Airbnb",
            "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
            "customer": {"name": "Ana"}
        }})))
        .unwrap();
        assert_eq!(form.occupancy, (1, 0, 0));
        assert!(form.ota_reservation_code.is_none() && form.amount.is_none());
        assert!(form.customer.surname.is_none() && form.ota_message_thread_id.is_none());
        assert_eq!(
            details(json!({"booking": {}})),
            json!({"property_id": [BLANK], "ota_name": [BLANK], "arrival_date": [BLANK],
                   "departure_date": [BLANK], "customer": [BLANK]})
        );
    }

    #[test]
    fn bad_values_are_named() {
        let d = details(json!({"booking": {
            "property_id": PROPERTY, "ota_name": "BookingCom",
            "arrival_date": "2030-07-04", "departure_date": "2030-07-01",
            "customer": {"mail": "nope", "country": "Portugal", "language": "en_GB"},
            "currency": "eur", "amount": "a lot", "occupancy": {"adults": -1, "infants": "2"},
            "notes": 5, "ota_message_thread_id": {}
        }}));
        assert_eq!(
            d,
            json!({
                "departure_date": ["must be after arrival_date"],
                "customer.name": [BLANK], "customer.mail": [INVALID],
                "customer.country": ["is too long"], "customer.language": [INVALID],
                "currency": [INVALID], "amount": [INVALID],
                "occupancy.adults": [INVALID], "occupancy.infants": [INVALID],
                "notes": [INVALID], "ota_message_thread_id": [INVALID]
            })
        );
    }
}
