//! A Django database of the later versions (publication, areas, roles), built for a test from the
//! older fixture: a copy of `legacy-mapagov.sqlite3` with the later columns and tables added by SQL
//! and rows the test chooses.

use diesel::{Connection, RunQueryDsl, SqliteConnection};
use std::path::PathBuf;

/// `processos_area` of a later-version database: the table's SQL, as Django created it.
pub const AREA_TABLE: &str = "CREATE TABLE processos_area (id integer PRIMARY KEY, \
    codigo varchar(20) NOT NULL UNIQUE, nome varchar(200) NOT NULL, nome_curto varchar(50) NOT NULL, \
    slug varchar(50) NOT NULL UNIQUE, prefixo varchar(10) NOT NULL, ordem integer NOT NULL, \
    ativo bool NOT NULL, descricao text NOT NULL, area_pai_id bigint NULL, tem_subareas bool NOT NULL, \
    created_at datetime NOT NULL, updated_at datetime NOT NULL);";

/// `processos_popversion` of a later-version database, as Django created it.
pub const VERSION_TABLE: &str = "CREATE TABLE processos_popversion (id integer PRIMARY KEY, \
    pop_id bigint NOT NULL, versao integer unsigned NOT NULL, payload text NOT NULL, \
    integrity_hash varchar(64) NOT NULL, published_by_id integer NULL, \
    published_at datetime NOT NULL, motivo text NOT NULL, is_current bool NOT NULL);";

/// `processos_userprofile` of a later-version database, as Django created it (the columns
/// the import reads, and one it does not).
pub const PROFILE_TABLE: &str = "CREATE TABLE processos_userprofile (id integer PRIMARY KEY, \
    user_id integer NOT NULL UNIQUE, role varchar(20) NOT NULL, area_id bigint NULL, \
    access_status varchar(20) NOT NULL, email_verified bool NOT NULL, \
    nome_completo varchar(200) NOT NULL);";

/// SQL for the payload of a version frozen from snapshot `snapshot` of the fixture: its document
/// without `status` and `versao`, as the later versions stored it.
pub fn version_payload(snapshot: i64) -> String {
    format!(
        "(SELECT json_remove(payload, '$.status', '$.versao') FROM processos_popsnapshot \
         WHERE id = {snapshot})"
    )
}

/// A later-version copy of the legacy fixture in its own temporary directory.
pub struct LaterLegacy {
    /// The database file.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl LaterLegacy {
    /// Copies the fixture and runs `sql` (statements separated by `;`) against the copy.
    pub fn with_sql(sql: &str) -> LaterLegacy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.sqlite3");
        std::fs::copy(super::fixture("legacy-mapagov.sqlite3"), &path).unwrap();
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::connection::SimpleConnection::batch_execute(&mut conn, sql).unwrap();
        drop(conn);
        LaterLegacy { path, _dir: dir }
    }

    /// Every later table with rows: areas with a sub-area, a profile per user, two published
    /// POPs with their versions (hashed by the legacy rule), and two live POPs sharing a process
    /// code.
    pub async fn everything() -> LaterLegacy {
        let payload = version_payload;
        let later = LaterLegacy::with_sql(&format!(
            "{AREA_TABLE} INSERT INTO processos_area VALUES \
             (1, 'DIGEP-RO', 'Regional RO', 'RO', 'digep-ro', '', 2, 1, '', 3, 0, \
              '2026-01-02 10:00:00', '2026-01-02 10:00:00'), \
             (3, 'DIGEP', 'Diretoria de Gestão de Pessoas', 'DIGEP', 'digep', '05', 1, 1, '', \
              NULL, 1, '2026-01-01 10:00:00', '2026-01-03 10:00:00'); \
             {PROFILE_TABLE} INSERT INTO processos_userprofile VALUES \
             (1, 1, 'area_manager', 3, 'approved', 1, 'Autora'); \
             UPDATE processos_pop SET status = 'published', versao = 2, area_codigo = 'DIGEP', \
              codigo_processo = '05.01.01.01.001' WHERE id = 8; \
             UPDATE processos_pop SET status = 'published', area_codigo = 'DIGEP-RO', \
              codigo_processo = '05.01.01.01.002' WHERE id = 11; \
             UPDATE processos_pop SET codigo_processo = '05.02.01.01.001' WHERE id IN (20, 21); \
             {VERSION_TABLE} INSERT INTO processos_popversion VALUES \
             (1, 8, 1, {}, '', 1, '2026-02-01 10:00:00', 'primeira', 0), \
             (2, 8, 2, {}, '', 1, '2026-03-01 10:00:00.5', 'revisão', 1);",
            payload(6),
            payload(7),
        ));
        later.hash_versions(&[]).await;
        later
    }

    /// Stores in `processos_popversion` the hash Django computed for each version (its payload
    /// with `status` and `versao` added back, the rule written out here), except the versions
    /// `except` names, whose hash a test sets itself.
    pub async fn hash_versions(&self, except: &[i64]) {
        let data = mapagov::legacy::read(&self.path).await.unwrap();
        for version in data.versions.iter().filter(|v| !except.contains(&v.id)) {
            assert!(version.payload.get("status").is_none());
            let mut doc = version.payload.clone();
            doc["status"] = "published".into();
            doc["versao"] = version.versao.into();
            self.exec(&format!(
                "UPDATE processos_popversion SET integrity_hash = '{}' WHERE id = {}",
                mapagov::domain::hash::integrity_hash(&doc),
                version.id
            ));
        }
    }

    /// Runs one more statement against the copy.
    pub fn exec(&self, sql: &str) {
        let mut conn = SqliteConnection::establish(self.path.to_str().unwrap()).unwrap();
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    }
}
