//! Operator tasks beyond moving data: dated backups with a checksum manifest and their rotation
//! ([`backup`], [`rotation`], [`upload`]), the retention cleanup of POP data ([`retention`]) and the
//! deployment checks ([`checks`]).

pub mod backup;
pub mod checks;
pub mod retention;
pub mod rotation;
pub mod upload;

use chrono::{DateTime, Utc};

/// Parses an RFC 3339 instant (`2026-11-25T03:00:00Z`) given on the command line, as UTC.
///
/// The commands that depend on the date (`backup`, `cleanup`) take it as `--now` so that their
/// outcome can be rehearsed, and tested, for any day.
pub fn parse_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{raw}` is not an RFC 3339 time like 2026-11-25T03:00:00Z ({e})"))
}
