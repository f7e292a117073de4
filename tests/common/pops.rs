//! GraphQL documents and small helpers shared by the POP API tests: autosave, read a POP with its
//! snapshots and history, and capture everything the server holds about a POP (to prove that a
//! failed mutation wrote nothing).

use super::{Client, TestServer};
use mapagov::db::Conn;
use mapagov::domain::hash::integrity_hash;
use serde_json::{json, Value};

/// Every field of a POP a test compares.
pub const POP_FIELDS: &str = "fragment PopFields on Pop { id sessionId status versao \
    autosaveSequence integrityHash createdAt updatedAt lastAutosaveAt deletedAt document nomeUsuario \
    area { codigo nome } macroprocesso codigoProcesso nomeProcesso processoEspecifico \
    entregaEsperada dispositivosNormativos sistemas operadores pontosAtencao etapas \
    documentosUtilizados fluxosEntrada fluxosSaida rawPayload }";

/// Every field of a snapshot a test compares.
pub const SNAPSHOT_FIELDS: &str = "fragment SnapshotFields on Snapshot { id sequence kind label \
    milestone milestoneLabel status versao autosaveSequence integrityHash document createdAt \
    pop { id } }";

/// Every field of a history entry a test compares.
pub const HISTORY_FIELDS: &str = "fragment HistoryFields on HistoryEntry { id action field \
    oldValue newValue autosaveSequence snapshotId createdAt }";

/// The content fields of `Pop` (what a restore must bring back).
pub const CONTENT_FIELDS: [&str; 15] = [
    "nomeUsuario",
    "area",
    "macroprocesso",
    "codigoProcesso",
    "nomeProcesso",
    "processoEspecifico",
    "entregaEsperada",
    "dispositivosNormativos",
    "sistemas",
    "operadores",
    "pontosAtencao",
    "etapas",
    "documentosUtilizados",
    "fluxosEntrada",
    "fluxosSaida",
];

/// The autosave mutation, returning the whole payload.
pub fn autosave_doc() -> String {
    format!(
        "mutation($input: AutosavePopInput!) {{ autosavePop(input: $input) {{ changed \
         integrityHash autosaveSequence snapshotCreated snapshot {{ ...SnapshotFields }} \
         pop {{ ...PopFields }} }} }} {POP_FIELDS} {SNAPSHOT_FIELDS}"
    )
}

/// Checks what every POP returned by the server must satisfy: its hash is the legacy hash of its
/// document, and the document carries its id.
pub fn assert_consistent(pop: &Value) {
    assert_eq!(
        pop["integrityHash"].as_str().unwrap(),
        integrity_hash(&pop["document"]),
        "integrityHash is not the legacy hash of the document: {pop:#}"
    );
    assert_eq!(pop["document"]["uuid"], pop["id"]);
}

/// Runs an autosave that must succeed; returns the `autosavePop` payload (checked for consistency).
pub async fn autosave(server: &TestServer, input: Value) -> Value {
    let data = server
        .data(&autosave_doc(), json!({ "input": input }))
        .await;
    let payload = data["autosavePop"].clone();
    assert_consistent(&payload["pop"]);
    assert_eq!(payload["integrityHash"], payload["pop"]["integrityHash"]);
    assert_eq!(
        payload["autosaveSequence"],
        payload["pop"]["autosaveSequence"]
    );
    payload
}

/// Runs an autosave that must fail; returns the first error.
pub async fn autosave_error(server: &TestServer, input: Value) -> Value {
    server
        .error(&autosave_doc(), json!({ "input": input }))
        .await
}

/// Creates a POP in `session` with `content`; returns the POP.
pub async fn create(server: &TestServer, session: &str, content: Value) -> Value {
    let payload = autosave(server, json!({ "sessionId": session, "content": content })).await;
    assert_eq!(payload["autosaveSequence"], 1);
    payload["pop"].clone()
}

/// Autosaves `content` into the POP `pop` (by id, with its current hash); returns the payload.
pub async fn save(server: &TestServer, pop: &Value, content: Value) -> Value {
    autosave(
        server,
        json!({
            "popId": pop["id"],
            "sessionId": pop["sessionId"],
            "expectedHash": pop["integrityHash"],
            "content": content,
        }),
    )
    .await
}

/// A POP by id (deleted or not), with all its fields.
pub async fn pop(server: &TestServer, id: &Value) -> Value {
    let doc = format!("query($id: ID!) {{ pop(id: $id) {{ ...PopFields }} }} {POP_FIELDS}");
    let data = server.data(&doc, json!({ "id": id })).await;
    assert!(!data["pop"].is_null(), "POP {id} not found");
    assert_consistent(&data["pop"]);
    data["pop"].clone()
}

/// All snapshots of a POP, newest first.
pub async fn snapshots(server: &TestServer, id: &Value) -> Vec<Value> {
    let doc = format!(
        "query($id: ID!) {{ pop(id: $id) {{ snapshots(first: 100) {{ totalCount \
         nodes {{ ...SnapshotFields }} }} }} }} {SNAPSHOT_FIELDS}"
    );
    let data = server.data(&doc, json!({ "id": id })).await;
    let conn = &data["pop"]["snapshots"];
    let nodes = conn["nodes"].as_array().unwrap().clone();
    assert_eq!(conn["totalCount"], nodes.len());
    nodes
}

/// One snapshot by id.
pub async fn snapshot(server: &TestServer, id: &Value) -> Value {
    let doc = format!(
        "query($id: ID!) {{ snapshot(id: $id) {{ ...SnapshotFields }} }} {SNAPSHOT_FIELDS}"
    );
    server.data(&doc, json!({ "id": id })).await["snapshot"].clone()
}

/// The POP's whole change log, newest first (at most 100 entries).
pub async fn history(server: &TestServer, id: &Value) -> Vec<Value> {
    let doc = format!(
        "query($id: ID!) {{ popHistory(popId: $id, first: 100) {{ totalCount \
         pageInfo {{ hasNextPage }} nodes {{ ...HistoryFields }} }} }} {HISTORY_FIELDS}"
    );
    let data = server.data(&doc, json!({ "id": id })).await;
    let conn = &data["popHistory"];
    assert_eq!(conn["pageInfo"]["hasNextPage"], false);
    let nodes = conn["nodes"].as_array().unwrap().clone();
    assert_eq!(conn["totalCount"], nodes.len());
    nodes
}

/// Ids, sequences and hashes of every POP, deleted ones included, newest first.
pub async fn all_pops(server: &TestServer) -> Value {
    let data = server
        .data(
            "{ pops(first: 100, includeDeleted: true) { totalCount \
             nodes { id autosaveSequence integrityHash updatedAt deletedAt status } } }",
            json!({}),
        )
        .await;
    data["pops"].clone()
}

/// Everything the server holds about a POP (and how many POPs exist): equal before and after a
/// request means the request wrote nothing.
pub async fn state(server: &TestServer, id: &Value) -> Value {
    json!({
        "pop": pop(server, id).await,
        "snapshots": snapshots(server, id).await,
        "history": history(server, id).await,
        "pops": all_pops(server).await,
    })
}

/// Changes a status; returns the `changePopStatus` payload.
pub async fn change_status(
    server: &TestServer,
    id: &Value,
    status: &str,
    reason: Option<&str>,
) -> Value {
    let doc = format!(
        "mutation($id: ID!, $status: PopStatus!, $reason: String) {{ \
         changePopStatus(popId: $id, status: $status, reason: $reason) {{ \
         pop {{ ...PopFields }} snapshot {{ ...SnapshotFields }} }} }} {POP_FIELDS} {SNAPSHOT_FIELDS}"
    );
    // The author submits; publishing, rejecting and archiving are for reviewers (staff here).
    let client: &Client = if status == "IN_REVIEW" {
        server
    } else {
        server.staff().await
    };
    let data = client
        .data(
            &doc,
            json!({ "id": id, "status": status, "reason": reason }),
        )
        .await;
    assert_consistent(&data["changePopStatus"]["pop"]);
    data["changePopStatus"].clone()
}

/// The `changePopStatus` document with only the POP's status selected (for errors).
pub const CHANGE_STATUS: &str = "mutation($id: ID!, $status: PopStatus!, $reason: String) { \
    changePopStatus(popId: $id, status: $status, reason: $reason) { pop { status } } }";

/// Takes a backup of a session; returns the snapshots.
pub async fn backup(server: &TestServer, session: &str, label: Option<&str>) -> Vec<Value> {
    let doc = format!(
        "mutation($s: String!, $l: String) {{ backupSession(sessionId: $s, label: $l) {{ \
         ...SnapshotFields }} }} {SNAPSHOT_FIELDS}"
    );
    let data = server.data(&doc, json!({ "s": session, "l": label })).await;
    data["backupSession"].as_array().unwrap().clone()
}

/// The `restoreSnapshot` document, returning the whole payload.
pub fn restore_doc() -> String {
    format!(
        "mutation($id: ID!, $hash: String) {{ restoreSnapshot(snapshotId: $id, expectedHash: $hash) \
         {{ pop {{ ...PopFields }} restoredSnapshot {{ ...SnapshotFields }} \
         safetySnapshot {{ ...SnapshotFields }} }} }} {POP_FIELDS} {SNAPSHOT_FIELDS}"
    )
}

/// The `deletePop` document.
pub const DELETE: &str = "mutation($id: ID!) { deletePop(popId: $id) { id deletedAt } }";

/// Moves every POP of `from` to the session `to`, straight in the database (the API never puts
/// two live POPs in one session, but imported data does).
pub async fn move_session(server: &TestServer, from: &str, to: &str) {
    use diesel_async::RunQueryDsl;
    let sql = format!("UPDATE pops SET session_id = '{to}' WHERE session_id = '{from}'");
    let db = server.db().await;
    let mut pooled = db.get().await.unwrap();
    let moved = match pooled.conn() {
        Conn::Pg(mut c) => diesel::sql_query(sql).execute(&mut c).await.unwrap(),
        Conn::Sqlite(c) => diesel::sql_query(sql).execute(c).await.unwrap(),
    };
    assert!(moved > 0, "no POP in session {from}");
}

/// `n` steps in the legacy form with stable ids (as the server gives them), numbered from 1.
pub fn steps(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            json!({
                "id": format!("00000000-0000-4000-8000-{i:012}"),
                "numero": i,
                "descricao": format!("Etapa {i}"),
                "detalhes": [format!("detalhe {i}.1")],
                "operador": "Analista",
            })
        })
        .collect()
}

/// The database id of a POP the API returned (its `id` is the public uuid).
pub async fn row_id(db: &mapagov::db::Db, pop: &Value) -> i64 {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let uuid = mapagov::db::types::DbUuid(pop["id"].as_str().unwrap().parse().unwrap());
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    mapagov::with_backend!(&mut conn, |c| schema::pops::table
        .filter(schema::pops::uuid.eq(uuid))
        .select(schema::pops::id)
        .first::<i64>(c)
        .await)
    .unwrap()
}
