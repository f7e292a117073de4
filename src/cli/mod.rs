//! The `mapagov` command line: one subcommand per job.

pub mod migrate;
pub mod schema;
pub mod user;

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
}
