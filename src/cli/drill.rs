//! `mapagov drill`: a restore rehearsal. Dump the configured (source) database, wipe a scratch
//! database (revert every migration), migrate it, load the dump, and compare counts and checksums
//! with the source. The source is only read.

use crate::config::Config;
use crate::db::migrate::{self, Direction};
use crate::db::Db;
use crate::error::{AppError, CommandError};
use crate::transfer::checksum::{compare, Checksums, Mismatch};
use crate::transfer::report::Progress;
use anyhow::{bail, Context};
use clap::Args;

/// Arguments of `mapagov drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The scratch database (`postgres://…` or `sqlite://path`); everything in it is destroyed.
    #[arg(long)]
    pub scratch: String,
}

/// What a drill found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillReport {
    /// The source's rows and checksums, as dumped.
    pub source: Checksums,
    /// The scratch database's after the load.
    pub restored: Checksums,
}

/// Runs the drill (see the module docs); `Err` names the tables that differ.
pub async fn drill(config: &Config, scratch_url: &str) -> anyhow::Result<DrillReport> {
    let scratch = super::copy::database_at(config, scratch_url, "--scratch")?;
    if scratch.url == config.database.url {
        return Err(AppError::bad_input(
            "--scratch",
            "the scratch database is the source database; the drill would destroy it",
        )
        .into());
    }
    let dir = std::env::temp_dir().join(format!("mapagov-drill-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create a work directory {}", dir.display()))?;
    let result = run_in(config, &scratch, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(
    config: &Config,
    scratch: &crate::config::DatabaseConfig,
    dir: &std::path::Path,
) -> anyhow::Result<DrillReport> {
    let path = dir.join("drill.jsonl");
    let version = super::dump::schema_version(config).await?;
    let source = Db::connect(&config.database).await?;
    let dumped = crate::transfer::dump::dump_to_file(&source, version, &path, &mut Progress::new())
        .await
        .with_context(|| format!("cannot dump {}", config.database.url))?;
    migrate::run(scratch, Direction::DownAll)
        .await
        .map_err(CommandError)
        .with_context(|| format!("cannot wipe the scratch database {}", scratch.url))?;
    let scratch_config = Config {
        database: scratch.clone(),
        ..config.clone()
    };
    let loaded = super::load::load_file(&scratch_config, &path, false)
        .await
        .with_context(|| format!("cannot load the dump into {}", scratch.url))?;
    let differ = compare(&dumped, &loaded.tables);
    if !differ.is_empty() {
        bail!(
            "the restored copy differs from the source: {}",
            differ
                .iter()
                .map(Mismatch::describe)
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(DrillReport {
        source: dumped,
        restored: loaded.tables,
    })
}

/// Runs `mapagov drill` and prints the report.
pub async fn run(config: &Config, args: &DrillArgs) -> anyhow::Result<()> {
    let report = drill(config, &args.scratch).await?;
    print!("{}", super::dump::render_sums(&report.restored));
    println!("drill passed: the scratch copy matches the source table by table");
    Ok(())
}
