//! The one error type of MapaGov and its stable GraphQL `extensions.code` values.
//!
//! Policy: every variant but [`AppError::Internal`] is safe to show a client and says what to do
//! about it. Internal errors (database failures, bugs) are logged with their detail and reach the
//! client only as `INTERNAL_SERVER_ERROR` with a generic message. The README's error catalogue
//! lists the same codes as [`AppError::code`].

use async_graphql::ErrorExtensions;
use chrono::{DateTime, Utc};

/// Everything that can go wrong while serving a request or running a command.
#[derive(Debug)]
pub enum AppError {
    /// The thing does not exist (or the caller may not know it exists).
    NotFound(&'static str),
    /// Input that fails validation; `field` is the input path at fault, when there is one.
    BadUserInput {
        /// What is wrong, in words a client developer can act on.
        message: String,
        /// Input path, e.g. `input.content.etapas`.
        field: Option<String>,
    },
    /// A JSON Pointer of a partial restore that cannot be used (`extensions.field` is `paths`,
    /// `extensions.path` the pointer).
    BadPath {
        /// The pointer as given.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The client's `expectedHash` is not the stored one: someone else saved first.
    Conflict {
        /// The hash now stored.
        current_hash: String,
        /// The autosave sequence now stored.
        autosave_sequence: i32,
        /// When the stored version was written.
        updated_at: DateTime<Utc>,
        /// Who wrote the stored version (username; `None` for the system or imported data).
        changed_by: Option<String>,
    },
    /// A write to an existing POP came without `expectedHash` while `REQUIRE_EXPECTED_HASH` is on.
    ExpectedHashRequired {
        /// The input path of the missing hash, e.g. `input.expectedHash`.
        field: String,
    },
    /// An autosave without `popId` that cannot tell which POP it is for (its session has several,
    /// or only one that can no longer be edited).
    PopIdRequired {
        /// Why, and what to do instead.
        message: String,
    },
    /// A stale autosave changed the same places as someone else since its base (see
    /// `domain::merge`); nothing was written. Code `CONFLICT`.
    MergeConflict {
        /// The hash now stored.
        current_hash: String,
        /// The autosave sequence now stored.
        autosave_sequence: i32,
        /// When the stored version was written.
        updated_at: DateTime<Utc>,
        /// One object per conflicting path: `path`, `base`, `server`, `client`, `changedBy`,
        /// `changedAt`, `changedAtSequence`.
        conflicts: Vec<serde_json::Value>,
    },
    /// The version a stale autosave was edited from cannot be rebuilt exactly (too old, or its
    /// hash does not match `baseSequence`), so it cannot be merged; nothing was written.
    BaseUnavailable {
        /// Why.
        reason: String,
        /// The hash now stored.
        current_hash: String,
        /// The autosave sequence now stored.
        autosave_sequence: i32,
        /// When the stored version was written.
        updated_at: DateTime<Utc>,
    },
    /// An idempotency key was sent again with a different request.
    IdempotencyKeyReused,
    /// The POP's status does not allow edits.
    PopLocked {
        /// The current status.
        status: String,
    },
    /// A status change the workflow does not allow.
    InvalidTransition {
        /// Current status.
        from: String,
        /// Requested status.
        to: String,
    },
    /// The POP's document would exceed `MAX_DOCUMENT_BYTES`.
    DocumentTooLarge {
        /// Size of the document, in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A request limit was exceeded (depth, complexity, batch size, body size, time, login rate);
    /// `code` says which.
    Limit {
        /// The stable code, e.g. `TOO_MANY_REQUESTS`.
        code: &'static str,
        /// What was exceeded.
        message: String,
    },
    /// No valid credentials.
    Unauthenticated,
    /// Authenticated, but not allowed.
    Forbidden,
    /// The database did not answer in time (pool exhausted, write lock busy, or unreachable).
    Unavailable,
    /// The connection to the database broke while the request used it (the server restarted or
    /// shut down, the network dropped, the backend was terminated). Retryable.
    ConnectionLost {
        /// Whether a write may have been applied: the connection broke during `COMMIT`, so only
        /// reading the current state can tell.
        outcome_unknown: bool,
    },
    /// The database's storage is full; nothing was written.
    StorageFull,
    /// Anything else: logged in full, never shown.
    Internal(String),
}

impl AppError {
    /// The message: what a client is told, or for `Internal`, the detail for logs.
    pub fn message(&self) -> String {
        match self {
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::BadUserInput { message, .. } => message.clone(),
            AppError::BadPath { path, message } => format!("path `{path}`: {message}"),
            AppError::Conflict { .. } => {
                "the POP changed since you loaded it (expected hash does not match)".into()
            }
            AppError::MergeConflict { conflicts, .. } => format!(
                "the POP changed since your base and {} of your changes overlap those changes \
                 (see extensions.conflicts); nothing was written",
                conflicts.len()
            ),
            AppError::BaseUnavailable { reason, .. } => format!(
                "your changes cannot be merged: {reason}; reload the POP and apply them again"
            ),
            AppError::ExpectedHashRequired { .. } => {
                "send the `integrityHash` of the version you saw as `expectedHash`: this server \
                 refuses writes to an existing POP without it (REQUIRE_EXPECTED_HASH)"
                    .into()
            }
            AppError::PopIdRequired { message } => message.clone(),
            AppError::IdempotencyKeyReused => {
                "this idempotency key was already used for a different request".into()
            }
            AppError::PopLocked { status } => format!("the POP is {status} and cannot be edited"),
            AppError::InvalidTransition { from, to } => {
                format!("cannot move a POP from {from} to {to}")
            }
            AppError::DocumentTooLarge { size, limit } => {
                format!("the POP document would be {size} bytes, over the limit of {limit} bytes")
            }
            AppError::Limit { message, .. } => message.clone(),
            AppError::Unauthenticated => {
                "authentication required: send `Authorization: Bearer <token>` (see `login`)".into()
            }
            AppError::Forbidden => "not allowed".into(),
            AppError::Unavailable => "the database is unavailable, try again shortly".into(),
            AppError::ConnectionLost {
                outcome_unknown: false,
            } => "the connection to the database was lost; nothing was written, try again".into(),
            AppError::ConnectionLost {
                outcome_unknown: true,
            } => "the connection to the database was lost while committing: the write may or may \
                  not have been applied; retry with the same idempotencyKey to get its result, or \
                  read the current state before writing again"
                .into(),
            AppError::StorageFull => {
                "the database's storage is full; nothing was written, try again later".into()
            }
            AppError::Internal(detail) => format!("internal error: {detail}"),
        }
    }

    /// Wraps an unexpected failure.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        AppError::Internal(err.to_string())
    }

    /// Invalid input at `field`.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadUserInput {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// Maps a pool error: a timeout is `Unavailable`, a failure to connect is logged as internal
    /// detail but also reported as `Unavailable`.
    pub fn from_pool<E: std::fmt::Display>(err: bb8::RunError<E>) -> Self {
        match err {
            bb8::RunError::TimedOut => AppError::Unavailable,
            bb8::RunError::User(e) => {
                tracing::warn!(error = %e, "database connection failed");
                AppError::Unavailable
            }
        }
    }

    /// The stable `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadUserInput { .. } | AppError::BadPath { .. } => "BAD_USER_INPUT",
            AppError::Conflict { .. } | AppError::MergeConflict { .. } => "CONFLICT",
            AppError::BaseUnavailable { .. } => "BASE_UNAVAILABLE",
            AppError::ExpectedHashRequired { .. } => "EXPECTED_HASH_REQUIRED",
            AppError::PopIdRequired { .. } => "POP_ID_REQUIRED",
            AppError::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            AppError::PopLocked { .. } => "POP_LOCKED",
            AppError::InvalidTransition { .. } => "INVALID_TRANSITION",
            AppError::DocumentTooLarge { .. } => "DOCUMENT_TOO_LARGE",
            AppError::Limit { code, .. } => code,
            AppError::Unauthenticated => "UNAUTHENTICATED",
            AppError::Forbidden => "FORBIDDEN",
            AppError::Unavailable | AppError::ConnectionLost { .. } => "SERVICE_UNAVAILABLE",
            AppError::StorageFull => "STORAGE_FULL",
            AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}

/// An [`AppError`] met by an operator command, as a standard error so that it can travel in an
/// [`anyhow::Error`] under the command's context. `AppError` itself has no `Display` (see the
/// module docs); this wrapper, which never reaches a GraphQL response, displays its message.
/// `?` wraps an `AppError` by itself; to add context first, `.map_err(CommandError).context(…)`.
/// The code stays readable: `err.downcast_ref::<CommandError>()`.
#[derive(Debug)]
pub struct CommandError(pub AppError);

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message())
    }
}

impl std::error::Error for CommandError {}

impl From<AppError> for anyhow::Error {
    fn from(err: AppError) -> Self {
        anyhow::Error::new(CommandError(err))
    }
}

/// The server-side detail of an internal error, carried as the GraphQL error's `source` so that
/// error reporting can see it; it is never serialized into a response.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        match err {
            diesel::result::Error::NotFound => AppError::NotFound("record"),
            other => match crate::db::fault::classify(&other) {
                Some(fault) => {
                    tracing::warn!(error = %other, "database fault");
                    fault.into()
                }
                None => AppError::Internal(with_causes(&other)),
            },
        }
    }
}

/// `err` and its causes, outermost first (diesel names the field it could not read and keeps
/// why as the cause). For the logs and operator commands: API answers never show it.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = inner.source();
    }
    text
}

impl From<diesel::ConnectionError> for AppError {
    fn from(err: diesel::ConnectionError) -> Self {
        tracing::warn!(error = %err, "database connection failed");
        AppError::Unavailable
    }
}

/// Codes an error raised without one. Every error of MapaGov's own, and of the request guards,
/// has its code where it arises; what is left is async-graphql's coercion of arguments and
/// variables during execution, coded by where it occurs: `BAD_USER_INPUT` at a field (a required
/// variable the request does not send, say), `GRAPHQL_VALIDATION_FAILED` for the whole
/// operation. Applied to every operation's errors on every transport (the operation metrics'
/// extension runs it before counting them) and once more to an HTTP answer.
pub fn code_uncoded(error: &mut async_graphql::ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if has_code {
        return;
    }
    let code = if error.path.is_empty() {
        "GRAPHQL_VALIDATION_FAILED"
    } else {
        "BAD_USER_INPUT"
    };
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        if let AppError::Internal(detail) = &err {
            tracing::error!(error = %detail, "internal error while serving a request");
            let mut gql = async_graphql::Error::new("internal server error")
                .extend_with(|_, e| e.set("code", "INTERNAL_SERVER_ERROR"));
            // Kept beside the error (never serialized) for error reporting.
            gql.source = Some(std::sync::Arc::new(InternalDetail(detail.clone())));
            return gql;
        }
        let code = err.code();
        async_graphql::Error::new(err.message()).extend_with(|_, e| {
            e.set("code", code);
            match &err {
                AppError::BadUserInput {
                    field: Some(field), ..
                } => e.set("field", field.as_str()),
                AppError::BadPath { path, .. } => {
                    e.set("field", "paths");
                    e.set("path", path.as_str());
                }
                AppError::Conflict {
                    current_hash,
                    autosave_sequence,
                    updated_at,
                    changed_by,
                } => {
                    stored_version(e, current_hash, *autosave_sequence, updated_at);
                    e.set("changedBy", changed_by.as_deref());
                }
                AppError::MergeConflict {
                    current_hash,
                    autosave_sequence,
                    updated_at,
                    conflicts,
                } => {
                    stored_version(e, current_hash, *autosave_sequence, updated_at);
                    e.set(
                        "conflicts",
                        async_graphql::Value::from_json(serde_json::Value::Array(
                            conflicts.clone(),
                        ))
                        .unwrap_or(async_graphql::Value::Null),
                    );
                }
                AppError::BaseUnavailable {
                    current_hash,
                    autosave_sequence,
                    updated_at,
                    ..
                } => {
                    stored_version(e, current_hash, *autosave_sequence, updated_at);
                }
                AppError::ExpectedHashRequired { field } => e.set("field", field.as_str()),
                // As the `PopStatus` enum spells it (`IN_REVIEW`), not as stored (`in_review`).
                AppError::PopLocked { status } => e.set("status", status.to_uppercase()),
                AppError::ConnectionLost { outcome_unknown } => {
                    e.set("writeOutcome", write_outcome(*outcome_unknown));
                }
                AppError::StorageFull => e.set("writeOutcome", write_outcome(false)),
                _ => {}
            }
        })
    }
}

/// The stored version a refused write is told about: its hash, sequence and time.
fn stored_version(
    e: &mut async_graphql::ErrorExtensionValues,
    current_hash: &str,
    autosave_sequence: i32,
    updated_at: &DateTime<Utc>,
) {
    e.set("currentHash", current_hash);
    e.set("autosaveSequence", autosave_sequence);
    e.set(
        "updatedAt",
        updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
}

/// `extensions.writeOutcome` of a fault: `NOT_APPLIED` (safe to retry as is) or `UNKNOWN`.
fn write_outcome(unknown: bool) -> &'static str {
    if unknown {
        "UNKNOWN"
    } else {
        "NOT_APPLIED"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extensions(err: AppError) -> serde_json::Value {
        let gql: async_graphql::Error = err.into();
        serde_json::to_value(gql.extensions).unwrap()
    }

    #[test]
    fn every_variant_has_its_code() {
        let cases = [
            (AppError::NotFound("POP"), "NOT_FOUND"),
            (AppError::bad_input("input.x", "bad"), "BAD_USER_INPUT"),
            (AppError::IdempotencyKeyReused, "IDEMPOTENCY_KEY_REUSED"),
            (
                AppError::ExpectedHashRequired {
                    field: "expectedHash".into(),
                },
                "EXPECTED_HASH_REQUIRED",
            ),
            (
                AppError::PopIdRequired {
                    message: "x".into(),
                },
                "POP_ID_REQUIRED",
            ),
            (
                AppError::PopLocked {
                    status: "published".into(),
                },
                "POP_LOCKED",
            ),
            (
                AppError::InvalidTransition {
                    from: "draft".into(),
                    to: "published".into(),
                },
                "INVALID_TRANSITION",
            ),
            (AppError::Unauthenticated, "UNAUTHENTICATED"),
            (AppError::Forbidden, "FORBIDDEN"),
            (AppError::Unavailable, "SERVICE_UNAVAILABLE"),
            (
                AppError::ConnectionLost {
                    outcome_unknown: true,
                },
                "SERVICE_UNAVAILABLE",
            ),
            (AppError::StorageFull, "STORAGE_FULL"),
            (
                AppError::MergeConflict {
                    current_hash: "h".into(),
                    autosave_sequence: 3,
                    updated_at: Utc::now(),
                    conflicts: vec![serde_json::json!({"path": "/pontos_atencao"})],
                },
                "CONFLICT",
            ),
            (
                AppError::BaseUnavailable {
                    reason: "too old".into(),
                    current_hash: "h".into(),
                    autosave_sequence: 3,
                    updated_at: Utc::now(),
                },
                "BASE_UNAVAILABLE",
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code);
            assert_eq!(extensions(err)["code"], code);
        }
    }

    #[test]
    fn conflict_carries_the_server_state() {
        let at = Utc::now();
        let ext = extensions(AppError::Conflict {
            current_hash: "abc".into(),
            autosave_sequence: 7,
            updated_at: at,
            changed_by: Some("maria".into()),
        });
        assert_eq!(ext["code"], "CONFLICT");
        assert_eq!(ext["currentHash"], "abc");
        assert_eq!(ext["autosaveSequence"], 7);
        assert_eq!(ext["changedBy"], "maria");
        assert_eq!(
            ext["updatedAt"],
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
    }

    #[test]
    fn faults_say_whether_a_write_may_have_happened() {
        let lost = |unknown| {
            extensions(AppError::ConnectionLost {
                outcome_unknown: unknown,
            })
        };
        assert_eq!(lost(false)["writeOutcome"], "NOT_APPLIED");
        assert_eq!(lost(true)["writeOutcome"], "UNKNOWN");
        assert_eq!(
            extensions(AppError::StorageFull)["writeOutcome"],
            "NOT_APPLIED"
        );
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let gql: async_graphql::Error =
            AppError::internal("relation pops does not exist; password=hunter2").into();
        assert_eq!(gql.message, "internal server error");
        let ext = serde_json::to_value(gql.extensions).unwrap();
        assert_eq!(ext["code"], "INTERNAL_SERVER_ERROR");
        assert!(!ext.to_string().contains("hunter2"));
    }
}
