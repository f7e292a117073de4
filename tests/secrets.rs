//! Secrets never reach logs, responses or errors: the real binary runs with debug logging through
//! user creation, logins (right and wrong), token use, a bogus token and logout, and everything it
//! printed is searched for the password, the tokens, the stored password hash and the database
//! password.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

const PASSWORD: &str = "correct-horse-battery-staple-42";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_or_the_responses() {
    let database_url = common::fresh_pg_database().await;
    let db_password = common::pg_password();
    assert!(
        database_url.contains(&db_password),
        "the test URL carries a password"
    );
    let bin = env!("CARGO_BIN_EXE_mapagov");
    let dir = tempfile::tempdir().unwrap();
    let env = |cmd: &mut Command| {
        cmd.current_dir(dir.path())
            .env("DATABASE_URL", &database_url)
            .env("DB_SSLMODE", "disable")
            .env("RUST_LOG", "debug")
            .env("LOG_FORMAT", "json");
    };

    // An operator creates a user; the token is the last line of standard output.
    let mut create = Command::new(bin);
    env(&mut create);
    let mut child = create
        .args(["user", "create", "maria", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    let created = child.wait_with_output().unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let cli_token = String::from_utf8_lossy(&created.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    let mut logs = String::from_utf8_lossy(&created.stderr).into_owned();

    // The server, exercised over HTTP.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = Command::new(bin);
    env(&mut serve);
    let server = serve
        .env("BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the server did not start");

    let mut responses = String::new();
    let mut call = async |token: Option<&str>, query: &str, variables: Value| -> Value {
        let mut request = http.post(format!("{base}/graphql"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let text = request
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        responses.push_str(&text);
        serde_json::from_str(&text).unwrap()
    };
    let login = "mutation($p: String!) { login(username: \"maria\", password: $p) { token } }";
    call(None, login, json!({"p": "wrong-password"})).await;
    let logged_in = call(None, login, json!({"p": PASSWORD})).await;
    let token = logged_in["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let saved = call(
        Some(&token),
        "mutation { autosavePop(input: {sessionId: \"s\", content: {nomeProcesso: \"Processo\"}}) { changed } }",
        json!({}),
    )
    .await;
    assert_eq!(saved["data"]["autosavePop"]["changed"], true);
    call(
        Some(&cli_token),
        "{ me { username } pops { totalCount } }",
        json!({}),
    )
    .await;
    call(
        Some("mgv_forged-token-value"),
        "{ me { username } }",
        json!({}),
    )
    .await;
    call(Some(&token), "mutation { logout }", json!({})).await;
    call(Some(&token), "{ me { username } }", json!({})).await;
    let stored_hash = {
        let db = mapagov::db::Db::connect(&common::database_config(&database_url, &[]))
            .await
            .unwrap();
        let mut pooled = db.get().await.unwrap();
        mapagov::db::queries::user_credentials(&mut pooled.conn(), "maria")
            .await
            .unwrap()
            .unwrap()
            .1
    };

    Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status()
        .unwrap();
    let output = server.wait_with_output().unwrap();
    assert!(output.status.success(), "the server did not stop cleanly");
    logs.push_str(&String::from_utf8_lossy(&output.stdout));
    logs.push_str(&String::from_utf8_lossy(&output.stderr));
    assert!(logs.contains("login"), "debug logs were captured: {logs}");

    for (what, secret) in [
        ("password", PASSWORD),
        ("login token", token.as_str()),
        ("CLI token", cli_token.as_str()),
        ("forged token", "mgv_forged-token-value"),
        ("password hash", stored_hash.as_str()),
        ("database password", db_password.as_str()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
        if what != "login token" {
            assert!(
                !responses.contains(secret),
                "the {what} appears in a response"
            );
        }
    }
}
