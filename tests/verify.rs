//! `verify`: a sound import passes; a corrupted snapshot, a lagging sequence and SQLite in
//! production are caught with their exit codes.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{fixture, Backend};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mapagov::db::migrate::{self, Direction};
use mapagov::db::Db;
use mapagov::transfer::import::{import, ImportOptions};
use mapagov::transfer::verify::verify;
use mapagov::with_backend;
use serde_json::Value;
use std::process::Command;

fn run_cli(url: &str, extra: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mapagov"));
    cmd.env_clear()
        .env("DATABASE_URL", url)
        .env("DB_SSLMODE", "disable")
        .env("RUST_LOG", "error")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn corruption_is_caught(backend: Backend) {
    let (url, _dir) = common::fresh_database(backend).await;
    let config = common::database_config(&url, &[]);
    migrate::run(&config, Direction::Up).await.unwrap();
    let db = Db::connect(&config).await.unwrap();
    let data = mapagov::legacy::read(&fixture("legacy-mapagov.sqlite3"))
        .await
        .unwrap();
    import(&db, &data, &ImportOptions::default()).await.unwrap();

    let report = verify(&db, None).await.unwrap();
    assert_eq!(report.exit_code(), 0, "{report:?}");
    assert_eq!(report.pops_checked as usize, data.pops.len());
    assert_eq!(report.snapshots_checked as usize, data.snapshots.len());
    assert_eq!(report.counts["pop_change_log"] as usize, data.changes.len());
    let sampled = verify(&db, Some(3)).await.unwrap();
    assert_eq!((sampled.pops_checked, sampled.snapshots_checked), (3, 3));
    let (code, _) = run_cli(&url, &[], &["verify"]);
    assert_eq!(code, 0);

    // One snapshot's payload altered behind the application's back.
    let victim: i64 = {
        let mut pooled = db.get().await.unwrap();
        let mut conn = pooled.conn();
        let (id, mut payload): (i64, Value) = with_backend!(&mut conn, |c| {
            schema::pop_snapshots::table
                .order(schema::pop_snapshots::id)
                .select((schema::pop_snapshots::id, schema::pop_snapshots::payload))
                .first(c)
                .await
        })
        .unwrap();
        payload["pontos_atencao"] = Value::String("changed behind our back".into());
        with_backend!(&mut conn, |c| diesel::update(
            schema::pop_snapshots::table.find(id)
        )
        .set(schema::pop_snapshots::payload.eq(&payload))
        .execute(c)
        .await)
        .unwrap();
        id
    };
    let report = verify(&db, None).await.unwrap();
    assert_eq!(report.exit_code(), 2);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].contains(&format!("snapshot {victim} ")));
    let (code, stdout) = run_cli(&url, &[], &["verify", "--json"]);
    assert_eq!(code, 2);
    let json: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(json["exit_code"], 2);
    assert_eq!(json["failures"].as_array().unwrap().len(), 1);

    if backend == Backend::Postgres {
        let mut pooled = db.get().await.unwrap();
        if let mapagov::db::Conn::Pg(mut c) = pooled.conn() {
            diesel::sql_query("SELECT setval(pg_get_serial_sequence('pops', 'id'), 1, false)")
                .execute(&mut c)
                .await
                .unwrap();
        }
        drop(pooled);
        let report = verify(&db, None).await.unwrap();
        assert!(
            report
                .failures
                .iter()
                .any(|f| f.contains("sequence of pops")),
            "{:?}",
            report.failures
        );
    } else {
        let (code, _) = run_cli(&url, &[("APP_ENV", "production")], &["verify"]);
        assert_eq!(code, 3);
    }
}

both_backends!(corruption_is_caught);
