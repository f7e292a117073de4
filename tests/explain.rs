//! The indexes serve the server's reads at a realistic size (PostgreSQL).
//!
//! The database is filled with `generate_series` (tens of thousands of POPs, hundreds of thousands
//! of snapshots and change-log rows, a realistic mix of statuses, sessions, areas and texts), then
//! `ANALYZE`d. Each statement is the one the server runs, built by the same query builders
//! (`queries::explain` wraps them in `EXPLAIN (FORMAT JSON)` with the same bound parameters), and
//! its plan must name the index meant to serve it.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use mapagov::db::migrate::{self, Direction};
use mapagov::db::queries::{explain, ChangeFilter, Page, PopFilter, Statement, Visibility};
use mapagov::domain::search;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Instant;

const POPS: i64 = 30_000;
const SNAPSHOTS_PER_POP: i64 = 10;
const CHANGES_PER_POP: i64 = 8;

/// Fills the database: POPs (90 % draft, 2 % in review, 6 % published, 2 % archived; three per
/// session; twenty areas; process names, deliverables, legal basis and steps in Portuguese, a rare
/// word in one POP in a thousand, a rare system in one in five hundred), their snapshots and their
/// change log.
const FILL: &str = r#"
INSERT INTO users (username, created_at) VALUES ('explain', now());

INSERT INTO pops (uuid, session_id, created_by_id, nome_usuario, area_codigo, area_nome,
                  macroprocesso, nome_processo, entrega_esperada, dispositivos_normativos,
                  pontos_atencao, sistemas_utilizados, etapas, status, integrity_hash,
                  autosave_sequence, created_at, updated_at, last_activity_at)
SELECT gen_random_uuid(),
       'session-' || (i / 3),
       1,
       'Autora ' || (i % 50),
       'AREA' || (i % 20),
       'Coordenação ' || (i % 20),
       (ARRAY['Gestão de Benefícios', 'Gestão de Demandas Judiciais', 'Gestão de Pessoas'])[1 + i % 3],
       (ARRAY['Conceder pensão', 'Conceder aposentadoria', 'Prestar subsídios judiciais',
              'Cumprir determinações do TCU', 'Revisar cálculo de benefício',
              'Cadastrar ato no e-Pessoal'])[1 + i % 6] || ' ' || i
           || CASE WHEN i % 1000 = 7 THEN ' xilogravura' ELSE '' END,
       (ARRAY['Benefício concedido ou indeferido', 'Subsídios elaborados e enviados',
              'Ato cadastrado e enviado ao TCU'])[1 + i % 3],
       'Lei nº 8.112, de 11 de dezembro de 1990 | Lei nº 9.784, de 29 de janeiro de 1999',
       CASE WHEN i % 4 = 0 THEN 'Conferir a documentação do requerente' END,
       CASE WHEN i % 500 = 3 THEN '["SEI", "SISTEMA RARO"]'::jsonb
            ELSE '["SEI", "SIAPE", "SOUGOV"]'::jsonb END,
       jsonb_build_array(
           jsonb_build_object('numero', 1, 'descricao', 'Receber o processo no SEI', 'operador', 'Analista'),
           jsonb_build_object('numero', 2, 'descricao', 'Analisar a documentação', 'operador', 'Analista'),
           jsonb_build_object('numero', 3, 'descricao', 'Emitir parecer e encaminhar', 'operador', 'Coordenador')),
       CASE WHEN i % 50 = 1 THEN 'in_review'
            WHEN i % 50 IN (2, 3, 4) THEN 'published'
            WHEN i % 50 = 5 THEN 'archived'
            ELSE 'draft' END,
       md5(i::text) || md5(i::text),
       i % 40,
       now() - make_interval(mins => i),
       now() - make_interval(mins => i),
       now() - make_interval(mins => i)
FROM generate_series(1, {POPS}) AS i;

INSERT INTO pop_snapshots (pop_id, sequence, kind, versao, autosave_sequence, status,
                           integrity_hash, payload, created_at)
SELECT p.id, s, 'autosave', 1, s * 5, 'draft', p.integrity_hash,
       jsonb_build_object('nome_processo', p.nome_processo, 'etapas', p.etapas, 'status', 'draft'),
       p.created_at + make_interval(secs => s)
FROM pops p CROSS JOIN generate_series(1, {SNAPSHOTS}) AS s;

INSERT INTO pop_change_log (pop_id, user_id, action, field_name, old_value, new_value,
                            autosave_sequence, created_at)
SELECT p.id, 1, 'autosave',
       (ARRAY['nome_processo', 'etapas', 'entrega_esperada', 'pontos_atencao'])[1 + c % 4],
       to_jsonb('antes ' || c), to_jsonb('depois ' || c), c, p.created_at + make_interval(secs => c)
FROM pops p CROSS JOIN generate_series(1, {CHANGES}) AS c;

ANALYZE;
"#;

/// The index names anywhere in a plan.
fn indexes(plan: &Value, out: &mut BTreeSet<String>) {
    match plan {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("Index Name") {
                out.insert(name.clone());
            }
            map.values().for_each(|v| indexes(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| indexes(v, out)),
        _ => {}
    }
}

async fn assert_uses(
    conn: &mut AsyncPgConnection,
    what: &str,
    statement: Statement<'_>,
    index: &str,
) {
    assert_uses_one_of(conn, what, statement, &[index]).await;
}

/// Like [`assert_uses`], for a read that more than one index serves equally well.
async fn assert_uses_one_of(
    conn: &mut AsyncPgConnection,
    what: &str,
    statement: Statement<'_>,
    any_of: &[&str],
) {
    let plan = explain(conn, statement)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {what}: {}", e.message()));
    let mut used = BTreeSet::new();
    indexes(&plan, &mut used);
    assert!(
        any_of.iter().any(|index| used.contains(*index)),
        "{what} should use one of {any_of:?}, uses {used:?}:\n{plan:#}"
    );
    eprintln!("{what}: {used:?}");
}

fn staff(filter: PopFilter) -> PopFilter {
    PopFilter {
        visible: Visibility::All,
        ..filter
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexes_serve_the_servers_reads() {
    let url = common::fresh_pg_database().await;
    migrate::run(&common::database_config(&url, &[]), Direction::Up)
        .await
        .unwrap();
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    let started = Instant::now();
    conn.batch_execute(
        &FILL
            .replace("{POPS}", &POPS.to_string())
            .replace("{SNAPSHOTS}", &SNAPSHOTS_PER_POP.to_string())
            .replace("{CHANGES}", &CHANGES_PER_POP.to_string()),
    )
    .await
    .unwrap();
    eprintln!(
        "filled {POPS} POPs, {} snapshots, {} change-log rows in {:.1} s",
        POPS * SNAPSHOTS_PER_POP,
        POPS * CHANGES_PER_POP,
        started.elapsed().as_secs_f64()
    );

    let page = Page {
        limit: 21,
        ..Page::default()
    };
    // A POP in the middle of the table.
    let pop_id = POPS / 2;

    assert_uses(
        &mut conn,
        "snapshots of a POP",
        Statement::ListSnapshots(pop_id, &page),
        "popsnapshot_pop_id_id_idx",
    )
    .await;
    // Both indexes lead with `pop_id`; with a few rows per POP the planner may take either.
    assert_uses_one_of(
        &mut conn,
        "history of a POP",
        Statement::ListChanges(pop_id, &ChangeFilter::default(), &page),
        &["popchangelog_pop_id_idx", "popchangelog_field_idx"],
    )
    .await;
    assert_uses(
        &mut conn,
        "history of a POP, one field",
        Statement::ListChanges(
            pop_id,
            &ChangeFilter {
                field: Some("etapas".into()),
                ..ChangeFilter::default()
            },
            &page,
        ),
        "popchangelog_field_idx",
    )
    .await;

    let in_review = staff(PopFilter {
        status: Some(mapagov::domain::Status::InReview),
        ..PopFilter::default()
    });
    assert_uses(
        &mut conn,
        "POPs by status",
        Statement::ListPops(&in_review, &page),
        "pop_status_idx",
    )
    .await;
    assert_uses(
        &mut conn,
        "count of POPs by status",
        Statement::CountPops(&in_review),
        "pop_status_idx",
    )
    .await;

    let session = staff(PopFilter {
        status: Some(mapagov::domain::Status::Draft),
        session_id: Some(format!("session-{}", POPS / 6)),
        ..PopFilter::default()
    });
    assert_uses(
        &mut conn,
        "POPs by session and status",
        Statement::ListPops(&session, &page),
        "pop_session_status_idx",
    )
    .await;

    let search = staff(PopFilter {
        search: Some(search::parse("search", "xilogravura").unwrap()),
        ..PopFilter::default()
    });
    assert_uses(
        &mut conn,
        "search",
        Statement::SearchPops(&search, &page),
        "pop_search_idx",
    )
    .await;
    assert_uses(
        &mut conn,
        "count of a search",
        Statement::CountPops(&search),
        "pop_search_idx",
    )
    .await;

    let contains = staff(PopFilter {
        document_contains: Some(json!({"sistemas": ["SISTEMA RARO"]})),
        ..PopFilter::default()
    });
    assert_uses(
        &mut conn,
        "document containment",
        Statement::ListPops(&contains, &page),
        "pop_document_idx",
    )
    .await;
    assert_uses(
        &mut conn,
        "count of a containment",
        Statement::CountPops(&contains),
        "pop_document_idx",
    )
    .await;
}
