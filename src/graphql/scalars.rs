//! The schema's own scalars, each with its `@specifiedBy` URL: `DateTime` (RFC 3339, UTC, at most
//! milliseconds, so JavaScript's `Date` round-trips it exactly) and `Date` (RFC 3339 full-date).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, SecondsFormat, Utc};

/// A point in time, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        DateTime(at)
    }
}

/// A point in time as an RFC 3339 string in UTC with milliseconds, e.g. `2026-11-25T18:20:56.171Z` (finer digits are cut, as JavaScript's `Date` would). Input accepts any RFC 3339 offset.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|at| DateTime(at.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom("not an RFC 3339 date-time")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// A calendar date as an RFC 3339 full-date, e.g. `2026-11-25`.
#[Scalar(
    name = "Date",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("not an RFC 3339 full-date (YYYY-MM-DD)")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn date_times_are_utc_with_milliseconds() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 18, 20, 56).unwrap()
            + chrono::Duration::nanoseconds(171_311_843);
        assert_eq!(
            DateTime(at).to_value(),
            Value::String("2026-11-25T18:20:56.171Z".into())
        );
        let parsed = DateTime::parse(Value::String("2026-11-25T15:20:56.171-03:00".into()))
            .expect("RFC 3339");
        assert_eq!(parsed.to_value(), DateTime(at).to_value());
        assert!(DateTime::parse(Value::String("25/11/2026".into())).is_err());
    }

    #[test]
    fn dates_are_full_dates() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        assert_eq!(Date(day).to_value(), Value::String("2026-01-05".into()));
        assert_eq!(
            Date::parse(Value::String("2026-01-05".into())).unwrap(),
            Date(day)
        );
    }
}
