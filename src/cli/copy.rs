//! `mapagov copy`: copy one database into another (either backend), then verify the copy.

use crate::config::{Config, DatabaseConfig, DatabaseUrl};
use crate::db::migrate::{self, Direction};
use crate::db::Db;
use crate::error::{AppError, CommandError};
use crate::transfer::copy::{self, CopyReport};
use crate::transfer::report::{render_table, Progress};
use anyhow::Context;
use clap::Args;

/// Arguments of `mapagov copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to read (`postgres://…` or `sqlite://path`); never written.
    #[arg(long)]
    pub from: String,
    /// The database to write (`postgres://…` or `sqlite://path`); migrated first.
    #[arg(long)]
    pub to: String,
    /// Only read the source and report what would be copied.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete every row of the target first (without it, a non-empty target is refused).
    #[arg(long)]
    pub replace: bool,
}

/// The configured database settings pointed at another URL.
pub fn database_at(config: &Config, raw: &str, flag: &str) -> Result<DatabaseConfig, AppError> {
    let url = DatabaseUrl::parse(raw).map_err(|e| AppError::bad_input(flag, e))?;
    Ok(DatabaseConfig {
        url,
        // DATABASE_REPLICA_URL is a replica of DATABASE_URL, not of this database.
        replica: None,
        ..config.database.clone()
    })
}

/// Runs `mapagov copy`.
pub async fn run(config: &Config, args: &CopyArgs) -> anyhow::Result<()> {
    let from = database_at(config, &args.from, "--from")?;
    let to = database_at(config, &args.to, "--to")?;
    if from.url == to.url {
        return Err(AppError::bad_input("--to", "source and target are the same database").into());
    }
    let report = copy_between(&from, &to, args.dry_run, args.replace).await?;
    print!("{}", render(&report));
    match report.target {
        None => println!("dry run: nothing written to {}", to.url),
        Some(_) => println!(
            "copied {} to {}; counts and checksums match",
            from.url, to.url
        ),
    }
    Ok(())
}

/// Migrates the target (unless a dry run), checks that both schemas agree, copies and verifies.
pub async fn copy_between(
    from: &DatabaseConfig,
    to: &DatabaseConfig,
    dry_run: bool,
    replace: bool,
) -> anyhow::Result<CopyReport> {
    let source_status = migrate::status(from)
        .await
        .map_err(CommandError)
        .with_context(|| format!("cannot read the migrations of the source {}", from.url))?;
    if !source_status.pending.is_empty() {
        return Err(AppError::bad_input(
            "--from",
            format!(
                "the source has pending migrations ({}); run `mapagov migrate` on it first",
                source_status.pending.join(", ")
            ),
        )
        .into());
    }
    let source = Db::connect(from)
        .await
        .map_err(CommandError)
        .with_context(|| format!("cannot connect to the source {}", from.url))?;
    if dry_run {
        return copy::dry_run(&source)
            .await
            .map_err(CommandError)
            .with_context(|| format!("cannot read the source {}", from.url));
    }
    migrate::run(to, Direction::Up)
        .await
        .map_err(CommandError)
        .with_context(|| format!("cannot migrate the target {}", to.url))?;
    let target_status = migrate::status(to)
        .await
        .map_err(CommandError)
        .with_context(|| format!("cannot read the migrations of the target {}", to.url))?;
    if target_status.applied.iter().max() != source_status.applied.iter().max() {
        return Err(AppError::bad_input(
            "--to",
            "the target's schema is newer than the source's; migrate the source first",
        )
        .into());
    }
    let target = Db::connect(to)
        .await
        .map_err(CommandError)
        .with_context(|| format!("cannot connect to the target {}", to.url))?;
    copy::copy(&source, &target, replace, &mut Progress::new())
        .await
        .map_err(CommandError)
        .with_context(|| format!("cannot copy {} to {}", from.url, to.url))
}

/// Rows and checksums per table on both sides, as printed.
pub fn render(report: &CopyReport) -> String {
    let rows: Vec<Vec<String>> = report
        .source
        .iter()
        .map(|(table, s)| {
            let target = report.target.as_ref().and_then(|t| t.get(table));
            vec![
                table.clone(),
                s.rows.to_string(),
                target.map_or("-".into(), |t| t.rows.to_string()),
                s.sha256[..16].to_owned(),
                target.map_or("-".into(), |t| {
                    if t == s {
                        "match".into()
                    } else {
                        "DIFFERS".into()
                    }
                }),
            ]
        })
        .collect();
    render_table(
        &["table", "source rows", "target rows", "sha256", "checksum"],
        &rows,
    )
}
