//! `users` and `api_tokens`: accounts, logins and bearer tokens.

use super::*;

/// The username of user `id`, if there is one.
pub async fn username_of(conn: &mut Conn<'_>, id: Option<i64>) -> Result<Option<String>, AppError> {
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(users_by_ids(conn, &[id])
        .await?
        .into_iter()
        .next()
        .map(|user| user.username))
}

/// Users by id (any order).
pub async fn users_by_ids(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<User>, AppError> {
    Ok(with_backend!(conn, |c| schema::users::table
        .filter(schema::users::id.eq_any(ids))
        .select(User::as_select())
        .load::<User>(c)
        .await)?)
}

/// A user by username.
pub async fn user_by_username(
    conn: &mut Conn<'_>,
    username: &str,
) -> Result<Option<User>, AppError> {
    Ok(with_backend!(conn, |c| schema::users::table
        .filter(schema::users::username.eq(username))
        .select(User::as_select())
        .first::<User>(c)
        .await
        .optional())?)
}

/// How many users exist.
pub async fn count_users(conn: &mut Conn<'_>) -> Result<i64, AppError> {
    Ok(with_backend!(conn, |c| schema::users::table
        .count()
        .get_result::<i64>(c)
        .await)?)
}

/// All users, by username.
pub async fn list_users(conn: &mut Conn<'_>) -> Result<Vec<User>, AppError> {
    Ok(with_backend!(conn, |c| schema::users::table
        .order(schema::users::username.asc())
        .select(User::as_select())
        .load::<User>(c)
        .await)?)
}

crate::db_row! {
    /// A user to insert.
    #[derive(Debug, Clone)]
    pub struct NewUser<'a> into users {
        /// Unique login name.
        pub username: &'a str,
        /// Password hash (`!` for none).
        pub password_hash: &'a str,
        /// Staff flag.
        pub is_staff: bool,
        /// Area the user reviews.
        pub area_codigo: Option<&'a str>,
        /// Creation time.
        pub created_at: DateTime<Utc>,
    }
}

/// Inserts a user.
pub async fn insert_user(conn: &mut Conn<'_>, new: &NewUser<'_>) -> Result<User, AppError> {
    Ok(with_backend!(conn, |c| diesel::insert_into(
        schema::users::table
    )
    .values(new)
    .returning(User::as_select())
    .get_result::<User>(c)
    .await)?)
}

/// An active user and its password hash, by username.
pub async fn user_credentials(
    conn: &mut Conn<'_>,
    username: &str,
) -> Result<Option<(User, String)>, AppError> {
    Ok(with_backend!(conn, |c| schema::users::table
        .filter(schema::users::username.eq(username))
        .filter(schema::users::is_active.eq(true))
        .select((User::as_select(), schema::users::password_hash))
        .first::<(User, String)>(c)
        .await
        .optional())?)
}

/// Records a successful login, replacing the password hash when given.
pub async fn record_login(
    conn: &mut Conn<'_>,
    user_id: i64,
    new_hash: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_backend!(conn, |c| {
        let target = schema::users::table.find(user_id);
        match new_hash {
            Some(hash) => {
                diesel::update(target)
                    .set((
                        schema::users::last_login_at.eq(now),
                        schema::users::password_hash.eq(hash),
                    ))
                    .execute(c)
                    .await
            }
            None => {
                diesel::update(target)
                    .set(schema::users::last_login_at.eq(now))
                    .execute(c)
                    .await
            }
        }
    })?;
    Ok(())
}

crate::db_row! {
    /// An API token to store: its digest, never the token.
    #[derive(Debug, Clone)]
    pub struct NewToken<'a> into api_tokens {
        /// Its owner.
        pub user_id: i64,
        /// SHA-256 of the token.
        pub token_hash: &'a str,
        /// What it is for.
        pub label: &'a str,
        /// When it was issued.
        pub created_at: DateTime<Utc>,
    }
}

/// Stores a token digest for a user.
pub async fn insert_token(conn: &mut Conn<'_>, new: &NewToken<'_>) -> Result<(), AppError> {
    with_backend!(conn, |c| diesel::insert_into(schema::api_tokens::table)
        .values(new)
        .execute(c)
        .await)?;
    Ok(())
}

/// The active user owning a token that is not revoked, with when the token was issued and last
/// used (whether it expired is for the caller to decide).
pub async fn user_by_token(
    conn: &mut Conn<'_>,
    digest: &str,
) -> Result<Option<(User, crate::auth::token::Usage)>, AppError> {
    let found = with_backend!(conn, |c| schema::api_tokens::table
        .inner_join(schema::users::table)
        .filter(schema::api_tokens::token_hash.eq(digest))
        .filter(schema::api_tokens::revoked_at.is_null())
        .filter(schema::users::is_active.eq(true))
        .select((
            User::as_select(),
            schema::api_tokens::created_at,
            schema::api_tokens::last_used_at,
        ))
        .first::<(User, DateTime<Utc>, Option<DateTime<Utc>>)>(c)
        .await
        .optional())?;
    Ok(found.map(|(user, created_at, last_used_at)| {
        (
            user,
            crate::auth::token::Usage {
                created_at,
                last_used_at,
            },
        )
    }))
}

/// Records that a token was used at `now`.
pub async fn touch_token(
    conn: &mut Conn<'_>,
    digest: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    with_backend!(conn, |c| Prepared(
        diesel::update(schema::api_tokens::table.filter(schema::api_tokens::token_hash.eq(digest)))
            .set(schema::api_tokens::last_used_at.eq(now))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Revokes one token; returns how many were revoked (0 or 1).
pub async fn revoke_token(
    conn: &mut Conn<'_>,
    digest: &str,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    Ok(with_backend!(conn, |c| diesel::update(
        schema::api_tokens::table
            .filter(schema::api_tokens::token_hash.eq(digest))
            .filter(schema::api_tokens::revoked_at.is_null())
    )
    .set(schema::api_tokens::revoked_at.eq(now))
    .execute(c)
    .await)?)
}

/// Revokes every token of a user; returns how many were revoked.
pub async fn revoke_user_tokens(
    conn: &mut Conn<'_>,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    Ok(with_backend!(conn, |c| diesel::update(
        schema::api_tokens::table
            .filter(schema::api_tokens::user_id.eq(user_id))
            .filter(schema::api_tokens::revoked_at.is_null())
    )
    .set(schema::api_tokens::revoked_at.eq(now))
    .execute(c)
    .await)?)
}
