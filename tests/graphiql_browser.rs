//! The API in a real browser: GraphiQL works offline, and a page on another
//! origin calls the API.
//!
//! Starts the server binary on a loopback port and headless Chromium that
//! cannot reach anything but loopback. GraphiQL: opens `GET /graphql`, runs
//! `{ __typename }` through the UI and checks the answer and that every
//! resource the page loaded came from the server itself; it opens on the
//! MapaGov example, its explorer lists the API's root fields, and a token typed
//! into its headers survives reloads and signs the requests. CORS: a page served
//! from another port calls `/graphql` with `fetch` and `x-request-id`, and
//! another imports the reference TypeScript client as ES modules and autosaves
//! a POP through it.
//!
//! Needs Debian's `chromium` and `chromium-driver` packages: without them the
//! test fails rather than being skipped.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    fs::{self, File},
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Map, Value};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long to wait for a process to get ready or for the page to react.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Kills and reaps the child process when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // The process may have exited already; nothing else to do then.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> TestResult<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Spawns `command` with its output in `log` and waits until `ready_url`
/// answers 200; fails with the log if the process exits or `TIMEOUT` passes.
async fn spawn_ready(mut command: Command, log: &Path, ready_url: &str) -> TestResult<KillOnDrop> {
    let out = File::create(log)?;
    let mut child = KillOnDrop(
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?,
    );
    let start = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(ready_url).await {
            if response.status().is_success() {
                return Ok(child);
            }
        }
        let problem = match child.0.try_wait()? {
            Some(status) => format!("exited with {status}"),
            None if start.elapsed() > TIMEOUT => format!("not ready after {TIMEOUT:?}"),
            None => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let output = fs::read_to_string(log).unwrap_or_default();
        return Err(format!("{command:?} {problem} ({ready_url}); output:\n{output}").into());
    }
}

/// A running server binary (with `env`) and a headless Chromium driven through chromedriver,
/// able to reach loopback only.
struct Browser {
    client: Client,
    base: String,
    /// The server's standard output and error.
    server_log: std::path::PathBuf,
    _server: KillOnDrop,
    _driver: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl Browser {
    /// The first-run admin's token, from the server's output.
    fn first_run_token(&self) -> TestResult<String> {
        let log = fs::read_to_string(&self.server_log)?;
        Ok(log
            .lines()
            .skip_while(|line| !line.contains("shown only this once"))
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.contains("shown only this once"))
            .ok_or_else(|| format!("no first-run token in the server's output:\n{log}"))?
            .to_owned())
    }
}

async fn start(env: &[(&str, String)]) -> TestResult<Browser> {
    for program in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: install Debian's chromium and chromium-driver packages"
        );
    }
    let dir = tempfile::tempdir()?;

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}/");
    let mut server = Command::new(env!("CARGO_BIN_EXE_mapagov"));
    server
        .env("BIND", format!("127.0.0.1:{port}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/db.sqlite3", dir.path().display()),
        )
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir.path());
    let server = spawn_ready(
        server,
        &dir.path().join("server.log"),
        &format!("{base}healthz"),
    )
    .await?;

    let driver_port = free_port()?;
    let driver_url = format!("http://127.0.0.1:{driver_port}");
    let mut driver = Command::new(CHROMEDRIVER);
    driver.arg(format!("--port={driver_port}"));
    let driver = spawn_ready(
        driver,
        &dir.path().join("chromedriver.log"),
        &format!("{driver_url}/status"),
    )
    .await?;

    let profile = dir.path().join("chromium-profile");
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,800",
        &format!("--user-data-dir={}", profile.display()),
        // Only loopback is reachable: other names do not resolve and other
        // addresses go to a proxy port where nothing listens.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
    ];
    let mut capabilities = Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": CHROMIUM, "args": args }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver_url)
        .await?;
    Ok(Browser {
        client,
        base,
        server_log: dir.path().join("server.log"),
        _server: server,
        _driver: driver,
        _dir: dir,
    })
}

#[tokio::test]
async fn graphiql_runs_a_query_offline() -> TestResult {
    let browser = start(&[]).await?;
    // Close the browser even when a check fails, so that no Chromium is left behind.
    let checked = run_query_in_graphiql(&browser.client, &browser.base).await;
    browser.client.clone().close().await?;
    checked
}

/// GraphiQL as a newcomer meets it: the MapaGov example in the editor, the explorer in the
/// sidebar listing the root fields, and the `Authorization` header typed once kept across two
/// reloads and sent with the queries run afterwards.
#[tokio::test]
async fn graphiql_opens_on_the_example_explores_and_keeps_headers() -> TestResult {
    let browser = start(&[]).await?;
    let checked = newcomer_session(&browser).await;
    browser.client.clone().close().await?;
    checked
}

/// Waits until `script` (the body of a function) returns something other than `null`, `false`
/// or `""`, and returns it.
async fn wait_for(client: &Client, what: &str, script: &str) -> TestResult<Value> {
    let start = Instant::now();
    loop {
        let value = client.execute(script, vec![]).await?;
        if !matches!(value, Value::Null | Value::Bool(false)) && value != json!("") {
            return Ok(value);
        }
        if start.elapsed() > TIMEOUT {
            return Err(format!("{what}: not within {TIMEOUT:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the element under `css` from the page's script, once it is there: GraphiQL renders
/// again when the schema arrives, which would leave a WebDriver element reference stale.
async fn click(client: &Client, css: &str) -> TestResult {
    let script = format!(
        "const el = document.querySelector({}); if (!el) return false; el.click(); return true;",
        json!(css)
    );
    wait_for(client, css, &script).await?;
    Ok(())
}

/// Puts `query` (one operation) in the query editor, runs it and returns the answer GraphiQL
/// shows. GraphiQL tracks the operations of the editor a moment after its text changes: a run
/// started before that may still name an operation of the old text (the server answers
/// `BAD_REQUEST` for an unknown `operationName`, as it should), so such a run is started again,
/// as is a click that got no answer.
async fn run_in_graphiql(client: &Client, query: &str) -> TestResult<Value> {
    client
        .execute(
            &format!("document.querySelector('{QUERY_EDITOR}').CodeMirror.setValue(arguments[0]);"),
            vec![json!(query)],
        )
        .await?;
    let response_text = "const el = document.querySelector('.graphiql-response .CodeMirror'); \
                         return el ? el.CodeMirror.getValue() : '';";
    for _ in 0..5 {
        // With several operations the run button is a menu of them: wait for it to be a button.
        wait_for(
            client,
            "a run button for one operation",
            "const b = document.querySelector('.graphiql-execute-button'); \
             return !!b && !b.hasAttribute('aria-haspopup');",
        )
        .await?;
        let before = client.execute(response_text, vec![]).await?;
        click(client, ".graphiql-execute-button").await?;
        let script = format!(
            "const text = (function () {{ {response_text} }})(); \
             return text !== {} && (text.includes('\"data\"') || text.includes('\"errors\"')) \
               ? text : null;",
            before
        );
        // A click GraphiQL swallowed while it rendered again gets no answer: click again.
        let start = Instant::now();
        let text = loop {
            let text = client.execute(&script, vec![]).await?;
            if text.is_string() || start.elapsed() > Duration::from_secs(5) {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let Some(text) = text.as_str() else {
            continue;
        };
        let answer: Value = serde_json::from_str(text)?;
        let raced = answer["errors"].as_array().is_some_and(|errors| {
            errors
                .iter()
                .any(|e| e["extensions"]["code"] == "BAD_REQUEST")
        });
        if !raced {
            return Ok(answer);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err("GraphiQL answered no run of the query, or kept naming an operation of the old text".into())
}

/// The text of the CodeMirror editor under `css`, once that editor is on the page.
async fn editor_text(client: &Client, css: &str) -> TestResult<String> {
    let script = format!(
        "const el = document.querySelector({}); \
         return el && el.CodeMirror ? [el.CodeMirror.getValue()] : null;",
        json!(css)
    );
    let text = wait_for(client, css, &script).await?;
    Ok(text[0].as_str().unwrap_or_default().to_owned())
}

const QUERY_EDITOR: &str = ".graphiql-query-editor .CodeMirror";
const HEADERS_EDITOR: &str =
    "section.graphiql-editor-tool > .graphiql-editor:not(.hidden) .CodeMirror";

async fn newcomer_session(browser: &Browser) -> TestResult {
    let client = &browser.client;
    let token = browser.first_run_token()?;

    client.goto(&format!("{}graphql", browser.base)).await?;
    let example = editor_text(client, QUERY_EDITOR).await?;
    assert_eq!(example, mapagov::http::graphiql::EXAMPLE_QUERY);

    // The explorer lists the root fields of the schema.
    click(
        client,
        ".graphiql-sidebar button[aria-label=\"Show GraphiQL Explorer\"]",
    )
    .await?;
    let fields = wait_for(
        client,
        "the explorer's root fields",
        "const names = [...document.querySelectorAll('.graphiql-explorer-root span[data-field-name]')] \
           .map(span => span.dataset.fieldName); \
         return names.includes('pops') ? names : null;",
    )
    .await?;
    for field in ["pop", "pops", "popHistory", "snapshot", "catalogue"] {
        assert!(
            fields.as_array().unwrap().contains(&json!(field)),
            "{fields}"
        );
    }

    // A token typed into the headers editor is kept in this tab across reloads (not in
    // localStorage, which outlives the tab)...
    let headers = json!({ "Authorization": format!("Bearer {token}") }).to_string();
    client
        .execute(
            &format!(
                "document.querySelector('{HEADERS_EDITOR}').CodeMirror.setValue(arguments[0]);"
            ),
            vec![json!(headers)],
        )
        .await?;
    wait_for(
        client,
        "the headers saved in sessionStorage",
        "return sessionStorage.getItem('graphiql:headers');",
    )
    .await?;
    let in_local_storage = client
        .execute("return localStorage.getItem('graphiql:headers');", vec![])
        .await?;
    assert_eq!(in_local_storage, Value::Null);
    for reload in 1..=2 {
        client.refresh().await?;
        let kept = editor_text(client, HEADERS_EDITOR).await?;
        assert_eq!(kept, headers, "the headers after reload {reload}");
    }
    // ...and sent: the server knows who asks.
    let response = run_in_graphiql(client, "{ me { username isStaff } }").await?;
    assert_eq!(response["data"]["me"]["username"], "admin", "{response}");
    assert_eq!(editor_text(client, HEADERS_EDITOR).await?, headers);
    Ok(())
}

/// The reference TypeScript client in a browser: a page on another origin imports its built
/// ES modules (`clients/typescript/dist`), creates a POP and autosaves an edit through the
/// controller, and reads it back.
#[tokio::test]
async fn the_typescript_client_autosaves_from_another_origin() -> TestResult {
    let dist =
        tokio::task::spawn_blocking(|| common::node::typescript_client().join("dist")).await?;
    let page_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://127.0.0.1:{}", page_listener.local_addr()?.port());
    let page = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async {
                axum::response::Html(
                    "<!DOCTYPE html><title>editor</title><script type=\"module\">\
                     import * as mapagov from '/client/index.js'; window.mapagov = mapagov;\
                     </script>",
                )
            }),
        )
        .route(
            "/client/{*path}",
            axum::routing::get(
                move |axum::extract::Path(path): axum::extract::Path<String>| {
                    let dist = dist.clone();
                    async move { client_file(&dist, &path) }
                },
            ),
        );
    let page_server = tokio::spawn(async move { axum::serve(page_listener, page).await });
    let browser = start(&[("CORS_ALLOWED_ORIGINS", origin.clone())]).await?;
    let checked = autosave_through_the_client(&browser, &origin).await;
    browser.client.clone().close().await?;
    page_server.abort();
    checked
}

/// A file of the built client, as a static server would send it.
fn client_file(dist: &Path, path: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    match fs::read(dist.join(path)) {
        Ok(body) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

async fn autosave_through_the_client(browser: &Browser, origin: &str) -> TestResult {
    let token = browser.first_run_token()?;
    browser.client.goto(&format!("{origin}/")).await?;
    wait_for(
        &browser.client,
        "the client's modules",
        "return !!window.mapagov;",
    )
    .await?;
    let answer = browser
        .client
        .execute_async(
            r#"const [url, token, done] = arguments;
            const { MapaGovClient, AutosaveController, CreatePopDocument, PopForEditingDocument } = window.mapagov;
            (async () => {
              const client = new MapaGovClient({ url, token });
              const created = await client.request(CreatePopDocument, {
                input: { sessionId: 'browser', content: { nomeProcesso: 'do navegador' } },
              });
              const states = [];
              const controller = new AutosaveController({
                client, pop: created.createPop.pop, debounceMs: 10, onState: (s) => states.push(s),
              });
              controller.saveOnUnload(window);
              controller.update({ pontosAtencao: 'salvo pelo navegador' });
              await controller.flush();
              const read = await client.request(PopForEditingDocument, { id: created.createPop.pop.id });
              return { states, state: controller.state, pop: read.pop };
            })().then(done, (error) => done({ error: String(error) }));"#,
            vec![
                json!(format!("{}graphql", browser.base)),
                json!(token),
            ],
        )
        .await?;
    assert!(answer.get("error").is_none(), "{answer}");
    assert_eq!(answer["state"], "saved", "{answer}");
    assert_eq!(answer["pop"]["nomeProcesso"], "do navegador", "{answer}");
    assert_eq!(
        answer["pop"]["pontosAtencao"], "salvo pelo navegador",
        "{answer}"
    );
    assert_eq!(answer["pop"]["autosaveSequence"], 2, "{answer}");
    assert_eq!(
        answer["states"],
        json!(["pending", "saving", "saved"]),
        "{answer}"
    );
    Ok(())
}

/// A page served from another origin calls the API with `fetch`, sending `x-request-id`, and
/// reads the id back: the preflight allows the header, the response exposes it, and the preflight
/// may be cached (`Access-Control-Max-Age`).
#[tokio::test]
async fn a_page_on_another_origin_calls_the_api() -> TestResult {
    let page_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://127.0.0.1:{}", page_listener.local_addr()?.port());
    let page = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html("<!DOCTYPE html><title>another origin</title><p>editor</p>")
        }),
    );
    let page_server = tokio::spawn(async move { axum::serve(page_listener, page).await });
    let browser = start(&[
        ("CORS_ALLOWED_ORIGINS", origin.clone()),
        ("CORS_MAX_AGE", "600".to_owned()),
    ])
    .await?;
    let checked = call_from_another_origin(&browser, &origin).await;
    browser.client.clone().close().await?;
    page_server.abort();
    checked
}

async fn call_from_another_origin(browser: &Browser, origin: &str) -> TestResult {
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}graphql", browser.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-request-id",
        )
        .send()
        .await?;
    let headers = preflight.headers();
    assert_eq!(headers["access-control-max-age"], "600");
    let allowed = headers["access-control-allow-headers"].to_str()?;
    assert!(allowed.contains("x-request-id"), "{allowed}");

    browser.client.goto(&format!("{origin}/")).await?;
    let answer = browser
        .client
        .execute_async(
            r#"const [url, done] = arguments;
            const results = [];
            for (let i = 0; i < 3; i++) {
              const response = await fetch(url, {
                method: 'POST',
                headers: {
                  'content-type': 'application/json',
                  accept: 'application/graphql-response+json',
                  authorization: 'Bearer not-a-token',
                  'x-request-id': 'from-the-page-' + i,
                },
                body: JSON.stringify({ query: '{ __typename }' }),
              });
              results.push({
                status: response.status,
                requestId: response.headers.get('x-request-id'),
                body: await response.json(),
              });
            }
            done(results);"#,
            vec![json!(format!("{}graphql", browser.base))],
        )
        .await?;
    let results = answer.as_array().ok_or("no results")?;
    assert_eq!(results.len(), 3, "{answer}");
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["status"], 200, "{result}");
        assert_eq!(
            result["requestId"],
            format!("from-the-page-{i}"),
            "{result}"
        );
        assert_eq!(result["body"]["data"]["__typename"], "Query", "{result}");
    }
    Ok(())
}

/// Runs `{ __typename }` in the GraphiQL page at `{base}graphql` and checks
/// the answer and where the page's resources came from.
async fn run_query_in_graphiql(client: &Client, base: &str) -> TestResult {
    client.goto(&format!("{base}graphql")).await?;
    client
        .wait()
        .at_most(TIMEOUT)
        .for_element(Locator::Css(".graphiql-query-editor .CodeMirror"))
        .await
        .map_err(|error| format!("GraphiQL did not render within {TIMEOUT:?}: {error}"))?;
    let response = run_in_graphiql(client, "{ __typename }").await?;
    if response["data"]["__typename"] != "Query" {
        return Err(format!("unexpected result: {response}").into());
    }

    let resources = client
        .execute(
            "return performance.getEntriesByType('resource').map(entry => entry.name);",
            vec![],
        )
        .await?;
    let resources: Vec<String> = serde_json::from_value(resources)?;
    if !resources
        .iter()
        .any(|url| url.starts_with(&format!("{base}graphiql/")))
    {
        return Err(
            format!("GraphiQL assets not among the loaded resources: {resources:?}").into(),
        );
    }
    let foreign: Vec<&String> = resources
        .iter()
        .filter(|url| !url.starts_with(base))
        .collect();
    if !foreign.is_empty() {
        return Err(format!("resources from another origin: {foreign:?}").into());
    }
    Ok(())
}
