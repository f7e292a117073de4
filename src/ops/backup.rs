//! Dated backups: a `mapagov dump` plus a checksum manifest, in `DIR/YYYY/MM/DD/HHMMSS/`.
//!
//! A backup directory holds `dump.jsonl` (the dump format of `docs/DUMP_FORMAT.md`) and
//! `manifest.json` ([`Manifest`]): the SHA-256 and size of every file, the dump format version, the
//! schema version, and the per-table row counts and checksums that `copy`, `verify` and `drill`
//! compare. The dump is written through a `.partial` name, synced and renamed; the manifest is
//! written the same way, **last**, and the directory synced. A directory without `manifest.json`
//! is therefore an interrupted backup: it is never listed, restored or pruned.

use crate::db::Db;
use crate::error::AppError;
use crate::transfer::checksum::{compare, Checksums, Mismatch};
use crate::transfer::dump::{self, backend_name};
use crate::transfer::report::Progress;
use anyhow::{anyhow, Context};
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

/// The `format` of a backup manifest.
pub const FORMAT: &str = "mapagov-backup";
/// The manifest version this binary writes and the newest it reads.
pub const VERSION: u32 = 1;
/// The manifest's file name; its presence marks a complete backup.
pub const MANIFEST: &str = "manifest.json";
/// The dump's file name inside a backup directory.
pub const DUMP: &str = "dump.jsonl";

/// Size and SHA-256 of one file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// Bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// `manifest.json`: what a complete backup holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Manifest version ([`VERSION`]).
    pub version: u32,
    /// When the backup was taken (the backup's clock, `--now` when given).
    pub created_at: DateTime<Utc>,
    /// `postgres` or `sqlite`.
    pub source_backend: String,
    /// The newest migration applied to the source.
    pub schema_version: Option<String>,
    /// The dump format version of [`DUMP`].
    pub dump_format_version: u32,
    /// Every file of the backup but the manifest, by name.
    pub files: BTreeMap<String, FileSum>,
    /// Rows and checksum per table, as `verify`, `copy` and `drill` compute them.
    pub tables: Checksums,
}

/// A complete backup found on disk.
#[derive(Debug, Clone)]
pub struct Backup {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("cannot {what} {}", path.display()))
}

fn damaged(message: String) -> anyhow::Error {
    AppError::BadUserInput {
        message,
        field: None,
    }
    .into()
}

/// Size and SHA-256 of a file, read in blocks.
pub fn file_sum(path: &Path) -> anyhow::Result<FileSum> {
    let mut file = std::fs::File::open(path).map_err(|e| io_error("open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| io_error("read", path, e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok(FileSum {
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Writes `contents` to `path` crash-safely: a `.partial` file, synced, renamed over `path`, and
/// the directory synced so the rename itself is durable.
pub fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = std::fs::File::create(&partial)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&partial, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(io_error("write", path, e));
    }
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync", dir, e))
}

/// The directory a backup taken at `at` goes to: `root/YYYY/MM/DD/HHMMSS`, with `-2`, `-3`… if
/// that name is taken.
fn new_backup_dir(root: &Path, at: DateTime<Utc>) -> anyhow::Result<PathBuf> {
    let day = root
        .join(format!("{:04}", at.year()))
        .join(format!("{:02}", at.month()))
        .join(format!("{:02}", at.day()));
    std::fs::create_dir_all(&day).map_err(|e| io_error("create", &day, e))?;
    let base = at.format("%H%M%S").to_string();
    for n in 1..1000 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = day.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error("create", &dir, e)),
        }
    }
    Err(anyhow!("too many backups at {base} in {}", day.display()))
}

/// Takes a backup of `db` into a new dated directory under `root`; `at` is the backup's time.
pub async fn write(
    db: &Db,
    schema_version: Option<String>,
    root: &Path,
    at: DateTime<Utc>,
) -> anyhow::Result<Backup> {
    let dir = new_backup_dir(root, at)?;
    let written = write_into(db, schema_version, &dir, at).await;
    if written.is_err() {
        // The directory is new and ours: leave nothing of a failed backup behind.
        let _ = std::fs::remove_dir_all(&dir);
    }
    written
}

async fn write_into(
    db: &Db,
    schema_version: Option<String>,
    dir: &Path,
    at: DateTime<Utc>,
) -> anyhow::Result<Backup> {
    let dir = dir.to_owned();
    let dump_path = dir.join(DUMP);
    let tables = crate::transfer::dump::dump_to_file(
        db,
        schema_version.clone(),
        &dump_path,
        &mut Progress::new(),
    )
    .await?;
    // Hash what is on disk, not what was meant to be written.
    let files = BTreeMap::from([(DUMP.to_owned(), file_sum(&dump_path)?)]);
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        created_at: at,
        source_backend: backend_name(db.backend()).into(),
        schema_version,
        dump_format_version: dump::VERSION,
        files,
        tables,
    };
    let text = serde_json::to_vec_pretty(&manifest).context("cannot encode the manifest")?;
    write_atomically(&dir.join(MANIFEST), &text)?;
    Ok(Backup { dir, manifest })
}

/// Reads a manifest; `None` when the file is not a mapagov backup manifest at all.
fn read_manifest(path: &Path) -> anyhow::Result<Option<Manifest>> {
    let text = std::fs::read(path).map_err(|e| io_error("read", path, e))?;
    let value: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(value) => value,
        Err(_) => return Ok(None),
    };
    if value.get("format").and_then(serde_json::Value::as_str) != Some(FORMAT) {
        return Ok(None);
    }
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if version > u64::from(VERSION) {
        return Err(damaged(format!(
            "{} uses backup manifest version {version}, newer than the newest this mapagov reads \
             ({VERSION}); use a newer mapagov",
            path.display()
        )));
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| damaged(format!("{} is not a valid manifest: {e}", path.display())))
}

fn numbered_children(dir: &Path, digits: usize) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() == digits && name.chars().all(|c| c.is_ascii_digit())
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Every complete backup under `root` (`YYYY/MM/DD/*/manifest.json`), oldest first. Directories
/// without our manifest (interrupted backups, anything else) are not listed.
pub fn list(root: &Path) -> anyhow::Result<Vec<Backup>> {
    let mut backups = Vec::new();
    for year in numbered_children(root, 4) {
        for month in numbered_children(&year, 2) {
            for day in numbered_children(&month, 2) {
                let Ok(entries) = std::fs::read_dir(&day) else {
                    continue;
                };
                for entry in entries.filter_map(Result::ok) {
                    let dir = entry.path();
                    let manifest_path = dir.join(MANIFEST);
                    if !manifest_path.is_file() {
                        continue;
                    }
                    if let Some(manifest) = read_manifest(&manifest_path)? {
                        backups.push(Backup { dir, manifest });
                    }
                }
            }
        }
    }
    backups.sort_by(|a, b| (a.manifest.created_at, &a.dir).cmp(&(b.manifest.created_at, &b.dir)));
    Ok(backups)
}

impl Backup {
    /// Opens the backup at `path`: its directory or its `manifest.json`. `None` when `path` is
    /// neither (for example a plain dump file).
    pub fn open(path: &Path) -> anyhow::Result<Option<Backup>> {
        let manifest_path = if path.is_dir() {
            path.join(MANIFEST)
        } else if path.file_name().is_some_and(|n| n == MANIFEST) {
            path.to_owned()
        } else {
            return Ok(None);
        };
        if !manifest_path.is_file() {
            return Err(damaged(format!(
                "{} has no {MANIFEST}: not a backup, or an interrupted one",
                path.display()
            )));
        }
        let dir = manifest_path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default();
        match read_manifest(&manifest_path)? {
            Some(manifest) => Ok(Some(Backup { dir, manifest })),
            None => Err(damaged(format!(
                "{} is not a mapagov backup manifest",
                manifest_path.display()
            ))),
        }
    }

    /// The dump file.
    pub fn dump_path(&self) -> PathBuf {
        self.dir.join(DUMP)
    }

    /// Whether every file the manifest names is present with its recorded size (cheap; see
    /// [`Backup::check_files`] for the checksums).
    pub fn is_complete(&self) -> bool {
        self.manifest.files.iter().all(|(name, sum)| {
            std::fs::metadata(self.dir.join(name)).is_ok_and(|m| m.len() == sum.bytes)
        })
    }

    /// Re-hashes every file and compares it with the manifest, then the dump's trailer (the rows
    /// and checksums `load` will hold the rows to) with the manifest's tables; `Err` says what
    /// differs.
    pub fn check_files(&self) -> anyhow::Result<()> {
        if !self.manifest.files.contains_key(DUMP) {
            return Err(damaged(format!(
                "the manifest in {} does not list {DUMP}",
                self.dir.display()
            )));
        }
        for (name, expected) in &self.manifest.files {
            let path = self.dir.join(name);
            if !path.is_file() {
                return Err(damaged(format!(
                    "backup {} is damaged: {name} is missing",
                    self.dir.display()
                )));
            }
            let actual = file_sum(&path)?;
            if &actual != expected {
                return Err(damaged(format!(
                    "backup {} is damaged: {name} has sha256 {} ({} bytes) but the manifest \
                     says {} ({} bytes); refusing to load it",
                    self.dir.display(),
                    actual.sha256,
                    actual.bytes,
                    expected.sha256,
                    expected.bytes
                )));
            }
        }
        let trailer = read_trailer(&self.dump_path())?;
        let differ = compare(&self.manifest.tables, &trailer);
        if !differ.is_empty() {
            return Err(damaged(format!(
                "backup {} is damaged: its manifest and its dump disagree: {}",
                self.dir.display(),
                differ
                    .iter()
                    .map(Mismatch::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        Ok(())
    }
}

/// The table checksums in a dump's trailer (its last line).
fn read_trailer(path: &Path) -> anyhow::Result<Checksums> {
    let file = std::fs::File::open(path).map_err(|e| io_error("open", path, e))?;
    let mut last = String::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| io_error("read", path, e))?;
        if !line.trim().is_empty() {
            last = line;
        }
    }
    let value: serde_json::Value = serde_json::from_str(&last).unwrap_or_default();
    value
        .get("trailer")
        .cloned()
        .and_then(|t| serde_json::from_value::<dump::Trailer>(t).ok())
        .map(|t| t.tables)
        .ok_or_else(|| {
            damaged(format!(
                "{} has no trailer line: the dump is truncated",
                path.display()
            ))
        })
}

/// Deletes a listed backup's directory (only if it still holds our manifest), then its day, month
/// and year directories when they are left empty.
pub fn remove(root: &Path, backup: &Backup) -> anyhow::Result<()> {
    let manifest_path = backup.dir.join(MANIFEST);
    if !matches!(read_manifest(&manifest_path), Ok(Some(_))) {
        return Err(anyhow!(
            "refusing to delete {}: it does not hold a mapagov backup manifest",
            backup.dir.display()
        ));
    }
    std::fs::remove_dir_all(&backup.dir).map_err(|e| io_error("delete", &backup.dir, e))?;
    let mut parent = backup.dir.parent();
    while let Some(dir) = parent {
        if dir == root || !dir.starts_with(root) || std::fs::remove_dir(dir).is_err() {
            break;
        }
        parent = dir.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        write_atomically(&path, b"{}").unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("manifest.json")]);
        let sum = file_sum(&path).unwrap();
        assert_eq!(sum.bytes, 2);
        assert_eq!(
            sum.sha256,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
