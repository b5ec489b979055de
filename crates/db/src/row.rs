//! Reading text columns portably. Through `sqlx::Any`, MySQL reports `TEXT`/`MEDIUMTEXT`
//! columns as BLOB, so a text read falls back to bytes that must be UTF-8.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::DbError;

/// The text in `column`, or `None` for SQL NULL.
pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>, DbError> {
    match row.try_get::<Option<String>, _>(column) {
        Ok(v) => Ok(v),
        Err(sqlx::Error::ColumnDecode { .. }) => row
            .try_get::<Option<Vec<u8>>, _>(column)?
            .map(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| DbError::corrupt(format!("{column}: not UTF-8")))
            })
            .transpose(),
        Err(e) => Err(e.into()),
    }
}

/// The text in `column`, which must not be NULL.
pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String, DbError> {
    opt_text(row, column)?.ok_or_else(|| DbError::corrupt(format!("{column} is NULL")))
}
