//! `GET /pops/{id}/pdf[?version=N]`: a POP's official document as PDF.
//!
//! The same bearer token and the same visibility as `pop(id)`: no token or an invalid one is 401
//! `UNAUTHENTICATED`; a POP the caller may not read is 404 `NOT_FOUND`, exactly as one that does
//! not exist. Without `version`, the current state is rendered, marked on every page as a draft
//! (or as archived) unless it is the published version in force. `version=N` renders published
//! version N as it was frozen (marked as archived unless it is the version in force); a POP
//! published before versions were stored answers its current state when that is version N.
//!
//! Rendering is deterministic, so the `ETag` (a digest of the input, computed before rendering)
//! answers `If-None-Match` with 304 without rendering. At most `PDF_MAX_CONCURRENT_RENDERS`
//! renders run at once, each on a blocking thread; a request that waits longer than
//! `REQUEST_TIMEOUT` for its turn is 503 `SERVICE_UNAVAILABLE`. Errors are JSON in the GraphQL
//! error shape (`{"errors": [{"message", "extensions": {"code"}}]}`).

use super::AppState;
use crate::config::PdfConfig;
use crate::db::models::Pop;
use crate::db::{queries, versions};
use crate::domain::{approval, pops, Actor, Status};
use crate::error::AppError;
use crate::pdf::{catalogue_url, PdfInput, Renderer};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Route of a POP's PDF.
pub const PDF_ROUTE: &str = "/pops/{id}/pdf";

/// The renderer, the bound on concurrent renders and the catalogue's address.
#[derive(Debug)]
pub struct PdfService {
    renderer: Arc<Renderer>,
    permits: Arc<Semaphore>,
    public_base_url: String,
}

impl PdfService {
    /// Loads the fonts; allows `config.max_concurrent_renders` renders at once.
    pub fn new(config: &PdfConfig) -> PdfService {
        PdfService {
            renderer: Arc::new(Renderer::new()),
            permits: Arc::new(Semaphore::new(config.max_concurrent_renders)),
            public_base_url: config.public_base_url.clone(),
        }
    }
}

/// The query string.
#[derive(Debug, Deserialize)]
pub struct PdfQuery {
    /// A published version number.
    version: Option<String>,
}

/// Serves a POP's PDF.
pub async fn pop_pdf(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<PdfQuery>,
    headers: HeaderMap,
) -> Response {
    match answer(&state, &id, query, &headers).await {
        Ok(response) => response,
        Err(err) => error_response(&err),
    }
}

async fn answer(
    state: &AppState,
    id: &str,
    query: PdfQuery,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let actor = actor(state, headers).await?;
    let public_id = pops::parse_public_id("id", id)?;
    let version = query
        .version
        .map(|raw| {
            raw.trim()
                .parse::<i32>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| AppError::bad_input("version", "not a version number (1, 2, …)"))
        })
        .transpose()?;
    let pop = pops::find(&state.db, &actor, public_id)
        .await?
        .ok_or(AppError::NotFound("POP"))?;
    let status = pop.meta.status;
    let input = match version {
        Some(versao) => published_input(state, &pop, status, versao).await?,
        None => {
            let approval = approval::last_approval(&state.db, &pop).await?;
            PdfInput::current(
                &pop.meta,
                &pop.content,
                approval,
                catalogue_url(&state.pdf.public_base_url, pop.meta.uuid),
            )?
        }
    };
    let etag = Renderer::etag(&input);
    let code = input.code.clone();
    if matches_etag(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, pdf_headers(&etag, None)).into_response());
    }
    let service = &state.pdf;
    let permits = Arc::clone(&service.permits);
    let permit = tokio::time::timeout(state.http.request_timeout, permits.acquire_owned())
        .await
        .map_err(|_| AppError::Unavailable)?
        .map_err(AppError::internal)?;
    let renderer = Arc::clone(&service.renderer);
    // The permit goes with the render: a client that hangs up does not free it early.
    let bytes = tokio::task::spawn_blocking(move || {
        let bytes = renderer.render(&input);
        drop(permit);
        bytes
    })
    .await
    .map_err(AppError::internal)??;
    let name = code
        .as_deref()
        .map(str::trim)
        .filter(|code| {
            !code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        })
        .map_or_else(
            || format!("pop-{}.pdf", pop.meta.uuid),
            |code| format!("pop-{code}.pdf"),
        );
    Ok((StatusCode::OK, pdf_headers(&etag, Some(&name)), bytes).into_response())
}

/// The input of published version `versao` of `pop`: the stored version when there is one, else
/// (POPs published before versions were stored, imported without them) the current state of a
/// published or archived POP whose version is `versao`.
async fn published_input(
    state: &AppState,
    pop: &Pop,
    status: Status,
    versao: i32,
) -> Result<PdfInput, AppError> {
    let url = catalogue_url(&state.pdf.public_base_url, pop.meta.uuid);
    let stored = {
        let mut pooled = state.db.get().await?;
        let mut conn = pooled.conn();
        match versions::find(&mut conn, pop.meta.id, Some(versao)).await? {
            Some(version) => {
                let publisher = queries::username_of(&mut conn, version.published_by_id).await?;
                Some((version, publisher))
            }
            None => None,
        }
    };
    if let Some((version, publisher)) = stored {
        return PdfInput::published(&version, publisher, url);
    }
    let in_force =
        matches!(status, Status::Published | Status::Archived) && pop.meta.versao == versao;
    if !in_force {
        return Err(AppError::NotFound("published version"));
    }
    let approval = approval::last_approval(&state.db, pop).await?;
    PdfInput::current(&pop.meta, &pop.content, approval, url)
}

/// The request's user, as for `/graphql`: a valid bearer token is required.
async fn actor(state: &AppState, headers: &HeaderMap) -> Result<Actor, AppError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AppError::Unauthenticated)?;
    let user = crate::auth::authenticate(&state.db, token, &state.http.tokens)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    Ok(Actor::from(&user))
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

fn pdf_headers(etag: &str, file_name: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    // Readable only with a token: shared caches must not keep it; browsers revalidate by ETag.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("authorization"));
    if let Some(name) = file_name {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pdf"),
        );
        if let Ok(value) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    headers
}

fn error_response(err: &AppError) -> Response {
    let code = err.code();
    let status = match code {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "BAD_USER_INPUT" => StatusCode::BAD_REQUEST,
        "SERVICE_UNAVAILABLE" | "STORAGE_FULL" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match err {
        AppError::Internal(detail) => {
            tracing::error!(detail = %detail, "GET /pops/{{id}}/pdf failed");
            crate::telemetry::sentry::report_internal("pop_pdf", detail);
            "internal error".to_owned()
        }
        AppError::NotFound("published version") => "no such published version of this POP \
             (see Pop.publishedVersions)"
            .to_owned(),
        other => other.message(),
    };
    let mut extensions = json!({"code": code});
    if let AppError::BadUserInput {
        field: Some(field), ..
    } = err
    {
        extensions["field"] = json!(field);
    }
    let mut response = (
        status,
        Json(json!({"errors": [{"message": message, "extensions": extensions}]})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}
