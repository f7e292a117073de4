//! The cost of durable SQLite commits: autosave throughput on SQLite with `SQLITE_SYNCHRONOUS=full`
//! (the default: the write-ahead log is synced at every commit) next to `normal` (synced only at
//! checkpoints), measured one after the other in the same run, on the same disk.

use crate::load::{self, Api};
use crate::measure::Measurement;
use crate::report::{Report, Row};
use crate::{data, server, BoxError, Settings};
use serde_json::{json, Value};
use std::sync::Arc;

const AUTOSAVE: &str = "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { \
    changed } }";
/// The same ~6 KB documents as the PostgreSQL autosave run.
const AUTOSAVE_BYTES: usize = 6 * 1024;
const REVISIONS: u64 = 64;

/// Autosave throughput on a fresh SQLite file with `synchronous`.
async fn autosave(s: &Settings, synchronous: &str) -> Result<Measurement, BoxError> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.sqlite3").display());
    server::run(&url, &["migrate"])?;
    let token = server::create_staff_token(&url, "bench")?;
    let server = server::Server::start(&url, &[("SQLITE_SYNCHRONOUS", synchronous)]).await?;
    let api = Api::new(&server.base, &token)?;
    let bodies: Arc<Vec<Value>> = Arc::new(
        (1..=REVISIONS)
            .map(|rev| data::content(0, AUTOSAVE_BYTES, rev, 4))
            .collect(),
    );
    let measured = load::run(s.clients, s.warmup, s.window, move |c, i| {
        let api = api.clone();
        let input = json!({
            "sessionId": format!("bench-{c}"),
            "content": bodies[usize::try_from(i % REVISIONS).unwrap_or(0)],
        });
        async move {
            let out = api.gql(AUTOSAVE, json!({ "input": input })).await?;
            if out["autosavePop"]["changed"] != json!(true) {
                return Err(format!("autosave wrote nothing: {out}"));
            }
            Ok(())
        }
    })
    .await?;
    drop(server);
    Ok(measured)
}

/// Measures both settings and adds their table to `report`.
pub async fn section(report: &mut Report, s: &Settings) -> Result<(), BoxError> {
    let full = autosave(s, "full").await?;
    let normal = autosave(s, "normal").await?;
    report.table(
        &format!(
            "7. SQLite autosave: `SQLITE_SYNCHRONOUS=full` (default) vs `normal` ({} clients)",
            s.clients
        ),
        "`normal`, same run",
        &[
            Row {
                what: "autosaves/s",
                value: full.rate,
                baseline: normal.rate,
                unit: "/s",
                goal: None,
            },
            Row {
                what: "  p50 latency",
                value: full.p50_ms,
                baseline: normal.p50_ms,
                unit: "ms",
                goal: None,
            },
            Row {
                what: "  p99 latency",
                value: full.p99_ms,
                baseline: normal.p99_ms,
                unit: "ms",
                goal: None,
            },
        ],
    );
    Ok(())
}
