//! Row types declared once for both backends.
//!
//! [`crate::db_row!`] declares a struct whose fields are named after the columns of one table and
//! derives, for PostgreSQL and SQLite alike, what diesel's own derives would give for one schema
//! module: `Queryable` (positional, in field order), `Selectable` (the same columns, in the same
//! order, so `Row::as_select()` reads them and no select list is typed by hand) and `Insertable`
//! for `&Row` (every field bound, `None` stored as `NULL`), and [`Assignments`] (every field as
//! `column = value`, for `UPDATE … SET`). A field
//! is tied to its column by name: two columns of the same type cannot be swapped without the
//! compiler seeing a field that names no column, or a column read into the wrong field's type.
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
/// ```
#[macro_export]
macro_rules! db_row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $table:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(diesel::Queryable)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $ty ),+
        }
        $crate::db_row!(@backend $name, $table, diesel::pg::Pg, pg, $($field: $ty),+);
        $crate::db_row!(@backend $name, $table, diesel::sqlite::Sqlite, sqlite, $($field: $ty),+);
    };
    (@backend $name:ident, $table:ident, $db:ty, $module:ident, $($field:ident: $ty:ty),+) => {
        impl diesel::Selectable<$db> for $name {
            type SelectExpression = ($($crate::db::schema::$module::$table::$field,)+);

            fn construct_selection() -> Self::SelectExpression {
                ($($crate::db::schema::$module::$table::$field,)+)
            }
        }

        impl<'insert> diesel::Insertable<$crate::db::schema::$module::$table::table>
            for &'insert $name
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

        impl $crate::db::row::Assignments<$crate::db::schema::$module::$table::table> for $name {
            type Changeset<'update> = (
                $(diesel::dsl::Eq<$crate::db::schema::$module::$table::$field, &'update $ty>,)+
            );

            fn assignments(&self) -> Self::Changeset<'_> {
                ($(diesel::ExpressionMethods::eq(
                    $crate::db::schema::$module::$table::$field,
                    &self.$field,
                ),)+)
            }
        }

        impl diesel::internal::derives::insertable::UndecoratedInsertRecord<
            $crate::db::schema::$module::$table::table,
        > for $name
        {
        }
    };
}

/// Every field of a row as `column = value` for table `T`, for `UPDATE … SET` (diesel's
/// `AsChangeset` allows one target table per type; a row here has one per backend). Implemented
/// by [`crate::db_row!`]; call it as `Assignments::<schema::pops::table>::assignments(&row)`.
pub trait Assignments<T> {
    /// The assignments, borrowing the row.
    type Changeset<'update>: diesel::AsChangeset<Target = T>
    where
        Self: 'update;

    /// `column = value` for every field.
    fn assignments(&self) -> Self::Changeset<'_>;
}
