//! Authenticated tokens remembered by one server process, so a request costs no token lookup.
//!
//! A cached token is trusted only while this process hears every change that could revoke it:
//! on PostgreSQL, triggers on `api_tokens` (a revocation, a deleted token) and `users` (any change
//! of a user, e.g. deactivation or a new role) send `NOTIFY mapagov_auth`, whichever process or
//! tool made the change, and the database listener ([`crate::live::listener`]) empties the cache
//! when it hears one. So a revoked token is refused everywhere within the time PostgreSQL takes
//! to deliver a notification (milliseconds); the process that revoked it empties its own cache at
//! once. While the listener is not connected (and on SQLite, which has no notifications) the cache
//! is off and every request looks its token up. The listener confirms its connection with a query
//! every [`crate::live::listener::PING_EVERY`]; a cache not confirmed within [`FRESH_FOR`] is off
//! too, so a listener whose network dropped silently, or whose task died, stops being trusted
//! within seconds. Entries also expire after `AUTH_CACHE_SECONDS`,
//! and token expiry ([`super::token::Lifetime`]) is checked on every request from the cached
//! usage, which records this process's touches.
//!
//! A lookup that raced a revocation cannot put a stale entry back: entries are stored only if no
//! notification arrived since the lookup began (the cache's epoch is unchanged).

use super::token::Usage;
use super::AuthUser;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most tokens remembered; past it, the cache starts again empty (a burst of distinct tokens).
pub const MAX_ENTRIES: usize = 10_000;

/// How long the listener's last confirmation keeps the cache on.
pub const FRESH_FOR: Duration = Duration::from_secs(10);

/// The PostgreSQL notification channel of changes to tokens and users.
pub const CHANNEL: &str = "mapagov_auth";

/// The tokens this process has authenticated recently (see the module docs).
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Whether every revocation is being heard (the listener is connected), as last confirmed.
    listening: bool,
    /// When the listener last showed its connection alive.
    confirmed_at: Option<Instant>,
    /// Bumped whenever the cache is emptied.
    epoch: u64,
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    user: AuthUser,
    usage: Usage,
    stored_at: Instant,
}

/// Where a lookup started, for [`TokenCache::store`].
#[derive(Debug, Clone, Copy)]
pub struct Epoch(u64);

impl TokenCache {
    /// A cache whose entries live at most `ttl` (zero: never used), off until
    /// [`TokenCache::listening`] turns it on.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The user and usage of the token with `digest`, if cached, fresh and the cache is on;
    /// otherwise the epoch to hand to [`TokenCache::store`] after looking it up.
    pub fn get(&self, digest: &str) -> Result<(AuthUser, Usage), Epoch> {
        let state = self.state();
        match state.entries.get(digest) {
            Some(entry) if state.trusted() && entry.stored_at.elapsed() < self.ttl => {
                Ok((entry.user.clone(), entry.usage))
            }
            _ => Err(Epoch(state.epoch)),
        }
    }

    /// The epoch a lookup starts from (for [`TokenCache::store`]).
    pub fn epoch(&self) -> Epoch {
        Epoch(self.state().epoch)
    }

    /// Remembers a looked-up token, unless the cache is off or was emptied since `epoch`.
    pub fn store(&self, epoch: Epoch, user: &AuthUser, usage: Usage) {
        if self.ttl.is_zero() {
            return;
        }
        let mut state = self.state();
        if !state.trusted() || state.epoch != epoch.0 {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
        }
        state.entries.insert(
            user.token_digest.clone(),
            Entry {
                user: user.clone(),
                usage,
                stored_at: Instant::now(),
            },
        );
    }

    /// Records that this process wrote the token's `last_used_at`.
    pub fn touched(&self, digest: &str, at: DateTime<Utc>) {
        if let Some(entry) = self.state().entries.get_mut(digest) {
            entry.usage.last_used_at = Some(at);
        }
    }

    /// Forgets every token: a token or user changed somewhere.
    pub fn clear(&self) {
        let mut state = self.state();
        state.epoch += 1;
        state.entries.clear();
    }

    /// Turns the cache on (the listener connected and listens) or off (it lost its connection:
    /// revocations may go unheard). Either way it starts empty.
    pub fn listening(&self, on: bool) {
        let mut state = self.state();
        state.listening = on;
        state.confirmed_at = on.then(Instant::now);
        state.epoch += 1;
        state.entries.clear();
    }

    /// The listener's connection answered just now.
    pub fn confirmed(&self) {
        let mut state = self.state();
        if state.listening {
            state.confirmed_at = Some(Instant::now());
        }
    }
}

impl State {
    /// Listening, and confirmed recently enough to be believed.
    fn trusted(&self) -> bool {
        self.listening && self.confirmed_at.is_some_and(|at| at.elapsed() < FRESH_FOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(digest: &str) -> AuthUser {
        AuthUser {
            id: 1,
            username: "ana".into(),
            is_staff: false,
            area_codigo: None,
            reviewed_areas: Vec::new(),
            token_digest: digest.into(),
        }
    }

    fn usage() -> Usage {
        Usage {
            created_at: Utc::now(),
            last_used_at: None,
        }
    }

    #[test]
    fn nothing_is_cached_until_revocations_are_heard() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let epoch = cache.get("t").unwrap_err();
        cache.store(epoch, &user("t"), usage());
        assert!(
            cache.get("t").is_err(),
            "off: the listener is not connected"
        );
        cache.listening(true);
        let epoch = cache.get("t").unwrap_err();
        cache.store(epoch, &user("t"), usage());
        assert_eq!(cache.get("t").unwrap().0, user("t"));
        cache.listening(false);
        assert!(cache.get("t").is_err(), "off again, and emptied");
    }

    #[test]
    fn a_listener_not_confirmed_lately_is_not_trusted() {
        let cache = TokenCache::new(Duration::from_secs(600));
        cache.listening(true);
        let epoch = cache.get("t").unwrap_err();
        cache.store(epoch, &user("t"), usage());
        assert!(cache.get("t").is_ok());
        // The last confirmation is older than FRESH_FOR: the listener may be dead.
        cache.state().confirmed_at = Instant::now().checked_sub(FRESH_FOR);
        assert!(cache.get("t").is_err());
        cache.confirmed();
        assert!(cache.get("t").is_ok(), "confirmed again");
    }

    #[test]
    fn a_lookup_that_raced_a_change_is_not_stored() {
        let cache = TokenCache::new(Duration::from_secs(60));
        cache.listening(true);
        let epoch = cache.get("t").unwrap_err();
        cache.clear(); // a revocation was heard while the lookup ran
        cache.store(epoch, &user("t"), usage());
        assert!(cache.get("t").is_err());
    }

    #[test]
    fn entries_expire_and_touches_are_kept() {
        let cache = TokenCache::new(Duration::from_millis(50));
        cache.listening(true);
        let epoch = cache.get("t").unwrap_err();
        cache.store(epoch, &user("t"), usage());
        let at = Utc::now();
        cache.touched("t", at);
        assert_eq!(cache.get("t").unwrap().1.last_used_at, Some(at));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("t").is_err());
        let off = TokenCache::new(Duration::ZERO);
        off.listening(true);
        let epoch = off.get("t").unwrap_err();
        off.store(epoch, &user("t"), usage());
        assert!(off.get("t").is_err(), "a zero lifetime turns the cache off");
    }
}
