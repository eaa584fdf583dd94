//! The PostgreSQL side of [`super::Conn`]: one connection on a thread of its
//! own — the `postgres` client blocks on a runtime of its own, which may not
//! run inside the server's — fed statements one at a time. A connection that
//! drops between transactions is opened again (the statement that found it
//! gone is sent once more); one that drops inside a transaction fails the
//! rest of it, so no half of a transaction is ever kept. Every wait is
//! bounded (connect, TCP, statement), and after a failed connect the next
//! few seconds' statements fail at once instead of each waiting again, so a
//! PostgreSQL that is away costs the callers (the server's request handlers)
//! little time: they keep what they cached.
//!
//! TLS: with `sslmode=require` in the address, or a CA file given, the
//! connection is TLS (rustls), the server's certificate checked against the
//! CA file's certificates, else the public CAs; otherwise in the clear.

use std::collections::HashMap;
use std::error::Error;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::config::SslMode;
use postgres::error::SqlState;
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{dollar_placeholders, DbError, Row, Value};

type BoxError = Box<dyn Error + Sync + Send>;

impl ToSql for Value {
    // The server decides each placeholder's type from the statement; a value
    // is written as that type (an `Int` into an `integer` or a `bigint`).
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => f.to_sql(ty, out),
            },
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(Vec::<u8>::from_sql(ty, raw)?),
            _ => Value::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn failed(e: postgres::Error) -> DbError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return DbError::Conflict;
    }
    match e.as_db_error() {
        Some(db) => DbError::Postgres(format!("PostgreSQL: {}: {}", db.severity(), db.message())),
        None => {
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            DbError::Postgres(format!("PostgreSQL: {text}"))
        }
    }
}

/// The TLS the address asks for: `sslmode=require`, or a CA to trust (which
/// makes TLS required: no falling back to the clear). `None`: in the clear.
fn tls_for(config: &mut postgres::Config, ca_pem: Option<&[u8]>) -> Result<Option<MakeRustlsConnect>, DbError> {
    let bad = |why: String| DbError::Postgres(format!("PostgreSQL TLS: {why}"));
    match (config.get_ssl_mode(), ca_pem) {
        (SslMode::Disable, Some(_)) => return Err(bad("a CA to trust was given, but the address says sslmode=disable".into())),
        (SslMode::Require, _) => {}
        (_, Some(_)) => {
            config.ssl_mode(SslMode::Require);
        }
        _ => return Ok(None),
    }
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| bad(format!("the CA file: {e}")))?;
                roots.add(cert).map_err(|e| bad(format!("the CA file: {e}")))?;
            }
            if roots.is_empty() {
                return Err(bad("the CA file holds no certificate (PEM, -----BEGIN CERTIFICATE-----)".into()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(MakeRustlsConnect::new(tls)))
}

enum Answer {
    Changed(u64),
    Rows(Vec<Row>),
}

struct Job {
    sql: String,
    args: Vec<Value>,
    rows: bool,
    reply: mpsc::SyncSender<Result<Answer, DbError>>,
}

/// A connection to PostgreSQL, served by its own thread.
pub(crate) struct PgConn {
    jobs: mpsc::Sender<Job>,
}

impl PgConn {
    /// Connects (`postgres://user:password@host:5432/database`, or the
    /// `key=value` form), over TLS when the address says `sslmode=require`
    /// or `ca_pem` is given; fails when the first connection fails.
    pub(crate) fn connect(url: &str, ca_pem: Option<&[u8]>) -> Result<PgConn, DbError> {
        let mut config: postgres::Config = url.parse().map_err(failed)?;
        let tls = tls_for(&mut config, ca_pem)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_options().is_none() {
            config.options(&format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis()));
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.tcp_user_timeout(STATEMENT_TIMEOUT);
        config.application_name("streamtally");
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready, opened) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("streamtally-meta-pg".into())
            .spawn(move || {
                let mut worker = Worker {
                    session: None,
                    config,
                    tls,
                    broken: false,
                    failed_connect: None,
                };
                match worker.open() {
                    Ok(()) => {
                        let _ = ready.send(Ok(()));
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                }
                for job in inbox {
                    let answer = worker.run(&job);
                    let _ = job.reply.send(answer);
                }
            })
            .map_err(|e| DbError::Postgres(format!("cannot start the PostgreSQL thread: {e}")))?;
        opened.recv().map_err(|_| DbError::Postgres("the PostgreSQL thread stopped".into()))??;
        Ok(PgConn { jobs })
    }

    fn send(&self, sql: &str, args: &[Value], rows: bool) -> Result<Answer, DbError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            sql: sql.to_string(),
            args: args.to_vec(),
            rows,
            reply,
        };
        let gone = || DbError::Postgres("the PostgreSQL thread stopped".into());
        self.jobs.send(job).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    pub(crate) fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        match self.send(sql, args, false)? {
            Answer::Changed(n) => Ok(n),
            Answer::Rows(r) => Ok(r.len() as u64),
        }
    }

    pub(crate) fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        match self.send(sql, args, true)? {
            Answer::Rows(r) => Ok(r),
            Answer::Changed(_) => Ok(Vec::new()),
        }
    }
}

struct Session {
    client: Client,
    statements: HashMap<String, Statement>,
    in_transaction: bool,
}

struct Worker {
    config: postgres::Config,
    /// `None`: in the clear.
    tls: Option<MakeRustlsConnect>,
    session: Option<Session>,
    /// The connection dropped inside a transaction: everything up to its
    /// COMMIT or ROLLBACK fails.
    broken: bool,
    /// When the last attempt to connect failed, and why.
    failed_connect: Option<(Instant, String)>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A statement (and unacknowledged TCP data) waits at most this long.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(15);
/// After a failed connect, statements fail at once for this long.
const RECONNECT_AFTER: Duration = Duration::from_secs(5);

impl Worker {
    fn open(&mut self) -> Result<(), DbError> {
        if let Some((at, why)) = &self.failed_connect {
            if at.elapsed() < RECONNECT_AFTER {
                return Err(DbError::Postgres(format!("{why} (trying again in a few seconds)")));
            }
        }
        let connected = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        };
        let client = match connected {
            Ok(c) => c,
            Err(e) => {
                let e = failed(e);
                self.failed_connect = Some((Instant::now(), e.to_string()));
                return Err(e);
            }
        };
        self.failed_connect = None;
        self.session = Some(Session {
            client,
            statements: HashMap::new(),
            in_transaction: false,
        });
        Ok(())
    }

    fn run(&mut self, job: &Job) -> Result<Answer, DbError> {
        let answer = self.run_once(job);
        // A connection that dropped while idle is found only by the statement
        // that uses it: outside a transaction, that statement goes once more.
        let lost_idle = answer.is_err() && self.session.as_ref().is_some_and(|s| s.client.is_closed() && !s.in_transaction);
        if lost_idle {
            self.session = None;
            return self.run_once(job);
        }
        answer
    }

    fn run_once(&mut self, job: &Job) -> Result<Answer, DbError> {
        let control = job.sql.trim().to_ascii_uppercase();
        let ends = control == "COMMIT" || control == "ROLLBACK";
        if self.broken {
            self.broken = !ends;
            return match control.as_str() {
                "ROLLBACK" => Ok(Answer::Changed(0)),
                _ => Err(DbError::Postgres(
                    "PostgreSQL: the connection was lost inside a transaction; none of it was kept".into(),
                )),
            };
        }
        if self.session.as_ref().is_none_or(|s| s.client.is_closed()) {
            let lost_inside = self.session.take().is_some_and(|s| s.in_transaction);
            if lost_inside {
                self.broken = !ends;
                return Err(DbError::Postgres(
                    "PostgreSQL: the connection was lost inside a transaction; none of it was kept".into(),
                ));
            }
            self.open()?;
        }
        let session = self.session.as_mut().expect("opened above");
        if !job.rows && job.args.is_empty() && !job.sql.contains('?') {
            // Transaction control and schema statements: sent as they are.
            let done = session.client.batch_execute(&job.sql).map_err(failed);
            if control == "BEGIN" {
                session.in_transaction = done.is_ok();
            } else if ends {
                session.in_transaction = false;
            }
            return done.map(|()| Answer::Changed(0));
        }
        let statement = match session.statements.get(&job.sql) {
            Some(s) => s.clone(),
            None => {
                let s = session.client.prepare(&dollar_placeholders(&job.sql)).map_err(failed)?;
                session.statements.insert(job.sql.clone(), s.clone());
                s
            }
        };
        let params: Vec<&(dyn ToSql + Sync)> = job.args.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        if job.rows {
            let rows = session.client.query(&statement, &params).map_err(failed)?;
            rows.iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.try_get::<_, Value>(i).map_err(failed))
                        .collect::<Result<Vec<_>, _>>()
                        .map(Row)
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Answer::Rows)
        } else {
            session.client.execute(&statement, &params).map(Answer::Changed).map_err(failed)
        }
    }
}
