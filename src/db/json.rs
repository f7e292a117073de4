//! JSON columns kept as text until a caller needs their [`Value`].
//!
//! A POP's content holds five JSON columns, most of its bytes. Most reads only write them back
//! out (a POP's `document`, a list page that does not select them), so [`JsonColumn`] keeps the
//! text the database returned, rewritten once into the exact text `serde_json` gives for the
//! value ([`canonical`]: keys in code-point order, the last of duplicate keys, no whitespace,
//! numbers as `serde_json` prints them). It builds the [`Value`] on first use, and a writer of
//! JSON copies the text instead ([`JsonColumn::text`]). Rewriting checks the JSON, so bad stored
//! data is still refused when the row is read, as it was when rows were read into [`Value`]s.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Json, Jsonb};
use diesel::sqlite::{Sqlite, SqliteValue};
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::fmt;
use std::io::Write as _;
use std::ops::{Deref, Range};
use std::sync::OnceLock;

/// A JSON column's value: the canonical text it was read as, parsed on first use.
///
/// It reads as a [`Value`] (`Deref`) and is built from one (`From<Value>`); two columns are equal
/// when their values are. To change it, assign a new one.
#[derive(Clone, AsExpression, FromSqlRow)]
#[diesel(sql_type = Jsonb)]
#[diesel(sql_type = Json)]
pub struct JsonColumn {
    /// `serde_json::to_string` of the value, kept while the value is the one read.
    text: Option<Box<str>>,
    /// The value, built from `text` on first use when it was read.
    value: OnceLock<Value>,
}

impl JsonColumn {
    /// A column holding `text` after checking it is JSON and rewriting it canonically.
    pub fn from_json_text(text: &str) -> Result<Self, serde_json::Error> {
        Ok(JsonColumn {
            text: Some(canonical(text)?.into_boxed_str()),
            value: OnceLock::new(),
        })
    }

    /// The value's JSON text exactly as `serde_json::to_string` would write it, when it is at
    /// hand without serializing (the column was read and not replaced).
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// Serializes as the column's value, written as its stored text when it has one: verbatim
    /// by `serde_json`'s writers (as a [`serde_json::value::RawValue`] is), and parsed into the
    /// same [`Value`] by `serde_json::to_value`.
    pub fn as_written(&self) -> AsWritten<'_> {
        AsWritten(self)
    }

    /// The value, parsed now if it was not yet.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| match &self.text {
            // The text is `serde_json`'s own output for a value it parsed, within the same depth
            // limit: parsing it again cannot fail.
            Some(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            None => Value::Null,
        })
    }
}

impl From<Value> for JsonColumn {
    fn from(value: Value) -> Self {
        JsonColumn {
            text: None,
            value: OnceLock::from(value),
        }
    }
}

impl Deref for JsonColumn {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl PartialEq for JsonColumn {
    fn eq(&self, other: &Self) -> bool {
        match (&self.text, &other.text) {
            // Equal text is an equal value; unequal text may still be (`0.0` and `-0.0`).
            (Some(a), Some(b)) if a == b => true,
            _ => self.value() == other.value(),
        }
    }
}

impl PartialEq<Value> for JsonColumn {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl fmt::Debug for JsonColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value(), f)
    }
}

impl Serialize for JsonColumn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonColumn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(JsonColumn::from)
    }
}

impl FromSql<Jsonb, Pg> for JsonColumn {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        // Binary `jsonb` is a version byte, 1, then the value's text.
        match value.as_bytes().split_first() {
            Some((1, text)) => Ok(JsonColumn::from_json_text(std::str::from_utf8(text)?)?),
            Some(_) => Err("unsupported jsonb encoding version".into()),
            None => Err("empty jsonb value".into()),
        }
    }
}

impl ToSql<Jsonb, Pg> for JsonColumn {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[1])?;
        match &self.text {
            Some(text) => out.write_all(text.as_bytes())?,
            None => serde_json::to_writer(out, self.value())?,
        }
        Ok(IsNull::No)
    }
}

impl FromSql<Json, Sqlite> for JsonColumn {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(JsonColumn::from_json_text(value.read_text())?)
    }
}

impl ToSql<Json, Sqlite> for JsonColumn {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        match &self.text {
            Some(text) => out.set_value(&**text),
            None => out.set_value(serde_json::to_string(self.value())?),
        }
        Ok(IsNull::No)
    }
}

/// A [`JsonColumn`] that serializes as its text where it has one ([`JsonColumn::as_written`]).
pub struct AsWritten<'a>(&'a JsonColumn);

impl Serialize for AsWritten<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self.0.text() {
            // How `RawValue` asks `serde_json` for verbatim output (async-graphql names the same
            // token); a test below fails if `serde_json` stops honouring it.
            Some(text) => {
                let token = async_graphql_value::RAW_VALUE_TOKEN;
                let mut raw = serializer.serialize_struct(token, 1)?;
                raw.serialize_field(token, text)?;
                raw.end()
            }
            None => self.0.value().serialize(serializer),
        }
    }
}

/// Rewrites JSON text into the text `serde_json::to_string` gives for its [`Value`], without
/// building the value: keys in code-point order (the last of duplicates kept, as a map insert
/// does), no whitespace, numbers and strings written by `serde_json`. Fails where parsing into a
/// [`Value`] fails.
pub fn canonical(json: &str) -> Result<String, serde_json::Error> {
    let mut writer = Writer {
        out: Vec::with_capacity(json.len()),
        members: Vec::new(),
        moved: Vec::new(),
    };
    let mut deserializer = serde_json::Deserializer::from_str(json);
    Canonical(&mut writer).deserialize(&mut deserializer)?;
    deserializer.end()?;
    String::from_utf8(writer.out).map_err(serde_json::Error::custom)
}

/// The output of [`canonical`] and what it needs to put an object's members in order.
struct Writer {
    /// The canonical text so far.
    out: Vec<u8>,
    /// The members of the objects being written, innermost last.
    members: Vec<Member>,
    /// An object's members in key order, before they replace the ones in input order.
    moved: Vec<u8>,
}

/// One member of an object being written, by its place in [`Writer::out`].
struct Member {
    /// The key, quotes included, as written.
    key: Range<usize>,
    /// The end of the member's value.
    end: usize,
}

impl Writer {
    /// Writes a string as `serde_json` does; `plain` when it had no escape in its source, which
    /// means it holds no character `serde_json` escapes and is copied as it is.
    fn string(&mut self, v: &str, plain: bool) {
        if plain {
            self.out.push(b'"');
            self.out.extend_from_slice(v.as_bytes());
            self.out.push(b'"');
        } else {
            // Writing a string to a vector cannot fail.
            let _ = serde_json::to_writer(&mut self.out, v);
        }
    }

    /// Puts the members of the object written from `open` (its `{`) on, from `members[first..]`,
    /// in key order, keeping the last of equal keys, and drops them from `members`.
    fn order_members(&mut self, open: usize, first: usize) {
        let members = &self.members[first..];
        let out = &self.out;
        let key = |m: &Member| &out[m.key.clone()];
        if !members
            .windows(2)
            .all(|pair| key_order(key(&pair[0]), key(&pair[1])).is_lt())
        {
            // Stable, so equal keys stay in input order; reversed, `dedup_by` keeps the first of
            // a run, which is the last one written, as a map insert keeps it.
            let mut order: Vec<&Member> = members.iter().collect();
            order.sort_by(|a, b| key_order(key(a), key(b)));
            order.reverse();
            order.dedup_by(|a, b| key_order(key(a), key(b)).is_eq());
            order.reverse();
            self.moved.clear();
            for member in order {
                if !self.moved.is_empty() {
                    self.moved.push(b',');
                }
                self.moved
                    .extend_from_slice(&out[member.key.start..member.end]);
            }
            self.out.truncate(open + 1);
            self.out.extend_from_slice(&self.moved);
        }
        self.members.truncate(first);
    }
}

/// The order of two keys, quoted and escaped as written, by their code points.
fn key_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    if !a.contains(&b'\\') && !b.contains(&b'\\') {
        return a.cmp(b);
    }
    // An escape sorts by the character it stands for.
    let text = |key: &[u8]| serde_json::from_slice::<String>(key).unwrap_or_default();
    text(a).cmp(&text(b))
}

/// Writes the JSON value it is handed, canonically.
struct Canonical<'w>(&'w mut Writer);

impl Canonical<'_> {
    /// Writes a scalar as `serde_json` does.
    fn scalar<T: Serialize + ?Sized, E: serde::de::Error>(self, value: &T) -> Result<(), E> {
        serde_json::to_writer(&mut self.0.out, value).map_err(E::custom)
    }
}

impl<'de> DeserializeSeed<'de> for Canonical<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Canonical<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.0.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        // As a `Value` does: a number that is not finite has no JSON form and becomes `null`.
        match serde_json::Number::from_f64(v) {
            Some(number) => self.scalar(&number),
            None => self.visit_unit(),
        }
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<(), E> {
        // `serde_json` lends a string only when its source had no escape.
        self.0.string(v, true);
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.string(v, false);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let writer = self.0;
        writer.out.push(b'[');
        let mut first = true;
        loop {
            let mark = writer.out.len();
            if !first {
                writer.out.push(b',');
            }
            if seq.next_element_seed(Canonical(writer))?.is_none() {
                writer.out.truncate(mark);
                break;
            }
            first = false;
        }
        writer.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Members are written in input order, then reordered in place if they need it.
        let writer = self.0;
        let open = writer.out.len();
        let first = writer.members.len();
        writer.out.push(b'{');
        loop {
            let mark = writer.out.len();
            if mark > open + 1 {
                writer.out.push(b',');
            }
            let key_start = writer.out.len();
            if map.next_key_seed(Canonical(writer))?.is_none() {
                writer.out.truncate(mark);
                break;
            }
            let key = key_start..writer.out.len();
            writer.out.push(b':');
            map.next_value_seed(Canonical(writer))?;
            let end = writer.out.len();
            writer.members.push(Member { key, end });
        }
        writer.order_members(open, first);
        writer.out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `serde_json`'s own text for the value of `json`.
    fn via_value(json: &str) -> String {
        serde_json::to_string(&serde_json::from_str::<Value>(json).unwrap()).unwrap()
    }

    #[test]
    fn canonical_text_is_the_text_of_the_value() {
        for json in [
            r#"{"b": 1, "a": [1, 2.50, -0, -0.0, 1e2, 1E-7, 18446744073709551615, -9223372036854775808]}"#,
            r#"{"z": {"y": [], "x": {}}, "": null, "é": true, "e": false, "a": "q\"\\\n\u0001\u00e9/"}"#,
            r#"{"dup": 1, "a": 0, "dup": 2}"#,
            r#"{"a\"": 1, "a#": 2, "a\\": 3, "a\n": 4, "a\u0023": 5}"#,
            r#"  "just a string"  "#,
            "12345678901234567890123",
            "[[[]], {}, [{}]]",
            r#"{"ab": 1, "b": 2, "aa": 3, "a\u0000": 4, "\ud83d\ude00": 5, "\uffff": 6}"#,
        ] {
            assert_eq!(canonical(json).unwrap(), via_value(json), "{json}");
        }
    }

    #[test]
    fn what_a_value_refuses_canonical_refuses() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "1 2",
            "nul",
            "\"\\x\"",
            "1e400",
        ] {
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
            assert!(canonical(bad).is_err(), "{bad}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        assert!(canonical(&deep).is_err());
    }

    #[test]
    fn a_read_column_is_its_value_and_writes_its_text() {
        let column = JsonColumn::from_json_text(r#"{"b": [1, "x"], "a": null}"#).unwrap();
        assert_eq!(column.text(), Some(r#"{"a":null,"b":[1,"x"]}"#));
        assert_eq!(column, serde_json::json!({"a": null, "b": [1, "x"]}));
        assert_eq!(
            column,
            JsonColumn::from(serde_json::json!({"b": [1, "x"], "a": null}))
        );
        assert_ne!(
            column,
            JsonColumn::from(serde_json::json!({"b": [1, "y"], "a": null}))
        );
        assert_eq!(JsonColumn::from(serde_json::json!(1)).text(), None);
    }

    #[test]
    fn a_read_column_is_written_verbatim_and_converts_to_its_value() {
        let read = JsonColumn::from_json_text(r#"{"b": [1, 2.5], "a": "x"}"#).unwrap();
        let built = JsonColumn::from(serde_json::json!({"a": "x", "b": [1, 2.5]}));
        for column in [&read, &built] {
            let text = serde_json::to_string(&column.as_written()).unwrap();
            assert_eq!(text, r#"{"a":"x","b":[1,2.5]}"#);
            let raw = serde_json::value::to_raw_value(&column.as_written()).unwrap();
            assert_eq!(raw.get(), text);
            let value = serde_json::to_value(column.as_written()).unwrap();
            assert_eq!(value, serde_json::json!({"a": "x", "b": [1, 2.5]}));
        }
        // Verbatim means verbatim: the writer does not re-check or reformat the text.
        let odd = JsonColumn {
            text: Some("[1,  2]".into()),
            value: OnceLock::new(),
        };
        assert_eq!(serde_json::to_string(&odd.as_written()).unwrap(), "[1,  2]");
    }

    /// Any JSON value, with keys that sort differently by length, by bytes and by code point.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-c\u{e9}\u{1f600}\"\\\\\n\t\u{1}/ ]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[ab#\"\\\\\n\u{1}\u{e9}\u{1f600}]{0,3}", inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    /// `value` as JSON text with every object's keys in reverse order and spaces between tokens,
    /// the way a database may return it (PostgreSQL's `jsonb` sorts keys by length first).
    fn reordered(value: &Value) -> String {
        match value {
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(reordered).collect();
                format!("[ {} ]", items.join(" , "))
            }
            Value::Object(map) => {
                let entries: Vec<String> = map
                    .iter()
                    .rev()
                    .map(|(k, v)| format!("{} : {}", Value::from(k.as_str()), reordered(v)))
                    .collect();
                format!("{{ {} }}", entries.join(" , "))
            }
            scalar => scalar.to_string(),
        }
    }

    proptest! {
        #[test]
        fn canonical_text_matches_serde_json_for_any_value(value in json_value()) {
            let compact = serde_json::to_string(&value).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            prop_assert_eq!(canonical(&compact).unwrap(), compact.clone());
            prop_assert_eq!(canonical(&pretty).unwrap(), compact.clone());
            prop_assert_eq!(canonical(&reordered(&value)).unwrap(), compact.clone());
            let column = JsonColumn::from_json_text(&pretty).unwrap();
            prop_assert_eq!(column.value(), &value);
        }
    }
}
