//! The breaking-change check of `schema.graphql`: compared with the last released schema in
//! `docs/releases/`, every breaking change must be named in a **Breaking** bullet of the
//! changelog's *Unreleased* section. The check is graphql-js's `findBreakingChanges`, run by
//! `tests/js/schema-compat.mjs`; the second test shows it failing on an unannounced change.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::node;

/// The newest `docs/releases/schema-<version>.graphql`, by version number.
fn last_released_schema(root: &Path) -> PathBuf {
    let mut releases: Vec<(Vec<u64>, PathBuf)> = fs::read_dir(root.join("docs/releases"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let version = name.strip_prefix("schema-")?.strip_suffix(".graphql")?;
            let numbers = version
                .split('.')
                .map(|n| n.parse().ok())
                .collect::<Option<_>>()?;
            Some((numbers, path))
        })
        .collect();
    releases.sort();
    releases
        .pop()
        .expect("a released schema in docs/releases")
        .1
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the check; returns whether it passed and what it printed.
async fn check(released: &Path, current: &Path, changelog: &Path) -> (bool, String) {
    let out = node::run(
        "schema-compat.mjs",
        &[
            released.to_str().unwrap(),
            current.to_str().unwrap(),
            changelog.to_str().unwrap(),
        ],
    )
    .await;
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 1)), "{}", node::text(&out));
    (code == Some(0), node::text(&out))
}

#[tokio::test]
async fn schema_has_no_unannounced_breaking_change() {
    let root = root();
    let (passed, report) = check(
        &last_released_schema(&root),
        &root.join("schema.graphql"),
        &root.join("CHANGELOG.md"),
    )
    .await;
    assert!(passed, "{report}");
}

#[tokio::test]
async fn an_unannounced_breaking_change_fails_until_it_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let released = dir.path().join("released.graphql");
    let current = dir.path().join("current.graphql");
    let changelog = dir.path().join("CHANGELOG.md");
    fs::write(
        &released,
        "type Query { pop(id: ID!): Pop, pops(first: Int): [Pop!]! }\n\
         type Pop { id: ID!, name: String, status: Status! }\n\
         enum Status { DRAFT PUBLISHED ARCHIVED }\n",
    )
    .unwrap();
    // Three breaking changes: a field removed, an enum value removed, a required argument added.
    fs::write(
        &current,
        "type Query { pop(id: ID!): Pop, pops(first: Int, area: String!): [Pop!]! }\n\
         type Pop { id: ID!, status: Status! }\n\
         enum Status { DRAFT PUBLISHED }\n",
    )
    .unwrap();
    let unannounced = "# Changelog\n\n## Unreleased\n\
        - **Breaking**: `Pop.name` is gone.\n\
        - `Status.ARCHIVED` and `Query.pops(area:)` are mentioned, but not as breaking.\n\n\
        ## 0.1.0\n- **Breaking**: `Status.ARCHIVED`, `Query.pops` (released, so too late).\n";
    fs::write(&changelog, unannounced).unwrap();
    let (passed, report) = check(&released, &current, &changelog).await;
    assert!(!passed, "{report}");
    assert!(
        report.contains("announced   breaking  Pop.name was removed."),
        "{report}"
    );
    assert!(
        report.contains(
            "UNANNOUNCED breaking  ARCHIVED was removed from enum type Status. [Status.ARCHIVED]"
        ),
        "{report}"
    );
    assert!(report.contains("UNANNOUNCED breaking  A required arg area on Query.pops was added. [Query.pops(area:)]"), "{report}");
    assert!(
        report.contains("2 breaking change(s) not announced"),
        "{report}"
    );

    let announced = "# Changelog\n\n## Unreleased\n\
        ### Lists\n\
        - **Breaking**: `Pop.name` is gone; `Status.ARCHIVED` too,\n  and `Query.pops(area:)` is required.\n";
    fs::write(&changelog, announced).unwrap();
    let (passed, report) = check(&released, &current, &changelog).await;
    assert!(passed, "{report}");
}
