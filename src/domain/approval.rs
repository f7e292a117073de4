//! Who approved a POP's current version, and when: its stored published version, else its last
//! publication in the change log (the `status` row that moved it to `published`) and the user
//! who made it.

use crate::db::models::Pop;
use crate::db::queries::{self, Page};
use crate::db::Db;
use crate::error::AppError;
use chrono::NaiveDate;
use serde_json::json;

/// Status rows read back through the change log to find the last publication (a POP is
/// published, archived, sent back… a handful of times, never more than this between two
/// publications in practice; past it the approval is reported as unknown).
const STATUS_ROWS: i64 = 50;

/// The last publication of a POP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The day of publication (UTC).
    pub on: NaiveDate,
    /// The reviewer's user name, when the change log names one.
    pub by: Option<String>,
}

/// The last publication of `pop`: its stored published version of the same number, else (POPs
/// published before versions were stored) the change log's, if it holds one.
pub async fn last_approval(db: &Db, pop: &Pop) -> Result<Option<Approval>, AppError> {
    let mut pooled = db.read().await?;
    let mut conn = pooled.conn();
    if let Some(version) =
        crate::db::versions::find(&mut conn, pop.meta.id, Some(pop.meta.versao)).await?
    {
        let by = queries::username_of(&mut conn, version.published_by_id).await?;
        return Ok(Some(Approval {
            on: version.published_at.date_naive(),
            by,
        }));
    }
    let page = Page {
        below: None,
        above: None,
        below_score: None,
        above_score: None,
        limit: STATUS_ROWS,
        from_end: false,
    };
    let status_rows = queries::ChangeFilter {
        field: Some("status".into()),
        ..Default::default()
    };
    let rows = queries::list_changes(&mut conn, pop.meta.id, &status_rows, &page).await?;
    let Some(published) = rows
        .into_iter()
        .find(|row| row.new_value == Some(json!("published")))
    else {
        return Ok(None);
    };
    let by = queries::username_of(&mut conn, published.user_id).await?;
    Ok(Some(Approval {
        on: published.created_at.date_naive(),
        by,
    }))
}
