//! `booking` (§6), Channex-shaped.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db;
use crate::http::envelope::{Relationship, Resource};
use crate::http::time;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub name: String,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
    pub language: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Occupancy {
    pub adults: i32,
    pub children: i32,
    pub infants: i32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingAttributes {
    pub id: Uuid,
    pub property_id: Uuid,
    pub unique_id: String,
    pub ota_name: String,
    pub ota_reservation_code: String,
    pub status: String,
    pub arrival_date: NaiveDate,
    pub departure_date: NaiveDate,
    pub currency: Option<String>,
    pub amount: Option<String>,
    pub occupancy: Occupancy,
    pub customer: Customer,
    pub notes: Option<String>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingRelationships {
    pub message_thread: Relationship,
}

pub fn booking(b: &db::bookings::Booking) -> Resource<BookingAttributes, BookingRelationships> {
    Resource {
        id: b.id,
        kind: "booking",
        attributes: BookingAttributes {
            id: b.id,
            property_id: b.property_id,
            unique_id: b.unique_id.clone(),
            ota_name: b.ota_name.clone(),
            ota_reservation_code: b.ota_reservation_code.clone(),
            status: b.status.clone(),
            arrival_date: b.arrival_date,
            departure_date: b.departure_date,
            currency: b.currency.clone(),
            amount: b.amount.clone(),
            occupancy: Occupancy {
                adults: b.occupancy_adults,
                children: b.occupancy_children,
                infants: b.occupancy_infants,
            },
            customer: Customer {
                name: b.customer_name.clone(),
                surname: b.customer_surname.clone(),
                mail: b.customer_mail.clone(),
                phone: b.customer_phone.clone(),
                country: b.customer_country.clone(),
                language: b.customer_language.clone(),
            },
            notes: b.notes.clone(),
            inserted_at: b.inserted_at,
            updated_at: b.updated_at,
        },
        relationships: b.message_thread_id.map(|id| BookingRelationships {
            message_thread: Relationship::new("message_thread", id),
        }),
    }
}
