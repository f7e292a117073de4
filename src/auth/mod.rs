//! Accounts and authentication: users, passwords, API tokens, login limits.
//!
//! A request is authenticated by `Authorization: Bearer <token>`; the token's SHA-256 is looked up
//! with its user (active, token not revoked), or found in the process's [`cache`] of recently
//! authenticated tokens, which every revocation empties. What an authenticated user may do with a POP is
//! decided in [`crate::domain::access`].

pub mod cache;
pub mod limiter;
pub mod password;
pub mod token;

use crate::db::models::User;
use crate::db::queries::{self, NewToken, NewUser};
use crate::db::Db;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use password::Verdict;
use scoped_futures::ScopedFutureExt;

/// Longest accepted username.
pub const MAX_USERNAME: usize = 150;
/// Longest accepted password (argon2 takes any length; this bounds the work per attempt).
pub const MAX_PASSWORD: usize = 1024;

/// The authenticated user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// User id.
    pub id: i64,
    /// Username.
    pub username: String,
    /// Staff see and act on every POP.
    pub is_staff: bool,
    /// Area the user reviews.
    pub area_codigo: Option<String>,
    /// The areas the user reviews: `area_codigo` and every sub-area below it.
    pub reviewed_areas: Vec<String>,
    /// Digest of the token used for this request.
    pub token_digest: String,
}

/// Looks up the user of a bearer token; `None` for an unknown, revoked or expired token (see
/// [`token::Lifetime`]). Records the token's use at most once a minute ([`token::TOUCH_EVERY`]).
///
/// Never returns [`AppError::Internal`]: a failed lookup is logged with its detail and answered as
/// [`AppError::Unavailable`], whose message says nothing about the database.
pub async fn authenticate(
    db: &Db,
    bearer: &str,
    lifetime: &token::Lifetime,
) -> Result<Option<AuthUser>, AppError> {
    let now = Utc::now();
    let Some((user, usage)) = token_user(db, bearer, lifetime, now).await? else {
        return Ok(None);
    };
    if usage.needs_touch(now) {
        let digest = user.token_digest.clone();
        let written = db
            .write(|mut conn| {
                async move { queries::touch_token(&mut conn, &digest, now).await }.scope_boxed()
            })
            .await;
        match written {
            Ok(()) => db.token_cache().touched(&user.token_digest, now),
            // The request can still be served; the token just looks idle a little longer.
            Err(err) => {
                tracing::warn!(error = %err.message(), "could not record a token's last use")
            }
        }
    }
    Ok(Some(user))
}

/// The user of a bearer token valid at `now`, and the token's usage, without recording this use;
/// errors as for [`authenticate`].
pub async fn token_user(
    db: &Db,
    bearer: &str,
    lifetime: &token::Lifetime,
    now: DateTime<Utc>,
) -> Result<Option<(AuthUser, token::Usage)>, AppError> {
    user_by_digest(db, token::digest(bearer.trim()), lifetime, now).await
}

/// As [`token_user`], for the token whose digest is `digest` (an [`AuthUser::token_digest`]):
/// whether a token seen before is still valid, e.g. for an open subscription. Answered from the
/// [`cache`] when it can be.
pub async fn user_by_digest(
    db: &Db,
    digest: String,
    lifetime: &token::Lifetime,
    now: DateTime<Utc>,
) -> Result<Option<(AuthUser, token::Usage)>, AppError> {
    // A cached token that looks expired is looked up: another process may have recorded a
    // later use.
    let epoch = match db.token_cache().get(&digest) {
        Ok((user, usage)) if !lifetime.expired(usage, now) => return Ok(Some((user, usage))),
        Ok(_) => db.token_cache().epoch(),
        Err(epoch) => epoch,
    };
    let found = async {
        let mut pooled = db.get().await?;
        let mut conn = pooled.conn();
        let Some((user, usage)) = queries::user_by_token(&mut conn, &digest).await? else {
            return Ok(None);
        };
        // A reviewer of an area reviews its sub-areas too (one more query, only for reviewers).
        let reviewed = match &user.area_codigo {
            Some(area) => {
                let areas = crate::domain::areas::all(&mut conn).await?;
                let mut codes = crate::domain::areas::with_descendants(&areas, area);
                if codes.is_empty() {
                    // An area the table does not (or no longer) hold: still the POPs naming it.
                    codes.push(area.clone());
                }
                codes
            }
            None => Vec::new(),
        };
        Ok::<_, AppError>(Some((user, usage, reviewed)))
    }
    .await
    .map_err(|err| match err {
        AppError::Internal(detail) => {
            tracing::error!(error = %detail, "token lookup failed");
            crate::telemetry::sentry::report_internal("authenticate", &detail);
            AppError::Unavailable
        }
        other => other,
    })?;
    let found = found.map(|(user, usage, reviewed_areas)| {
        let user = AuthUser {
            id: user.id,
            username: user.username,
            is_staff: user.is_staff,
            area_codigo: user.area_codigo,
            reviewed_areas,
            token_digest: digest,
        };
        (user, usage)
    });
    if let Some((user, usage)) = &found {
        db.token_cache().store(epoch, user, *usage);
    }
    Ok(found.filter(|(_, usage)| !lifetime.expired(*usage, now)))
}

/// Checks a username and password; on success issues a new token (returned once) and replaces a
/// legacy password hash by an argon2id one. An unknown or inactive user, a user without a usable
/// password and a wrong password get the same answer after the same password-hash work.
pub async fn login(db: &Db, username: &str, password: &str) -> Result<(String, User), AppError> {
    let invalid = || AppError::BadUserInput {
        message: "invalid username or password".into(),
        field: None,
    };
    if username.is_empty()
        || username.chars().count() > MAX_USERNAME
        || password.len() > MAX_PASSWORD
    {
        return Err(invalid());
    }
    let found = {
        let mut pooled = db.get().await?;
        queries::user_credentials(&mut pooled.conn(), username).await?
    };
    // The same argon2 work whether the user exists, has a usable password or not: the time a
    // rejection takes says nothing about the account.
    let stored = found.as_ref().map(|(_, stored)| stored.clone());
    let password_owned = password.to_owned();
    let verdict =
        tokio::task::spawn_blocking(move || password::verify(stored.as_deref(), &password_owned))
            .await
            .map_err(AppError::internal)?;
    let Some((user, _)) = found else {
        return Err(invalid());
    };
    let new_hash = match verdict {
        Verdict::Rejected => return Err(invalid()),
        Verdict::Accepted => None,
        Verdict::AcceptedNeedsRehash => Some(hash_password(password).await?),
    };
    let token = token::generate();
    let digest = token::digest(&token);
    let user_id = user.id;
    db.write(|mut conn| {
        async move {
            let now = Utc::now();
            queries::record_login(&mut conn, user_id, new_hash.as_deref(), now).await?;
            queries::insert_token(
                &mut conn,
                &NewToken {
                    user_id,
                    token_hash: &digest,
                    label: "login",
                    created_at: now,
                },
            )
            .await
        }
        .scope_boxed()
    })
    .await?;
    Ok((token, user))
}

/// Revokes the token of the current request.
pub async fn logout(db: &Db, user: &AuthUser) -> Result<bool, AppError> {
    let digest = user.token_digest.clone();
    let revoked = db
        .write(|mut conn| {
            async move { queries::revoke_token(&mut conn, &digest, Utc::now()).await }.scope_boxed()
        })
        .await?;
    // Other processes hear of it from the database; this one forgets at once.
    db.token_cache().clear();
    Ok(revoked > 0)
}

/// Hashes a password off the async threads.
pub async fn hash_password(password: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// Login name.
    pub username: String,
    /// Password, if the user will log in with one (else only tokens work).
    pub password: Option<String>,
    /// Staff flag.
    pub is_staff: bool,
    /// Area the user reviews.
    pub area_codigo: Option<String>,
}

/// Creates a user and a first token (returned once).
pub async fn create_user(db: &Db, account: NewAccount) -> Result<(User, String), AppError> {
    let username = account.username.trim().to_owned();
    if username.is_empty() || username.chars().count() > MAX_USERNAME {
        return Err(AppError::bad_input(
            "username",
            format!("must be 1 to {MAX_USERNAME} characters"),
        ));
    }
    let password_hash = match &account.password {
        Some(p) if p.len() > MAX_PASSWORD => {
            return Err(AppError::bad_input("password", "too long"));
        }
        Some(p) if !p.is_empty() => hash_password(p).await?,
        _ => "!".to_owned(),
    };
    let token = token::generate();
    let digest = token::digest(&token);
    let user = db
        .write(|mut conn| {
            async move {
                let now = Utc::now();
                if queries::user_by_username(&mut conn, &username)
                    .await?
                    .is_some()
                {
                    return Err(AppError::bad_input(
                        "username",
                        format!("user {username} already exists"),
                    ));
                }
                let user = queries::insert_user(
                    &mut conn,
                    &NewUser {
                        username: &username,
                        password_hash: &password_hash,
                        is_staff: account.is_staff,
                        area_codigo: account.area_codigo.as_deref(),
                        created_at: now,
                    },
                )
                .await?;
                queries::insert_token(
                    &mut conn,
                    &NewToken {
                        user_id: user.id,
                        token_hash: &digest,
                        label: "created",
                        created_at: now,
                    },
                )
                .await?;
                Ok(user)
            }
            .scope_boxed()
        })
        .await?;
    Ok((user, token))
}

/// Issues another token for an existing user.
pub async fn issue_token(db: &Db, username: &str, label: &str) -> Result<String, AppError> {
    let token = token::generate();
    let digest = token::digest(&token);
    db.write(|mut conn| {
        async move {
            let user = queries::user_by_username(&mut conn, username)
                .await?
                .ok_or(AppError::NotFound("user"))?;
            queries::insert_token(
                &mut conn,
                &NewToken {
                    user_id: user.id,
                    token_hash: &digest,
                    label,
                    created_at: Utc::now(),
                },
            )
            .await
        }
        .scope_boxed()
    })
    .await?;
    Ok(token)
}

/// Revokes every token of a user; returns how many.
pub async fn revoke_tokens(db: &Db, username: &str) -> Result<usize, AppError> {
    let revoked = db
        .write(|mut conn| {
            async move {
                let user = queries::user_by_username(&mut conn, username)
                    .await?
                    .ok_or(AppError::NotFound("user"))?;
                queries::revoke_user_tokens(&mut conn, user.id, Utc::now()).await
            }
            .scope_boxed()
        })
        .await?;
    db.token_cache().clear();
    Ok(revoked)
}

/// When there is no user at all, creates the staff user `admin` (no password) and returns a
/// token for it; `None` when users already exist.
pub async fn bootstrap_admin(db: &Db) -> Result<Option<String>, AppError> {
    let existing = {
        let mut pooled = db.get().await?;
        queries::count_users(&mut pooled.conn()).await?
    };
    if existing > 0 {
        return Ok(None);
    }
    let (_, token) = create_user(
        db,
        NewAccount {
            username: "admin".into(),
            is_staff: true,
            ..Default::default()
        },
    )
    .await?;
    Ok(Some(token))
}
