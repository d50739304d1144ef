use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::ota::Provider;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Booking {
    pub id: Uuid,
    pub property_id: Uuid,
    pub channel_id: Uuid,
    pub ota_name: String,
    pub ota_reservation_code: String,
    pub arrival_date: NaiveDate,
    pub departure_date: NaiveDate,
    pub customer_name: String,
    pub customer_surname: Option<String>,
    pub status: String,
    pub inserted_at: DateTime<Utc>,
    /// The owner of the booking's property.
    pub owner_id: Uuid,
    /// The booking's message thread, once it has one.
    pub message_thread_id: Option<Uuid>,
    /// Whether the Messages app is installed on the booking's property.
    pub messages_app: bool,
}

impl Booking {
    /// The key of the line of writers to this booking's conversation (see
    /// [`crate::http::writers`]): its thread, or the booking itself before it has one.
    pub fn writers_key(&self) -> Uuid {
        self.message_thread_id.unwrap_or(self.id)
    }

    /// The guest's full name, the title of the booking's thread.
    pub fn guest_name(&self) -> String {
        match self
            .customer_surname
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(surname) => format!("{} {surname}", self.customer_name.trim()),
            None => self.customer_name.trim().to_owned(),
        }
    }
}

pub struct NewBooking<'a> {
    pub property_id: Uuid,
    pub ota_name: &'a str,
    pub ota_reservation_code: &'a str,
    pub arrival_date: NaiveDate,
    pub departure_date: NaiveDate,
    pub customer_name: &'a str,
    pub customer_surname: Option<&'a str>,
}

const SELECT: &str = r#"select b.id, b.property_id, b.channel_id, b.ota_name, b.ota_reservation_code,
    b.arrival_date, b.departure_date, b.customer_name, b.customer_surname, b.status, b.inserted_at,
    p.user_id as owner_id, t.id as message_thread_id,
    exists (select 1 from application_installations i
            where i.property_id = b.property_id and i.application_code = 'channex_messages')
      as messages_app
    from bookings b
    join properties p on p.id = b.property_id
    left join message_threads t on t.booking_id = b.id"#;

/// The channel of a property for an OTA, created on first use (also when another transaction
/// creates it at the same moment: `do update` waits for it and returns it).
pub async fn channel_for(
    conn: &mut PgConnection,
    property_id: Uuid,
    ota_name: &str,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        r#"insert into channels (id, property_id, ota_name) values ($1, $2, $3)
           on conflict (property_id, ota_name) do update set ota_name = excluded.ota_name
           returning id"#,
    )
    .bind(Uuid::new_v4())
    .bind(property_id)
    .bind(ota_name)
    .fetch_one(conn)
    .await
}

pub async fn insert(conn: &mut PgConnection, new: &NewBooking<'_>) -> sqlx::Result<Booking> {
    // "AirBNB" and "Airbnb" are one channel.
    let channel_name: &str = match Provider::for_ota(new.ota_name) {
        Some(provider) => provider.ota_name(),
        None => new.ota_name,
    };
    let channel_id = channel_for(conn, new.property_id, channel_name).await?;
    let id = Uuid::new_v4();
    sqlx::query(
        r#"insert into bookings (id, property_id, channel_id, ota_name, ota_reservation_code,
             arrival_date, departure_date, customer_name, customer_surname)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
    )
    .bind(id)
    .bind(new.property_id)
    .bind(channel_id)
    .bind(new.ota_name)
    .bind(new.ota_reservation_code)
    .bind(new.arrival_date)
    .bind(new.departure_date)
    .bind(new.customer_name)
    .bind(new.customer_surname)
    .execute(&mut *conn)
    .await?;
    get(&mut *conn, id).await?.ok_or(sqlx::Error::RowNotFound)
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Booking>> {
    sqlx::query_as(&format!("{SELECT} where b.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}
