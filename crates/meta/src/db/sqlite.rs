//! The SQLite side of [`super::Conn`]: statements cached per connection.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;

use super::{DbError, Row, Value};

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn failed(e: rusqlite::Error) -> DbError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ) =>
        {
            DbError::Conflict
        }
        _ => DbError::Sqlite(e),
    }
}

pub(super) fn execute(conn: &Connection, sql: &str, args: &[Value]) -> Result<u64, DbError> {
    if args.is_empty() && !sql.contains('?') {
        // Transaction control and schema: no statement to cache.
        return conn.execute_batch(sql).map(|()| 0).map_err(failed);
    }
    let mut stmt = conn.prepare_cached(sql).map_err(failed)?;
    Ok(stmt.execute(rusqlite::params_from_iter(args)).map_err(failed)? as u64)
}

pub(super) fn query(conn: &Connection, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
    let mut stmt = conn.prepare_cached(sql).map_err(failed)?;
    let width = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(args)).map_err(failed)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(failed)? {
        let mut row = Vec::with_capacity(width);
        for i in 0..width {
            row.push(match r.get_ref(i).map_err(failed)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Int(i),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        out.push(Row(row));
    }
    Ok(out)
}
