//! `mapagov backup`: a dated dump with a checksum manifest that `load` restores into the other
//! backend (and `verify` passes), refusal of tampered or interrupted backups, the rotation over
//! many simulated days, and uploads to an S3-compatible server (moto) and to a `file://` URL.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{binary, fixture, migrated_database, table_sums, Backend, MigratedDb};
use mapagov::config::Config;
use mapagov::transfer::checksum::Checksums;
use mapagov::transfer::import::{import, ImportOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const NOW: &str = "2026-11-25T03:00:00Z";

/// A database holding the legacy fixture and a user with an API token.
async fn populated(backend: Backend) -> MigratedDb {
    let source = migrated_database(backend).await;
    let data = mapagov::legacy::read(&fixture("legacy-mapagov.sqlite3"))
        .await
        .unwrap();
    import(&source.db, &data, &ImportOptions::default())
        .await
        .unwrap();
    let account = mapagov::auth::NewAccount {
        username: "backup-operator".into(),
        ..Default::default()
    };
    mapagov::auth::create_user(&source.db, account)
        .await
        .unwrap();
    source
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn backup(url: &str, root: &Path, extra: &[&str], env: &[(&str, &str)]) -> binary::Run {
    let mut args = vec!["backup", "--dir", root.to_str().unwrap(), "--now", NOW];
    args.extend_from_slice(extra);
    binary::run(Some(url), env, &args)
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

async fn a_backup_restores_into_the_other_backend_and_verifies(backend: Backend) {
    let source = populated(backend).await;
    let root = tempfile::tempdir().unwrap();
    let run = backup(&source.url, root.path(), &[], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let dir = root.path().join("2026/11/25/030000");
    assert!(
        run.stdout
            .contains(&format!("backup written to {}", dir.display())),
        "{}",
        run.stdout
    );
    // Exactly the dump and its manifest, no partial file left behind.
    assert_eq!(
        names_in(&dir),
        BTreeSet::from(["dump.jsonl".to_owned(), "manifest.json".to_owned()])
    );
    let m = manifest(&dir);
    assert_eq!(m["format"], "mapagov-backup");
    assert_eq!(m["version"], 1);
    assert_eq!(m["dump_format_version"], mapagov::transfer::dump::VERSION);
    assert_eq!(
        m["source_backend"],
        mapagov::transfer::dump::backend_name(source.db.backend())
    );
    assert_eq!(
        m["created_at"].as_str().map(mapagov::ops::parse_instant),
        Some(mapagov::ops::parse_instant(NOW))
    );
    let dump = dir.join("dump.jsonl");
    assert_eq!(m["files"]["dump.jsonl"]["sha256"], sha256_hex(&dump));
    assert_eq!(
        m["files"]["dump.jsonl"]["bytes"],
        std::fs::metadata(&dump).unwrap().len()
    );
    let source_sums = table_sums(&source.db).await;
    let recorded: Checksums = serde_json::from_value(m["tables"].clone()).unwrap();
    assert_eq!(recorded, source_sums);
    assert!(recorded["pop_snapshots"].rows > 0);

    // Restore into a fresh database of the other backend, by directory; then verify it.
    let target = migrated_database(backend.other()).await;
    let load = binary::run(Some(&target.url), &[], &["load", dir.to_str().unwrap()]);
    assert_eq!(load.code, 0, "{}", load.all());
    assert_eq!(table_sums(&target.db).await, source_sums);
    let verify = binary::run(Some(&target.url), &[], &["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.all());

    // Or by its manifest.
    let again = migrated_database(backend.other()).await;
    let manifest_path = dir.join("manifest.json");
    let load = binary::run(
        Some(&again.url),
        &[],
        &["load", manifest_path.to_str().unwrap()],
    );
    assert_eq!(load.code, 0, "{}", load.all());
    assert_eq!(table_sums(&again.db).await, source_sums);
}

/// Copies a backup directory so that each tampering starts from the intact one.
fn copy_backup(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["dump.jsonl", "manifest.json"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

async fn a_tampered_or_interrupted_backup_is_refused(backend: Backend) {
    let source = populated(backend).await;
    let root = tempfile::tempdir().unwrap();
    assert_eq!(backup(&source.url, root.path(), &[], &[]).code, 0);
    let intact = root.path().join("2026/11/25/030000");
    let target = migrated_database(backend.other()).await;
    let empty = table_sums(&target.db).await;
    assert!(empty.values().all(|s| s.rows == 0));
    let refused = |dir: &Path| {
        let run = binary::run(Some(&target.url), &[], &["load", dir.to_str().unwrap()]);
        assert_ne!(run.code, 0, "{}", run.all());
        run.stderr
    };

    // One snapshot's text changed in the dump: its sha256 no longer matches the manifest.
    let work = tempfile::tempdir().unwrap();
    let altered = work.path().join("altered");
    copy_backup(&intact, &altered);
    let text = std::fs::read_to_string(altered.join("dump.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let index = lines
        .iter()
        .position(|l| l.starts_with("{\"table\":\"pop_snapshots\""))
        .unwrap();
    let mut row: Value = serde_json::from_str(&lines[index]).unwrap();
    row["row"]["payload"]["pontos_atencao"] = Value::String("altered".into());
    lines[index] = row.to_string();
    std::fs::write(altered.join("dump.jsonl"), lines.join("\n") + "\n").unwrap();
    let message = refused(&altered);
    assert!(
        message.contains("damaged") && message.contains("dump.jsonl"),
        "{message}"
    );
    assert_eq!(table_sums(&target.db).await, empty);

    // The manifest's table checksums changed while the dump is intact: they disagree.
    let relabelled = work.path().join("relabelled");
    copy_backup(&intact, &relabelled);
    let mut m = manifest(&relabelled);
    m["tables"]["pops"]["rows"] = Value::from(m["tables"]["pops"]["rows"].as_u64().unwrap() + 1);
    std::fs::write(relabelled.join("manifest.json"), m.to_string()).unwrap();
    let message = refused(&relabelled);
    assert!(
        message.contains("disagree") && message.contains("pops"),
        "{message}"
    );
    assert_eq!(table_sums(&target.db).await, empty);

    // A backup interrupted before its manifest was written.
    let interrupted = work.path().join("interrupted");
    copy_backup(&intact, &interrupted);
    std::fs::remove_file(interrupted.join("manifest.json")).unwrap();
    let message = refused(&interrupted);
    assert!(message.contains("no manifest.json"), "{message}");
    assert_eq!(table_sums(&target.db).await, empty);
}

/// Runs the backup command in-process at `at` (many runs, so no process per run).
async fn backup_at(config: &Config, root: &Path, at: DateTime<Utc>, keep: [u32; 3]) {
    let args = mapagov::cli::backup::BackupArgs {
        dir: Some(root.to_owned()),
        keep_daily: keep[0],
        keep_weekly: keep[1],
        keep_monthly: keep[2],
        no_prune: false,
        upload: None,
        now: Some(at),
    };
    mapagov::cli::backup::run(config, &args)
        .await
        .unwrap_or_else(|e| panic!("backup at {at}: {e:#}"));
}

/// Every directory under `root` three levels deep (`YYYY/MM/DD/name`), as relative paths.
fn leaves(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let walk = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    for year in walk(root) {
        for month in walk(&year) {
            for day in walk(&month) {
                for leaf in walk(&day) {
                    let relative = leaf.strip_prefix(root).unwrap();
                    found.insert(relative.to_string_lossy().into_owned());
                }
            }
        }
    }
    found
}

async fn rotation_keeps_the_newest_of_each_day_week_and_month(backend: Backend) {
    let target = migrated_database(backend).await;
    let root = tempfile::tempdir().unwrap();
    // Things that are not our backups, which pruning must never touch.
    let foreign = ["2026/01/02/notes", "2026/01/05/031500", "2026/01/06/other"];
    for dir in foreign {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    std::fs::write(root.path().join("2026/01/02/notes/README"), "keep me").unwrap();
    // An interrupted backup: a dump but no manifest.
    std::fs::write(root.path().join("2026/01/05/031500/dump.jsonl"), "{}").unwrap();
    std::fs::write(
        root.path().join("2026/01/06/other/manifest.json"),
        r#"{"format":"something-else"}"#,
    )
    .unwrap();

    // One backup a day at 03:00 from 1 January to 15 April 2026, and one more at 15:00 on the
    // last day, with the default policy (7 daily, 4 weekly, 12 monthly).
    let first = mapagov::ops::parse_instant("2026-01-01T03:00:00Z").unwrap();
    let mut at = first;
    while at <= mapagov::ops::parse_instant("2026-04-15T03:00:00Z").unwrap() {
        backup_at(&target.config, root.path(), at, [7, 4, 12]).await;
        at += Duration::days(1);
    }
    let last = mapagov::ops::parse_instant("2026-04-15T15:00:00Z").unwrap();
    backup_at(&target.config, root.path(), last, [7, 4, 12]).await;

    let mut expected: BTreeSet<String> = [
        // monthly: the newest of January, February and March (April's is the newest of all)
        "2026/01/31/030000",
        "2026/02/28/030000",
        "2026/03/31/030000",
        // weekly: the Sundays ending the three ISO weeks before this one
        "2026/03/29/030000",
        "2026/04/05/030000",
        "2026/04/12/030000",
        // daily: the last seven days; on the 15th only the newer of its two backups
        "2026/04/09/030000",
        "2026/04/10/030000",
        "2026/04/11/030000",
        "2026/04/13/030000",
        "2026/04/14/030000",
        "2026/04/15/150000",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    expected.extend(foreign.iter().map(|d| d.to_string()));
    assert_eq!(leaves(root.path()), expected);
    assert_eq!(
        std::fs::read_to_string(root.path().join("2026/01/02/notes/README")).unwrap(),
        "keep me"
    );

    // The backup just written is never pruned, even when the policy would not keep it.
    let older = mapagov::ops::parse_instant("2025-06-01T03:00:00Z").unwrap();
    backup_at(&target.config, root.path(), older, [1, 0, 0]).await;
    let mut expected: BTreeSet<String> = ["2025/06/01/030000", "2026/04/15/150000"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    expected.extend(foreign.iter().map(|d| d.to_string()));
    assert_eq!(leaves(root.path()), expected);
    // Emptied day, month and year directories are removed too.
    assert!(!root.path().join("2026/02").exists());
}

both_backends!(
    a_backup_restores_into_the_other_backend_and_verifies,
    a_tampered_or_interrupted_backup_is_refused,
    rotation_keeps_the_newest_of_each_day_week_and_month,
);

/// A moto S3 server on a free port, stopped when dropped.
struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Moto {
    async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto_server ({e}): install it with `pip install 'moto[server]'` \
                     (scripts/test does)"
                )
            });
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(&moto.endpoint).send().await.is_ok() {
                return moto;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("moto_server did not start on {}", moto.endpoint);
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_to_s3_compatible_storage_and_file_urls() {
    let source = populated(Backend::Sqlite).await;
    let moto = Moto::start().await;
    let http = reqwest::Client::new();
    let created = http
        .put(format!("{}/mapagov-backups", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{:?}", created.status());
    let secret = "s3cr3t-never-printed";
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT", moto.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let root = tempfile::tempdir().unwrap();
    let run = backup(
        &source.url,
        root.path(),
        &["--upload", "s3://mapagov-backups/site-a"],
        &env,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!run.all().contains(secret));
    let dir = root.path().join("2026/11/25/030000");
    let key = "site-a/2026/11/25/030000";
    assert!(
        run.stdout
            .contains(&format!("uploaded {key}/manifest.json")),
        "{}",
        run.stdout
    );
    for name in ["dump.jsonl", "manifest.json"] {
        // moto answers anonymous reads of some objects with 403; it does not check signatures.
        let remote = http
            .get(format!("{}/mapagov-backups/{key}/{name}", moto.endpoint))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20261125/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .unwrap();
        assert!(
            remote.status().is_success(),
            "{name}: {:?}",
            remote.status()
        );
        let bytes = remote.bytes().await.unwrap();
        assert_eq!(
            bytes.as_ref(),
            std::fs::read(dir.join(name)).unwrap(),
            "{name}"
        );
    }

    // The same code path to a file:// URL.
    let mirror = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let url = format!("file://{}/mirror", mirror.path().display());
    let run = backup(&source.url, root.path(), &["--upload", &url], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let copied = mirror.path().join("mirror/2026/11/25/030000");
    for name in ["dump.jsonl", "manifest.json"] {
        assert_eq!(
            std::fs::read(copied.join(name)).unwrap(),
            std::fs::read(root.path().join("2026/11/25/030000").join(name)).unwrap()
        );
    }

    // A destination that cannot be used is refused before any backup is written.
    let root = tempfile::tempdir().unwrap();
    let run = backup(
        &source.url,
        root.path(),
        &["--upload", "ftp://example.org/x"],
        &[],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("--upload") || run.stderr.contains("ftp"),
        "{}",
        run.stderr
    );
    assert!(names_in(root.path()).is_empty());
}
