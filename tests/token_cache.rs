//! The token cache on PostgreSQL (`src/auth/cache.rs`): a signed-in request costs no token
//! lookup, yet a token revoked or a user deactivated by anyone (here: plain SQL on another
//! connection, as `mapagov user` or an administrator's psql would) is refused as soon as the
//! notification arrives, and nothing is trusted while the server's listener is down. (SQLite has
//! no cache: every request looks its token up, as the rest of the suite shows.)
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, Client, TestServer};
use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use std::time::{Duration, Instant};

const ME: &str = "{ me { username } }";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Revokes the tokens of `tester` (the test server's signed-in user) behind the server's back.
const REVOKE_TESTER: &str = "UPDATE api_tokens SET revoked_at = now() \
    WHERE user_id = (SELECT id FROM users WHERE username = 'tester')";

async fn run(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).await.unwrap();
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap()
        .n
}

fn database_name(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned()
}

/// Whether `client`'s token is accepted now.
async fn accepted(client: &Client) -> bool {
    client.gql(ME, json!({})).await["data"]["me"]["username"].is_string()
}

/// Polls until `client` is refused; how long that took.
async fn refused_within(client: &Client, limit: Duration) -> Duration {
    let started = Instant::now();
    while accepted(client).await {
        assert!(
            started.elapsed() < limit,
            "still accepted {limit:?} after the change"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// Token lookups the server ran, from the statement log of its database.
fn token_lookups(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("LOG:  execute ") && l.contains("FROM (\"api_tokens\""))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_token_costs_no_lookup_and_any_revocation_ends_it() {
    let Some(cluster) = common::pg_cluster() else {
        return;
    };
    let (url, dir) = common::fresh_migrated_database(Backend::Postgres).await;
    cluster.psql(
        "postgres",
        &format!(
            "ALTER DATABASE \"{}\" SET log_statement = 'all';",
            database_name(&url)
        ),
    );
    let server = TestServer::start_on(Backend::Postgres, url, dir, &[]).await;

    // Once the listener is up, a signed-in request looks nothing up.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = cluster.log().len();
        assert!(accepted(&server).await);
        if token_lookups(&cluster.log()[before..]) == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "every request looked its token up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut admin = AsyncPgConnection::establish(&server.database_url)
        .await
        .unwrap();

    // A user made staff by someone else is staff at once (roles come from the cached row too).
    let save = "mutation { autosavePop(input: {sessionId: \"s-cache\", \
        content: {nomeProcesso: \"p\"}}) { pop { id } } }";
    let pop = server.data(save, json!({})).await["autosavePop"]["pop"]["id"].clone();
    let read = "query($id: ID!) { pop(id: $id) { id } }";
    let rui = server.user("rui", false, None).await;
    assert!(accepted(&rui).await);
    assert!(rui.gql(read, json!({"id": pop})).await["data"]["pop"].is_null());
    run(
        &mut admin,
        "UPDATE users SET is_staff = true WHERE username = 'rui'",
    )
    .await;
    let started = Instant::now();
    while rui.gql(read, json!({"id": pop})).await["data"]["pop"].is_null() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still not staff"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A login elsewhere (it writes `last_login_at`) empties no cache. (The role change above
    // did: the token is cached again first.)
    assert!(accepted(&server).await);
    run(&mut admin, "UPDATE users SET last_login_at = now()").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = cluster.log().len();
    assert!(accepted(&server).await);
    assert_eq!(
        token_lookups(&cluster.log()[before..]),
        0,
        "a login emptied the cache"
    );

    // Revoked by someone else, not through this server.
    run(&mut admin, REVOKE_TESTER).await;
    let took = refused_within(&server, Duration::from_secs(2)).await;
    eprintln!("revocation took effect after {took:?}");

    // A user deactivated by someone else.
    let ana = server.user("ana", false, None).await;
    assert!(accepted(&ana).await);
    assert!(accepted(&ana).await);
    run(
        &mut admin,
        "UPDATE users SET is_active = false WHERE username = 'ana'",
    )
    .await;
    refused_within(&ana, Duration::from_secs(2)).await;
}

/// With the listener's connection gone (and unable to come back), revocations would go unheard:
/// the cache is off, so the next request looks its token up and is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_trusted_while_the_listener_is_down() {
    let Some(cluster) = common::pg_cluster() else {
        return;
    };
    let server = TestServer::start(Backend::Postgres).await;
    let mut admin = AsyncPgConnection::establish(&server.database_url)
        .await
        .unwrap();
    let listening = "SELECT count(*) AS n FROM pg_stat_activity \
        WHERE datname = current_database() AND application_name = 'mapagov-listener'";
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&mut admin, listening).await == 0 {
        assert!(Instant::now() < deadline, "the listener never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The token is cached (and the pool holds connections for what follows).
    for _ in 0..3 {
        assert!(accepted(&server).await);
    }

    // No new connection may reach the database, so the listener cannot come back.
    let name = database_name(&server.database_url);
    cluster.psql(
        "postgres",
        &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false;"),
    );
    let terminated = count(
        &mut admin,
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'mapagov-listener'",
    )
    .await;
    assert_eq!(terminated, 1);
    while count(&mut admin, listening).await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The server sees the socket close shortly after the backend exits.
    tokio::time::sleep(Duration::from_millis(300)).await;

    run(&mut admin, REVOKE_TESTER).await;
    let refused = !accepted(&server).await;
    cluster.psql(
        "postgres",
        &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true;"),
    );
    assert!(
        refused,
        "a revocation made while nobody listened was not seen"
    );
}
