//! The retention cleanup (the old system's `cleanup_pops`), in one transaction.
//!
//! - A draft whose last activity is older than [`Policy::draft_idle`] is soft-deleted, as
//!   `deletePop` would: `deleted_at` set, `autosave_sequence` bumped, one `delete` row in the
//!   change log (with no user: the system did it).
//! - Per POP, a snapshot is deleted only if it is **not** among the newest
//!   [`Policy::keep_latest`] (by sequence), **not** a milestone, and older than
//!   [`Policy::keep_recent`]. The newest snapshot of a POP is never deleted, whatever the numbers,
//!   so a POP never loses its only one.
//! - With thinning ([`Policy::thin`], `cleanup --thin`), the rule above is replaced by age tiers
//!   ([`Tiers`]): every snapshot younger than [`Tiers::keep_all`] is kept; up to
//!   [`Tiers::daily_until`] old, the newest of each POP's snapshots of a UTC day; older, the newest
//!   of each ISO week. Never deleted, whatever their age: milestones, publication snapshots
//!   (kind `status_change`: the published versions), backups (kind `backup`: a person asked for
//!   them, with a label) and a POP's newest snapshot; a snapshot kept for one of these reasons
//!   counts as its day's or week's one. Autosave, pre-restore and imported
//!   snapshots are thinned. Running it again later keeps converging to the same set (the newest of
//!   a week is the newest of its last day).
//! - The change log is kept (rows that pointed to a deleted snapshot keep everything but the link).
//! - Autosave idempotency records older than [`Policy::keep_idempotency`] are deleted: each holds
//!   the POP as its autosave left it, so kept forever they would grow with every keyed save. A
//!   retry arriving after that is treated as a new request (it carries its `expectedHash`, so it
//!   cannot overwrite newer work unseen).
//!
//! [`plan`] decides from the rows; [`apply`] writes the plan, re-checking each condition (on the
//! locked POP, or in the `WHERE` of the snapshot deletion) so that a POP edited, or a snapshot
//! made a milestone, meanwhile is left alone. A draft is deleted by
//! [`crate::domain::transition::apply`], like every other change of a POP.

use crate::db::queries;
use crate::db::types::DbUuid;
use crate::db::Conn;
use crate::domain::transition::{self, Change};
use crate::domain::{Actor, SnapshotKind, Status};
use crate::error::AppError;
use crate::with_backend;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Default `--draft-idle-days`.
pub const DEFAULT_DRAFT_IDLE_DAYS: u32 = 30;
/// Default `--keep-snapshots`.
pub const DEFAULT_KEEP_SNAPSHOTS: u32 = 10;
/// Default `--keep-days`.
pub const DEFAULT_KEEP_DAYS: u32 = 90;
/// Default `--idempotency-hours`: a client retries within seconds or minutes; a day covers an
/// editor left offline overnight.
pub const DEFAULT_IDEMPOTENCY_HOURS: u32 = 24;
/// Snapshots deleted per statement.
const DELETE_CHUNK: usize = 500;

/// Default `--thin-keep-all-days`.
pub const DEFAULT_THIN_KEEP_ALL_DAYS: u32 = 30;
/// Default `--thin-daily-days`.
pub const DEFAULT_THIN_DAILY_DAYS: u32 = 365;

/// The age tiers of thinning (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiers {
    /// Snapshots younger than this are all kept.
    pub keep_all: Duration,
    /// Up to this age, one per day; beyond, one per week.
    pub daily_until: Duration,
}

/// The retention rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Thin snapshots by age tiers instead of `keep_latest`/`keep_recent`.
    pub thin: Option<Tiers>,
    /// Drafts idle longer than this are soft-deleted.
    pub draft_idle: Duration,
    /// The newest this many snapshots of every POP are kept.
    pub keep_latest: u32,
    /// Snapshots younger than this are kept.
    pub keep_recent: Duration,
    /// Autosave idempotency records younger than this are kept.
    pub keep_idempotency: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            thin: None,
            draft_idle: Duration::days(DEFAULT_DRAFT_IDLE_DAYS.into()),
            keep_latest: DEFAULT_KEEP_SNAPSHOTS,
            keep_recent: Duration::days(DEFAULT_KEEP_DAYS.into()),
            keep_idempotency: Duration::hours(DEFAULT_IDEMPOTENCY_HOURS.into()),
        }
    }
}

crate::db_row! {
    /// A draft to soft-delete.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct IdleDraft from pops {
        /// Row id.
        pub id: i64,
        /// Public id.
        pub uuid: DbUuid,
        /// Process name, for the report.
        pub nome_processo: Option<String>,
        /// Last activity.
        pub last_activity_at: DateTime<Utc>,
    }
}

crate::db_row! {
    /// What retention looks at in a snapshot.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SnapshotAge from pop_snapshots {
        /// Row id.
        pub id: i64,
        /// Its POP.
        pub pop_id: i64,
        /// Sequence within the POP.
        pub sequence: i32,
        /// Milestones are always kept.
        pub milestone: bool,
        /// Why it was taken.
        pub kind: SnapshotKind,
        /// When it was taken.
        pub created_at: DateTime<Utc>,
    }
}

/// What a cleanup does (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Drafts to soft-delete, by id.
    pub drafts: Vec<IdleDraft>,
    /// Snapshots to delete, by POP then sequence.
    pub snapshots: Vec<SnapshotAge>,
    /// How many autosave idempotency records expire.
    pub idempotency_records: i64,
}

/// The snapshots the policy removes, from every snapshot ordered by POP and newest sequence first.
pub fn expired_snapshots(
    newest_first_by_pop: &[SnapshotAge],
    policy: Policy,
    now: DateTime<Utc>,
) -> Vec<SnapshotAge> {
    if let Some(tiers) = policy.thin {
        return thinned(newest_first_by_pop, tiers, now);
    }
    let cutoff = now - policy.keep_recent;
    let mut expired = Vec::new();
    let mut current_pop = None;
    let mut rank = 0u32;
    for snapshot in newest_first_by_pop {
        if current_pop != Some(snapshot.pop_id) {
            current_pop = Some(snapshot.pop_id);
            rank = 0;
        }
        let newest = rank == 0;
        rank += 1;
        if !newest
            && rank > policy.keep_latest
            && !snapshot.milestone
            && snapshot.created_at < cutoff
        {
            expired.push(snapshot.clone());
        }
    }
    expired.sort_by_key(|s| (s.pop_id, s.sequence));
    expired
}

/// The snapshots thinning removes (see the module docs), from every snapshot ordered by POP and
/// newest sequence first.
pub fn thinned(
    newest_first_by_pop: &[SnapshotAge],
    tiers: Tiers,
    now: DateTime<Utc>,
) -> Vec<SnapshotAge> {
    use chrono::Datelike;
    use std::collections::HashSet;
    let mut expired = Vec::new();
    let mut current_pop = None;
    let mut rank = 0u32;
    let mut seen: HashSet<(bool, i32, u32)> = HashSet::new();
    for snapshot in newest_first_by_pop {
        if current_pop != Some(snapshot.pop_id) {
            current_pop = Some(snapshot.pop_id);
            seen.clear();
            rank = 0;
        }
        rank += 1;
        let age = now - snapshot.created_at;
        let bucket = if age < tiers.keep_all {
            None
        } else if age < tiers.daily_until {
            let day = snapshot.created_at.date_naive();
            Some((false, day.year(), day.ordinal()))
        } else {
            let week = snapshot.created_at.iso_week();
            Some((true, week.year(), week.week()))
        };
        // Kept snapshots (newest, protected) count as their bucket's one.
        let first_in_bucket = bucket.is_none_or(|b| seen.insert(b));
        let protected = snapshot.milestone
            || matches!(
                snapshot.kind,
                SnapshotKind::StatusChange | SnapshotKind::Backup
            );
        if rank > 1 && !protected && !first_in_bucket {
            expired.push(snapshot.clone());
        }
    }
    expired.sort_by_key(|s| (s.pop_id, s.sequence));
    expired
}

/// Reads what the policy would change at `now`.
pub async fn plan(
    conn: &mut Conn<'_>,
    policy: Policy,
    now: DateTime<Utc>,
) -> Result<Plan, AppError> {
    let idle_before = now - policy.draft_idle;
    let drafts: Vec<IdleDraft> = with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::status.eq(Status::Draft))
        .filter(schema::pops::deleted_at.is_null())
        .filter(schema::pops::last_activity_at.lt(idle_before))
        .order(schema::pops::id)
        .select(IdleDraft::as_select())
        .load(c)
        .await)?;
    let snapshots: Vec<SnapshotAge> = with_backend!(conn, |c| schema::pop_snapshots::table
        .order((
            schema::pop_snapshots::pop_id,
            schema::pop_snapshots::sequence.desc(),
        ))
        .select(SnapshotAge::as_select())
        .load(c)
        .await)?;
    let idempotency_before = now - policy.keep_idempotency;
    let idempotency_records: i64 = with_backend!(conn, |c| schema::idempotency_keys::table
        .filter(schema::idempotency_keys::created_at.lt(idempotency_before))
        .count()
        .get_result(c)
        .await)?;
    Ok(Plan {
        drafts,
        snapshots: expired_snapshots(&snapshots, policy, now),
        idempotency_records,
    })
}

/// Writes `plan` (inside the caller's transaction); returns what was really changed.
pub async fn apply(
    conn: &mut Conn<'_>,
    plan: &Plan,
    policy: Policy,
    now: DateTime<Utc>,
) -> Result<Plan, AppError> {
    let idle_before = now - policy.draft_idle;
    let mut done = Plan::default();
    for draft in &plan.drafts {
        let Some(pop) = queries::lock_pop_by_id(conn, draft.id).await? else {
            continue;
        };
        let still_idle = pop.meta.status == Status::Draft
            && pop.meta.deleted_at.is_none()
            && pop.meta.last_activity_at < idle_before;
        if !still_idle {
            continue;
        }
        transition::apply(conn, &Actor::system(), pop, Change::Delete, now).await?;
        done.drafts.push(draft.clone());
    }
    for chunk in plan.snapshots.chunks(DELETE_CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|s| s.id).collect();
        let deleted: Vec<i64> = with_backend!(conn, |c| diesel::delete(
            schema::pop_snapshots::table
                .filter(schema::pop_snapshots::id.eq_any(&ids))
                .filter(schema::pop_snapshots::milestone.eq(false))
        )
        .returning(schema::pop_snapshots::id)
        .get_results(c)
        .await)?;
        done.snapshots
            .extend(chunk.iter().filter(|s| deleted.contains(&s.id)).cloned());
    }
    let idempotency_before = now - policy.keep_idempotency;
    let expired = with_backend!(conn, |c| diesel::delete(
        schema::idempotency_keys::table
            .filter(schema::idempotency_keys::created_at.lt(idempotency_before))
    )
    .execute(c)
    .await)?;
    done.idempotency_records = i64::try_from(expired).map_err(AppError::internal)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn snap(id: i64, pop_id: i64, sequence: i32, milestone: bool, days_old: i64) -> SnapshotAge {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        SnapshotAge {
            id,
            pop_id,
            sequence,
            milestone,
            kind: SnapshotKind::Autosave,
            created_at: now - Duration::days(days_old),
        }
    }

    #[test]
    fn old_snapshots_beyond_the_newest_go_but_milestones_and_only_ones_stay() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        let policy = Policy {
            keep_latest: 2,
            ..Policy::default()
        };
        let rows = vec![
            // POP 1, newest first: two kept by rank, one recent, one milestone, two expired.
            snap(16, 1, 6, false, 200),
            snap(15, 1, 5, false, 200),
            snap(14, 1, 4, false, 10),
            snap(13, 1, 3, true, 300),
            snap(12, 1, 2, false, 300),
            snap(11, 1, 1, false, 300),
            // POP 2: one old snapshot.
            snap(21, 2, 1, false, 900),
        ];
        let ids: Vec<i64> = expired_snapshots(&rows, policy, now)
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, vec![11, 12]);
        let keep_none = Policy {
            keep_latest: 0,
            ..policy
        };
        let ids: Vec<i64> = expired_snapshots(&rows, keep_none, now)
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, vec![11, 12, 15], "the newest of each POP stays");
    }

    /// Three simulated years of one POP: a snapshot every 6 hours, a milestone, a publication and
    /// a backup among them; thinning keeps exactly what the tiers say.
    #[test]
    fn thinning_over_three_years_keeps_exactly_the_tiers() {
        use chrono::Datelike;
        use std::collections::BTreeSet;
        let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let start = now - Duration::days(3 * 365);
        let mut rows = Vec::new();
        let mut at = start;
        let mut sequence = 0;
        while at < now {
            sequence += 1;
            let kind = match sequence {
                100 => SnapshotKind::StatusChange,
                200 => SnapshotKind::Backup,
                _ => SnapshotKind::Autosave,
            };
            rows.push(SnapshotAge {
                id: i64::from(sequence),
                pop_id: 1,
                sequence,
                milestone: sequence == 300,
                kind,
                created_at: at,
            });
            at += Duration::hours(6);
        }
        let tiers = Tiers {
            keep_all: Duration::days(30),
            daily_until: Duration::days(365),
        };
        let policy = Policy {
            thin: Some(tiers),
            ..Policy::default()
        };
        rows.reverse();
        let gone: BTreeSet<i32> = expired_snapshots(&rows, policy, now)
            .iter()
            .map(|s| s.sequence)
            .collect();
        let kept: Vec<&SnapshotAge> = rows
            .iter()
            .filter(|s| !gone.contains(&s.sequence))
            .collect();
        // Expected, from the rule: recent all; then newest of each day; then newest per ISO week;
        // plus the protected ones.
        let mut buckets = BTreeSet::new();
        let mut expected = BTreeSet::new();
        for s in &rows {
            let age = now - s.created_at;
            let bucket = if age < tiers.keep_all {
                None
            } else if age < tiers.daily_until {
                Some((0, s.created_at.year(), s.created_at.ordinal()))
            } else {
                let w = s.created_at.iso_week();
                Some((1, w.year(), w.week()))
            };
            let first = bucket.is_none_or(|b| buckets.insert(b));
            if first || s.milestone || s.kind != SnapshotKind::Autosave {
                expected.insert(s.sequence);
            }
        }
        let kept_set: BTreeSet<i32> = kept.iter().map(|s| s.sequence).collect();
        assert_eq!(kept_set, expected);
        assert!(rows
            .iter()
            .filter(|s| now - s.created_at < tiers.keep_all)
            .all(|s| kept_set.contains(&s.sequence)));
        assert!(kept_set.contains(&100) && kept_set.contains(&200) && kept_set.contains(&300));
        // Roughly 120 recent + 335 days + 104 weeks, out of 4 380.
        assert!((540..=580).contains(&kept.len()), "{}", kept.len());
        // Running again keeps the same.
        let again: Vec<SnapshotAge> = kept.into_iter().cloned().collect();
        assert!(expired_snapshots(&again, policy, now).is_empty());
    }
}
