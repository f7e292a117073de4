//! Row types declared once for both backends.
//!
//! [`crate::db_row!`] declares a struct whose fields are named after the columns of one table and
//! derives, for PostgreSQL and SQLite alike, what diesel's own derives would give for one schema
//! module. Its three forms say what the row is for, the way SQL does:
//!
//! - `struct Row in table`: read and written. `Queryable` (positional, in field order),
//!   `Selectable` (the same columns, in the same order, so `Row::as_select()` reads them and no
//!   select list is typed by hand), `Insertable` for `&Row` (every field bound, `None` stored as
//!   `NULL`) and [`Assignments`] (`UPDATE … SET` of the fields that changed).
//! - `struct Row from table`: read only (`Queryable`, `Selectable`), for projections.
//! - `struct Row<'a> into table`: inserted only (`Insertable`), and the one form whose fields may
//!   borrow, so a row to insert need not copy a document it points to.
//!
//! A field is tied to its column by name: two columns of the same type cannot be swapped without
//! the compiler seeing a field that names no column, or a column read into the wrong field's
//! type.
//!
//! Diesel's derives take one `table_name`, and the two backends have a table module each
//! ([`super::schema`]); this macro writes impls like theirs, once per module. One difference, on
//! purpose: an `Option` field that is `None` is written as `NULL` (diesel's `Insertable` derive
//! writes `DEFAULT`), so every row of a batch binds the same columns and a dump loads exactly.
//! The batch impl names `diesel::internal`'s `UndecoratedInsertRecord`, which diesel does not
//! promise to keep: diesel is pinned to one release in `Cargo.toml`.

/// Declares a row struct of table `$table` (see the [module docs](crate::db::row)).
///
/// ```ignore
/// db_row! {
///     /// An area.
///     #[derive(Debug, Clone)]
///     pub struct AreaName in areas {
///         /// Unique code.
///         pub codigo: String,
///     }
/// }
/// db_row! {
///     /// A snapshot to insert; its document is borrowed.
///     pub struct NewSnapshot<'a> into pop_snapshots {
///         /// The document.
///         pub payload: &'a serde_json::Value,
///     }
/// }
/// ```
#[macro_export]
macro_rules! db_row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $table:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),+ $(,)?
        }
    ) => {
        $crate::db_row! {
            $(#[$meta])*
            $vis struct $name from $table {
                $( $(#[$fmeta])* $fvis $field : $ty ),+
            }
        }
        $crate::db_row!(@insert $name [], $table, $($field: $ty),+);
        $crate::db_row!(@update $name, $table, $($field: $ty),+);
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident from $table:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(diesel::Queryable)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $ty ),+
        }
        $crate::db_row!(@select $name, $table, $($field),+);
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $(<$lt:lifetime>)? into $table:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name $(<$lt>)? {
            $( $(#[$fmeta])* $fvis $field : $ty ),+
        }
        $crate::db_row!(@insert $name [$($lt)?], $table, $($field: $ty),+);
    };
    (@select $name:ident, $table:ident, $($field:ident),+) => {
        $crate::db_row!(@select_for diesel::pg::Pg, pg, $name, $table, $($field),+);
        $crate::db_row!(@select_for diesel::sqlite::Sqlite, sqlite, $name, $table, $($field),+);
    };
    (@select_for $db:ty, $module:ident, $name:ident, $table:ident, $($field:ident),+) => {
        impl diesel::Selectable<$db> for $name {
            type SelectExpression = ($($crate::db::schema::$module::$table::$field,)+);

            fn construct_selection() -> Self::SelectExpression {
                ($($crate::db::schema::$module::$table::$field,)+)
            }
        }
    };
    (@insert $name:ident [$($lt:lifetime)?], $table:ident, $($field:ident: $ty:ty),+) => {
        $crate::db_row!(@insert_for pg, $name [$($lt)?], $table, $($field: $ty),+);
        $crate::db_row!(@insert_for sqlite, $name [$($lt)?], $table, $($field: $ty),+);
    };
    (@insert_for $module:ident, $name:ident [$($lt:lifetime)?], $table:ident,
        $($field:ident: $ty:ty),+) => {
        impl<'insert $(, $lt)?> diesel::Insertable<$crate::db::schema::$module::$table::table>
            for &'insert $name $(<$lt>)?
        {
            type Values = <(
                $(diesel::dsl::Eq<$crate::db::schema::$module::$table::$field, &'insert $ty>,)+
            ) as diesel::Insertable<$crate::db::schema::$module::$table::table>>::Values;

            fn values(self) -> Self::Values {
                diesel::Insertable::values((
                    $(diesel::ExpressionMethods::eq(
                        $crate::db::schema::$module::$table::$field,
                        &self.$field,
                    ),)+
                ))
            }
        }

        impl $(<$lt>)? diesel::internal::derives::insertable::UndecoratedInsertRecord<
            $crate::db::schema::$module::$table::table,
        > for $name $(<$lt>)?
        {
        }
    };
    (@update $name:ident, $table:ident, $($field:ident: $ty:ty),+) => {
        $crate::db_row!(@update_for pg, $name, $table, $($field: $ty),+);
        $crate::db_row!(@update_for sqlite, $name, $table, $($field: $ty),+);
    };
    (@update_for $module:ident, $name:ident, $table:ident, $($field:ident: $ty:ty),+) => {
        impl $crate::db::row::Assignments<$crate::db::schema::$module::$table::table> for $name {
            type Changes<'update> = (
                $(Option<
                    diesel::dsl::Eq<$crate::db::schema::$module::$table::$field, &'update $ty>,
                >,)+
            );

            fn changed_from<'update>(&'update self, before: &Self) -> Self::Changes<'update> {
                ($((self.$field != before.$field).then(|| {
                    diesel::ExpressionMethods::eq(
                        $crate::db::schema::$module::$table::$field,
                        &self.$field,
                    )
                }),)+)
            }
        }
    };
}

/// `UPDATE … SET` of a row's changes for table `T` (diesel's `AsChangeset` allows one target
/// table per type; a row here has one per backend). Implemented by [`crate::db_row!`] for rows
/// declared `in` a table; call it as
/// `Assignments::<schema::pops::table>::changed_from(&next, &before)`.
pub trait Assignments<T> {
    /// `column = value` for each changed field, borrowing the row; `None` for the others.
    type Changes<'update>: diesel::AsChangeset<Target = T>
    where
        Self: 'update;

    /// `column = value` for every field of `self` that differs from `before`, and nothing for
    /// the fields that do not: a partial update leaves untouched columns out of the statement.
    /// (With no field changed the changeset is empty, which diesel refuses to run.)
    fn changed_from<'update>(&'update self, before: &Self) -> Self::Changes<'update>;
}
