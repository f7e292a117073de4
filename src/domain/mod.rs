//! The rules of MapaGov, free of HTTP and GraphQL: the legacy document and its hash, autosave,
//! snapshots, restore, diff and the status workflow. Each write is one function that owns its
//! transaction (through [`crate::db::Db::write`]).

pub mod access;
pub mod approval;
pub mod areas;
pub mod autosave;
pub mod clone;
pub mod codes;
pub mod diff;
pub mod document;
pub mod hash;
pub mod idempotency;
pub mod merge;
pub mod number;
pub mod partial_restore;
pub mod paths;
pub mod pops;
pub mod presence;
pub mod rebase;
pub mod review;
pub mod search;
pub mod sessions;
pub mod snapshots;
pub mod steps;
pub mod transition;
pub mod users;
pub mod versions;
pub mod workflow;

pub use access::Actor;

/// Workflow status of a POP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Being written.
    Draft,
    /// Submitted for review.
    InReview,
    /// Published (read-only).
    Published,
    /// Withdrawn (read-only).
    Archived,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::InReview => "in_review",
            Status::Published => "published",
            Status::Archived => "archived",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Status> {
        match raw {
            "draft" => Some(Status::Draft),
            "in_review" => Some(Status::InReview),
            "published" => Some(Status::Published),
            "archived" => Some(Status::Archived),
            _ => None,
        }
    }

    /// Whether content may still change.
    pub fn is_editable(self) -> bool {
        matches!(self, Status::Draft | Status::InReview)
    }
}

/// Why a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    /// Every `SNAPSHOT_EVERY` autosaves.
    Autosave,
    /// `backupSession`.
    Backup,
    /// The safety copy taken before a restore.
    PreRestore,
    /// On publication.
    StatusChange,
    /// Brought in from the legacy system.
    Import,
}

impl SnapshotKind {
    /// The kind stored as `name`.
    pub fn parse(name: &str) -> Option<SnapshotKind> {
        [
            SnapshotKind::Autosave,
            SnapshotKind::Backup,
            SnapshotKind::PreRestore,
            SnapshotKind::StatusChange,
            SnapshotKind::Import,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotKind::Autosave => "autosave",
            SnapshotKind::Backup => "backup",
            SnapshotKind::PreRestore => "pre_restore",
            SnapshotKind::StatusChange => "status_change",
            SnapshotKind::Import => "import",
        }
    }
}
