//! The demo of `--demo`: a user, an API key, a property with the Messages app, a Booking.com
//! booking with a short conversation and an Airbnb inquiry, so that the README works at once.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;
use chrono::{Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db;
use crate::db::bookings::{Customer, NewBooking};
use crate::http::auth;
use crate::messaging::{self, Append, Inquiry, Sender};
use crate::ota::Provider;

pub const DEMO_EMAIL: &str = "demo@ota-inbox.test";
/// Where the demo key is kept, so that each start can print it again.
const KEY_FILE: &str = "demo-api-key";

/// Seeds an empty database; on later starts, answers the demo key (minting a new one when the
/// kept one is gone or revoked). `None` when the database holds other data and no demo user.
pub async fn ensure(pool: &PgPool, data_dir: &Path) -> anyhow::Result<Option<String>> {
    if db::users::count(pool).await? == 0 {
        return Ok(Some(install(pool, data_dir).await?.api_key));
    }
    match db::users::find_by_email(pool, DEMO_EMAIL).await? {
        Some(user) => Ok(Some(key_of(pool, data_dir, user.id).await?)),
        None => Ok(None),
    }
}

/// What `ota-inbox demo` did.
#[derive(Debug, Clone)]
pub struct Installed {
    pub api_key: String,
    pub user_id: Uuid,
    /// Whether the demo was seeded now (`false`: it was there already).
    pub seeded: bool,
}

/// Seeds the demo beside whatever the database holds, unless the demo user is there already;
/// answers a working demo key either way (kept in `data_dir`).
pub async fn install(pool: &PgPool, data_dir: &Path) -> anyhow::Result<Installed> {
    if let Some(user) = db::users::find_by_email(pool, DEMO_EMAIL).await? {
        let api_key = key_of(pool, data_dir, user.id).await?;
        return Ok(Installed {
            api_key,
            user_id: user.id,
            seeded: false,
        });
    }
    let mut tx = pool.begin().await?;
    let seeded = match seed(&mut tx).await {
        Ok(seeded) => seeded,
        Err(err) => {
            drop(tx);
            // Another server seeded it at the same moment: use theirs.
            if let Some(user) = db::users::find_by_email(pool, DEMO_EMAIL).await? {
                let api_key = key_of(pool, data_dir, user.id).await?;
                return Ok(Installed {
                    api_key,
                    user_id: user.id,
                    seeded: false,
                });
            }
            return Err(err);
        }
    };
    tx.commit().await.context("committing the demo")?;
    keep_key(data_dir, &seeded.api_key);
    // Servers already running (`ota-inbox demo` beside them) number its events now; else their
    // next sweep does.
    if let Err(err) = crate::http::changes::announce_from_outside(pool, seeded.user_id).await {
        tracing::warn!(error = %err, "telling running servers about the demo failed");
    }
    Ok(Installed {
        api_key: seeded.api_key,
        user_id: seeded.user_id,
        seeded: true,
    })
}

/// The kept demo key if it still works, else a new key of the demo user.
async fn key_of(pool: &PgPool, data_dir: &Path, user_id: Uuid) -> anyhow::Result<String> {
    if let Ok(kept) = std::fs::read_to_string(data_dir.join(KEY_FILE)) {
        let kept = kept.trim();
        let live = db::api_keys::find_principal(pool, &auth::hash_secret(kept)).await?;
        if live.is_some_and(|p| p.user_id == user_id) {
            return Ok(kept.to_owned());
        }
    }
    let (key, hash) = auth::generate_key();
    let mut conn = pool.acquire().await?;
    db::api_keys::insert(&mut conn, user_id, &hash, None).await?;
    keep_key(data_dir, &key);
    Ok(key)
}

fn keep_key(data_dir: &Path, key: &str) {
    let path = data_dir.join(KEY_FILE);
    let written = std::fs::create_dir_all(data_dir)
        .and_then(|()| std::fs::write(&path, key))
        .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)));
    if let Err(err) = written {
        tracing::warn!(path = %path.display(), error = %err, "could not keep the demo key");
    }
}

/// The demo's user, property and key.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub user_id: Uuid,
    pub property_id: Uuid,
    /// The plaintext key (only its hash is stored).
    pub api_key: String,
}

/// Writes the demo in the caller's transaction: a user and its key, a property with the
/// Messages app, a Booking.com conversation and an Airbnb inquiry.
pub async fn seed(tx: &mut PgConnection) -> anyhow::Result<Seeded> {
    let user = db::users::insert(&mut *tx, DEMO_EMAIL, Some("Demo PMS")).await?;
    let (key, hash) = auth::generate_key();
    db::api_keys::insert(&mut *tx, user.id, &hash, None).await?;
    let property = db::properties::insert(
        &mut *tx,
        user.id,
        "Demo Hotel",
        Some("EUR"),
        Some("Europe/Lisbon"),
    )
    .await?;
    db::applications::install(&mut *tx, property.id, db::applications::MESSAGES_APP).await?;

    let today = Utc::now().date_naive();
    let guest = Customer {
        name: "Roxy".to_owned(),
        surname: Some("Maldonado".to_owned()),
        mail: Some("rmaldo.412563@guest.booking.com".to_owned()),
        phone: Some("+351 912 345 678".to_owned()),
        country: Some("PT".to_owned()),
        language: Some("pt".to_owned()),
    };
    let ota_thread_id = Provider::BookingCom.new_thread_id();
    let booking = db::bookings::insert(
        &mut *tx,
        &NewBooking {
            property_id: property.id,
            ota_name: "BookingCom",
            ota_reservation_code: "4125638921",
            arrival_date: today + Duration::days(7),
            departure_date: today + Duration::days(10),
            customer: &guest,
            currency: Some("EUR"),
            amount: Some("435.00"),
            occupancy: (2, 0, 0),
            notes: Some(
                "You have a booker that would prefer a quiet room. (based on availability)",
            ),
            ota_message_thread_id: Some(&ota_thread_id),
        },
    )
    .await?;
    let thread = messaging::lock_booking_thread(&mut *tx, &booking).await?;
    let conversation = [
        (
            Sender::Guest,
            "Hello! Could we check in early, around 11am?",
        ),
        (
            Sender::Property,
            "Hi Roxy, the room should be ready by noon; we will keep your bags until then.",
        ),
        (Sender::Guest, "Perfect, thank you!"),
    ];
    for (sender, text) in conversation {
        let user_id = (sender == Sender::Property).then_some(user.id);
        messaging::append(
            &mut *tx,
            &thread,
            &Append {
                user_id,
                ..Append::text(sender, text)
            },
        )
        .await?;
    }

    let inquiry = Inquiry {
        property_id: property.id,
        guest_name: "Andrew".to_owned(),
        checkin: today + Duration::days(14),
        checkout: today + Duration::days(16),
        adults: 2,
        children: 1,
        infants: 0,
        pets: 0,
        currency: None,
        payout: Some("320.00".to_owned()),
        listing_id: Some("16384756345".to_owned()),
        listing_name: Some("Demo Hotel, sea-view flat".to_owned()),
        room_type_id: None,
        ota_message_thread_id: None,
        message: Some(
            "Hi! Is the flat free for these dates? We are two adults and a child.".to_owned(),
        ),
    };
    messaging::create_inquiry(&mut *tx, &property, &inquiry).await?;
    Ok(Seeded {
        user_id: user.id,
        property_id: property.id,
        api_key: key,
    })
}
