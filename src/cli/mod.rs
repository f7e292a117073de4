//! The `mapagov` command line: one subcommand per job.

pub mod backup;
pub mod check;
pub mod cleanup;
pub mod copy;
pub mod drill;
pub mod dump;
pub mod import_django;
pub mod load;
pub mod migrate;
pub mod schema;
pub mod user;
pub mod verify;

use clap::{Parser, Subcommand};

/// MapaGov: GraphQL server for POPs, on PostgreSQL or an embedded SQLite file.
///
/// Configuration comes from the environment and a `.env` file (see `.env.example`).
#[derive(Debug, Parser)]
#[command(name = "mapagov", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Arguments of `mapagov serve`.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// On PostgreSQL: if there is no user yet, create the staff user `admin` and print its token.
    /// (On the embedded SQLite default this happens by itself.)
    #[arg(long)]
    pub bootstrap_admin: bool,
    /// On SQLite: do not create the first-run `admin` user.
    #[arg(long)]
    pub no_bootstrap_admin: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve GraphQL at /graphql (GraphiQL in a browser) and health at /healthz. The default.
    Serve(ServeArgs),
    /// Manage users and their API tokens.
    User(user::UserArgs),
    /// Apply, revert or list database migrations.
    Migrate(migrate::MigrateArgs),
    /// Print the GraphQL schema (SDL), or write or check `schema.graphql`.
    Schema(schema::SchemaArgs),
    /// Import users, POPs, snapshots and change logs from the Django system (SQLite or JSON dump).
    ImportDjango(import_django::ImportDjangoArgs),
    /// Write the whole database as a versioned JSON-lines dump (docs/DUMP_FORMAT.md).
    Dump(dump::DumpArgs),
    /// Load a dump into the database (refuses a non-empty one unless --replace).
    Load(load::LoadArgs),
    /// Copy one database into another (SQLite and PostgreSQL, either way) and verify the copy.
    Copy(copy::CopyArgs),
    /// Check counts, orphans, sequences and hashes; exit 0 ok, 1 warnings, 2 failures, 3 refused.
    Verify(verify::VerifyArgs),
    /// Restore rehearsal: dump, wipe and migrate a scratch database, load, compare with the source.
    Drill(drill::DrillArgs),
    /// Write a dated backup (dump + checksum manifest), optionally upload it, prune old backups.
    Backup(backup::BackupArgs),
    /// Retention: soft-delete idle drafts, delete old snapshots (milestones and the newest kept).
    Cleanup(cleanup::CleanupArgs),
    /// Check configuration, database and migrations; with --deploy, production readiness too.
    Check(check::CheckArgs),
}
