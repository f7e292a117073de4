//! `drill`: a restore rehearsal into a scratch database that already holds other data.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::Backend;
use mapagov::cli::drill::drill;
use mapagov::db::migrate::{self, Direction};
use mapagov::db::Db;
use mapagov::transfer::checksum::checksums;
use mapagov::transfer::import::{import, ImportOptions};
use mapagov::transfer::snapshot_read::read_consistent;
use scoped_futures::ScopedFutureExt;
use std::path::PathBuf;

async fn a_drill_restores_an_equal_copy_and_leaves_the_source_alone(backend: Backend) {
    let (url, _d1) = common::fresh_database(backend).await;
    let config = common::config(&url, &[]);
    migrate::run(&config.database, Direction::Up).await.unwrap();
    let db = Db::connect(&config.database).await.unwrap();
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/dump_pops.json");
    let data = mapagov::legacy::read(&fixture).await.unwrap();
    import(&db, &data, &ImportOptions::default()).await.unwrap();
    let account = mapagov::auth::NewAccount {
        username: "token-holder".into(),
        ..Default::default()
    };
    mapagov::auth::create_user(&db, account).await.unwrap();
    let before = read_consistent(&db, |mut c| {
        async move { checksums(&mut c).await }.scope_boxed()
    })
    .await
    .unwrap();

    // The scratch database is in the way: it holds a previous import.
    let (scratch, _d2) = common::fresh_database(backend).await;
    let scratch_config = common::database_config(&scratch, &[]);
    migrate::run(&scratch_config, Direction::Up).await.unwrap();
    let scratch_db = Db::connect(&scratch_config).await.unwrap();
    import(&scratch_db, &data, &ImportOptions::default())
        .await
        .unwrap();
    drop(scratch_db);

    let report = drill(&config, &scratch).await.unwrap();
    assert_eq!(report.source, before);
    assert_eq!(report.restored, before);
    assert_eq!(report.restored["api_tokens"].rows, 1);
    let after = read_consistent(&db, |mut c| {
        async move { checksums(&mut c).await }.scope_boxed()
    })
    .await
    .unwrap();
    assert_eq!(after, before, "the source must not change");

    let err = format!("{:#}", drill(&config, &url).await.unwrap_err());
    assert!(err.contains("destroy"), "{err}");
}

both_backends!(a_drill_restores_an_equal_copy_and_leaves_the_source_alone);
