//! One attempt of one claimed delivery: build the body, POST it, decide what comes next and
//! record it.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep, timeout_at};
use uuid::Uuid;

use super::client::{Callback, Outbound, Outcome, Verdict};
use super::envelope::Envelope;
use crate::db;
use crate::db::webhook_deliveries::{AttemptRecord, Claimed};

/// What a finished attempt tells the loop.
pub struct Finished {
    pub delivery_id: Uuid,
    /// When the delivery falls due again, if it does.
    pub retry_in: Option<Duration>,
}

/// The claim a worker holds on a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    /// Only the holder of the token may record the outcome.
    pub token: Uuid,
    /// The lease's length.
    pub length: Duration,
    /// When the attempt must be over, by this process's clock (a little before the database's
    /// end of the lease).
    pub until: Instant,
}

/// One attempt of one delivery, recorded with its outcome. It starts only while at least half
/// of its lease is left, and is cut when the lease ends: then another worker may take the
/// delivery, and two workers must never send it at once.
pub async fn attempt(
    pool: PgPool,
    outbound: Outbound,
    schedule: Arc<[Duration]>,
    db_writers: Arc<Semaphore>,
    claimed: Claimed,
    lease: Lease,
) -> Finished {
    let token = lease.token;
    let finished = |retry_in| Finished {
        delivery_id: claimed.id,
        retry_in,
    };
    if !claimed.is_active {
        match db::webhook_deliveries::cancel(&pool, claimed.id, token).await {
            Ok(()) => crate::metrics::webhook_delivery_ended("cancelled"),
            Err(err) => {
                tracing::warn!(error = %err, delivery_id = %claimed.id, "cancelling a delivery failed")
            }
        }
        return finished(None);
    }
    let envelope = Envelope {
        event: &claimed.event,
        payload: claimed.send_data.then_some(&claimed.payload),
        property_id: Some(claimed.property_id),
        user_id: claimed.user_id,
        timestamp: claimed.event_at,
    };
    let body = envelope.to_bytes();
    if lease.until.saturating_duration_since(Instant::now()) < lease.length / 2 {
        // Started too late (an overloaded process): give it back rather than risk running past
        // the lease.
        tracing::warn!(delivery_id = %claimed.id, "a webhook attempt started late; giving it back");
        if let Err(err) = db::webhook_deliveries::release(&pool, &[claimed.id], token).await {
            tracing::warn!(error = %err, delivery_id = %claimed.id, "giving back a delivery failed");
        }
        return finished(Some(Duration::ZERO));
    }
    let attempted_at = Utc::now();
    let started = Instant::now();
    let callback = Callback {
        url: &claimed.callback_url,
        request_params: &claimed.request_params,
        headers: &claimed.headers,
        delivery_id: claimed.id,
        signing_secret: claimed.signing_secret.as_ref().map(|s| s.0.as_str()),
        body: &body,
    };
    let outcome = match timeout_at(lease.until, outbound.post(&callback)).await {
        Ok(outcome) => outcome,
        // Dropping the request closes its connection: nothing more is sent.
        Err(_) => Outcome {
            status: None,
            body: Vec::new(),
            error: Some("cut at the end of the worker's lease".to_owned()),
            duration: started.elapsed(),
        },
    };
    let verdict = outcome.verdict();
    let attempt_number = claimed.attempts.saturating_add(1);
    let retry_in = match verdict {
        Verdict::Retry => usize::try_from(claimed.attempts)
            .ok()
            .and_then(|done| schedule.get(done).copied()),
        Verdict::Delivered | Verdict::Failed => None,
    };
    let record = AttemptRecord {
        delivery_id: claimed.id,
        token,
        attempted_at,
        duration_ms: i32::try_from(outcome.duration.as_millis()).unwrap_or(i32::MAX),
        status_code: outcome.status.map(i32::from),
        error: outcome.error.as_deref(),
        retry_in_ms: retry_in.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        delivered: verdict == Verdict::Delivered,
    };
    crate::metrics::webhook_attempt(
        match (retry_in, verdict) {
            (Some(_), _) => "retry",
            (None, Verdict::Delivered) => "delivered",
            (None, _) => "failed",
        },
        outcome.duration,
    );
    // The delivery id, webhook id and event name only: never the URL, headers or body.
    let span = tracing::info_span!(
        "webhook_attempt",
        delivery_id = %claimed.id,
        webhook_id = %claimed.webhook_id,
        event = %claimed.event,
        attempt = attempt_number,
    );
    span.in_scope(|| match verdict {
        Verdict::Delivered => tracing::debug!(
            status = ?outcome.status,
            duration_ms = record.duration_ms,
            "webhook delivered"
        ),
        Verdict::Retry if retry_in.is_some() => tracing::info!(
            status = ?outcome.status,
            error = ?outcome.error,
            retry_in_ms = ?record.retry_in_ms,
            "webhook attempt failed; will retry"
        ),
        _ => tracing::warn!(
            status = ?outcome.status,
            error = ?outcome.error,
            "webhook delivery failed"
        ),
    });
    // The semaphore is never closed; without a permit the outcome is simply written anyway.
    let _permit = db_writers.acquire().await.ok();
    // A few tries: if the outcome cannot be recorded, the lease ends and the attempt repeats.
    for pause_ms in [0u64, 100, 500, 2000] {
        sleep(Duration::from_millis(pause_ms)).await;
        match record_outcome(&pool, &record).await {
            Ok(true) => break,
            Ok(false) => {
                tracing::warn!(delivery_id = %claimed.id, "the delivery's claim ended before its attempt did");
                break;
            }
            Err(err) => {
                tracing::warn!(error = %err, delivery_id = %claimed.id, "recording a webhook attempt failed")
            }
        }
    }
    finished(retry_in)
}

/// Records an attempt's outcome (see [`db::webhook_deliveries::relax_durability`]).
async fn record_outcome(pool: &PgPool, record: &AttemptRecord<'_>) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    db::webhook_deliveries::relax_durability(&mut tx).await?;
    let recorded = db::webhook_deliveries::record_attempt(&mut *tx, record).await?;
    tx.commit().await?;
    Ok(recorded)
}
