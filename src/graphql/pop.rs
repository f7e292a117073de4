//! POPs: the `Pop` type, the `pop`/`pops` queries and the autosave, status and delete mutations.

use super::content::{PopContent, PopContentTypedInput};
use super::pagination::{CountedConnection, PageArgs};
use super::scalars::{Date, DateTime};
use super::snapshot::SnapshotObject;
use super::user::UserObject;
use super::{actor, settings};
use crate::db::models::Pop;
use crate::db::queries::PopFilter;
use crate::db::Db;
use crate::domain::autosave::{self, AutosaveOutcome, AutosaveRequest};
use crate::domain::search;
use crate::domain::transition::ExpectedHash;
use crate::domain::{document, pops, workflow, Status};
use crate::error::AppError;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Json, Object, Result, SimpleObject, ID};
use serde_json::{Map, Value};

/// Workflow status of a POP.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::Status")]
pub enum PopStatus {
    /// Being written; autosaves are accepted.
    Draft,
    /// Submitted for review; autosaves are still accepted.
    InReview,
    /// Published: read-only, `versao` was incremented.
    Published,
    /// Withdrawn: read-only.
    Archived,
}

/// A POP (Procedimento Operacional Padrão): the current state of one mapped procedure.
pub struct PopObject(pub Pop);

/// The organisational area a POP belongs to.
#[derive(SimpleObject)]
pub struct Area {
    /// Area code, e.g. `COATE`.
    pub codigo: Option<String>,
    /// Area name.
    pub nome: Option<String>,
}

#[Object(name = "Pop")]
impl PopObject {
    /// Public id (UUID); stable across imports and backends, and the POP's global id (see `Node`).
    pub(crate) async fn id(&self) -> ID {
        super::node::GlobalId::Pop(self.0.meta.uuid.0).encode()
    }
    /// Id of the row in the legacy Django system, for imported POPs.
    async fn legacy_id(&self) -> Option<i64> {
        self.0.meta.legacy_id
    }
    /// The front end's editing session that created this POP.
    async fn session_id(&self) -> Option<&str> {
        self.0.meta.session_id.as_deref()
    }
    /// Workflow status.
    async fn status(&self) -> PopStatus {
        self.0.meta.status.into()
    }
    /// Why the POP has its status, when the status change that set it gave a reason (sending a POP back to DRAFT needs one: this is what the author should fix); `null` otherwise.
    async fn status_reason(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let loader = ctx.data::<DataLoader<super::loaders::StatusReasonLoader>>()?;
        loader.load_one(self.0.meta.id).await
    }
    /// Published version number (starts at 1, +1 on each publication).
    async fn versao(&self) -> i32 {
        self.0.meta.versao
    }
    /// Accepted writes so far; +1 on every autosave, restore and status change.
    async fn autosave_sequence(&self) -> i32 {
        self.0.meta.autosave_sequence
    }
    /// SHA-256 of `document` by the legacy rule; send it back as `expectedHash` on the next write.
    async fn integrity_hash(&self) -> &str {
        &self.0.meta.integrity_hash
    }
    /// Author name shown on the document.
    async fn nome_usuario(&self) -> &str {
        &self.0.content.nome_usuario
    }
    /// The area the POP belongs to.
    async fn area(&self) -> Area {
        Area {
            codigo: self.0.content.area_codigo.clone(),
            nome: self.0.content.area_nome.clone(),
        }
    }
    /// Macroprocess.
    async fn macroprocesso(&self) -> Option<&str> {
        self.0.content.macroprocesso.as_deref()
    }
    /// Process code (CAP), `AA.MM.PP.SS.III` such as `05.01.02.03.004`: unique among live POPs (see `capDuplicate`). POPs of the older system may hold free text such as `7.2.1.1.1`.
    async fn codigo_processo(&self) -> Option<&str> {
        self.0.content.codigo_processo.as_deref()
    }
    /// `true` when this POP shared its process code with a POP that held it first (data imported or kept from before codes were unique): the code stays in the document but is not this POP's, even if that POP is deleted since, until it is changed to a free one.
    async fn cap_duplicate(&self) -> bool {
        self.0.meta.cap_duplicate
    }
    /// Process name.
    async fn nome_processo(&self) -> Option<&str> {
        self.0.content.nome_processo.as_deref()
    }
    /// Specific process.
    async fn processo_especifico(&self) -> Option<&str> {
        self.0.content.processo_especifico.as_deref()
    }
    /// Expected deliverable.
    async fn entrega_esperada(&self) -> Option<&str> {
        self.0.content.entrega_esperada.as_deref()
    }
    /// Legal basis; items joined by ` | `.
    async fn dispositivos_normativos(&self) -> Option<&str> {
        self.0.content.dispositivos_normativos.as_deref()
    }
    /// Systems used (a JSON list).
    async fn sistemas(&self) -> Json<&Value> {
        Json(&self.0.content.sistemas_utilizados)
    }
    /// Operators; joined by `, `.
    async fn operadores(&self) -> Option<&str> {
        self.0.content.operadores.as_deref()
    }
    /// Points of attention.
    async fn pontos_atencao(&self) -> Option<&str> {
        self.0.content.pontos_atencao.as_deref()
    }
    /// Steps, stored faithfully as the front end sent them (a JSON list of objects).
    async fn etapas(&self) -> Json<&Value> {
        Json(&self.0.content.etapas)
    }
    /// Documents used (a JSON list; rows imported from the legacy system may hold a string).
    async fn documentos_utilizados(&self) -> Json<&Value> {
        Json(&self.0.content.documentos_utilizados)
    }
    /// Input flows (a JSON list).
    async fn fluxos_entrada(&self) -> Json<&Value> {
        Json(&self.0.content.fluxos_entrada)
    }
    /// Output flows (a JSON list).
    async fn fluxos_saida(&self) -> Json<&Value> {
        Json(&self.0.content.fluxos_saida)
    }
    /// `MM/YYYY` of the version, as the legacy system kept it.
    async fn mes_ano(&self) -> Option<&str> {
        self.0.meta.mes_ano.as_deref()
    }
    /// Approval date.
    async fn data_aprovacao(&self) -> Option<Date> {
        self.0.meta.data_aprovacao.map(Date)
    }
    /// Whether the author marked the POP complete.
    async fn is_completo(&self) -> bool {
        self.0.meta.is_completo
    }
    /// The legacy document: exactly what `integrityHash` covers, plus `uuid`.
    async fn document(&self) -> Result<Json<Box<serde_json::value::RawValue>>> {
        // Written straight from the row to JSON text, which the response then copies verbatim:
        // no `Value` tree built, converted to GraphQL's value and serialized again.
        let uuid = self.0.meta.uuid.to_string();
        let view = document::DocumentView::of(&self.0.meta, &self.0.content, &uuid);
        Ok(Json(serde_json::value::to_raw_value(&view)?))
    }
    /// The content of `document`, typed: steps, their decision scenarios, documents used, lists of strings.
    async fn content(&self) -> PopContent {
        PopContent::of(&document::document(&self.0.meta, &self.0.content))
    }
    /// Path of the POP's official document on this server (`/pops/{id}/pdf`): a PDF, fetched with the same bearer token. The current state unless published is marked as a draft on every page; add `?version=N` for published version N.
    async fn pdf_url(&self) -> String {
        crate::pdf::pdf_path(self.0.meta.uuid)
    }
    /// The front end's whole form state, as last sent; `null` after a restore (it described the content before), until the next autosave sends one.
    async fn raw_payload(&self) -> Option<Json<&Value>> {
        self.0.meta.raw_payload.as_ref().map(Json)
    }
    /// When the POP was created (UTC).
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.meta.created_at)
    }
    /// When the POP was last written (UTC).
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.meta.updated_at)
    }
    /// When the POP was last autosaved.
    async fn last_autosave_at(&self) -> Option<DateTime> {
        self.0.meta.last_autosave_at.map(DateTime)
    }
    /// When anything last happened to the POP.
    async fn last_activity_at(&self) -> DateTime {
        DateTime(self.0.meta.last_activity_at)
    }
    /// When the POP was soft-deleted, if it was.
    async fn deleted_at(&self) -> Option<DateTime> {
        self.0.meta.deleted_at.map(DateTime)
    }
    /// Who created the POP (its owner).
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        super::user::load(ctx, self.0.meta.created_by_id).await
    }
    /// The POP's published versions, newest first: the document frozen at each publication, with who published it, when and why.
    async fn published_versions(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<super::version::VersionObject>> {
        let loader = ctx.data::<DataLoader<super::loaders::VersionsLoader>>()?;
        let versions = loader.load_one(self.0.meta.id).await?.unwrap_or_default();
        Ok(versions
            .into_iter()
            .map(|version| super::version::VersionObject {
                pop_uuid: self.0.meta.uuid.0,
                version,
            })
            .collect())
    }
    /// The POP's snapshots, newest first; `totalCount` counts those the `kind` filter keeps.
    #[graphql(complexity = "super::pagination::cost(first, last, child_complexity)")]
    async fn snapshots(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "How many items from the start of the list: 0 to 100 (`BAD_USER_INPUT` outside), 20 when neither `first` nor `last` is given."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Items after this cursor (a `cursor` or `pageInfo.endCursor` of this list)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "How many items from the end of the list: 0 to 100 (`BAD_USER_INPUT` outside); not with `first` (`BAD_USER_INPUT`)."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Items before this cursor (a `cursor` or `pageInfo.startCursor` of this list)."
        )]
        before: Option<String>,
        #[graphql(
            desc = "Only snapshots taken for these reasons (one value or a list), e.g. `[BACKUP, STATUS_CHANGE]` for the versions people kept on purpose."
        )]
        kind: Option<Vec<super::snapshot::SnapshotKind>>,
    ) -> Result<CountedConnection<SnapshotObject>> {
        let request = PageArgs {
            after,
            before,
            first,
            last,
        }
        .resolve()?;
        let db = ctx.data::<Db>()?;
        let kinds: Option<Vec<crate::domain::SnapshotKind>> =
            kind.map(|kinds| kinds.into_iter().map(Into::into).collect());
        let (rows, total) =
            pops::snapshots(db, self.0.meta.id, kinds.as_deref(), &request.page).await?;
        Ok(request.connection(rows, total, |s| s.id, SnapshotObject))
    }
}

/// The area part of `PopContentInput`; fields left out are not changed.
#[derive(InputObject, Debug, Default)]
pub struct AreaInput {
    /// Area code.
    pub codigo: Option<String>,
    /// Area name.
    pub nome: Option<String>,
}

/// Content fields of a POP. Only the fields given (and not null) are changed.
#[derive(InputObject, Debug, Default)]
pub struct PopContentInput {
    /// Author name shown on the document.
    pub nome_usuario: Option<String>,
    /// Area.
    pub area: Option<AreaInput>,
    /// Macroprocess.
    pub macroprocesso: Option<String>,
    /// Process code (CAP), `AA.MM.PP.SS.III`. `createPop` requires that form (under the area's prefix when the area is known and has one); an autosave keeps other text as it is (a code being typed) and claims only a complete code. A code another live POP holds is `BAD_USER_INPUT`.
    pub codigo_processo: Option<String>,
    /// Process name.
    pub nome_processo: Option<String>,
    /// Specific process.
    pub processo_especifico: Option<String>,
    /// Expected deliverable.
    pub entrega_esperada: Option<String>,
    /// Legal basis; items joined by ` | `.
    pub dispositivos_normativos: Option<String>,
    /// Systems used: a JSON list.
    pub sistemas: Option<Json<Value>>,
    /// Operators; joined by `, `.
    pub operadores: Option<String>,
    /// Points of attention.
    pub pontos_atencao: Option<String>,
    /// Steps: a JSON list of objects (unknown keys are kept).
    pub etapas: Option<Json<Value>>,
    /// Documents used: a JSON list.
    pub documentos_utilizados: Option<Json<Value>>,
    /// Input flows: a JSON list.
    pub fluxos_entrada: Option<Json<Value>>,
    /// Output flows: a JSON list.
    pub fluxos_saida: Option<Json<Value>>,
}

impl PopContentInput {
    /// The fields given, by legacy column name, with list fields checked.
    fn into_fields(self) -> Result<Map<String, Value>, AppError> {
        let mut fields = Map::new();
        let mut text = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                fields.insert(name.into(), Value::String(v));
            }
        };
        text("nome_usuario", self.nome_usuario);
        if let Some(area) = self.area {
            text("area_codigo", area.codigo);
            text("area_nome", area.nome);
        }
        text("macroprocesso", self.macroprocesso);
        text("codigo_processo", self.codigo_processo);
        text("nome_processo", self.nome_processo);
        text("processo_especifico", self.processo_especifico);
        text("entrega_esperada", self.entrega_esperada);
        text("dispositivos_normativos", self.dispositivos_normativos);
        text("operadores", self.operadores);
        text("pontos_atencao", self.pontos_atencao);
        for (name, input, value, objects) in [
            ("sistemas_utilizados", "sistemas", self.sistemas, false),
            ("etapas", "etapas", self.etapas, true),
            (
                "documentos_utilizados",
                "documentosUtilizados",
                self.documentos_utilizados,
                false,
            ),
            (
                "fluxos_entrada",
                "fluxosEntrada",
                self.fluxos_entrada,
                false,
            ),
            ("fluxos_saida", "fluxosSaida", self.fluxos_saida, false),
        ] {
            let Some(Json(value)) = value else { continue };
            if value.is_null() {
                continue;
            }
            let field = format!("input.content.{input}");
            let items = value
                .as_array()
                .ok_or_else(|| AppError::bad_input(&field, "must be a JSON list"))?;
            if objects {
                if let Some(index) = items.iter().position(|item| !item.is_object()) {
                    return Err(AppError::bad_input(
                        format!("{field}.{index}"),
                        "each step must be a JSON object",
                    ));
                }
            }
            fields.insert(name.into(), value);
        }
        Ok(fields)
    }
}

/// An autosave from the editor.
#[derive(InputObject, Debug)]
pub struct AutosavePopInput {
    /// The POP to save. Without it (the legacy way), the caller's POPs of `sessionId` decide: none, a new draft is created; exactly one that can still be edited, that one; otherwise `POP_ID_REQUIRED` (send `popId`, or call `createPop` for a new POP).
    pub pop_id: Option<ID>,
    /// The editing session of the front end.
    pub session_id: String,
    /// The `integrityHash` the client last received. If the POP has changed since, the save is merged into the newer version when it can be (see `baseSequence` and `onStale`), else refused with `CONFLICT`. Required for a save into an existing POP when the server says so (`EXPECTED_HASH_REQUIRED`).
    pub expected_hash: Option<String>,
    /// The `autosaveSequence` received with `expectedHash`: the version being edited. With it, a stale save whose changes do not overlap the changes made since is merged (see the README's merge rules); without it, a stale save is refused with `CONFLICT`.
    pub base_sequence: Option<i32>,
    /// What to do when the POP changed since `expectedHash` (default `MERGE`).
    #[graphql(default)]
    pub on_stale: OnStaleInput,
    /// The fields to change.
    pub content: Option<PopContentInput>,
    /// The fields to change, typed (steps, documents used, lists of strings), and the fields to clear; a field goes in `content` or here, not both.
    pub typed_content: Option<PopContentTypedInput>,
    /// The front end's whole form state (kept as sent).
    pub raw_payload: Option<Json<Value>>,
    /// Any unique string (e.g. a UUID per save attempt): a retry with the same key and input returns the first result without writing again.
    pub idempotency_key: Option<String>,
}

/// A new POP, created on purpose.
#[derive(InputObject, Debug)]
pub struct CreatePopInput {
    /// The editing session of the front end (the new POP's `sessionId`); a session may hold several POPs.
    pub session_id: String,
    /// The initial content (fields left out start empty).
    pub content: Option<PopContentInput>,
    /// The initial content, typed (steps, documents used, lists of strings); a field goes in `content` or here, not both.
    pub typed_content: Option<PopContentTypedInput>,
    /// The front end's whole form state (kept as sent).
    pub raw_payload: Option<Json<Value>>,
    /// Any unique string (e.g. a UUID per "new POP" click): a retry with the same key and input returns the first result (the same POP) without creating another.
    pub idempotency_key: Option<String>,
    /// Give the POP the next free process code (CAP) at this position of its area: `MM.PP.SS` (macroprocess, process and sub-process, two digits each). The code is the area's prefix, the position and the next free activity number among the live POPs there (`05.01.02.03.004`). Needs `content.area.codigo` naming an area with a CAP prefix; not with `content.codigoProcesso`.
    pub process_position: Option<String>,
}

/// The result of `autosavePop` and `createPop`.
#[derive(SimpleObject)]
pub struct AutosavePayload {
    /// The POP after the autosave.
    pub pop: PopObject,
    /// `false` when nothing differed from the stored POP (nothing was written).
    pub changed: bool,
    /// The new hash: send it as `expectedHash` next time.
    pub integrity_hash: String,
    /// The sequence after this autosave.
    pub autosave_sequence: i32,
    /// Whether this autosave took a snapshot.
    pub snapshot_created: bool,
    /// The snapshot taken, if any.
    pub snapshot: Option<SnapshotObject>,
    /// Where this save's changes were merged into a version newer than its `expectedHash` (JSON Pointers into the POP document, e.g. `/etapas/2/descricao`); empty when the save was not stale.
    pub merged_paths: Vec<String>,
}

/// What an autosave does when the POP changed since its `expectedHash`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
#[graphql(name = "OnStale", remote = "crate::domain::rebase::OnStale")]
pub enum OnStaleInput {
    /// Merge the changes when they do not overlap the changes made since (needs `baseSequence`); overlaps are `CONFLICT` with `extensions.conflicts`.
    #[default]
    Merge,
    /// Refuse with `CONFLICT` whenever the POP changed (the behaviour before merging existed).
    Refuse,
}

/// The result of `changePopStatus`.
#[derive(SimpleObject)]
pub struct ChangeStatusPayload {
    /// The POP after the change.
    pub pop: PopObject,
    /// The snapshot taken on publication.
    pub snapshot: Option<SnapshotObject>,
}

/// POP queries.
#[derive(Default)]
pub struct PopQuery;

#[Object]
impl PopQuery {
    /// One POP by its public id (UUID, with or without hyphens); `null` when there is none. Soft-deleted POPs are returned too (see `deletedAt`).
    async fn pop(&self, ctx: &Context<'_>, id: ID) -> Result<Option<PopObject>> {
        let db = ctx.data::<Db>()?;
        let id = pops::parse_public_id("id", &id)?;
        Ok(pops::find(db, &actor(ctx)?, id).await?.map(PopObject))
    }

    /// POPs, newest first, filtered; soft-deleted ones only with `includeDeleted: true`. With `search`, most relevant first (then newest first). Filters combine with AND; only POPs the caller may read are ever listed.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::pagination::cost(first, last, child_complexity)")]
    async fn pops(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "How many items from the start of the list: 0 to 100 (`BAD_USER_INPUT` outside), 20 when neither `first` nor `last` is given."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Items after this cursor (a `cursor` or `pageInfo.endCursor` of this list)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "How many items from the end of the list: 0 to 100 (`BAD_USER_INPUT` outside); not with `first` (`BAD_USER_INPUT`)."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Items before this cursor (a `cursor` or `pageInfo.startCursor` of this list)."
        )]
        before: Option<String>,
        #[graphql(desc = "Only POPs in this status.")] status: Option<PopStatus>,
        #[graphql(desc = "Only POPs of this editing session.")] session_id: Option<String>,
        #[graphql(desc = "Only POPs of this area code.")] area: Option<String>,
        #[graphql(desc = "Only POPs created by this username.")] created_by: Option<String>,
        #[graphql(desc = "Include soft-deleted POPs.", default = false)] include_deleted: bool,
        #[graphql(
            desc = "Full-text search: only POPs whose process name, expected deliverable, legal \
                    basis, points of attention or step descriptions contain every word (accents \
                    ignored; on PostgreSQL any inflection of a word, Portuguese stemming, and \
                    common words ignored), most relevant first. Plain words only: quotes, \
                    `OR`, `-`, `*` are not operators. `BAD_USER_INPUT` if it has no letter or \
                    digit or more than 500 characters."
        )]
        search: Option<String>,
        #[graphql(
            desc = "Only POPs whose `document` contains this JSON object, as PostgreSQL's \
                    `jsonb @>` decides: every key given with a contained value, nested objects \
                    likewise, arrays contain the elements given in any order, scalars equal. \
                    E.g. `{\"area\": {\"codigo\": \"CGBEN\"}, \"sistemas\": [\"SEI\"]}`. \
                    `BAD_USER_INPUT` if it is not an object."
        )]
        document_contains: Option<Json<Value>>,
    ) -> Result<CountedConnection<PopObject>> {
        let search = search
            .map(|raw| search::parse("search", &raw))
            .transpose()?;
        let document_contains = document_contains
            .map(|Json(needle)| search::parse_needle("documentContains", needle))
            .transpose()?;
        let args = PageArgs {
            after,
            before,
            first,
            last,
        };
        let request = if search.is_some() {
            args.resolve_ranked()?
        } else {
            args.resolve()?
        };
        let db = ctx.data::<Db>()?;
        let created_by = match created_by {
            Some(username) => match crate::domain::users::find_by_username(db, &username).await? {
                Some(user) => Some(user.id),
                None => {
                    return Ok(request.connection(Vec::<Pop>::new(), 0, |p| p.meta.id, PopObject))
                }
            },
            None => None,
        };
        let filter = PopFilter {
            visible: actor(ctx)?.visibility(),
            status: status.map(Status::from),
            session_id,
            area_codigo: area,
            area_in: None,
            created_by,
            include_deleted,
            search,
            document_contains,
        };
        if filter.search.is_some() {
            let (rows, total) = pops::search(db, &filter, &request.page).await?;
            return Ok(request.ranked_connection(rows, total, |p| p.meta.id, PopObject));
        }
        let (rows, total) = pops::list(db, &filter, &request.page).await?;
        Ok(request.connection(rows, total, |p| p.meta.id, PopObject))
    }
}

/// POP mutations.
#[derive(Default)]
pub struct PopMutation;

#[Object]
impl PopMutation {
    /// Saves the editor's state: applies the fields given, bumps `autosaveSequence`, logs each changed field and takes a snapshot every `SNAPSHOT_EVERY` autosaves. A stale save with `baseSequence` is merged when its changes do not overlap (`mergedPaths`). Errors: `CONFLICT` (stale `expectedHash`; extensions carry `currentHash`, `autosaveSequence`, `updatedAt`, `changedBy`, and after a merge attempt `conflicts`: `path`, `base`, `server`, `client`, `changedBy`, `changedAt`), `BASE_UNAVAILABLE` (the version at `baseSequence` cannot be rebuilt: reload and reapply), `EXPECTED_HASH_REQUIRED`, `POP_ID_REQUIRED`, `POP_LOCKED`, `IDEMPOTENCY_KEY_REUSED`, `NOT_FOUND`, `BAD_USER_INPUT`.
    async fn autosave_pop(
        &self,
        ctx: &Context<'_>,
        input: AutosavePopInput,
    ) -> Result<AutosavePayload> {
        let db = ctx.data::<Db>()?;
        let pop_id = input
            .pop_id
            .as_deref()
            .map(|id| pops::parse_public_id("input.popId", id))
            .transpose()?;
        let request = AutosaveRequest {
            pop_id,
            session_id: input.session_id,
            expected_hash: input.expected_hash,
            base_sequence: input.base_sequence,
            on_stale: input.on_stale.into(),
            fields: content_fields(input.content, input.typed_content)?,
            raw_payload: input.raw_payload.map(|Json(v)| v),
            idempotency_key: input.idempotency_key,
            cap_position: None,
        };
        let outcome =
            autosave::autosave(db, &actor(ctx)?, request, settings(ctx)?.autosave).await?;
        Ok(AutosavePayload::from(outcome))
    }

    /// Creates a draft POP in `sessionId` with the content given (its history starts with one `CREATE` entry per field given). The only way to start a second POP in a session; idempotent with `idempotencyKey`. Errors: `IDEMPOTENCY_KEY_REUSED`, `DOCUMENT_TOO_LARGE`, `BAD_USER_INPUT`.
    async fn create_pop(
        &self,
        ctx: &Context<'_>,
        input: CreatePopInput,
    ) -> Result<AutosavePayload> {
        let db = ctx.data::<Db>()?;
        let request = AutosaveRequest {
            pop_id: None,
            session_id: input.session_id,
            expected_hash: None,
            base_sequence: None,
            on_stale: crate::domain::rebase::OnStale::default(),
            fields: content_fields(input.content, input.typed_content)?,
            raw_payload: input.raw_payload.map(|Json(v)| v),
            idempotency_key: input.idempotency_key,
            cap_position: input.process_position,
        };
        let outcome =
            autosave::create_pop(db, &actor(ctx)?, request, settings(ctx)?.autosave).await?;
        Ok(AutosavePayload::from(outcome))
    }

    /// Makes a new draft activity from a published or in-review POP: owned by the caller, in the source's area, with the source's content under the new `name`, fresh step ids, `versao` 0 and, when the source has a process code, the next free code among its siblings. Its history names the source (`cloned_from`). Every signed-in user may clone a published POP; an in-review one only whoever may read it. Errors: `NOT_FOUND` (a POP the caller may neither read nor clone), `BAD_USER_INPUT` (`name` under 5 or over 500 characters; `popId` of a POP, readable by the caller, that is neither published nor in review).
    async fn clone_pop(
        &self,
        ctx: &Context<'_>,
        pop_id: ID,
        #[graphql(desc = "The clone's activity name (`nomeProcesso`), 5 to 500 characters.")]
        name: String,
        #[graphql(desc = "The clone's editing session; a new one when left out.")]
        session_id: Option<String>,
    ) -> Result<PopObject> {
        let db = ctx.data::<Db>()?;
        let request = crate::domain::clone::CloneRequest {
            source: pops::parse_public_id("popId", &pop_id)?,
            name,
            session_id,
        };
        let limit = settings(ctx)?.autosave.max_document_bytes;
        let pop = crate::domain::clone::clone_pop(db, &actor(ctx)?, &request, limit).await?;
        Ok(PopObject(pop))
    }

    /// Moves a POP through the workflow: DRAFT → IN_REVIEW → PUBLISHED → ARCHIVED, and IN_REVIEW → DRAFT with a `reason`. Publishing increments `versao` and takes a snapshot. Anything else is `INVALID_TRANSITION`. With `expectedHash`, only the version the caller saw moves (`CONFLICT` if it changed since): nothing unseen is published. When the server sends mail (`SMTP_URL`), the author is e-mailed after a publication, a send-back (with the reason) or an archiving.
    async fn change_pop_status(
        &self,
        ctx: &Context<'_>,
        pop_id: ID,
        status: PopStatus,
        reason: Option<String>,
        #[graphql(
            desc = "The `integrityHash` of the version the caller reviewed; `CONFLICT` if the \
                    POP changed since. Required when the server says so (`EXPECTED_HASH_REQUIRED`)."
        )]
        expected_hash: Option<String>,
    ) -> Result<ChangeStatusPayload> {
        let db = ctx.data::<Db>()?;
        let pop_id = pops::parse_public_id("popId", &pop_id)?;
        let expected = ExpectedHash {
            hash: expected_hash.as_deref(),
            required: settings(ctx)?.autosave.require_expected_hash,
        };
        let (actor, to, reason) = (actor(ctx)?, status.into(), reason.as_deref());
        let changed = workflow::change_status(db, &actor, pop_id, to, reason, expected).await?;
        // Committed: tell the author (queued, never waited for).
        if let Some(notice) = crate::notify::Notice::status_changed(&changed.pop, to, reason) {
            ctx.data::<crate::notify::Notifier>()?.notify(notice);
        }
        Ok(ChangeStatusPayload {
            pop: PopObject(changed.pop),
            snapshot: changed.snapshot.map(SnapshotObject),
        })
    }

    /// Soft-deletes a POP: it disappears from `pops` (unless `includeDeleted`) but keeps its history. Published POPs must be archived instead (`POP_LOCKED`). With `expectedHash`, only the version the caller saw is deleted (`CONFLICT` otherwise).
    async fn delete_pop(
        &self,
        ctx: &Context<'_>,
        pop_id: ID,
        #[graphql(
            desc = "The `integrityHash` of the version the caller saw; `CONFLICT` if the POP \
                    changed since. Required when the server says so (`EXPECTED_HASH_REQUIRED`)."
        )]
        expected_hash: Option<String>,
    ) -> Result<PopObject> {
        let db = ctx.data::<Db>()?;
        let pop_id = pops::parse_public_id("popId", &pop_id)?;
        let expected = ExpectedHash {
            hash: expected_hash.as_deref(),
            required: settings(ctx)?.autosave.require_expected_hash,
        };
        Ok(PopObject(
            workflow::delete(db, &actor(ctx)?, pop_id, expected).await?,
        ))
    }
}

/// The fields, by column name, of the optional `content` and `typedContent` inputs together.
fn content_fields(
    content: Option<PopContentInput>,
    typed: Option<PopContentTypedInput>,
) -> Result<Map<String, Value>, AppError> {
    let mut fields = content
        .map(PopContentInput::into_fields)
        .transpose()?
        .unwrap_or_default();
    if let Some(typed) = typed {
        typed.add_to(&mut fields, "input.typedContent")?;
    }
    Ok(fields)
}

impl From<AutosaveOutcome> for AutosavePayload {
    fn from(outcome: AutosaveOutcome) -> Self {
        AutosavePayload {
            pop: PopObject(outcome.pop),
            changed: outcome.changed,
            integrity_hash: outcome.integrity_hash,
            autosave_sequence: outcome.autosave_sequence,
            snapshot_created: outcome.snapshot.is_some(),
            snapshot: outcome.snapshot.map(SnapshotObject),
            merged_paths: outcome.merged_paths,
        }
    }
}
