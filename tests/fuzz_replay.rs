//! Every committed fuzz input, replayed through the fuzz targets' own checks on the stable
//! toolchain: the seeds in `fuzz/seeds/<target>/` (the corpus the fuzzers reached, minimized with
//! `cargo fuzz cmin`, and the hand-written requests) and, where a developer has run
//! `scripts/fuzz`, the local corpus in `fuzz/corpus/<target>/`. Each input is decoded exactly as
//! libFuzzer hands it to the target (`Arbitrary::arbitrary_take_rest`), so an input that once
//! broke a check breaks it here too. Running the fuzzers themselves needs the nightly toolchain
//! and longer than CI has: `scripts/fuzz`.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;
#[path = "../fuzz/fuzz_targets/json.rs"]
mod json;

use arbitrary::{Arbitrary, Unstructured};
use std::path::{Path, PathBuf};

/// The inputs of `target`: its committed seeds, then its local corpus if there is one.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in [
        root.join("seeds").join(target),
        root.join("corpus").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).unwrap();
            files.push((path, bytes));
        }
    }
    files
}

/// Decodes `bytes` as libFuzzer's `fuzz_target!` does for a typed input; `None` when it would
/// skip them (fewer bytes than the type needs).
fn decode<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    if bytes.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(Unstructured::new(bytes)).ok()
}

/// Runs `check` on every input of `target`, naming the file of the first that fails.
fn replay(target: &str, minimum: usize, check: impl Fn(&[u8])) {
    let inputs = inputs(target);
    assert!(
        inputs.len() >= minimum,
        "fuzz/seeds/{target} should hold at least {minimum} inputs (the committed corpus), found {}",
        inputs.len()
    );
    for (path, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(bytes)));
        if let Err(panic) = outcome {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("{} fails the {target} check: {why}", path.display());
        }
    }
}

#[test]
fn hash_inputs_hold() {
    replay("hash", 1_400, |bytes| {
        if let Some(input) = decode::<json::Json>(bytes) {
            checks::hash(&input);
        }
    });
}

#[test]
fn diff_patch_inputs_hold() {
    replay("diff_patch", 1_500, |bytes| {
        if let Some(pair) = decode::<(json::Json, json::Json)>(bytes) {
            checks::diff_patch(&pair);
        }
    });
}

#[test]
fn graphql_request_inputs_hold() {
    let schema = checks::schema();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    replay("graphql_request", 1_500, |bytes| {
        runtime.block_on(checks::graphql_request(&schema, bytes));
    });
}
