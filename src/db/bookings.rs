use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::http::list::Order;
use crate::ota::Provider;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Booking {
    pub id: Uuid,
    pub property_id: Uuid,
    pub channel_id: Uuid,
    pub ota_name: String,
    pub ota_reservation_code: String,
    /// `BDC-<code>`, `ABB-<code>`, ...
    pub unique_id: String,
    pub arrival_date: NaiveDate,
    pub departure_date: NaiveDate,
    pub customer_name: String,
    pub customer_surname: Option<String>,
    pub customer_mail: Option<String>,
    pub customer_phone: Option<String>,
    pub customer_country: Option<String>,
    pub customer_language: Option<String>,
    pub currency: Option<String>,
    /// A decimal with two places.
    pub amount: Option<String>,
    pub occupancy_adults: i32,
    pub occupancy_children: i32,
    pub occupancy_infants: i32,
    pub notes: Option<String>,
    /// The OTA's id of the booking's conversation.
    pub ota_message_thread_id: Option<String>,
    pub status: String,
    pub inserted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
        guest_name(&self.customer_name, self.customer_surname.as_deref())
    }
}

/// `name surname` of a booking's guest (the surname when it is not blank).
pub fn guest_name(name: &str, surname: Option<&str>) -> String {
    match surname.map(str::trim).filter(|s| !s.is_empty()) {
        Some(surname) => format!("{} {surname}", name.trim()),
        None => name.trim().to_owned(),
    }
}

/// The guest of a booking, as the OTA sends it.
#[derive(Debug, Default, Clone)]
pub struct Customer {
    pub name: String,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
    pub language: Option<String>,
}

pub struct NewBooking<'a> {
    pub property_id: Uuid,
    pub ota_name: &'a str,
    pub ota_reservation_code: &'a str,
    pub arrival_date: NaiveDate,
    pub departure_date: NaiveDate,
    pub customer: &'a Customer,
    pub currency: Option<&'a str>,
    pub amount: Option<&'a str>,
    /// Adults, children, infants.
    pub occupancy: (i32, i32, i32),
    pub notes: Option<&'a str>,
    pub ota_message_thread_id: Option<&'a str>,
}

pub(crate) const COLUMNS: &str = r#"select b.id, b.property_id, b.channel_id, b.ota_name,
    b.ota_reservation_code, b.unique_id, b.arrival_date, b.departure_date, b.customer_name,
    b.customer_surname, b.customer_mail, b.customer_phone, b.customer_country,
    b.customer_language, b.currency, b.amount, b.occupancy_adults, b.occupancy_children,
    b.occupancy_infants, b.notes, b.ota_message_thread_id, b.status, b.inserted_at, b.updated_at,
    b.user_id as owner_id, t.id as message_thread_id,
    exists (select 1 from application_installations i
            where i.property_id = b.property_id and i.application_code = 'channex_messages')
      as messages_app"#;

pub(crate) const FROM: &str = " from bookings b left join message_threads t on t.booking_id = b.id";

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
    let c = new.customer;
    sqlx::query(
        r#"insert into bookings (id, property_id, user_id, channel_id, ota_name,
             ota_reservation_code, unique_id, arrival_date, departure_date, customer_name,
             customer_surname, customer_mail, customer_phone, customer_country, customer_language,
             currency, amount, occupancy_adults, occupancy_children, occupancy_infants, notes,
             ota_message_thread_id)
           select $1, $2, p.user_id, $3, $4, $5, bookings_unique_id($4, $5), $6, $7, $8, $9, $10,
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20
           from properties p where p.id = $2"#,
    )
    .bind(id)
    .bind(new.property_id)
    .bind(channel_id)
    .bind(new.ota_name)
    .bind(new.ota_reservation_code)
    .bind(new.arrival_date)
    .bind(new.departure_date)
    .bind(&c.name)
    .bind(&c.surname)
    .bind(&c.mail)
    .bind(&c.phone)
    .bind(&c.country)
    .bind(&c.language)
    .bind(new.currency)
    .bind(new.amount)
    .bind(new.occupancy.0)
    .bind(new.occupancy.1)
    .bind(new.occupancy.2)
    .bind(new.notes)
    .bind(new.ota_message_thread_id)
    .execute(&mut *conn)
    .await?;
    get(&mut *conn, id).await?.ok_or(sqlx::Error::RowNotFound)
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Booking>> {
    sqlx::query_as(&format!("{COLUMNS}{FROM} where b.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// What a booking list selects: the user's bookings on `property_ids` (all of the user's when
/// `None`), narrowed by the optional filters.
#[derive(Debug, Default)]
pub struct BookingFilter {
    pub user_id: Uuid,
    pub property_ids: Option<Vec<Uuid>>,
    pub reservation_codes: Option<Vec<String>>,
    /// OTA names without case or punctuation (`bookingcom`).
    pub ota_keys: Option<Vec<String>>,
    pub statuses: Option<Vec<String>>,
    /// `(column, operator, value)` on dates: columns and operators come from whitelists.
    pub date_ranges: Vec<(&'static str, &'static str, NaiveDate)>,
    /// `(column, operator, value)` on timestamps.
    pub time_ranges: Vec<(&'static str, &'static str, DateTime<Utc>)>,
    /// `property_ids` come from `filter[property_id]`: the statement also counts how many of
    /// them exist and how many the key sees (see [`Named`]).
    pub named: Option<Named>,
}

/// The key that names properties in a booking list: its properties (`None`: all of the
/// user's).
#[derive(Debug, Default, Clone)]
pub struct Named {
    pub listed: Option<Vec<Uuid>>,
}

/// Of the properties a booking list names: how many exist, and how many the key sees.
#[derive(Debug, Clone, Copy, Default)]
pub struct NamedCheck {
    pub found: i64,
    pub visible: i64,
}

/// `column = $n` for one value (an index can then answer the list in order), `= any($n)` for
/// several.
fn push_any<'a, T>(qb: &mut QueryBuilder<'a, Postgres>, column: &str, values: &'a [T])
where
    T: sqlx::Type<Postgres> + sqlx::Encode<'a, Postgres> + Sync,
    &'a [T]: sqlx::Type<Postgres> + sqlx::Encode<'a, Postgres>,
{
    match values {
        [one] => {
            qb.push(format_args!(" and b.{column} = ")).push_bind(one);
        }
        _ => {
            qb.push(format_args!(" and b.{column} = any("))
                .push_bind(values)
                .push(")");
        }
    }
}

fn push_where<'a>(qb: &mut QueryBuilder<'a, Postgres>, f: &'a BookingFilter) {
    qb.push(" where b.user_id = ").push_bind(f.user_id);
    if let Some(ids) = &f.property_ids {
        push_any(qb, "property_id", ids);
    }
    if let Some(codes) = &f.reservation_codes {
        push_any(qb, "ota_reservation_code", codes);
    }
    if let Some(keys) = &f.ota_keys {
        push_any(qb, "ota_key", keys);
    }
    if let Some(statuses) = &f.statuses {
        push_any(qb, "status", statuses);
    }
    for (column, op, value) in &f.date_ranges {
        qb.push(format_args!(" and b.{column} {op} "))
            .push_bind(*value);
    }
    for (column, op, value) in &f.time_ranges {
        qb.push(format_args!(" and b.{column} {op} "))
            .push_bind(*value);
    }
}

/// One page of bookings in `order` (ties broken by id), the total the filter selects and, for
/// named properties, the [`NamedCheck`]: one statement, whose first row carries the total
/// even when the page is empty.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &BookingFilter,
    order: Order,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Booking>, i64, NamedCheck)> {
    let dir = order.direction.sql();
    let field = order.field;
    let mut qb = QueryBuilder::new(
        "select h.total, h.found, h.visible, p.* from (select (select count(*) from bookings b",
    );
    push_where(&mut qb, filter);
    qb.push(") as total, ");
    match (&filter.named, &filter.property_ids) {
        (Some(named), Some(ids)) => {
            qb.push("(select count(*) from properties p where p.id = any(")
                .push_bind(ids)
                .push(")) as found, (select count(*) from properties p where p.id = any(")
                .push_bind(ids)
                .push(") and p.user_id = ")
                .push_bind(filter.user_id);
            if let Some(listed) = &named.listed {
                qb.push(" and p.id = any(").push_bind(listed).push(")");
            }
            qb.push(") as visible");
        }
        _ => {
            qb.push("0::bigint as found, 0::bigint as visible");
        }
    }
    qb.push(") h left join lateral (");
    qb.push(COLUMNS);
    qb.push(FROM);
    push_where(&mut qb, filter);
    qb.push(format_args!(" order by b.{field} {dir}, b.id {dir} limit "))
        .push_bind(limit)
        .push(" offset ")
        .push_bind(offset);
    qb.push(format_args!(
        ") p on true order by p.{field} {dir}, p.id {dir}"
    ));
    let rows: Vec<PgRow> = qb.build().fetch_all(db).await?;
    let (total, check) = match rows.first() {
        Some(row) => (
            row.try_get("total")?,
            NamedCheck {
                found: row.try_get("found")?,
                visible: row.try_get("visible")?,
            },
        ),
        None => (0, NamedCheck::default()),
    };
    let mut bookings = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<Uuid>, _>("id")?.is_some() {
            bookings.push(Booking::from_row(row)?);
        }
    }
    Ok((bookings, total, check))
}
