//! Editing sessions: a POP's change log grouped into what a person did in one sitting.
//!
//! Entries are grouped by write (one autosave sequence, one or more changed fields), and writes
//! into sessions, newest first. A write joins the session after it (in time) when
//!
//! - the same person made both,
//! - it is an edit (`create`, `autosave` or `import`): a restore, a status change or a delete is
//!   always a session of its own,
//! - no milestone snapshot was taken at its sequence (a milestone closes the session it ends),
//! - and the gap between the two writes is at most the idle time ([`DEFAULT_IDLE_MINUTES`], the
//!   setting `HISTORY_SESSION_IDLE_MINUTES`, or a request's own value within
//!   [`MIN_IDLE_MINUTES`]..=[`MAX_IDLE_MINUTES`]).
//!
//! Nothing is stored: sessions are computed from the change log at read time, so the raw entries
//! stay as they were and a different idle time gives a different grouping of the same entries.
//! A page reads only the entries of its own sessions plus one (to know there is more), through a
//! covering index, so its cost grows with the edits it shows, not with the length of the history.

use super::diff::{diff_documents, DocumentDiff};
use super::ChangeAction;
use crate::db::history::{self, EntryMark};
use crate::db::models::ChangeLogEntry;
use crate::db::Db;
use crate::error::AppError;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

/// Default idle time that ends a session, in minutes.
pub const DEFAULT_IDLE_MINUTES: u32 = 10;
/// Shortest idle time a request may ask for, in minutes.
pub const MIN_IDLE_MINUTES: u32 = 1;
/// Longest idle time a request or the setting may ask for, in minutes (one day).
pub const MAX_IDLE_MINUTES: u32 = 24 * 60;
/// Change-log rows read per statement while grouping.
const SCAN_CHUNK: i64 = 1000;

/// One editing session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who edited (`None`: the system or an anonymous legacy write).
    pub user_id: Option<i64>,
    /// The action of its first write (`create`, `autosave` or `import` for an edit; `restore`,
    /// `status` or `delete` for a session of its own).
    pub action: ChangeAction,
    /// When its first write happened.
    pub started_at: DateTime<Utc>,
    /// When its last write happened.
    pub ended_at: DateTime<Utc>,
    /// How many change-log entries it holds.
    pub entry_count: i64,
    /// How many writes (autosave sequences) it holds.
    pub write_count: i64,
    /// Autosave sequence of its first write.
    pub first_sequence: i32,
    /// Autosave sequence of its last write.
    pub last_sequence: i32,
    /// Id of its oldest entry.
    pub first_entry_id: i64,
    /// Id of its newest entry.
    pub last_entry_id: i64,
    /// Every field it touched, with the ids of its oldest and newest entry for that field.
    pub fields: BTreeMap<String, (i64, i64)>,
}

impl Session {
    fn start(mark: &EntryMark) -> Self {
        Session {
            user_id: mark.user_id,
            action: mark.action,
            started_at: mark.created_at,
            ended_at: mark.created_at,
            entry_count: 0,
            write_count: 0,
            first_sequence: mark.autosave_sequence,
            last_sequence: mark.autosave_sequence,
            first_entry_id: mark.id,
            last_entry_id: mark.id,
            fields: BTreeMap::new(),
        }
    }

    /// Adds an entry older than every entry already in the session.
    fn add_older(&mut self, mark: &EntryMark) {
        if self.entry_count == 0 || mark.autosave_sequence != self.first_sequence {
            self.write_count += 1;
        }
        self.entry_count += 1;
        self.started_at = mark.created_at;
        self.first_sequence = mark.autosave_sequence;
        self.first_entry_id = mark.id;
        self.action = mark.action;
        self.fields
            .entry(mark.field_name.clone())
            .and_modify(|(oldest, _)| *oldest = mark.id)
            .or_insert((mark.id, mark.id));
    }

    /// Whether the session is made of edits (`create`, `autosave`, `import`).
    pub fn is_edit(&self) -> bool {
        self.action.is_edit()
    }
}

/// Groups change-log rows read newest first into sessions, one row at a time.
#[derive(Debug)]
pub struct Grouper {
    idle: Duration,
    milestones: HashSet<i32>,
    open: Option<Session>,
}

impl Grouper {
    /// A grouper for one POP, with its milestone snapshots' autosave sequences.
    pub fn new(idle: Duration, milestones: impl IntoIterator<Item = i32>) -> Self {
        Grouper {
            idle,
            milestones: milestones.into_iter().collect(),
            open: None,
        }
    }

    /// Takes the next (older) row; returns the session it closed, if it starts another.
    pub fn push(&mut self, mark: &EntryMark) -> Option<Session> {
        let joins = self
            .open
            .as_ref()
            .is_some_and(|session| self.continues(session, mark));
        let closed = if joins {
            None
        } else {
            self.open.replace(Session::start(mark))
        };
        if let Some(session) = self.open.as_mut() {
            session.add_older(mark);
        }
        closed
    }

    /// Whether a session is open (rows were pushed since the last one closed).
    pub fn has_open(&self) -> bool {
        self.open.is_some()
    }

    /// Closes the last session (at the end of the log).
    pub fn finish(&mut self) -> Option<Session> {
        self.open.take()
    }

    /// Whether `mark`, older than every row of `session`, belongs to it.
    fn continues(&self, session: &Session, mark: &EntryMark) -> bool {
        if mark.autosave_sequence == session.first_sequence {
            // Another field of the same write.
            return true;
        }
        session.user_id == mark.user_id
            && session.action.is_edit()
            && mark.action.is_edit()
            && !self.milestones.contains(&mark.autosave_sequence)
            && session.started_at - mark.created_at <= self.idle
    }
}

/// A page of sessions, newest first.
#[derive(Debug, Clone)]
pub struct SessionPage {
    /// The sessions.
    pub sessions: Vec<Session>,
    /// Whether older sessions follow.
    pub has_more: bool,
}

/// Checks a requested idle time, in minutes.
pub fn idle_time(field: &str, minutes: i64) -> Result<Duration, AppError> {
    if (i64::from(MIN_IDLE_MINUTES)..=i64::from(MAX_IDLE_MINUTES)).contains(&minutes) {
        Ok(Duration::minutes(minutes))
    } else {
        Err(AppError::bad_input(
            field,
            format!("must be between {MIN_IDLE_MINUTES} and {MAX_IDLE_MINUTES} minutes"),
        ))
    }
}

/// Up to `size` sessions of a POP, newest first, made of entries with ids below `below` (the
/// oldest entry id of the previous page's last session).
pub async fn page(
    db: &Db,
    pop_id: i64,
    idle: Duration,
    below: Option<i64>,
    size: usize,
) -> Result<SessionPage, AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    let milestones = history::milestone_sequences(&mut conn, pop_id).await?;
    let mut grouper = Grouper::new(idle, milestones);
    let mut sessions = Vec::new();
    let mut cursor = below;
    loop {
        let marks = history::entry_marks(&mut conn, pop_id, cursor, SCAN_CHUNK).await?;
        let exhausted = i64::try_from(marks.len()).unwrap_or(i64::MAX) < SCAN_CHUNK;
        for mark in &marks {
            if sessions.len() == size {
                // One row of the next session is enough to know there is one.
                return Ok(SessionPage {
                    sessions,
                    has_more: true,
                });
            }
            sessions.extend(grouper.push(mark));
        }
        cursor = marks.last().map(|m| m.id).or(cursor);
        if exhausted {
            break;
        }
    }
    if sessions.len() < size {
        sessions.extend(grouper.finish());
        return Ok(SessionPage {
            sessions,
            has_more: false,
        });
    }
    Ok(SessionPage {
        sessions,
        has_more: grouper.has_open(),
    })
}

/// What a session changed: each field's value before its first entry and after its last, compared.
///
/// Paths are JSON Pointers into an object keyed by the fields' legacy column names (the names the
/// change log uses), e.g. `/etapas/2/descricao`.
pub async fn diff(db: &Db, pop_id: i64, session: &Session) -> Result<DocumentDiff, AppError> {
    let ids: Vec<i64> = session
        .fields
        .values()
        .flat_map(|(oldest, newest)| [*oldest, *newest])
        .collect();
    let mut pooled = db.read().await?;
    let entries = history::entries_by_ids(&mut pooled.conn(), pop_id, &ids).await?;
    let by_id: BTreeMap<i64, &ChangeLogEntry> = entries.iter().map(|e| (e.id, e)).collect();
    let mut before = Map::new();
    let mut after = Map::new();
    for (field, (oldest, newest)) in &session.fields {
        let value = |id: &i64, pick: fn(&ChangeLogEntry) -> Option<&Value>| {
            by_id.get(id).and_then(|e| pick(e)).cloned()
        };
        if let Some(old) = value(oldest, |e| e.old_value.as_ref()) {
            before.insert(field.clone(), old);
        }
        if let Some(new) = value(newest, |e| e.new_value.as_ref()) {
            after.insert(field.clone(), new);
        }
    }
    Ok(diff_documents(
        &Value::Object(before),
        &Value::Object(after),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn mark(id: i64, user: i64, action: &str, seq: i32, minute: i64) -> EntryMark {
        let start = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap();
        EntryMark {
            id,
            user_id: Some(user),
            action: ChangeAction::parse(action).unwrap(),
            field_name: format!("field{}", id % 3),
            autosave_sequence: seq,
            created_at: start + Duration::minutes(minute),
        }
    }

    fn group(rows_oldest_first: &[EntryMark], milestones: &[i32]) -> Vec<Session> {
        let mut grouper = Grouper::new(Duration::minutes(10), milestones.iter().copied());
        let mut sessions: Vec<Session> = rows_oldest_first
            .iter()
            .rev()
            .filter_map(|m| grouper.push(m))
            .collect();
        sessions.extend(grouper.finish());
        sessions
    }

    #[test]
    fn gaps_people_and_non_edits_break_sessions() {
        let rows = [
            mark(1, 1, "create", 1, 0),
            mark(2, 1, "autosave", 2, 5),
            mark(3, 1, "autosave", 2, 5),
            mark(4, 1, "autosave", 3, 15), // 10 minutes: still the same session
            mark(5, 1, "autosave", 4, 26), // 11 minutes: a new one
            mark(6, 2, "autosave", 5, 27), // another person
            mark(7, 2, "restore", 6, 28),  // a restore stands alone
            mark(8, 2, "autosave", 7, 29),
            mark(9, 2, "status", 8, 30),
            mark(10, 2, "status", 8, 30),
        ];
        let sessions = group(&rows, &[]);
        let spans: Vec<(i32, i32, i64, i64)> = sessions
            .iter()
            .map(|s| {
                (
                    s.first_sequence,
                    s.last_sequence,
                    s.entry_count,
                    s.write_count,
                )
            })
            .collect();
        assert_eq!(
            spans,
            vec![
                (8, 8, 2, 1),
                (7, 7, 1, 1),
                (6, 6, 1, 1),
                (5, 5, 1, 1),
                (4, 4, 1, 1),
                (1, 3, 4, 3)
            ]
        );
        assert_eq!(sessions[5].action, ChangeAction::Create);
        assert_eq!(sessions[5].fields.len(), 3);
        assert_eq!(sessions[0].action, ChangeAction::Status);
    }

    #[test]
    fn a_milestone_ends_its_session() {
        let rows = [
            mark(1, 1, "autosave", 1, 0),
            mark(2, 1, "autosave", 2, 1),
            mark(3, 1, "autosave", 3, 2),
        ];
        let sessions = group(&rows, &[2]);
        let spans: Vec<(i32, i32)> = sessions
            .iter()
            .map(|s| (s.first_sequence, s.last_sequence))
            .collect();
        assert_eq!(spans, vec![(3, 3), (1, 2)]);
    }

    #[test]
    fn idle_times_out_of_bounds_are_refused() {
        assert!(idle_time("idleMinutes", 0).is_err());
        assert!(idle_time("idleMinutes", 1441).is_err());
        assert_eq!(idle_time("idleMinutes", 10).unwrap(), Duration::minutes(10));
    }
}
