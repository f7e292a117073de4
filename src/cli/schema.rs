//! `mapagov schema`: the GraphQL SDL that client teams generate typed clients from.

use crate::graphql;
use anyhow::{bail, Context};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `mapagov schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write the SDL to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Compare with this file instead and fail if it is stale.
    #[arg(long, conflicts_with = "out")]
    pub check: Option<PathBuf>,
}

/// Runs `mapagov schema`; fails for a stale, unreadable or unwritable file.
pub fn run(args: &SchemaArgs) -> anyhow::Result<()> {
    let sdl = graphql::sdl();
    if let Some(path) = &args.check {
        let current = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if current != sdl {
            bail!(
                "{} is stale: run `mapagov schema --out {}`",
                path.display(),
                path.display()
            );
        }
        println!("{} is current", path.display());
        return Ok(());
    }
    match &args.out {
        Some(path) => {
            std::fs::write(path, sdl).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            print!("{sdl}");
            Ok(())
        }
    }
}
