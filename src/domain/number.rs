//! The one canonical form of a JSON number: what MapaGov stores, hashes and compares.
//!
//! PostgreSQL keeps a `jsonb` number as `numeric` and gives back its plain decimal text, so a
//! number written in exponent form without a fraction comes back as an integer (`1e16` →
//! `10000000000000000`), and `-0.0` comes back as `0.0`. Python's `json` (whose `dumps` is the
//! legacy hash, see [`super::hash`]) reads those two texts as different values from the ones
//! sent. A number that crossed PostgreSQL would then hash differently from the same number
//! before, on PostgreSQL only. So every number that enters through the API is first put in
//! the form that survives the trip unchanged on both backends:
//!
//! - an integer in the 64-bit range (−2⁶³ … 2⁶⁴−1) stays as it is;
//! - `-0.0` becomes `0.0` (`numeric` has no negative zero);
//! - a float whose magnitude is at least 10¹⁶ becomes the integer of the same value (every
//!   such float is a whole number; it is the range where both `serde_json` and Python write
//!   floats in exponent form, which `numeric` turns into an integer);
//! - every other float stays as it is: `serde_json` writes it with a decimal point or a
//!   negative exponent, `numeric` keeps it a fraction, and reading it back gives the same
//!   bits (shortest round-trip digits, `float_roundtrip`);
//! - a number beyond the 64-bit integer range is refused ([`OutOfRange`]): a client's integer
//!   that large has already been rounded to a float by the JSON parser, and a float that
//!   large would come back from PostgreSQL as an integer that Python hashes differently.
//!
//! The canonical form of a canonical number is itself, so canonicalising is idempotent; the
//! legacy hash of imported data is unaffected (its numbers are read and hashed as stored).

use serde_json::{Number, Value};

/// Floats of at least this magnitude are whole numbers written in exponent form.
const MIN_EXPONENT_FORM: f64 = 1e16;

/// The smallest integer that does not fit in `u64`: 2⁶⁴.
const U64_END: f64 = 18_446_744_073_709_551_616.0;

/// The smallest `i64`, −2⁶³, exactly representable as a float.
const I64_START: f64 = -9_223_372_036_854_775_808.0;

/// A number beyond the 64-bit integer range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange;

/// What [`canonical_value`] refuses: the path (`/`-free, dot-separated keys and indexes from
/// the value's root) of the first number beyond the 64-bit range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRangeAt(pub Vec<String>);

/// The canonical form of one number (see the module doc).
pub fn canonical_number(number: &Number) -> Result<Number, OutOfRange> {
    if number.is_i64() || number.is_u64() {
        return Ok(number.clone());
    }
    let Some(float) = number.as_f64() else {
        return Ok(number.clone());
    };
    if float == 0.0 {
        return Ok(Number::from_f64(0.0).unwrap_or_else(|| Number::from(0)));
    }
    if float.abs() < MIN_EXPONENT_FORM {
        return Ok(number.clone());
    }
    if (0.0..U64_END).contains(&float) {
        // Whole (every float this large is) and in range: the conversion is exact.
        Ok(Number::from(float as u64))
    } else if (I64_START..0.0).contains(&float) {
        Ok(Number::from(float as i64))
    } else {
        Err(OutOfRange)
    }
}

/// Whether a number is already in its canonical form (and in range).
pub fn is_canonical(number: &Number) -> bool {
    canonical_number(number).is_ok_and(|canonical| canonical == *number)
}

/// The value with every number (at any depth) in its canonical form, or the path of the first
/// number out of range.
pub fn canonical_value(value: &Value) -> Result<Value, OutOfRangeAt> {
    match value {
        Value::Number(number) => canonical_number(number)
            .map(Value::Number)
            .map_err(|OutOfRange| OutOfRangeAt(Vec::new())),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| canonical_value(item).map_err(|err| err.under(index.to_string())))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(key, item)| {
                canonical_value(item)
                    .map(|item| (key.clone(), item))
                    .map_err(|err| err.under(key.clone()))
            })
            .collect::<Result<_, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

impl OutOfRangeAt {
    fn under(mut self, segment: String) -> Self {
        self.0.insert(0, segment);
        self
    }
}

/// The message a client gets for a number out of range.
pub const OUT_OF_RANGE_MESSAGE: &str = "numbers must lie within the 64-bit integer range \
     (-9223372036854775808 to 18446744073709551615); send larger values as strings";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical_text(input: &str) -> Result<String, OutOfRange> {
        let value: Value = serde_json::from_str(input).expect("valid JSON");
        let Value::Number(number) = value else {
            panic!("not a number")
        };
        canonical_number(&number).map(|n| n.to_string())
    }

    #[test]
    fn numbers_take_the_form_postgresql_gives_back() {
        for (input, expected) in [
            ("1e16", "10000000000000000"),
            ("1.5e16", "15000000000000000"),
            ("-1e16", "-10000000000000000"),
            ("1e19", "10000000000000000000"),
            ("-0.0", "0.0"),
            ("-0", "0.0"),
            ("0.0", "0.0"),
            ("0", "0"),
            ("1.0", "1.0"),
            ("1.5e-7", "1.5e-7"),
            ("9999999999999998.0", "9999999999999998.0"),
            ("0.1", "0.1"),
            ("42", "42"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("18446744073709551615", "18446744073709551615"),
        ] {
            assert_eq!(canonical_text(input), Ok(expected.to_owned()), "{input}");
        }
    }

    #[test]
    fn numbers_beyond_64_bits_are_refused() {
        for input in [
            "18446744073709551616",
            "123456789012345678901234567890",
            "1e20",
            "-1e19",
            "1.7976931348623157e308",
        ] {
            assert_eq!(canonical_text(input), Err(OutOfRange), "{input}");
        }
    }

    #[test]
    fn canonical_value_names_the_path_of_the_number_out_of_range() {
        let value = json!({"a": [1, {"b": 1e300}], "c": -0.0});
        assert_eq!(
            canonical_value(&value),
            Err(OutOfRangeAt(vec!["a".into(), "1".into(), "b".into()]))
        );
        let fine = json!({"a": [1e16, -0.0, 2.5]});
        assert_eq!(
            canonical_value(&fine),
            Ok(json!({"a": [10_000_000_000_000_000_u64, 0.0, 2.5]}))
        );
    }
}
