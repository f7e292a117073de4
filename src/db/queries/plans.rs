//! Query plans: PostgreSQL's `EXPLAIN` of the server's read statements, built by the very
//! query builders of the other modules.

use super::*;

/// A read statement of the server, named with its arguments (see [`explain`]).
#[derive(Debug, Clone, Copy)]
pub enum Statement<'a> {
    /// [`list_pops`].
    ListPops(&'a PopFilter, &'a Page),
    /// [`search_pops`].
    SearchPops(&'a PopFilter, &'a Page),
    /// [`count_pops`].
    CountPops(&'a PopFilter),
    /// [`list_snapshots`] of a POP.
    ListSnapshots(i64, &'a Page),
    /// [`list_changes`] of a POP.
    ListChanges(i64, &'a ChangeFilter, &'a Page),
}

/// PostgreSQL's plan (`EXPLAIN (FORMAT JSON)`) for a statement, built by the very query builders
/// the functions above run, with the same bound parameters: to check which indexes serve them.
pub async fn explain(
    conn: &mut diesel_async::AsyncPgConnection,
    statement: Statement<'_>,
) -> Result<Value, AppError> {
    use crate::db::explain::Explain;
    use crate::db::schema::pg as schema;
    let plan = match statement {
        Statement::ListPops(filter, page) => {
            Explain(pops_page!(filter, page)).get_result(conn).await
        }
        Statement::SearchPops(filter, page) => {
            let search = filter
                .search
                .as_ref()
                .ok_or_else(|| AppError::internal("SearchPops without a search"))?;
            Explain(ranked_pops_page!(filter, search, page))
                .get_result(conn)
                .await
        }
        Statement::CountPops(filter) => {
            Explain(filtered_pops!(filter).count())
                .get_result(conn)
                .await
        }
        Statement::ListSnapshots(pop_id, page) => {
            Explain(snapshots_page!(pop_id, None, page))
                .get_result(conn)
                .await
        }
        Statement::ListChanges(pop_id, filter, page) => {
            Explain(changes_page!(pop_id, filter, page))
                .get_result(conn)
                .await
        }
    }?;
    Ok(plan)
}
