//! One connection to the metadata database — SQLite in the data folder, or
//! PostgreSQL shared by several nodes — behind the few calls the tables need.
//! Each statement is written once, with `?N` placeholders (PostgreSQL's
//! `$N` are made from them), values go in as [`Value`] and rows come back as
//! [`Row`]s read by column, so the table modules know no driver.

mod postgres;
mod sqlite;

pub(crate) use self::postgres::PgConn;

use crate::MetaError;

/// A value going into a statement or coming out of a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// What can be bound to a placeholder.
pub(crate) trait Bind {
    fn bind(&self) -> Value;
}

macro_rules! bind_int {
    ($($t:ty),*) => {$(
        impl Bind for $t {
            fn bind(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
bind_int!(i64, i32, u32, bool);

impl Bind for f64 {
    fn bind(&self) -> Value {
        Value::Real(*self)
    }
}
impl Bind for str {
    fn bind(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl Bind for String {
    fn bind(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl Bind for [u8] {
    fn bind(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl<T: Bind + ?Sized> Bind for &T {
    fn bind(&self) -> Value {
        (**self).bind()
    }
}
impl<T: Bind> Bind for Option<T> {
    fn bind(&self) -> Value {
        self.as_ref().map_or(Value::Null, Bind::bind)
    }
}

/// The values of a statement's placeholders, in order: `args![tenant, name]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        &[$($crate::db::Bind::bind(&$v)),*] as &[$crate::db::Value]
    };
}
pub(crate) use args;

/// What a column can be read as.
pub(crate) trait Column: Sized {
    const WHAT: &'static str;
    fn read(v: &Value) -> Option<Self>;
}

impl Column for i64 {
    const WHAT: &'static str = "an integer";
    fn read(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl Column for i32 {
    const WHAT: &'static str = "a 32-bit integer";
    fn read(v: &Value) -> Option<Self> {
        i64::read(v).and_then(|i| i32::try_from(i).ok())
    }
}
impl Column for f64 {
    const WHAT: &'static str = "a number";
    fn read(v: &Value) -> Option<Self> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl Column for bool {
    const WHAT: &'static str = "a truth value";
    fn read(v: &Value) -> Option<Self> {
        i64::read(v).map(|i| i != 0)
    }
}
impl Column for String {
    const WHAT: &'static str = "text";
    fn read(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl Column for Vec<u8> {
    const WHAT: &'static str = "bytes";
    fn read(v: &Value) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}
impl<T: Column> Column for Option<T> {
    const WHAT: &'static str = T::WHAT;
    fn read(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::read(v).map(Some),
        }
    }
}

/// One row of a result.
#[derive(Debug, Clone)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    pub(crate) fn get<T: Column>(&self, i: usize) -> Result<T, DbError> {
        self.0.get(i).and_then(T::read).ok_or(DbError::Column { index: i, expected: T::WHAT })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Postgres(String),
    /// A unique key or primary key is taken.
    #[error("a row with this key exists already")]
    Conflict,
    #[error("column {index} is not {expected}")]
    Column { index: usize, expected: &'static str },
}

/// The database a [`crate::Meta`] talks to.
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(PgConn),
}

impl Conn {
    /// Runs a statement; how many rows it changed (0 for a statement with no
    /// placeholders: schema and transaction control, sent as they are).
    pub(crate) fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        match self {
            Conn::Sqlite(c) => sqlite::execute(c, sql, args),
            Conn::Postgres(c) => c.execute(sql, args),
        }
    }

    /// Runs a query; all its rows.
    pub(crate) fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Conn::Sqlite(c) => sqlite::query(c, sql, args),
            Conn::Postgres(c) => c.query(sql, args),
        }
    }

    /// The first row of a query, if any.
    pub(crate) fn query_opt(&mut self, sql: &str, args: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// Runs `work` in one transaction: all of it is kept, or none.
    pub(crate) fn transaction<T>(&mut self, work: impl FnOnce(&mut Conn) -> Result<T, MetaError>) -> Result<T, MetaError> {
        // SQLite: take the write lock at once, so a CLI writing meanwhile waits
        // (busy timeout) instead of failing when a read would turn into a write.
        let begin = match self {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE",
            Conn::Postgres(_) => "BEGIN",
        };
        self.execute(begin, &[])?;
        // A panic inside the work must not leave the transaction open for
        // the next caller: roll back, then let the panic go on.
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut *self)));
        match done {
            Ok(Ok(out)) => match self.execute("COMMIT", &[]) {
                Ok(_) => Ok(out),
                Err(e) => {
                    let _ = self.execute("ROLLBACK", &[]);
                    Err(e.into())
                }
            },
            Ok(Err(e)) => {
                // The error that stopped the work is the one to report.
                let _ = self.execute("ROLLBACK", &[]);
                Err(e)
            }
            Err(panic) => {
                let _ = self.execute("ROLLBACK", &[]);
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// How rows of one table are numbered in the order they were added
    /// (SQLite's `rowid`; PostgreSQL tables here have a `seq` column).
    pub(crate) fn insertion_order(&self) -> &'static str {
        match self {
            Conn::Sqlite(_) => "rowid",
            Conn::Postgres(_) => "seq",
        }
    }
}

/// `?N` placeholders as PostgreSQL's `$N`. The statements here hold no `?`
/// inside literals, so a plain scan is enough.
pub(crate) fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_dollars() {
        assert_eq!(
            dollar_placeholders("SELECT a FROM t WHERE x = ?1 AND y = ?12 OR z IS ?2"),
            "SELECT a FROM t WHERE x = $1 AND y = $12 OR z IS $2"
        );
    }

    #[test]
    fn columns_read_what_they_hold_and_refuse_the_rest() {
        let row = Row(vec![Value::Int(7), Value::Null, Value::Text("x".into()), Value::Int(1 << 40)]);
        assert_eq!(row.get::<i64>(0).unwrap(), 7);
        assert_eq!(row.get::<f64>(0).unwrap(), 7.0);
        assert_eq!(row.get::<Option<String>>(1).unwrap(), None);
        assert_eq!(row.get::<String>(2).unwrap(), "x");
        assert!(row.get::<i64>(2).is_err());
        assert!(row.get::<i32>(3).is_err(), "too large for 32 bits");
        assert!(row.get::<i64>(9).is_err(), "no such column");
    }
}
