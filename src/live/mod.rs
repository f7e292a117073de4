//! Live POPs: change events for subscribers, in this process and across processes.
//!
//! Every accepted write of a POP records a row in `pop_events` ([`crate::db::events`]) inside its
//! transaction. After the commit, every server process hears of it: through PostgreSQL
//! `LISTEN/NOTIFY` on a connection of its own ([`listener`]), or, on SQLite, from
//! [`crate::db::Db::write`] in the same process. What travels is only a hint, `(POP, sequence)`:
//! the [`Hub`] passes it to the subscribers of that POP, and each subscriber ([`feed`]) reads the
//! rows it has not delivered yet from the table. So a subscriber delivers every sequence once, in
//! order, and a lost or late hint only delays events: the next hint, a reconnected listener
//! ([`Hint::Reconnected`]) or the periodic re-check reads what is missing. A sequence the table
//! does not hold (the POP's creation, or events older than a dump/load) is reported as a `resync`.

pub mod feed;
pub mod limits;
pub mod listener;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;

/// Hints a POP's channel holds before a slow subscriber lags (it then reads the table).
const CHANNEL_CAPACITY: usize = 64;

/// Something a subscriber should look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// The POP's write with this sequence committed.
    Written(i32),
    /// The database listener reconnected: notifications may have been lost meanwhile.
    Reconnected,
}

/// The subscribers of this process, by POP (internal id).
#[derive(Debug, Default)]
pub struct Hub {
    channels: Mutex<HashMap<i64, broadcast::Sender<Hint>>>,
}

impl Hub {
    /// Starts receiving the hints of POP `pop_id`.
    pub fn subscribe(self: &Arc<Self>, pop_id: i64) -> Subscription {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = channels
            .entry(pop_id)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        Subscription {
            hub: Arc::clone(self),
            pop_id,
            receiver,
        }
    }

    /// Tells the subscribers of POP `pop_id`, if any, that its write `sequence` committed.
    pub fn publish(&self, pop_id: i64, sequence: i32) {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = channels.get(&pop_id) {
            // No receiver left: the last subscription is being dropped; nothing to tell.
            let _ = sender.send(Hint::Written(sequence));
        }
    }

    /// Tells every subscriber to read what it may have missed.
    pub fn publish_all(&self, hint: Hint) {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for sender in channels.values() {
            let _ = sender.send(hint);
        }
    }

    /// POPs with at least one subscriber in this process.
    pub fn watched(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn release(&self, pop_id: i64) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if channels
            .get(&pop_id)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            channels.remove(&pop_id);
        }
    }
}

/// One subscriber's hints; leaving drops the POP's channel when it was the last.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Hub>,
    pop_id: i64,
    receiver: broadcast::Receiver<Hint>,
}

impl Subscription {
    /// The next hint; `Hint::Reconnected` also stands for hints lost because this subscriber
    /// lagged.
    pub async fn next(&mut self) -> Hint {
        match self.receiver.recv().await {
            Ok(hint) => hint,
            Err(broadcast::error::RecvError::Lagged(_)) => Hint::Reconnected,
            // The hub keeps the sender while this receiver exists.
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Release the receiver first, so the count below no longer includes it.
        let (closed, _) = broadcast::channel(1);
        drop(std::mem::replace(&mut self.receiver, closed.subscribe()));
        self.hub.release(self.pop_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hints_reach_the_subscribers_of_their_pop_only_and_channels_go_away() {
        let hub = Arc::new(Hub::default());
        let mut one = hub.subscribe(1);
        let mut two = hub.subscribe(2);
        hub.publish(1, 5);
        hub.publish_all(Hint::Reconnected);
        assert_eq!(one.next().await, Hint::Written(5));
        assert_eq!(one.next().await, Hint::Reconnected);
        assert_eq!(two.next().await, Hint::Reconnected);
        assert_eq!(hub.watched(), 2);
        drop(one);
        assert_eq!(hub.watched(), 1);
        drop(two);
        assert_eq!(hub.watched(), 0);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_to_read_the_table() {
        let hub = Arc::new(Hub::default());
        let mut slow = hub.subscribe(1);
        for sequence in 0..(CHANNEL_CAPACITY as i32 + 5) {
            hub.publish(1, sequence);
        }
        assert_eq!(slow.next().await, Hint::Reconnected);
    }
}
