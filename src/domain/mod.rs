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

pub use access::{Actor, Owned};

/// Declares an enum stored as text: each variant with its stored name, written through `as_str`
/// and read through `parse` ([`crate::db::types`] maps these enums to `TEXT` columns on both
/// backends). serde uses the same names (dumps, the change log's JSON, stored responses).
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident {
            $($(#[$doc:meta])* $variant:ident => $name:literal,)*
        }
    ) => {
        $(#[$meta])*
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
        pub enum $ty {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

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

stored_enum! {
    /// Workflow status of a POP.
    pub enum Status {
        /// Being written.
        Draft => "draft",
        /// Submitted for review.
        InReview => "in_review",
        /// Published (read-only).
        Published => "published",
        /// Withdrawn (read-only).
        Archived => "archived",
    }
}

impl Status {
    /// Whether content may still change.
    pub fn is_editable(self) -> bool {
        matches!(self, Status::Draft | Status::InReview)
    }
}

stored_enum! {
    /// Why a snapshot was taken.
    pub enum SnapshotKind {
        /// Every `SNAPSHOT_EVERY` autosaves.
        Autosave => "autosave",
        /// `backupSession`.
        Backup => "backup",
        /// The safety copy taken before a restore.
        PreRestore => "pre_restore",
        /// On publication.
        StatusChange => "status_change",
        /// Brought in from the legacy system.
        Import => "import",
    }
}

stored_enum! {
    /// What kind of write a change-log entry (and a change event) records.
    pub enum ChangeAction {
        /// The first autosave, which created the POP.
        Create => "create",
        /// An autosave.
        Autosave => "autosave",
        /// A snapshot restored (whole or in part).
        Restore => "restore",
        /// A status change.
        Status => "status",
        /// A soft delete.
        Delete => "delete",
        /// Brought in from the legacy system.
        Import => "import",
    }
}

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
