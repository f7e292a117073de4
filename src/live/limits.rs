//! How many subscriptions may be open, per connection (`SUBSCRIPTIONS_PER_CONNECTION`) and per
//! user across this process's connections (`SUBSCRIPTIONS_PER_USER`), and the counts `/metrics`
//! shows.

use crate::error::AppError;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The code of a subscription refused for a limit.
pub const TOO_MANY_SUBSCRIPTIONS: &str = "TOO_MANY_SUBSCRIPTIONS";

/// The live metrics (registered by [`crate::telemetry::metrics::Metrics::new`]).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Subscriptions open now.
    pub open: Gauge,
    /// Events sent to subscribers (changes and resyncs).
    pub events: Counter,
    /// Times the database listener (re)connected after losing its connection.
    pub listener_reconnects: Counter,
    /// 1 while the PostgreSQL listener is connected.
    pub listener_up: Gauge,
}

/// The limits and the open subscriptions per user.
#[derive(Debug)]
pub struct Limits {
    per_connection: usize,
    per_user: usize,
    users: Mutex<HashMap<i64, usize>>,
    /// What `/metrics` shows.
    pub stats: Stats,
}

/// The subscriptions open on one connection (a WebSocket; an SSE request is a connection of its
/// own).
#[derive(Debug, Clone, Default)]
pub struct ConnectionCount(Arc<AtomicUsize>);

/// An open subscription's place within the limits, given back when dropped.
#[derive(Debug)]
pub struct Permit {
    limits: Arc<Limits>,
    user: i64,
    connection: ConnectionCount,
}

impl Limits {
    /// Limits of `per_connection` and `per_user` open subscriptions.
    pub fn new(per_connection: usize, per_user: usize, stats: Stats) -> Limits {
        Limits {
            per_connection,
            per_user,
            users: Mutex::default(),
            stats,
        }
    }

    /// A place for one more subscription of `user` on `connection`, or `TOO_MANY_SUBSCRIPTIONS`.
    pub fn acquire(
        self: &Arc<Self>,
        user: i64,
        connection: &ConnectionCount,
    ) -> Result<Permit, AppError> {
        let refuse = |message: String| AppError::Limit {
            code: TOO_MANY_SUBSCRIPTIONS,
            message,
        };
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if connection.0.load(Ordering::SeqCst) >= self.per_connection {
            return Err(refuse(format!(
                "at most {} subscriptions per connection",
                self.per_connection
            )));
        }
        let count = users.entry(user).or_insert(0);
        if *count >= self.per_user {
            return Err(refuse(format!(
                "at most {} subscriptions per user",
                self.per_user
            )));
        }
        *count += 1;
        connection.0.fetch_add(1, Ordering::SeqCst);
        self.stats.open.inc();
        Ok(Permit {
            limits: Arc::clone(self),
            user,
            connection: connection.clone(),
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut users = self
            .limits
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = users.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                users.remove(&self.user);
            }
        }
        self.connection.0.fetch_sub(1, Ordering::SeqCst);
        self.limits.stats.open.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_per_connection_and_per_user_and_permits_give_back() {
        let limits = Arc::new(Limits::new(2, 3, Stats::default()));
        let (a, b) = (ConnectionCount::default(), ConnectionCount::default());
        let p1 = limits.acquire(1, &a).unwrap();
        let _p2 = limits.acquire(1, &a).unwrap();
        let err = limits.acquire(1, &a).unwrap_err();
        assert_eq!(err.code(), TOO_MANY_SUBSCRIPTIONS);
        let _p3 = limits.acquire(1, &b).unwrap();
        assert_eq!(
            limits.acquire(1, &b).unwrap_err().code(),
            TOO_MANY_SUBSCRIPTIONS
        );
        let _other_user = limits.acquire(2, &b).unwrap();
        assert_eq!(limits.stats.open.get(), 4);
        drop(p1);
        assert_eq!(limits.stats.open.get(), 3);
        assert!(limits.acquire(1, &a).is_ok());
    }
}
