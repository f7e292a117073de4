//! Users: reading them, and the roles of the legacy system as MapaGov grants them.
//!
//! MapaGov has two grants besides owning one's POPs: staff (may do anything with every POP) and
//! reviewer of one area (`area_codigo`: may read that area's POPs and move them through review).
//! The legacy roles map onto them as [`Role::grants`] says; `import-django` applies it to
//! `processos_userprofile` and `mapagov user set --role` to an existing user.

use crate::db::models::User;
use crate::db::queries;
use crate::db::{Conn, Db};
use crate::error::AppError;
use crate::with_backend;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use scoped_futures::ScopedFutureExt;

/// A user by username (on the read replica inside a query, when one is configured).
pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<User>, AppError> {
    let mut pooled = db.read().await?;
    queries::user_by_username(&mut pooled.conn(), username).await
}

/// The signed-in user's account, read from the primary: the token was checked there, and an
/// account created or renamed moments ago may not be on a replica yet.
pub async fn signed_in(db: &Db, username: &str) -> Result<Option<User>, AppError> {
    let mut pooled = db.get().await?;
    queries::user_by_username(&mut pooled.conn(), username).await
}

/// A role of the legacy system (`processos_userprofile.role`), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Writes their own POPs.
    Operator,
    /// Reviews the POPs of their area.
    AreaManager,
    /// Reviews every area.
    GeneralManager,
    /// Administers the system.
    Admin,
}

/// What a role grants here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// Staff: may do anything with every POP.
    pub is_staff: bool,
    /// Superuser (kept for the record; staff already may do everything here).
    pub is_superuser: bool,
    /// The area reviewed.
    pub area_codigo: Option<String>,
}

impl Role {
    /// The role of a stored or typed name (`area_manager` or `area-manager`).
    pub fn parse(raw: &str) -> Option<Role> {
        match raw.trim().replace('-', "_").as_str() {
            "operator" => Some(Role::Operator),
            "area_manager" => Some(Role::AreaManager),
            "general_manager" => Some(Role::GeneralManager),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// What the role grants, `area` being the user's area: an area manager reviews it; a general
    /// manager, who reviewed every area, is staff (who may also edit others' drafts: the nearest
    /// grant there is); an admin is staff and superuser; an operator reviews nothing (their area
    /// is not kept: here an area on a user means reviewing it).
    pub fn grants(self, area: Option<String>) -> Grants {
        match self {
            Role::Operator => Grants {
                is_staff: false,
                is_superuser: false,
                area_codigo: None,
            },
            Role::AreaManager => Grants {
                is_staff: false,
                is_superuser: false,
                area_codigo: area,
            },
            Role::GeneralManager => Grants {
                is_staff: true,
                is_superuser: false,
                area_codigo: None,
            },
            Role::Admin => Grants {
                is_staff: true,
                is_superuser: true,
                area_codigo: None,
            },
        }
    }
}

/// Changes to an existing user (`mapagov user set`); fields left `None` stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New grants (from a role).
    pub grants: Option<Grants>,
    /// Allow (`true`: access approved) or stop (`false`) the user's sign-in.
    pub active: Option<bool>,
}

/// Applies `changes` to the user `username` in one transaction; `NOT_FOUND` when there is none,
/// `BAD_USER_INPUT` for an area that does not exist. Returns the user as stored.
pub async fn update(db: &Db, username: &str, changes: &UserChanges) -> Result<User, AppError> {
    let user = db
        .write(|mut conn| {
            async move {
                let user = queries::user_by_username(&mut conn, username)
                    .await?
                    .ok_or(AppError::NotFound("user"))?;
                if let Some(grants) = &changes.grants {
                    if let Some(codigo) = &grants.area_codigo {
                        check_area(&mut conn, codigo).await?;
                    }
                    with_backend!(&mut conn, |c| diesel::update(
                        schema::users::table.find(user.id)
                    )
                    .set((
                        schema::users::is_staff.eq(grants.is_staff),
                        schema::users::is_superuser.eq(grants.is_superuser),
                        schema::users::area_codigo.eq(&grants.area_codigo),
                    ))
                    .execute(c)
                    .await)?;
                }
                if let Some(active) = changes.active {
                    with_backend!(&mut conn, |c| diesel::update(
                        schema::users::table.find(user.id)
                    )
                    .set(schema::users::is_active.eq(active))
                    .execute(c)
                    .await)?;
                }
                queries::user_by_username(&mut conn, username)
                    .await?
                    .ok_or(AppError::NotFound("user"))
            }
            .scope_boxed()
        })
        .await?;
    // This process's cached tokens; other processes hear of it through the database.
    db.token_cache().clear();
    Ok(user)
}

async fn check_area(conn: &mut Conn<'_>, codigo: &str) -> Result<(), AppError> {
    let known = super::areas::all(conn)
        .await?
        .iter()
        .any(|a| a.codigo == codigo);
    if known {
        Ok(())
    } else {
        Err(AppError::bad_input(
            "area",
            format!("there is no area `{codigo}` (see `areas`)"),
        ))
    }
}
