//! The request path as production runs it (`scripts/bench --api`): a PostgreSQL cluster with
//! `fsync`, `synchronous_commit` and `full_page_writes` on, and in one run
//!
//! - pgbench running the SQL equivalent of each measured request (the baseline);
//! - MapaGov with its defaults;
//! - MapaGov as it ran before the request path was tuned: every pool check-out verified with
//!   `SELECT 1` (`DB_CONN_CHECK_IDLE=0`), every document parsed anew
//!   (`GRAPHQL_DOCUMENT_CACHE=0`), every token looked up (`AUTH_CACHE_SECONDS=0`) and, when `BENCH_BEFORE_BIN` names a build without the
//!   `mimalloc` feature (`scripts/bench --api` makes one), glibc's allocator; so the gain of
//!   those is a same-run ratio (throughput runs only); with `BENCH_BEFORE_SETTINGS=same` it runs
//!   with today's settings instead, so `BENCH_BEFORE_BIN` and the current build are compared as
//!   they are;
//! - with `--peers`, PostGraphile 4 reading the same columns of the same POPs ([`peers`]).
//!
//! The requests: `autosavePop`, `pop(id)` and a `pops(first: 20)` list page with `clients`
//! clients (throughput and latency); then, one client (latency), a `pop.snapshots` and a
//! `popHistory` page of [`BULK_POPS`] bulk-generated POPs of [`BULK_PER_POP`] snapshots and
//! change-log rows each, and `snapshotDiff` of two ~1 MB snapshots. The scenarios are
//! [`api`]'s, the same as the full run's on its `fsync`-off cluster.
//!
//! Server CPU per request comes from `/proc/<pid>/stat` over each measured window, memory from
//! `/proc/<pid>/status`.

use crate::api::{self, BenchPops, BulkPops};
use crate::load::{self, Api};
use crate::measure::Measurement;
use crate::pg_cluster::{ClusterOptions, PgCluster, APP_ROLE};
use crate::pgbench::PgBench;
use crate::report::{fmt, Report};
use crate::server::{self, CpuOf, CpuWindow, MemorySampler, Server};
use crate::{data, peers, BoxError, Settings, DB};
use serde_json::json;
use std::fmt::Write as _;
use std::future::Future;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// A server's figure: throughput and latency, and its CPU per operation.
struct Figure {
    measured: Measurement,
    cpu_ms: f64,
    /// PostgreSQL's CPU per operation (the postmaster and its processes).
    pg_cpu_ms: f64,
    /// The load client's CPU per operation (this process).
    client_cpu_ms: f64,
}

/// The processes whose CPU a run measures: the server under load and PostgreSQL's postmaster.
#[derive(Clone, Copy)]
struct Watch {
    server: u32,
    pg: u32,
}

/// Runs `load` while timing `pid`'s CPU over the measured window; with `BENCH_PERF=<dir>`, also
/// records a CPU profile of the window as `<dir>/<label>.perf.data` ([`profile`]).
async fn with_cpu<F>(watch: Watch, label: &str, s: &Settings, load: F) -> Result<Figure, BoxError>
where
    F: Future<Output = Result<Measurement, BoxError>>,
{
    let processes = vec![
        CpuOf::Tree(watch.server),
        CpuOf::Tree(watch.pg),
        CpuOf::Process(std::process::id()),
    ];
    let cpu = CpuWindow::start(processes, s.warmup, s.window);
    let perf =
        std::env::var_os("BENCH_PERF").map(|dir| profile(watch.server, label, dir.into(), s));
    let measured = load.await?;
    let [cpu_ms, pg_cpu_ms, client_cpu_ms] = cpu.per_operation_ms(measured.count)[..] else {
        return Err("the CPU window measured another number of processes".into());
    };
    if let Some(perf) = perf {
        perf.join().map_err(|_| "the profiler thread panicked")??;
    }
    Ok(Figure {
        measured,
        cpu_ms,
        pg_cpu_ms,
        client_cpu_ms,
    })
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

/// POPs bulk-generated for the list, history and diff runs, and snapshots (and change-log rows)
/// each: a smaller history than the full run's, since these pages read by index.
const BULK_POPS: u64 = 200;
/// Snapshots and change-log rows per bulk POP.
const BULK_PER_POP: u64 = 100;

/// A throwaway PostgreSQL cluster with its durability on (`fsync`, `synchronous_commit`,
/// `full_page_writes`), as in production, and the benchmark database created.
pub fn durable_cluster() -> PgCluster {
    let durable = ["fsync", "synchronous_commit", "full_page_writes"]
        .map(|name| (name.to_owned(), "on".to_owned()))
        .to_vec();
    let cluster = PgCluster::start(ClusterOptions {
        extra_conf: durable,
        ..ClusterOptions::default()
    });
    cluster.create_database(DB);
    cluster
}

/// The whole section, appended to `report`.
pub async fn section(report: &mut Report, s: &Settings) -> Result<(), BoxError> {
    let peer_bin = if s.peers {
        Some(peers::install()?)
    } else {
        None
    };
    let cluster = durable_cluster();
    let url = cluster.url(DB);
    let token = server::create_staff_token(&url, "bench")?;
    let pool = s.clients.to_string();
    let base_env = [("SNAPSHOT_EVERY", "1"), ("DB_POOL_SIZE", pool.as_str())];
    let now = Server::start(&url, &base_env).await?;
    // `BENCH_BEFORE_SETTINGS=same`: "before" runs with today's settings, so two builds are
    // compared as they are (an A/B of code); by default it runs with the pre-tuning ones.
    let same_settings = std::env::var("BENCH_BEFORE_SETTINGS").is_ok_and(|v| v == "same");
    let old_settings: &[(&str, &str)] = if same_settings { &[] } else { &BEFORE };
    let before_env: Vec<(&str, &str)> = base_env.iter().chain(old_settings).copied().collect();
    let before_bin = std::env::var("BENCH_BEFORE_BIN").unwrap_or_else(|_| server::BINARY.into());
    let before = Server::start_binary(&before_bin, &url, &before_env).await?;
    let api_now = Api::new(&now.base, &token)?;
    let api_before = Api::new(&before.base, &token)?;
    let pgbench = PgBench::new(cluster.port(), APP_ROLE, cluster.password(), DB);
    let pops = api::create_pops(&api_now, &cluster, s.clients).await?;
    let rss_idle = server::proc_mib(now.pid(), "VmRSS").unwrap_or(0.0);
    let pg = cluster.postmaster_pid();
    let watch = |server| Watch { server, pg };

    crate::step("autosave, fsync on: pgbench, MapaGov before, MapaGov");
    let (save_pg, save_pg_cpu) =
        pgbench_with_cpu(pg, s, || api::autosave_pgbench(&pgbench, &pops, s))?;
    let save_bound = pgbench_with_cpu(pg, s, || api::autosave_pgbench_bound(&pgbench, &pops, s))?;
    let save_before = with_cpu(
        watch(before.pid()),
        "autosave-before",
        s,
        api::autosave_api(&api_before, &pops, s),
    )
    .await?;
    let sampler = MemorySampler::start(now.pid(), "VmRSS");
    let save_now = with_cpu(
        watch(now.pid()),
        "autosave",
        s,
        api::autosave_api(&api_now, &pops, s),
    )
    .await?;
    let rss_load = sampler.finish();

    crate::step("pop(id), fsync on: pgbench, MapaGov before, MapaGov");
    let (read_pg, read_pg_cpu) =
        pgbench_with_cpu(pg, s, || api::read_pop_pgbench(&pgbench, &pops, s))?;
    let read_before = with_cpu(
        watch(before.pid()),
        "pop-before",
        s,
        api::read_pop_api(&api_before, &pops, s),
    )
    .await?;
    let read_now = with_cpu(
        watch(now.pid()),
        "pop",
        s,
        api::read_pop_api(&api_now, &pops, s),
    )
    .await?;

    // Generated after the POPs above, so the newest 20 (the list's first page) are bulk POPs.
    crate::step(&format!(
        "generating {BULK_POPS} POPs × {BULK_PER_POP} snapshots and change-log rows"
    ));
    cluster.psql(
        DB,
        &data::pg_bulk(
            BULK_POPS,
            BULK_PER_POP,
            "(SELECT id FROM users WHERE username = 'bench')",
        ),
    );
    api::fill_bulk_documents(&cluster);
    let bulk = api::bulk_pops(&cluster)?;

    crate::step("pops(first: 20), fsync on: pgbench, MapaGov before, MapaGov");
    let (list_pg, list_pg_cpu) =
        pgbench_with_cpu(pg, s, || api::pops_list_pgbench(&pgbench, &cluster, s))?;
    let list_before = with_cpu(
        watch(before.pid()),
        "pops-before",
        s,
        api::pops_list_api(&api_before, s),
    )
    .await?;
    let list_now = with_cpu(watch(now.pid()), "pops", s, api::pops_list_api(&api_now, s)).await?;
    drop(before);

    crate::step("pop(id): peers");
    let read_peer = match &peer_bin {
        Some(bin) => Some(postgraphile_reads(bin, &cluster, &pops, s).await?),
        None => None,
    };

    crate::step("pop.snapshots and popHistory pages, fsync on: pgbench, MapaGov");
    let snapshots_page = page(&api_now, &pgbench, &bulk, watch(now.pid()), s, true).await?;
    let history_page = page(&api_now, &pgbench, &bulk, watch(now.pid()), s, false).await?;

    crate::step("snapshotDiff, fsync on: pgbench, MapaGov");
    let pair = api::diff_snapshots(&api_now).await?;
    let diff = Latency {
        pg: api::diff_pgbench(&pgbench, &pair, s)?,
        now: with_cpu(
            watch(now.pid()),
            "diff",
            s,
            api::diff_api(&api_now, &pair, s),
        )
        .await?,
    };

    write(
        report,
        s,
        &Results {
            save: Throughput {
                pg: save_pg,
                pg_cpu_ms: save_pg_cpu,
                before: save_before,
                now: save_now,
            },
            read: Throughput {
                pg: read_pg,
                pg_cpu_ms: read_pg_cpu,
                before: read_before,
                now: read_now,
            },
            list: Throughput {
                pg: list_pg,
                pg_cpu_ms: list_pg_cpu,
                before: list_before,
                now: list_now,
            },
            save_bound,
            read_peer,
            snapshots_page,
            history_page,
            diff,
            rss_idle,
            rss_load,
            before_build: if before_bin == server::BINARY {
                "the same binary"
            } else {
                "the build `BENCH_BEFORE_BIN` (by default `--no-default-features`: glibc's allocator)"
            },
            before_settings: if same_settings {
                "the same settings as MapaGov (`BENCH_BEFORE_SETTINGS=same`: two builds compared)"
            } else {
                "`DB_CONN_CHECK_IDLE=0 GRAPHQL_DOCUMENT_CACHE=0 AUTH_CACHE_SECONDS=0` (a `SELECT 1` at \
                 every pool check-out, every document parsed anew and every token looked up, as \
                 before these settings existed)"
            },
        },
    );
    Ok(())
}

/// One page (20) of `pop.snapshots` (`snapshots`) or `popHistory` of the bulk POPs, one client:
/// pgbench's SELECTs, then MapaGov with its CPU.
async fn page(
    api: &Api,
    pgbench: &PgBench,
    bulk: &BulkPops,
    watch: Watch,
    s: &Settings,
    snapshots: bool,
) -> Result<Latency, BoxError> {
    let label = if snapshots {
        "snapshots-page"
    } else {
        "history-page"
    };
    Ok(Latency {
        pg: api::history_page_pgbench(pgbench, bulk, s, snapshots)?,
        now: with_cpu(
            watch,
            label,
            s,
            api::history_page_api(api, bulk, s, snapshots),
        )
        .await?,
    })
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
    // Prepared and checked as MapaGov's `pop(id)` load is (`api::read_pop_api`).
    let requests: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        (pops.uuids().iter())
            .map(|id| {
                let body = load::body(peers::POP_BY_UUID, &json!({ "uuid": id }));
                (id.clone(), body)
            })
            .collect(),
    );
    let load = load::run(s.clients, s.warmup, s.window, move |c, i| {
        let api = api.clone();
        let requests = Arc::clone(&requests);
        let which = (c + usize::try_from(i).unwrap_or(0)) % requests.len();
        async move {
            let (id, body) = &requests[which];
            let out: ByUuid = api.send(body.clone()).await?;
            if out.pop_by_uuid.uuid != *id {
                return Err(format!("popByUuid answered {}", out.pop_by_uuid.uuid));
            }
            Ok(())
        }
    });
    let watch = Watch {
        server: peer.pid(),
        pg: cluster.postmaster_pid(),
    };
    with_cpu(watch, "postgraphile", s, load).await
}

/// What the PostGraphile load checks of a response: the POP asked for, with its steps.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByUuid {
    pop_by_uuid: PopByUuid,
}

#[derive(serde::Deserialize)]
struct PopByUuid {
    uuid: String,
    #[serde(rename = "etapas")]
    _etapas: load::JsonArray,
}

/// Runs a pgbench `load` while timing PostgreSQL's CPU (`pg`, the postmaster) over the measured
/// window: the measurement and PostgreSQL's CPU per transaction.
fn pgbench_with_cpu(
    pg: u32,
    s: &Settings,
    load: impl FnOnce() -> Result<Measurement, BoxError>,
) -> Result<(Measurement, f64), BoxError> {
    let cpu = CpuWindow::start(vec![CpuOf::Tree(pg)], s.warmup, s.window);
    let measured = load()?;
    let pg_ms = cpu.per_operation_ms(measured.count)[0];
    Ok((measured, pg_ms))
}

/// A throughput run (`clients` clients): pgbench, MapaGov before, MapaGov.
struct Throughput {
    pg: Measurement,
    /// PostgreSQL's CPU per transaction in pgbench's run.
    pg_cpu_ms: f64,
    before: Figure,
    now: Figure,
}

/// A latency run (one client): pgbench, MapaGov.
struct Latency {
    pg: Measurement,
    now: Figure,
}

struct Results {
    save: Throughput,
    read: Throughput,
    list: Throughput,
    /// pgbench's autosave with the documents bound as parameters, and PostgreSQL's CPU per
    /// transaction in it.
    save_bound: (Measurement, f64),
    read_peer: Option<Figure>,
    snapshots_page: Latency,
    history_page: Latency,
    diff: Latency,
    rss_idle: f64,
    rss_load: f64,
    before_build: &'static str,
    /// The settings "before" ran with.
    before_settings: &'static str,
}

/// One row of the table; `None` leaves its cell empty.
struct Line {
    what: String,
    unit: &'static str,
    now: f64,
    before: Option<f64>,
    peer: Option<f64>,
    pg: f64,
    cpu_ms: Option<f64>,
    goal: String,
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

/// The rows of a throughput run: the rate (with the server's CPU per request and `goal`), p50
/// and p99; `peer` fills the PostGraphile column.
fn throughput_lines(
    what: &str,
    t: &Throughput,
    peer: Option<&Measurement>,
    goal: String,
) -> [Line; 3] {
    let (now, before) = (&t.now.measured, &t.before.measured);
    let line = |what: &str, unit, pick: fn(&Measurement) -> f64| Line {
        what: what.to_owned(),
        unit,
        now: pick(now),
        before: Some(pick(before)),
        peer: peer.map(pick),
        pg: pick(&t.pg),
        cpu_ms: None,
        goal: String::new(),
    };
    [
        Line {
            cpu_ms: Some(t.now.cpu_ms),
            goal,
            ..line(what, "/s", |m| m.rate)
        },
        line("  p50 latency", "ms", |m| m.p50_ms),
        line("  p99 latency", "ms", |m| m.p99_ms),
    ]
}

/// The rows of a latency run: p50 (with the server's CPU per request) and p99, whose goal is
/// to stay under `limit_ms`.
fn latency_lines(what: &str, l: &Latency, limit_ms: f64) -> [Line; 2] {
    let now = &l.now.measured;
    let line = |what: String, value: f64, pg: f64| Line {
        what,
        unit: "ms",
        now: value,
        before: None,
        peer: None,
        pg,
        cpu_ms: None,
        goal: String::new(),
    };
    [
        Line {
            cpu_ms: Some(l.now.cpu_ms),
            ..line(format!("{what}: p50 latency"), now.p50_ms, l.pg.p50_ms)
        },
        Line {
            goal: goal(&format!("p99 < {limit_ms} ms"), now.p99_ms < limit_ms),
            ..line("  p99 latency".into(), now.p99_ms, l.pg.p99_ms)
        },
    ]
}

fn write(report: &mut Report, s: &Settings, r: &Results) {
    let peer = r.read_peer.as_ref().map(|f| &f.measured);
    let mut text = format!(
        "\n## Request path with `fsync` on (PostgreSQL)\n\n\
         Same run, same database; throughput with {} clients, the pages and the diff with one \
         client. MapaGov \"before\" is {} with {}; it runs the throughput loads only.\n\n\
         | measurement | MapaGov | MapaGov before | {}pgbench, same SQL | MapaGov ÷ pgbench | MapaGov ÷ before | MapaGov CPU / request | goal |\n\
         |---|---:|---:|{}---:|---:|---:|---:|---|",
        s.clients,
        r.before_build,
        r.before_settings,
        if peer.is_some() { "PostGraphile 4 | " } else { "" },
        if peer.is_some() { "---:|" } else { "" },
    );
    let (save, read) = (&r.save.now.measured, &r.read.now.measured);
    let peer_goal = peer.map_or(String::new(), |p| {
        format!(
            "; {}",
            goal("≥ 2 × PostGraphile", read.rate >= 2.0 * p.rate)
        )
    });
    let pages = BULK_POPS * BULK_PER_POP;
    let mut lines = Vec::new();
    lines.extend(throughput_lines(
        "autosave (~6 KB, snapshot every save)",
        &r.save,
        None,
        goal("≥ 0.50 × pgbench", save.rate >= 0.5 * r.save.pg.rate),
    ));
    lines.push(Line {
        what: "  next to pgbench with the documents bound as parameters".into(),
        unit: "/s",
        now: save.rate,
        before: None,
        peer: None,
        pg: r.save_bound.0.rate,
        cpu_ms: None,
        goal: "(no goal: the goal's baseline is the row above)".into(),
    });
    lines.extend(throughput_lines(
        "`pop(id)` with its document",
        &r.read,
        peer,
        format!(
            "{}{peer_goal}",
            goal("≥ 0.35 × pgbench", read.rate >= 0.35 * r.read.pg.rate)
        ),
    ));
    lines.extend(throughput_lines(
        "`pops(first: 20)`, list fields",
        &r.list,
        None,
        String::new(),
    ));
    lines.extend(latency_lines(
        "`pop.snapshots(first: 20)`",
        &r.snapshots_page,
        10.0,
    ));
    lines.extend(latency_lines(
        "`popHistory(first: 20)`",
        &r.history_page,
        10.0,
    ));
    lines.extend(latency_lines(
        "`snapshotDiff`, two ~1 MB snapshots",
        &r.diff,
        50.0,
    ));
    let cell = |value: Option<f64>, unit: &str| {
        value.map_or(String::new(), |v| format!("{} {unit}", fmt(v)))
    };
    for line in &lines {
        let peer_cell = if peer.is_some() {
            format!(" {} |", cell(line.peer, line.unit))
        } else {
            String::new()
        };
        let _ = write!(
            text,
            "\n| {} | {} {unit} | {} |{peer_cell} {} {unit} | {} | {} | {} | {} |",
            line.what,
            fmt(line.now),
            cell(line.before, line.unit),
            fmt(line.pg),
            ratio(line.now, line.pg),
            line.before.map_or(String::new(), |b| ratio(line.now, b)),
            line.cpu_ms
                .map_or(String::new(), |ms| format!("{ms:.3} ms")),
            line.goal,
            unit = line.unit,
        );
    }
    let _ = write!(
        text,
        "\n\n`pops(first: 20)` asks for `totalCount` and, for each of the 20 newest POPs, its id, \
         name, process code, macroprocess, area, status, version, autosave sequence, last update \
         and owner ({} clients, every response checked for 20 edges); the page is 20 of {BULK_POPS} \
         POPs generated with `generate_series`, each given a ~6 KB document of the autosave's, and \
         pgbench runs the page's `SELECT`, the count and the owner's lookup. `pop.snapshots` and \
         `popHistory` read a page of 20 of a random one of those POPs, {BULK_PER_POP} snapshots \
         and {BULK_PER_POP} change-log rows each ({pages} of each in all; the full run's section 3 \
         has 1,000,000), next to pgbench's POP lookup and page `SELECT`; `snapshotDiff` compares \
         two ~1 MB snapshots of one POP (one step in twenty differs), next to pgbench reading \
         both payloads. The list has no goal of its own. The autosave's second row runs pgbench's \
         statements with the documents (the new and old steps, the snapshot's document) bound as \
         text parameters, as a client of the database sends them, instead of copied as `jsonb` \
         from a table: PostgreSQL then parses and compresses them on every transaction, as it \
         does for the API's.",
        s.clients,
    );
    let _ = write!(
        text,
        "\n\nServer CPU per request (user + system, from `/proc`, over each measured window) is \
         MapaGov's in the table; the \"before\" build used {:.3} ms per autosave, {:.3} ms per \
         `pop(id)` and {:.3} ms per `pops(first: 20)`{}. MapaGov's memory: {:.1} MiB idle, peak \
         {:.1} MiB under the autosave load.",
        r.save.before.cpu_ms,
        r.read.before.cpu_ms,
        r.list.before.cpu_ms,
        r.read_peer.as_ref().map_or(String::new(), |p| format!(
            "; PostGraphile {:.3} ms per `popByUuid` (master and workers)",
            p.cpu_ms
        )),
        r.rss_idle,
        r.rss_load,
    );
    write_cpu_shares(&mut text, r);
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

/// Where the machine's CPU went in each throughput run: per request, the server's, PostgreSQL's
/// and the load client's, next to what the cores had (cores ÷ rate); what is left is idle time
/// or other processes.
fn write_cpu_shares(text: &mut String, r: &Results) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let _ = write!(
        text,
        "\n\nCPU per request by process in the throughput runs (user + system, over the measured \
         window): the server (with its workers), PostgreSQL (the postmaster and every backend) and \
         the load client (the benchmark's own process); \"cores ÷ rate\" is the CPU time the \
         machine's {cores} cores had per request. When the three add up to it, the machine was \
         saturated, and a server's throughput depends on what the other two cost as much as on \
         its own share.\n\n\
         | run | server | PostgreSQL | load client | sum | cores ÷ rate |\n|---|---:|---:|---:|---:|---:|"
    );
    let available = |m: &Measurement| cores * 1000.0 / m.rate.max(f64::MIN_POSITIVE);
    let mut runs = Vec::new();
    for (what, t) in [
        ("autosave", &r.save),
        ("`pop(id)`", &r.read),
        ("`pops(first: 20)`", &r.list),
    ] {
        runs.push((format!("{what}, MapaGov before"), &t.before));
        runs.push((format!("{what}, MapaGov"), &t.now));
        if let (Some(peer), "`pop(id)`") = (&r.read_peer, what) {
            runs.push(("`popByUuid`, PostGraphile".into(), peer));
        }
    }
    for (run, f) in runs {
        let sum = f.cpu_ms + f.pg_cpu_ms + f.client_cpu_ms;
        let _ = write!(
            text,
            "\n| {run} | {:.3} ms | {:.3} ms | {:.3} ms | {sum:.3} ms | {:.3} ms |",
            f.cpu_ms,
            f.pg_cpu_ms,
            f.client_cpu_ms,
            available(&f.measured),
        );
    }
    for (what, t) in [
        ("autosave", &r.save),
        ("`pop(id)`", &r.read),
        ("`pops(first: 20)`", &r.list),
    ] {
        let _ = write!(
            text,
            "\n| {what}, pgbench's SQL |  | {:.3} ms | (pgbench) |  | {:.3} ms |",
            t.pg_cpu_ms,
            available(&t.pg),
        );
        if what == "autosave" {
            let (bound, pg_ms) = &r.save_bound;
            let _ = write!(
                text,
                "\n| autosave, pgbench's SQL with the documents bound |  | {pg_ms:.3} ms | (pgbench) |  | {:.3} ms |",
                available(bound),
            );
        }
    }
}
