//! API tokens: 256 random bits, shown once, stored as their SHA-256.
//!
//! A token is `mgv_` followed by 43 URL-safe base64 characters. Being random and long, a plain
//! SHA-256 is the right hash for it (a slow password hash would only slow every request).

use base64::Engine;
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

#[cfg(test)]
mod tests {
    use super::*;

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
