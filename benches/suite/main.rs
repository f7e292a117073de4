//! MapaGov's benchmark suite. Run it with `scripts/bench` (`--quick` for a short check of the
//! harness); docs/BENCHMARKS.md explains what it measures and holds the last full run.
//!
//! It starts a throwaway PostgreSQL cluster (the integration tests' `pg_cluster.rs`), runs the
//! real `mapagov` binary as a separate server process, drives it over HTTP with concurrent
//! clients, and measures every figure next to a baseline taken in the same run (pgbench running
//! the equivalent SQL, `pg_dump | psql`), because shared machines are noisy and ratios are what
//! count. `cargo test --all-targets` builds this target and runs it without `--bench`, which only
//! prints how to run it.

#[path = "../../tests/common/pg_cluster.rs"]
#[allow(dead_code)]
mod pg_cluster;

mod api;
mod copy;
mod data;
mod hot_path;
mod live;
mod load;
mod measure;
mod partition;
mod pdf;
mod peers;
mod pgbench;
mod report;
mod server;
mod sessions;
mod sqlite_sync;
mod toast;

use report::{Report, Row};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Errors of the suite: any failure stops it with a message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The benchmark database in the throwaway cluster.
pub const DB: &str = "bench";

/// Snapshots per bulk-generated POP.
const PER_POP: u64 = 500;

/// Everything below this line of the report is written by hand and kept when it is regenerated.
const ANALYSIS_MARKER: &str = "<!-- Written by hand below this line; scripts/bench keeps it. -->";

/// How the figures are obtained, appended to every report.
const METHOD: &str = include_str!("method.md");

/// Sizes and durations of a run (flags and `BENCH_*` variables; see docs/BENCHMARKS.md).
pub struct Settings {
    /// `--quick`: small sizes, short durations.
    pub quick: bool,
    /// Concurrent clients for throughput runs (`BENCH_CLIENTS`).
    pub clients: usize,
    /// Unrecorded warm-up before each run (`BENCH_WARMUP`, seconds).
    pub warmup: Duration,
    /// Measured window of each run (`BENCH_DURATION`, seconds).
    pub window: Duration,
    /// Snapshots generated for the history and partitioning runs (`BENCH_SNAPSHOTS`).
    pub snapshots: u64,
    /// Snapshot counts copied by `mapagov copy` (`BENCH_COPY_SIZES`, comma-separated).
    pub copy_sizes: Vec<u64>,
    /// Where the report goes (`--out PATH`).
    pub out: PathBuf,
    /// `--sqlite-sync`: only the SQLite `synchronous` comparison, printed, no report written.
    pub sqlite_sync_only: bool,
    /// `--pdf`: only the PDF rendering case, printed, no report written.
    pub pdf_only: bool,
    /// `--toast`: only PostgreSQL's lz4 against pglz compression of a document, printed, no
    /// report written.
    pub toast_only: bool,
    /// `--api`: only the request path with `fsync` on, printed and written to
    /// `target/BENCHMARKS.api.md`.
    pub api_only: bool,
    /// `--peers`: PostGraphile 4 beside MapaGov in the request-path section.
    pub peers: bool,
    /// `--sessions`: only `popEditSessions` at `BENCH_SNAPSHOTS` change-log rows, printed, no
    /// report written.
    pub sessions_only: bool,
    /// `--live`: only the live-changes runs (two server processes, event latency, 1,000 open
    /// subscriptions), printed, no report written.
    pub live_only: bool,
}

impl Settings {
    fn from_args(args: &[String]) -> Result<Settings, BoxError> {
        let quick = args.iter().any(|a| a == "--quick");
        let env_u64 = |name: &str, full: u64, short: u64| -> Result<u64, BoxError> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .map_err(|e| format!("{name}={v}: {e}").into()),
                Err(_) => Ok(if quick { short } else { full }),
            }
        };
        let copy_sizes = match std::env::var("BENCH_COPY_SIZES") {
            Ok(v) => v
                .split(',')
                .map(|n| n.trim().parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("BENCH_COPY_SIZES={v}: {e}"))?,
            Err(_) if quick => vec![10_000, 40_000],
            Err(_) => vec![250_000, 1_000_000],
        };
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let out = match args.iter().position(|a| a == "--out") {
            Some(i) => PathBuf::from(args.get(i + 1).ok_or("--out needs a path")?),
            None if quick => root.join("target/BENCHMARKS.quick.md"),
            None => root.join("docs/BENCHMARKS.md"),
        };
        Ok(Settings {
            quick,
            clients: usize::try_from(env_u64("BENCH_CLIENTS", 16, 16)?)?,
            warmup: Duration::from_secs(env_u64("BENCH_WARMUP", 3, 1)?),
            window: Duration::from_secs(env_u64("BENCH_DURATION", 15, 3)?.max(1)),
            snapshots: env_u64("BENCH_SNAPSHOTS", 1_000_000, 20_000)?,
            copy_sizes,
            out,
            sqlite_sync_only: args.iter().any(|a| a == "--sqlite-sync"),
            pdf_only: args.iter().any(|a| a == "--pdf"),
            toast_only: args.iter().any(|a| a == "--toast"),
            api_only: args.iter().any(|a| a == "--api"),
            peers: args.iter().any(|a| a == "--peers"),
            sessions_only: args.iter().any(|a| a == "--sessions"),
            live_only: args.iter().any(|a| a == "--live"),
        })
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("the benchmark suite measures only under `cargo bench`: run scripts/bench");
        return;
    }
    let result = Settings::from_args(&args).and_then(|settings| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run(&settings))
    });
    if let Err(e) = result {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

/// Prints the step the suite is at.
pub fn step(what: &str) {
    eprintln!("[bench] {what}");
}

async fn run(s: &Settings) -> Result<(), BoxError> {
    let started = Instant::now();
    let mut report = Report::default();
    if s.sqlite_sync_only {
        step("SQLite autosave, synchronous full vs normal");
        sqlite_sync::section(&mut report, s).await?;
        println!("{}", report.into_text());
        return Ok(());
    }
    if s.toast_only {
        step("PostgreSQL compression: lz4 vs pglz");
        toast::section(&mut report, s)?;
        println!("{}", report.into_text());
        return Ok(());
    }
    if s.pdf_only {
        step("PDF of a 50-step POP");
        pdf::section(&mut report, s).await?;
        println!("{}", report.into_text());
        return Ok(());
    }
    if s.api_only {
        step("request path, fsync on");
        hot_path::section(&mut report, s).await?;
        let text = report.into_text();
        let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/BENCHMARKS.api.md");
        if let Some(dir) = out.parent() {
            // `target/` is not there when CARGO_TARGET_DIR points elsewhere.
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&out, &text)?;
        println!("{text}");
        step(&format!("written to {}", out.display()));
        return Ok(());
    }
    step("starting PostgreSQL");
    let cluster = pg_cluster::PgCluster::start(pg_cluster::ClusterOptions::default());
    cluster.create_database(DB);
    let url = cluster.url(DB);
    header(&mut report, s, &cluster);

    let token = server::create_staff_token(&url, "bench")?;
    // The second person of the editing-session histories.
    server::create_staff_token(&url, "bench-other")?;
    let pool = s.clients.to_string();
    let server =
        server::Server::start(&url, &[("SNAPSHOT_EVERY", "1"), ("DB_POOL_SIZE", &pool)]).await?;
    let api = load::Api::new(&server.base, &token)?;
    let pgbench =
        pgbench::PgBench::new(cluster.port(), pg_cluster::APP_ROLE, cluster.password(), DB);
    if s.sessions_only {
        sessions::section(&mut report, s, &cluster, &api, &pgbench).await?;
        println!("{}", report.into_text());
        return Ok(());
    }
    if s.live_only {
        drop(server);
        live::section(&mut report, s, &url, &token).await?;
        println!("{}", report.into_text());
        return Ok(());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = server::proc_mib(server.pid(), "VmRSS").unwrap_or(0.0);

    step("autosave");
    let pops = api::create_pops(&api, &cluster, s.clients).await?;
    let sampler = server::MemorySampler::start(server.pid(), "VmRSS");
    let autosave = api::autosave(&api, &pgbench, &pops, s).await?;
    let rss_load = sampler.finish();
    step("pop(id)");
    let read = api::read_pop(&api, &pgbench, &pops, s).await?;
    let rss_after = server::proc_mib(server.pid(), "VmRSS").unwrap_or(0.0);
    let mut rows = Report::rate_rows(
        "autosave (~6 KB document, snapshot every save)",
        &autosave.api,
        &autosave.pgbench,
        0.5,
    );
    rows.extend(Report::rate_rows(
        "`pop(id)` with its document",
        &read.api,
        &read.pgbench,
        1.0 / 3.0,
    ));
    report.table(
        &format!(
            "1–2. Autosave and `pop(id)` throughput ({} clients, PostgreSQL)",
            s.clients
        ),
        "pgbench, same SQL",
        &rows,
    );

    step(&format!(
        "generating {} snapshots and change-log rows",
        s.snapshots
    ));
    let bulk_pops = s.snapshots.div_ceil(PER_POP).max(1);
    let gen_started = Instant::now();
    cluster.psql(
        DB,
        &data::pg_bulk(
            bulk_pops,
            PER_POP,
            "(SELECT id FROM users WHERE username = 'bench')",
        ),
    );
    let generated_in = gen_started.elapsed();
    let bulk = api::bulk_pops(&cluster)?;
    step("history pages");
    let snaps = api::history_page(&api, &pgbench, &bulk, s, true).await?;
    let history = api::history_page(&api, &pgbench, &bulk, s, false).await?;
    let goal = |p99: f64, limit: f64| Some((format!("p99 < {limit} ms"), p99 < limit));
    report.table(
        &format!(
            "3. History pages with {} snapshots and {} change-log rows (one client, first: 20)",
            bulk_pops * PER_POP,
            bulk_pops * PER_POP
        ),
        "pgbench, same SELECTs",
        &[
            Row {
                what: "`pop.snapshots` p50",
                value: snaps.api.p50_ms,
                baseline: snaps.pgbench.p50_ms,
                unit: "ms",
                goal: None,
            },
            Row {
                what: "`pop.snapshots` p99",
                value: snaps.api.p99_ms,
                baseline: snaps.pgbench.p99_ms,
                unit: "ms",
                goal: goal(snaps.api.p99_ms, 10.0),
            },
            Row {
                what: "`popHistory` p50",
                value: history.api.p50_ms,
                baseline: history.pgbench.p50_ms,
                unit: "ms",
                goal: None,
            },
            Row {
                what: "`popHistory` p99",
                value: history.api.p99_ms,
                baseline: history.pgbench.p99_ms,
                unit: "ms",
                goal: goal(history.api.p99_ms, 10.0),
            },
        ],
    );
    report.push(&format!(
        "\nGenerated with `generate_series` ({bulk_pops} POPs × {PER_POP}) in {:.1} s.",
        generated_in.as_secs_f64()
    ));
    sessions::section(&mut report, s, &cluster, &api, &pgbench).await?;

    step("snapshotDiff");
    let diff = api::diff(&api, &pgbench, s).await?;
    report.table(
        "4. `snapshotDiff` of two 1 MB snapshots (one client)",
        "pgbench, reading both payloads",
        &[
            Row {
                what: "p50",
                value: diff.api.p50_ms,
                baseline: diff.pgbench.p50_ms,
                unit: "ms",
                goal: None,
            },
            Row {
                what: "p99",
                value: diff.api.p99_ms,
                baseline: diff.pgbench.p99_ms,
                unit: "ms",
                goal: goal(diff.api.p99_ms, 50.0),
            },
        ],
    );

    report.table(
        "6. Server memory (RSS of the `mapagov serve` process)",
        "idle at start",
        &[
            Row {
                what: "peak under autosave load",
                value: rss_load,
                baseline: rss_idle,
                unit: "MiB",
                goal: None,
            },
            Row {
                what: "after the load runs",
                value: rss_after,
                baseline: rss_idle,
                unit: "MiB",
                goal: None,
            },
        ],
    );
    drop(server);

    live::section(&mut report, s, &url, &token).await?;

    step("request path, fsync on");
    hot_path::section(&mut report, s).await?;
    step("SQLite autosave, synchronous full vs normal");
    sqlite_sync::section(&mut report, s).await?;
    step("PDF of a 50-step POP");
    pdf::section(&mut report, s).await?;

    step("partitioning");
    let parts = partition::compare(&cluster, &pgbench, s, bulk.lo(), bulk.hi())?;
    partition_section(&mut report, s, &parts);
    cluster.psql("postgres", &format!("DROP DATABASE \"{DB}\";"));

    step("copy");
    copy_section(&mut report, s, &cluster)?;

    report.push(&format!(
        "\nWhole run: {:.0} s. Load average at the end: {}.",
        started.elapsed().as_secs_f64(),
        loadavg()
    ));
    report.push(METHOD);
    // The hand-written analysis below the marker survives regeneration.
    let kept = std::fs::read_to_string(&s.out)
        .ok()
        .and_then(|old| old.find(ANALYSIS_MARKER).map(|at| old[at..].to_owned()))
        .unwrap_or_else(|| format!("{ANALYSIS_MARKER}\n\n## Analysis\n\n(none yet)\n"));
    if let Some(dir) = s.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&s.out, format!("{}\n{kept}", report.into_text()))?;
    step(&format!("report written to {}", s.out.display()));
    Ok(())
}

fn copy_section(
    report: &mut Report,
    s: &Settings,
    cluster: &pg_cluster::PgCluster,
) -> Result<(), BoxError> {
    let mut runs = Vec::new();
    for &size in &s.copy_sizes {
        step(&format!("copy of {size} snapshots"));
        let run = copy::copy(cluster, size)?;
        runs.push(run);
    }
    let largest = runs.last().ok_or("BENCH_COPY_SIZES is empty")?;
    let baseline = copy::dump_restore(cluster, largest)?;
    let mut rows = Vec::new();
    let labels: Vec<String> = runs
        .iter()
        .map(|r| format!("{} snapshots: rows/s", r.snapshots))
        .collect();
    for (run, label) in runs.iter().zip(&labels) {
        rows.push(Row {
            what: label,
            value: run.rate(),
            baseline,
            unit: "/s",
            goal: None,
        });
    }
    report.table(
        "5. `mapagov copy` SQLite → PostgreSQL (including its count and checksum verification)",
        &format!("`pg_dump \\| psql` of the {} rows", largest.rows),
        &rows,
    );
    report.push(
        "\n| snapshots | rows | time | peak RSS (VmHWM) of `mapagov copy` |\n|---:|---:|---:|---:|",
    );
    for run in &runs {
        report.push(&format!(
            "| {} | {} | {:.1} s | {:.1} MiB |",
            run.snapshots, run.rows, run.secs, run.peak_mib
        ));
    }
    if let [small, .., big] = runs.as_slice() {
        report.push(&format!(
            "\nPeak memory grows {:.2}× for {:.1}× the data (flat means ≈ 1).",
            big.peak_mib / small.peak_mib.max(1e-9),
            big.snapshots as f64 / small.snapshots.max(1) as f64
        ));
    }
    Ok(())
}

fn partition_section(report: &mut Report, s: &Settings, p: &partition::Outcome) {
    report.table(
        &format!(
            "Partitioning: {} snapshots, current table vs. {} monthly partitions (+ default), {} clients",
            p.rows, p.partitions, s.clients
        ),
        "current table",
        &[
            Row { what: "history by POP (page, latest, next sequence): tx/s", value: p.partitioned.history.rate, baseline: p.plain.history.rate, unit: "/s", goal: None },
            Row { what: "  p99", value: p.partitioned.history.p99_ms, baseline: p.plain.history.p99_ms, unit: "ms", goal: None },
            Row { what: "retention of one POP (rolled back): tx/s", value: p.partitioned.retain_one.rate, baseline: p.plain.retain_one.rate, unit: "/s", goal: None },
            Row { what: "  p99", value: p.partitioned.retain_one.p99_ms, baseline: p.plain.retain_one.p99_ms, unit: "ms", goal: None },
            Row { what: &format!("retention of all POPs ({} rows), one statement", p.retained_away), value: p.partitioned.retain_all_ms, baseline: p.plain.retain_all_ms, unit: "ms", goal: None },
            Row { what: "size with indexes", value: p.partitioned.size_mib, baseline: p.plain.size_mib, unit: "MiB", goal: None },
        ],
    );
    report.push("\nThe MapaGov column is the partitioned copy here. See docs/PARTITIONING.md for the decision.");
}

fn header(report: &mut Report, s: &Settings, cluster: &pg_cluster::PgCluster) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let pg = cluster.psql("postgres", "SHOW server_version");
    report.push(&format!(
        "# Benchmarks\n\n\
         Generated by `scripts/bench{}` on {} — do not edit by hand; docs/BENCHMARKS.md in the repo \
         holds the last full run, and the explanation of each figure is at the end.\n\n\
         - machine: {cores} cores ({cpu}), {mem_gib:.1} GiB memory; load average at start: {}\n\
         - PostgreSQL {pg}, a throwaway cluster started by the suite (`fsync`, `synchronous_commit` \
         and `full_page_writes` off, as in the tests) — the same server for MapaGov and its baselines\n\
         - `mapagov` built with the release profile, run as a separate process (`SNAPSHOT_EVERY=1`, \
         `DB_POOL_SIZE={}`); load from {} HTTP clients in one process on the same machine\n\
         - each run: {} s warm-up (not recorded), {} s measured; latencies with HdrHistogram\n\
         - the machine is shared with other builds while this runs: absolute numbers are noisy, \
         the ratios to the same-run baselines are what count",
        if s.quick { " --quick" } else { "" },
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        loadavg(),
        s.clients,
        s.clients,
        s.warmup.as_secs(),
        s.window.as_secs(),
    ));
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
