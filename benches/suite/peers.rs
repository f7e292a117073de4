//! The server people would pick instead, run beside MapaGov on MapaGov's own database:
//! PostGraphile 4 (installed from the npm registry into `target/bench-peers/`), with the flags it
//! recommends for production — no GraphiQL, no query log, `--dynamic-json`, one worker per core —
//! reading the same columns of a POP by its uuid that `pop(id){document …}` reads.

use crate::BoxError;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The PostGraphile release the figures are taken with.
pub const POSTGRAPHILE: &str = "postgraphile@4.14.1";

/// What PostGraphile reads for one `pop(id)`: the POP's identity, state and content columns.
pub const POP_BY_UUID: &str = "query($uuid: UUID!) { popByUuid(uuid: $uuid) { uuid \
    integrityHash autosaveSequence status updatedAt nomeUsuario areaCodigo areaNome macroprocesso \
    codigoProcesso nomeProcesso processoEspecifico entregaEsperada dispositivosNormativos \
    sistemasUtilizados operadores pontosAtencao etapas documentosUtilizados fluxosEntrada \
    fluxosSaida } }";

/// Installs PostGraphile under `target/bench-peers/` (once; `npm` from the registry) and returns
/// its executable.
pub fn install() -> Result<PathBuf, BoxError> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-peers");
    let bin = dir.join("node_modules/.bin/postgraphile");
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir)?;
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg(POSTGRAPHILE)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("--peers needs Node.js and npm: {e}"))?;
    if !status.success() || !bin.is_file() {
        return Err(format!("npm install {POSTGRAPHILE} failed ({status})").into());
    }
    Ok(bin)
}

/// The command line PostGraphile runs with (the password goes through `PGPASSWORD`).
pub fn arguments(
    port: u16,
    db_port: u16,
    user: &str,
    database: &str,
    workers: usize,
) -> Vec<String> {
    vec![
        "--connection".into(),
        format!("postgres://{user}@127.0.0.1:{db_port}/{database}"),
        "--schema".into(),
        "public".into(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--disable-graphiql".into(),
        "--disable-query-log".into(),
        "--dynamic-json".into(),
        "--cluster-workers".into(),
        workers.to_string(),
    ]
}

/// A running PostGraphile; stopped (with its workers) when dropped.
pub struct PostGraphile {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl PostGraphile {
    /// Starts `bin` on a free port against `database` and waits until it answers a query.
    pub async fn start(
        bin: &Path,
        db_port: u16,
        user: &str,
        password: &str,
        database: &str,
    ) -> Result<PostGraphile, BoxError> {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let child = Command::new(bin)
            .args(arguments(port, db_port, user, database, workers))
            .env("PGPASSWORD", password)
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()?;
        let mut peer = PostGraphile {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = peer.child.try_wait()? {
                return Err(format!("postgraphile exited at start-up ({status})").into());
            }
            let answered = http
                .post(format!("{}/graphql", peer.base))
                .json(&serde_json::json!({"query": "{ __typename }"}))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                return Ok(peer);
            }
            if Instant::now() > deadline {
                return Err("postgraphile did not answer within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The master process's id (its workers are its children).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PostGraphile {
    fn drop(&mut self) {
        // The whole process group: the master and its cluster workers.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}
