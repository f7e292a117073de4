//! The legacy hash serializer (`python_json_dumps`, `integrity_hash`) on any JSON document (see
//! `checks::hash`).
#![no_main]

mod checks;
mod json;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: json::Json| checks::hash(&input));
