//! `mapagov user`: create users, change their role and access, issue and revoke their API
//! tokens, list them.
//!
//! Tokens are printed once, as the last line of the output, and stored only as a hash.

use crate::auth::{self, NewAccount};
use crate::config::Config;
use crate::db::migrate::{self, Direction};
use crate::db::{queries, Db};
use crate::domain::users::{Role, UserChanges};
use crate::error::AppError;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Read;

/// Arguments of `mapagov user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: UserAction,
}

/// `mapagov user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user and print its first API token as the last line.
    Create {
        /// Login name.
        username: String,
        /// Staff see and act on every POP.
        #[arg(long)]
        staff: bool,
        /// Area code the user reviews (may read that area's POPs and move them through review).
        #[arg(long)]
        area: Option<String>,
        /// Read a password from standard input (for `login`); without it only tokens work.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an existing user's role (with its area), or approve or stop their access.
    Set {
        /// Login name.
        username: String,
        /// `operator` (reviews nothing), `area-manager` (reviews `--area`), `general-manager`
        /// (staff) or `admin` (staff and superuser), as in the legacy system.
        #[arg(long)]
        role: Option<String>,
        /// The area an area manager reviews (with `--role area-manager`).
        #[arg(long)]
        area: Option<String>,
        /// Let the user sign in (their access is approved).
        #[arg(long, conflicts_with = "suspend")]
        approve: bool,
        /// Stop the user from signing in (their tokens stop working too).
        #[arg(long)]
        suspend: bool,
    },
    /// Issue another API token for a user (printed as the last line).
    Token {
        /// Login name.
        username: String,
        /// A note on what the token is for.
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// List users.
    List,
    /// Revoke every API token of a user.
    RevokeTokens {
        /// Login name.
        username: String,
    },
}

/// The changes `user set` asks for; `BAD_USER_INPUT` when they do not fit together.
fn changes(
    role: Option<&str>,
    area: Option<String>,
    approve: bool,
    suspend: bool,
) -> Result<UserChanges, AppError> {
    let grants = match role {
        None if area.is_some() => {
            return Err(AppError::bad_input(
                "area",
                "--area goes with --role area-manager",
            ))
        }
        None => None,
        Some(raw) => {
            let role = Role::parse(raw).ok_or_else(|| {
                AppError::bad_input(
                    "role",
                    format!("`{raw}` is not operator, area-manager, general-manager or admin"),
                )
            })?;
            match (role, &area) {
                (Role::AreaManager, None) => {
                    return Err(AppError::bad_input(
                        "area",
                        "an area manager needs --area CODE",
                    ))
                }
                (Role::AreaManager, Some(_)) => {}
                (_, Some(_)) => {
                    return Err(AppError::bad_input(
                        "area",
                        "--area goes with --role area-manager",
                    ))
                }
                (_, None) => {}
            }
            Some(role.grants(area))
        }
    };
    let active = match (approve, suspend) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    if grants.is_none() && active.is_none() {
        return Err(AppError::bad_input(
            "role",
            "nothing to change: give --role, --approve or --suspend",
        ));
    }
    Ok(UserChanges { grants, active })
}

/// Runs `mapagov user`.
pub async fn run(config: &Config, args: UserArgs) -> anyhow::Result<()> {
    migrate::run(&config.database, Direction::Up).await?;
    let db = Db::connect(&config.database).await?;
    match args.action {
        UserAction::Create {
            username,
            staff,
            area,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut buffer = String::new();
                std::io::stdin()
                    .read_to_string(&mut buffer)
                    .context("cannot read the password")?;
                Some(buffer.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let (user, token) = auth::create_user(
                &db,
                NewAccount {
                    username,
                    password,
                    is_staff: staff,
                    area_codigo: area,
                },
            )
            .await?;
            println!(
                "created user {} (id {}{}); API token (shown once):",
                user.username,
                user.id,
                if user.is_staff { ", staff" } else { "" }
            );
            println!("{token}");
        }
        UserAction::Set {
            username,
            role,
            area,
            approve,
            suspend,
        } => {
            let changes = changes(role.as_deref(), area, approve, suspend)?;
            let user = crate::domain::users::update(&db, &username, &changes).await?;
            println!(
                "user {}: {}, {}, {}",
                user.username,
                if user.is_staff { "staff" } else { "not staff" },
                user.area_codigo
                    .as_deref()
                    .map_or_else(|| "reviews no area".to_owned(), |a| format!("reviews {a}")),
                match changes.active {
                    Some(true) => "may sign in",
                    Some(false) => "may not sign in",
                    None => "access unchanged",
                }
            );
        }
        UserAction::Token { username, label } => {
            let token = auth::issue_token(&db, &username, &label).await?;
            println!("new API token for {username} (shown once):");
            println!("{token}");
        }
        UserAction::List => {
            let mut pooled = db.get().await?;
            let users = queries::list_users(&mut pooled.conn()).await?;
            println!(
                "{:<6} {:<24} {:<6} {:<10} created",
                "id", "username", "staff", "area"
            );
            for u in users {
                println!(
                    "{:<6} {:<24} {:<6} {:<10} {}",
                    u.id,
                    u.username,
                    if u.is_staff { "yes" } else { "no" },
                    u.area_codigo.as_deref().unwrap_or("-"),
                    u.created_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
        UserAction::RevokeTokens { username } => {
            let revoked = auth::revoke_tokens(&db, &username).await?;
            println!("revoked {revoked} token(s) of {username}");
        }
    }
    Ok(())
}
