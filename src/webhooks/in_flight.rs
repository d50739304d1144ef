//! What one worker holds: its attempts in flight, by task, delivery and webhook, and the choice
//! of which locked deliveries to take within its limits.

use std::collections::HashMap;

use tokio::task::AbortHandle;
use uuid::Uuid;

use crate::db::webhook_deliveries::Claimed;

/// The deliveries this worker holds.
#[derive(Default)]
pub struct InFlight {
    /// task → delivery
    tasks: HashMap<tokio::task::Id, Uuid>,
    /// delivery → (claim token, webhook)
    pub claims: HashMap<Uuid, (Uuid, Uuid)>,
    /// webhook → attempts in flight
    pub per_webhook: HashMap<Uuid, usize>,
}

impl InFlight {
    /// Notes an attempt started for a claimed delivery.
    pub fn add(&mut self, task: &AbortHandle, claimed: &Claimed, token: Uuid) {
        self.tasks.insert(task.id(), claimed.id);
        self.claims.insert(claimed.id, (token, claimed.webhook_id));
        *self.per_webhook.entry(claimed.webhook_id).or_default() += 1;
    }

    /// Forgets the attempt of a finished task.
    pub fn remove(&mut self, task: tokio::task::Id) {
        let Some(delivery) = self.tasks.remove(&task) else {
            return;
        };
        if let Some((_, webhook)) = self.claims.remove(&delivery)
            && let Some(count) = self.per_webhook.get_mut(&webhook)
        {
            *count -= 1;
            if *count == 0 {
                self.per_webhook.remove(&webhook);
            }
        }
    }

    /// Webhooks that have no room left.
    pub fn full(&self, per_webhook: usize) -> Vec<Uuid> {
        self.per_webhook
            .iter()
            .filter(|(_, n)| **n >= per_webhook)
            .map(|(id, _)| *id)
            .collect()
    }
}

/// Picks at most `room` of the locked candidates, at most `per_webhook` in flight per webhook.
pub fn choose(
    candidates: &[(Uuid, Uuid)],
    room: usize,
    per_webhook: usize,
    in_flight: &HashMap<Uuid, usize>,
) -> Vec<Uuid> {
    let mut counts = in_flight.clone();
    let mut chosen = Vec::new();
    for (delivery, webhook) in candidates {
        if chosen.len() == room {
            break;
        }
        let count = counts.entry(*webhook).or_default();
        if *count < per_webhook {
            *count += 1;
            chosen.push(*delivery);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choosing_respects_room_and_the_per_webhook_limit() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let d: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
        let candidates = vec![
            (d[0], a),
            (d[1], a),
            (d[2], a),
            (d[3], b),
            (d[4], b),
            (d[5], a),
        ];
        // Two per webhook, room for three.
        assert_eq!(
            choose(&candidates, 3, 2, &HashMap::new()),
            vec![d[0], d[1], d[3]]
        );
        // Webhook a already has one in flight.
        assert_eq!(
            choose(&candidates, 10, 2, &HashMap::from([(a, 1)])),
            vec![d[0], d[3], d[4]]
        );
        assert!(choose(&candidates, 0, 2, &HashMap::new()).is_empty());
    }
}
