//! Login brute-force limits: attempts per username and per client address, each a GCRA quota
//! (a burst, refilled over a minute).

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

/// Limits login attempts; cheap to share behind an `Arc`.
pub struct LoginLimiter {
    per_user: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginLimiter {
    /// At most `per_minute` attempts per username and per address each minute.
    pub fn new(per_minute: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute);
        LoginLimiter {
            per_user: RateLimiter::keyed(quota),
            per_address: RateLimiter::keyed(quota),
        }
    }

    /// Counts one attempt; `false` when either limit is exhausted.
    pub fn allow(&self, username: &str, address: Option<IpAddr>) -> bool {
        let user_ok = self.per_user.check_key(&username.to_lowercase()).is_ok();
        let address_ok = address.is_none_or(|a| self.per_address.check_key(&a).is_ok());
        // Forget keys whose quota is full again, so the maps do not grow without bound.
        self.per_user.retain_recent();
        self.per_address.retain_recent();
        user_ok && address_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_and_each_address_has_its_own_budget() {
        let limiter = LoginLimiter::new(NonZeroU32::new(3).unwrap());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!((0..3).all(|_| limiter.allow("maria", Some(a))));
        assert!(
            !limiter.allow("maria", Some(b)),
            "the user's budget is spent"
        );
        assert!(
            !limiter.allow("joao", Some(a)),
            "the address's budget is spent"
        );
        assert!(limiter.allow("joao", Some(b)));
    }
}
