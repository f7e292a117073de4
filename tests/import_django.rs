//! `import-django`: both legacy fixtures into both backends, reruns, username conflicts, hashes.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Utc};
use common::later_legacy::{version_payload, AREA_TABLE, PROFILE_TABLE, VERSION_TABLE};
use common::{fixture, Backend};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mapagov::db::migrate::{self, Direction};
use mapagov::db::models::{Pop, Snapshot};
use mapagov::db::Db;
use mapagov::domain::hash::integrity_hash;
use mapagov::domain::transition::ExpectedHash;
use mapagov::domain::{workflow, Status};
use mapagov::error::AppError;
use mapagov::transfer::import::{self, ImportOptions, ImportReport};
use mapagov::with_backend;
use serde_json::Value;
use std::collections::HashMap;

/// The Django dump, read independently of the code under test: model → pk → fields.
fn expected() -> HashMap<String, HashMap<i64, Value>> {
    let text = std::fs::read_to_string(fixture("dump_pops.json")).unwrap();
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut out: HashMap<String, HashMap<i64, Value>> = HashMap::new();
    for e in entries {
        out.entry(e["model"].as_str().unwrap().to_owned())
            .or_default()
            .insert(e["pk"].as_i64().unwrap(), e["fields"].clone());
    }
    out
}

async fn target(backend: Backend) -> (Db, Option<tempfile::TempDir>) {
    let (url, dir) = common::fresh_database(backend).await;
    let config = common::database_config(&url, &[]);
    migrate::run(&config, Direction::Up).await.unwrap();
    (Db::connect(&config).await.unwrap(), dir)
}

async fn run_import(
    db: &Db,
    source: &str,
    options: &ImportOptions,
) -> Result<ImportReport, AppError> {
    let data = mapagov::legacy::read(&fixture(source))
        .await
        .unwrap_or_else(|e| panic!("read {source}: {e:#}"));
    import::import(db, &data, options).await
}

async fn all_pops(db: &Db) -> Vec<Pop> {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| schema::pops::table
        .order(schema::pops::id)
        .select(Pop::as_select())
        .load::<Pop>(c)
        .await)
    .unwrap()
}

async fn all_snapshots(db: &Db) -> Vec<Snapshot> {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| schema::pop_snapshots::table
        .order(schema::pop_snapshots::id)
        .select(Snapshot::as_select())
        .load::<Snapshot>(c)
        .await)
    .unwrap()
}

type ChangeRow = (
    Option<i64>,
    i64,
    Option<i64>,
    String,
    String,
    Option<Value>,
    Option<Value>,
);

async fn all_changes(db: &Db) -> Vec<ChangeRow> {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| schema::pop_change_log::table
        .order(schema::pop_change_log::id)
        .select((
            schema::pop_change_log::legacy_id,
            schema::pop_change_log::pop_id,
            schema::pop_change_log::user_id,
            schema::pop_change_log::action,
            schema::pop_change_log::field_name,
            schema::pop_change_log::old_value,
            schema::pop_change_log::new_value,
        ))
        .load::<ChangeRow>(c)
        .await)
    .unwrap()
}

async fn all_users(db: &Db) -> Vec<(i64, Option<i64>, String, String, bool)> {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| schema::users::table
        .order(schema::users::id)
        .select((
            schema::users::id,
            schema::users::legacy_id,
            schema::users::username,
            schema::users::password_hash,
            schema::users::is_superuser,
        ))
        .load(c)
        .await)
    .unwrap()
}

fn millis(raw: &str) -> i64 {
    DateTime::parse_from_rfc3339(raw)
        .unwrap()
        .timestamp_millis()
}

fn legacy_status(raw: &str) -> &'static str {
    match raw {
        "draft" | "in_progress" => "draft",
        "in_review" | "review" => "in_review",
        "published" | "approved" => "published",
        "archived" => "archived",
        other => panic!("fixture has an unknown status {other}"),
    }
}

/// Everything in the fixture arrived, with its values.
async fn check_against_fixture(db: &Db, report: &ImportReport) {
    let exp = expected();
    let (users, pops, snaps, changes) = (
        &exp["auth.user"],
        &exp["processos.pop"],
        &exp["processos.popsnapshot"],
        &exp["processos.popchangelog"],
    );
    for (table, n) in [
        ("users", users.len()),
        ("pops", pops.len()),
        ("pop_snapshots", snaps.len()),
        ("pop_change_log", changes.len()),
    ] {
        let counts = report.table(table).unwrap();
        assert_eq!(
            (counts.read, counts.imported, counts.skipped),
            (n, n, 0),
            "{table}"
        );
    }
    assert_eq!(report.snapshots_checked, snaps.len());
    assert_eq!(report.snapshots_verified, snaps.len());
    assert_eq!(report.pops_verified, pops.len());

    let db_users = all_users(db).await;
    assert_eq!(db_users.len(), users.len());
    let mut user_ids = HashMap::new();
    for (id, legacy, username, password_hash, is_superuser) in &db_users {
        let f = &users[&legacy.unwrap()];
        assert_eq!(username, f["username"].as_str().unwrap());
        assert_eq!(password_hash, f["password"].as_str().unwrap());
        assert_eq!(*is_superuser, f["is_superuser"].as_bool().unwrap());
        user_ids.insert(legacy.unwrap(), *id);
    }

    let db_pops = all_pops(db).await;
    assert_eq!(db_pops.len(), pops.len());
    let mut pop_legacy = HashMap::new();
    let mut string_documents = 0;
    for pop in &db_pops {
        let legacy = pop.meta.legacy_id.unwrap();
        pop_legacy.insert(pop.meta.id, legacy);
        let f = &pops[&legacy];
        let uuid = uuid::Uuid::parse_str(f["uuid"].as_str().unwrap()).unwrap();
        assert_eq!(pop.meta.uuid.0, uuid);
        assert_eq!(pop.meta.session_id.as_deref(), f["session_id"].as_str());
        assert_eq!(
            pop.meta.status.as_str(),
            legacy_status(f["status"].as_str().unwrap())
        );
        assert_eq!(
            i64::from(pop.meta.autosave_sequence),
            f["autosave_sequence"].as_i64().unwrap()
        );
        assert_eq!(i64::from(pop.meta.versao), f["versao"].as_i64().unwrap());
        assert_eq!(
            pop.meta.created_at.timestamp_millis(),
            millis(f["created_at"].as_str().unwrap())
        );
        assert_eq!(
            pop.meta.updated_at.timestamp_millis(),
            millis(f["updated_at"].as_str().unwrap())
        );
        assert_eq!(
            pop.meta.deleted_at.is_some(),
            f["is_deleted"].as_bool().unwrap()
        );
        assert_eq!(
            pop.meta.created_by_id,
            f["created_by"].as_i64().map(|u| user_ids[&u])
        );
        assert_eq!(
            pop.content.nome_usuario,
            f["nome_usuario"].as_str().unwrap()
        );
        assert_eq!(pop.content.etapas, f["etapas"]);
        assert_eq!(
            pop.content.documentos_utilizados,
            f["documentos_utilizados"]
        );
        if f["documentos_utilizados"].is_string() {
            string_documents += 1;
        }
        // raw_payload: the JSON string the old code stored is decoded to its object.
        let raw = f["raw_payload"].as_str().unwrap();
        let decoded: Value = serde_json::from_str(raw).unwrap();
        assert_eq!(pop.meta.raw_payload.as_ref(), Some(&decoded));
        // The POP's own hash is recomputed from its content.
        let doc = mapagov::domain::document::document(&pop.meta, &pop.content);
        assert_eq!(pop.meta.integrity_hash, integrity_hash(&doc));
    }
    assert!(
        string_documents > 0,
        "the fixture has string documentos_utilizados"
    );

    let db_snaps = all_snapshots(db).await;
    assert_eq!(db_snaps.len(), snaps.len());
    for snap in &db_snaps {
        let f = &snaps[&snap.legacy_id.unwrap()];
        assert_eq!(pop_legacy[&snap.pop_id], f["pop"].as_i64().unwrap());
        assert_eq!(snap.payload, f["payload"]);
        assert_eq!(snap.integrity_hash, f["integrity_hash"].as_str().unwrap());
        assert_eq!(integrity_hash(&snap.payload), snap.integrity_hash);
        assert_eq!(i64::from(snap.sequence), f["sequence"].as_i64().unwrap());
        assert_eq!(snap.milestone, f["milestone"].as_bool().unwrap());
        assert_eq!(snap.kind, mapagov::domain::SnapshotKind::Import);
        assert_eq!(
            snap.created_at.timestamp_millis(),
            millis(f["created_at"].as_str().unwrap())
        );
    }

    let db_changes = all_changes(db).await;
    assert_eq!(db_changes.len(), changes.len());
    for (legacy, pop_id, user_id, action, field, old, new) in &db_changes {
        let f = &changes[&legacy.unwrap()];
        assert_eq!(pop_legacy[pop_id], f["pop"].as_i64().unwrap());
        assert_eq!(*user_id, f["user"].as_i64().map(|u| user_ids[&u]));
        assert_eq!(action, "autosave");
        assert_eq!(field, f["field_name"].as_str().unwrap());
        let as_opt = |v: &Value| (!v.is_null()).then(|| v.clone());
        assert_eq!(old, &as_opt(&f["old_value"]));
        assert_eq!(new, &as_opt(&f["new_value"]));
    }
}

async fn sqlite_fixture_imports_everything(backend: Backend) {
    let (db, _dir) = target(backend).await;
    let report = run_import(&db, "legacy-mapagov.sqlite3", &ImportOptions::default())
        .await
        .unwrap();
    check_against_fixture(&db, &report).await;
}

async fn json_dump_imports_everything(backend: Backend) {
    let (db, _dir) = target(backend).await;
    let report = run_import(&db, "dump_pops.json", &ImportOptions::default())
        .await
        .unwrap();
    check_against_fixture(&db, &report).await;
}

async fn a_rerun_imports_nothing(backend: Backend) {
    let (db, _dir) = target(backend).await;
    run_import(&db, "legacy-mapagov.sqlite3", &ImportOptions::default())
        .await
        .unwrap();
    let before = (all_pops(&db).await.len(), all_snapshots(&db).await.len());
    // The same data from the other fixture: same legacy ids, nothing new.
    let again = run_import(&db, "dump_pops.json", &ImportOptions::default())
        .await
        .unwrap();
    assert!(again.nothing_imported());
    for counts in &again.tables {
        assert!(counts.read > 0);
        assert_eq!(counts.skipped, counts.read, "{}", counts.table);
    }
    assert_eq!(
        before,
        (all_pops(&db).await.len(), all_snapshots(&db).await.len())
    );
    assert_eq!(
        all_changes(&db).await.len(),
        expected()["processos.popchangelog"].len()
    );
    let text = mapagov::cli::import_django::render(&again);
    assert!(text.contains("nothing imported"), "{text}");
}

async fn a_taken_username_stops_unless_renamed(backend: Backend) {
    let (db, _dir) = target(backend).await;
    let exp = expected();
    let (legacy_id, legacy_user) = exp["auth.user"].iter().next().unwrap();
    let username = legacy_user["username"].as_str().unwrap().to_owned();
    {
        let mut pooled = db.get().await.unwrap();
        let mut conn = pooled.conn();
        with_backend!(&mut conn, |c| diesel::insert_into(schema::users::table)
            .values((
                schema::users::username.eq(&username),
                schema::users::password_hash.eq("local-hash"),
                schema::users::created_at.eq(Utc::now()),
            ))
            .execute(c)
            .await)
        .unwrap();
    }
    let err = run_import(&db, "legacy-mapagov.sqlite3", &ImportOptions::default())
        .await
        .unwrap_err();
    let message = err.message();
    assert!(message.contains(&username), "{message}");
    assert!(message.contains("--rename-conflicts"), "{message}");
    assert!(all_pops(&db).await.is_empty(), "nothing may be written");
    assert_eq!(all_users(&db).await.len(), 1);

    let options = ImportOptions {
        rename_conflicts: Some("_legacy".into()),
    };
    let report = run_import(&db, "legacy-mapagov.sqlite3", &options)
        .await
        .unwrap();
    assert_eq!(
        report.renamed,
        vec![(username.clone(), format!("{username}_legacy"))]
    );
    let users = all_users(&db).await;
    let local = users.iter().find(|u| u.1.is_none()).unwrap();
    assert_eq!(
        (local.2.as_str(), local.3.as_str()),
        (username.as_str(), "local-hash")
    );
    let imported = users.iter().find(|u| u.1 == Some(*legacy_id)).unwrap();
    assert_eq!(imported.2, format!("{username}_legacy"));
    assert_eq!(imported.3, legacy_user["password"].as_str().unwrap());
    assert_eq!(all_pops(&db).await.len(), exp["processos.pop"].len());
}

/// Legacy data holding a NUL character is refused before anything is imported, naming the row,
/// on both backends alike (PostgreSQL could not store it; SQLite would keep what the API refuses).
async fn legacy_data_holding_nul_is_refused_naming_the_row(backend: Backend) {
    use mapagov::legacy::{LegacyData, LegacyPop};
    let target = common::migrated_database(backend).await;
    let at: DateTime<Utc> = "2025-10-12T02:53:26Z".parse().unwrap();
    let pop = LegacyPop {
        id: 42,
        uuid: uuid::Uuid::nil(),
        session_id: Some("user_1".into()),
        created_by: None,
        content: mapagov::db::models::PopContent {
            etapas: serde_json::json!([{"descricao": "fine"}, {"descricao": "a\u{0}b"}]).into(),
            ..Default::default()
        },
        versao: 1,
        mes_ano: None,
        data_aprovacao: None,
        status: mapagov::domain::Status::Draft,
        is_completo: false,
        is_deleted: false,
        integrity_hash: None,
        autosave_sequence: 0,
        raw_payload: None,
        created_at: at,
        updated_at: at,
        last_autosave_at: None,
        last_activity_at: at,
        review: Default::default(),
    };
    let data = LegacyData {
        pops: vec![pop],
        ..Default::default()
    };
    let err = import::import(&target.db, &data, &ImportOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "BAD_USER_INPUT", "{}", err.message());
    let message = err.message();
    assert!(
        message.contains("row 42 of processos_pop") && message.contains("etapas.1.descricao"),
        "{message}"
    );
    assert_eq!(common::table_sums(&target.db).await["pops"].rows, 0);
}

/// A later-version database holds cloned POPs of `versao` 0 (never published): they import as
/// they are, with the hash of their own document, instead of failing the import.
async fn a_cloned_pop_of_versao_zero_imports_unchanged(backend: Backend) {
    let later = common::later_legacy::LaterLegacy::with_sql(
        "UPDATE processos_pop SET versao = 0 WHERE id IN (50, 52);",
    );
    let (db, _dir) = target(backend).await;
    let data = mapagov::legacy::read(&later.path).await.unwrap();
    let report = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(report.pops_verified, expected()["processos.pop"].len());
    assert!(
        report.warnings.iter().all(|w| !w.contains("versao")),
        "{:?}",
        report.warnings
    );
    let pops = all_pops(&db).await;
    for pop in &pops {
        let legacy = pop.meta.legacy_id.unwrap();
        let want = if legacy == 50 || legacy == 52 { 0 } else { 1 };
        assert_eq!(pop.meta.versao, want, "legacy POP {legacy}");
        let doc = mapagov::domain::document::document(&pop.meta, &pop.content);
        assert_eq!(doc["versao"], want);
        assert_eq!(pop.meta.integrity_hash, integrity_hash(&doc));
    }
}

/// Areas arrive with their sub-areas (a child listed before its parent included), once.
async fn areas_import_with_their_parents(backend: Backend) {
    let later = common::later_legacy::LaterLegacy::with_sql(&format!(
        "{AREA_TABLE} INSERT INTO processos_area VALUES \
         (1, 'DIGEP-RO', 'Regional RO', 'RO', 'digep-ro', '', 2, 1, '', 3, 0, \
          '2026-01-02 10:00:00', '2026-01-02 10:00:00'), \
         (3, 'DIGEP', 'Diretoria de Gestão de Pessoas', 'DIGEP', 'digep', '05', 1, 1, 'x', NULL, 1, \
          '2026-01-01 10:00:00.123456', '2026-01-03 10:00:00');"
    ));
    let (db, _dir) = target(backend).await;
    let data = mapagov::legacy::read(&later.path).await.unwrap();
    let report = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    let counts = report.table("areas").unwrap();
    assert_eq!((counts.read, counts.imported, counts.skipped), (2, 2, 0));
    let areas = {
        let mut pooled = db.get().await.unwrap();
        let mut conn = pooled.conn();
        mapagov::domain::areas::all(&mut conn).await.unwrap()
    };
    let digep = areas.iter().find(|a| a.codigo == "DIGEP").unwrap();
    let ro = areas.iter().find(|a| a.codigo == "DIGEP-RO").unwrap();
    assert_eq!(
        (
            digep.legacy_id,
            digep.prefixo.as_deref(),
            digep.parent_id,
            digep.ordem
        ),
        (Some(3), Some("05"), None, 1)
    );
    assert_eq!((ro.legacy_id, ro.prefixo.as_deref()), (Some(1), None));
    assert_eq!(ro.parent_id, Some(digep.id));
    let views = mapagov::domain::areas::views(areas.clone(), &HashMap::new());
    let ro_view = views.iter().find(|v| v.area.codigo == "DIGEP-RO").unwrap();
    assert_eq!(ro_view.cap_prefix.as_deref(), Some("05"));
    // A rerun skips them.
    let again = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    let counts = again.table("areas").unwrap();
    assert_eq!((counts.read, counts.imported, counts.skipped), (2, 0, 2));
}

/// Published versions import with their hashes verified by the legacy rule (payload plus
/// `status` and `versao`), their publisher mapped, and one current version per published POP
/// (the legacy flags were not kept consistent: the differences are reported); a version whose
/// hash did not match in the source is imported and named; `verify` re-hashes them all.
async fn published_versions_import_verified_with_one_current_each(backend: Backend) {
    let payload = version_payload;
    let later = common::later_legacy::LaterLegacy::with_sql(&format!(
        "{VERSION_TABLE} \
         UPDATE processos_pop SET status = 'published', versao = 2 WHERE id = 8; \
         INSERT INTO processos_popversion VALUES \
         (1, 8, 1, {}, '', 1, '2026-02-01 10:00:00', 'primeira', 1), \
         (2, 8, 2, {}, '', NULL, '2026-03-01 10:00:00.5', '', 1), \
         (3, 7, 1, {}, '', 1, '2026-04-01 10:00:00', 'clone', 1);",
        payload(6),
        payload(7),
        payload(8)
    ));
    // Versions 1 and 2 hashed as Django did; version 3 with a hash that does not match (stale
    // in the source).
    later.hash_versions(&[3]).await;
    later.exec(&format!(
        "UPDATE processos_popversion SET integrity_hash = '{}' WHERE id = 3",
        "0".repeat(64)
    ));
    let data = mapagov::legacy::read(&later.path).await.unwrap();
    let (db, _dir) = target(backend).await;
    let report = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    let counts = report.table("pop_versions").unwrap();
    assert_eq!((counts.read, counts.imported, counts.skipped), (3, 3, 0));
    assert_eq!((report.versions_checked, report.versions_verified), (3, 2));
    assert_eq!(report.versions_stale_in_source, vec![3]);
    for legacy_pop in [7, 8] {
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains(&format!("POP legacy id {legacy_pop}:"))),
            "{:?}",
            report.warnings
        );
    }

    let pops = all_pops(&db).await;
    let row_of = |legacy: i64| {
        pops.iter()
            .find(|p| p.meta.legacy_id == Some(legacy))
            .unwrap()
    };
    let (seven, eight) = (row_of(7), row_of(8));
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    let versions = mapagov::db::versions::of_pops(&mut conn, &[seven.meta.id, eight.meta.id])
        .await
        .unwrap();
    let summary: Vec<(i64, i32, bool, Option<i64>, &str)> = versions
        .iter()
        .map(|v| {
            (
                v.legacy_id.unwrap(),
                v.versao,
                v.is_current,
                v.published_by_id,
                v.motivo.as_str(),
            )
        })
        .collect();
    let autora = all_users(&db).await[0].0;
    assert_eq!(
        summary,
        vec![
            (3, 1, false, Some(autora), "clone"),
            (2, 2, true, None, ""),
            (1, 1, false, Some(autora), "primeira"),
        ]
    );
    let current = mapagov::db::versions::find(&mut conn, eight.meta.id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        current.published_at.to_rfc3339(),
        "2026-03-01T10:00:00.500+00:00"
    );
    drop(pooled);

    let verified = mapagov::transfer::verify::verify(&db, None).await.unwrap();
    assert_eq!(verified.versions_checked, 3);
    let failures: Vec<&String> = verified
        .failures
        .iter()
        .filter(|f| f.contains("published version"))
        .collect();
    assert_eq!(failures.len(), 1, "{:?}", verified.failures);

    let again = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    let counts = again.table("pop_versions").unwrap();
    assert_eq!((counts.read, counts.imported, counts.skipped), (3, 0, 3));
}

/// What the legacy tables get wrong does not break the rules here: a deleted published POP has
/// no current version; a stored hash that is not a SHA-256 is replaced and reported; a published
/// POP without versions gets its document frozen as its version in force; a version numbered
/// above its POP's `versao` does not stop the POP's next publication.
async fn legacy_version_quirks_import_without_breaking_the_rules(backend: Backend) {
    let payload = version_payload;
    let later = common::later_legacy::LaterLegacy::with_sql(&format!(
        "{VERSION_TABLE} \
         UPDATE processos_pop SET status = 'published', is_deleted = 1 WHERE id = 9; \
         UPDATE processos_pop SET status = 'published' WHERE id = 11; \
         INSERT INTO processos_popversion VALUES \
         (4, 9, 1, {}, '', NULL, '2026-02-01 10:00:00', '', 1), \
         (5, 10, 1, {}, 'NOT-A-HASH', NULL, '2026-02-01 10:00:00', '', 0), \
         (6, 12, 2, {}, '', NULL, '2026-02-01 10:00:00', '', 0);",
        payload(6),
        payload(7),
        payload(8)
    ));
    later.hash_versions(&[5]).await;
    let data = mapagov::legacy::read(&later.path).await.unwrap();
    let (db, _dir) = target(backend).await;
    let report = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(report.versions_stale_in_source, vec![5]);
    assert_eq!(report.versions_frozen, 1);
    for expected in [
        "POP legacy id 9:",
        "version legacy id 5: its stored hash `not-a-hash`",
        "version legacy id 6: number 2 is above its POP's versao 1",
    ] {
        assert!(
            report.warnings.iter().any(|w| w.contains(expected)),
            "{expected}: {:?}",
            report.warnings
        );
    }
    let pops = all_pops(&db).await;
    let row_of = |legacy: i64| {
        pops.iter()
            .find(|p| p.meta.legacy_id == Some(legacy))
            .unwrap()
            .clone()
    };
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    let deleted = mapagov::db::versions::find(&mut conn, row_of(9).meta.id, None).await;
    assert_eq!(deleted.unwrap(), None);
    let frozen = mapagov::db::versions::find(&mut conn, row_of(11).meta.id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (frozen.versao, frozen.published_by_id, frozen.legacy_id),
        (1, None, None)
    );
    assert_eq!(frozen.integrity_hash, row_of(11).meta.integrity_hash);
    drop(pooled);
    let verified = mapagov::transfer::verify::verify(&db, None).await.unwrap();
    assert!(verified.failures.is_empty(), "{:?}", verified.failures);
    assert_eq!(verified.versions_checked, 4);

    // POP 12 (versao 1) already has a version 2: publishing it makes version 3.
    let twelve = row_of(12);
    let staff = mapagov::domain::Actor::system();
    for to in [Status::InReview, Status::Published] {
        workflow::change_status(
            &db,
            &staff,
            twelve.meta.uuid.0,
            to,
            None,
            ExpectedHash::default(),
        )
        .await
        .unwrap();
    }
    let mut pooled = db.get().await.unwrap();
    let published = mapagov::db::versions::find(&mut pooled.conn(), twelve.meta.id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(published.versao, 3);
}

/// Live POPs sharing a process code import unchanged: the first (lowest legacy id) holds it, the
/// others are marked as duplicates and reported, here and by `verify`.
async fn shared_process_codes_import_with_the_first_holding_them(backend: Backend) {
    let later = common::later_legacy::LaterLegacy::with_sql(
        "UPDATE processos_pop SET codigo_processo = '05.01.01.01.001' WHERE id IN (20, 21, 22); \
         UPDATE processos_pop SET is_deleted = 1 WHERE id = 22;",
    );
    let data = mapagov::legacy::read(&later.path).await.unwrap();
    let (db, _dir) = target(backend).await;
    let report = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    let flagged: Vec<&String> = report
        .warnings
        .iter()
        .filter(|w| w.contains("05.01.01.01.001"))
        .collect();
    assert_eq!(flagged.len(), 1, "{:?}", report.warnings);
    assert!(flagged[0].starts_with("POP legacy id 21:"), "{flagged:?}");
    let pops = all_pops(&db).await;
    let marked: Vec<i64> = pops
        .iter()
        .filter(|p| p.meta.cap_duplicate)
        .map(|p| p.meta.legacy_id.unwrap())
        .collect();
    assert_eq!(marked, vec![21]);
    let verified = mapagov::transfer::verify::verify(&db, None).await.unwrap();
    assert!(
        verified
            .warnings
            .iter()
            .any(|w| w.starts_with("1 live POPs marked as sharing a process code")),
        "{:?}",
        verified.warnings
    );
    assert!(verified.failures.is_empty(), "{:?}", verified.failures);
}

/// The migration that makes codes unique keeps POPs that already shared one: the first holds
/// it, the later ones are marked as duplicates (nothing is refused, no document changes).
async fn the_code_migration_marks_codes_shared_before(backend: Backend) {
    let (url, _dir) = common::fresh_database(backend).await;
    let config = common::database_config(&url, &[]);
    migrate::run(&config, Direction::Up).await.unwrap();
    let db = Db::connect(&config).await.unwrap();
    run_import(&db, "legacy-mapagov.sqlite3", &ImportOptions::default())
        .await
        .unwrap();
    drop(db);
    // Back to just before the process-code migration (the later ones first).
    let mut reverted = migrate::run(&config, Direction::DownOne).await.unwrap();
    while reverted.len() == 1 && !reverted[0].contains("000140") {
        reverted = migrate::run(&config, Direction::DownOne).await.unwrap();
    }
    assert!(
        reverted.len() == 1 && reverted[0].contains("000140"),
        "{reverted:?}"
    );
    {
        let db = Db::connect(&config).await.unwrap();
        let mut pooled = db.get().await.unwrap();
        let mut conn = pooled.conn();
        let share = "UPDATE pops SET codigo_processo = '05.01.01.01.001' \
                     WHERE legacy_id IN (21, 20, 22)";
        with_backend!(&mut conn, |c| diesel::sql_query(share).execute(c).await).unwrap();
    }
    migrate::run(&config, Direction::Up).await.unwrap();
    let db = Db::connect(&config).await.unwrap();
    let marked: Vec<i64> = all_pops(&db)
        .await
        .iter()
        .filter(|p| p.meta.cap_duplicate)
        .map(|p| p.meta.legacy_id.unwrap())
        .collect();
    assert_eq!(marked, vec![21, 22]);
}

/// On a fresh install whose only account is the unused first-run `admin`, a legacy `admin`
/// takes its place (its token stops working, the report says so); once that account has a
/// password, it is an account like any other and the import stops instead.
async fn a_legacy_admin_replaces_the_unused_first_run_admin(backend: Backend) {
    let later = common::later_legacy::LaterLegacy::with_sql(
        "UPDATE auth_user SET username = 'admin' WHERE id = 1;",
    );
    let data = mapagov::legacy::read(&later.path).await.unwrap();

    // Used (a password was set): the import stops, as for any account.
    let (db, _dir) = target(backend).await;
    mapagov::auth::bootstrap_admin(&db).await.unwrap().unwrap();
    {
        let mut pooled = db.get().await.unwrap();
        let mut conn = pooled.conn();
        let set = "UPDATE users SET password_hash = 'pbkdf2_sha256$1$x$y'";
        with_backend!(&mut conn, |c| diesel::sql_query(set).execute(c).await).unwrap();
    }
    let err = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.message().contains("--rename-conflicts"),
        "{}",
        err.message()
    );

    // Unused: replaced.
    let (db, _dir) = target(backend).await;
    let token = mapagov::auth::bootstrap_admin(&db).await.unwrap().unwrap();
    let report = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("first-run account `admin`")),
        "{:?}",
        report.warnings
    );
    let users = all_users(&db).await;
    assert_eq!(users.len(), 1);
    assert_eq!((users[0].1, users[0].2.as_str()), (Some(1), "admin"));
    let lifetime = mapagov::auth::token::Lifetime {
        max_age: None,
        idle_timeout: None,
    };
    let still = mapagov::auth::token_user(&db, &token, &lifetime, Utc::now())
        .await
        .unwrap();
    assert!(still.is_none(), "the first-run token must stop working");

    // A legacy admin who could not sign in (access pending) does not replace it: the import
    // stops on the name, and the install keeps its working staff account.
    let pending = common::later_legacy::LaterLegacy::with_sql(&format!(
        "UPDATE auth_user SET username = 'admin' WHERE id = 1; {PROFILE_TABLE} \
         INSERT INTO processos_userprofile VALUES (1, 1, 'admin', NULL, 'pending', 1, 'Admin');"
    ));
    let data = mapagov::legacy::read(&pending.path).await.unwrap();
    let (db, _dir) = target(backend).await;
    mapagov::auth::bootstrap_admin(&db).await.unwrap().unwrap();
    let err = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.message().contains("--rename-conflicts"),
        "{}",
        err.message()
    );
    assert_eq!(all_users(&db).await[0].1, None);
}

/// Roles become grants (an area manager reviews their area, a general manager is staff); users
/// whose access was pending or rejected, or whose e-mail was not verified, are imported unable
/// to sign in and listed; `mapagov user set` approves them and changes roles.
async fn profiles_import_as_grants_and_pending_users_wait(backend: Backend) {
    let users = "INSERT INTO auth_user (id, password, is_superuser, username, last_name, email, \
        is_staff, is_active, date_joined, first_name) VALUES \
        (2, '!', 0, 'gestora', '', 'g@x', 0, 1, '2026-01-01 10:00:00', ''), \
        (3, '!', 0, 'pendente', '', 'p@x', 0, 1, '2026-01-01 10:00:00', ''), \
        (4, '!', 0, 'naoverificada', '', 'n@x', 0, 1, '2026-01-01 10:00:00', ''), \
        (5, '!', 0, 'recusada', '', 'r@x', 0, 1, '2026-01-01 10:00:00', '');";
    let later = common::later_legacy::LaterLegacy::with_sql(&format!(
        "{AREA_TABLE} INSERT INTO processos_area VALUES \
         (3, 'DIGEP', 'Diretoria de Gestão de Pessoas', 'DIGEP', 'digep', '05', 1, 1, '', NULL, \
          0, '2026-01-01 10:00:00', '2026-01-01 10:00:00'); \
         {users} {PROFILE_TABLE} INSERT INTO processos_userprofile VALUES \
         (1, 1, 'area_manager', 3, 'approved', 1, 'Autora'), \
         (2, 2, 'general_manager', NULL, 'approved', 1, 'Gestora'), \
         (3, 3, 'operator', 3, 'pending', 1, 'Pendente'), \
         (4, 4, 'operator', 3, 'approved', 0, 'Não verificada'), \
         (5, 5, 'operator', NULL, 'rejected', 1, 'Recusada');"
    ));
    let (url, dir) = common::fresh_database(backend).await;
    let config = common::database_config(&url, &[]);
    migrate::run(&config, Direction::Up).await.unwrap();
    let db = Db::connect(&config).await.unwrap();
    let data = mapagov::legacy::read(&later.path).await.unwrap();
    assert_eq!(data.profiles.len(), 5);
    let report = import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    assert!(
        report.warnings.iter().any(|w| w.starts_with("3 user(s)")
            && w.contains("pendente")
            && w.contains("naoverificada")
            && w.contains("recusada")),
        "{:?}",
        report.warnings
    );
    let grants = |db: Db| async move {
        let mut pooled = db.get().await.unwrap();
        let mut conn = pooled.conn();
        with_backend!(&mut conn, |c| schema::users::table
            .order(schema::users::legacy_id)
            .select((
                schema::users::username,
                schema::users::is_staff,
                schema::users::area_codigo,
                schema::users::is_active,
            ))
            .load::<(String, bool, Option<String>, bool)>(c)
            .await)
        .unwrap()
    };
    let row = |name: &str, staff: bool, area: Option<&str>, active: bool| {
        (name.to_owned(), staff, area.map(str::to_owned), active)
    };
    assert_eq!(
        grants(db.clone()).await,
        vec![
            // autora is staff in Django already: the flag is kept.
            row("autora", true, Some("DIGEP"), true),
            row("gestora", true, None, true),
            row("pendente", false, None, false),
            row("naoverificada", false, None, false),
            row("recusada", false, None, false),
        ]
    );

    // The operator's command approves and changes roles; bad combinations say why.
    let scratch = tempfile::tempdir().unwrap();
    let set = |args: &[&str]| {
        let mut cmd = common::binary::command(&url, scratch.path(), &[]);
        cmd.args(["user", "set"]).args(args);
        cmd.output().unwrap()
    };
    assert!(set(&["pendente", "--approve"]).status.success());
    let out = set(&["gestora", "--role", "area-manager", "--area", "DIGEP"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for bad in [
        vec!["autora", "--role", "area-manager"],
        vec!["autora", "--role", "chefe"],
        vec!["autora", "--role", "area-manager", "--area", "NOPE"],
        vec!["autora"],
        vec!["ninguem", "--approve"],
    ] {
        let out = set(&bad);
        assert!(!out.status.success(), "{bad:?} should fail");
    }
    // A suspended user's token stops working (on PostgreSQL, once the cache hears of it).
    let mut token_cmd = common::binary::command(&url, scratch.path(), &[]);
    token_cmd.args(["user", "token", "autora"]);
    let out = common::binary::run_ok(token_cmd);
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    let lifetime = mapagov::auth::token::Lifetime {
        max_age: None,
        idle_timeout: None,
    };
    let user_of = || mapagov::auth::token_user(&db, &token, &lifetime, Utc::now());
    assert!(user_of().await.unwrap().is_some());
    assert!(set(&["autora", "--suspend"]).status.success());
    let mut still = true;
    for _ in 0..50 {
        still = user_of().await.unwrap().is_some();
        if !still {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!still, "a suspended user's token must stop working");
    assert!(set(&["autora", "--approve"]).status.success());
    assert_eq!(
        grants(db.clone()).await[..3],
        [
            row("autora", true, Some("DIGEP"), true),
            row("gestora", false, Some("DIGEP"), true),
            row("pendente", false, None, true),
        ]
    );
    drop(dir);
}

/// A `dumpdata` file of the later versions carries profiles and published versions too.
#[tokio::test]
async fn a_later_dump_reads_profiles_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.json");
    let entries = serde_json::json!([
        {"model": "processos.userprofile", "pk": 7, "fields": {"user": 2, "role": "admin",
         "area": null, "access_status": "approved", "email_verified": true,
         "nome_completo": "Ana"}},
        {"model": "processos.popversion", "pk": 9, "fields": {"pop": 4, "versao": 2,
         "payload": {"nome_processo": "X"}, "integrity_hash": "ab", "published_by": 2,
         "published_at": "2026-03-01T10:00:00Z", "motivo": "revisão", "is_current": true}},
    ]);
    std::fs::write(&path, entries.to_string()).unwrap();
    let data = mapagov::legacy::read(&path).await.unwrap();
    assert_eq!(
        data.profiles,
        vec![mapagov::legacy::LegacyProfile {
            user_id: 2,
            role: "admin".into(),
            area_id: None,
            access_status: "approved".into(),
            email_verified: true,
        }]
    );
    let version = &data.versions[0];
    assert_eq!(
        (
            version.id,
            version.pop_id,
            version.versao,
            version.published_by
        ),
        (9, 4, 2, Some(2))
    );
    assert_eq!(
        (version.motivo.as_str(), version.is_current),
        ("revisão", true)
    );
    assert_eq!(version.payload["nome_processo"], "X");
}

/// The later versions' review columns import as the workflow's own status steps: the review
/// queue orders imported POPs by when they were submitted and names who submitted them, and a
/// POP sent back says why, through the API on both backends.
async fn review_state_imports_as_the_workflow_steps(backend: Backend) {
    let later = common::later_legacy::LaterLegacy::with_sql(&format!(
        "{AREA_TABLE} INSERT INTO processos_area VALUES \
         (3, 'DIGEP', 'Diretoria de Gestão de Pessoas', 'DIGEP', 'digep', '05', 1, 1, '', NULL, \
          0, '2026-01-01 10:00:00', '2026-01-01 10:00:00'); \
         INSERT INTO auth_user (id, password, is_superuser, username, last_name, email, \
          is_staff, is_active, date_joined, first_name) VALUES \
         (2, '!', 0, 'revisora', '', 'r@x', 0, 1, '2026-01-01 10:00:00', ''); \
         ALTER TABLE processos_pop ADD COLUMN submitted_for_review_at datetime NULL; \
         ALTER TABLE processos_pop ADD COLUMN submitted_by_id integer NULL; \
         ALTER TABLE processos_pop ADD COLUMN reviewed_by_id integer NULL; \
         ALTER TABLE processos_pop ADD COLUMN review_notes text NOT NULL DEFAULT ''; \
         UPDATE processos_pop SET status = 'review', area_codigo = 'DIGEP', \
          updated_at = '2026-05-01 10:00:00', submitted_for_review_at = '2026-04-01 09:30:00', \
          submitted_by_id = 1 WHERE id = 8; \
         UPDATE processos_pop SET status = 'review', area_codigo = 'DIGEP', \
          updated_at = '2026-06-01 10:00:00', submitted_for_review_at = '2026-03-15 14:00:00', \
          submitted_by_id = 2 WHERE id = 6; \
         UPDATE processos_pop SET area_codigo = 'DIGEP', review_notes = 'Falta a etapa de \
          homologação', reviewed_by_id = 2, updated_at = '2026-05-20 08:00:00' WHERE id = 11;"
    ));
    let (url, dir) = common::fresh_database(backend).await;
    let config = common::database_config(&url, &[]);
    migrate::run(&config, Direction::Up).await.unwrap();
    let data = mapagov::legacy::read(&later.path).await.unwrap();
    let review = |id: i64| data.pops.iter().find(|p| p.id == id).unwrap();
    assert_eq!(
        review(11).review.notes.as_deref(),
        Some("Falta a etapa de homologação")
    );
    let db = Db::connect(&config).await.unwrap();
    import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    // A rerun adds no second submission.
    import::import(&db, &data, &ImportOptions::default())
        .await
        .unwrap();
    let server = common::TestServer::start_on(backend, url, dir, &[]).await;
    let staff = server.staff().await;
    let queue = staff
        .data(
            "query { reviewQueue(areaCodigo: \"DIGEP\") { pop { nomeProcesso } submittedAt \
             submittedBy { username } } }",
            serde_json::json!({}),
        )
        .await;
    let entries: Vec<(String, String, String)> = queue["reviewQueue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["pop"]["nomeProcesso"].as_str().unwrap().to_owned(),
                e["submittedAt"].as_str().unwrap().to_owned(),
                e["submittedBy"]["username"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned(),
            )
        })
        .collect();
    let name = |id: i64| review(id).content.nome_processo.clone().unwrap();
    let at = |entry: &(String, String, String)| millis(&entry.1);
    assert_eq!(entries.len(), 2, "{queue:#}");
    assert_eq!(
        (entries[0].0.clone(), at(&entries[0]), entries[0].2.as_str()),
        (name(6), millis("2026-03-15T14:00:00Z"), "revisora")
    );
    assert_eq!(
        (entries[1].0.clone(), at(&entries[1]), entries[1].2.as_str()),
        (name(8), millis("2026-04-01T09:30:00Z"), "autora")
    );
    // One submission for a POP in review, one send-back with its reason for the draft: the
    // rerun wrote nothing twice.
    for (id, expected) in [
        (8, vec!["status"]),
        (6, vec!["status"]),
        (11, vec!["status_reason", "status"]),
    ] {
        let history = staff
            .data(
                "query($id: ID!) { popHistory(popId: $id, action: STATUS, first: 20) { \
                 edges { node { field } } } }",
                serde_json::json!({ "id": review(id).uuid.to_string() }),
            )
            .await;
        let fields: Vec<&str> = history["popHistory"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, expected, "POP {id}: {history:#}");
    }
    let sent_back = staff
        .data(
            "query($id: ID!) { pop(id: $id) { status statusReason } }",
            serde_json::json!({ "id": review(11).uuid.to_string() }),
        )
        .await;
    assert_eq!(
        sent_back["pop"],
        serde_json::json!({ "status": "DRAFT", "statusReason": "Falta a etapa de homologação" })
    );
    server.stop().await;
}

both_backends!(
    review_state_imports_as_the_workflow_steps,
    profiles_import_as_grants_and_pending_users_wait,
    a_legacy_admin_replaces_the_unused_first_run_admin,
    the_code_migration_marks_codes_shared_before,
    shared_process_codes_import_with_the_first_holding_them,
    legacy_version_quirks_import_without_breaking_the_rules,
    published_versions_import_verified_with_one_current_each,
    areas_import_with_their_parents,
    a_cloned_pop_of_versao_zero_imports_unchanged,
    legacy_data_holding_nul_is_refused_naming_the_row,
    sqlite_fixture_imports_everything,
    json_dump_imports_everything,
    a_rerun_imports_nothing,
    a_taken_username_stops_unless_renamed,
);
