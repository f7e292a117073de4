//! The `mapagov` binary: parse the command line, read the configuration, run the command.

use anyhow::Context;
use clap::Parser;
use mapagov::cli::{self, Cli, Command};
use mapagov::config::{Config, LogFormat};
use std::process::ExitCode;

/// The allocator of the server process (see the `mimalloc` feature in `Cargo.toml`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Schema(args)) = &cli.command {
        return match cli::schema::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    // A missing .env is normal; a malformed one is reported.
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            eprintln!("error: cannot read .env: {err}");
            return ExitCode::FAILURE;
        }
    }
    let config = Config::from_env();
    if let Ok(config) = &config {
        init_tracing(config.log_format);
    }
    // Held until `main` returns: dropping it flushes the events not yet sent.
    let _sentry = config
        .as_ref()
        .ok()
        .and_then(mapagov::telemetry::sentry::init);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // `check` reports a bad configuration as one of its findings.
    if let Some(Command::Check(args)) = &cli.command {
        return runtime.block_on(cli::check::run(config.as_ref(), args));
    }
    let config = match config {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Verify(args)) = &cli.command {
        return runtime.block_on(cli::verify::run(&config, args));
    }
    let result = runtime.block_on(async {
        match cli
            .command
            .unwrap_or(Command::Serve(cli::ServeArgs::default()))
        {
            Command::Serve(args) => {
                let bootstrap = match &config.database.url {
                    mapagov::config::DatabaseUrl::Sqlite(_) => !args.no_bootstrap_admin,
                    mapagov::config::DatabaseUrl::Postgres(_) => args.bootstrap_admin,
                };
                let listener = tokio::net::TcpListener::bind(config.bind)
                    .await
                    .with_context(|| format!("cannot listen on {}", config.bind))?;
                Ok(mapagov::server::run(
                    &config,
                    listener,
                    mapagov::server::shutdown_signal(),
                    bootstrap,
                )
                .await?)
            }
            Command::Migrate(args) => cli::migrate::run(&config, &args).await,
            Command::User(args) => cli::user::run(&config, args).await,
            Command::Schema(_) => Ok(()),
            Command::ImportDjango(args) => cli::import_django::run(&config, &args).await,
            Command::Dump(args) => cli::dump::run(&config, &args).await,
            Command::Load(args) => cli::load::run(&config, &args).await,
            Command::Copy(args) => cli::copy::run(&config, &args).await,
            Command::Verify(_) => Ok(()),
            Command::Drill(args) => cli::drill::run(&config, &args).await,
            Command::Backup(args) => cli::backup::run(&config, &args).await,
            Command::Cleanup(args) => cli::cleanup::run(&config, &args).await,
            Command::Check(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The whole chain on one line: `error: context: cause: …`.
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Log targets capped at `warn` because their debug output carries statement parameters.
const SECRET_BEARING_TARGETS: [&str; 3] =
    ["tokio_postgres=warn", "diesel=warn", "diesel_async=warn"];

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The database drivers log statement parameters at debug level, which would put password
    // hashes and token digests in the logs: they stay at `warn` whatever RUST_LOG says.
    let filter = SECRET_BEARING_TARGETS
        .iter()
        .filter_map(|directive| directive.parse().ok())
        .fold(filter, |filter, directive| filter.add_directive(directive));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
