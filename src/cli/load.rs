//! `mapagov load`: load a dump into the configured database.

use crate::config::Config;
use crate::db::migrate::{self, Direction};
use crate::db::Db;
use crate::ops::backup::Backup;
use crate::transfer::load::{self, LoadReport};
use crate::transfer::report::Progress;
use anyhow::Context;
use clap::Args;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Arguments of `mapagov load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The dump file written by `mapagov dump`, or a backup written by `mapagov backup` (its
    /// directory or its `manifest.json`; its checksums are checked before anything is loaded).
    pub file: PathBuf,
    /// Delete every row of the target first (without it, a non-empty target is refused).
    #[arg(long)]
    pub replace: bool,
}

/// Runs `mapagov load`.
pub async fn run(config: &Config, args: &LoadArgs) -> anyhow::Result<()> {
    let report = load_file(config, &args.file, args.replace)
        .await
        .with_context(|| format!("cannot load {}", args.file.display()))?;
    print!("{}", super::dump::render_sums(&report.tables));
    println!(
        "loaded {} (from {}){}",
        args.file.display(),
        report.source_backend,
        if report.replaced {
            ", replacing what was there"
        } else {
            ""
        }
    );
    Ok(())
}

/// Loads a dump file, or a backup (directory or manifest) whose files and table checksums must
/// match its manifest before anything is written (see [`Backup::check_files`]).
pub async fn load_file(config: &Config, path: &Path, replace: bool) -> anyhow::Result<LoadReport> {
    let Some(backup) = Backup::open(path)? else {
        return load_dump(config, path, replace).await;
    };
    backup.check_files()?;
    load_dump(config, &backup.dump_path(), replace).await
}

/// Checks the dump's header, migrates the target, then loads (see [`load::load`]).
async fn load_dump(config: &Config, path: &Path, replace: bool) -> anyhow::Result<LoadReport> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut first = String::new();
    reader
        .read_line(&mut first)
        .with_context(|| format!("cannot read {}", path.display()))?;
    // Refuse an unreadable or newer dump before touching the target.
    load::read_header(&first, None)?;
    migrate::run(&config.database, Direction::Up).await?;
    let target_schema = super::dump::schema_version(config).await?;
    let header = load::read_header(&first, target_schema.as_deref())?;
    let db = Db::connect(&config.database).await?;
    let mut progress = Progress::new();
    Ok(load::load(&db, header, reader, replace, &mut progress).await?)
}
