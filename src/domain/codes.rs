//! Process codes (CAP): a POP's public identity, `AA.MM.PP.SS.III` — the area's two-digit prefix
//! (a sub-area uses its nearest ancestor's), then macroprocess, process and sub-process (two
//! digits each) and the activity (three digits).
//!
//! A code in that form belongs to at most one live POP. The database enforces it (a unique index
//! over live POPs' codes in that form: migration `2026-12-01-000140`); the writes check it first,
//! so that a taken code is a clear `BAD_USER_INPUT` and not a failed statement:
//!
//! - [`claim`] before a write gives a live POP a code (creation, autosave, restore);
//! - [`next_free`] when `createPop` asks for a code by position: the next free activity number
//!   among the siblings (the live POPs whose codes share the first four levels).
//!
//! On PostgreSQL both take a transaction-scoped advisory lock on the siblings' prefix first, so
//! concurrent writers of codes under one prefix go one at a time and never pick or claim the same
//! code (SQLite writers are already serialized by `BEGIN IMMEDIATE`). Codes in other forms (the
//! older system's free text, or a code being typed in an autosaving editor) are kept as text and
//! claim nothing.
//!
//! POPs that shared a code before this rule (imported or migrated data) keep their documents:
//! the first holds the code and the others are marked `cap_duplicate` until their code changes.

use crate::db::types::DbUuid;
use crate::db::Conn;
use crate::error::AppError;
use crate::with_backend;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Length of a code: `AA.MM.PP.SS.III`.
const CODE_LEN: usize = 15;
/// Length of the siblings' prefix: `AA.MM.PP.SS`.
const PREFIX_LEN: usize = 11;
/// The largest activity number.
const MAX_ACTIVITY: u32 = 999;
/// The first key of the advisory locks taken here (the two-key form keeps them apart from any
/// other advisory lock): "CAP" in ASCII.
const LOCK_NAMESPACE: i32 = 0x0043_4150;

/// Whether `code` has the CAP form `AA.MM.PP.SS.III` (digits only, dots between levels).
pub fn is_cap(code: &str) -> bool {
    let bytes = code.as_bytes();
    bytes.len() == CODE_LEN
        && bytes.iter().enumerate().all(|(i, b)| match i {
            2 | 5 | 8 | 11 => *b == b'.',
            _ => b.is_ascii_digit(),
        })
}

/// Whether `position` has the form `MM.PP.SS` (macroprocess, process, sub-process).
pub fn is_position(position: &str) -> bool {
    let bytes = position.as_bytes();
    bytes.len() == 8
        && bytes.iter().enumerate().all(|(i, b)| match i {
            2 | 5 => *b == b'.',
            _ => b.is_ascii_digit(),
        })
}

/// Serializes the writers of codes under one siblings' prefix until the transaction ends
/// (PostgreSQL; a no-op on SQLite, whose writers are serialized already).
async fn lock_prefix(conn: &mut Conn<'_>, prefix: &str) -> Result<(), AppError> {
    if let Conn::Pg(c) = conn {
        crate::db::prepared::Prepared(
            diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind::<diesel::sql_types::Integer, _>(LOCK_NAMESPACE)
                .bind::<diesel::sql_types::Text, _>(prefix),
        )
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// The live POP (other than `except`) that holds `code`, by public id.
pub async fn holder(
    conn: &mut Conn<'_>,
    code: &str,
    except: Option<i64>,
) -> Result<Option<uuid::Uuid>, AppError> {
    let rows: Vec<DbUuid> = with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::codigo_processo.eq(code))
        .filter(schema::pops::deleted_at.is_null())
        .filter(schema::pops::cap_duplicate.eq(false))
        .filter(schema::pops::id.ne(except.unwrap_or(0)))
        .select(schema::pops::uuid)
        .limit(1)
        .load(c)
        .await)?;
    Ok(rows.into_iter().next().map(|uuid| uuid.0))
}

/// Checks that the live POP `pop_id` (`None`: one being created) may hold `code`: nothing to do
/// for a code not in CAP form; `BAD_USER_INPUT` (naming `field`) when another live POP holds it.
/// Must run in the transaction that writes the code.
pub async fn claim(
    conn: &mut Conn<'_>,
    code: Option<&str>,
    pop_id: Option<i64>,
    field: &str,
) -> Result<(), AppError> {
    let Some(code) = code.filter(|c| is_cap(c)) else {
        return Ok(());
    };
    lock_prefix(conn, &code[..PREFIX_LEN]).await?;
    match holder(conn, code, pop_id).await? {
        Some(other) => Err(AppError::bad_input(
            field,
            format!("the process code {code} is taken by the POP {other}"),
        )),
        None => Ok(()),
    }
}

/// The next free code under `area_prefix` (`AA`) and `position` (`MM.PP.SS`): one more than the
/// highest activity number among the live POPs with that prefix (`001` when there is none).
/// `BAD_USER_INPUT` (naming `field`) when the position is malformed or the activities are used
/// up. Must run in the transaction that writes the code.
pub async fn next_free(
    conn: &mut Conn<'_>,
    area_prefix: &str,
    position: &str,
    field: &str,
) -> Result<String, AppError> {
    if !is_position(position) {
        return Err(AppError::bad_input(
            field,
            "must be `MM.PP.SS`: macroprocess, process and sub-process, two digits each",
        ));
    }
    let prefix = format!("{area_prefix}.{position}");
    lock_prefix(conn, &prefix).await?;
    let pattern = format!("{prefix}.%");
    let codes: Vec<Option<String>> = with_backend!(conn, |c| schema::pops::table
        .filter(schema::pops::codigo_processo.like(&pattern))
        .filter(schema::pops::deleted_at.is_null())
        .select(schema::pops::codigo_processo)
        .load(c)
        .await)?;
    let highest = codes
        .iter()
        .flatten()
        .filter(|code| is_cap(code))
        .filter_map(|code| code[PREFIX_LEN + 1..].parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    if highest >= MAX_ACTIVITY {
        return Err(AppError::bad_input(
            field,
            format!("the highest activity number under {prefix} is {MAX_ACTIVITY} already"),
        ));
    }
    Ok(format!("{prefix}.{:03}", highest + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_cap_form_is_a_code() {
        for good in ["05.01.02.03.004", "00.00.00.00.000"] {
            assert!(is_cap(good), "{good}");
        }
        for bad in [
            "5.1.2.3.4",
            "05.01.02.03.04",
            "05.01.02.03.0045",
            "05-01-02-03-004",
            "05.01.02.03.00a",
            "٠٥.01.02.03.004",
            "",
        ] {
            assert!(!is_cap(bad), "{bad}");
        }
        assert!(is_position("01.02.03"));
        assert!(!is_position("1.2.3"));
        assert!(!is_position("01.02.03.004"));
    }
}
