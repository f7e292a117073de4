//! `import-django`: brings a Django database (or its JSON dump) into this one, in one transaction.
//!
//! Decisions, so an imported history reads the same as the old one:
//!
//! - **Identity.** Rows get new ids here; the Django id goes to `legacy_id` (unique), uuids are
//!   kept, and foreign keys are mapped through the legacy ids. A row whose legacy id is already
//!   present is skipped, so a rerun imports nothing twice.
//! - **Users.** The Django password hash is kept as `password_hash`. On a fresh install whose only
//!   account is the unused first-run `admin` (see `unused_first_run_admin`), a legacy `admin`
//!   replaces it, and the report says so. With `processos_userprofile` (later versions), roles
//!   become grants ([`crate::domain::users::Role::grants`]: an area manager reviews their area,
//!   a general manager or admin is staff), and a user whose access was pending or rejected, or
//!   whose e-mail was not verified, is imported unable to sign in (`is_active` false) and
//!   listed in the report. A legacy username that
//!   already belongs to another account here is never merged: the import stops unless
//!   `rename_conflicts` gives a suffix, and the legacy user is then imported as `username+suffix`.
//! - **POPs.** Content, timestamps, `versao` (0 for a clone never published, as the later Django
//!   versions write it), `autosave_sequence` and `raw_payload` (decoded) are kept; legacy statuses are mapped (see [`crate::legacy::map_status`]); `is_deleted` becomes
//!   `deleted_at = updated_at`. The POP's own `integrity_hash` is recomputed from the imported
//!   content: the legacy one went stale between snapshots.
//! - **Process codes.** A live POP whose code (in CAP form) another live POP already holds (here
//!   before the import, or imported before it: the lower legacy id, the one created first in the
//!   old system) is imported unchanged, marked `cap_duplicate` and reported; it holds no code
//!   until its code changes (see [`crate::domain::codes`]).
//! - **Snapshots** keep their sequence, milestone flag and label, stored hash and payload
//!   unchanged (JSON-equal, so the legacy hash still verifies); their kind is `import`, because
//!   the old system did not record why a snapshot was taken. Their `status` column is mapped like
//!   the POP's; the payload is not touched.
//! - **Change logs** are kept as they were: action `autosave` (the only writes the old system
//!   logged), the legacy user mapped to the new id (the old code always recorded the creator; that
//!   is history, not corrected here), values as JSON.
//! - **Review state** (the later versions' `submitted_for_review_at`, `submitted_by_id`,
//!   `reviewed_by_id` and `review_notes` on `processos_pop`) becomes the status rows MapaGov's own
//!   workflow writes, so the review queue and `statusReason` read imported POPs like any other: a
//!   POP in review gets its submission (`draft` → `in_review` by the submitter, at the submission
//!   time); a draft with notes was sent back, and gets that step (`in_review` → `draft` by the
//!   reviewer, with the notes as its reason) at its last write, the old system's only trace of
//!   when. Notes on a POP in review again are of an earlier round and stay out (nothing here
//!   would show them). `review_snapshot` (the document when submitted) is not imported: the
//!   snapshots already hold the POP's documents.
//!
//! - **Published versions** (`processos_popversion`, later versions) keep their number, payload,
//!   stored hash, publisher (mapped), time and reason. Each is verified by the legacy rule (the
//!   payload with `status` and `versao` added back: see [`crate::domain::versions`]); one that
//!   does not match is imported and reported, as snapshots are. The legacy `is_current` flag was
//!   not kept consistent (a POP could have several current versions, or one while archived), so
//!   it is not copied: a POP's current version here is its highest-numbered one while the POP is
//!   published, and none otherwise; every POP where that differs from the legacy flags is
//!   reported as a warning. A published POP with no version at all (a source of the earlier
//!   versions) gets its current document frozen as its version in force. A stored hash that is not
//!   a SHA-256 is replaced by the computed one and the version reported as stale.
//!
//! After writing, and before committing, every imported snapshot is read back and re-hashed, and
//! every imported POP's hash recomputed from what was stored: a snapshot that verified in the
//! source but not here rolls the whole import back.

use super::rows::nul_path;
use crate::db::models::Pop;
use crate::db::queries::{self, NewChange};
use crate::db::types::DbUuid;
use crate::db::versions::NewVersion;
use crate::db::{Conn, Db};
use crate::domain::areas::NewArea;
use crate::domain::codes;
use crate::domain::document::{self, document_parts, hash_of};
use crate::domain::hash::integrity_hash;
use crate::domain::users::{Grants, Role};
use crate::domain::versions::version_hash;
use crate::domain::{ChangeAction, SnapshotKind, Status};
use crate::error::AppError;
use crate::legacy::{LegacyData, LegacyPop, LegacyReview, LegacySnapshot, LegacyUser};
use crate::with_backend;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use scoped_futures::ScopedFutureExt;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// Longest username the schema accepts.
const MAX_USERNAME: usize = 150;

/// How to resolve what the import cannot decide alone.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Import a legacy user whose username is taken here as `username` + this suffix.
    pub rename_conflicts: Option<String>,
}

/// Rows of one table: read from the source, imported, skipped (already present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCounts {
    /// Target table name.
    pub table: &'static str,
    /// Rows read from the source.
    pub read: usize,
    /// Rows written.
    pub imported: usize,
    /// Rows already present (same legacy id), left as they are.
    pub skipped: usize,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Per table, in import order: areas (when the source has any), users, pops, pop_snapshots, pop_change_log, pop_versions (when the source has any).
    pub tables: Vec<TableCounts>,
    /// Legacy users imported under another name: (legacy username, new username).
    pub renamed: Vec<(String, String)>,
    /// Imported snapshots read back and re-hashed.
    pub snapshots_checked: usize,
    /// Of those, how many match their stored hash.
    pub snapshots_verified: usize,
    /// Legacy ids of imported snapshots whose stored hash did not match in the source already.
    pub snapshots_stale_in_source: Vec<i64>,
    /// Imported published versions read back and re-hashed.
    pub versions_checked: usize,
    /// Of those, how many match their stored hash.
    pub versions_verified: usize,
    /// Legacy ids of imported versions whose stored hash did not match in the source already.
    pub versions_stale_in_source: Vec<i64>,
    /// Published POPs without any version (none in the source) whose current document was
    /// frozen as their version in force.
    pub versions_frozen: usize,
    /// Imported POPs whose recomputed hash was re-verified after writing.
    pub pops_verified: usize,
    /// Things worth knowing that did not stop the import.
    pub warnings: Vec<String>,
}

impl ImportReport {
    /// Whether nothing at all was written (a rerun).
    pub fn nothing_imported(&self) -> bool {
        self.tables.iter().all(|t| t.imported == 0)
    }

    /// The counts of one table.
    pub fn table(&self, name: &str) -> Option<&TableCounts> {
        self.tables.iter().find(|t| t.table == name)
    }
}

/// Imports `data` into `db` in one transaction.
pub async fn import(
    db: &Db,
    data: &LegacyData,
    options: &ImportOptions,
) -> Result<ImportReport, AppError> {
    db.write(|mut conn| async move { write(&mut conn, data, options).await }.scope_boxed())
        .await
}

async fn write(
    conn: &mut Conn<'_>,
    data: &LegacyData,
    options: &ImportOptions,
) -> Result<ImportReport, AppError> {
    let mut report = ImportReport {
        tables: Vec::new(),
        renamed: Vec::new(),
        snapshots_checked: 0,
        snapshots_verified: 0,
        snapshots_stale_in_source: Vec::new(),
        versions_checked: 0,
        versions_verified: 0,
        versions_stale_in_source: Vec::new(),
        versions_frozen: 0,
        pops_verified: 0,
        warnings: Vec::new(),
    };
    refuse_nul(data)?;
    import_areas(conn, data, &mut report).await?;
    let users = import_users(conn, data, options, &mut report).await?;
    let (pops, new_pops) = import_pops(conn, data, &users, &mut report).await?;
    let new_snapshots = import_snapshots(conn, &data.snapshots, &pops, &mut report).await?;
    import_changes(conn, data, &pops, &users, &mut report).await?;
    import_review_state(conn, data, &pops, &new_pops, &users).await?;
    let new_versions = import_versions(conn, data, &pops, &users, &mut report).await?;
    report.versions_frozen = crate::db::versions::freeze_unversioned(conn).await?;
    verify(conn, &new_pops, &new_snapshots, &mut report).await?;
    verify_versions(conn, &new_versions, &mut report).await?;
    Ok(report)
}

/// Refuses, before anything is written, legacy data holding a NUL character in any text or JSON
/// (which PostgreSQL cannot store and the API refuses on both backends), naming the table, the
/// row's Django id and the column, so the operator can clean the source.
fn refuse_nul(data: &LegacyData) -> Result<(), AppError> {
    let users = data.users.iter().map(|u| {
        (
            "auth_user",
            u.id,
            json!({"username": u.username, "email": u.email, "password": u.password}),
        )
    });
    let pops = data.pops.iter().map(|p| {
        let mut columns = document::to_fields(&p.content);
        columns.insert("session_id".into(), json!(p.session_id));
        columns.insert("mes_ano".into(), json!(p.mes_ano));
        columns.insert("status".into(), json!(p.status));
        columns.insert("integrity_hash".into(), json!(p.integrity_hash));
        columns.insert("raw_payload".into(), json!(p.raw_payload));
        columns.insert("review_notes".into(), json!(p.review.notes));
        ("processos_pop", p.id, Value::Object(columns))
    });
    let snapshots = data.snapshots.iter().map(|s| {
        let columns = json!({"status": s.status, "integrity_hash": s.integrity_hash,
                             "payload": s.payload, "milestone_label": s.milestone_label});
        ("processos_popsnapshot", s.id, columns)
    });
    let changes = data.changes.iter().map(|c| {
        let columns = json!({"field_name": c.field_name, "old_value": c.old_value,
                             "new_value": c.new_value});
        ("processos_popchangelog", c.id, columns)
    });
    let versions = data.versions.iter().map(|v| {
        let columns = json!({"payload": v.payload, "integrity_hash": v.integrity_hash,
                             "motivo": v.motivo});
        ("processos_popversion", v.id, columns)
    });
    for (table, id, columns) in users
        .chain(pops)
        .chain(snapshots)
        .chain(changes)
        .chain(versions)
    {
        if let Some(column) = nul_path(&columns) {
            return Err(AppError::BadUserInput {
                message: format!(
                    "row {id} of {table} holds a NUL character (\\u0000) in {}, which \
                     PostgreSQL cannot store and MapaGov does not accept; remove it in the \
                     source and run again (nothing was imported)",
                    column.trim_start_matches('.')
                ),
                field: None,
            });
        }
    }
    Ok(())
}

async fn legacy_map(conn: &mut Conn<'_>, table: &str) -> Result<HashMap<i64, i64>, AppError> {
    let pairs: Vec<(Option<i64>, i64)> = match table {
        "users" => with_backend!(conn, |c| schema::users::table
            .filter(schema::users::legacy_id.is_not_null())
            .select((schema::users::legacy_id, schema::users::id))
            .load(c)
            .await)?,
        "pops" => with_backend!(conn, |c| schema::pops::table
            .filter(schema::pops::legacy_id.is_not_null())
            .select((schema::pops::legacy_id, schema::pops::id))
            .load(c)
            .await)?,
        "areas" => with_backend!(conn, |c| schema::areas::table
            .filter(schema::areas::legacy_id.is_not_null())
            .select((schema::areas::legacy_id, schema::areas::id))
            .load(c)
            .await)?,
        "pop_snapshots" => with_backend!(conn, |c| schema::pop_snapshots::table
            .filter(schema::pop_snapshots::legacy_id.is_not_null())
            .select((schema::pop_snapshots::legacy_id, schema::pop_snapshots::id))
            .load(c)
            .await)?,
        "pop_versions" => with_backend!(conn, |c| schema::pop_versions::table
            .filter(schema::pop_versions::legacy_id.is_not_null())
            .select((schema::pop_versions::legacy_id, schema::pop_versions::id))
            .load(c)
            .await)?,
        _ => with_backend!(conn, |c| schema::pop_change_log::table
            .filter(schema::pop_change_log::legacy_id.is_not_null())
            .select((
                schema::pop_change_log::legacy_id,
                schema::pop_change_log::id
            ))
            .load(c)
            .await)?,
    };
    Ok(pairs
        .into_iter()
        .filter_map(|(legacy, id)| legacy.map(|l| (l, id)))
        .collect())
}

/// Imports `processos_area`: every area first, then the parents (which may come later in id
/// order). An area whose code or slug already belongs to another area here stops the import.
/// A source of the earlier versions (no areas) adds no line to the report.
async fn import_areas(
    conn: &mut Conn<'_>,
    data: &LegacyData,
    report: &mut ImportReport,
) -> Result<(), AppError> {
    if data.areas.is_empty() {
        return Ok(());
    }
    let mut map = legacy_map(conn, "areas").await?;
    let mut counts = TableCounts {
        table: "areas",
        read: data.areas.len(),
        imported: 0,
        skipped: 0,
    };
    let existing = crate::domain::areas::all(conn).await?;
    let mut new = Vec::new();
    for area in &data.areas {
        if map.contains_key(&area.id) {
            counts.skipped += 1;
            continue;
        }
        if let Some(taken) = existing
            .iter()
            .find(|a| a.codigo == area.codigo || a.slug == area.slug)
        {
            return Err(AppError::BadUserInput {
                message: format!(
                    "legacy area {} (`{}`, slug `{}`) conflicts with the area `{}` here (slug \
                     `{}`); nothing was imported",
                    area.id, area.codigo, area.slug, taken.codigo, taken.slug
                ),
                field: None,
            });
        }
        // Its parent is set once every area is in.
        let row = NewArea {
            codigo: &area.codigo,
            nome: &area.nome,
            nome_curto: &area.nome_curto,
            slug: &area.slug,
            prefixo: area.prefixo.as_deref(),
            ordem: area.ordem,
            ativo: area.ativo,
            descricao: &area.descricao,
            parent_id: None,
            created_at: area.created_at,
            updated_at: area.updated_at,
        };
        let id: i64 = with_backend!(conn, |c| diesel::insert_into(schema::areas::table)
            .values((schema::areas::legacy_id.eq(Some(area.id)), &row))
            .returning(schema::areas::id)
            .get_result(c)
            .await)?;
        map.insert(area.id, id);
        new.push((id, area));
        counts.imported += 1;
    }
    for (id, area) in new {
        let Some(legacy_parent) = area.parent_id else {
            continue;
        };
        let Some(parent) = map.get(&legacy_parent).copied() else {
            report.warnings.push(format!(
                "area legacy id {}: parent (legacy area {legacy_parent}) is not in the source; \
                 imported as a top-level area",
                area.id
            ));
            continue;
        };
        with_backend!(conn, |c| diesel::update(
            schema::areas::table.filter(schema::areas::id.eq(id))
        )
        .set(schema::areas::parent_id.eq(Some(parent)))
        .execute(c)
        .await)?;
    }
    report.tables.push(counts);
    Ok(())
}

/// The name of the account `serve` creates on an empty database.
const FIRST_RUN_ADMIN: &str = "admin";

/// The id of the first-run `admin` when it is the only account and unused: no password, not
/// imported, and nothing written by it (no POP, history row, snapshot or published version).
/// Anything else stays, and a legacy `admin` then conflicts with it as with any account (as does
/// a legacy `admin` who would not be staff able to sign in: the install keeps a working staff
/// account).
async fn unused_first_run_admin(conn: &mut Conn<'_>) -> Result<Option<i64>, AppError> {
    if queries::count_users(conn).await? != 1 {
        return Ok(None);
    }
    let Some(user) = queries::user_by_username(conn, FIRST_RUN_ADMIN).await? else {
        return Ok(None);
    };
    let (legacy_id, password_hash): (Option<i64>, String) =
        with_backend!(conn, |c| schema::users::table
            .find(user.id)
            .select((schema::users::legacy_id, schema::users::password_hash))
            .first(c)
            .await)?;
    if legacy_id.is_some() || password_hash != "!" || !user.is_staff {
        return Ok(None);
    }
    let id = Some(user.id);
    let written: i64 = with_backend!(conn, |c| {
        let pops: i64 = schema::pops::table
            .filter(schema::pops::created_by_id.eq(id))
            .count()
            .get_result(&mut *c)
            .await?;
        let changes: i64 = schema::pop_change_log::table
            .filter(schema::pop_change_log::user_id.eq(id))
            .count()
            .get_result(&mut *c)
            .await?;
        let snapshots: i64 = schema::pop_snapshots::table
            .filter(schema::pop_snapshots::created_by_id.eq(id))
            .count()
            .get_result(&mut *c)
            .await?;
        let versions: i64 = schema::pop_versions::table
            .filter(schema::pop_versions::published_by_id.eq(id))
            .count()
            .get_result(&mut *c)
            .await?;
        Ok::<i64, diesel::result::Error>(pops + changes + snapshots + versions)
    })?;
    Ok((written == 0).then_some(user.id))
}

async fn username_taken(conn: &mut Conn<'_>, username: &str) -> Result<bool, AppError> {
    Ok(queries::user_by_username(conn, username).await?.is_some())
}

async fn import_users(
    conn: &mut Conn<'_>,
    data: &LegacyData,
    options: &ImportOptions,
    report: &mut ImportReport,
) -> Result<HashMap<i64, i64>, AppError> {
    let mut map = legacy_map(conn, "users").await?;
    let mut counts = TableCounts {
        table: "users",
        read: data.users.len(),
        imported: 0,
        skipped: 0,
    };
    let legacy_admin = data
        .users
        .iter()
        .find(|u| u.username == FIRST_RUN_ADMIN && !map.contains_key(&u.id));
    // Only an admin who will be staff and able to sign in replaces the first-run one: the install
    // must keep a staff account that works.
    let replaces = legacy_admin.is_some_and(|user| {
        let access = access_of(data, user, &mut ImportReport::default());
        access.active && access.grants.is_staff
    });
    if replaces {
        if let Some(id) = unused_first_run_admin(conn).await? {
            with_backend!(conn, |c| {
                diesel::delete(
                    schema::api_tokens::table.filter(schema::api_tokens::user_id.eq(id)),
                )
                .execute(&mut *c)
                .await?;
                diesel::delete(schema::users::table.find(id))
                    .execute(&mut *c)
                    .await
            })?;
            report.warnings.push(format!(
                "removed the first-run account `{FIRST_RUN_ADMIN}` (created by `serve` on the \
                 empty database: no password, nothing written) so that the legacy \
                 `{FIRST_RUN_ADMIN}` could be imported; its API tokens no longer work"
            ));
        }
    }
    // Decide every name first, so a conflict stops the import before anything is written.
    let mut names = Vec::new();
    let mut conflicts = Vec::new();
    for user in &data.users {
        if map.contains_key(&user.id) {
            continue;
        }
        if !username_taken(conn, &user.username).await? {
            names.push((user, user.username.clone()));
            continue;
        }
        match &options.rename_conflicts {
            None => conflicts.push(format!("`{}` (legacy id {})", user.username, user.id)),
            Some(suffix) => {
                let renamed = format!("{}{suffix}", user.username);
                if renamed.chars().count() > MAX_USERNAME || username_taken(conn, &renamed).await? {
                    return Err(AppError::BadUserInput {
                        message: format!(
                            "legacy user `{}` (legacy id {}) conflicts with an existing account, \
                             and `{renamed}` is taken or longer than {MAX_USERNAME} characters: \
                             choose another --rename-conflicts suffix; nothing was imported",
                            user.username, user.id
                        ),
                        field: None,
                    });
                }
                report
                    .renamed
                    .push((user.username.clone(), renamed.clone()));
                names.push((user, renamed));
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(AppError::BadUserInput {
            message: format!(
                "legacy user(s) {} already exist here as different accounts and are never merged; \
                 nothing was imported. Rerun with --rename-conflicts SUFFIX to import them as \
                 username+SUFFIX, or rename the existing accounts first",
                conflicts.join(", ")
            ),
            field: None,
        });
    }
    let mut waiting = Vec::new();
    for (user, username) in names {
        let access = access_of(data, user, report);
        if user.is_active && !access.active {
            waiting.push(username.clone());
        }
        let row = ImportedUser {
            legacy_id: user.id,
            username: &username,
            email: &user.email,
            password_hash: &user.password,
            is_staff: access.grants.is_staff,
            is_superuser: access.grants.is_superuser,
            area_codigo: access.grants.area_codigo.as_deref(),
            is_active: access.active,
            created_at: user.date_joined,
            last_login_at: user.last_login,
        };
        let id: i64 = with_backend!(conn, |c| diesel::insert_into(schema::users::table)
            .values(&row)
            .returning(schema::users::id)
            .get_result(c)
            .await)?;
        map.insert(user.id, id);
        counts.imported += 1;
    }
    if !waiting.is_empty() {
        report.warnings.push(format!(
            "{} user(s) whose access was pending, rejected or whose e-mail was not verified were \
             imported but cannot sign in until approved (`mapagov user set USERNAME --approve`): \
             {}",
            waiting.len(),
            waiting.join(", ")
        ));
    }
    counts.skipped = counts.read - counts.imported;
    report.tables.push(counts);
    Ok(map)
}

/// What a legacy user may do here: the Django flags, widened by the role of their profile
/// (see [`Role::grants`]), and whether they may sign in (active in Django and, with a profile,
/// approved and with a verified e-mail: Django left pending applicants active and relied on the
/// profile alone).
struct Access {
    grants: Grants,
    active: bool,
}

fn access_of(data: &LegacyData, user: &LegacyUser, report: &mut ImportReport) -> Access {
    let flags = Grants {
        is_staff: user.is_staff,
        is_superuser: user.is_superuser,
        area_codigo: None,
    };
    let Some(profile) = data.profiles.iter().find(|p| p.user_id == user.id) else {
        return Access {
            grants: flags,
            active: user.is_active,
        };
    };
    let area = profile.area_id.and_then(|id| {
        let codigo = data
            .areas
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.codigo.clone());
        if codigo.is_none() {
            report.warnings.push(format!(
                "user legacy id {}: area (legacy area {id}) is not in the source",
                user.id
            ));
        }
        codigo
    });
    let role = Role::parse(&profile.role).unwrap_or_else(|| {
        report.warnings.push(format!(
            "user legacy id {}: unknown role `{}`, imported as an operator",
            user.id, profile.role
        ));
        Role::Operator
    });
    if role == Role::AreaManager && area.is_none() {
        report.warnings.push(format!(
            "user legacy id {}: an area manager without an area reviews nothing here",
            user.id
        ));
    }
    let granted = role.grants(area);
    Access {
        grants: Grants {
            is_staff: flags.is_staff || granted.is_staff,
            is_superuser: flags.is_superuser || granted.is_superuser,
            area_codigo: granted.area_codigo,
        },
        active: user.is_active && profile.access_status == "approved" && profile.email_verified,
    }
}

/// The hash of the document the POP will have here (with its mapped status).
fn pop_hash(pop: &LegacyPop) -> String {
    integrity_hash(&document_parts(
        &pop.content,
        pop.status.as_str(),
        pop.versao,
        pop.created_at,
        &pop.uuid.hyphenated().to_string(),
    ))
}

async fn import_pops(
    conn: &mut Conn<'_>,
    data: &LegacyData,
    users: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> Result<(HashMap<i64, i64>, Vec<i64>), AppError> {
    let mut map = legacy_map(conn, "pops").await?;
    let mut counts = TableCounts {
        table: "pops",
        read: data.pops.len(),
        imported: 0,
        skipped: 0,
    };
    let mut new_ids = Vec::new();
    for pop in &data.pops {
        if map.contains_key(&pop.id) {
            counts.skipped += 1;
            continue;
        }
        if let Some(existing) = queries::pop_by_uuid(conn, pop.uuid).await? {
            return Err(AppError::BadUserInput {
                message: format!(
                    "legacy POP {} has uuid {}, which already belongs to POP {} here \
                     (legacy id {:?}); nothing was imported",
                    pop.id, pop.uuid, existing.meta.id, existing.meta.legacy_id
                ),
                field: None,
            });
        }
        let created_by = match pop.created_by {
            None => None,
            Some(legacy) => {
                let mapped = users.get(&legacy).copied();
                if mapped.is_none() {
                    report.warnings.push(format!(
                        "POP legacy id {}: creator (legacy user {legacy}) is not in the source; \
                         imported without a creator",
                        pop.id
                    ));
                }
                mapped
            }
        };
        let hash = pop_hash(pop);
        let deleted_at = pop.is_deleted.then_some(pop.updated_at);
        let code = pop
            .content
            .codigo_processo
            .as_deref()
            .filter(|c| codes::is_cap(c));
        let cap_duplicate = match code {
            // No per-prefix lock here: one import would hold thousands of them at once (each
            // takes a slot of PostgreSQL's shared lock table). A code claimed by a request while
            // the import runs fails the import's insert on the unique index; nothing is written.
            Some(code) if !pop.is_deleted => match codes::holder(conn, code, None).await? {
                Some(holder) => {
                    report.warnings.push(format!(
                        "POP legacy id {}: its process code {code} is held by the POP {holder}, \
                         here first; imported unchanged and marked as a duplicate until its \
                         code changes",
                        pop.id
                    ));
                    true
                }
                None => false,
            },
            _ => false,
        };
        let row = ImportedPop {
            uuid: DbUuid(pop.uuid),
            legacy_id: pop.id,
            session_id: pop.session_id.as_deref(),
            created_by_id: created_by,
            versao: pop.versao,
            mes_ano: pop.mes_ano.as_deref(),
            data_aprovacao: pop.data_aprovacao,
            status: pop.status,
            is_completo: pop.is_completo,
            integrity_hash: &hash,
            autosave_sequence: pop.autosave_sequence,
            raw_payload: pop.raw_payload.as_ref(),
            created_at: pop.created_at,
            updated_at: pop.updated_at,
            last_autosave_at: pop.last_autosave_at,
            last_activity_at: pop.last_activity_at,
            deleted_at,
            cap_duplicate,
        };
        let id: i64 = with_backend!(conn, |c| diesel::insert_into(schema::pops::table)
            .values((&row, &pop.content))
            .returning(schema::pops::id)
            .get_result(c)
            .await)?;
        map.insert(pop.id, id);
        new_ids.push(id);
        counts.imported += 1;
    }
    report.tables.push(counts);
    Ok((map, new_ids))
}

async fn import_snapshots(
    conn: &mut Conn<'_>,
    snapshots: &[LegacySnapshot],
    pops: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> Result<Vec<(i64, bool)>, AppError> {
    let present = legacy_map(conn, "pop_snapshots").await?;
    let mut counts = TableCounts {
        table: "pop_snapshots",
        read: snapshots.len(),
        imported: 0,
        skipped: 0,
    };
    let mut new = Vec::new();
    for snap in snapshots {
        if present.contains_key(&snap.id) {
            counts.skipped += 1;
            continue;
        }
        let pop_id = *pops.get(&snap.pop_id).ok_or_else(|| {
            AppError::internal(format!(
                "legacy snapshot {} belongs to POP {}, which is neither in the source nor \
                 imported before; nothing was imported",
                snap.id, snap.pop_id
            ))
        })?;
        if snap.sequence < 1 {
            return Err(AppError::internal(format!(
                "legacy snapshot {} has sequence {} (must be 1 or more); nothing was imported",
                snap.id, snap.sequence
            )));
        }
        let computed = integrity_hash(&snap.payload);
        let stored = snap.integrity_hash.clone().unwrap_or_else(|| {
            report.warnings.push(format!(
                "snapshot legacy id {}: no stored hash, computed from its payload",
                snap.id
            ));
            computed.clone()
        });
        let verified_in_source = stored == computed;
        if !verified_in_source {
            report.snapshots_stale_in_source.push(snap.id);
        }
        let label = snap.milestone_label.as_ref().map(|l| {
            l.chars()
                .take(crate::domain::snapshots::MAX_MILESTONE_LABEL)
                .collect::<String>()
        });
        let row = ImportedSnapshot {
            legacy_id: snap.id,
            pop_id,
            sequence: snap.sequence,
            kind: SnapshotKind::Import,
            versao: snap.versao,
            autosave_sequence: snap.autosave_sequence,
            status: snap.status,
            integrity_hash: &stored,
            payload: &snap.payload,
            milestone: snap.milestone,
            milestone_label: label.as_deref(),
            created_at: snap.created_at,
        };
        let id: i64 = with_backend!(conn, |c| diesel::insert_into(schema::pop_snapshots::table)
            .values(&row)
            .returning(schema::pop_snapshots::id)
            .get_result(c)
            .await)?;
        new.push((id, verified_in_source));
        counts.imported += 1;
    }
    report.tables.push(counts);
    Ok(new)
}

async fn import_changes(
    conn: &mut Conn<'_>,
    data: &LegacyData,
    pops: &HashMap<i64, i64>,
    users: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> Result<(), AppError> {
    let present = legacy_map(conn, "pop_change_log").await?;
    let mut counts = TableCounts {
        table: "pop_change_log",
        read: data.changes.len(),
        imported: 0,
        skipped: 0,
    };
    let mut unknown_users = HashSet::new();
    for change in &data.changes {
        if present.contains_key(&change.id) {
            counts.skipped += 1;
            continue;
        }
        let pop_id = *pops.get(&change.pop_id).ok_or_else(|| {
            AppError::internal(format!(
                "legacy change-log row {} belongs to POP {}, which is neither in the source nor \
                 imported before; nothing was imported",
                change.id, change.pop_id
            ))
        })?;
        let user_id = change.user_id.and_then(|legacy| {
            let mapped = users.get(&legacy).copied();
            if mapped.is_none() {
                unknown_users.insert(legacy);
            }
            mapped
        });
        let row = NewChange {
            pop_id,
            user_id,
            action: ChangeAction::Autosave,
            field_name: change.field_name.clone(),
            old_value: change.old_value.clone(),
            new_value: change.new_value.clone(),
            autosave_sequence: change.autosave_sequence,
            snapshot_id: None,
            created_at: change.created_at,
        };
        with_backend!(conn, |c| diesel::insert_into(schema::pop_change_log::table)
            .values((schema::pop_change_log::legacy_id.eq(Some(change.id)), &row,))
            .execute(c)
            .await)?;
        counts.imported += 1;
    }
    let mut unknown: Vec<_> = unknown_users.into_iter().collect();
    unknown.sort_unstable();
    for legacy in unknown {
        report.warnings.push(format!(
            "change-log rows of legacy user {legacy}, who is not in the source, have no user"
        ));
    }
    report.tables.push(counts);
    Ok(())
}

/// Writes the review state of the POPs imported now as the status rows the workflow would have
/// written (see the module docs).
async fn import_review_state(
    conn: &mut Conn<'_>,
    data: &LegacyData,
    pops: &HashMap<i64, i64>,
    new_pops: &[i64],
    users: &HashMap<i64, i64>,
) -> Result<(), AppError> {
    let user = |legacy: Option<i64>| legacy.and_then(|id| users.get(&id).copied());
    for pop in &data.pops {
        let Some(&pop_id) = pops.get(&pop.id).filter(|id| new_pops.contains(id)) else {
            continue;
        };
        let step = |from: Status, to: Status, by: Option<i64>, at: DateTime<Utc>| NewChange {
            pop_id,
            user_id: user(by),
            action: ChangeAction::Status,
            field_name: "status".into(),
            old_value: Some(json!(from)),
            new_value: Some(json!(to)),
            autosave_sequence: pop.autosave_sequence,
            snapshot_id: None,
            created_at: at,
        };
        let rows = match (pop.status, &pop.review) {
            (
                Status::InReview,
                LegacyReview {
                    submitted_at: Some(at),
                    submitted_by,
                    ..
                },
            ) => {
                vec![step(Status::Draft, Status::InReview, *submitted_by, *at)]
            }
            (
                Status::Draft,
                LegacyReview {
                    notes: Some(notes),
                    reviewed_by,
                    ..
                },
            ) => {
                let mut reason = step(
                    Status::InReview,
                    Status::Draft,
                    *reviewed_by,
                    pop.updated_at,
                );
                reason.field_name = "status_reason".into();
                reason.old_value = Some(Value::Null);
                reason.new_value = Some(json!(notes));
                vec![
                    step(
                        Status::InReview,
                        Status::Draft,
                        *reviewed_by,
                        pop.updated_at,
                    ),
                    reason,
                ]
            }
            _ => continue,
        };
        queries::insert_changes(conn, &rows).await?;
    }
    Ok(())
}

/// Imports `processos_popversion` (see the module docs for the `is_current` rule). Returns the
/// new versions' ids, each with whether it verified in the source.
async fn import_versions(
    conn: &mut Conn<'_>,
    data: &LegacyData,
    pops: &HashMap<i64, i64>,
    users: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> Result<Vec<(i64, bool)>, AppError> {
    if data.versions.is_empty() {
        return Ok(Vec::new());
    }
    let present = legacy_map(conn, "pop_versions").await?;
    let mut counts = TableCounts {
        table: "pop_versions",
        read: data.versions.len(),
        imported: 0,
        skipped: 0,
    };
    let mut new = Vec::new();
    // Per POP here: its legacy id and the numbers of the versions the source called current.
    let mut touched: HashMap<i64, (i64, Vec<i64>)> = HashMap::new();
    let pop_versao: HashMap<i64, i32> = data.pops.iter().map(|p| (p.id, p.versao)).collect();
    for version in &data.versions {
        if present.contains_key(&version.id) {
            counts.skipped += 1;
            continue;
        }
        let pop_id = *pops.get(&version.pop_id).ok_or_else(|| {
            AppError::internal(format!(
                "legacy version {} belongs to POP {}, which is neither in the source nor \
                 imported before; nothing was imported",
                version.id, version.pop_id
            ))
        })?;
        if version.versao < 1 {
            return Err(AppError::internal(format!(
                "legacy version {} has number {} (must be 1 or more); nothing was imported",
                version.id, version.versao
            )));
        }
        if !version.payload.is_object() {
            return Err(AppError::internal(format!(
                "legacy version {}: its payload is not a JSON object; nothing was imported",
                version.id
            )));
        }
        let computed = version_hash(&version.payload, version.versao);
        let stored = match version
            .integrity_hash
            .as_deref()
            .map(|h| h.trim().to_lowercase())
        {
            Some(hash) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => hash,
            Some(malformed) => {
                // Not a SHA-256 at all: kept as unverifiable would break the table's check, so
                // the computed hash is stored and the version reported as stale.
                report.warnings.push(format!(
                    "version legacy id {}: its stored hash `{malformed}` is not a SHA-256; \
                     stored the hash of its payload instead",
                    version.id
                ));
                report.versions_stale_in_source.push(version.id);
                computed.clone()
            }
            None => {
                report.warnings.push(format!(
                    "version legacy id {}: no stored hash, computed from its payload",
                    version.id
                ));
                computed.clone()
            }
        };
        let verified_in_source = stored == computed;
        if !verified_in_source {
            report.versions_stale_in_source.push(version.id);
        }
        let versao = pop_versao.get(&version.pop_id).copied();
        if let Some(pop_versao) = versao.filter(|v| version.versao > *v) {
            report.warnings.push(format!(
                "version legacy id {}: number {} is above its POP's versao {pop_versao}; the \
                 POP's next publication will be numbered after it",
                version.id, version.versao
            ));
        }
        let published_by = version
            .published_by
            .and_then(|legacy| users.get(&legacy).copied());
        let row = NewVersion {
            pop_id,
            versao: version.versao,
            payload: &version.payload,
            integrity_hash: &stored,
            published_by_id: published_by,
            published_at: version.published_at,
            motivo: &version.motivo,
        };
        let id: i64 = with_backend!(conn, |c| diesel::insert_into(schema::pop_versions::table)
            .values((
                schema::pop_versions::legacy_id.eq(Some(version.id)),
                schema::pop_versions::is_current.eq(false),
                &row,
            ))
            .returning(schema::pop_versions::id)
            .get_result(c)
            .await)?;
        let (_, flagged) = touched
            .entry(pop_id)
            .or_insert_with(|| (version.pop_id, Vec::new()));
        if version.is_current {
            flagged.push(version.versao.into());
        }
        new.push((id, verified_in_source));
        counts.imported += 1;
    }
    let mut touched: Vec<_> = touched.into_iter().collect();
    touched.sort_unstable();
    for (pop_id, (legacy_pop, legacy_current)) in touched {
        let chosen = make_current(conn, pop_id).await?;
        if legacy_current != chosen.map(i64::from).into_iter().collect::<Vec<_>>() {
            report.warnings.push(format!(
                "POP legacy id {legacy_pop}: the source marked version(s) {legacy_current:?} current; here the \
                 current version is {} (the newest while the POP is published)",
                chosen.map_or_else(|| "none".to_owned(), |v| v.to_string())
            ));
        }
    }
    report.tables.push(counts);
    Ok(new)
}

/// Makes a POP's highest-numbered version current when the POP is published (none otherwise);
/// returns that version's number.
async fn make_current(conn: &mut Conn<'_>, pop_id: i64) -> Result<Option<i32>, AppError> {
    crate::db::versions::clear_current(conn, pop_id).await?;
    let (status, deleted): (String, Option<chrono::DateTime<chrono::Utc>>) =
        with_backend!(conn, |c| schema::pops::table
            .find(pop_id)
            .select((schema::pops::status, schema::pops::deleted_at))
            .first(c)
            .await)?;
    if status != Status::Published.as_str() || deleted.is_some() {
        return Ok(None);
    }
    let newest: Option<i32> = with_backend!(conn, |c| schema::pop_versions::table
        .filter(schema::pop_versions::pop_id.eq(pop_id))
        .select(diesel::dsl::max(schema::pop_versions::versao))
        .first(c)
        .await)?;
    if let Some(versao) = newest {
        with_backend!(conn, |c| diesel::update(
            schema::pop_versions::table
                .filter(schema::pop_versions::pop_id.eq(pop_id))
                .filter(schema::pop_versions::versao.eq(versao))
        )
        .set(schema::pop_versions::is_current.eq(true))
        .execute(c)
        .await)?;
    }
    Ok(newest)
}

/// Reads the new versions back and re-hashes them, inside the transaction: one that verified in
/// the source but not here rolls the import back.
async fn verify_versions(
    conn: &mut Conn<'_>,
    new_versions: &[(i64, bool)],
    report: &mut ImportReport,
) -> Result<(), AppError> {
    let expected: HashMap<i64, bool> = new_versions.iter().copied().collect();
    let ids: Vec<i64> = new_versions.iter().map(|(id, _)| *id).collect();
    for chunk in ids.chunks(500) {
        let rows: Vec<(i64, Option<i64>, i32, String, Value)> = with_backend!(conn, |c| {
            schema::pop_versions::table
                .filter(schema::pop_versions::id.eq_any(chunk))
                .select((
                    schema::pop_versions::id,
                    schema::pop_versions::legacy_id,
                    schema::pop_versions::versao,
                    schema::pop_versions::integrity_hash,
                    schema::pop_versions::payload,
                ))
                .load(c)
                .await
        })?;
        for (id, legacy_id, versao, stored, payload) in rows {
            report.versions_checked += 1;
            if version_hash(&payload, versao) == stored {
                report.versions_verified += 1;
            } else if expected.get(&id).copied().unwrap_or(false) {
                return Err(AppError::internal(format!(
                    "version legacy id {legacy_id:?} verified in the source but not after \
                     writing; nothing was imported"
                )));
            }
        }
    }
    Ok(())
}

/// Reads back what was written and re-hashes it, inside the transaction.
async fn verify(
    conn: &mut Conn<'_>,
    new_pops: &[i64],
    new_snapshots: &[(i64, bool)],
    report: &mut ImportReport,
) -> Result<(), AppError> {
    for chunk in new_pops.chunks(500) {
        let pops: Vec<Pop> = queries::pops_by_ids(conn, chunk).await?;
        for pop in pops {
            if hash_of(&pop.meta, &pop.content) != pop.meta.integrity_hash {
                return Err(AppError::internal(format!(
                    "POP {} (legacy id {:?}) does not match its hash after writing; nothing was \
                     imported",
                    pop.meta.id, pop.meta.legacy_id
                )));
            }
            report.pops_verified += 1;
        }
    }
    let expected: HashMap<i64, bool> = new_snapshots.iter().copied().collect();
    let ids: Vec<i64> = new_snapshots.iter().map(|(id, _)| *id).collect();
    for chunk in ids.chunks(500) {
        let rows: Vec<(i64, Option<i64>, String, Value)> = with_backend!(conn, |c| {
            schema::pop_snapshots::table
                .filter(schema::pop_snapshots::id.eq_any(chunk))
                .select((
                    schema::pop_snapshots::id,
                    schema::pop_snapshots::legacy_id,
                    schema::pop_snapshots::integrity_hash,
                    schema::pop_snapshots::payload,
                ))
                .load(c)
                .await
        })?;
        for (id, legacy_id, stored, payload) in rows {
            report.snapshots_checked += 1;
            let verified = integrity_hash(&payload) == stored;
            if verified {
                report.snapshots_verified += 1;
            } else if expected.get(&id).copied().unwrap_or(false) {
                return Err(AppError::internal(format!(
                    "snapshot legacy id {legacy_id:?} verified in the source but not after \
                     writing; nothing was imported"
                )));
            }
        }
    }
    Ok(())
}

crate::db_row! {
    /// A user as imported.
    struct ImportedUser<'a> into users {
        legacy_id: i64,
        username: &'a str,
        email: &'a str,
        password_hash: &'a str,
        is_staff: bool,
        is_superuser: bool,
        area_codigo: Option<&'a str>,
        is_active: bool,
        created_at: DateTime<Utc>,
        last_login_at: Option<DateTime<Utc>>,
    }
}

crate::db_row! {
    /// A POP's control fields as imported (its content is inserted beside them).
    struct ImportedPop<'a> into pops {
        uuid: DbUuid,
        legacy_id: i64,
        session_id: Option<&'a str>,
        created_by_id: Option<i64>,
        versao: i32,
        mes_ano: Option<&'a str>,
        data_aprovacao: Option<NaiveDate>,
        status: Status,
        is_completo: bool,
        integrity_hash: &'a str,
        autosave_sequence: i32,
        raw_payload: Option<&'a Value>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        last_autosave_at: Option<DateTime<Utc>>,
        last_activity_at: DateTime<Utc>,
        deleted_at: Option<DateTime<Utc>>,
        cap_duplicate: bool,
    }
}

crate::db_row! {
    /// A snapshot as imported.
    struct ImportedSnapshot<'a> into pop_snapshots {
        legacy_id: i64,
        pop_id: i64,
        sequence: i32,
        kind: SnapshotKind,
        versao: i32,
        autosave_sequence: i32,
        status: Status,
        integrity_hash: &'a str,
        payload: &'a Value,
        milestone: bool,
        milestone_label: Option<&'a str>,
        created_at: DateTime<Utc>,
    }
}
