//! The migrations: both folders hold the same versions, and every migration's `down.sql` puts the
//! whole schema back as it was before its `up.sql` (columns, defaults, constraints, indexes,
//! triggers, functions, types, views), checked one migration at a time on both backends.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::Backend;
use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;
use mapagov::db::migrate::{self, Direction};
use mapagov::db::{Conn, Db, SqliteConn};
use std::collections::BTreeSet;

/// The versions in one migration folder, sorted.
fn migration_versions(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut versions: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    versions.sort();
    versions
}

/// Both backends are migrated through the same versions, each with an `up.sql` and a `down.sql`:
/// a migration added for one backend only fails here, not in production.
#[test]
fn the_migration_folders_hold_the_same_versions() {
    let postgres = migration_versions("postgres");
    let sqlite = migration_versions("sqlite");
    assert!(!postgres.is_empty());
    assert_eq!(
        postgres, sqlite,
        "migrations/postgres and migrations/sqlite differ"
    );
    for backend in ["postgres", "sqlite"] {
        for version in &postgres {
            for file in ["up.sql", "down.sql"] {
                let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(backend)
                    .join(version)
                    .join(file);
                assert!(path.is_file(), "{} is missing", path.display());
            }
        }
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Everything in PostgreSQL's `public` schema that a migration can create, one line per object,
/// written by PostgreSQL's own `pg_get_*def` functions. The migration bookkeeping table is left out,
/// and so are the members of extensions: the search migration's `down.sql` keeps `unaccent` on
/// purpose, since other objects of the database may use it.
const PG_SCHEMA: &str = r#"
SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || udt_name
       || ' ' || coalesce(character_maximum_length::text, '-') || ' ' || is_nullable
       || ' default ' || coalesce(column_default, '-') || ' generated ' || is_generated || ' '
       || coalesce(generation_expression, '-') AS line
  FROM information_schema.columns
 WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes
 WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'
UNION ALL
SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || c.conname || ' '
       || pg_get_constraintdef(c.oid)
  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
 WHERE n.nspname = 'public' AND c.conrelid::regclass::text <> '__diesel_schema_migrations'
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = r.relnamespace
 WHERE n.nspname = 'public' AND NOT t.tgisinternal
UNION ALL
SELECT 'function ' || pg_get_functiondef(p.oid)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'type ' || t.typname || ' ' || t.typtype::text || ' '
       || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                      FROM pg_enum e WHERE e.enumtypid = t.oid), '-')
       || ' ' || coalesce(format_type(t.typbasetype, t.typtypmod), '-')
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r', 'm')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')
UNION ALL
SELECT 'sequence ' || sequence_name || ' ' || data_type FROM information_schema.sequences
 WHERE sequence_schema = 'public'
UNION ALL
SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'
UNION ALL
SELECT 'compression ' || r.relname || '.' || a.attname || ' ' || a.attcompression::text
  FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = r.relnamespace
 WHERE n.nspname = 'public' AND r.relkind = 'r' AND a.attnum > 0 AND a.attcompression <> ''
"#;

/// Everything in a SQLite file's schema: each object's own SQL (tables, indexes, triggers,
/// views), plus each table's columns as SQLite reads them, so a rebuilt table must come back
/// with the same columns, types, defaults and keys, not just the same name.
const SQLITE_SCHEMA: &str = r#"
SELECT m.type || ' ' || m.name || ' ' || coalesce(m.sql, '-') AS line
  FROM sqlite_master m
 WHERE m.name NOT LIKE 'sqlite_%' AND m.tbl_name <> '__diesel_schema_migrations'
UNION ALL
SELECT 'column ' || m.name || '.' || c.name || ' ' || c.type || ' notnull=' || c."notnull"
       || ' default ' || coalesce(c.dflt_value, '-') || ' pk=' || c.pk
  FROM sqlite_master m JOIN pragma_table_xinfo(m.name) c
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'
UNION ALL
SELECT 'foreign key ' || m.name || '.' || f."from" || ' -> ' || f."table" || '.'
       || coalesce(f."to", '-') || ' on delete ' || f.on_delete
  FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'
"#;

/// The whole schema, one normalised line per object or column (blanks collapsed, so a table
/// SQLite rewrote on `ALTER TABLE` compares by content, not layout).
async fn schema(db: &Db) -> BTreeSet<String> {
    let mut pooled = db.get().await.unwrap();
    let lines = match pooled.conn() {
        Conn::Pg(mut c) => diesel::sql_query(PG_SCHEMA)
            .load::<Line>(&mut c)
            .await
            .unwrap(),
        Conn::Sqlite(c) => diesel::sql_query(SQLITE_SCHEMA)
            .load::<Line>(c)
            .await
            .unwrap(),
    };
    lines
        .into_iter()
        .map(|l| l.line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// What differs between two schemas, for the failure message.
fn difference(expected: &BTreeSet<String>, actual: &BTreeSet<String>) -> String {
    let missing: Vec<_> = expected.difference(actual).collect();
    let extra: Vec<_> = actual.difference(expected).collect();
    format!("missing {missing:#?}\nleft behind {extra:#?}")
}

/// Applies the next pending migration, as `mapagov migrate` would but one at a time; returns
/// its version, or `None` when none is pending.
async fn apply_next(backend: Backend, url: &str) -> Option<String> {
    match backend {
        Backend::Postgres => {
            let conn = AsyncPgConnection::establish(url).await.unwrap();
            next(AsyncMigrationHarness::new(conn), migrate::POSTGRES)
        }
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap();
            let conn = SqliteConn::establish(path).await.unwrap();
            next(AsyncMigrationHarness::new(conn), migrate::SQLITE)
        }
    }
}

fn next<DB: diesel::backend::Backend>(
    mut harness: impl MigrationHarness<DB>,
    source: diesel_migrations::EmbeddedMigrations,
) -> Option<String>
where
    diesel_migrations::EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    let pending = harness.pending_migrations(source).unwrap();
    let first = pending.into_iter().next()?;
    Some(harness.run_migration(&*first).unwrap().to_string())
}

/// Up one migration at a time, recording the schema after each; then down one at a time, and
/// after each revert the schema must be exactly the one recorded before that migration ran. A
/// `down.sql` that leaves an index, a trigger or a column default behind fails here, naming the
/// migration and what it left.
async fn every_migration_reverts_the_whole_schema(backend: Backend) {
    let (url, _dir) = common::fresh_database(backend).await;
    let config = common::database_config(&url, &[]);
    let db = Db::connect(&config).await.unwrap();
    let empty = schema(&db).await;
    assert!(empty.is_empty(), "{empty:#?}");

    let mut before = vec![empty];
    let mut versions = Vec::new();
    while let Some(version) = apply_next(backend, &url).await {
        versions.push(version);
        before.push(schema(&db).await);
    }
    assert_eq!(
        versions.len(),
        migration_versions(match backend {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        })
        .len()
    );
    let full = before.pop().unwrap();
    let full_count = versions.len();
    for (table, needle) in [
        ("pops", "column pops.integrity_hash"),
        ("pop_snapshots", "column pop_snapshots.sequence"),
        ("pop_change_log", "column pop_change_log.action"),
    ] {
        assert!(
            full.iter().any(|l| l.starts_with(needle)),
            "{table} missing from {full:#?}"
        );
    }
    let status = migrate::status(&config).await.unwrap();
    assert!(status.pending.is_empty());
    assert_eq!(status.applied.len(), versions.len());
    // Running again applies nothing.
    assert!(migrate::run(&config, Direction::Up)
        .await
        .unwrap()
        .is_empty());

    while let Some(expected) = before.pop() {
        let reverted = migrate::run(&config, Direction::DownOne).await.unwrap();
        let version = versions.pop().unwrap();
        assert_eq!(reverted, vec![version.clone()]);
        let actual = schema(&db).await;
        assert!(
            actual == expected,
            "the down.sql of {version} does not put the schema back:\n{}",
            difference(&expected, &actual)
        );
    }
    assert_eq!(
        migrate::status(&config).await.unwrap().applied.len(),
        0,
        "every migration reverted"
    );

    // And all of them again, in one run, give the same schema as one at a time; reverting them
    // all at once (as `mapagov drill` does) empties the database again.
    migrate::run(&config, Direction::Up).await.unwrap();
    let again = schema(&db).await;
    assert!(again == full, "{}", difference(&full, &again));
    let reverted = migrate::run(&config, Direction::DownAll).await.unwrap();
    assert_eq!(reverted.len(), full_count);
    let emptied = schema(&db).await;
    assert!(emptied.is_empty(), "{emptied:#?}");
}

/// Sets the kind of every snapshot; the database's error when a check refuses it.
async fn set_kinds(db: &Db, kind: &str) -> Result<usize, String> {
    let mut pooled = db.get().await.unwrap();
    let sql = format!("UPDATE pop_snapshots SET kind = '{kind}'");
    match pooled.conn() {
        Conn::Pg(mut c) => diesel::sql_query(sql).execute(&mut c).await,
        Conn::Sqlite(c) => diesel::sql_query(sql).execute(c).await,
    }
    .map_err(|e| e.to_string())
}

/// `2026-12-02-000170_snapshot_kinds`: a snapshot's kind is one MapaGov writes. A database holding
/// a retired kind (`manual`) stops the migration with nothing changed; once that row is mended
/// the migration applies, and a connection opened before it refuses the retired kind too.
async fn the_snapshot_kind_check_allows_only_the_kinds_written(backend: Backend) {
    let server = common::TestServer::start(backend).await;
    common::pops::create(
        &server,
        "kinds",
        serde_json::json!({ "nomeProcesso": "Kinds" }),
    )
    .await;
    server
        .data(
            "mutation { backupSession(sessionId: \"kinds\") { id } }",
            serde_json::json!({}),
        )
        .await;
    let config = common::database_config(&server.database_url, &[]);
    let db = server.db().await;
    let refused = set_kinds(&db, "manual").await.unwrap_err();
    assert!(
        refused.contains("CHECK") || refused.contains("check"),
        "{refused}"
    );

    // Back to before 000170 (and before any migration added after it).
    let mut reverted = Vec::new();
    while !reverted.iter().any(|v: &String| v.contains("000170")) {
        let one = migrate::run(&config, Direction::DownOne).await.unwrap();
        assert_eq!(one.len(), 1, "{reverted:?}");
        reverted.extend(one);
    }
    assert_eq!(set_kinds(&db, "manual").await, Ok(1));
    let stopped = migrate::run(&config, Direction::Up).await;
    assert!(stopped.is_err(), "{stopped:?}");
    let pending = migrate::status(&config).await.unwrap().pending;
    assert_eq!(pending.len(), reverted.len(), "{pending:?}");
    assert_eq!(set_kinds(&db, "manual").await, Ok(1), "nothing changed");

    assert_eq!(set_kinds(&db, "backup").await, Ok(1));
    migrate::run(&config, Direction::Up).await.unwrap();
    let refused = set_kinds(&db, "manual").await.unwrap_err();
    assert!(
        refused.contains("CHECK") || refused.contains("check"),
        "{refused}"
    );
    assert_eq!(set_kinds(&db, "pre_restore").await, Ok(1));
    server.stop().await;
}

/// `2026-12-02-000180_lz4_documents`: on a PostgreSQL built with lz4 (Debian's, which the tests
/// run), the documents a write compresses are compressed with lz4: the POP's steps and its
/// generated document, the change log's old and new values, and the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_compressed_with_lz4_on_postgres() {
    let server = common::TestServer::start(Backend::Postgres).await;
    // About 9 KB of steps: over PostgreSQL's 2 KB threshold, so each copy is compressed.
    let steps = |revision: usize| -> Vec<serde_json::Value> {
        (1..=60)
            .map(|n| {
                serde_json::json!({
                    "numero": n,
                    "descricao": format!("Conferir o documento {n} e registrar o resultado (revisão {revision})"),
                    "detalhes": [format!("{n}.1 Verificar a assinatura e a data do documento")],
                })
            })
            .collect()
    };
    let pop = common::pops::create(
        &server,
        "lz4",
        serde_json::json!({ "nomeProcesso": "Compressão", "etapas": steps(1) }),
    )
    .await;
    common::pops::save(&server, &pop, serde_json::json!({ "etapas": steps(2) })).await;
    server
        .data(
            "mutation { backupSession(sessionId: \"lz4\") { id } }",
            serde_json::json!({}),
        )
        .await;
    let db = server.db().await;
    let mut pooled = db.get().await.unwrap();
    let Conn::Pg(mut c) = pooled.conn() else {
        panic!("a PostgreSQL connection");
    };
    let written: Vec<Line> = diesel::sql_query(
        "SELECT 'pops.etapas ' || coalesce(pg_column_compression(etapas), 'none') AS line FROM pops
         UNION ALL
         SELECT 'pops.document ' || coalesce(pg_column_compression(document), 'none') FROM pops
         UNION ALL
         SELECT 'pop_change_log.old_value ' || coalesce(pg_column_compression(old_value), 'none')
           FROM pop_change_log WHERE action = 'autosave' AND field_name = 'etapas'
         UNION ALL
         SELECT 'pop_change_log.new_value ' || coalesce(pg_column_compression(new_value), 'none')
           FROM pop_change_log WHERE action = 'autosave' AND field_name = 'etapas'
         UNION ALL
         SELECT 'pop_snapshots.payload ' || coalesce(pg_column_compression(payload), 'none')
           FROM pop_snapshots",
    )
    .load(&mut c)
    .await
    .unwrap();
    let written: Vec<String> = written.into_iter().map(|l| l.line).collect();
    assert_eq!(written.len(), 5, "{written:?}");
    assert!(written.iter().all(|l| l.ends_with(" lz4")), "{written:?}");
    drop(pooled);
    server.stop().await;
}

both_backends!(
    every_migration_reverts_the_whole_schema,
    the_snapshot_kind_check_allows_only_the_kinds_written
);
