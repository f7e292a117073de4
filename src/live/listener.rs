//! The PostgreSQL listener: one connection per server process, outside the pool, that `LISTEN`s
//! on [`crate::db::events::CHANNEL`] and hands every notification to the [`Hub`], and on
//! [`crate::auth::cache::CHANNEL`], whose notifications empty the process's token cache. The
//! token cache is on only while this connection listens. With a read replica it also `LISTEN`s
//! on [`crate::db::replica::CHANNEL`], whose notifications record which user just wrote (see
//! [`crate::db::replica`]); the replica serves signed-in readers only while this connection
//! listens.
//!
//! It is a plain `tokio-postgres` connection opened with the pool's TLS rules
//! ([`crate::db::tls::PgConnector::connect_for_notifications`]), named `mapagov-listener` in
//! `pg_stat_activity`; `DB_CONN_MAX_AGE` does not apply to it. It is checked every
//! [`PING_EVERY`]; when it breaks (the backend terminated, PostgreSQL restarted, the network
//! dropped) it is opened again after a back-off of [`MIN_BACKOFF`] doubling up to
//! [`MAX_BACKOFF`], and every subscriber is then told to read what it may have missed
//! ([`Hint::Reconnected`]), so no event is lost, only delayed.
//!
//! `LISTEN` needs a session of its own: a connection pooler in transaction mode (PgBouncer's
//! `pool_mode = transaction`) cannot carry it. Point `DATABASE_URL` at PostgreSQL itself or at a
//! session-mode pool.

use super::limits::Stats;
use super::{Hint, Hub};
use crate::auth::cache::{self, TokenCache};
use crate::db::events::{parse_payload, CHANNEL};
use crate::db::replica::{self, Replica};
use crate::db::tls::{PgConnector, TlsSettings};
use std::sync::Arc;
use std::time::Duration;

/// First wait before reconnecting.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often the connection is checked with a query while no notification arrives.
pub const PING_EVERY: Duration = Duration::from_secs(3);
/// How long a check may take before the connection is given up.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// `application_name` of the listener's session.
pub const APPLICATION_NAME: &str = "mapagov-listener";

/// Who hears what the listener receives.
pub struct Ears {
    /// The subscribers of this process.
    pub hub: Arc<Hub>,
    /// The token cache, emptied by `mapagov_auth`.
    pub tokens: Arc<TokenCache>,
    /// The read replica's record of recent writers, if there is a replica.
    pub replica: Option<Arc<Replica>>,
    /// The live metrics.
    pub stats: Stats,
}

/// Starts the listener of `url` in the background, for as long as the process runs.
pub fn spawn(url: String, tls: TlsSettings, ears: Ears) {
    tokio::spawn(run(url, tls, ears));
}

async fn run(url: String, tls: TlsSettings, ears: Ears) {
    let Ears {
        hub,
        tokens,
        replica,
        stats,
    } = ears;
    let listening = |on: bool| {
        tokens.listening(on);
        if let Some(replica) = &replica {
            replica.listening(on);
        }
    };
    let confirmed = || {
        tokens.confirmed();
        if let Some(replica) = &replica {
            replica.confirmed();
        }
    };
    let connector = match PgConnector::new(tls) {
        Ok(connector) => connector,
        Err(err) => {
            // The pool uses the same settings and start-up checked them: not reached in practice.
            tracing::error!(error = %err, "the database listener cannot use the TLS settings");
            return;
        }
    };
    let mut backoff = MIN_BACKOFF;
    let mut connected_before = false;
    loop {
        match listen(&connector, &url, replica.is_some()).await {
            Ok((client, mut notifications)) => {
                if connected_before {
                    stats.listener_reconnects.inc();
                    tracing::info!("the database listener reconnected");
                }
                connected_before = true;
                backoff = MIN_BACKOFF;
                stats.listener_up.set(1);
                listening(true);
                // Writes committed while nobody listened: every subscriber reads the table.
                hub.publish_all(Hint::Reconnected);
                let mut ping = tokio::time::interval(PING_EVERY);
                ping.tick().await;
                loop {
                    tokio::select! {
                        notification = notifications.recv() => match notification {
                            Some(notification) if notification.channel() == cache::CHANNEL => {
                                tokens.clear();
                                confirmed();
                            }
                            Some(notification) if notification.channel() == replica::CHANNEL => {
                                let writer = replica::parse_payload(notification.payload());
                                if let (Some(replica), Some(user)) = (&replica, writer) {
                                    replica.wrote(user);
                                }
                            }
                            Some(notification) => {
                                if let Some((pop, sequence)) = parse_payload(notification.payload()) {
                                    hub.publish(pop, sequence);
                                }
                            }
                            None => break,
                        },
                        _ = ping.tick() => {
                            let alive = tokio::time::timeout(
                                PING_TIMEOUT,
                                client.simple_query("SELECT 1"),
                            )
                            .await;
                            if !matches!(alive, Ok(Ok(_))) {
                                break;
                            }
                            confirmed();
                        }
                    }
                }
                stats.listener_up.set(0);
                listening(false);
                tracing::warn!("lost the database listener's connection; reconnecting");
            }
            Err(err) => {
                tracing::warn!(error = %err, "the database listener could not connect");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Opens the listener's connection and starts listening (to the writers too, with a replica).
async fn listen(
    connector: &PgConnector,
    url: &str,
    writers: bool,
) -> Result<
    (
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::Notification>,
    ),
    String,
> {
    let (client, notifications) = connector
        .connect_for_notifications(url)
        .await
        .map_err(|err| err.to_string())?;
    let writers = if writers {
        format!("; LISTEN {}", replica::CHANNEL)
    } else {
        String::new()
    };
    client
        .batch_execute(&format!(
            "SET application_name = '{APPLICATION_NAME}'; LISTEN {CHANNEL}; LISTEN {}{writers}",
            cache::CHANNEL
        ))
        .await
        .map_err(|err| format!("LISTEN failed: {err}"))?;
    Ok((client, notifications))
}
