//! Signing in and staying signed in, as an attacker would try it: login limits per client behind
//! a reverse proxy, rejections that take the same time whatever the account, tokens that expire,
//! and a failed token lookup that reveals nothing.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{Backend, Client, TestServer};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mapagov::db::Db;
use mapagov::with_backend;
use serde_json::{json, Value};
use std::time::Instant;

const LOGIN: &str =
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }";

/// A login attempt sent with `X-Forwarded-For: forwarded`; returns the error code, or `OK`.
async fn login_from(client: &Client, forwarded: &str, username: &str, password: &str) -> String {
    login_through(client, "x-forwarded-for", forwarded, username, password).await
}

/// A login attempt sent with `header: forwarded`; returns the error code, or `OK`.
async fn login_through(
    client: &Client,
    header: &str,
    forwarded: &str,
    username: &str,
    password: &str,
) -> String {
    let body: Value = client
        .anonymous()
        .post()
        .header(header, forwarded)
        .json(&json!({"query": LOGIN, "variables": {"u": username, "p": password}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("OK")
        .to_owned()
}

async fn clients_behind_a_trusted_proxy_have_their_own_login_budget(backend: Backend) {
    // The test client connects from 127.0.0.1: here it plays the reverse proxy.
    let server = TestServer::start_with(
        backend,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8"),
            ("LOGIN_ATTEMPTS_PER_MINUTE", "2"),
        ],
    )
    .await;
    // Client A spends its budget (different usernames, so only the address limit applies).
    for user in ["a1", "a2"] {
        assert_eq!(
            login_from(&server, "203.0.113.1", user, "x").await,
            "BAD_USER_INPUT"
        );
    }
    assert_eq!(
        login_from(&server, "203.0.113.1", "a3", "x").await,
        "TOO_MANY_REQUESTS"
    );
    // Client B, behind the same proxy, is not blocked by A.
    assert_eq!(
        login_from(&server, "203.0.113.2", "b1", "x").await,
        "BAD_USER_INPUT"
    );
    // A cannot escape its budget by writing another address in front of what the proxies
    // appended: the rightmost untrusted hop is what counts.
    assert_eq!(
        login_from(&server, "198.51.100.7, 203.0.113.1, 10.1.2.3", "a4", "x").await,
        "TOO_MANY_REQUESTS"
    );
}

/// Behind proxies that write RFC 7239 `Forwarded` (`FORWARDED_HEADER=forwarded`), clients are told
/// apart by its `for=`, and `X-Forwarded-For` (which those proxies do not write) is ignored.
async fn the_forwarded_header_tells_clients_apart_when_the_proxies_write_it(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("FORWARDED_HEADER", "forwarded"),
            ("LOGIN_ATTEMPTS_PER_MINUTE", "2"),
        ],
    )
    .await;
    for user in ["a1", "a2"] {
        assert_eq!(
            login_through(
                &server,
                "forwarded",
                "for=203.0.113.1;proto=https",
                user,
                "x"
            )
            .await,
            "BAD_USER_INPUT"
        );
    }
    assert_eq!(
        login_through(&server, "forwarded", "for=\"203.0.113.1:4711\"", "a3", "x").await,
        "TOO_MANY_REQUESTS"
    );
    assert_eq!(
        login_through(&server, "forwarded", "for=\"[2001:db8::2]\"", "b1", "x").await,
        "BAD_USER_INPUT"
    );
    // A client writing X-Forwarded-For gains nothing: every such attempt counts against the
    // proxy's own address, which the next two attempts exhaust.
    for (forged, user) in [("198.51.100.1", "c1"), ("198.51.100.2", "c2")] {
        assert_eq!(
            login_from(&server, forged, user, "x").await,
            "BAD_USER_INPUT"
        );
    }
    assert_eq!(
        login_from(&server, "198.51.100.3", "c3", "x").await,
        "TOO_MANY_REQUESTS"
    );
}

async fn a_forged_forwarded_address_changes_nothing_from_an_untrusted_peer(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        &[
            ("TRUSTED_PROXIES", "10.0.0.0/8"),
            ("LOGIN_ATTEMPTS_PER_MINUTE", "2"),
        ],
    )
    .await;
    for (forged, user) in [("203.0.113.1", "u1"), ("203.0.113.2", "u2")] {
        assert_eq!(
            login_from(&server, forged, user, "x").await,
            "BAD_USER_INPUT"
        );
    }
    // 127.0.0.1 is not a trusted proxy: every attempt counted against it, whatever it claimed.
    assert_eq!(
        login_from(&server, "203.0.113.3", "u3", "x").await,
        "TOO_MANY_REQUESTS"
    );
}

/// Sets an account's `is_active`.
async fn set_active(db: &Db, username: &str, active: bool) {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| diesel::update(
        schema::users::table.filter(schema::users::username.eq(username))
    )
    .set(schema::users::is_active.eq(active))
    .execute(c)
    .await)
    .unwrap();
}

/// How long one rejected login takes, in seconds.
async fn rejection(client: &Client, username: &str, password: &str) -> f64 {
    let started = Instant::now();
    let code = client
        .error_code(LOGIN, json!({"u": username, "p": password}))
        .await;
    assert_eq!(code, "BAD_USER_INPUT", "{username}");
    started.elapsed().as_secs_f64()
}

async fn every_rejected_login_takes_the_same_time(backend: Backend) {
    let server = TestServer::start_with(backend, &[("LOGIN_ATTEMPTS_PER_MINUTE", "1000")]).await;
    let db = server.db().await;
    for (username, password) in [
        ("maria", Some("s3nha-da-maria")),
        ("inativa", Some("s3nha-da-inativa")),
        ("sem-senha", None),
    ] {
        mapagov::auth::create_user(
            &db,
            mapagov::auth::NewAccount {
                username: username.into(),
                password: password.map(str::to_owned),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    set_active(&db, "inativa", false).await;
    let anonymous = server.anonymous();
    let paths = [
        ("unknown user", "ninguem", "errada"),
        ("no usable password", "sem-senha", "errada"),
        ("inactive user", "inativa", "s3nha-da-inativa"),
        ("wrong password", "maria", "errada"),
    ];
    // Rounds over every path, so a busy machine slows them all alike; each path's fastest run is
    // the work it always does.
    let mut fastest = [f64::MAX; 4];
    for round in 0..10 {
        for (i, (_, username, password)) in paths.iter().enumerate() {
            let took = rejection(&anonymous, username, password).await;
            if round > 0 {
                fastest[i] = fastest[i].min(took);
            }
        }
    }
    let quickest = fastest.iter().copied().fold(f64::MAX, f64::min);
    let slowest = fastest.iter().copied().fold(0.0, f64::max);
    let seen: Vec<_> = paths.iter().map(|p| p.0).zip(fastest).collect();
    eprintln!("fastest rejection per path, seconds: {seen:?}");
    assert!(
        slowest / quickest < 2.0,
        "rejections take different times (fastest of each, seconds): {seen:?}"
    );
}

/// Sets when a user's tokens were issued and last used.
async fn age_tokens(db: &Db, username: &str, created: DateTime<Utc>, used: Option<DateTime<Utc>>) {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    let user_id = with_backend!(&mut conn, |c| schema::users::table
        .filter(schema::users::username.eq(username))
        .select(schema::users::id)
        .first::<i64>(c)
        .await)
    .unwrap();
    with_backend!(&mut conn, |c| diesel::update(
        schema::api_tokens::table.filter(schema::api_tokens::user_id.eq(user_id))
    )
    .set((
        schema::api_tokens::created_at.eq(created),
        schema::api_tokens::last_used_at.eq(used),
    ))
    .execute(c)
    .await)
    .unwrap();
}

/// When a user's token was last used, as stored.
async fn last_used(db: &Db, username: &str) -> Option<DateTime<Utc>> {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| schema::api_tokens::table
        .inner_join(schema::users::table)
        .filter(schema::users::username.eq(username))
        .select(schema::api_tokens::last_used_at)
        .first::<Option<DateTime<Utc>>>(c)
        .await)
    .unwrap()
}

async fn tokens_expire_when_old_or_idle_and_record_their_use(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        &[("TOKEN_MAX_AGE", "86400"), ("TOKEN_IDLE_TIMEOUT", "3600")],
    )
    .await;
    let db = server.db().await;
    let me = "{ me { username } }";
    let now = Utc::now();

    // Used: last_used_at is written, then not again within the minute.
    let fresh = server.user("fresh", false, None).await;
    assert_eq!(last_used(&db, "fresh").await, None);
    fresh.data(me, json!({})).await;
    let first = last_used(&db, "fresh").await.expect("last use recorded");
    assert!((Utc::now() - first).num_seconds().abs() < 60, "{first}");
    fresh.data(me, json!({})).await;
    assert_eq!(
        last_used(&db, "fresh").await,
        Some(first),
        "written once a minute at most"
    );

    // Used 50 minutes ago, issued 23 hours ago: still valid, and its use is recorded again.
    let active = server.user("active", false, None).await;
    age_tokens(
        &db,
        "active",
        now - Duration::hours(23),
        Some(now - Duration::minutes(50)),
    )
    .await;
    active.data(me, json!({})).await;
    assert!(last_used(&db, "active").await.unwrap() > now - Duration::minutes(1));

    // Idle for longer than TOKEN_IDLE_TIMEOUT.
    let idle = server.user("idle", false, None).await;
    age_tokens(
        &db,
        "idle",
        now - Duration::hours(2),
        Some(now - Duration::minutes(61)),
    )
    .await;
    assert_eq!(idle.error_code(me, json!({})).await, "UNAUTHENTICATED");
    // Never used, issued longer ago than the idle timeout.
    let unused = server.user("unused", false, None).await;
    age_tokens(&db, "unused", now - Duration::minutes(61), None).await;
    assert_eq!(unused.error_code(me, json!({})).await, "UNAUTHENTICATED");

    // Used a minute ago, but issued longer ago than TOKEN_MAX_AGE.
    let old = server.user("old", false, None).await;
    age_tokens(
        &db,
        "old",
        now - Duration::hours(25),
        Some(now - Duration::minutes(1)),
    )
    .await;
    let resp = old.post().json(&json!({"query": me})).send().await.unwrap();
    assert_eq!(
        resp.status(),
        200,
        "an expired token is answered like a missing one"
    );
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

async fn a_failed_token_lookup_reveals_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Break the lookup for real, before the server has run it once (PostgreSQL would otherwise
    // keep using the statement it prepared against the table).
    {
        use diesel_async::SimpleAsyncConnection;
        let db = server.db().await;
        let mut pooled = db.get().await.unwrap();
        let sql = "ALTER TABLE api_tokens RENAME TO api_tokens_moved";
        match pooled.conn() {
            mapagov::db::Conn::Pg(mut c) => c.batch_execute(sql).await.unwrap(),
            mapagov::db::Conn::Sqlite(c) => c.batch_execute(sql).await.unwrap(),
        }
    }
    let resp = server
        .post()
        .json(&json!({"query": "{ me { username } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let text = resp.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{text}"
    );
    for internal in [
        "api_tokens",
        "relation",
        "table",
        "SELECT",
        "internal",
        "diesel",
    ] {
        assert!(
            !text.to_lowercase().contains(&internal.to_lowercase()),
            "the response reveals `{internal}`: {text}"
        );
    }
}

both_backends!(
    the_forwarded_header_tells_clients_apart_when_the_proxies_write_it,
    clients_behind_a_trusted_proxy_have_their_own_login_budget,
    a_forged_forwarded_address_changes_nothing_from_an_untrusted_peer,
    every_rejected_login_takes_the_same_time,
    tokens_expire_when_old_or_idle_and_record_their_use,
    a_failed_token_lookup_reveals_nothing,
);
