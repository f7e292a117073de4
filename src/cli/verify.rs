//! `mapagov verify`: check the database and exit 0 (ok), 1 (warnings), 2 (integrity failures) or
//! 3 (cannot run, or refused: SQLite with `APP_ENV=production`).

use crate::config::{AppEnv, Config, DatabaseUrl};
use crate::db::Db;
use crate::transfer::report::render_table;
use crate::transfer::verify::{self, VerifyReport};
use clap::Args;
use std::process::ExitCode;

/// Exit code when verification cannot run or is refused.
pub const EXIT_CANNOT_RUN: u8 = 3;

/// Arguments of `mapagov verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Re-hash only the newest N POPs and N snapshots instead of all.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub sample: Option<i64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `mapagov verify` and returns its exit code.
pub async fn run(config: &Config, args: &VerifyArgs) -> ExitCode {
    let refuse = |message: String, json: bool| {
        if json {
            println!(
                "{}",
                serde_json::json!({ "status": "refused", "error": message })
            );
        } else {
            eprintln!("error: {message}");
        }
        ExitCode::from(EXIT_CANNOT_RUN)
    };
    if config.app_env == AppEnv::Production && matches!(config.database.url, DatabaseUrl::Sqlite(_))
    {
        return refuse(
            "refusing to verify: SQLite is not a production database (APP_ENV=production); \
             set DATABASE_URL to PostgreSQL"
                .into(),
            args.json,
        );
    }
    let report = match Db::connect(&config.database).await {
        Ok(db) => verify::verify(&db, args.sample).await,
        Err(err) => Err(err),
    };
    let report = match report {
        Ok(report) => report,
        Err(err) => return refuse(format!("cannot verify: {}", err.message()), args.json),
    };
    if args.json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        value["exit_code"] = report.exit_code().into();
        println!("{value}");
    } else {
        print!("{}", render(&report));
    }
    ExitCode::from(report.exit_code())
}

/// The report as printed.
pub fn render(report: &VerifyReport) -> String {
    let rows: Vec<Vec<String>> = report
        .counts
        .iter()
        .map(|(t, n)| vec![t.clone(), n.to_string()])
        .collect();
    let mut out = render_table(&["table", "rows"], &rows);
    out.push_str(&format!(
        "SELECT 1: {} ms; re-hashed {} POPs, {} snapshots and {} published versions\n",
        report.ping_ms, report.pops_checked, report.snapshots_checked, report.versions_checked
    ));
    for failure in &report.failures {
        out.push_str(&format!("FAILURE: {failure}\n"));
    }
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out.push_str(match report.exit_code() {
        0 => "ok\n",
        1 => "warnings\n",
        _ => "integrity failures\n",
    });
    out
}
