//! Reads a Django SQLite database (opened read-only) with diesel's synchronous SQLite connection.

use super::values::{
    at, content_json, decode_raw_payload, int, non_empty, parse_date, parse_datetime,
    parse_json_text, parse_opt_datetime, parse_uuid, status,
};
use super::{
    LegacyArea, LegacyChange, LegacyData, LegacyPop, LegacyProfile, LegacyReview, LegacySnapshot,
    LegacyUser, LegacyVersion,
};
use crate::db::models::PopContent;
use anyhow::Context;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::Value;
use std::path::Path;

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    password: String,
    #[diesel(sql_type = Bool)]
    is_staff: bool,
    #[diesel(sql_type = Bool)]
    is_superuser: bool,
    #[diesel(sql_type = Bool)]
    is_active: bool,
    #[diesel(sql_type = Text)]
    date_joined: String,
    #[diesel(sql_type = Nullable<Text>)]
    last_login: Option<String>,
}

#[derive(QueryableByName)]
struct PopRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    uuid: String,
    #[diesel(sql_type = Nullable<Text>)]
    session_id: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    created_by_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    nome_usuario: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    area_codigo: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    area_nome: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    macroprocesso: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    codigo_processo: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    nome_processo: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    processo_especifico: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    entrega_esperada: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    dispositivos_normativos: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    sistemas_utilizados: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    operadores: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pontos_atencao: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    etapas: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    documentos_utilizados: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    fluxos_entrada: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    fluxos_saida: Option<String>,
    #[diesel(sql_type = BigInt)]
    versao: i64,
    #[diesel(sql_type = Nullable<Text>)]
    mes_ano: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    data_aprovacao: Option<String>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Bool)]
    is_completo: bool,
    #[diesel(sql_type = Bool)]
    is_deleted: bool,
    #[diesel(sql_type = Nullable<Text>)]
    integrity_hash: Option<String>,
    #[diesel(sql_type = BigInt)]
    autosave_sequence: i64,
    #[diesel(sql_type = Nullable<Text>)]
    raw_payload: Option<String>,
    #[diesel(sql_type = Text)]
    created_at: String,
    #[diesel(sql_type = Text)]
    updated_at: String,
    #[diesel(sql_type = Nullable<Text>)]
    last_autosave_at: Option<String>,
    #[diesel(sql_type = Text)]
    last_activity_at: String,
    #[diesel(sql_type = Nullable<Text>)]
    submitted_for_review_at: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    submitted_by_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    reviewed_by_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    review_notes: Option<String>,
}

#[derive(QueryableByName)]
struct SnapshotRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    pop_id: i64,
    #[diesel(sql_type = BigInt)]
    sequence: i64,
    #[diesel(sql_type = BigInt)]
    versao: i64,
    #[diesel(sql_type = BigInt)]
    autosave_sequence: i64,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    integrity_hash: Option<String>,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Bool)]
    milestone: bool,
    #[diesel(sql_type = Nullable<Text>)]
    milestone_label: Option<String>,
    #[diesel(sql_type = Text)]
    created_at: String,
}

#[derive(QueryableByName)]
struct ChangeRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    pop_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    user_id: Option<i64>,
    #[diesel(sql_type = Text)]
    field_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    old_value: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    new_value: Option<String>,
    #[diesel(sql_type = BigInt)]
    autosave_sequence: i64,
    #[diesel(sql_type = Text)]
    created_at: String,
}

#[derive(QueryableByName)]
struct AreaRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    codigo: String,
    #[diesel(sql_type = Text)]
    nome: String,
    #[diesel(sql_type = Nullable<Text>)]
    nome_curto: Option<String>,
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Nullable<Text>)]
    prefixo: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    ordem: Option<i64>,
    #[diesel(sql_type = Bool)]
    ativo: bool,
    #[diesel(sql_type = Nullable<Text>)]
    descricao: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    area_pai_id: Option<i64>,
    #[diesel(sql_type = Text)]
    created_at: String,
    #[diesel(sql_type = Text)]
    updated_at: String,
}

#[derive(QueryableByName)]
struct ProfileRow {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    role: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    area_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    access_status: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    email_verified: Option<bool>,
}

#[derive(QueryableByName)]
struct VersionRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    pop_id: i64,
    #[diesel(sql_type = BigInt)]
    versao: i64,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Nullable<Text>)]
    integrity_hash: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    published_by_id: Option<i64>,
    #[diesel(sql_type = Text)]
    published_at: String,
    #[diesel(sql_type = Nullable<Text>)]
    motivo: Option<String>,
    #[diesel(sql_type = Bool)]
    is_current: bool,
}

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Whether the database has `table` (the later versions added tables the earlier lack).
fn has_table(conn: &mut SqliteConnection, table: &str) -> anyhow::Result<bool> {
    let rows = diesel::sql_query(
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
    )
    .bind::<Text, _>(table)
    .load::<Present>(conn)
    .context("cannot read the legacy schema")?;
    Ok(rows.first().is_some_and(|r| r.n > 0))
}

/// Whether `table` has `column` (the later versions added columns to `processos_pop`).
fn has_column(conn: &mut SqliteConnection, table: &str, column: &str) -> anyhow::Result<bool> {
    let rows = diesel::sql_query("SELECT count(*) AS n FROM pragma_table_info(?) WHERE name = ?")
        .bind::<Text, _>(table)
        .bind::<Text, _>(column)
        .load::<Present>(conn)
        .context("cannot read the legacy schema")?;
    Ok(rows.first().is_some_and(|r| r.n > 0))
}

/// A `file:` URI that opens `path` read-only (the legacy database is never written).
fn read_only_uri(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .context("the legacy database path is not valid UTF-8")?;
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '?' => escaped.push_str("%3f"),
            '#' => escaped.push_str("%23"),
            _ => escaped.push(c),
        }
    }
    Ok(format!("file:{escaped}?mode=ro"))
}

/// Reads every user, POP, snapshot and change-log row of a Django SQLite database.
pub fn read(path: &Path) -> anyhow::Result<LegacyData> {
    let mut conn = SqliteConnection::establish(&read_only_uri(path)?)
        .with_context(|| format!("cannot open {} as SQLite", path.display()))?;
    let query_err = |table: &str, e: diesel::result::Error| {
        anyhow::Error::new(e).context(format!("cannot read {table} from {}", path.display()))
    };
    let users = diesel::sql_query(
        "SELECT id, username, email, password, is_staff, is_superuser, is_active, \
         date_joined, last_login FROM auth_user ORDER BY id",
    )
    .load::<UserRow>(&mut conn)
    .map_err(|e| query_err("auth_user", e))?;
    // The review columns of the later versions, each read when the database has it.
    let mut review = Vec::new();
    for column in [
        "submitted_for_review_at",
        "submitted_by_id",
        "reviewed_by_id",
        "review_notes",
    ] {
        review.push(if has_column(&mut conn, "processos_pop", column)? {
            column.to_owned()
        } else {
            format!("NULL AS {column}")
        });
    }
    let review = review.join(", ");
    let pops = diesel::sql_query(format!(
        "SELECT id, uuid, session_id, created_by_id, nome_usuario, area_codigo, area_nome, \
         macroprocesso, codigo_processo, nome_processo, processo_especifico, entrega_esperada, \
         dispositivos_normativos, sistemas_utilizados, operadores, pontos_atencao, etapas, \
         documentos_utilizados, fluxos_entrada, fluxos_saida, versao, mes_ano, data_aprovacao, \
         status, is_completo, is_deleted, integrity_hash, autosave_sequence, raw_payload, \
         created_at, updated_at, last_autosave_at, last_activity_at, {review} \
         FROM processos_pop ORDER BY id"
    ))
    .load::<PopRow>(&mut conn)
    .map_err(|e| query_err("processos_pop", e))?;
    let snapshots = diesel::sql_query(
        "SELECT id, pop_id, sequence, versao, autosave_sequence, status, integrity_hash, \
         payload, milestone, milestone_label, created_at \
         FROM processos_popsnapshot ORDER BY id",
    )
    .load::<SnapshotRow>(&mut conn)
    .map_err(|e| query_err("processos_popsnapshot", e))?;
    let changes = diesel::sql_query(
        "SELECT id, pop_id, user_id, field_name, old_value, new_value, autosave_sequence, \
         created_at FROM processos_popchangelog ORDER BY id",
    )
    .load::<ChangeRow>(&mut conn)
    .map_err(|e| query_err("processos_popchangelog", e))?;
    let areas = if has_table(&mut conn, "processos_area")? {
        diesel::sql_query(
            "SELECT id, codigo, nome, nome_curto, slug, prefixo, ordem, ativo, descricao, \
             area_pai_id, created_at, updated_at FROM processos_area ORDER BY id",
        )
        .load::<AreaRow>(&mut conn)
        .map_err(|e| query_err("processos_area", e))?
    } else {
        Vec::new()
    };
    let versions = if has_table(&mut conn, "processos_popversion")? {
        diesel::sql_query(
            "SELECT id, pop_id, versao, payload, integrity_hash, published_by_id, published_at, \
             motivo, is_current FROM processos_popversion ORDER BY id",
        )
        .load::<VersionRow>(&mut conn)
        .map_err(|e| query_err("processos_popversion", e))?
    } else {
        Vec::new()
    };
    let profiles = if has_table(&mut conn, "processos_userprofile")? {
        diesel::sql_query(
            "SELECT user_id, role, area_id, access_status, email_verified \
             FROM processos_userprofile ORDER BY user_id",
        )
        .load::<ProfileRow>(&mut conn)
        .map_err(|e| query_err("processos_userprofile", e))?
    } else {
        Vec::new()
    };
    Ok(LegacyData {
        profiles: profiles
            .into_iter()
            .map(|r| LegacyProfile {
                user_id: r.user_id,
                role: r.role.unwrap_or_else(|| "operator".into()),
                area_id: r.area_id,
                access_status: r.access_status.unwrap_or_else(|| "pending".into()),
                email_verified: r.email_verified.unwrap_or(false),
            })
            .collect(),
        areas: areas.into_iter().map(area).collect::<Result<_, _>>()?,
        versions: versions
            .into_iter()
            .map(version)
            .collect::<Result<_, _>>()?,
        users: users.into_iter().map(user).collect::<Result<_, _>>()?,
        pops: pops.into_iter().map(pop).collect::<Result<_, _>>()?,
        snapshots: snapshots
            .into_iter()
            .map(snapshot)
            .collect::<Result<_, _>>()?,
        changes: changes.into_iter().map(change).collect::<Result<_, _>>()?,
    })
}

fn user(r: UserRow) -> anyhow::Result<LegacyUser> {
    let place = |c: &str| at("auth_user", r.id, c);
    Ok(LegacyUser {
        date_joined: parse_datetime(&r.date_joined, &place("date_joined"))?,
        last_login: parse_opt_datetime(r.last_login.as_deref(), &place("last_login"))?,
        id: r.id,
        username: r.username,
        email: r.email,
        password: r.password,
        is_staff: r.is_staff,
        is_superuser: r.is_superuser,
        is_active: r.is_active,
    })
}

fn area(r: AreaRow) -> anyhow::Result<LegacyArea> {
    let place = |c: &str| at("processos_area", r.id, c);
    Ok(LegacyArea {
        ordem: int(r.ordem.unwrap_or(0), &place("ordem"))?,
        created_at: parse_datetime(&r.created_at, &place("created_at"))?,
        updated_at: parse_datetime(&r.updated_at, &place("updated_at"))?,
        id: r.id,
        codigo: r.codigo,
        nome: r.nome,
        nome_curto: r.nome_curto.unwrap_or_default(),
        slug: r.slug,
        prefixo: non_empty(r.prefixo),
        ativo: r.ativo,
        descricao: r.descricao.unwrap_or_default(),
        parent_id: r.area_pai_id,
    })
}

fn json_column(raw: Option<&str>, place: &str) -> anyhow::Result<Option<Value>> {
    raw.map(|text| parse_json_text(text, place)).transpose()
}

fn pop(r: PopRow) -> anyhow::Result<LegacyPop> {
    let place = |c: &str| at("processos_pop", r.id, c);
    let json = |raw: &Option<String>, c: &str| -> anyhow::Result<Value> {
        Ok(content_json(json_column(raw.as_deref(), &place(c))?))
    };
    let content = PopContent {
        nome_usuario: r.nome_usuario.clone().unwrap_or_default(),
        area_codigo: r.area_codigo.clone(),
        area_nome: r.area_nome.clone(),
        macroprocesso: r.macroprocesso.clone(),
        codigo_processo: r.codigo_processo.clone(),
        nome_processo: r.nome_processo.clone(),
        processo_especifico: r.processo_especifico.clone(),
        entrega_esperada: r.entrega_esperada.clone(),
        dispositivos_normativos: r.dispositivos_normativos.clone(),
        sistemas_utilizados: json(&r.sistemas_utilizados, "sistemas_utilizados")?.into(),
        operadores: r.operadores.clone(),
        pontos_atencao: r.pontos_atencao.clone(),
        etapas: json(&r.etapas, "etapas")?.into(),
        documentos_utilizados: json(&r.documentos_utilizados, "documentos_utilizados")?.into(),
        fluxos_entrada: json(&r.fluxos_entrada, "fluxos_entrada")?.into(),
        fluxos_saida: json(&r.fluxos_saida, "fluxos_saida")?.into(),
    };
    Ok(LegacyPop {
        id: r.id,
        uuid: parse_uuid(&r.uuid, &place("uuid"))?,
        session_id: r.session_id.clone(),
        created_by: r.created_by_id,
        content,
        versao: int(r.versao, &place("versao"))?,
        mes_ano: non_empty(r.mes_ano.clone()),
        data_aprovacao: parse_date(r.data_aprovacao.as_deref(), &place("data_aprovacao"))?,
        status: status(&r.status, &place("status"))?,
        is_completo: r.is_completo,
        is_deleted: r.is_deleted,
        integrity_hash: non_empty(r.integrity_hash.clone()),
        autosave_sequence: int(r.autosave_sequence, &place("autosave_sequence"))?,
        raw_payload: decode_raw_payload(json_column(
            r.raw_payload.as_deref(),
            &place("raw_payload"),
        )?),
        created_at: parse_datetime(&r.created_at, &place("created_at"))?,
        updated_at: parse_datetime(&r.updated_at, &place("updated_at"))?,
        last_autosave_at: parse_opt_datetime(
            r.last_autosave_at.as_deref(),
            &place("last_autosave_at"),
        )?,
        last_activity_at: parse_datetime(&r.last_activity_at, &place("last_activity_at"))?,
        review: LegacyReview {
            submitted_at: parse_opt_datetime(
                r.submitted_for_review_at.as_deref(),
                &place("submitted_for_review_at"),
            )?,
            submitted_by: r.submitted_by_id,
            reviewed_by: r.reviewed_by_id,
            notes: non_empty(r.review_notes),
        },
    })
}

fn snapshot(r: SnapshotRow) -> anyhow::Result<LegacySnapshot> {
    let place = |c: &str| at("processos_popsnapshot", r.id, c);
    Ok(LegacySnapshot {
        id: r.id,
        pop_id: r.pop_id,
        sequence: int(r.sequence, &place("sequence"))?,
        versao: int(r.versao, &place("versao"))?,
        autosave_sequence: int(r.autosave_sequence, &place("autosave_sequence"))?,
        status: status(&r.status, &place("status"))?,
        integrity_hash: non_empty(r.integrity_hash),
        payload: parse_json_text(&r.payload, &place("payload"))?,
        milestone: r.milestone,
        milestone_label: non_empty(r.milestone_label),
        created_at: parse_datetime(&r.created_at, &place("created_at"))?,
    })
}

fn version(r: VersionRow) -> anyhow::Result<LegacyVersion> {
    let place = |c: &str| at("processos_popversion", r.id, c);
    Ok(LegacyVersion {
        id: r.id,
        pop_id: r.pop_id,
        versao: int(r.versao, &place("versao"))?,
        payload: parse_json_text(&r.payload, &place("payload"))?,
        integrity_hash: non_empty(r.integrity_hash),
        published_by: r.published_by_id,
        published_at: parse_datetime(&r.published_at, &place("published_at"))?,
        motivo: r.motivo.unwrap_or_default(),
        is_current: r.is_current,
    })
}

fn change(r: ChangeRow) -> anyhow::Result<LegacyChange> {
    let place = |c: &str| at("processos_popchangelog", r.id, c);
    Ok(LegacyChange {
        id: r.id,
        pop_id: r.pop_id,
        user_id: r.user_id,
        old_value: json_column(r.old_value.as_deref(), &place("old_value"))?,
        new_value: json_column(r.new_value.as_deref(), &place("new_value"))?,
        autosave_sequence: int(r.autosave_sequence, &place("autosave_sequence"))?,
        created_at: parse_datetime(&r.created_at, &place("created_at"))?,
        field_name: r.field_name,
    })
}
