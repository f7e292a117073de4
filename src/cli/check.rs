//! `mapagov check [--deploy]`: is this installation ready? One line per item, `ok`, `warn` or
//! `fail` with a short reason; exit 0 when nothing fails, 1 otherwise.
//!
//! Always: the configuration parses (fail), the database answers (fail), no migration is pending
//! (fail: the code expects the newest schema). With `--deploy`, the migration guide's production
//! checklist:
//!
//! | item | fails when | warns when |
//! |---|---|---|
//! | backend | SQLite (not a production database; `verify` refuses it too) | |
//! | TLS | `DB_SSLMODE` below `require` (passwords and data would cross the network in clear) | |
//! | GraphiQL | | on (every operation still needs a token, but the page should not be served) |
//! | introspection | | on (the schema is public in `schema.graphql`; still, less to probe) |
//! | each recommended index | | missing (queries stay correct, only slower as tables grow) |
//! | recent backup | no complete backup in `BACKUP_DIR` newer than `--backup-max-age` hours | |
//! | Sentry | | `SENTRY_DSN` unset (errors still reach the logs, but nobody is alerted) |

use crate::config::{Config, ConfigError, DatabaseUrl};
use crate::db::migrate;
use crate::db::tls::SslMode;
use crate::db::Db;
use crate::ops::checks::{self, Finding, Level};
use chrono::{Duration, Utc};
use clap::Args;
use std::process::ExitCode;

/// Default `--backup-max-age`, in hours: a daily backup plus slack.
pub const DEFAULT_BACKUP_MAX_AGE_HOURS: u32 = 26;

/// Arguments of `mapagov check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also check what a production deployment needs (PostgreSQL, TLS, GraphiQL and
    /// introspection off, indexes, a recent backup, Sentry).
    #[arg(long)]
    pub deploy: bool,
    /// With --deploy: the newest backup in BACKUP_DIR must be at most this many hours old.
    #[arg(long, value_name = "HOURS", default_value_t = DEFAULT_BACKUP_MAX_AGE_HOURS)]
    pub backup_max_age: u32,
}

/// Runs every check and returns the findings in the order printed.
pub async fn findings(config: Result<&Config, &ConfigError>, args: &CheckArgs) -> Vec<Finding> {
    let config = match config {
        Ok(config) => config,
        Err(err) => return vec![Finding::new("configuration", Level::Fail, err.to_string())],
    };
    let mut out = vec![Finding::new(
        "configuration",
        Level::Ok,
        format!("database {}", config.database.url),
    )];
    let db = match Db::connect(&config.database).await {
        Ok(db) => match db.ping().await {
            Ok(()) => Some(db),
            Err(err) => {
                out.push(Finding::new("database", Level::Fail, err.message()));
                None
            }
        },
        Err(err) => {
            out.push(Finding::new("database", Level::Fail, err.message()));
            None
        }
    };
    if db.is_some() {
        out.push(Finding::new("database", Level::Ok, "answers SELECT 1"));
        out.push(match migrate::status(&config.database).await {
            Ok(status) if status.pending.is_empty() => Finding::new(
                "migrations",
                Level::Ok,
                format!("{} applied, none pending", status.applied.len()),
            ),
            Ok(status) => Finding::new(
                "migrations",
                Level::Fail,
                format!(
                    "pending: {}; run `mapagov migrate`",
                    status.pending.join(", ")
                ),
            ),
            Err(err) => Finding::new("migrations", Level::Fail, err.message()),
        });
    }
    if args.deploy {
        deploy_findings(config, db.as_ref(), args, &mut out).await;
    }
    out
}

async fn deploy_findings(
    config: &Config,
    db: Option<&Db>,
    args: &CheckArgs,
    out: &mut Vec<Finding>,
) {
    out.push(match config.database.url {
        DatabaseUrl::Postgres(_) => Finding::new("backend", Level::Ok, "PostgreSQL"),
        DatabaseUrl::Sqlite(_) => Finding::new(
            "backend",
            Level::Fail,
            "SQLite is not a production database; set DATABASE_URL to PostgreSQL",
        ),
    });
    let mode = config.database.tls.mode;
    out.push(if mode >= SslMode::Require {
        Finding::new("TLS", Level::Ok, format!("DB_SSLMODE={mode}"))
    } else {
        Finding::new(
            "TLS",
            Level::Fail,
            format!("DB_SSLMODE={mode} allows plaintext; use require, verify-ca or verify-full"),
        )
    });
    out.push(if config.http.graphiql {
        Finding::new(
            "GraphiQL",
            Level::Warn,
            "served at GET /graphql; set GRAPHIQL=false",
        )
    } else {
        Finding::new("GraphiQL", Level::Ok, "off")
    });
    out.push(if config.http.introspection {
        Finding::new(
            "introspection",
            Level::Warn,
            "clients may introspect the schema; set GRAPHQL_INTROSPECTION=false",
        )
    } else {
        Finding::new("introspection", Level::Ok, "off")
    });
    match db {
        Some(db) => match index_findings(db).await {
            Ok(found) => out.extend(found),
            Err(err) => out.push(Finding::new("indexes", Level::Fail, err.message())),
        },
        None => out.push(Finding::new(
            "indexes",
            Level::Fail,
            "not checked: the database does not answer",
        )),
    }
    let max_age = Duration::hours(args.backup_max_age.into());
    out.push(
        checks::check_backup(config.backup_dir.as_deref(), max_age, Utc::now())
            .unwrap_or_else(|err| Finding::new("recent backup", Level::Fail, format!("{err:#}"))),
    );
    out.push(match config.sentry_dsn {
        Some(_) => Finding::new("Sentry", Level::Ok, "SENTRY_DSN is set"),
        None => Finding::new(
            "Sentry",
            Level::Warn,
            "SENTRY_DSN is not set: errors only reach the logs",
        ),
    });
}

async fn index_findings(db: &Db) -> Result<Vec<Finding>, crate::error::AppError> {
    let mut pooled = db.get().await?;
    let mut conn = pooled.conn();
    checks::check_indexes(&mut conn).await
}

/// Runs `mapagov check`, prints one line per item and returns the exit code.
pub async fn run(config: Result<&Config, &ConfigError>, args: &CheckArgs) -> ExitCode {
    let found = findings(config, args).await;
    let width = found.iter().map(|f| f.item.len()).max().unwrap_or(0);
    for finding in &found {
        println!(
            "{:<4}  {:<width$}  {}",
            finding.level.to_string(),
            finding.item,
            finding.reason
        );
    }
    if found.iter().any(|f| f.level == Level::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
