//! Normalizing single legacy values: datetimes, uuids, statuses, JSON columns.

use crate::domain::Status;
use anyhow::Context;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

/// Where a value came from, for error messages (`processos_pop id 7, created_at`).
pub(crate) fn at(table: &str, id: i64, column: &str) -> String {
    format!("{table} id {id}, {column}")
}

fn invalid(place: &str, what: &str, raw: &str) -> anyhow::Error {
    anyhow::anyhow!(described(place, what, raw))
}

/// `place: what `raw``, the raw value cut to 60 characters.
fn described(place: &str, what: &str, raw: &str) -> String {
    let shown: String = raw.chars().take(60).collect();
    format!("{place}: {what} `{shown}`")
}

/// Parses a Django datetime: `2025-10-12 15:23:17.394260`, `2025-10-12T02:54:59.484Z`,
/// `2025-10-12 15:23:17`, `2025-10-12T15:23:17+00:00`… Naive values are UTC (Django stores UTC).
pub fn parse_datetime(raw: &str, place: &str) -> anyhow::Result<DateTime<Utc>> {
    let text = raw.trim();
    let t = text.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&t) {
        return Ok(dt.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&t, format) {
            return Ok(naive.and_utc());
        }
    }
    Err(invalid(place, "unreadable datetime", raw))
}

/// Parses an optional Django datetime.
pub fn parse_opt_datetime(raw: Option<&str>, place: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
    raw.filter(|r| !r.trim().is_empty())
        .map(|r| parse_datetime(r, place))
        .transpose()
}

/// Parses a Django date (`YYYY-MM-DD`).
pub fn parse_date(raw: Option<&str>, place: &str) -> anyhow::Result<Option<NaiveDate>> {
    raw.filter(|r| !r.trim().is_empty())
        .map(|r| {
            NaiveDate::parse_from_str(r.trim(), "%Y-%m-%d")
                .with_context(|| described(place, "unreadable date", r))
        })
        .transpose()
}

/// Parses a uuid written with or without hyphens.
pub fn parse_uuid(raw: &str, place: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(raw.trim()).with_context(|| described(place, "unreadable uuid", raw))
}

/// Maps a legacy status to the current workflow names; `None` for an unknown status.
pub fn map_status(raw: &str) -> Option<Status> {
    match raw.trim() {
        "draft" | "in_progress" => Some(Status::Draft),
        "in_review" | "review" => Some(Status::InReview),
        "published" | "approved" => Some(Status::Published),
        "archived" => Some(Status::Archived),
        _ => None,
    }
}

/// Maps a status or fails naming the row.
pub(crate) fn status(raw: &str, place: &str) -> anyhow::Result<Status> {
    map_status(raw).ok_or_else(|| invalid(place, "unknown status", raw))
}

/// Parses the JSON text of a SQLite JSON column.
pub fn parse_json_text(raw: &str, place: &str) -> anyhow::Result<Value> {
    serde_json::from_str(raw).with_context(|| described(place, "invalid JSON", raw))
}

/// A JSON content column: SQL `NULL` is an empty list, anything else is kept as it is.
pub fn content_json(value: Option<Value>) -> Value {
    match value {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(v) => v,
    }
}

/// Decodes `raw_payload`: the old code stored the form state as a JSON string inside the JSON
/// column; a string holding a JSON object or list becomes that object or list.
pub fn decode_raw_payload(value: Option<Value>) -> Option<Value> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(inner @ (Value::Object(_) | Value::Array(_))) => Some(inner),
            _ => Some(Value::String(text)),
        },
        Some(other) => Some(other),
    }
}

/// Converts a legacy integer to the `INTEGER` columns of this schema.
pub(crate) fn int(raw: i64, place: &str) -> anyhow::Result<i32> {
    i32::try_from(raw).map_err(|_| invalid(place, "integer out of range", &raw.to_string()))
}

/// An empty text becomes `None`.
pub(crate) fn non_empty(raw: Option<String>) -> Option<String> {
    raw.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn datetimes_in_every_django_spelling() {
        let micros = parse_datetime("2025-10-12 15:23:17.394260", "t").unwrap();
        assert_eq!(micros.to_rfc3339(), "2025-10-12T15:23:17.394260+00:00");
        let millis = parse_datetime("2025-10-12T02:54:59.484Z", "t").unwrap();
        assert_eq!(millis.timestamp_subsec_millis(), 484);
        let whole = parse_datetime("2025-10-12 15:23:17", "t").unwrap();
        assert_eq!(whole.timestamp_subsec_nanos(), 0);
        let offset = parse_datetime("2025-10-12T12:23:17-03:00", "t").unwrap();
        assert_eq!(offset, whole);
        assert!(parse_datetime("12/10/2025", "t").is_err());
    }

    #[test]
    fn uuids_with_and_without_hyphens() {
        let a = parse_uuid("5b9a1b7e0bc34b12bd9ed634dca3d876", "t").unwrap();
        let b = parse_uuid("5b9a1b7e-0bc3-4b12-bd9e-d634dca3d876", "t").unwrap();
        assert_eq!(a, b);
        assert!(parse_uuid("5b9a", "t").is_err());
    }

    #[test]
    fn legacy_statuses_are_mapped() {
        assert_eq!(map_status("in_progress"), Some(Status::Draft));
        assert_eq!(map_status("review"), Some(Status::InReview));
        assert_eq!(map_status("approved"), Some(Status::Published));
        assert_eq!(map_status("archived"), Some(Status::Archived));
        assert_eq!(map_status("lost"), None);
    }

    #[test]
    fn raw_payload_strings_are_decoded() {
        assert_eq!(
            decode_raw_payload(Some(json!("{\"a\": 1}"))),
            Some(json!({"a": 1}))
        );
        assert_eq!(
            decode_raw_payload(Some(json!("not json"))),
            Some(json!("not json"))
        );
        assert_eq!(decode_raw_payload(Some(json!("42"))), Some(json!("42")));
        assert_eq!(
            decode_raw_payload(Some(json!({"b": 2}))),
            Some(json!({"b": 2}))
        );
        assert_eq!(decode_raw_payload(Some(Value::Null)), None);
    }
}
