//! Where a claim starts reading the queue.
//!
//! Claims read the queue's index of pending deliveries from its oldest due entry. Every delivery
//! leaves dead entries there (the versions its lease and its outcome replaced), and while a
//! transaction anywhere in the database holds an old snapshot, PostgreSQL can neither remove nor
//! skip them cheaply: a claim that starts at the beginning reads every delivery made since that
//! transaction began, and throughput falls with the length of the transaction.
//!
//! So a claim starts where the previous one found work, less a margin ([`LOOKBACK`]) for
//! deliveries committed a little after they were written. Deliveries it may not reach that way
//! (those another worker skipped and died holding, or committed much later than written) are
//! found by a scan from the beginning every `sweep_interval`, so none waits longer than that.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use uuid::Uuid;

/// How far before the last work found a claim starts reading.
pub const LOOKBACK: Duration = Duration::from_secs(1);

/// A due delivery a claim locked: `(delivery, webhook, due at)`, in queue order.
pub type Due = (Uuid, Uuid, DateTime<Utc>);

/// Where the next claim starts.
#[derive(Debug)]
pub struct ScanStart {
    /// `None`: from the beginning.
    from: Option<DateTime<Utc>>,
    /// Webhooks left out of the scans (at their limit of attempts in flight), with where their
    /// deliveries may wait: when they are back, the scan starts there at the latest.
    held: HashMap<Uuid, Option<DateTime<Utc>>>,
    last_full: Instant,
    full_every: Duration,
}

impl ScanStart {
    /// Starts from the beginning, then at least every `full_every`.
    pub fn new(full_every: Duration) -> Self {
        Self {
            from: None,
            held: HashMap::new(),
            last_full: Instant::now(),
            full_every,
        }
    }

    /// Where the next scan starts (`None`: from the beginning), for a scan that leaves out the
    /// deliveries of the `excluded` webhooks.
    pub fn next(&mut self, excluded: &[Uuid]) -> Option<DateTime<Utc>> {
        if self.last_full.elapsed() >= self.full_every {
            self.last_full = Instant::now();
            self.from = None;
        }
        for webhook in excluded {
            let from = self.from;
            self.held
                .entry(*webhook)
                .and_modify(|held| *held = earliest(*held, from))
                .or_insert(from);
        }
        let back: Vec<Uuid> = self
            .held
            .keys()
            .filter(|webhook| !excluded.contains(webhook))
            .copied()
            .collect();
        for webhook in back {
            if let Some(held) = self.held.remove(&webhook) {
                self.from = earliest(self.from, held);
            }
        }
        self.from
    }

    /// Moves the start after a scan that locked `candidates` and claimed `chosen` of them.
    pub fn scanned(&mut self, candidates: &[Due], chosen: &[Uuid]) {
        // In queue order: the last one is as far as the scan reached.
        let Some((_, _, reach)) = candidates.last() else {
            return;
        };
        let waiting = candidates
            .iter()
            .filter(|(id, _, _)| !chosen.contains(id))
            .map(|(_, _, due)| *due)
            .min();
        let start = waiting.map_or(*reach, |due| due.min(*reach));
        self.from = Some(start - LOOKBACK);
    }

    /// Where the scans start now, for the lowest due time worth looking at.
    pub fn current(&self) -> Option<DateTime<Utc>> {
        self.from
    }
}

/// The earlier of two starts, `None` being the beginning.
fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn due(seconds: i64, webhook: Uuid) -> Due {
        (Uuid::new_v4(), webhook, at(seconds))
    }

    #[tokio::test(start_paused = true)]
    async fn a_scan_starts_where_the_last_found_work_and_from_the_beginning_now_and_then() {
        let w = Uuid::new_v4();
        let mut start = ScanStart::new(Duration::from_secs(5));
        assert_eq!(start.next(&[]), None, "the first scan reads everything");
        let found = [due(10, w), due(11, w), due(12, w)];
        let chosen: Vec<Uuid> = found.iter().map(|d| d.0).collect();
        start.scanned(&found, &chosen);
        assert_eq!(start.next(&[]), Some(at(12) - LOOKBACK));
        // Nothing found: the start stays.
        start.scanned(&[], &[]);
        assert_eq!(start.next(&[]), Some(at(12) - LOOKBACK));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(start.next(&[]), None, "a sweep from the beginning");
    }

    #[tokio::test(start_paused = true)]
    async fn deliveries_left_waiting_keep_the_start_at_them() {
        let w = Uuid::new_v4();
        let mut start = ScanStart::new(Duration::from_secs(60));
        start.next(&[]);
        let found = [due(10, w), due(11, w), due(20, w)];
        // The one at 11 was not taken (its webhook's limit).
        start.scanned(&found, &[found[0].0, found[2].0]);
        assert_eq!(start.next(&[]), Some(at(11) - LOOKBACK));
    }

    #[tokio::test(start_paused = true)]
    async fn a_webhook_left_out_brings_the_start_back_when_it_returns() {
        let (busy, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mut start = ScanStart::new(Duration::from_secs(60));
        start.next(&[]);
        start.scanned(&[due(10, other)], &[]);
        let before = start.next(&[busy]);
        assert_eq!(before, Some(at(10) - LOOKBACK));
        // While `busy` is left out, the start moves on with the others' work...
        let later = due(30, other);
        start.scanned(&[later], &[later.0]);
        assert_eq!(start.next(&[busy]), Some(at(30) - LOOKBACK));
        // ...and goes back to where `busy`'s deliveries may wait when it returns.
        assert_eq!(start.next(&[]), before);
    }

    #[tokio::test(start_paused = true)]
    async fn a_webhook_left_out_during_a_sweep_returns_to_a_sweep() {
        let busy = Uuid::new_v4();
        let mut start = ScanStart::new(Duration::from_secs(60));
        assert_eq!(start.next(&[busy]), None);
        let found = due(30, Uuid::new_v4());
        start.scanned(&[found], &[found.0]);
        assert!(start.next(&[busy]).is_some());
        assert_eq!(start.next(&[]), None);
    }
}
