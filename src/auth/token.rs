//! API tokens: 256 random bits, shown once, stored as their SHA-256.
//!
//! A token is `mgv_` followed by 43 URL-safe base64 characters. Being random and long, a plain
//! SHA-256 is the right hash for it (a slow password hash would only slow every request).
//!
//! A token expires ([`Lifetime`]) a fixed time after it was issued (`TOKEN_MAX_AGE`) and after a
//! time without use (`TOKEN_IDLE_TIMEOUT`). Its `last_used_at` is written at most once a
//! [`TOUCH_EVERY`] per token, so a busy client costs one small write a minute, not one per
//! request; the idle timeout is therefore exact to within that minute.

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// Prefix of every token (lets secret scanners recognise a leaked one).
pub const PREFIX: &str = "mgv_";

/// A new random token.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What is stored for a token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How often at most a token's `last_used_at` is written.
pub const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// How long tokens stay valid; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// `TOKEN_MAX_AGE`: from issue.
    pub max_age: Option<TimeDelta>,
    /// `TOKEN_IDLE_TIMEOUT`: from the last use (or issue, if never used).
    pub idle_timeout: Option<TimeDelta>,
}

/// When a token was issued and last used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Issued at.
    pub created_at: DateTime<Utc>,
    /// Last recorded use.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Lifetime {
    /// Whether a token with this `usage` has expired at `now`.
    pub fn expired(&self, usage: Usage, now: DateTime<Utc>) -> bool {
        let last_active = usage.last_used_at.unwrap_or(usage.created_at);
        self.max_age.is_some_and(|max| now - usage.created_at > max)
            || self
                .idle_timeout
                .is_some_and(|idle| now - last_active > idle)
    }
}

impl Usage {
    /// Whether `last_used_at` is due to be written at `now`.
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        self.last_used_at
            .is_none_or(|last| now - last >= TOUCH_EVERY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_by_age_and_by_idleness() {
        let now = Utc::now();
        let lifetime = Lifetime {
            max_age: Some(TimeDelta::days(30)),
            idle_timeout: Some(TimeDelta::hours(8)),
        };
        let usage = |age: TimeDelta, idle: Option<TimeDelta>| Usage {
            created_at: now - age,
            last_used_at: idle.map(|i| now - i),
        };
        assert!(!lifetime.expired(usage(TimeDelta::hours(1), None), now));
        assert!(lifetime.expired(usage(TimeDelta::hours(9), None), now));
        assert!(!lifetime.expired(usage(TimeDelta::days(29), Some(TimeDelta::hours(7))), now));
        assert!(lifetime.expired(usage(TimeDelta::days(31), Some(TimeDelta::minutes(1))), now));
        let unlimited = Lifetime {
            max_age: None,
            idle_timeout: None,
        };
        assert!(!unlimited.expired(usage(TimeDelta::days(3650), None), now));
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute() {
        let now = Utc::now();
        let at = |last: Option<TimeDelta>| Usage {
            created_at: now - TimeDelta::days(1),
            last_used_at: last.map(|l| now - l),
        };
        assert!(at(None).needs_touch(now));
        assert!(!at(Some(TimeDelta::seconds(30))).needs_touch(now));
        assert!(at(Some(TimeDelta::seconds(61))).needs_touch(now));
    }

    #[test]
    fn tokens_are_random_and_only_their_digest_is_kept() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43);
        assert_eq!(digest(&a).len(), 64);
        assert!(!digest(&a).contains(&a[PREFIX.len()..]));
        assert_eq!(digest(&a), digest(&a));
    }
}
