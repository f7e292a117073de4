//! Password hashes: argon2id for everything MapaGov writes, and Django's `pbkdf2_sha256` for users
//! imported from the legacy system (verified, then replaced by argon2id on the next login).
//!
//! A hash starting with `!` is Django's "unusable password": it never verifies.
//!
//! Every check costs one argon2id verification with the current parameters, whatever is stored:
//! an unknown user, an unusable password, a legacy or unreadable hash are checked against a fixed
//! dummy hash ([`prepare`] makes it once at start-up), so the time a rejection takes does not tell
//! whether the account exists or has a password. A legacy Django hash additionally costs its own
//! PBKDF2 iterations until its first successful login replaces it.

use argon2::password_hash::{
    PasswordHash, PasswordHashString, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use rand_core::OsRng;
use std::sync::OnceLock;

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Wrong password, unusable or unreadable hash.
    Rejected,
    /// Right password, hash is current.
    Accepted,
    /// Right password, but the hash is a legacy one and should be replaced.
    AcceptedNeedsRehash,
}

/// Hashes a password with argon2id (PHC string format).
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Checks `password` against a stored hash of either format; `None` when there is no such user.
pub fn verify(stored: Option<&str>, password: &str) -> Verdict {
    if let Some(parsed) = stored.and_then(|s| PasswordHash::new(s).ok()) {
        let argon2 = [
            argon2::ARGON2ID_IDENT,
            argon2::ARGON2I_IDENT,
            argon2::ARGON2D_IDENT,
        ];
        if argon2.contains(&parsed.algorithm) {
            return match Argon2::default().verify_password(password.as_bytes(), &parsed) {
                Ok(()) => Verdict::Accepted,
                Err(_) => Verdict::Rejected,
            };
        }
    }
    verify_dummy(password);
    match stored.and_then(|s| s.strip_prefix("pbkdf2_sha256$")) {
        Some(django) if verify_django_pbkdf2(django, password) => Verdict::AcceptedNeedsRehash,
        _ => Verdict::Rejected,
    }
}

/// Makes the dummy hash now (at start-up), so the first rejected login does not pay for it.
pub fn prepare() {
    let _ = dummy();
}

/// An argon2id hash with the current parameters and a fixed salt, of a password nobody sends.
fn dummy() -> Option<&'static PasswordHashString> {
    static DUMMY: OnceLock<Option<PasswordHashString>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::from_b64("bWFwYWdvdi1kdW1teS1zYWx0").ok()?;
            Argon2::default()
                .hash_password(b"mapagov dummy password", &salt)
                .ok()
                .map(|h| h.serialize())
        })
        .as_ref()
}

/// Spends what checking an argon2id hash costs, to no effect.
fn verify_dummy(password: &str) {
    match dummy() {
        Some(stored) => {
            let _ = Argon2::default().verify_password(password.as_bytes(), &stored.password_hash());
        }
        // Hashing costs what verifying does.
        None => {
            let _ = hash(password);
        }
    }
}

/// Most iterations accepted from a stored Django hash (guards against a hash that would stall a
/// login for minutes).
const MAX_DJANGO_ITERATIONS: u32 = 10_000_000;

/// `<iterations>$<salt>$<base64 sha256 digest>`, as Django's `PBKDF2PasswordHasher` writes it.
fn verify_django_pbkdf2(encoded: &str, password: &str) -> bool {
    let mut parts = encoded.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(iterations) = iterations.parse::<u32>() else {
        return false;
    };
    if iterations == 0 || iterations > MAX_DJANGO_ITERATIONS {
        return false;
    }
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(expected) else {
        return false;
    };
    let mut derived = vec![0u8; expected.len().max(1)];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    constant_time_eq(&derived, &expected)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Both produced by Django's algorithm: base64(pbkdf2_hmac('sha256', password, salt, n)).
    const DJANGO_870K: &str =
        "pbkdf2_sha256$870000$q2vN8dBwYkR1xZ0a$y3ls86YP69dEiRPH5iR4KmwVw75Ccy/2PUlugLZEN78=";
    const DJANGO_UNICODE: &str =
        "pbkdf2_sha256$260000$Fx0oYv8uV2m$NOxa+yN1/ftUHG7P6VOzr+0I0OfZIf+D3711Fz2pfio=";

    #[test]
    fn django_hashes_verify_and_ask_for_a_rehash() {
        assert_eq!(
            verify(Some(DJANGO_870K), "correct horse battery staple"),
            Verdict::AcceptedNeedsRehash
        );
        assert_eq!(
            verify(Some(DJANGO_870K), "correct horse battery stapler"),
            Verdict::Rejected
        );
        assert_eq!(
            verify(Some(DJANGO_UNICODE), "senha-ção"),
            Verdict::AcceptedNeedsRehash
        );
        assert_eq!(verify(Some(DJANGO_UNICODE), "senha-cao"), Verdict::Rejected);
    }

    #[test]
    fn argon2id_round_trip() {
        let stored = hash("s3nha forte").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert_eq!(verify(Some(&stored), "s3nha forte"), Verdict::Accepted);
        assert_eq!(verify(Some(&stored), "s3nha fraca"), Verdict::Rejected);
    }

    #[test]
    fn unusable_and_malformed_hashes_never_verify() {
        for stored in [
            "!",
            "!abc",
            "",
            "pbkdf2_sha256$x$y$z",
            "pbkdf2_sha256$0$s$AAAA",
            "md5$a$b",
            "$argon2id$broken",
        ] {
            assert_eq!(verify(Some(stored), ""), Verdict::Rejected, "{stored}");
            assert_eq!(
                verify(Some(stored), "anything"),
                Verdict::Rejected,
                "{stored}"
            );
        }
        assert_eq!(verify(None, "anything"), Verdict::Rejected);
        assert!(dummy().is_some(), "the dummy hash is made");
    }
}
