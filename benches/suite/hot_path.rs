//! The request path as production runs it (`scripts/bench --api`): a PostgreSQL cluster with
//! `fsync`, `synchronous_commit` and `full_page_writes` on, and in one run
//!
//! - pgbench running the SQL equivalent of `autosavePop` and of `pop(id)` (the baseline);
//! - MapaGov with its defaults;
//! - MapaGov as it ran before the request path was tuned: every pool check-out verified with
//!   `SELECT 1` (`DB_CONN_CHECK_IDLE=0`), every document parsed anew
//!   (`GRAPHQL_DOCUMENT_CACHE=0`), every token looked up (`AUTH_CACHE_SECONDS=0`) and, when `BENCH_BEFORE_BIN` names a build without the
//!   `mimalloc` feature (`scripts/bench --api` makes one), glibc's allocator; so the gain of
//!   those is a same-run ratio;
//! - with `--peers`, PostGraphile 4 reading the same columns of the same POPs ([`peers`]).
//!
//! Server CPU per request comes from `/proc/<pid>/stat` over each measured window, memory from
//! `/proc/<pid>/status`.

use crate::api::{self, BenchPops};
use crate::load::{self, Api};
use crate::measure::Measurement;
use crate::pg_cluster::{ClusterOptions, PgCluster, APP_ROLE};
use crate::pgbench::PgBench;
use crate::report::{fmt, Report};
use crate::server::{self, CpuWindow, MemorySampler, Server};
use crate::{peers, BoxError, Settings, DB};
use serde_json::json;
use std::fmt::Write as _;
use std::future::Future;
use std::process::{Command, Stdio};

/// A server's figure: throughput and latency, and its CPU per operation.
struct Figure {
    measured: Measurement,
    cpu_ms: f64,
}

/// Runs `load` while timing `pid`'s CPU over the measured window; with `BENCH_PERF=<dir>`, also
/// records a CPU profile of the window as `<dir>/<label>.perf.data` ([`profile`]).
async fn with_cpu<F>(pid: u32, label: &str, s: &Settings, load: F) -> Result<Figure, BoxError>
where
    F: Future<Output = Result<Measurement, BoxError>>,
{
    let cpu = CpuWindow::start(pid, s.warmup, s.window);
    let perf = std::env::var_os("BENCH_PERF").map(|dir| profile(pid, label, dir.into(), s));
    let measured = load.await?;
    let cpu_ms = cpu.per_operation_ms(measured.count);
    if let Some(perf) = perf {
        perf.join().map_err(|_| "the profiler thread panicked")??;
    }
    Ok(Figure { measured, cpu_ms })
}

/// `perf record -g` of process `pid` over the measured window, into `dir/<label>.perf.data`,
/// then (when `inferno-collapse-perf` and `inferno-flamegraph` are on the `PATH`) a flame graph
/// `dir/<label>.svg`.
fn profile(
    pid: u32,
    label: &str,
    dir: std::path::PathBuf,
    s: &Settings,
) -> std::thread::JoinHandle<Result<(), BoxError>> {
    let (warmup, window, label) = (s.warmup, s.window, label.to_owned());
    std::thread::spawn(move || {
        std::thread::sleep(warmup);
        std::fs::create_dir_all(&dir)?;
        let data = dir.join(format!("{label}.perf.data"));
        let recorded = Command::new("perf")
            .args([
                "record",
                "-F",
                "99",
                "-g",
                "--call-graph",
                "dwarf,8192",
                "-p",
            ])
            .arg(pid.to_string())
            .arg("-o")
            .arg(&data)
            .args(["--", "sleep"])
            .arg(window.as_secs().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !recorded.success() {
            return Err(format!("perf record failed ({recorded})").into());
        }
        let script = Command::new("perf")
            .arg("script")
            .arg("-i")
            .arg(&data)
            .stderr(Stdio::null())
            .output()?;
        let collapsed = pipe("inferno-collapse-perf", &[], &script.stdout);
        if let Ok(folded) = collapsed {
            let title = format!("--title={label}");
            let svg = pipe(
                "inferno-flamegraph",
                &[&title, "--minwidth", "1.5"],
                &folded,
            )?;
            std::fs::write(dir.join(format!("{label}.svg")), svg)?;
        }
        Ok(())
    })
}

/// Runs `program` with `input` on its standard input; its standard output.
fn pipe(program: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>, BoxError> {
    use std::io::Write as _;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| "the writer thread panicked")??;
    if !out.status.success() {
        return Err(format!("{program} failed ({})", out.status).into());
    }
    Ok(out.stdout)
}

/// The settings of MapaGov before the tuning this section measures.
const BEFORE: [(&str, &str); 3] = [
    ("DB_CONN_CHECK_IDLE", "0"),
    ("GRAPHQL_DOCUMENT_CACHE", "0"),
    ("AUTH_CACHE_SECONDS", "0"),
];

/// The whole section, appended to `report`.
pub async fn section(report: &mut Report, s: &Settings) -> Result<(), BoxError> {
    let peer_bin = if s.peers {
        Some(peers::install()?)
    } else {
        None
    };
    let durable = ["fsync", "synchronous_commit", "full_page_writes"]
        .map(|name| (name.to_owned(), "on".to_owned()))
        .to_vec();
    let cluster = PgCluster::start(ClusterOptions {
        extra_conf: durable,
        ..ClusterOptions::default()
    });
    cluster.create_database(DB);
    let url = cluster.url(DB);
    let token = server::create_staff_token(&url, "bench")?;
    let pool = s.clients.to_string();
    let base_env = [("SNAPSHOT_EVERY", "1"), ("DB_POOL_SIZE", pool.as_str())];
    let now = Server::start(&url, &base_env).await?;
    let before_env: Vec<(&str, &str)> = base_env.iter().chain(BEFORE.iter()).copied().collect();
    let before_bin = std::env::var("BENCH_BEFORE_BIN").unwrap_or_else(|_| server::BINARY.into());
    let before = Server::start_binary(&before_bin, &url, &before_env).await?;
    let api_now = Api::new(&now.base, &token)?;
    let api_before = Api::new(&before.base, &token)?;
    let pgbench = PgBench::new(cluster.port(), APP_ROLE, cluster.password(), DB);
    let pops = api::create_pops(&api_now, &cluster, s.clients).await?;
    let rss_idle = server::proc_mib(now.pid(), "VmRSS").unwrap_or(0.0);

    crate::step("autosave, fsync on: pgbench, MapaGov before, MapaGov");
    let save_pg = api::autosave_pgbench(&pgbench, &pops, s)?;
    let save_before = with_cpu(
        before.pid(),
        "autosave-before",
        s,
        api::autosave_api(&api_before, &pops, s),
    )
    .await?;
    let sampler = MemorySampler::start(now.pid(), "VmRSS");
    let save_now = with_cpu(
        now.pid(),
        "autosave",
        s,
        api::autosave_api(&api_now, &pops, s),
    )
    .await?;
    let rss_load = sampler.finish();

    crate::step("pop(id), fsync on: pgbench, MapaGov before, MapaGov, peers");
    let read_pg = api::read_pop_pgbench(&pgbench, &pops, s)?;
    let read_before = with_cpu(
        before.pid(),
        "pop-before",
        s,
        api::read_pop_api(&api_before, &pops, s),
    )
    .await?;
    let read_now = with_cpu(now.pid(), "pop", s, api::read_pop_api(&api_now, &pops, s)).await?;
    drop(before);
    let read_peer = match &peer_bin {
        Some(bin) => Some(postgraphile_reads(bin, &cluster, &pops, s).await?),
        None => None,
    };

    write(
        report,
        s,
        &Results {
            save_pg,
            save_before,
            save_now,
            read_pg,
            read_before,
            read_now,
            read_peer,
            rss_idle,
            rss_load,
            before_build: if before_bin == server::BINARY {
                "the same binary"
            } else {
                "the build `BENCH_BEFORE_BIN` (by default `--no-default-features`: glibc's allocator)"
            },
        },
    );
    Ok(())
}

/// PostGraphile's `popByUuid` over the same POPs, with its CPU.
async fn postgraphile_reads(
    bin: &std::path::Path,
    cluster: &PgCluster,
    pops: &BenchPops,
    s: &Settings,
) -> Result<Figure, BoxError> {
    let peer =
        peers::PostGraphile::start(bin, cluster.port(), APP_ROLE, cluster.password(), DB).await?;
    let api = Api::anonymous(&peer.base)?;
    let uuids = pops.uuids();
    let load = load::run(s.clients, s.warmup, s.window, move |c, i| {
        let api = api.clone();
        let id = uuids[(c + usize::try_from(i).unwrap_or(0)) % uuids.len()].clone();
        async move {
            let out = api.gql(peers::POP_BY_UUID, json!({ "uuid": id })).await?;
            if out["popByUuid"]["uuid"] != json!(id) || !out["popByUuid"]["etapas"].is_array() {
                return Err(format!("popByUuid answered something else: {out}"));
            }
            Ok(())
        }
    });
    with_cpu(peer.pid(), "postgraphile", s, load).await
}

struct Results {
    save_pg: Measurement,
    save_before: Figure,
    save_now: Figure,
    read_pg: Measurement,
    read_before: Figure,
    read_now: Figure,
    read_peer: Option<Figure>,
    rss_idle: f64,
    rss_load: f64,
    before_build: &'static str,
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

fn goal(text: &str, met: bool) -> String {
    format!("{text}: **{}**", if met { "met" } else { "missed" })
}

fn write(report: &mut Report, s: &Settings, r: &Results) {
    let mut text = format!(
        "\n## Request path with `fsync` on ({} clients, PostgreSQL)\n\n\
         Same run, same database; MapaGov \"before\" is {} with \
         `DB_CONN_CHECK_IDLE=0 GRAPHQL_DOCUMENT_CACHE=0 AUTH_CACHE_SECONDS=0` (a `SELECT 1` at \
         every pool check-out, every document parsed anew and every token looked up, as before \
         these settings existed).\n\n\
         | measurement | MapaGov | MapaGov before | {}pgbench, same SQL | MapaGov ÷ pgbench | MapaGov ÷ before | goal |\n\
         |---|---:|---:|{}---:|---:|---:|---|",
        s.clients,
        r.before_build,
        if r.read_peer.is_some() { "PostGraphile 4 | " } else { "" },
        if r.read_peer.is_some() { "---:|" } else { "" },
    );
    let peer_cell = |value: Option<String>| match (&r.read_peer, value) {
        (None, _) => String::new(),
        (Some(_), Some(v)) => format!(" {v} |"),
        (Some(_), None) => " |".into(),
    };
    let mut row = |what: &str,
                   now: f64,
                   before: f64,
                   peer: Option<f64>,
                   pg: f64,
                   unit: &str,
                   goal: String| {
        let _ = write!(
            text,
            "\n| {what} | {} {unit} | {} {unit} |{} {} {unit} | {} | {} | {goal} |",
            fmt(now),
            fmt(before),
            peer_cell(peer.map(|p| format!("{} {unit}", fmt(p)))),
            fmt(pg),
            ratio(now, pg),
            ratio(now, before),
        );
    };
    let (sn, sb, sp) = (&r.save_now.measured, &r.save_before.measured, &r.save_pg);
    row(
        "autosave (~6 KB, snapshot every save)",
        sn.rate,
        sb.rate,
        None,
        sp.rate,
        "/s",
        goal("≥ 0.50 × pgbench", sn.rate >= 0.5 * sp.rate),
    );
    row(
        "  p50 latency",
        sn.p50_ms,
        sb.p50_ms,
        None,
        sp.p50_ms,
        "ms",
        String::new(),
    );
    row(
        "  p99 latency",
        sn.p99_ms,
        sb.p99_ms,
        None,
        sp.p99_ms,
        "ms",
        String::new(),
    );
    let (rn, rb, rp) = (&r.read_now.measured, &r.read_before.measured, &r.read_pg);
    let peer = r.read_peer.as_ref().map(|f| &f.measured);
    let peer_goal = peer.map_or(String::new(), |p| {
        format!("; {}", goal("≥ 2 × PostGraphile", rn.rate >= 2.0 * p.rate))
    });
    row(
        "`pop(id)` with its document",
        rn.rate,
        rb.rate,
        peer.map(|p| p.rate),
        rp.rate,
        "/s",
        format!(
            "{}{peer_goal}",
            goal("≥ 0.35 × pgbench", rn.rate >= 0.35 * rp.rate)
        ),
    );
    row(
        "  p50 latency",
        rn.p50_ms,
        rb.p50_ms,
        peer.map(|p| p.p50_ms),
        rp.p50_ms,
        "ms",
        String::new(),
    );
    row(
        "  p99 latency",
        rn.p99_ms,
        rb.p99_ms,
        peer.map(|p| p.p99_ms),
        rp.p99_ms,
        "ms",
        String::new(),
    );
    let _ = write!(
        text,
        "\n\nServer CPU per request (user + system, from `/proc`): autosave {:.3} ms (before {:.3} ms); \
         `pop(id)` {:.3} ms (before {:.3} ms){}. MapaGov's memory: {:.1} MiB idle, peak {:.1} MiB \
         under the autosave load.",
        r.save_now.cpu_ms,
        r.save_before.cpu_ms,
        r.read_now.cpu_ms,
        r.read_before.cpu_ms,
        r.read_peer.as_ref().map_or(String::new(), |p| format!(
            "; PostGraphile {:.3} ms per `popByUuid` (master and workers)",
            p.cpu_ms
        )),
        r.rss_idle,
        r.rss_load,
    );
    if r.read_peer.is_some() {
        let _ = write!(
            text,
            "\n\nPostGraphile ran as `postgraphile {}` ({}, `NODE_ENV=production`, the password in \
             `PGPASSWORD`).",
            peers::arguments(0, 0, APP_ROLE, DB, std::thread::available_parallelism().map_or(1, |n| n.get()))
                .join(" ")
                .replace("127.0.0.1:0", "127.0.0.1:<db port>")
                .replace("--port 0", "--port <port>"),
            peers::POSTGRAPHILE,
        );
    }
    report.push(&text);
}
