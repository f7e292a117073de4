//! `mapagov backup`: a dated dump with a checksum manifest, optionally uploaded, then rotation of
//! the older backups (see [`crate::ops::backup`] and [`crate::ops::rotation`]).

use crate::config::Config;
use crate::db::Db;
use crate::error::AppError;
use crate::ops::backup::{self, Backup};
use crate::ops::rotation::{self, Policy};
use crate::ops::{parse_instant, upload};
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `mapagov backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where backups live (default: `BACKUP_DIR`); this one goes to DIR/YYYY/MM/DD/HHMMSS/.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep the newest backup of each of this many most recent days.
    #[arg(long, default_value_t = rotation::DEFAULT_DAILY)]
    pub keep_daily: u32,
    /// Keep the newest backup of each of this many most recent ISO weeks.
    #[arg(long, default_value_t = rotation::DEFAULT_WEEKLY)]
    pub keep_weekly: u32,
    /// Keep the newest backup of each of this many most recent months.
    #[arg(long, default_value_t = rotation::DEFAULT_MONTHLY)]
    pub keep_monthly: u32,
    /// Do not delete old backups.
    #[arg(long)]
    pub no_prune: bool,
    /// Also copy the backup to object storage: `s3://bucket/prefix` (configured by the AWS_*
    /// variables) or `file:///absolute/path`.
    #[arg(long, value_name = "URL")]
    pub upload: Option<String>,
    /// The backup's time (RFC 3339), instead of the clock: names the directory, dates the
    /// manifest and drives the rotation.
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,
}

/// Runs `mapagov backup`.
pub async fn run(config: &Config, args: &BackupArgs) -> anyhow::Result<()> {
    let root = args
        .dir
        .clone()
        .or_else(|| config.backup_dir.clone())
        .ok_or_else(|| AppError::bad_input("--dir", "give --dir DIR or set BACKUP_DIR"))?;
    // Refuse a bad --upload before taking the backup.
    let store = args.upload.as_deref().map(upload::open).transpose()?;
    let now = args.now.unwrap_or_else(Utc::now);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let version = super::dump::schema_version(config).await?;
    let db = Db::connect(&config.database).await?;
    let written = backup::write(&db, version, &root, now)
        .await
        .with_context(|| format!("cannot write a backup in {}", root.display()))?;
    print!("{}", super::dump::render_sums(&written.manifest.tables));
    println!("backup written to {}", written.dir.display());
    if let Some((store, prefix)) = &store {
        let uploaded = upload::upload(store.as_ref(), prefix, &root, &written)
            .await
            .with_context(|| format!("cannot upload {}", written.dir.display()))?;
        for object in uploaded {
            println!("uploaded {object}");
        }
    }
    if !args.no_prune {
        let policy = Policy {
            daily: args.keep_daily,
            weekly: args.keep_weekly,
            monthly: args.keep_monthly,
        };
        let pruned = prune(&root, &written, policy)
            .with_context(|| format!("cannot prune the backups in {}", root.display()))?;
        for pruned in pruned {
            println!("pruned {}", pruned.display());
        }
    }
    Ok(())
}

/// Deletes the backups under `root` that `policy` does not keep, never `just_written`; returns
/// their directories.
pub fn prune(root: &Path, just_written: &Backup, policy: Policy) -> anyhow::Result<Vec<PathBuf>> {
    let backups = backup::list(root)?;
    let times: Vec<DateTime<Utc>> = backups.iter().map(|b| b.manifest.created_at).collect();
    let keep = rotation::kept(&times, policy);
    let mut pruned = Vec::new();
    for (backup, keep) in backups.iter().zip(keep) {
        if keep || backup.dir == just_written.dir {
            continue;
        }
        backup::remove(root, backup)?;
        pruned.push(backup.dir.clone());
    }
    Ok(pruned)
}
