//! The API scenarios against the running server, each next to its pgbench equivalent: autosave,
//! `pop(id)`, a `pops(first: 20)` list page, `pop.snapshots` and `popHistory` on a big history,
//! `snapshotDiff` of 1 MB documents.

use crate::data;
use crate::load::{self, Api, JsonObject};
use crate::measure::Measurement;
use crate::pg_cluster::PgCluster;
use crate::pgbench::PgBench;
use crate::{BoxError, Settings, DB};
use mapagov::graphql::node::GlobalId;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Size of an autosaved document, bytes of JSON (the legacy fixture's larger POPs).
const AUTOSAVE_BYTES: usize = 6 * 1024;
/// Revisions cycled through by the autosave clients (consecutive ones always differ).
const REVISIONS: u64 = 64;
/// Size of each document compared by `snapshotDiff`.
const DIFF_BYTES: usize = 1024 * 1024;

const AUTOSAVE: &str = "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { \
    changed autosaveSequence snapshotCreated snapshot { id } pop { id } } }";
const READ_POP: &str = "query($id: ID!) { pop(id: $id) { id integrityHash autosaveSequence \
    status updatedAt document } }";
const POPS_LIST: &str = "query { pops(first: 20) { totalCount edges { node { id nomeProcesso \
    codigoProcesso macroprocesso area { codigo nome } status versao autosaveSequence updatedAt \
    createdBy { username } } } } }";
const SNAPSHOTS: &str = "query($id: ID!) { pop(id: $id) { snapshots(first: 20) { edges { node { \
    id sequence kind milestone createdAt integrityHash } } } } }";
const HISTORY: &str = "query($id: ID!) { popHistory(popId: $id, first: 20) { edges { node { \
    id action field autosaveSequence createdAt newValue } } } }";
const DIFF: &str = "query($a: ID!, $b: ID) { snapshotDiff(fromId: $a, toId: $b) { \
    changedFields changes { kind path } patch } }";

/// pgbench's autosave: lock the POP, update it with a ~6 KB document, log the changed field
/// (old and new value), check the latest snapshot, insert a snapshot with the next sequence.
const PGBENCH_AUTOSAVE: &str = "\\set p :base + :client_id
\\set d random(1, 64)
BEGIN;
SELECT * FROM pops WHERE id = :p FOR UPDATE;
UPDATE pops SET etapas = b.etapas, integrity_hash = md5(b.etapas::text),
  autosave_sequence = autosave_sequence + 1, updated_at = now(), last_activity_at = now(),
  last_autosave_at = now() FROM bench_docs b WHERE pops.id = :p AND b.id = :d RETURNING pops.*;
INSERT INTO pop_change_log (pop_id, user_id, action, field_name, old_value, new_value,
  autosave_sequence, created_at)
  SELECT :p, NULL, 'autosave', 'etapas', o.etapas, b.etapas, 1, now()
  FROM bench_docs b, bench_docs o WHERE b.id = :d AND o.id = 1 + :d % 64;
SELECT integrity_hash FROM pop_snapshots WHERE pop_id = :p ORDER BY sequence DESC LIMIT 1;
INSERT INTO pop_snapshots (pop_id, sequence, kind, versao, autosave_sequence, status,
  integrity_hash, payload, created_at)
  SELECT :p, coalesce((SELECT max(sequence) FROM pop_snapshots WHERE pop_id = :p), 0) + 1,
    'autosave', 1, 1, 'draft', md5(b.doc::text), b.doc, now()
  FROM bench_docs b WHERE b.id = :d RETURNING *;
END;
";
const PGBENCH_READ_POP: &str = "\\set p random(:base, :base + :n - 1)
SELECT * FROM pops WHERE id = :p;
";
/// pgbench's `pops(first: 20)`: the page (one row more, as the server reads to know whether
/// there is a next page), the count, the owner (the server's user loader, one query a page).
const PGBENCH_POPS_LIST: &str =
    "SELECT * FROM pops WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 21;
SELECT count(*) FROM pops WHERE deleted_at IS NULL;
SELECT * FROM users WHERE id = :owner;
";
const PGBENCH_SNAPSHOTS: &str = "\\set p random(:lo, :hi)
SELECT * FROM pops WHERE id = :p;
SELECT * FROM pop_snapshots WHERE pop_id = :p ORDER BY id DESC LIMIT 21;
";
const PGBENCH_HISTORY: &str = "\\set p random(:lo, :hi)
SELECT * FROM pops WHERE id = :p;
SELECT * FROM pop_change_log WHERE pop_id = :p ORDER BY id DESC LIMIT 21;
";
const PGBENCH_DIFF: &str = "SELECT payload FROM pop_snapshots WHERE id IN (:a, :b);
";

/// A compared pair: the API's figure and pgbench's.
pub struct Pair {
    /// Through the API.
    pub api: Measurement,
    /// pgbench on the same database.
    pub pgbench: Measurement,
}

/// The POPs the autosave clients own: internal ids `base .. base + n`, and public ids; and the
/// document revisions pgbench writes, as text.
pub struct BenchPops {
    base: i64,
    uuids: Arc<Vec<String>>,
    revisions: Vec<Revision>,
}

/// One of the revisions in `bench_docs`, as a client would send it.
struct Revision {
    /// The steps (`etapas`), JSON.
    etapas: String,
    /// The whole document, JSON.
    doc: String,
    /// The document's integrity hash.
    hash: String,
}

/// `SELECT` through psql as the superuser, one value per output line.
fn psql_lines(cluster: &PgCluster, sql: &str) -> Vec<String> {
    cluster.psql(DB, sql).lines().map(str::to_owned).collect()
}

/// One POP per client, created through the API (sequentially, so internal ids are consecutive),
/// and the table of document revisions pgbench writes.
pub async fn create_pops(
    api: &Api,
    cluster: &PgCluster,
    clients: usize,
) -> Result<BenchPops, BoxError> {
    let mut uuids = Vec::new();
    for client in 0..clients {
        let input = json!({
            "sessionId": format!("bench-{client}"),
            "content": data::content(client, AUTOSAVE_BYTES, 0, 4),
        });
        let out = api.gql(AUTOSAVE, json!({ "input": input })).await?;
        uuids.push(str_at(&out, "/autosavePop/pop/id")?.to_owned());
    }
    let template = api.gql(READ_POP, json!({ "id": uuids[0] })).await?;
    let template = template["pop"]["document"].clone();
    let mut sql = String::from(
        "CREATE TABLE bench_docs (id INT PRIMARY KEY, etapas JSONB NOT NULL, doc JSONB NOT NULL);
         ALTER TABLE bench_docs OWNER TO mapagov;\n",
    );
    let mut revisions = Vec::new();
    for revision in 1..=REVISIONS {
        let rest = data::content(0, AUTOSAVE_BYTES, revision, 4);
        let mut doc = template.clone();
        doc["etapas"] = rest["etapas"].clone();
        sql.push_str(&format!(
            "INSERT INTO bench_docs VALUES ({revision}, {}, {});\n",
            literal(&rest["etapas"]),
            literal(&doc)
        ));
        revisions.push(Revision {
            etapas: rest["etapas"].to_string(),
            hash: mapagov::domain::hash::integrity_hash(&doc),
            doc: doc.to_string(),
        });
    }
    cluster.psql(DB, &sql);
    let base = psql_lines(
        cluster,
        "SELECT min(id) FROM pops WHERE session_id LIKE 'bench-%'",
    )
    .first()
    .and_then(|v| v.parse().ok())
    .ok_or("no benchmark POPs")?;
    Ok(BenchPops {
        base,
        uuids: Arc::new(uuids),
        revisions,
    })
}

/// Autosave throughput: each client saves its own POP with a new ~6 KB revision in a loop, next
/// to pgbench's equivalent transaction.
pub async fn autosave(
    api: &Api,
    pgbench: &PgBench,
    pops: &BenchPops,
    s: &Settings,
) -> Result<Pair, BoxError> {
    Ok(Pair {
        api: autosave_api(api, pops, s).await?,
        pgbench: autosave_pgbench(pgbench, pops, s)?,
    })
}

/// The API half of [`autosave`].
///
/// Each run's documents carry the run's own number in their name, so the first save of a run
/// changes the POP whatever revision the previous run left in it.
pub async fn autosave_api(
    api: &Api,
    pops: &BenchPops,
    s: &Settings,
) -> Result<Measurement, BoxError> {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let bodies: Vec<Value> = (1..=REVISIONS)
        .map(|rev| {
            let mut body = data::content(0, AUTOSAVE_BYTES, rev, 4);
            body["nomeProcesso"] = json!(format!("Conceder pensão civil (execução {run})"));
            body
        })
        .collect();
    // Every request body, serialized before the run: one list of revisions per client.
    let requests: Arc<Vec<Vec<Vec<u8>>>> = Arc::new(
        (pops.uuids.iter().enumerate())
            .map(|(c, uuid)| {
                (bodies.iter())
                    .map(|content| {
                        let input = json!({
                            "popId": uuid,
                            "sessionId": format!("bench-{c}"),
                            "content": content,
                        });
                        load::body(AUTOSAVE, &json!({ "input": input }))
                    })
                    .collect()
            })
            .collect(),
    );
    let client = api.clone();
    load::run(s.clients, s.warmup, s.window, move |c, i| {
        let api = client.clone();
        let body = requests[c][usize::try_from(i % REVISIONS).unwrap_or(0)].clone();
        async move {
            let out: Saved = api.send(body).await?;
            if !out.autosave_pop.changed || !out.autosave_pop.snapshot_created {
                return Err("autosave wrote nothing".into());
            }
            Ok(())
        }
    })
    .await
}

/// What the autosave load checks of a response.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    autosave_pop: SavedPop,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedPop {
    changed: bool,
    snapshot_created: bool,
}

/// pgbench's autosave with the documents bound as parameters, as a client of the database sends
/// them: the statements of [`PGBENCH_AUTOSAVE`], but the new steps, the old steps and the
/// snapshot's document are text parameters parsed into `jsonb` on every execution, instead of
/// `jsonb` copied from `bench_docs` (already parsed, and compressed as stored), and the hash is
/// the client's. One script per revision, the documents in `-D` variables (`e<n>`, `doc<n>`).
pub fn autosave_pgbench_bound(
    pgbench: &PgBench,
    pops: &BenchPops,
    s: &Settings,
) -> Result<Measurement, BoxError> {
    let count = pops.revisions.len();
    let scripts: Vec<String> = (pops.revisions.iter().enumerate())
        .map(|(i, revision)| {
            let (d, o) = (i + 1, (i + 1) % count + 1);
            format!(
                "\\set p :base + :client_id
BEGIN;
SELECT * FROM pops WHERE id = :p FOR UPDATE;
UPDATE pops SET etapas = CAST(:e{d} AS jsonb), integrity_hash = '{hash}',
  autosave_sequence = autosave_sequence + 1, updated_at = now(), last_activity_at = now(),
  last_autosave_at = now() WHERE pops.id = :p RETURNING pops.*;
INSERT INTO pop_change_log (pop_id, user_id, action, field_name, old_value, new_value,
  autosave_sequence, created_at)
  VALUES (:p, NULL, 'autosave', 'etapas', CAST(:e{o} AS jsonb), CAST(:e{d} AS jsonb), 1, now());
SELECT integrity_hash FROM pop_snapshots WHERE pop_id = :p ORDER BY sequence DESC LIMIT 1;
INSERT INTO pop_snapshots (pop_id, sequence, kind, versao, autosave_sequence, status,
  integrity_hash, payload, created_at)
  SELECT :p, coalesce((SELECT max(sequence) FROM pop_snapshots WHERE pop_id = :p), 0) + 1,
    'autosave', 1, 1, 'draft', '{hash}', CAST(:doc{d} AS jsonb), now() RETURNING *;
END;
",
                hash = revision.hash,
            )
        })
        .collect();
    let mut defines = vec![("base", pops.base.to_string())];
    let names: Vec<(String, String)> = (1..=count)
        .map(|n| (format!("e{n}"), format!("doc{n}")))
        .collect();
    for ((etapas, doc), revision) in names.iter().zip(&pops.revisions) {
        defines.push((etapas.as_str(), revision.etapas.clone()));
        defines.push((doc.as_str(), revision.doc.clone()));
    }
    pgbench.run_scripts(&scripts, s.clients, s.warmup, s.window, &defines)
}

/// The pgbench half of [`autosave`].
pub fn autosave_pgbench(
    pgbench: &PgBench,
    pops: &BenchPops,
    s: &Settings,
) -> Result<Measurement, BoxError> {
    let base = pops.base.to_string();
    pgbench.run(
        PGBENCH_AUTOSAVE,
        s.clients,
        s.warmup,
        s.window,
        &[("base", base)],
    )
}

/// `pop(id)` throughput over the clients' POPs, next to pgbench's `SELECT`.
pub async fn read_pop(
    api: &Api,
    pgbench: &PgBench,
    pops: &BenchPops,
    s: &Settings,
) -> Result<Pair, BoxError> {
    Ok(Pair {
        api: read_pop_api(api, pops, s).await?,
        pgbench: read_pop_pgbench(pgbench, pops, s)?,
    })
}

/// The API half of [`read_pop`].
pub async fn read_pop_api(
    api: &Api,
    pops: &BenchPops,
    s: &Settings,
) -> Result<Measurement, BoxError> {
    let requests: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        (pops.uuids.iter())
            .map(|id| (id.clone(), load::body(READ_POP, &json!({ "id": id }))))
            .collect(),
    );
    let client = api.clone();
    load::run(s.clients, s.warmup, s.window, move |c, i| {
        let api = client.clone();
        let requests = Arc::clone(&requests);
        let which = (c + usize::try_from(i).unwrap_or(0)) % requests.len();
        async move {
            let (id, body) = &requests[which];
            let out: Read = api.send(body.clone()).await?;
            if out.pop.id != *id {
                return Err(format!("pop(id) answered another POP: {}", out.pop.id));
            }
            Ok(())
        }
    })
    .await
}

/// What the `pop(id)` load checks of a response: the POP asked for, with a document.
#[derive(Deserialize)]
struct Read {
    pop: ReadPop,
}

#[derive(Deserialize)]
struct ReadPop {
    id: String,
    #[serde(rename = "document")]
    _document: JsonObject,
}

/// The pgbench half of [`read_pop`].
pub fn read_pop_pgbench(
    pgbench: &PgBench,
    pops: &BenchPops,
    s: &Settings,
) -> Result<Measurement, BoxError> {
    pgbench.run(
        PGBENCH_READ_POP,
        s.clients,
        s.warmup,
        s.window,
        &[
            ("base", pops.base.to_string()),
            ("n", pops.uuids.len().to_string()),
        ],
    )
}

impl BenchPops {
    /// The public ids of the POPs, one per client.
    pub fn uuids(&self) -> Arc<Vec<String>> {
        Arc::clone(&self.uuids)
    }
}

/// The bulk POPs' public ids and internal id range.
pub struct BulkPops {
    uuids: Arc<Vec<String>>,
    lo: i64,
    hi: i64,
}

impl BulkPops {
    /// The lowest internal id.
    pub fn lo(&self) -> i64 {
        self.lo
    }

    /// The highest internal id.
    pub fn hi(&self) -> i64 {
        self.hi
    }
}

/// Gives the bulk POPs (see [`data::pg_bulk`]) what a list view shows and a real POP carries:
/// a process code, an area, a macroprocess and ~6 KB of steps (the autosave revisions of
/// [`create_pops`]); then a checkpoint, so the runs that follow do not pay for the writes.
pub fn fill_bulk_documents(cluster: &PgCluster) {
    cluster.psql(
        DB,
        "UPDATE pops SET etapas = b.etapas, codigo_processo = '1.3.1.' || (pops.id % 50) || '.2',
           area_codigo = 'CGBEN', area_nome = 'Coordenação de Benefícios',
           macroprocesso = 'Gestão de Benefícios'
         FROM bench_docs b WHERE pops.session_id LIKE 'bulk-%' AND b.id = 1 + pops.id % 64;
         VACUUM ANALYZE pops;
         CHECKPOINT;",
    );
}

/// Reads the bulk-generated POPs (see [`data::pg_bulk`]).
pub fn bulk_pops(cluster: &PgCluster) -> Result<BulkPops, BoxError> {
    let uuids = psql_lines(
        cluster,
        "SELECT uuid FROM pops WHERE session_id LIKE 'bulk-%' ORDER BY id",
    );
    let range = psql_lines(
        cluster,
        "SELECT min(id) || ' ' || max(id) FROM pops WHERE session_id LIKE 'bulk-%'",
    );
    let (lo, hi) = range
        .first()
        .and_then(|r| r.split_once(' '))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or("no bulk POPs")?;
    Ok(BulkPops {
        uuids: Arc::new(uuids),
        lo,
        hi,
    })
}

/// `pops(first: 20)` throughput, `clients` clients: the newest POPs with the fields a list view
/// shows (name, code, area, status, version, last update, owner) and the total; every response
/// must hold 20 edges.
pub async fn pops_list_api(api: &Api, s: &Settings) -> Result<Measurement, BoxError> {
    let client = api.clone();
    let body = load::body(POPS_LIST, &json!({}));
    load::run(s.clients, s.warmup, s.window, move |_, _| {
        let (api, body) = (client.clone(), body.clone());
        async move {
            let out: List = api.send(body).await?;
            if out.pops.edges.len() != 20 || out.pops.total_count < 20 {
                return Err(format!(
                    "expected a page of 20 POPs, got {} of {}",
                    out.pops.edges.len(),
                    out.pops.total_count
                ));
            }
            Ok(())
        }
    })
    .await
}

/// What the list load checks of a response: a full page.
#[derive(Deserialize)]
struct List {
    pops: ListPage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    total_count: i64,
    edges: Vec<JsonObject>,
}

/// The pgbench half of [`pops_list_api`]: the page, the count and the owner of the page's POPs
/// (which must all have the same one, as the bulk POPs do).
pub fn pops_list_pgbench(
    pgbench: &PgBench,
    cluster: &PgCluster,
    s: &Settings,
) -> Result<Measurement, BoxError> {
    let owners = psql_lines(
        cluster,
        "SELECT DISTINCT created_by_id FROM (SELECT created_by_id FROM pops \
         WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 20) page",
    );
    let [owner] = owners.as_slice() else {
        return Err(format!("the first page's POPs have owners {owners:?}, not one").into());
    };
    pgbench.run(
        PGBENCH_POPS_LIST,
        s.clients,
        s.warmup,
        s.window,
        &[("owner", owner.clone())],
    )
}

/// Latency of one page (20) of `pop.snapshots` or `popHistory` of random bulk POPs, one client.
pub async fn history_page(
    api: &Api,
    pgbench: &PgBench,
    bulk: &BulkPops,
    s: &Settings,
    snapshots: bool,
) -> Result<Pair, BoxError> {
    Ok(Pair {
        api: history_page_api(api, bulk, s, snapshots).await?,
        pgbench: history_page_pgbench(pgbench, bulk, s, snapshots)?,
    })
}

/// The API half of [`history_page`].
pub async fn history_page_api(
    api: &Api,
    bulk: &BulkPops,
    s: &Settings,
    snapshots: bool,
) -> Result<Measurement, BoxError> {
    let uuids = Arc::clone(&bulk.uuids);
    let client = api.clone();
    let (query, edges) = if snapshots {
        (SNAPSHOTS, "/pop/snapshots/edges")
    } else {
        (HISTORY, "/popHistory/edges")
    };
    load::run(1, s.warmup, s.window, move |_, i| {
        let api = client.clone();
        let n = usize::try_from(i.wrapping_mul(7919)).unwrap_or(0) % uuids.len();
        let id = uuids[n].clone();
        async move {
            let out = api.gql(query, json!({ "id": id })).await?;
            let len = out.pointer(edges).and_then(Value::as_array).map(Vec::len);
            if len != Some(20) {
                return Err(format!("expected a page of 20: {out}"));
            }
            Ok(())
        }
    })
    .await
}

/// The pgbench half of [`history_page`].
pub fn history_page_pgbench(
    pgbench: &PgBench,
    bulk: &BulkPops,
    s: &Settings,
    snapshots: bool,
) -> Result<Measurement, BoxError> {
    let script = if snapshots {
        PGBENCH_SNAPSHOTS
    } else {
        PGBENCH_HISTORY
    };
    pgbench.run(
        script,
        1,
        s.warmup,
        s.window,
        &[("lo", bulk.lo.to_string()), ("hi", bulk.hi.to_string())],
    )
}

/// Latency of `snapshotDiff` between two ~1 MB snapshots of one POP (one step in 20 differs),
/// one client; the baseline reads both payloads.
pub async fn diff(api: &Api, pgbench: &PgBench, s: &Settings) -> Result<Pair, BoxError> {
    let pair = diff_snapshots(api).await?;
    Ok(Pair {
        api: diff_api(api, &pair, s).await?,
        pgbench: diff_pgbench(pgbench, &pair, s)?,
    })
}

/// The two snapshots [`diff`] compares: their API ids and their rows' ids.
pub struct DiffSnapshots {
    a: String,
    b: String,
    rows: [i64; 2],
}

/// Creates a POP through the API and autosaves it twice with ~1 MB documents (one step in 20
/// differs between them); the two snapshots those saves took.
pub async fn diff_snapshots(api: &Api) -> Result<DiffSnapshots, BoxError> {
    let session = "bench-diff";
    let first = json!({ "sessionId": session, "content": data::content(9999, DIFF_BYTES, 0, 20) });
    let out = api.gql(AUTOSAVE, json!({ "input": first })).await?;
    let pop_id = str_at(&out, "/autosavePop/pop/id")?.to_owned();
    let mut snapshot_ids = Vec::new();
    for revision in [1, 2] {
        let input = json!({
            "popId": pop_id,
            "sessionId": session,
            "content": { "etapas": data::etapas(DIFF_BYTES, revision, 20) },
        });
        let out = api.gql(AUTOSAVE, json!({ "input": input })).await?;
        snapshot_ids.push(str_at(&out, "/autosavePop/snapshot/id")?.to_owned());
    }
    // pgbench reads the rows: the API's ids are opaque (global ids) or, from older builds, the
    // rows' ids themselves.
    let mut rows = [0; 2];
    for (row, id) in rows.iter_mut().zip(&snapshot_ids) {
        *row = match GlobalId::decode(id) {
            Some(GlobalId::Snapshot(n)) => n,
            _ => id.parse().map_err(|_| format!("not a snapshot id: {id}"))?,
        };
    }
    Ok(DiffSnapshots {
        a: snapshot_ids[0].clone(),
        b: snapshot_ids[1].clone(),
        rows,
    })
}

/// The API half of [`diff`].
pub async fn diff_api(
    api: &Api,
    pair: &DiffSnapshots,
    s: &Settings,
) -> Result<Measurement, BoxError> {
    let client = api.clone();
    let vars = json!({ "a": pair.a, "b": pair.b });
    load::run(1, s.warmup, s.window, move |_, _| {
        let api = client.clone();
        let vars = vars.clone();
        async move {
            let out = api.gql(DIFF, vars).await?;
            if out["snapshotDiff"]["changedFields"] != json!(["etapas"]) {
                return Err(format!(
                    "unexpected diff: {}",
                    out["snapshotDiff"]["changedFields"]
                ));
            }
            Ok(())
        }
    })
    .await
}

/// The pgbench half of [`diff`]: both payloads read.
pub fn diff_pgbench(
    pgbench: &PgBench,
    pair: &DiffSnapshots,
    s: &Settings,
) -> Result<Measurement, BoxError> {
    pgbench.run(
        PGBENCH_DIFF,
        1,
        s.warmup,
        s.window,
        &[
            ("a", pair.rows[0].to_string()),
            ("b", pair.rows[1].to_string()),
        ],
    )
}

/// The string at a JSON Pointer of a response.
fn str_at<'a>(value: &'a Value, pointer: &str) -> Result<&'a str, BoxError> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no {pointer} in {value}").into())
}

/// A JSON value as an SQL `jsonb` literal.
fn literal(value: &Value) -> String {
    format!("'{}'::jsonb", value.to_string().replace('\'', "''"))
}
