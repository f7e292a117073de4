//! The legacy integrity hash of a POP document.
//!
//! The Django system stored, for every POP and snapshot, the SHA-256 (lowercase hex) of
//! Python's `json.dumps(doc, sort_keys=True, ensure_ascii=False)`, where `doc` is the POP
//! document without its top-level `"uuid"` key. Imported data stays verifiable only if this
//! module reproduces that text byte for byte, so it serializes explicitly instead of relying
//! on `serde_json`'s map ordering or number formatting.
//!
//! What this module sees is the [`Value`] that `serde_json` built (with `float_roundtrip`, so
//! every float is read to the same bits as Python reads it). Integers beyond the `i64`/`u64`
//! range and the literal `-0` arrive as floats (Python keeps them as integers): the API never
//! lets such numbers in, because every number it accepts is first put in the canonical form of
//! [`super::number`] (the form PostgreSQL's `jsonb` gives back and Python reads as the same
//! value), so a document hashes the same before and after it is stored, on either backend.
//! Imported legacy data is hashed as stored, which is what the Django system hashed.

use std::iter;

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

/// The top-level key that the legacy hash leaves out.
const UUID_KEY: &str = "uuid";

/// Python's `repr(float)` switches to exponent notation below this decimal exponent.
const MIN_FIXED_EXPONENT: i32 = -4;

/// Python's `repr(float)` switches to exponent notation from this decimal exponent on.
const MAX_FIXED_EXPONENT: i32 = 16;

/// Returns exactly what Python 3's `json.dumps(value, sort_keys=True, ensure_ascii=False)`
/// returns for the same JSON value.
///
/// Separators are `", "` and `": "`; object keys are sorted by code point at every level;
/// non-ASCII characters are written as themselves; `"`, `\`, `\n`, `\r`, `\t`, backspace and
/// form feed get their short escapes and the other control characters below U+0020 become
/// `\u00XX` (lowercase hex); integers are written in full and floats as Python's `repr`.
#[must_use]
pub fn python_json_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// Returns the legacy integrity hash of a document: the lowercase hex SHA-256 of
/// [`python_json_dumps`] applied to the document without its top-level `"uuid"` key.
///
/// A document that is not a JSON object is hashed as it is.
#[must_use]
pub fn integrity_hash(document: &Value) -> String {
    let mut out = String::new();
    match document {
        Value::Object(map) => write_object(&mut out, map, Some(UUID_KEY)),
        other => write_value(&mut out, other),
    }
    hex::encode(Sha256::digest(out.as_bytes()))
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => write_array(out, items),
        Value::Object(map) => write_object(out, map, None),
    }
}

fn write_array(out: &mut String, items: &[Value]) {
    out.push('[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        write_value(out, item);
    }
    out.push(']');
}

/// Writes an object with its keys in code point order (which is the byte order of UTF-8),
/// leaving out `skip_key` when given.
fn write_object(out: &mut String, map: &Map<String, Value>, skip_key: Option<&str>) {
    let mut entries: Vec<(&String, &Value)> = map
        .iter()
        .filter(|(key, _)| Some(key.as_str()) != skip_key)
        .collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (index, (key, value)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        write_string(out, key);
        out.push_str(": ");
        write_value(out, value);
    }
    out.push('}');
}

/// Writes a string literal escaped like Python's `json.encoder.py_encode_basestring`.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    let mut copied_up_to = 0;
    for (index, special) in text.match_indices(needs_escape) {
        out.push_str(&text[copied_up_to..index]);
        special.chars().for_each(|c| write_escape(out, c));
        copied_up_to = index + special.len();
    }
    out.push_str(&text[copied_up_to..]);
    out.push('"');
}

fn needs_escape(c: char) -> bool {
    c < ' ' || c == '"' || c == '\\'
}

fn write_escape(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        other => {
            let code = u32::from(other);
            out.push_str("\\u00");
            out.push(hex_digit(code >> 4));
            out.push(hex_digit(code));
        }
    }
}

/// The lowercase hex digit of the low four bits of `value`.
fn hex_digit(value: u32) -> char {
    char::from_digit(value & 0xf, 16).unwrap_or('0')
}

fn write_number(out: &mut String, number: &Number) {
    if let Some(unsigned) = number.as_u64() {
        write_unsigned(out, unsigned);
    } else if let Some(signed) = number.as_i64() {
        if signed < 0 {
            out.push('-');
        }
        write_unsigned(out, signed.unsigned_abs());
    } else if let Some(float) = number.as_f64() {
        write_float(out, float);
    } else {
        out.push_str(&number.to_string());
    }
}

fn write_unsigned(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    digits[start..]
        .iter()
        .for_each(|&digit| out.push(char::from(digit)));
}

/// Writes a float as Python's `repr(float)` (and so `json.dumps`) does: the shortest digits
/// that round-trip, in fixed notation when the decimal exponent is in `-4..16` (always with a
/// fractional part, as in `1.0`), otherwise as `d.ddde+XX` with at least two exponent digits.
fn write_float(out: &mut String, value: f64) {
    if !value.is_finite() {
        out.push_str(python_non_finite(value));
        return;
    }
    // Rust's `{:e}` gives the same shortest round-trip digits, as `d.ddde<exp>`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if negative {
        out.push('-');
    }
    if (MIN_FIXED_EXPONENT..MAX_FIXED_EXPONENT).contains(&exponent) {
        write_fixed(out, &digits, exponent);
    } else {
        write_exponent(out, &digits, exponent);
    }
}

/// What Python's `json.dumps` writes for NaN and the infinities (its default `allow_nan`).
fn python_non_finite(value: f64) -> &'static str {
    if value.is_nan() {
        "NaN"
    } else if value.is_sign_positive() {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// Writes `0.ddd`, `ddd.ddd` or `ddd000.0` for the significant `digits` of a number whose
/// first digit has the decimal exponent `exponent`.
fn write_fixed(out: &mut String, digits: &str, exponent: i32) {
    // How many digits stand before the decimal point; zero or less below 1.
    let point = exponent + 1;
    match usize::try_from(point) {
        Ok(integer_len) if integer_len >= digits.len() => {
            out.push_str(digits);
            out.extend(iter::repeat_n('0', integer_len - digits.len()));
            out.push_str(".0");
        }
        Ok(integer_len) if integer_len > 0 => {
            let (integer, fraction) = digits.split_at(integer_len);
            out.push_str(integer);
            out.push('.');
            out.push_str(fraction);
        }
        _ => {
            out.push_str("0.");
            out.extend(iter::repeat_n('0', point.unsigned_abs() as usize));
            out.push_str(digits);
        }
    }
}

/// Writes `d.ddde+XX` / `de-XX` for the significant `digits` and decimal `exponent`.
fn write_exponent(out: &mut String, digits: &str, exponent: i32) {
    let mut chars = digits.chars();
    if let Some(first) = chars.next() {
        out.push(first);
    }
    let rest = chars.as_str();
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    out.push('e');
    out.push(if exponent < 0 { '-' } else { '+' });
    let magnitude = exponent.unsigned_abs();
    if magnitude < 10 {
        out.push('0');
    }
    write_unsigned(out, u64::from(magnitude));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `(input JSON, expected output)`: each expected string was produced by CPython 3's
    /// `json.dumps(json.loads(input), sort_keys=True, ensure_ascii=False)`.
    const PYTHON_CASES: &[(&str, &str)] = &[
        (
            r#"{"b": 1, "a": {"d": [3, 2, {"z": null, "y": true}], "c": false}}"#,
            r#"{"a": {"c": false, "d": [3, 2, {"y": true, "z": null}]}, "b": 1}"#,
        ),
        (
            r#"{"nome": "Gestão de ação", "emoji": "😀🚀", "cjk": "中文字符", "acentos": "ãçéíõú ÃÇ"}"#,
            r#"{"acentos": "ãçéíõú ÃÇ", "cjk": "中文字符", "emoji": "😀🚀", "nome": "Gestão de ação"}"#,
        ),
        (
            r#""ctrl: \u0000\u0001\u0007\u000b\u000e\u001b\u001f \b\f\n\r\t end""#,
            r#""ctrl: \u0000\u0001\u0007\u000b\u000e\u001b\u001f \b\f\n\r\t end""#,
        ),
        (
            r#""quotes \" and \\ backslash / slash \\\" mix""#,
            r#""quotes \" and \\ backslash / slash \\\" mix""#,
        ),
        (
            r#""del \u007f ls \u2028 ps \u2029 nbsp \u00a0 bom \ufeff""#,
            "\"del \u{7f} ls \u{2028} ps \u{2029} nbsp \u{a0} bom \u{feff}\"",
        ),
        (
            r#"[1.0, 1e20, 1e16, 1e-7, 0.1, 123456789012345.0, -0.0, 0.0, 1e15, 9999999999999998.0, 0.0001, 0.00001, 1.5e300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]"#,
            r#"[1.0, 1e+20, 1e+16, 1e-07, 0.1, 123456789012345.0, -0.0, 0.0, 1000000000000000.0, 9999999999999998.0, 0.0001, 1e-05, 1.5e+300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e+308]"#,
        ),
        (
            r#"[123.456, -1.5, 3.141592653589793, 1e22, 1.23e-5, 100.0, 0.3, 2.5e-5, 0.1e1, -2.5e-10, 1.5e16, 4.35, 0.000123, 1e-4]"#,
            r#"[123.456, -1.5, 3.141592653589793, 1e+22, 1.23e-05, 100.0, 0.3, 2.5e-05, 1.0, -2.5e-10, 1.5e+16, 4.35, 0.000123, 0.0001]"#,
        ),
        (
            r#"[0, -1, 9223372036854775807, -9223372036854775808, 18446744073709551615, 42, -42]"#,
            r#"[0, -1, 9223372036854775807, -9223372036854775808, 18446744073709551615, 42, -42]"#,
        ),
        (r#"[]"#, r#"[]"#),
        (r#"{}"#, r#"{}"#),
        (
            r#"[[], {}, [[]], {"a": {}}, [[1, [2, [3]]]]]"#,
            r#"[[], {}, [[]], {"a": {}}, [[1, [2, [3]]]]]"#,
        ),
        (r#"null"#, r#"null"#),
        (r#"true"#, r#"true"#),
        (r#"false"#, r#"false"#),
        (r#""plain""#, r#""plain""#),
        (
            r#"{"é": 1, "z": 2, "Z": 3, "a": 4, "ä": 5, "\ud83d\ude00": 6, "中": 7, "": 8, "aa": 9, "a b": 10, "\uff01": 11, "A": 12}"#,
            r#"{"": 8, "A": 12, "Z": 3, "a": 4, "a b": 10, "aa": 9, "z": 2, "ä": 5, "é": 1, "中": 7, "！": 11, "😀": 6}"#,
        ),
        (
            r#"{"a\"b": "x", "c\nd": "y", "\\": "z", "tab\tkey": null}"#,
            r#"{"\\": "z", "a\"b": "x", "c\nd": "y", "tab\tkey": null}"#,
        ),
        (
            r#"{"area": {"nome": "Coordenação-Geral", "codigo": "7.2"}, "etapas": [{"numero": 1, "descricao": "Receber o pedido", "detalhes": ["Conferir", "Registrar no SEI"], "operador": "Técnico"}, {"tipo": "condicional", "cenarios": [{"descricao": "Sim", "proximo_passo": 3}]}], "versao": 2, "status": "draft", "sistemas": ["SEI", "SIAPE"], "pontos_atencao": null}"#,
            r#"{"area": {"codigo": "7.2", "nome": "Coordenação-Geral"}, "etapas": [{"descricao": "Receber o pedido", "detalhes": ["Conferir", "Registrar no SEI"], "numero": 1, "operador": "Técnico"}, {"cenarios": [{"descricao": "Sim", "proximo_passo": 3}], "tipo": "condicional"}], "pontos_atencao": null, "sistemas": ["SEI", "SIAPE"], "status": "draft", "versao": 2}"#,
        ),
    ];

    #[test]
    fn matches_python_json_dumps_on_tricky_values() {
        for (input, expected) in PYTHON_CASES {
            let value: Value = serde_json::from_str(input).expect("test input is valid JSON");
            assert_eq!(python_json_dumps(&value), *expected, "input: {input}");
        }
    }

    /// Each expected string is CPython 3's `repr(float)` of the same literal.
    #[test]
    fn writes_floats_like_python_repr() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (1e20, "1e+20"),
            (1e16, "1e+16"),
            (1e-7, "1e-07"),
            (0.1, "0.1"),
            (123456789012345.0, "123456789012345.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e22, "1e+22"),
            (1e23, "1e+23"),
            (1e100, "1e+100"),
            (-1.5e-300, "-1.5e-300"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (12345678901234568.0, "1.2345678901234568e+16"),
            (1234567890123456.8, "1234567890123456.8"),
            (9007199254740992.0, "9007199254740992.0"),
            (0.30000000000000004, "0.30000000000000004"),
            (1.2345678901234568e-5, "1.2345678901234568e-05"),
            (123.456, "123.456"),
            (-2.5e-10, "-2.5e-10"),
            (1.5e16, "1.5e+16"),
            (4.35, "4.35"),
            (0.000123, "0.000123"),
            (6.02214076e23, "6.02214076e+23"),
            (299792458.0, "299792458.0"),
            (100.0, "100.0"),
        ];
        for (value, expected) in cases {
            let mut out = String::new();
            write_float(&mut out, *value);
            assert_eq!(out, *expected, "float {value:e}");
        }
    }

    #[test]
    fn integrity_hash_ignores_only_the_top_level_uuid() {
        let with_uuid = json!({"uuid": "abc", "nome": "x", "area": {"uuid": "kept"}});
        let without_uuid = json!({"nome": "x", "area": {"uuid": "kept"}});
        assert_eq!(integrity_hash(&with_uuid), integrity_hash(&without_uuid));
        let expected = Sha256::digest(r#"{"area": {"uuid": "kept"}, "nome": "x"}"#);
        assert_eq!(integrity_hash(&with_uuid), hex::encode(expected));
    }

    #[test]
    fn integrity_hash_of_a_non_object_hashes_it_as_is() {
        let value = json!(["uuid", 1]);
        let expected = hex::encode(Sha256::digest(r#"["uuid", 1]"#));
        assert_eq!(integrity_hash(&value), expected);
    }

    #[test]
    fn all_legacy_snapshot_hashes_match() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/dump_pops.json"
        );
        let text = std::fs::read_to_string(path).expect("the legacy fixture dump is readable");
        let dump: Value = serde_json::from_str(&text).expect("the fixture dump is JSON");
        let snapshots: Vec<&Value> = dump
            .as_array()
            .expect("the fixture dump is an array")
            .iter()
            .filter(|entry| entry["model"] == "processos.popsnapshot")
            .collect();
        assert_eq!(snapshots.len(), 55);
        for snapshot in snapshots {
            let fields = &snapshot["fields"];
            assert!(fields["payload"].is_object(), "snapshot {}", snapshot["pk"]);
            assert_eq!(
                integrity_hash(&fields["payload"]),
                fields["integrity_hash"].as_str().expect("a stored hash"),
                "snapshot {}",
                snapshot["pk"]
            );
        }
    }

    /// A small deterministic pseudo-random generator (SplitMix64).
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }

        fn string(&mut self) -> String {
            const ALPHABET: &[char] = &[
                'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u{0}', '\u{1f}', '\u{7f}', 'ã',
                'ç', '中', '😀', '\u{2028}', '\u{ffff}', '\u{8}', '\u{c}', '\r',
            ];
            let len = self.below(12);
            (0..len)
                .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
                .collect()
        }

        /// A float in the range that `serde_json`'s default parser reads exactly: at most
        /// 15 significant digits and a decimal exponent within ±22.
        fn short_float(&mut self) -> f64 {
            let mantissa = self.below(1_000_000_000_000_000) as i64 - 500_000_000_000_000;
            let exponent = self.below(45) as i64 - 22;
            format!("{mantissa}e{exponent}")
                .parse()
                .expect("a valid float literal")
        }

        fn number(&mut self) -> Value {
            match self.below(4) {
                0 => json!(self.next()),
                1 => json!(self.next() as i64),
                2 => json!(self.short_float()),
                _ => json!((self.below(2_000_000) as f64 - 1_000_000.0) / 64.0),
            }
        }

        fn value(&mut self, depth: u32) -> Value {
            let kinds = if depth == 0 { 4 } else { 6 };
            match self.below(kinds) {
                0 => Value::Null,
                1 => Value::Bool(self.below(2) == 1),
                2 => self.number(),
                3 => Value::String(self.string()),
                4 => (0..self.below(5)).map(|_| self.value(depth - 1)).collect(),
                _ => Value::Object(
                    (0..self.below(5))
                        .map(|_| (self.string(), self.value(depth - 1)))
                        .collect(),
                ),
            }
        }
    }

    #[test]
    fn non_finite_floats_are_written_like_python() {
        for (value, expected) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            let mut out = String::new();
            write_float(&mut out, value);
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn floats_round_trip_in_python_notation() {
        let mut random = SplitMix(1);
        for _ in 0..20_000 {
            let value = f64::from_bits(random.next());
            if !value.is_finite() {
                continue;
            }
            let mut out = String::new();
            write_float(&mut out, value);
            let parsed: f64 = out.parse().expect("Python's float notation parses");
            assert_eq!(parsed.to_bits(), value.to_bits(), "{out}");
            match out.split_once('e') {
                Some((_, exponent)) => {
                    assert!(exponent.starts_with(['+', '-']), "{out}");
                    assert!(exponent.len() >= 3, "{out}");
                }
                None => assert!(out.contains('.'), "{out}"),
            }
        }
    }

    #[test]
    fn output_parses_back_to_the_same_value() {
        let mut random = SplitMix(2);
        for _ in 0..500 {
            let value = random.value(4);
            let text = python_json_dumps(&value);
            let parsed: Value = serde_json::from_str(&text).expect("the output is valid JSON");
            assert_eq!(parsed, value, "output: {text}");
        }
    }
}
