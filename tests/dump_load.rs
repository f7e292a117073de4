//! `dump` and `load`: round trips across backends, sequences, refusals that leave the target as it was.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{fixture, Backend};
use mapagov::cli;
use mapagov::config::Config;
use mapagov::db::migrate::{self, Direction};
use mapagov::db::Db;
use mapagov::domain::autosave::{autosave, AutosaveRequest};
use mapagov::domain::Actor;
use mapagov::transfer::checksum::{checksums, Checksums};
use mapagov::transfer::import::{import, ImportOptions};
use mapagov::transfer::report::Progress;
use mapagov::transfer::snapshot_read::read_consistent;
use scoped_futures::ScopedFutureExt;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

struct Database {
    config: Config,
    db: Db,
    _dir: Option<tempfile::TempDir>,
}

async fn database(backend: Backend) -> Database {
    let (url, dir) = common::fresh_database(backend).await;
    let config = common::config(&url, &[]);
    migrate::run(&config.database, Direction::Up).await.unwrap();
    let db = Db::connect(&config.database).await.unwrap();
    Database {
        config,
        db,
        _dir: dir,
    }
}

async fn new_pop(db: &Db, session: &str, key: Option<&str>) -> i64 {
    let mut fields = serde_json::Map::new();
    fields.insert("nome_processo".into(), json!(format!("Processo {session}")));
    let request = AutosaveRequest {
        session_id: session.into(),
        fields,
        idempotency_key: key.map(str::to_owned),
        ..Default::default()
    };
    let username = format!("author-{session}");
    let author = match mapagov::domain::users::find_by_username(db, &username)
        .await
        .unwrap()
    {
        Some(user) => user,
        None => {
            let account = mapagov::auth::NewAccount {
                username,
                ..Default::default()
            };
            mapagov::auth::create_user(db, account).await.unwrap().0
        }
    };
    let actor = Actor {
        user_id: Some(author.id),
        ..Default::default()
    };
    let limits = mapagov::domain::autosave::Limits {
        snapshot_every: 5,
        max_document_bytes: 1 << 20,
        require_expected_hash: false,
    };
    autosave(db, &actor, request, limits)
        .await
        .unwrap()
        .pop
        .meta
        .id
}

/// A populated source and the API token of one of its users.
struct Populated {
    source: Database,
    /// The API token of a user created in the source.
    token: String,
}

/// A source with the legacy fixture, a few rows of every table and a user with an API token.
async fn populated(backend: Backend) -> Populated {
    let source = database(backend).await;
    let data = mapagov::legacy::read(&fixture("legacy-mapagov.sqlite3"))
        .await
        .unwrap();
    import(&source.db, &data, &ImportOptions::default())
        .await
        .unwrap();
    new_pop(&source.db, "user_1", Some("key-1")).await;
    common::areas::with_a_later_parent(&source.db).await;
    common::areas::with_a_published_version(&source.db).await;
    let account = mapagov::auth::NewAccount {
        username: "token-holder".into(),
        ..Default::default()
    };
    let (_, token) = mapagov::auth::create_user(&source.db, account)
        .await
        .unwrap();
    Populated { source, token }
}

/// The username an API token authenticates on `db`, if any.
async fn token_user(db: &Db, token: &str) -> Option<String> {
    let lifetime = mapagov::auth::token::Lifetime {
        max_age: None,
        idle_timeout: None,
    };
    mapagov::auth::token_user(db, token, &lifetime, chrono::Utc::now())
        .await
        .unwrap()
        .map(|(u, _)| u.username)
}

async fn sums(db: &Db) -> Checksums {
    read_consistent(db, |mut conn| {
        async move { checksums(&mut conn).await }.scope_boxed()
    })
    .await
    .unwrap()
}

async fn dump_file(source: &Database, dir: &Path) -> (PathBuf, Checksums) {
    let path = dir.join("dump.jsonl");
    let version = cli::dump::schema_version(&source.config).await.unwrap();
    let written =
        mapagov::transfer::dump::dump_to_file(&source.db, version, &path, &mut Progress::new())
            .await
            .unwrap();
    (path, written)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn a_dump_loads_into_the_other_backend_with_equal_checksums(backend: Backend) {
    let Populated { source, token } = populated(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = dump_file(&source, dir.path()).await;
    assert_eq!(written, sums(&source.db).await);

    // The file: a header, one line per row, a trailer with the same counts.
    let text = lines(&path);
    let header: Value = serde_json::from_str(&text[0]).unwrap();
    assert_eq!(header["format"], "mapagov-dump");
    assert_eq!(header["version"], mapagov::transfer::dump::VERSION);
    let trailer: Value = serde_json::from_str(text.last().unwrap()).unwrap();
    let total: u64 = written.values().map(|s| s.rows).sum();
    assert_eq!(text.len() as u64, total + 2);
    for (table, sum) in &written {
        assert_eq!(trailer["trailer"]["tables"][table]["rows"], sum.rows);
        assert!(sum.rows > 0, "{table} should have rows in this test");
        let n = text
            .iter()
            .filter(|l| l.starts_with(&format!("{{\"table\":\"{table}\"")))
            .count() as u64;
        assert_eq!(n, sum.rows, "{table}");
    }

    let target = database(backend.other()).await;
    let report = cli::load::load_file(&target.config, &path, false)
        .await
        .unwrap();
    assert_eq!(report.tables, written);
    assert_eq!(sums(&target.db).await, written);
    assert!(written["api_tokens"].rows > 0);

    // The user's API token works on the target as it did on the source.
    assert_eq!(
        token_user(&target.db, &token).await.as_deref(),
        Some("token-holder")
    );

    // A POP created after the load gets a fresh id (PostgreSQL sequences were moved on).
    let max_loaded: i64 = {
        let mut max = 0;
        for l in &text {
            let v: Value = serde_json::from_str(l).unwrap();
            if v["table"] == "pops" {
                max = max.max(v["row"]["id"].as_i64().unwrap());
            }
        }
        max
    };
    let fresh = new_pop(&target.db, "user_after_load", None).await;
    assert!(fresh > max_loaded, "{fresh} <= {max_loaded}");
}

async fn a_non_empty_target_needs_replace(backend: Backend) {
    let Populated { source, token } = populated(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = dump_file(&source, dir.path()).await;
    let target = database(backend).await;
    new_pop(&target.db, "someone_else", None).await;
    let before = sums(&target.db).await;
    let err = cli::load::load_file(&target.config, &path, false)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("--replace"), "{err:#}");
    assert_eq!(sums(&target.db).await, before);
    assert_eq!(token_user(&target.db, &token).await, None);
    cli::load::load_file(&target.config, &path, true)
        .await
        .unwrap();
    assert_eq!(sums(&target.db).await, written);
    assert_eq!(
        token_user(&target.db, &token).await.as_deref(),
        Some("token-holder")
    );
}

/// A dump written before `api_tokens` was carried: no rows, no header entry, no trailer entry.
fn without_api_tokens(text: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = text
        .iter()
        .filter(|l| !l.starts_with("{\"table\":\"api_tokens\""))
        .cloned()
        .collect();
    let mut header: Value = serde_json::from_str(&kept[0]).unwrap();
    header["tables"]
        .as_array_mut()
        .unwrap()
        .retain(|t| t != "api_tokens");
    kept[0] = header.to_string();
    let last = kept.len() - 1;
    let mut trailer: Value = serde_json::from_str(&kept[last]).unwrap();
    trailer["trailer"]["tables"]
        .as_object_mut()
        .unwrap()
        .remove("api_tokens");
    kept[last] = trailer.to_string();
    kept
}

async fn a_dump_without_api_tokens_loads_with_none(backend: Backend) {
    let Populated { source, token } = populated(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = dump_file(&source, dir.path()).await;
    let older = dir.path().join("older.jsonl");
    let text = without_api_tokens(&lines(&path));
    std::fs::write(&older, text.join("\n") + "\n").unwrap();

    let target = database(backend.other()).await;
    let report = cli::load::load_file(&target.config, &older, false)
        .await
        .unwrap();
    assert_eq!(report.tables["api_tokens"].rows, 0);
    for (table, sum) in &written {
        if table != "api_tokens" {
            assert_eq!(&report.tables[table], sum, "{table}");
        }
    }
    assert_eq!(sums(&target.db).await, report.tables);
    assert_eq!(token_user(&target.db, &token).await, None);

    // Leaving the table out of the trailer alone, while the header names it, is damage.
    let target = database(backend).await;
    let mut damaged = lines(&path);
    let last = damaged.len() - 1;
    let mut trailer: Value = serde_json::from_str(&damaged[last]).unwrap();
    trailer["trailer"]["tables"]
        .as_object_mut()
        .unwrap()
        .remove("api_tokens");
    damaged[last] = trailer.to_string();
    let damaged_path = dir.path().join("damaged.jsonl");
    std::fs::write(&damaged_path, damaged.join("\n") + "\n").unwrap();
    let err = cli::load::load_file(&target.config, &damaged_path, false)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("api_tokens"), "{err:#}");
    assert!(sums(&target.db).await.values().all(|s| s.rows == 0));
}

async fn a_newer_format_version_is_refused(backend: Backend) {
    let source = populated(backend).await.source;
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = dump_file(&source, dir.path()).await;
    let mut text = lines(&path);
    let mut header: Value = serde_json::from_str(&text[0]).unwrap();
    let newer_version = mapagov::transfer::dump::VERSION + 1;
    header["version"] = json!(newer_version);
    text[0] = header.to_string();
    let newer = dir.path().join("newer.jsonl");
    std::fs::write(&newer, text.join("\n") + "\n").unwrap();
    let target = database(backend).await;
    let err = cli::load::load_file(&target.config, &newer, false)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains(&format!("version {newer_version}")),
        "{err:#}"
    );
    assert!(sums(&target.db).await.values().all(|s| s.rows == 0));
}

async fn a_truncated_or_altered_dump_leaves_the_target_untouched(backend: Backend) {
    let source = populated(backend).await.source;
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = dump_file(&source, dir.path()).await;
    let text = lines(&path);
    let target = database(backend).await;
    new_pop(&target.db, "kept", Some("kept-key")).await;
    let before = sums(&target.db).await;

    let truncated = dir.path().join("truncated.jsonl");
    std::fs::write(&truncated, text[..text.len() - 1].join("\n") + "\n").unwrap();
    let err = cli::load::load_file(&target.config, &truncated, true)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("truncated"), "{err:#}");
    assert_eq!(sums(&target.db).await, before);

    // One row changed after the dump was written: the trailer's checksum catches it.
    let altered = dir.path().join("altered.jsonl");
    let mut changed = text.clone();
    let index = changed
        .iter()
        .position(|l| l.starts_with("{\"table\":\"pop_snapshots\""))
        .unwrap();
    let mut row: Value = serde_json::from_str(&changed[index]).unwrap();
    row["row"]["payload"]["pontos_atencao"] = json!("altered");
    changed[index] = row.to_string();
    std::fs::write(&altered, changed.join("\n") + "\n").unwrap();
    let err = cli::load::load_file(&target.config, &altered, true)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("pop_snapshots"), "{err:#}");
    assert_eq!(sums(&target.db).await, before);
}

/// The end-to-end path of a later-version Django database: imported (areas, roles, published
/// versions, shared process codes), dumped, loaded into the other backend, and verified there:
/// every table arrives with equal checksums, every hash still verifies, and the catalogue's
/// answers are the same.
async fn a_later_django_database_travels_to_the_other_backend_and_verifies(backend: Backend) {
    let later = common::later_legacy::LaterLegacy::everything().await;
    let data = mapagov::legacy::read(&later.path).await.unwrap();
    let source = database(backend).await;
    let report = import(&source.db, &data, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!((report.versions_checked, report.versions_verified), (2, 2));
    assert_eq!(
        report.versions_frozen, 1,
        "POP 11 is published without versions"
    );
    let sums_before = sums(&source.db).await;
    for table in ["areas", "users", "pops", "pop_versions"] {
        assert!(sums_before[table].rows > 0, "{table}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = dump_file(&source, dir.path()).await;
    assert_eq!(written, sums_before);

    let target = database(backend.other()).await;
    cli::load::load_file(&target.config, &path, false)
        .await
        .unwrap();
    assert_eq!(sums(&target.db).await, written);
    let verified = mapagov::transfer::verify::verify(&target.db, None)
        .await
        .unwrap();
    assert!(verified.failures.is_empty(), "{:?}", verified.failures);
    assert_eq!(verified.versions_checked, 3);
    assert!(
        verified
            .warnings
            .iter()
            .any(|w| w.starts_with("1 live POPs marked as sharing a process code")),
        "{:?}",
        verified.warnings
    );
    for db in [&source.db, &target.db] {
        let found = mapagov::domain::versions::by_address(db, "digep", "05.01.01.01.001", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.1.versao, found.1.motivo.as_str()), (2, "revisão"));
        let sub = mapagov::domain::versions::by_address(db, "digep-ro", "05.01.01.01.002", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sub.1.versao, 1);
    }
}

/// The operator sees why a load failed as one chain on one line: the command's context (which
/// file) and the cause beneath it (which line, and what is wrong with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_load_prints_its_context_and_its_cause_on_one_line() {
    let source = database(Backend::Sqlite).await;
    new_pop(&source.db, "chain", None).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = dump_file(&source, dir.path()).await;
    let mut text = lines(&path);
    text[1] = "{\"table\":\"users\",\"row\":".into();
    let damaged = dir.path().join("damaged.jsonl");
    std::fs::write(&damaged, text.join("\n") + "\n").unwrap();
    let (url, _target_dir) = common::fresh_database(Backend::Sqlite).await;

    let run = common::binary::run(Some(&url), &[], &["load", damaged.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.all());
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    let context = format!("error: cannot load {}: ", damaged.display());
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].starts_with(&context), "{}", run.stderr);
    // The cause, after the context: the line, and serde's reason inside the parentheses.
    let cause = &errors[0][context.len()..];
    assert!(
        cause.starts_with("line 2: not JSON (EOF while parsing"),
        "{cause}"
    );
    assert!(cause.ends_with("); the dump is damaged"), "{cause}");
}

both_backends!(
    a_later_django_database_travels_to_the_other_backend_and_verifies,
    a_dump_loads_into_the_other_backend_with_equal_checksums,
    a_non_empty_target_needs_replace,
    a_dump_without_api_tokens_loads_with_none,
    a_newer_format_version_is_refused,
    a_truncated_or_altered_dump_leaves_the_target_untouched,
);
