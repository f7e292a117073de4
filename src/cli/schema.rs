//! `mapagov schema`: the GraphQL SDL that client teams generate typed clients from.

use crate::graphql;
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

/// Runs `mapagov schema`; `Err` carries the message for a stale or unwritable file.
pub fn run(args: &SchemaArgs) -> Result<(), String> {
    let sdl = graphql::sdl();
    if let Some(path) = &args.check {
        let current = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if current != sdl {
            return Err(format!(
                "{} is stale: run `mapagov schema --out {}`",
                path.display(),
                path.display()
            ));
        }
        println!("{} is current", path.display());
        return Ok(());
    }
    match &args.out {
        Some(path) => {
            std::fs::write(path, sdl).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            print!("{sdl}");
            Ok(())
        }
    }
}
