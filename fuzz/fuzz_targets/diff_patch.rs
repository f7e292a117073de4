//! `snapshotDiff`'s diff on any two JSON documents: it never panics and its patch is exact (see
//! `checks::diff_patch`).
#![no_main]

mod checks;
mod json;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|pair: (json::Json, json::Json)| checks::diff_patch(&pair));
