//! The delivery worker: runs inside the server, claims due deliveries from PostgreSQL (see
//! [`db::webhook_deliveries`]) and POSTs them, a bounded number at a time.
//!
//! Wake-ups: a LISTEN on [`super::CHANNEL`] (the `events` trigger NOTIFYs at commit), the time
//! the next retry falls due, a finished attempt when more work is waiting, and a slow sweep in
//! case a notification was missed while the listening connection was down. With nothing
//! pending the worker sleeps: one look at the queue per sweep, nothing in between.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until};
use uuid::Uuid;

use super::attempt::{Finished, Lease, attempt};
use super::client::Outbound;
use super::in_flight::{InFlight, choose};
use super::listen::{AbortOnDrop, listen};
use super::scan::ScanStart;
use crate::db;

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Longest an attempt may take, connection and answer included.
    pub timeout: Duration,
    /// Delays before each retry; its length is the number of retries.
    pub schedule: Vec<Duration>,
    /// Attempts in flight at once, all webhooks together.
    pub concurrency: usize,
    /// Attempts in flight at once for one webhook, so a slow callback cannot take every slot.
    pub per_webhook: usize,
    /// How long a claim holds a delivery. An attempt starts only while at least half of its
    /// lease is left, and is cut when the lease ends: a delivery whose worker died is sent again
    /// as soon as its lease ends, and never by two workers at once. Twice `timeout` by default,
    /// so that a whole attempt always fits.
    pub lease: Duration,
    /// Longest sleep between two looks at the queue when nothing wakes the worker, and how
    /// often a claim reads the queue from its beginning (see [`super::scan`]).
    pub sweep_interval: Duration,
    /// How long a stopping worker waits for the attempts in flight before it gives their
    /// deliveries back (they are then sent again, by this or another worker).
    pub shutdown_grace: Duration,
    /// Attempts that may write their outcome at once: the rest of the pool stays for the API.
    pub db_writers: usize,
    /// How long finished deliveries and their attempts are kept.
    pub retention: Duration,
}

/// The safety sweep of an idle worker. Work arriving wakes it through NOTIFY and retries
/// through their due time, so this only bounds how late it notices what neither announced (a
/// retry left by a worker that died, a notification lost while LISTEN was reconnecting): slow,
/// so that an idle server stays idle.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Longest delay before a retry: longer ones in the schedule are cut to this.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);

impl WorkerConfig {
    pub fn new(timeout: Duration, schedule: Vec<Duration>, concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            timeout,
            schedule: schedule
                .into_iter()
                .map(|d| d.min(MAX_RETRY_DELAY))
                .collect(),
            concurrency,
            per_webhook: (concurrency / 4).max(1),
            lease: timeout.saturating_mul(2),
            sweep_interval: SWEEP_INTERVAL,
            shutdown_grace: timeout.min(Duration::from_secs(5)),
            db_writers: 4,
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// A running worker; stop it with [`Worker::shutdown`].
pub struct Worker {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Starts the worker on the runtime.
    pub fn spawn(pool: PgPool, config: WorkerConfig) -> anyhow::Result<Self> {
        let outbound = Outbound::new(config.timeout)?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(pool, config, outbound, stopped));
        Ok(Self { stop, task })
    }

    /// Stops claiming, lets the attempts in flight finish (up to `shutdown_grace`) and gives
    /// back the deliveries of those that did not, so another worker can take them at once.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Stops at once and gives nothing back, as a crash would: what this worker held falls due
    /// again when its lease ends.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// When the first pruning of old deliveries runs after a start, and how often after that.
const PRUNE_FIRST: Duration = Duration::from_secs(60);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: i64 = 5000;
const PRUNE_MAX_BATCHES: usize = 20;
const PRUNE_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The instant `delay` from now; far enough for a delay too long to represent.
fn after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .or_else(|| now.checked_add(MAX_RETRY_DELAY))
        .unwrap_or(now)
}

struct Loop {
    pool: PgPool,
    config: WorkerConfig,
    outbound: Outbound,
    schedule: Arc<[Duration]>,
    db_writers: Arc<Semaphore>,
    tasks: JoinSet<Finished>,
    in_flight: InFlight,
    scan: ScanStart,
}

async fn run(
    pool: PgPool,
    config: WorkerConfig,
    outbound: Outbound,
    mut stop: watch::Receiver<bool>,
) {
    let wake = Arc::new(Notify::new());
    let _listener = AbortOnDrop(tokio::spawn(listen(pool.clone(), wake.clone())));
    let schedule: Arc<[Duration]> = config.schedule.clone().into();
    let sweep_interval = config.sweep_interval;
    let db_writers = Arc::new(Semaphore::new(config.db_writers.max(1)));
    let mut this = Loop {
        pool,
        config,
        outbound,
        schedule,
        db_writers,
        tasks: JoinSet::new(),
        in_flight: InFlight::default(),
        scan: ScanStart::new(sweep_interval),
    };
    tracing::info!(
        concurrency = this.config.concurrency,
        timeout_ms = this.config.timeout.as_millis() as u64,
        retries = this.config.schedule.len(),
        "webhook worker started"
    );
    // Whether due deliveries may be waiting that this worker has not claimed.
    let mut backlog = true;
    let mut deadline = Instant::now();
    let mut next_prune = after(PRUNE_FIRST);
    loop {
        if backlog {
            backlog = this.claim_all().await;
            deadline = this.next_look(backlog).await;
        }
        tokio::select! {
            _ = stop.changed() => break,
            Some(joined) = this.tasks.join_next_with_id(), if !this.tasks.is_empty() => {
                this.finished(joined, &mut deadline);
                while let Some(joined) = this.tasks.try_join_next_with_id() {
                    this.finished(joined, &mut deadline);
                }
                // A slot is free: take what waits, if anything does.
                backlog = true;
            }
            () = wake.notified() => backlog = true,
            () = sleep_until(deadline) => backlog = true,
            () = sleep_until(next_prune) => {
                this.prune().await;
                next_prune = after(PRUNE_EVERY);
            }
        }
    }
    this.stop().await;
    tracing::info!("webhook worker stopped");
}

impl Loop {
    /// Claims until the slots are full or nothing is due; answers whether more may be due.
    async fn claim_all(&mut self) -> bool {
        loop {
            let room = self.config.concurrency.saturating_sub(self.tasks.len());
            if room == 0 {
                return true;
            }
            match self.claim(room).await {
                Ok((taken, more)) => {
                    if !more || taken == 0 {
                        return false;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "claiming webhook deliveries failed");
                    return false;
                }
            }
        }
    }

    /// One claim: locks due deliveries, leases the chosen ones, starts their attempts.
    async fn claim(&mut self, room: usize) -> sqlx::Result<(usize, bool)> {
        let full = self.in_flight.full(self.config.per_webhook);
        let limit = (room * 4).min(1000);
        // Before the claim's transaction: the database starts the lease later than this, so a
        // lease that ends here by this clock has not ended there yet.
        let claiming = Instant::now();
        let mut tx = self.pool.begin().await?;
        db::webhook_deliveries::relax_durability(&mut tx).await?;
        let from = self.scan.next(&full);
        let candidates =
            db::webhook_deliveries::lock_due(&mut tx, &full, from, limit as i64).await?;
        let pairs: Vec<(Uuid, Uuid)> = candidates.iter().map(|(id, w, _)| (*id, *w)).collect();
        let chosen = choose(
            &pairs,
            room,
            self.config.per_webhook,
            &self.in_flight.per_webhook,
        );
        self.scan.scanned(&candidates, &chosen);
        if chosen.is_empty() {
            tx.commit().await?;
            return Ok((0, false));
        }
        let token = Uuid::new_v4();
        let lease = self.config.lease.min(MAX_RETRY_DELAY);
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let claimed = db::webhook_deliveries::lease(&mut tx, &chosen, token, lease_ms).await?;
        tx.commit().await?;
        let taken = claimed.len();
        let lease = Lease {
            token,
            length: lease,
            // A tenth of the lease to spare for the two clocks and the network.
            until: claiming
                .checked_add(lease.saturating_sub(lease / 10))
                .unwrap_or_else(|| after(MAX_RETRY_DELAY)),
        };
        for delivery in claimed {
            let handle = self.tasks.spawn(attempt(
                self.pool.clone(),
                self.outbound.clone(),
                self.schedule.clone(),
                self.db_writers.clone(),
                delivery.clone(),
                lease,
            ));
            self.in_flight.add(&handle, &delivery, token);
        }
        Ok((taken, candidates.len() == limit || taken == room))
    }

    /// When to look at the queue next, if nothing wakes the worker before.
    async fn next_look(&self, backlog: bool) -> Instant {
        let sweep = after(self.config.sweep_interval);
        if backlog {
            // Slots are full: finished attempts wake the loop.
            return sweep;
        }
        // Webhooks at their limit are left out: their finished attempts wake the loop.
        let full = self.in_flight.full(self.config.per_webhook);
        match db::webhook_deliveries::next_due_in_ms(&self.pool, &full, self.scan.current()).await {
            // At least a few milliseconds: a delivery that is due but locked by another
            // worker's claim must not make this loop spin.
            Ok(Some(ms)) => sweep.min(after(Duration::from_millis(ms.max(5) as u64))),
            Ok(None) => sweep,
            Err(err) => {
                tracing::warn!(error = %err, "reading the webhook queue failed");
                after(Duration::from_secs(1))
            }
        }
    }

    fn finished(
        &mut self,
        joined: Result<(tokio::task::Id, Finished), tokio::task::JoinError>,
        deadline: &mut Instant,
    ) {
        match joined {
            Ok((task, finished)) => {
                self.in_flight.remove(task);
                if let Some(delay) = finished.retry_in {
                    *deadline = (*deadline).min(after(delay));
                }
                tracing::trace!(delivery_id = %finished.delivery_id, "attempt finished");
            }
            Err(err) => {
                // The delivery stays leased and falls due again when the lease ends.
                tracing::error!(error = %err, "a webhook attempt failed to complete");
                self.in_flight.remove(err.id());
            }
        }
    }

    /// Deletes old finished deliveries, a batch at a time.
    async fn prune(&self) {
        let older_than = i64::try_from(self.config.retention.as_secs()).unwrap_or(i64::MAX);
        for _ in 0..PRUNE_MAX_BATCHES {
            match prune_batch(&self.pool, older_than).await {
                Ok(deleted) if deleted > 0 => {
                    tracing::info!(deleted, "pruned old webhook deliveries");
                    if deleted < PRUNE_BATCH as u64 {
                        break;
                    }
                }
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "pruning webhook deliveries failed");
                    break;
                }
            }
        }
    }

    /// Lets attempts in flight finish for up to the grace period, then gives the rest back.
    async fn stop(&mut self) {
        let grace = sleep(self.config.shutdown_grace);
        tokio::pin!(grace);
        let mut deadline = Instant::now();
        while !self.tasks.is_empty() {
            tokio::select! {
                Some(joined) = self.tasks.join_next_with_id() => self.finished(joined, &mut deadline),
                () = &mut grace => break,
            }
        }
        self.tasks.abort_all();
        while let Some(joined) = self.tasks.join_next_with_id().await {
            if let Ok((task, _)) = joined {
                self.in_flight.remove(task);
            }
        }
        let mut by_token: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (delivery, (token, _)) in &self.in_flight.claims {
            by_token.entry(*token).or_default().push(*delivery);
        }
        for (token, deliveries) in by_token {
            if let Err(err) = db::webhook_deliveries::release(&self.pool, &deliveries, token).await
            {
                tracing::warn!(error = %err, "giving back webhook deliveries failed");
            }
        }
    }
}

/// Deletes one batch of old deliveries; a big batch may take longer than a request's statement.
async fn prune_batch(pool: &PgPool, older_than_secs: i64) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    db::set_local_statement_timeout(&mut tx, PRUNE_STATEMENT_TIMEOUT).await?;
    let deleted = db::webhook_deliveries::prune(&mut *tx, older_than_secs, PRUNE_BATCH).await?;
    tx.commit().await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_delays_are_cut_and_never_overflow() {
        let config = WorkerConfig::new(
            Duration::from_secs(10),
            vec![Duration::from_secs(60), Duration::MAX],
            32,
        );
        assert_eq!(
            config.schedule,
            vec![Duration::from_secs(60), MAX_RETRY_DELAY]
        );
        assert!(after(Duration::MAX) >= Instant::now());
        let huge = WorkerConfig::new(Duration::MAX, vec![], 1);
        assert_eq!(huge.lease, Duration::MAX);
    }

    #[test]
    fn the_lease_outlasts_any_attempt() {
        let config = WorkerConfig::new(Duration::from_secs(10), vec![], 32);
        assert!(config.lease > config.timeout);
        // A killed worker's deliveries are sent again within twice the timeout.
        assert_eq!(config.lease, Duration::from_secs(20));
        assert_eq!(config.per_webhook, 8);
        assert_eq!(
            WorkerConfig::new(Duration::from_secs(1), vec![], 0).per_webhook,
            1
        );
    }
}
