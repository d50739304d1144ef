//! A line in front of each thread's row lock. Writers to one thread go one at a time in
//! PostgreSQL anyway; without a line here, every request for a thread whose row is locked (by a
//! slow transaction, or by hand) would hold a pool connection while it waits, and a few dozen of
//! them take the whole pool, so that requests about anything else fail too. With it, at most
//! [`PER_RESOURCE`] requests per thread hold a connection; the others wait here, without one,
//! up to the lock timeout, and then answer 503 with `Retry-After` as a lock timeout would. The
//! wait in line counts against the lock timeout: a request that waited here waits that much
//! less for the row lock, so none waits longer than the lock timeout in all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use uuid::Uuid;

use crate::db;
use crate::error::ApiError;

/// Requests per resource that may hold a database connection at once, in this process.
pub const PER_RESOURCE: usize = 2;

/// The lines, one per resource that has writers right now.
#[derive(Debug)]
pub struct Writers {
    lines: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
    /// Longest wait in line; zero waits as long as it takes.
    wait: Duration,
}

/// A place among a resource's writers; dropping it lets the next one in.
#[derive(Debug)]
pub struct Turn {
    key: Uuid,
    permit: Option<OwnedSemaphorePermit>,
    writers: Arc<Writers>,
    /// How long the request waited in line.
    waited: Duration,
}

impl Writers {
    pub fn new(wait: Duration) -> Arc<Self> {
        Arc::new(Self {
            lines: Mutex::new(HashMap::new()),
            wait,
        })
    }

    /// Waits for a turn to write `key` (a thread id); 503 after the longest wait.
    pub async fn turn(self: &Arc<Self>, key: Uuid) -> Result<Turn, ApiError> {
        // First: however this ends (a turn, a timeout, the request dropped while it waits),
        // dropping it tidies the line up.
        let mut turn = Turn {
            key,
            permit: None,
            writers: self.clone(),
            waited: Duration::ZERO,
        };
        let line = self
            .lines
            .lock()
            .map_err(|_| poisoned())?
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(PER_RESOURCE)))
            .clone();
        let line = match line.clone().try_acquire_owned() {
            Ok(permit) => {
                turn.permit = Some(permit);
                return Ok(turn);
            }
            Err(tokio::sync::TryAcquireError::Closed) => return Err(poisoned()),
            Err(tokio::sync::TryAcquireError::NoPermits) => line,
        };
        let started = Instant::now();
        let acquire = line.acquire_owned();
        let permit = if self.wait.is_zero() {
            acquire.await
        } else {
            tokio::time::timeout(self.wait, acquire)
                .await
                .map_err(|_| ApiError::TimedOut("busy resource"))?
        };
        turn.permit = Some(permit.map_err(|_| poisoned())?);
        turn.waited = started.elapsed();
        Ok(turn)
    }

    /// Resources with a line right now (for tests and metrics).
    pub fn lines(&self) -> usize {
        self.lines.lock().map(|lines| lines.len()).unwrap_or(0)
    }
}

impl Turn {
    /// Begins the transaction of this turn: after a wait in line, its lock timeout is what is
    /// left of the wait allowed.
    pub async fn begin(&self, pool: &PgPool) -> Result<db::Tx, ApiError> {
        let mut tx = pool.begin().await?;
        if let Some(left) = self.lock_timeout() {
            db::set_local_lock_timeout(&mut tx, left).await?;
        }
        Ok(tx)
    }

    /// What this turn may still wait for the row lock: the wait allowed less the wait in line
    /// (`None`: no limit).
    pub fn lock_budget(&self) -> Option<Duration> {
        let budget = self.writers.wait;
        if budget.is_zero() {
            return None;
        }
        Some(
            budget
                .saturating_sub(self.waited)
                .max(Duration::from_millis(1)),
        )
    }

    /// The lock timeout of this turn's transaction: what is left of the wait allowed after a
    /// wait in line (`None`: no wait, the session's own lock timeout).
    pub fn lock_timeout(&self) -> Option<Duration> {
        let budget = self.writers.wait;
        if self.waited.is_zero() || budget.is_zero() {
            return None;
        }
        Some(
            budget
                .saturating_sub(self.waited)
                .max(Duration::from_millis(1)),
        )
    }
}

fn poisoned() -> ApiError {
    ApiError::Internal(anyhow::anyhow!("the writers' lines are unusable"))
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.permit.take());
        // The last one out removes the line. Every holder of the semaphore (a waiting turn, a
        // permit) holds a clone of it, so only the map's is left when nobody needs it.
        if let Ok(mut lines) = self.writers.lines.lock()
            && lines
                .get(&self.key)
                .is_some_and(|line| Arc::strong_count(line) == 1)
        {
            lines.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_few_writers_per_resource_get_a_turn_and_the_others_wait() {
        let writers = Writers::new(Duration::from_millis(50));
        let key = Uuid::new_v4();
        let first = writers.turn(key).await.unwrap();
        let _second = writers.turn(key).await.unwrap();
        assert!(matches!(
            writers.turn(key).await,
            Err(ApiError::TimedOut(_))
        ));
        // Another resource is not held up.
        let other = writers.turn(Uuid::new_v4()).await.unwrap();
        drop(other);
        drop(first);
        let _third = writers.turn(key).await.unwrap();
    }

    #[tokio::test]
    async fn lines_are_removed_when_their_last_writer_leaves() {
        let writers = Writers::new(Duration::from_secs(1));
        let key = Uuid::new_v4();
        let a = writers.turn(key).await.unwrap();
        let b = writers.turn(key).await.unwrap();
        assert_eq!(writers.lines(), 1);
        drop(a);
        assert_eq!(writers.lines(), 1);
        drop(b);
        assert_eq!(writers.lines(), 0);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_line_behind() {
        let writers = Writers::new(Duration::from_millis(20));
        let key = Uuid::new_v4();
        let a = writers.turn(key).await.unwrap();
        let b = writers.turn(key).await.unwrap();
        assert!(writers.turn(key).await.is_err());
        drop((a, b));
        assert_eq!(writers.lines(), 0);
    }
}
