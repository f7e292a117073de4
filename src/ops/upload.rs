//! Copies a backup to object storage through the `object_store` crate.
//!
//! The target is a URL: `s3://bucket/prefix` for S3 and S3-compatible stores, configured by the
//! standard `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION` or `AWS_DEFAULT_REGION`, `AWS_SESSION_TOKEN`, `AWS_ENDPOINT` for another
//! provider, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint), or `file:///absolute/path` for a
//! mounted volume. A backup `DIR/2026/11/25/030000` lands under `prefix/2026/11/25/030000/`, the
//! data files first (multipart, in blocks) and `manifest.json` last, so that remotely too a
//! backup without its manifest is an incomplete one.

use super::backup::{Backup, MANIFEST};
use crate::error::AppError;
use anyhow::{anyhow, Context};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::io::Read;
use std::path::Path;

/// Bytes read from disk and sent at a time.
const BLOCK: usize = 8 * 1024 * 1024;
/// Parts uploaded at once.
const CONCURRENCY: usize = 4;

fn store_error(what: &str, e: object_store::Error) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("upload failed ({what})"))
}

/// Opens the store a `--upload` URL names and the prefix inside it.
pub fn open(target: &str) -> Result<(Box<dyn ObjectStore>, StorePath), AppError> {
    let url = url::Url::parse(target).map_err(|e| {
        AppError::bad_input(
            "--upload",
            format!("`{target}` is not a URL like s3://bucket/prefix ({e})"),
        )
    })?;
    let aws_variables = std::env::vars().filter(|(name, _)| name.starts_with("AWS_"));
    object_store::parse_url_opts(&url, aws_variables).map_err(|e| {
        AppError::bad_input(
            "--upload",
            format!("cannot use `{target}` as a backup destination: {e}"),
        )
    })
}

/// Uploads `backup` (a directory under `root`) to `store` under `prefix`; returns the object
/// paths written, the manifest last.
pub async fn upload(
    store: &dyn ObjectStore,
    prefix: &StorePath,
    root: &Path,
    backup: &Backup,
) -> anyhow::Result<Vec<String>> {
    let relative = backup
        .dir
        .strip_prefix(root)
        .map_err(|_| anyhow!("{} is not under {}", backup.dir.display(), root.display()))?;
    let mut base = prefix.clone();
    for part in relative.iter() {
        base = base.join(part.to_string_lossy().as_ref());
    }
    let mut written = Vec::new();
    for name in backup.manifest.files.keys() {
        let location = base.clone().join(name.as_str());
        send_file(store, &location, &backup.dir.join(name)).await?;
        written.push(location.to_string());
    }
    let manifest_path = backup.dir.join(MANIFEST);
    let manifest = std::fs::read(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let location = base.join(MANIFEST);
    store
        .put(&location, PutPayload::from(manifest))
        .await
        .map_err(|e| store_error(MANIFEST, e))?;
    written.push(location.to_string());
    Ok(written)
}

async fn send_file(
    store: &dyn ObjectStore,
    location: &StorePath,
    path: &Path,
) -> anyhow::Result<()> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let upload = store
        .put_multipart(location)
        .await
        .map_err(|e| store_error(location.as_ref(), e))?;
    let mut writer = WriteMultipart::new(upload);
    let mut buffer = vec![0u8; BLOCK];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(
                    anyhow::Error::new(e).context(format!("cannot read {}", path.display()))
                );
            }
        };
        if n == 0 {
            break;
        }
        if let Err(e) = writer.wait_for_capacity(CONCURRENCY).await {
            let _ = writer.abort().await;
            return Err(store_error(location.as_ref(), e));
        }
        writer.write(&buffer[..n]);
    }
    writer
        .finish()
        .await
        .map_err(|e| store_error(location.as_ref(), e))?;
    Ok(())
}
