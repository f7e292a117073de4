//! `popEditSessions` at 1M change-log rows: a page of 20 editing sessions, each with its actor,
//! span, counts, fields and diff, of POPs whose history is dense (two people taking turns, an
//! autosave every 3 s, a hand-over every 100 saves, so a page groups about 2,000 entries), next to
//! pgbench reading the same POP and the same entries with one `SELECT`.

use crate::load::{self, Api};
use crate::pg_cluster::PgCluster;
use crate::pgbench::PgBench;
use crate::report::{Report, Row};
use crate::{step, BoxError, Settings, DB};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// Change-log rows per dense POP.
const PER_POP: u64 = 2_000;
/// Saves of one person before the other takes over (one session each).
const TURN: u64 = 100;
/// Sessions per page.
const PAGE: u64 = 20;

const SESSIONS: &str = "query($id: ID!) { popEditSessions(popId: $id, first: 20) { \
    edges { node { action actor { username } startedAt endedAt entryCount writeCount fields \
    diff { changedFields } } } pageInfo { hasNextPage endCursor } } }";

/// pgbench: the POP, then the entries a page of sessions groups (and one more).
const PGBENCH_SESSIONS: &str = "\\set p random(:lo, :hi)
SELECT * FROM pops WHERE id = :p;
SELECT id, user_id, action, field_name, autosave_sequence, created_at FROM pop_change_log
  WHERE pop_id = :p ORDER BY id DESC LIMIT :rows;
";

/// SQL adding `pops` POPs of [`PER_POP`] change-log rows each, 3 s apart, made in turns of
/// [`TURN`] saves by `first` and `second` (SQL expressions for user ids).
fn dense_history(pops: u64, first: &str, second: &str) -> String {
    format!(
        "INSERT INTO pops (uuid, session_id, created_by_id, nome_usuario, nome_processo, etapas,
                           integrity_hash, autosave_sequence, created_at, updated_at, last_activity_at)
         SELECT gen_random_uuid(), 'dense-' || g, {first}, 'Servidora ' || g, 'Processo ' || g,
                '[]', md5('dense' || g), {PER_POP}, now() - interval '1 day', now(), now()
         FROM generate_series(1, {pops}) g;
         INSERT INTO pop_change_log (pop_id, user_id, action, field_name, old_value, new_value,
                                     autosave_sequence, created_at)
         SELECT p.id, CASE WHEN (s / {TURN}) % 2 = 0 THEN {first} ELSE {second} END, 'autosave',
                CASE WHEN s % 3 = 0 THEN 'pontos_atencao' ELSE 'etapas' END,
                to_jsonb('revisão ' || (s - 1)), to_jsonb('revisão ' || s), s,
                now() - ({PER_POP} - s) * interval '3 seconds'
         FROM (SELECT id FROM pops WHERE session_id LIKE 'dense-%') p,
              generate_series(1, {PER_POP}) s;
         ANALYZE;"
    )
}

/// Generates `s.snapshots` dense change-log rows (the users `bench` and `bench-other` must exist),
/// measures a page of sessions through the API and its pgbench equivalent, and adds the table.
pub async fn section(
    report: &mut Report,
    s: &Settings,
    cluster: &PgCluster,
    api: &Api,
    pgbench: &PgBench,
) -> Result<(), BoxError> {
    let pops = s.snapshots.div_ceil(PER_POP).max(1);
    step(&format!(
        "generating {} dense change-log rows",
        pops * PER_POP
    ));
    let started = Instant::now();
    cluster.psql(
        DB,
        &dense_history(
            pops,
            "(SELECT id FROM users WHERE username = 'bench')",
            "(SELECT id FROM users WHERE username = 'bench-other')",
        ),
    );
    let generated_in = started.elapsed();
    let lines =
        |sql: &str| -> Vec<String> { cluster.psql(DB, sql).lines().map(str::to_owned).collect() };
    let uuids = Arc::new(lines(
        "SELECT uuid FROM pops WHERE session_id LIKE 'dense-%' ORDER BY id",
    ));
    let range = lines("SELECT min(id) || ' ' || max(id) FROM pops WHERE session_id LIKE 'dense-%'");
    let (lo, hi) = range
        .first()
        .and_then(|r| r.split_once(' '))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or("no dense POPs")?;
    let total_rows = lines("SELECT count(*) FROM pop_change_log")
        .first()
        .cloned()
        .unwrap_or_default();

    step("popEditSessions pages");
    let client = api.clone();
    let ids = Arc::clone(&uuids);
    let pages = load::run(1, s.warmup, s.window, move |_, i| {
        let api = client.clone();
        let n = usize::try_from(i.wrapping_mul(7919)).unwrap_or(0) % ids.len();
        let id = ids[n].clone();
        async move {
            let out = api.gql(SESSIONS, json!({ "id": id })).await?;
            let edges = out
                .pointer("/popEditSessions/edges")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("no sessions: {out}"))?;
            let full_turns = edges
                .iter()
                .filter(|e| e["node"]["writeCount"] == json!(TURN))
                .count();
            // The newest session may be a partial turn; every other one is a whole turn.
            if edges.len() as u64 != PAGE || full_turns + 1 < edges.len() {
                return Err(format!("unexpected page: {out}"));
            }
            Ok(())
        }
    })
    .await?;
    let rows = ((PAGE + 1) * TURN).to_string();
    let pg = pgbench.run(
        PGBENCH_SESSIONS,
        1,
        s.warmup,
        s.window,
        &[("lo", lo), ("hi", hi), ("rows", rows.clone())],
    )?;
    report.table(
        &format!(
            "3b. Editing sessions: a page of {PAGE} (with each session's diff) at {total_rows} \
             change-log rows (one client)"
        ),
        &format!("pgbench, the POP and its newest {rows} entries"),
        &[
            Row {
                what: "`popEditSessions` p50",
                value: pages.p50_ms,
                baseline: pg.p50_ms,
                unit: "ms",
                goal: None,
            },
            Row {
                what: "`popEditSessions` p99",
                value: pages.p99_ms,
                baseline: pg.p99_ms,
                unit: "ms",
                goal: Some(("p99 < 20 ms".into(), pages.p99_ms < 20.0)),
            },
        ],
    );
    report.push(&format!(
        "\n{pops} POPs × {PER_POP} entries, an autosave every 3 s by two people taking turns every \
         {TURN} saves (so a page groups about {} entries), generated with `generate_series` in \
         {:.1} s.",
        PAGE * TURN,
        generated_in.as_secs_f64()
    ));
    Ok(())
}
