//! Who may do what with a POP.
//!
//! - A POP belongs to its creator, who may read and edit it and submit it for review.
//! - Staff may read and do anything with every POP.
//! - A reviewer of an area (a user whose `area_codigo` is the POP's area, or an area above it:
//!   an area's reviewers also review its sub-areas) may read it and move it through review
//!   (publish it, send it back to draft, archive it).
//! - Everyone else is told the POP does not exist: the same answer as for an id that was never
//!   used, so ids cannot be probed. A session id grants nothing.

use crate::db::models::{Pop, PopOwnership};
use crate::db::queries::Visibility;
use crate::error::AppError;

/// What the access rules read of a POP: its owner and its area. A whole [`Pop`] has them, and so
/// does a [`PopOwnership`], read without the POP's documents when only access is decided.
pub trait Owned {
    /// The user who created it.
    fn owner(&self) -> Option<i64>;
    /// Its area code.
    fn area(&self) -> Option<&str>;
}

impl Owned for Pop {
    fn owner(&self) -> Option<i64> {
        self.meta.created_by_id
    }

    fn area(&self) -> Option<&str> {
        self.content.area_codigo.as_deref()
    }
}

impl Owned for PopOwnership {
    fn owner(&self) -> Option<i64> {
        self.created_by_id
    }

    fn area(&self) -> Option<&str> {
        self.area_codigo.as_deref()
    }
}

/// Who is acting: the subject of permission checks, recorded in the change log and on snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actor {
    /// The user; `None` for the system itself (command-line maintenance).
    pub user_id: Option<i64>,
    /// Staff may do anything.
    pub is_staff: bool,
    /// The areas this user reviews: their area and every sub-area below it (empty: none).
    pub reviewed_areas: Vec<String>,
}

impl From<&crate::auth::AuthUser> for Actor {
    fn from(user: &crate::auth::AuthUser) -> Actor {
        Actor {
            user_id: Some(user.id),
            is_staff: user.is_staff,
            reviewed_areas: user.reviewed_areas.clone(),
        }
    }
}

impl Actor {
    /// The system itself (maintenance commands): every permission, no user recorded.
    pub fn system() -> Actor {
        Actor {
            user_id: None,
            is_staff: true,
            reviewed_areas: Vec::new(),
        }
    }

    fn owns(&self, pop: &impl Owned) -> bool {
        self.user_id.is_some() && pop.owner() == self.user_id
    }

    fn reviews(&self, pop: &impl Owned) -> bool {
        pop.area()
            .is_some_and(|area| self.reviewed_areas.iter().any(|a| a == area))
    }

    /// May see the POP, its snapshots and its history.
    pub fn can_read(&self, pop: &impl Owned) -> bool {
        self.is_staff || self.owns(pop) || self.reviews(pop)
    }

    /// May change its content: autosave, restore, milestones, backups, delete, submit.
    pub fn can_edit(&self, pop: &impl Owned) -> bool {
        self.is_staff || self.owns(pop)
    }

    /// May publish it, send it back to draft or archive it.
    pub fn can_review(&self, pop: &impl Owned) -> bool {
        self.is_staff || self.reviews(pop)
    }

    /// `NOT_FOUND` (naming `missing`) unless the actor may read the POP.
    pub fn may_read(&self, pop: &impl Owned, missing: &'static str) -> Result<(), AppError> {
        if self.can_read(pop) {
            Ok(())
        } else {
            Err(AppError::NotFound(missing))
        }
    }

    /// As [`Actor::may_read`], then `FORBIDDEN` unless the actor may edit the POP.
    pub fn may_edit(&self, pop: &impl Owned, missing: &'static str) -> Result<(), AppError> {
        self.may_read(pop, missing)?;
        if self.can_edit(pop) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// The rows of `pops` this actor may list.
    pub fn visibility(&self) -> Visibility {
        if self.is_staff {
            Visibility::All
        } else {
            Visibility::OwnedOrArea {
                user_id: self.user_id.unwrap_or(-1),
                areas: self.reviewed_areas.clone(),
            }
        }
    }
}
