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

/// Stored names are written through `as_str` and read through `parse` (see
/// [`crate::db::types`], which maps these enums to `TEXT` columns on both backends); serde uses
/// the same names, for dumps and stored responses.
macro_rules! stored_names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                }
            }

            /// Parses a stored name.
            pub fn parse(raw: &str) -> Option<$ty> {
                match raw {
                    $($name => Some($ty::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Workflow status of a POP.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
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

stored_names!(Status {
    Draft => "draft",
    InReview => "in_review",
    Published => "published",
    Archived => "archived",
});

impl Status {
    /// Whether content may still change.
    pub fn is_editable(self) -> bool {
        matches!(self, Status::Draft | Status::InReview)
    }
}

/// Why a snapshot was taken.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
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

stored_names!(SnapshotKind {
    Autosave => "autosave",
    Backup => "backup",
    PreRestore => "pre_restore",
    StatusChange => "status_change",
    Import => "import",
});

/// What kind of write a change-log entry (and a change event) records.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// The first autosave, which created the POP.
    Create,
    /// An autosave.
    Autosave,
    /// A snapshot restored (whole or in part).
    Restore,
    /// A status change.
    Status,
    /// A soft delete.
    Delete,
    /// Brought in from the legacy system.
    Import,
}

stored_names!(ChangeAction {
    Create => "create",
    Autosave => "autosave",
    Restore => "restore",
    Status => "status",
    Delete => "delete",
    Import => "import",
});

impl ChangeAction {
    /// Whether the action edits the document (an editing session is made of these).
    pub fn is_edit(self) -> bool {
        matches!(
            self,
            ChangeAction::Create | ChangeAction::Autosave | ChangeAction::Import
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored name, the parser and serde agree for every value: a dump, a stored response and
    /// a column all spell a value the same way.
    #[test]
    fn stored_names_parse_back_and_match_serde() {
        fn check<T>(all: &[T], name: fn(T) -> &'static str, parse: fn(&str) -> Option<T>)
        where
            T: Copy + PartialEq + std::fmt::Debug + serde::Serialize,
        {
            for &value in all {
                assert_eq!(parse(name(value)), Some(value));
                assert_eq!(serde_json::to_value(value).ok(), Some(name(value).into()));
            }
            assert_eq!(parse("unknown"), None);
        }
        check(Status::ALL, Status::as_str, Status::parse);
        check(SnapshotKind::ALL, SnapshotKind::as_str, SnapshotKind::parse);
        check(ChangeAction::ALL, ChangeAction::as_str, ChangeAction::parse);
        assert_eq!(Status::ALL.len(), 4);
        assert_eq!(SnapshotKind::ALL.len(), 5);
        assert_eq!(ChangeAction::ALL.len(), 6);
    }
}
