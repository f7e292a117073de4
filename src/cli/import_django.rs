//! `mapagov import-django`: bring the Django system's data into the configured database.

use crate::config::Config;
use crate::db::migrate::{self, Direction};
use crate::db::Db;
use crate::error::{AppError, CommandError};
use crate::legacy;
use crate::transfer::import::{self, ImportOptions, ImportReport};
use crate::transfer::report::render_table;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `mapagov import-django`.
#[derive(Debug, Args)]
pub struct ImportDjangoArgs {
    /// The Django SQLite database (`db.sqlite3`) or a `dumpdata` JSON file.
    pub source: PathBuf,
    /// Import a legacy user whose username is already taken here as `username` + SUFFIX
    /// (without it, such a conflict stops the import).
    #[arg(long, value_name = "SUFFIX")]
    pub rename_conflicts: Option<String>,
}

/// Runs `mapagov import-django`: migrates the target, imports in one transaction, prints a report.
pub async fn run(config: &Config, args: &ImportDjangoArgs) -> anyhow::Result<()> {
    if args.rename_conflicts.as_deref().is_some_and(str::is_empty) {
        return Err(
            AppError::bad_input("--rename-conflicts", "the suffix must not be empty").into(),
        );
    }
    let data = legacy::read(&args.source).await?;
    migrate::run(&config.database, Direction::Up).await?;
    let db = Db::connect(&config.database).await?;
    let options = ImportOptions {
        rename_conflicts: args.rename_conflicts.clone(),
    };
    let report = import::import(&db, &data, &options)
        .await
        .map_err(CommandError)
        .with_context(|| format!("cannot import {}", args.source.display()))?;
    print!("{}", render(&report));
    Ok(())
}

/// The report as printed.
pub fn render(report: &ImportReport) -> String {
    let rows: Vec<Vec<String>> = report
        .tables
        .iter()
        .map(|t| {
            vec![
                t.table.to_owned(),
                t.read.to_string(),
                t.imported.to_string(),
                t.skipped.to_string(),
            ]
        })
        .collect();
    let mut out = render_table(&["table", "read", "imported", "skipped"], &rows);
    if report.nothing_imported() {
        out.push_str("nothing imported: every legacy row is already present\n");
    }
    for (from, to) in &report.renamed {
        out.push_str(&format!("renamed legacy user `{from}` to `{to}`\n"));
    }
    out.push_str(&format!(
        "snapshots re-verified: {}/{} match their stored hash\n",
        report.snapshots_verified, report.snapshots_checked
    ));
    if !report.snapshots_stale_in_source.is_empty() {
        out.push_str(&format!(
            "snapshots whose hash did not match in the source already (legacy ids): {:?}\n",
            report.snapshots_stale_in_source
        ));
    }
    if report.table("pop_versions").is_some() {
        out.push_str(&format!(
            "published versions re-verified: {}/{} match their stored hash\n",
            report.versions_verified, report.versions_checked
        ));
    }
    if !report.versions_stale_in_source.is_empty() {
        out.push_str(&format!(
            "published versions whose hash did not match in the source already (legacy ids): \
             {:?}\n",
            report.versions_stale_in_source
        ));
    }
    if report.versions_frozen > 0 {
        out.push_str(&format!(
            "published POPs without versions, their current document frozen as version in \
             force: {}\n",
            report.versions_frozen
        ));
    }
    out.push_str(&format!(
        "POP hashes recomputed and re-verified: {}\n",
        report.pops_verified
    ));
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out
}
