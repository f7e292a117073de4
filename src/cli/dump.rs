//! `mapagov dump`: write the whole database as a versioned JSON-lines dump.

use crate::config::Config;
use crate::db::migrate;
use crate::db::Db;
use crate::error::AppError;
use crate::transfer::checksum::Checksums;
use crate::transfer::dump;
use crate::transfer::report::{render_table, Progress};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `mapagov dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Write to this file (created next to it as FILE.partial, renamed when complete) instead of
    /// standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The newest migration applied to the configured database.
pub async fn schema_version(config: &Config) -> Result<Option<String>, AppError> {
    let status = migrate::status(&config.database).await?;
    Ok(status.applied.into_iter().max())
}

/// Runs `mapagov dump`.
pub async fn run(config: &Config, args: &DumpArgs) -> anyhow::Result<()> {
    let version = schema_version(config).await?;
    let db = Db::connect(&config.database).await?;
    let mut progress = Progress::new();
    match &args.out {
        Some(path) => {
            let sums = dump::dump_to_file(&db, version, path, &mut progress)
                .await
                .with_context(|| format!("cannot dump {}", config.database.url))?;
            print!("{}", render_sums(&sums));
            println!("dump written to {}", path.display());
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let sums = dump::dump(&db, version, &mut out, &mut progress)
                .await
                .with_context(|| format!("cannot dump {}", config.database.url))?;
            eprint!("{}", render_sums(&sums));
        }
    }
    Ok(())
}

/// Rows and checksums per table, as printed.
pub fn render_sums(sums: &Checksums) -> String {
    let rows: Vec<Vec<String>> = sums
        .iter()
        .map(|(table, s)| vec![table.clone(), s.rows.to_string(), s.sha256.clone()])
        .collect();
    render_table(&["table", "rows", "sha256"], &rows)
}
