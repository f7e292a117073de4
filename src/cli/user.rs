//! `mapagov user`: create users, issue and revoke their API tokens, list them.
//!
//! Tokens are printed once, as the last line of the output, and stored only as a hash.

use crate::auth::{self, NewAccount};
use crate::config::Config;
use crate::db::migrate::{self, Direction};
use crate::db::{queries, Db};
use crate::error::AppError;
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

/// Runs `mapagov user`.
pub async fn run(config: &Config, args: UserArgs) -> Result<(), AppError> {
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
                    .map_err(|e| AppError::internal(format!("cannot read the password: {e}")))?;
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
