//! `mapagov cleanup`: the old system's retention policy, run by the real binary with a fixed
//! `--now` on POPs built through the API and then aged in the database. Checks exactly which
//! drafts are soft-deleted and which snapshots go, the edge cases (milestones, recent snapshots,
//! a POP's only snapshot), that a dry run changes nothing, and that the change log stays.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::pops::{change_status, create, row_id, save, snapshots, DELETE};
use common::{binary, table_sums, Backend, TestServer};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mapagov::db::Db;
use mapagov::with_backend;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const NOW: &str = "2030-01-01T12:00:00Z";

fn now() -> DateTime<Utc> {
    mapagov::ops::parse_instant(NOW).unwrap()
}

fn days_ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

/// Sets a POP's last activity, as if nobody had touched it since.
async fn set_last_activity(db: &Db, pop_id: i64, at: DateTime<Utc>) {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| diesel::update(
        schema::pops::table.find(pop_id)
    )
    .set(schema::pops::last_activity_at.eq(at))
    .execute(c)
    .await)
    .unwrap();
}

/// Sets the creation time of a POP's snapshot `sequence`, or of all its snapshots.
async fn set_snapshot_age(db: &Db, pop_id: i64, sequence: Option<i32>, at: DateTime<Utc>) {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| {
        let target = schema::pop_snapshots::table.filter(schema::pop_snapshots::pop_id.eq(pop_id));
        match sequence {
            Some(seq) => {
                diesel::update(target.filter(schema::pop_snapshots::sequence.eq(seq)))
                    .set(schema::pop_snapshots::created_at.eq(at))
                    .execute(c)
                    .await
            }
            None => {
                diesel::update(target)
                    .set(schema::pop_snapshots::created_at.eq(at))
                    .execute(c)
                    .await
            }
        }
    })
    .unwrap();
}

async fn sequences(db: &Db, pop_id: i64) -> BTreeSet<i32> {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| schema::pop_snapshots::table
        .filter(schema::pop_snapshots::pop_id.eq(pop_id))
        .select(schema::pop_snapshots::sequence)
        .load::<i32>(c)
        .await)
    .unwrap()
    .into_iter()
    .collect()
}

type PopState = (i32, Option<DateTime<Utc>>);

async fn pop_state(db: &Db, pop_id: i64) -> PopState {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| schema::pops::table
        .find(pop_id)
        .select((schema::pops::autosave_sequence, schema::pops::deleted_at))
        .first::<PopState>(c)
        .await)
    .unwrap()
}

/// The change log as (pop, action, user): rows are only ever added.
async fn change_log(db: &Db) -> Vec<(i64, i64, String, Option<i64>)> {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| schema::pop_change_log::table
        .order(schema::pop_change_log::id)
        .select((
            schema::pop_change_log::id,
            schema::pop_change_log::pop_id,
            schema::pop_change_log::action,
            schema::pop_change_log::user_id,
        ))
        .load(c)
        .await)
    .unwrap()
}

/// The POPs of the scenario, by row id.
struct Scenario {
    server: TestServer,
    db: Db,
    /// Active draft with 14 snapshots: 13 and 14 a day old, 3 ten days old, 2 a 300-day-old
    /// milestone, the others 200 days old.
    busy: i64,
    /// Draft idle for 40 days, with one snapshot 500 days old.
    idle: i64,
    /// Draft idle for 29 days.
    recent: i64,
    /// In review, idle for 100 days, every snapshot 500 days old.
    in_review: i64,
    /// Deleted through the API, idle for 100 days.
    deleted: i64,
}

/// A new POP autosaved until it has `n` snapshots (the first autosave takes none).
async fn with_snapshots(server: &TestServer, session: &str, n: usize) -> Value {
    let mut pop = create(server, session, json!({"nomeProcesso": session})).await;
    for i in 0..n {
        let content = json!({"nomeProcesso": format!("{session} {i}")});
        pop = save(server, &pop, content).await["pop"].clone();
    }
    assert_eq!(snapshots(server, &pop["id"]).await.len(), n);
    pop
}

async fn scenario(backend: Backend) -> Scenario {
    let server = TestServer::start_with(backend, &[("SNAPSHOT_EVERY", "1")]).await;
    let db = server.db().await;

    // Autosave until the POP has 14 snapshots (sequences 1 to 14).
    let mut busy = create(&server, "busy", json!({"nomeProcesso": "v1"})).await;
    let mut busy_snaps = snapshots(&server, &busy["id"]).await;
    for n in 2..40 {
        if busy_snaps.len() == 14 {
            break;
        }
        busy = save(&server, &busy, json!({"nomeProcesso": format!("v{n}")})).await["pop"].clone();
        busy_snaps = snapshots(&server, &busy["id"]).await;
    }
    assert_eq!(busy_snaps.len(), 14);
    let second = busy_snaps.iter().find(|s| s["sequence"] == 2).unwrap();
    server
        .data(
            "mutation($id: ID!) { markMilestone(snapshotId: $id, label: \"aprovado\") { id } }",
            json!({"id": second["id"]}),
        )
        .await;
    let idle = with_snapshots(&server, "idle", 1).await;
    let recent = with_snapshots(&server, "recent", 1).await;
    let in_review = with_snapshots(&server, "review", 2).await;
    change_status(&server, &in_review["id"], "IN_REVIEW", None).await;
    let deleted = create(&server, "deleted", json!({"nomeProcesso": "deleted"})).await;
    server.data(DELETE, json!({"id": deleted["id"]})).await;

    let s = Scenario {
        busy: row_id(&db, &busy).await,
        idle: row_id(&db, &idle).await,
        recent: row_id(&db, &recent).await,
        in_review: row_id(&db, &in_review).await,
        deleted: row_id(&db, &deleted).await,
        db,
        server,
    };
    set_last_activity(&s.db, s.busy, days_ago(1)).await;
    set_snapshot_age(&s.db, s.busy, None, days_ago(200)).await;
    set_snapshot_age(&s.db, s.busy, Some(2), days_ago(300)).await;
    set_snapshot_age(&s.db, s.busy, Some(3), days_ago(10)).await;
    set_snapshot_age(&s.db, s.busy, Some(13), days_ago(1)).await;
    set_snapshot_age(&s.db, s.busy, Some(14), days_ago(1)).await;
    set_last_activity(&s.db, s.idle, days_ago(40)).await;
    set_snapshot_age(&s.db, s.idle, None, days_ago(500)).await;
    set_last_activity(&s.db, s.recent, days_ago(29)).await;
    set_last_activity(&s.db, s.in_review, days_ago(100)).await;
    set_snapshot_age(&s.db, s.in_review, None, days_ago(500)).await;
    set_last_activity(&s.db, s.deleted, days_ago(100)).await;
    assert_eq!(sequences(&s.db, s.busy).await, (1..=14).collect());
    assert_eq!(sequences(&s.db, s.idle).await.len(), 1);
    assert!(sequences(&s.db, s.in_review).await.len() >= 2);
    s
}

fn cleanup(s: &Scenario, extra: &[&str]) -> binary::Run {
    let mut args = vec!["cleanup", "--now", NOW];
    args.extend_from_slice(extra);
    let run = binary::run(Some(&s.server.database_url), &[], &args);
    assert_eq!(run.code, 0, "{}", run.all());
    run
}

async fn the_default_policy_removes_exactly_what_it_should(backend: Backend) {
    let s = scenario(backend).await;
    let before_sums = table_sums(&s.db).await;
    let before_log = change_log(&s.db).await;
    let before_pops = [s.busy, s.idle, s.recent, s.in_review, s.deleted];
    let mut before_states = Vec::new();
    for id in before_pops {
        before_states.push(pop_state(&s.db, id).await);
    }
    let busy_before = sequences(&s.db, s.busy).await;

    // Dry run: the same report, nothing written.
    let dry = cleanup(&s, &["--dry-run"]);
    assert!(
        dry.stdout.contains(
            "would soft-delete 1 idle drafts; would delete 2 snapshots and 0 idempotency records"
        ),
        "{}",
        dry.stdout
    );
    assert_eq!(table_sums(&s.db).await, before_sums);

    let run = cleanup(&s, &[]);
    assert!(
        run.stdout
            .contains("soft-deleted 1 idle drafts; deleted 2 snapshots and 0 idempotency records; change log kept"),
        "{}",
        run.stdout
    );
    // The busy POP loses only its old, non-milestone snapshots beyond the newest ten (1 and 4):
    // 2 is a milestone older than 90 days, 3 is recent.
    let expected: BTreeSet<i32> = busy_before
        .iter()
        .copied()
        .filter(|q| ![1, 4].contains(q))
        .collect();
    assert_eq!(sequences(&s.db, s.busy).await, expected);
    // The idle draft is soft-deleted now, like deletePop would, and keeps its only snapshot.
    let (sequence, deleted_at) = pop_state(&s.db, s.idle).await;
    assert_eq!(sequence, before_states[1].0 + 1);
    assert_eq!(deleted_at, Some(now()));
    assert_eq!(sequences(&s.db, s.idle).await.len(), 1);
    // Nothing else changed state.
    for (i, id) in before_pops.iter().enumerate() {
        if *id != s.idle {
            assert_eq!(pop_state(&s.db, *id).await, before_states[i], "POP {id}");
        }
    }
    // The change log is kept, plus one system `delete` row for the idle draft.
    let after_log = change_log(&s.db).await;
    assert_eq!(&after_log[..before_log.len()], &before_log[..]);
    assert_eq!(
        after_log[before_log.len()..]
            .iter()
            .map(|(_, pop, action, user)| (*pop, action.as_str(), *user))
            .collect::<Vec<_>>(),
        vec![(s.idle, "delete", None)]
    );
    // And the database is still sound (no change-log row points to a deleted snapshot).
    let verify = binary::run(Some(&s.server.database_url), &[], &["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.all());

    // A second run finds nothing more to do.
    let again = cleanup(&s, &[]);
    assert!(
        again
            .stdout
            .contains("soft-deleted 0 idle drafts; deleted 0 snapshots and 0 idempotency records"),
        "{}",
        again.stdout
    );
    s.server.stop().await;
}

async fn every_number_is_a_flag_and_the_newest_snapshot_always_stays(backend: Backend) {
    let s = scenario(backend).await;
    let in_review_before = sequences(&s.db, s.in_review).await;
    // Keep no snapshot by rank, only the last 5 days; drafts idle over 20 days go.
    cleanup(
        &s,
        &[
            "--keep-snapshots",
            "0",
            "--keep-days",
            "5",
            "--draft-idle-days",
            "20",
        ],
    );
    // Busy: the newest (14), the day-old 13 and the milestone 2 stay; 3 is now too old.
    assert_eq!(sequences(&s.db, s.busy).await, BTreeSet::from([2, 13, 14]));
    // The in-review POP keeps only its newest snapshot; the idle draft its only one.
    let newest = *in_review_before.iter().max().unwrap();
    assert_eq!(
        sequences(&s.db, s.in_review).await,
        BTreeSet::from([newest])
    );
    assert_eq!(sequences(&s.db, s.idle).await.len(), 1);
    // Both drafts idle over 20 days are soft-deleted; the in-review POP is not a draft.
    assert_eq!(pop_state(&s.db, s.idle).await.1, Some(now()));
    assert_eq!(pop_state(&s.db, s.recent).await.1, Some(now()));
    assert_eq!(pop_state(&s.db, s.in_review).await.1, None);
    assert_eq!(pop_state(&s.db, s.busy).await.1, None);

    let bad = binary::run(
        Some(&s.server.database_url),
        &[],
        &["cleanup", "--now", "yesterday"],
    );
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("RFC 3339"), "{}", bad.stderr);
    s.server.stop().await;
}

/// The keys of the stored autosave idempotency records, as written (`user:key`), sorted.
async fn idempotency_keys(db: &Db) -> Vec<String> {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| schema::idempotency_keys::table
        .select(schema::idempotency_keys::key)
        .order(schema::idempotency_keys::key)
        .load::<String>(c)
        .await)
    .unwrap()
}

/// Idempotency records (each a copy of the POP its autosave left) do not pile up forever: those
/// older than `--idempotency-hours` go, the recent ones stay and still replay.
async fn old_idempotency_records_expire(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc = common::pops::autosave_doc();
    let keyed = |key: &str, name: &str| {
        json!({ "input": { "sessionId": format!("s-{key}"), "idempotencyKey": key,
            "content": { "nomeProcesso": name } } })
    };
    let first = server.data(&doc, keyed("old", "Antigo")).await;
    server.data(&doc, keyed("recent", "Recente")).await;
    let db = server.db().await;
    let keys = idempotency_keys(&db).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    // The `recent` record was written an hour before NOW; the `old` one stays years before it.
    {
        let mut pooled = db.get().await.unwrap();
        let mut conn = pooled.conn();
        let at = now() - Duration::hours(1);
        with_backend!(&mut conn, |c| diesel::update(
            schema::idempotency_keys::table.filter(schema::idempotency_keys::key.like("%:recent"))
        )
        .set(schema::idempotency_keys::created_at.eq(at))
        .execute(c)
        .await)
        .unwrap();
    }
    let sums = table_sums(&db).await;
    let run = |extra: &[&str]| {
        let mut args = vec!["cleanup", "--now", NOW];
        args.extend_from_slice(extra);
        let run = binary::run(Some(&server.database_url), &[], &args);
        assert_eq!(run.code, 0, "{}", run.all());
        run.stdout
    };
    let dry = run(&["--dry-run"]);
    assert!(
        dry.contains("would delete 0 snapshots and 1 idempotency records"),
        "{dry}"
    );
    assert_eq!(table_sums(&db).await, sums, "a dry run changes nothing");
    let done = run(&[]);
    assert!(
        done.contains("deleted 0 snapshots and 1 idempotency records"),
        "{done}"
    );
    let keys = idempotency_keys(&db).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].ends_with(":recent"), "{keys:?}");
    // A shorter limit takes the recent one too.
    let done = run(&["--idempotency-hours", "0"]);
    assert!(done.contains("1 idempotency records"), "{done}");
    assert!(idempotency_keys(&db).await.is_empty());
    // A retry of an expired key is a new request: it is written again, it does not fail (here
    // as a new POP, since the cleanup at NOW soft-deleted the idle draft of that session).
    let again = server.data(&doc, keyed("old", "Antigo")).await;
    assert_eq!(again["autosavePop"]["changed"], true);
    assert_ne!(
        again["autosavePop"]["pop"]["id"],
        first["autosavePop"]["pop"]["id"]
    );
    assert_eq!(idempotency_keys(&db).await.len(), 1);
    server.stop().await;
}

/// Marks a POP's snapshot `sequence` as a backup (kind `backup`), as `backupSession` would have.
async fn set_backup(db: &Db, pop_id: i64, sequence: i32) {
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    with_backend!(&mut conn, |c| diesel::update(
        schema::pop_snapshots::table
            .filter(schema::pop_snapshots::pop_id.eq(pop_id))
            .filter(schema::pop_snapshots::sequence.eq(sequence))
    )
    .set(schema::pop_snapshots::kind.eq("backup"))
    .execute(c)
    .await)
    .unwrap();
}

/// `cleanup --thin` through the binary: every snapshot of the last 30 days stays, the newest of
/// each UTC day up to a year, the newest of each ISO week beyond; milestones, backups and the
/// newest stay whatever their age and count as their day's or week's one; the change log stays;
/// a dry run and a second run change nothing.
async fn thinning_keeps_the_age_tiers_through_the_binary(backend: Backend) {
    use chrono::Datelike;
    let server = TestServer::start_with(backend, &[("SNAPSHOT_EVERY", "1")]).await;
    let db = server.db().await;
    let mut pop = create(&server, "thin", json!({"nomeProcesso": "v1"})).await;
    for n in 2..=40 {
        if snapshots(&server, &pop["id"]).await.len() == 20 {
            break;
        }
        pop = save(&server, &pop, json!({"nomeProcesso": format!("v{n}")})).await["pop"].clone();
    }
    let listed = snapshots(&server, &pop["id"]).await;
    let by_sequence: std::collections::BTreeMap<i64, Value> = listed
        .iter()
        .map(|s| (s["sequence"].as_i64().unwrap(), s.clone()))
        .collect();
    assert_eq!(
        by_sequence.keys().copied().collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    let id = row_id(&db, &pop).await;
    set_last_activity(&db, id, days_ago(1)).await;
    let monday = |days: i64| {
        let day = days_ago(days);
        day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
    };
    let (week_a, week_b) = (monday(600), monday(900));
    let ages: [(i32, DateTime<Utc>); 20] = [
        (20, days_ago(1)),
        (19, days_ago(5)),
        (18, days_ago(5) - Duration::hours(1)),
        // Two on one day, 100 days ago: the newer stays.
        (17, days_ago(100)),
        (16, days_ago(100) - Duration::hours(2)),
        (15, days_ago(101)),
        // One ISO week about 600 days ago: Wednesday stays; the Monday milestone stays too.
        (14, week_a + Duration::days(2)),
        (13, week_a + Duration::days(1)),
        (12, week_a),
        (11, week_a - Duration::hours(4)),
        // Another week about 900 days ago: a backup is its newest, so it is the week's one.
        (10, week_b + Duration::hours(10)),
        (9, week_b + Duration::hours(9)),
        (8, week_b + Duration::hours(8)),
        (7, week_b + Duration::hours(7)),
        (6, week_b + Duration::hours(6)),
        (5, week_b + Duration::hours(5)),
        (4, week_b + Duration::hours(4)),
        (3, week_b + Duration::hours(3)),
        (2, week_b + Duration::hours(2)),
        (1, week_b + Duration::hours(1)),
    ];
    for (sequence, at) in ages {
        set_snapshot_age(&db, id, Some(sequence), at).await;
    }
    server
        .data(
            "mutation($id: ID!) { markMilestone(snapshotId: $id, label: \"aprovado\") { id } }",
            json!({"id": by_sequence[&11]["id"]}),
        )
        .await;
    set_backup(&db, id, 10).await;
    let log = change_log(&db).await.len();
    let sums = table_sums(&db).await;
    let run = |extra: &[&str]| {
        let mut args = vec!["cleanup", "--now", NOW, "--thin"];
        args.extend_from_slice(extra);
        let run = binary::run(Some(&server.database_url), &[], &args);
        assert_eq!(run.code, 0, "{}", run.all());
        run
    };

    run(&["--dry-run"]);
    assert_eq!(table_sums(&db).await, sums, "a dry run changes nothing");
    run(&[]);
    let kept = BTreeSet::from([20, 19, 18, 17, 15, 14, 11, 10]);
    assert_eq!(sequences(&db, id).await, kept);
    assert_eq!(change_log(&db).await.len(), log, "the change log stays");
    let after = table_sums(&db).await;
    run(&[]);
    assert_eq!(
        table_sums(&db).await,
        after,
        "a second run finds nothing more"
    );
    server.stop().await;
}

both_backends!(
    thinning_keeps_the_age_tiers_through_the_binary,
    the_default_policy_removes_exactly_what_it_should,
    every_number_is_a_flag_and_the_newest_snapshot_always_stays,
    old_idempotency_records_expire,
);
