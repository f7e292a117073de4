//! `mapagov migrate`: apply, revert or list migrations.

use crate::config::Config;
use crate::db::migrate::{self, Direction};
use clap::{Args, ValueEnum};

/// Arguments of `mapagov migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// `up` applies pending migrations, `down` reverts the latest, `status` lists them.
    #[arg(value_enum, default_value_t = MigrateAction::Up)]
    pub action: MigrateAction,
}

/// What `mapagov migrate` does.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migration.
    Down,
    /// List applied and pending migrations.
    Status,
}

/// Runs `mapagov migrate`.
pub async fn run(config: &Config, args: &MigrateArgs) -> anyhow::Result<()> {
    match args.action {
        MigrateAction::Up => report(
            "applied",
            migrate::run(&config.database, Direction::Up).await?,
        ),
        MigrateAction::Down => report(
            "reverted",
            migrate::run(&config.database, Direction::DownOne).await?,
        ),
        MigrateAction::Status => {
            let status = migrate::status(&config.database).await?;
            for version in &status.applied {
                println!("applied  {version}");
            }
            for version in &status.pending {
                println!("pending  {version}");
            }
        }
    }
    Ok(())
}

fn report(what: &str, versions: Vec<String>) {
    if versions.is_empty() {
        println!("nothing {what}: the database is up to date");
    }
    for version in versions {
        println!("{what} {version}");
    }
}
