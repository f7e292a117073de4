//! `copy`: a round trip through the other backend keeps every row; dry runs write nothing.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{fixture, Backend};
use mapagov::cli::copy::copy_between;
use mapagov::config::DatabaseConfig;
use mapagov::db::migrate::{self, Direction};
use mapagov::db::Db;
use mapagov::error::CommandError;
use mapagov::transfer::checksum::{checksums, Checksums};
use mapagov::transfer::import::{import, ImportOptions};
use mapagov::transfer::snapshot_read::read_consistent;
use scoped_futures::ScopedFutureExt;

async fn fresh(backend: Backend) -> (DatabaseConfig, Option<tempfile::TempDir>) {
    let (url, dir) = common::fresh_database(backend).await;
    (common::database_config(&url, &[]), dir)
}

async fn sums(config: &DatabaseConfig) -> Checksums {
    let db = Db::connect(config).await.unwrap();
    read_consistent(&db, |mut conn| {
        async move { checksums(&mut conn).await }.scope_boxed()
    })
    .await
    .unwrap()
}

/// The username an API token authenticates on the database at `config`, if any.
async fn token_user(config: &DatabaseConfig, token: &str) -> Option<String> {
    let db = Db::connect(config).await.unwrap();
    let lifetime = mapagov::auth::token::Lifetime {
        max_age: None,
        idle_timeout: None,
    };
    mapagov::auth::token_user(&db, token, &lifetime, chrono::Utc::now())
        .await
        .unwrap()
        .map(|(u, _)| u.username)
}

async fn a_round_trip_through_the_other_backend_keeps_everything(backend: Backend) {
    let (a, _da) = fresh(backend).await;
    migrate::run(&a, Direction::Up).await.unwrap();
    let db = Db::connect(&a).await.unwrap();
    let data = mapagov::legacy::read(&fixture("dump_pops.json"))
        .await
        .unwrap();
    import(&db, &data, &ImportOptions::default()).await.unwrap();
    common::areas::with_a_later_parent(&db).await;
    common::areas::with_a_published_version(&db).await;
    let account = mapagov::auth::NewAccount {
        username: "token-holder".into(),
        ..Default::default()
    };
    let (_, token) = mapagov::auth::create_user(&db, account).await.unwrap();
    let original = sums(&a).await;
    assert_eq!(original["api_tokens"].rows, 1);
    assert_eq!(original["areas"].rows, 2);
    assert_eq!(original["pop_versions"].rows, 1);
    assert_eq!(original["pops"].rows as usize, data.pops.len());
    // The publication took a snapshot too.
    assert_eq!(
        original["pop_snapshots"].rows as usize,
        data.snapshots.len() + 1
    );

    // A dry run reads the source and leaves the target without even a schema.
    let (b, _db) = fresh(backend.other()).await;
    let dry = copy_between(&a, &b, true, false).await.unwrap();
    assert_eq!(dry.source, original);
    assert!(dry.target.is_none());
    assert!(migrate::status(&b).await.unwrap().applied.is_empty());

    let there = copy_between(&a, &b, false, false).await.unwrap();
    assert_eq!(there.target.as_ref(), Some(&original));
    assert_eq!(sums(&b).await, original);
    assert_eq!(
        token_user(&b, &token).await.as_deref(),
        Some("token-holder")
    );

    let (c, _dc) = fresh(backend).await;
    let back = copy_between(&b, &c, false, false).await.unwrap();
    assert_eq!(back.target.as_ref(), Some(&original));
    assert_eq!(sums(&c).await, original);
    assert_eq!(
        token_user(&c, &token).await.as_deref(),
        Some("token-holder")
    );

    // Copying again into a target that now holds data is refused and changes nothing.
    let err = format!(
        "{:#}",
        copy_between(&a, &c, false, false).await.unwrap_err()
    );
    assert!(err.contains("--replace"), "{err}");
    assert_eq!(sums(&c).await, original);
}

both_backends!(a_round_trip_through_the_other_backend_keeps_everything);

/// SQLite can hold a NUL character that PostgreSQL cannot: copying such a row is refused before
/// anything is written, naming the row and the column, instead of failing inside the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_data_holding_nul_is_refused_naming_the_row() {
    use diesel_async::RunQueryDsl;
    let (a, _da) = fresh(Backend::Sqlite).await;
    migrate::run(&a, Direction::Up).await.unwrap();
    let db = Db::connect(&a).await.unwrap();
    {
        let mut pooled = db.get().await.unwrap();
        let mut conn = pooled.conn();
        let insert = "INSERT INTO pops (id, uuid, nome_processo, pontos_atencao, integrity_hash, \
                      created_at, updated_at, last_activity_at) VALUES (7, \
                      '00000000-0000-4000-8000-000000000007', 'ok', 'a' || char(0) || 'b', 'x', \
                      '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', \
                      '2026-01-01T00:00:00.000000Z')";
        mapagov::with_backend!(&mut conn, |c| diesel::sql_query(insert).execute(c).await).unwrap();
    }
    let (b, _db) = fresh(Backend::Postgres).await;
    let err = copy_between(&a, &b, false, false).await.unwrap_err();
    let message = format!("{err:#}");
    let refused = err.downcast_ref::<CommandError>().map(|e| e.0.code());
    assert_eq!(refused, Some("BAD_USER_INPUT"), "{message}");
    assert!(message.contains("row 7 of pops"), "{message}");
    assert!(message.contains("pontos_atencao"), "{message}");
    assert_eq!(sums(&b).await["pops"].rows, 0);
}
