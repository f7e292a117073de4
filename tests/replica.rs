//! The read replica (`DATABASE_REPLICA_URL`) through real `mapagov serve` processes, on a real
//! streaming replica made with `pg_basebackup` (`PgCluster::start_standby`).
//!
//! Replay on the standby is paused to make the replica visibly stale: a reader who did not write
//! then sees the old state (so the replica served it), while the writer sees their own write at
//! once, through the process that took it and through another one (which only heard of it by
//! `NOTIFY`). With replay paused past the window, or the standby stopped, reads are current
//! (the primary answers) and never fail.
#![allow(clippy::unwrap_used)]

mod common;

use common::binary::{self, Served};
use common::pg_cluster::{ClusterOptions, PgCluster};
use common::prom;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// A primary, its streaming replica, one migrated database on them, an editor and a staff user.
struct Replicated {
    primary: PgCluster,
    standby: PgCluster,
    url: String,
    replica_url: String,
    dir: tempfile::TempDir,
    /// Ana, an editor: writes POPs.
    editor: String,
    /// Bia, staff: may read every POP, writes nothing.
    staff: String,
}

impl Replicated {
    fn start() -> Replicated {
        let primary = PgCluster::start(ClusterOptions::default());
        primary.stop_when_process_exits();
        let standby = primary.start_standby();
        standby.stop_when_process_exits();
        primary.create_database("mapagov");
        let (url, replica_url) = (primary.url("mapagov"), standby.url("mapagov"));
        let dir = tempfile::tempdir().expect("dir");
        let mut migrate = binary::command(&url, dir.path(), &[]);
        migrate.arg("migrate");
        binary::run_ok(migrate);
        let editor = binary::create_user(&url, dir.path(), "ana");
        let staff = create_staff(&url, dir.path(), "bia");
        standby.wait_for_replay(&primary);
        Replicated {
            primary,
            standby,
            url,
            replica_url,
            dir,
            editor,
            staff,
        }
    }

    /// `mapagov serve` on the primary with the replica and a read-your-writes window of
    /// `window` seconds, once its listener listens and the replica is in use.
    async fn serve(&self, window: &str) -> Served {
        let served = Served::start(
            &self.url,
            self.dir.path(),
            &[
                ("DATABASE_REPLICA_URL", &self.replica_url),
                ("REPLICA_READ_YOUR_WRITES", window),
            ],
        )
        .await;
        wait_for_gauge(&served.base, "mapagov_live_listener_up", 1.0).await;
        wait_for_gauge(&served.base, "mapagov_db_replica_usable", 1.0).await;
        served
    }
}

fn create_staff(url: &str, dir: &Path, username: &str) -> String {
    let mut cmd = binary::command(url, dir, &[]);
    cmd.args(["user", "create", username, "--staff"]);
    let output = binary::run_ok(cmd);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("a token line")
        .trim()
        .to_owned()
}

/// POSTs a GraphQL document; returns `data`, which must come without errors.
async fn gql(base: &str, token: &str, query: &str, variables: Value) -> Value {
    gql_at(base, token, None, query, variables).await.0
}

/// POSTs a GraphQL document with `MapaGov-Read-After: read_after` when given; returns `data`,
/// which must come without errors, and the answer's `MapaGov-Write-Position`.
async fn gql_at(
    base: &str,
    token: &str,
    read_after: Option<&str>,
    query: &str,
    variables: Value,
) -> (Value, Option<String>) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(position) = read_after {
        request = request.header("MapaGov-Read-After", position);
    }
    let response = request.send().await.expect("POST /graphql");
    let position = response
        .headers()
        .get("mapagov-write-position")
        .map(|value| value.to_str().expect("ascii").to_owned());
    let body: Value = response.json().await.expect("JSON");
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    (body["data"].clone(), position)
}

const SAVE: &str = "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { \
    autosaveSequence pop { id } } }";

/// Autosaves `name` into `pop` (a new POP if `None`) through `base`; returns the POP's id and its
/// sequence after the write.
async fn save(base: &str, token: &str, pop: Option<&str>, name: &str) -> (String, i64) {
    let data = gql(
        base,
        token,
        SAVE,
        json!({"input": {"sessionId": "replica", "popId": pop,
            "content": {"nomeProcesso": name}}}),
    )
    .await;
    let payload = &data["autosavePop"];
    (
        payload["pop"]["id"].as_str().unwrap().to_owned(),
        payload["autosaveSequence"].as_i64().unwrap(),
    )
}

/// The POP's sequence as `token` reads it through `base`.
async fn sequence(base: &str, token: &str, pop: &str) -> i64 {
    sequence_after(base, token, None, pop).await
}

/// The POP's sequence as `token` reads it through `base`, asking to read at least `read_after`.
async fn sequence_after(base: &str, token: &str, read_after: Option<&str>, pop: &str) -> i64 {
    let (data, position) = gql_at(
        base,
        token,
        read_after,
        "query($id: ID!) { pop(id: $id) { autosaveSequence } }",
        json!({"id": pop}),
    )
    .await;
    assert_eq!(
        position, None,
        "only a mutation's answer carries a position"
    );
    data["pop"]["autosaveSequence"]
        .as_i64()
        .unwrap_or_else(|| panic!("no POP: {data:#}"))
}

/// Query reads of `base` served by the replica and by the primary.
async fn reads(base: &str) -> (f64, f64) {
    let samples = prom::scrape(&reqwest::Client::new(), base).await;
    let served = |by| {
        prom::value(
            &samples,
            "mapagov_db_replica_reads_total",
            &[("served_by", by)],
        )
    };
    (served("replica"), served("primary"))
}

/// Waits until a read of `pop` by `token` through `base` is served by the replica.
async fn serves_from_the_replica(base: &str, token: &str, pop: &str) {
    for _ in 0..100 {
        let (before, _) = reads(base).await;
        sequence(base, token, pop).await;
        if reads(base).await.0 > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} never served a signed-in reader from the caught-up replica");
}

async fn gauge(base: &str, name: &str) -> Option<f64> {
    let samples = prom::scrape(&reqwest::Client::new(), base).await;
    samples
        .iter()
        .any(|s| s.metric == name)
        .then(|| prom::value(&samples, name, &[]))
}

async fn wait_for_gauge(base: &str, name: &str, value: f64) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if gauge(base, name).await == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never became {value} on {base}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_read_the_replica_while_a_writer_reads_their_own_writes_through_any_process() {
    let set = Replicated::start();
    let (one, two) = (set.serve("10").await, set.serve("10").await);
    let (ana, bia) = (&set.editor, &set.staff);

    let (pop, first) = save(&one.base, ana, None, "first").await;
    set.standby.wait_for_replay(&set.primary);
    assert_eq!(sequence(&one.base, bia, &pop).await, first);
    // Each process serves a signed-in reader from the replica once a check that began after its
    // listener connected found the replica caught up (notices sent before may have been lost).
    for base in [&one.base, &two.base] {
        serves_from_the_replica(base, bia, &pop).await;
    }

    // The replica stops showing anything new; Ana writes through process one, whose answer
    // carries the primary's position after the write.
    set.standby.pause_replay();
    let (data, position) = gql_at(
        &one.base,
        ana,
        None,
        SAVE,
        json!({"input": {"sessionId": "replica", "popId": pop,
            "content": {"nomeProcesso": "second"}}}),
    )
    .await;
    let second = data["autosavePop"]["autosaveSequence"].as_i64().unwrap();
    assert!(second > first);
    let position = position.expect("a mutation's answer carries MapaGov-Write-Position");

    // Bia, who wrote nothing, reads the replica through either process: the old state.
    let before_one = reads(&one.base).await;
    let before_two = reads(&two.base).await;
    assert_eq!(
        sequence(&one.base, bia, &pop).await,
        first,
        "process one: Bia's read came from the paused replica"
    );
    assert_eq!(
        sequence(&two.base, bia, &pop).await,
        first,
        "process two: Bia's read came from the paused replica"
    );
    // Ana reads her own write through the process that took it, and through the other, which
    // heard of it only by NOTIFY.
    assert_eq!(
        sequence(&one.base, ana, &pop).await,
        second,
        "process one: Ana reads her own write"
    );
    assert_eq!(
        sequence(&two.base, ana, &pop).await,
        second,
        "process two: Ana reads her own write"
    );
    let (after_one, after_two) = (reads(&one.base).await, reads(&two.base).await);
    for (before, after) in [(before_one, after_one), (before_two, after_two)] {
        assert_eq!(after.0 - before.0, 1.0, "Bia's read: the replica");
        assert_eq!(after.1 - before.1, 1.0, "Ana's read: the primary");
    }

    // A client that echoes the position reads at least that far, whoever it is, whichever
    // process it reaches, without relying on the notification.
    assert_eq!(
        sequence_after(&two.base, bia, Some(&position), &pop).await,
        second,
        "MapaGov-Read-After: the paused replica is not far enough"
    );
    assert_eq!(
        sequence_after(&two.base, bia, Some("not a position"), &pop).await,
        first,
        "an unreadable position is ignored"
    );

    // A write through process two, read back at once through process one.
    let (_, third) = save(&two.base, ana, Some(&pop), "third").await;
    let wrote_third = Instant::now();
    assert_eq!(sequence(&one.base, ana, &pop).await, third);

    // Replay resumes; once the window has passed (and a little more: the other process heard of
    // the write a moment after it ended), everyone reads the new state from the replica.
    set.standby.resume_replay();
    set.standby.wait_for_replay(&set.primary);
    tokio::time::sleep(Duration::from_secs(11).saturating_sub(wrote_third.elapsed())).await;
    for base in [&one.base, &two.base] {
        wait_for_gauge(base, "mapagov_db_replica_usable", 1.0).await;
        let before = reads(base).await;
        assert_eq!(sequence(base, bia, &pop).await, third);
        assert_eq!(sequence(base, ana, &pop).await, third);
        let after = reads(base).await;
        assert_eq!(
            after.0 - before.0,
            2.0,
            "both reads from the replica once the window passed"
        );
    }
    for served in [one, two] {
        let finished = served.terminate();
        assert!(finished.status.success(), "{}", finished.stderr);
        assert!(
            !finished.stderr.contains(set.primary.password()),
            "the password never reaches the logs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_or_stopped_replica_sends_reads_to_the_primary_and_none_fails() {
    let set = Replicated::start();
    let served = set.serve("2").await;
    let base = &served.base;
    let (ana, bia) = (&set.editor, &set.staff);
    let (pop, _) = save(base, ana, None, "first").await;

    // Replay paused past the window: the lag guard takes the replica out of use.
    set.standby.pause_replay();
    let (_, second) = save(base, ana, Some(&pop), "second").await;
    wait_for_gauge(base, "mapagov_db_replica_usable", 0.0).await;
    let before = reads(base).await;
    assert_eq!(
        sequence(base, bia, &pop).await,
        second,
        "a lagging replica is not read"
    );
    let after = reads(base).await;
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (0.0, 1.0),
        "the primary answered"
    );
    set.standby.resume_replay();
    wait_for_gauge(base, "mapagov_db_replica_usable", 1.0).await;
    assert_eq!(sequence(base, bia, &pop).await, second);

    // The standby stops: reads go on, current, from the primary, from the first one on.
    let (_, third) = save(base, ana, Some(&pop), "third").await;
    set.standby.wait_for_replay(&set.primary);
    set.standby.stop();
    for _ in 0..5 {
        assert_eq!(sequence(base, bia, &pop).await, third);
    }
    wait_for_gauge(base, "mapagov_db_replica_usable", 0.0).await;
    assert_eq!(sequence(base, bia, &pop).await, third);

    // It comes back: the replica is used again.
    set.standby.restart();
    wait_for_gauge(base, "mapagov_db_replica_usable", 1.0).await;
    let before = reads(base).await;
    assert_eq!(sequence(base, bia, &pop).await, third);
    assert_eq!(reads(base).await.0 - before.0, 1.0, "the replica again");
    let finished = served.terminate();
    assert!(finished.status.success(), "{}", finished.stderr);
}

#[test]
fn a_replica_url_without_postgres_or_malformed_stops_start_up_naming_it() {
    for (url, replica) in [
        (None, "postgres://app@replica.internal/mapagov"),
        (
            Some("postgres://app@primary.internal/mapagov"),
            "replica.internal:5432",
        ),
    ] {
        let run = binary::run_bounded(
            url,
            &[("DATABASE_REPLICA_URL", replica)],
            &["serve", "--no-bootstrap-admin"],
            Duration::from_secs(30),
        );
        assert_ne!(run.code, 0, "{}", run.all());
        assert!(run.all().contains("DATABASE_REPLICA_URL"), "{}", run.all());
    }
}
