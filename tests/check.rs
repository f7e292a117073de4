//! `mapagov check [--deploy]`, the real binary against real databases: one line per item, exit 0
//! without `fail`, 1 with. Passing and failing cases of configuration, database, migrations,
//! backend, TLS (a PostgreSQL server with a certificate), GraphiQL and introspection, the
//! recommended indexes (found by their columns), the recent backup and Sentry.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pg_cluster::{ClusterOptions, PgCluster, SslFiles};
use common::{binary, Backend};
use std::collections::BTreeMap;

/// The verdict printed for each item.
fn verdicts(run: &binary::Run) -> BTreeMap<String, String> {
    run.stdout
        .lines()
        .filter_map(|line| {
            let (level, rest) = line.split_once("  ")?;
            let item = rest.trim_start().split("  ").next()?.trim().to_owned();
            Some((item, level.trim().to_owned()))
        })
        .collect()
}

fn verdict(run: &binary::Run, item: &str) -> String {
    verdicts(run)
        .get(item)
        .cloned()
        .unwrap_or_else(|| panic!("no line for {item}:\n{}", run.all()))
}

async fn a_migrated_database_passes_and_a_pending_migration_fails(backend: Backend) {
    let migrated = common::migrated_database(backend).await;
    let run = binary::run(Some(&migrated.url), &[], &["check"]);
    assert_eq!(run.code, 0, "{}", run.all());
    for item in ["configuration", "database", "migrations"] {
        assert_eq!(verdict(&run, item), "ok", "{}", run.all());
    }

    let (fresh, _dir) = common::fresh_database(backend).await;
    let run = binary::run(Some(&fresh), &[], &["check"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(verdict(&run, "migrations"), "fail");
    assert!(run.stdout.contains("mapagov migrate"), "{}", run.stdout);
}

async fn deploy_fails_on_development_settings_and_finds_indexes_by_columns(backend: Backend) {
    let migrated = common::migrated_database(backend).await;
    let url = migrated.url.clone();
    let run = binary::run(Some(&url), &[], &["check", "--deploy"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let expected_backend = match backend {
        Backend::Postgres => "ok",
        Backend::Sqlite => "fail",
    };
    assert_eq!(verdict(&run, "backend"), expected_backend);
    assert_eq!(verdict(&run, "TLS"), "fail");
    assert_eq!(verdict(&run, "GraphiQL"), "warn");
    assert_eq!(verdict(&run, "introspection"), "warn");
    assert_eq!(verdict(&run, "recent backup"), "fail");
    assert_eq!(verdict(&run, "Sentry"), "warn");
    for index in [
        "index pops(status)",
        "index pops(session_id, status)",
        "index pops(created_at)",
        "index pop_snapshots(pop_id)",
    ] {
        assert_eq!(verdict(&run, index), "ok", "{}", run.all());
    }

    // A renamed index still counts; a dropped one, or one on other columns under the expected
    // name, does not.
    let db = &migrated.db;
    let rename = match backend {
        Backend::Postgres => "ALTER INDEX pop_created_at_idx RENAME TO pops_by_creation",
        // SQLite cannot rename an index: recreate it under another name.
        Backend::Sqlite => {
            "DROP INDEX pop_created_at_idx; CREATE INDEX pops_by_creation ON pops (created_at)"
        }
    };
    let sql = format!(
        "{rename}; DROP INDEX pop_status_idx; CREATE INDEX pop_status_idx ON pops (updated_at, status)"
    );
    {
        use diesel_async::SimpleAsyncConnection;
        let mut pooled = db.get().await.unwrap();
        match pooled.conn() {
            mapagov::db::Conn::Pg(mut c) => c.batch_execute(&sql).await.unwrap(),
            mapagov::db::Conn::Sqlite(c) => c.batch_execute(&sql).await.unwrap(),
        }
    }
    let run = binary::run(Some(&url), &[], &["check", "--deploy"]);
    assert_eq!(verdict(&run, "index pops(created_at)"), "ok");
    assert!(run.stdout.contains("pops_by_creation"), "{}", run.stdout);
    assert_eq!(
        verdict(&run, "index pops(status)"),
        "warn",
        "{}",
        run.stdout
    );
}

both_backends!(
    a_migrated_database_passes_and_a_pending_migration_fails,
    deploy_fails_on_development_settings_and_finds_indexes_by_columns,
);

#[test]
fn bad_configuration_and_unreachable_database_fail_without_leaking_the_password() {
    let run = binary::run(
        Some("sqlite://x.sqlite3"),
        &[("DB_POOL_SIZE", "0")],
        &["check"],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(verdict(&run, "configuration"), "fail");
    assert!(run.stdout.contains("DB_POOL_SIZE"), "{}", run.stdout);

    let secret = "pa55-do-not-print";
    let url = format!("postgres://mapagov:{secret}@127.0.0.1:1/mapagov");
    let run = binary::run(
        Some(&url),
        &[("DB_POOL_TIMEOUT", "1")],
        &["check", "--deploy"],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(verdict(&run, "configuration"), "ok");
    assert_eq!(verdict(&run, "database"), "fail");
    assert_eq!(verdict(&run, "indexes"), "fail");
    assert!(!run.all().contains(secret), "{}", run.all());
}

/// A PostgreSQL server with a self-signed certificate (`require` encrypts without verifying).
fn tls_cluster() -> PgCluster {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cluster = PgCluster::start(ClusterOptions {
        ssl: Some(SslFiles {
            cert_pem: certified.cert.pem().into_bytes(),
            key_pem: certified.signing_key.serialize_pem().into_bytes(),
        }),
        ..ClusterOptions::default()
    });
    cluster.create_database("deploy");
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_setup_passes_deploy_and_a_stale_backup_fails_it() {
    let cluster = tls_cluster();
    let url = cluster.url("deploy");
    let backups = tempfile::tempdir().unwrap();
    let dsn_key = "0123abcdsentrykey";
    let dsn = format!("https://{dsn_key}@errors.example.org/42");
    let backup_dir = backups.path().to_str().unwrap().to_owned();
    let env = [
        ("DB_SSLMODE", "require"),
        ("APP_ENV", "production"),
        ("SENTRY_DSN", dsn.as_str()),
        ("BACKUP_DIR", backup_dir.as_str()),
    ];
    let migrate = binary::run(Some(&url), &env, &["migrate"]);
    assert_eq!(migrate.code, 0, "{}", migrate.all());

    // No backup yet: that alone fails.
    let run = binary::run(Some(&url), &env, &["check", "--deploy"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let failing: Vec<String> = verdicts(&run)
        .into_iter()
        .filter(|(_, level)| level != "ok")
        .map(|(item, _)| item)
        .collect();
    assert_eq!(failing, vec!["recent backup".to_owned()], "{}", run.all());

    // A backup two days old is stale for the default 26 hours, fine for 72.
    let two_days_ago = (chrono::Utc::now() - chrono::Duration::hours(48)).to_rfc3339();
    let backup = binary::run(Some(&url), &env, &["backup", "--now", &two_days_ago]);
    assert_eq!(backup.code, 0, "{}", backup.all());
    let run = binary::run(Some(&url), &env, &["check", "--deploy"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(verdict(&run, "recent backup"), "fail");
    assert!(run.stdout.contains("48.0 h old"), "{}", run.stdout);
    let run = binary::run(
        Some(&url),
        &env,
        &["check", "--deploy", "--backup-max-age", "72"],
    );
    assert_eq!(run.code, 0, "{}", run.all());

    // A fresh backup: every item ok.
    let backup = binary::run(Some(&url), &env, &["backup"]);
    assert_eq!(backup.code, 0, "{}", backup.all());
    let run = binary::run(Some(&url), &env, &["check", "--deploy"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let levels = verdicts(&run);
    assert_eq!(levels.len(), 15, "{}", run.all());
    assert!(levels.values().all(|l| l == "ok"), "{}", run.all());
    assert!(!run.all().contains(dsn_key));
    assert!(!run.all().contains(cluster.password()));
}
