//! Relay connections over keyset pages: `first`/`after` and `last`/`before`, newest first (or,
//! for a search, most relevant first).

use crate::db::queries::Page;
use crate::error::AppError;
use async_graphql::connection::{Connection, Edge, OpaqueCursor};
use async_graphql::{OutputType, SimpleObject};
use serde::{Deserialize, Serialize};

/// Default page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: i32 = 20;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;

/// What a cursor holds: the row id, and in lists ranked by relevance the row's score first.
///
/// Untagged, so an id cursor is the same bytes as before ranked lists existed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CursorKey {
    /// A row id.
    Id(i64),
    /// A score and a row id.
    Scored(f64, i64),
}

/// The cursor of every connection, opaque to clients.
pub type Cursor = OpaqueCursor<CursorKey>;

/// Extra fields of connections that can count their rows.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct Counted {
    /// How many items match, across all pages.
    pub total_count: i64,
}

/// A connection with a total count.
pub type CountedConnection<T> = Connection<Cursor, T, Counted>;

/// The pagination arguments of a connection field.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    /// Items after this cursor.
    pub after: Option<String>,
    /// Items before this cursor.
    pub before: Option<String>,
    /// The first n items.
    pub first: Option<i32>,
    /// The last n items.
    pub last: Option<i32>,
}

/// Query complexity of a connection field: its children count once per requested item, so
/// `first: 100` costs a hundred times what `first: 1` does.
pub fn cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let items = first
        .or(last)
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    usize::try_from(items)
        .unwrap_or(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// What to ask the database for (one row more than the page, to see if there is another).
    pub page: Page,
    size: usize,
    had_after: bool,
    had_before: bool,
}

impl PageArgs {
    /// Checks the arguments of a list ordered by id and turns them into a database page.
    pub fn resolve(&self) -> Result<PageRequest, AppError> {
        self.resolve_as(false)
    }

    /// The same for a list ordered by score (whose cursors hold scores).
    pub fn resolve_ranked(&self) -> Result<PageRequest, AppError> {
        self.resolve_as(true)
    }

    fn resolve_as(&self, ranked: bool) -> Result<PageRequest, AppError> {
        if self.first.is_some() && self.last.is_some() {
            return Err(AppError::bad_input(
                "first",
                "pass `first` or `last`, not both",
            ));
        }
        type Key = (Option<i64>, Option<f64>);
        let decode = |field: &str, raw: &Option<String>| -> Result<Key, AppError> {
            let Some(raw) = raw.as_deref() else {
                return Ok((None, None));
            };
            let key =
                <Cursor as async_graphql::connection::CursorType>::decode_cursor(raw).map(|c| c.0);
            match (key, ranked) {
                (Ok(CursorKey::Id(id)), false) => Ok((Some(id), None)),
                (Ok(CursorKey::Scored(score, id)), true) => Ok((Some(id), Some(score))),
                _ => Err(AppError::bad_input(field, "not a cursor of this list")),
            }
        };
        let (below, below_score) = decode("after", &self.after)?;
        let (above, above_score) = decode("before", &self.before)?;
        let (size, from_end) = match (self.first, self.last) {
            (_, Some(last)) => (check_size("last", last)?, true),
            (Some(first), None) => (check_size("first", first)?, false),
            (None, None) => (DEFAULT_PAGE_SIZE, false),
        };
        Ok(PageRequest {
            page: Page {
                below,
                above,
                below_score,
                above_score,
                limit: i64::from(size) + 1,
                from_end,
            },
            size: usize::try_from(size).unwrap_or(0),
            had_after: below.is_some(),
            had_before: above.is_some(),
        })
    }
}

fn check_size(field: &str, value: i32) -> Result<i32, AppError> {
    if (0..=MAX_PAGE_SIZE).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::bad_input(
            field,
            format!("must be between 0 and {MAX_PAGE_SIZE}"),
        ))
    }
}

impl PageRequest {
    /// Builds the connection from the rows fetched for this page (newest first, at most one extra).
    pub fn connection<R, T: OutputType>(
        &self,
        rows: Vec<R>,
        total: i64,
        id: impl Fn(&R) -> i64,
        node: impl Fn(R) -> T,
    ) -> CountedConnection<T> {
        self.keyed_connection(rows, total, |row| CursorKey::Id(id(row)), node)
    }

    /// Builds the connection from rows fetched with their scores (best first, at most one extra).
    pub fn ranked_connection<R, T: OutputType>(
        &self,
        rows: Vec<(R, f64)>,
        total: i64,
        id: impl Fn(&R) -> i64,
        node: impl Fn(R) -> T,
    ) -> CountedConnection<T> {
        self.keyed_connection(
            rows,
            total,
            |(row, score)| CursorKey::Scored(*score, id(row)),
            |(row, _)| node(row),
        )
    }

    fn keyed_connection<R, T: OutputType>(
        &self,
        mut rows: Vec<R>,
        total: i64,
        key: impl Fn(&R) -> CursorKey,
        node: impl Fn(R) -> T,
    ) -> CountedConnection<T> {
        let more = rows.len() > self.size;
        if more {
            if self.page.from_end {
                rows.remove(0);
            } else {
                rows.truncate(self.size);
            }
        }
        let (has_previous, has_next) = if self.page.from_end {
            (more, self.had_before)
        } else {
            (self.had_after, more)
        };
        let mut connection = Connection::with_additional_fields(
            has_previous,
            has_next,
            Counted { total_count: total },
        );
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(OpaqueCursor(key(&row)), node(row))),
        );
        connection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arguments are held to the limits the schema states.
    #[test]
    fn page_arguments_keep_the_stated_limits() {
        let args = |first, last| PageArgs {
            first,
            last,
            ..PageArgs::default()
        };
        let limit = |args: PageArgs| args.resolve().map(|request| request.page.limit);
        assert_eq!(limit(args(Some(MAX_PAGE_SIZE), None)).ok(), Some(101));
        assert_eq!(limit(args(None, Some(0))).ok(), Some(1));
        assert_eq!(
            limit(args(None, None)).ok(),
            Some(i64::from(DEFAULT_PAGE_SIZE) + 1)
        );
        for refused in [
            args(Some(MAX_PAGE_SIZE + 1), None),
            args(None, Some(MAX_PAGE_SIZE + 1)),
            args(Some(-1), None),
            args(Some(1), Some(1)),
        ] {
            assert!(limit(refused).is_err());
        }
    }

    /// The schema states the limits these constants enforce, on every connection field.
    #[test]
    fn schema_documents_the_page_limits() {
        let sdl = crate::graphql::sdl();
        let first = format!(
            "\"\"\"\n\t\tHow many items from the start of the list: 0 to {MAX_PAGE_SIZE} \
             (`BAD_USER_INPUT` outside), {DEFAULT_PAGE_SIZE} when neither `first` nor `last` is \
             given.\n\t\t\"\"\"\n\t\tfirst: Int"
        );
        let last = format!(
            "\"\"\"\n\t\tHow many items from the end of the list: 0 to {MAX_PAGE_SIZE} \
             (`BAD_USER_INPUT` outside); not with `first` (`BAD_USER_INPUT`).\n\t\t\"\"\"\n\t\t\
             last: Int"
        );
        let connections = sdl.matches("Connection!").count();
        assert!(connections >= 5, "{connections}");
        assert_eq!(sdl.matches(&first).count(), connections);
        assert_eq!(
            sdl.matches(&last).count(),
            sdl.matches("\t\tlast: Int").count()
        );
        assert_eq!(
            sdl.matches("\t\tfirst: Int\n").count() + sdl.matches("\t\tfirst: Int,").count(),
            connections
        );
    }
}
