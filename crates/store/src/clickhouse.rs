//! The ClickHouse store: facts and raw events in ClickHouse tables shared by
//! every tenant (each row led by its tenant), reached over the HTTP
//! interface. What the node appended and has not yet inserted stays in
//! memory and is handed to each query as external data (`facts_recent`,
//! `events_recent`), so answers include it as on the embedded store; the
//! catalogue and the user directory travel the same way, from metadata.
//!
//! Idempotent inserts without server support (18.16 has no
//! `insert_deduplication_token`): every row carries its node and the WAL
//! position its checkpoint covered (`upto`), and a whole batch is marked
//! once in (`batch.rs`). On open, and before a checkpoint retried after an
//! uncertain failure, unmarked rows are deleted and the node's covered
//! position per table is its largest marked `upto`: rows a crash left
//! inserted are not offered again, and none is lost or doubled.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use streamtally_model::{EnrichedEvent, Fact, TenantId};

use crate::arrow_rows::{events_schema, facts_schema};
use crate::embedded::{between, newer_than, Row};
use crate::{BoxFuture, Checkpoint, DataFolder, Erased, FactStore, FlushStats, Meta, OpenMode, Scope, Sql, SqlDialect, StoreError, Subject, Table};

pub(crate) mod answer;
mod batch;
pub(crate) mod bind;
pub(crate) mod client;
mod config;
mod erase;
mod rows;
mod schema;

pub use answer::AnswerError;
pub use bind::BindError;
pub use client::ClientError;
use client::{Client, External};
pub use config::ClickHouseConfig;

/// Rows appended and not yet inserted, per table (numbered as
/// `schema::TABLES`), in arrival order.
#[derive(Default, Clone)]
struct Recent {
    tables: [Vec<(TenantId, RecordBatch)>; 2],
}

impl Recent {
    fn rows(&self) -> usize {
        self.tables.iter().flatten().map(|(_, b)| b.num_rows()).sum()
    }
}

/// What a checkpoint took: its rows wait in `in_flight` under `id` (queried,
/// and reached by erasure, until inserted); a table's rows leave it once in
/// ClickHouse, so a retry inserts only the tables still there.
struct Sealed {
    id: u64,
}

pub struct ClickHouseStore {
    client: Arc<Client>,
    config: ClickHouseConfig,
    meta: Arc<Meta>,
    /// Per table (facts, events): the WAL position ClickHouse holds this node's rows up to.
    covered: [AtomicU64; 2],
    recent: Mutex<Recent>,
    in_flight: Mutex<Vec<(u64, Arc<Recent>)>>,
    next_checkpoint: AtomicU64,
    /// A failed insert may have arrived: the next attempt asks first.
    uncertain: AtomicBool,
    /// Held while rows go into ClickHouse and while erasure removes rows, so
    /// no erased row is inserted after its erasure.
    writing: Mutex<()>,
    /// A query reads the rows in memory and ClickHouse as of one moment: it
    /// holds this shared while it runs, and a checkpoint holds it alone from
    /// its insert until its rows leave memory, so no query sees them twice.
    moment: tokio::sync::RwLock<()>,
    /// Taken by a checkpoint waiting for `moment`, so that queries arriving
    /// meanwhile wait behind it instead of keeping it out.
    turnstile: tokio::sync::Mutex<()>,
    _lock: std::fs::File,
}

impl ClickHouseStore {
    /// Opens the node's data folder (its metadata, WAL and engine state live
    /// there) and the ClickHouse database, creating or migrating its schema.
    pub fn open(root: &std::path::Path, config: ClickHouseConfig) -> Result<ClickHouseStore, StoreError> {
        ClickHouseStore::open_with(root, config, None)
    }

    /// As [`ClickHouseStore::open`], with `shared_meta` (in PostgreSQL,
    /// [`Meta::connect`]) when given: what several nodes share (tenant
    /// numbers, device-hashing secrets, keys, settings, catalogue, directory).
    pub fn open_with(root: &std::path::Path, config: ClickHouseConfig, shared_meta: Option<Arc<Meta>>) -> Result<ClickHouseStore, StoreError> {
        let (folder, lock) = DataFolder::take(root, OpenMode::Serve)?;
        let meta = match shared_meta {
            Some(meta) => meta,
            None => Arc::new(Meta::open(&folder.meta_file())?),
        };
        let client = Arc::new(Client::new(&config)?);
        schema::migrate(&client, &config)?;
        let covered = [
            AtomicU64::new(batch::settle(&client, &config, schema::TABLES[0])?),
            AtomicU64::new(batch::settle(&client, &config, schema::TABLES[1])?),
        ];
        Ok(ClickHouseStore {
            client,
            config,
            meta,
            covered,
            recent: Mutex::new(Recent::default()),
            in_flight: Mutex::new(Vec::new()),
            next_checkpoint: AtomicU64::new(1),
            uncertain: AtomicBool::new(false),
            writing: Mutex::new(()),
            moment: tokio::sync::RwLock::new(()),
            turnstile: tokio::sync::Mutex::new(()),
            _lock: lock,
        })
    }

    pub fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

    fn lock_recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Arc<Recent>)>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rows not yet in ClickHouse of one tenant and table, in the scope's range.
    fn recent_rows(&self, tenant: TenantId, scope: Scope, table: usize) -> Result<Vec<RecordBatch>, StoreError> {
        let pick = |r: &Recent| -> Vec<RecordBatch> { r.tables[table].iter().filter(|(t, _)| *t == tenant).map(|(_, b)| b.clone()).collect() };
        // In flight, then recent, both held: a checkpoint begun meanwhile moves rows between them.
        let in_flight = self.lock_in_flight();
        let mut batches: Vec<RecordBatch> = in_flight.iter().flat_map(|(_, r)| pick(r)).collect();
        batches.extend(pick(&self.lock_recent()));
        drop(in_flight);
        batches.iter().map(|b| between(b, scope.from, scope.to)).collect()
    }

    /// The external tables a statement of `scope` reads.
    fn externals(&self, tenant: TenantId, scope: Scope) -> Result<Vec<External>, StoreError> {
        let recent = |name: &'static str, table: usize, schema: &datafusion::arrow::datatypes::Schema| -> Result<External, StoreError> {
            let mut tsv = String::new();
            for b in self.recent_rows(tenant, scope, table)? {
                rows::write_tsv(&mut tsv, tenant, &self.config.node, 0, &b);
            }
            Ok(External {
                name,
                structure: rows::structure(&rows::columns(schema)),
                tsv,
            })
        };
        let plain = |name: &'static str, batch: RecordBatch| External {
            name,
            structure: rows::structure(&rows::own_columns(&batch.schema())),
            tsv: {
                let mut tsv = String::new();
                rows::write_rows(&mut tsv, "", &batch);
                tsv
            },
        };
        let mut out = vec![recent("facts_recent", 0, &facts_schema())?];
        if scope.events {
            out.push(recent("events_recent", 1, &events_schema())?);
        }
        if scope.catalogue {
            out.push(plain("contents", crate::embedded::contents_batch(&self.meta.contents(tenant)?)?));
        }
        if scope.directory {
            out.push(plain("users", crate::embedded::users_batch(&self.meta, tenant)?));
        }
        Ok(out)
    }

    /// Inserts one table's rows of a checkpoint, unless an earlier attempt got them in.
    fn insert_table(&self, rows: &[(TenantId, RecordBatch)], table: usize, upto: u64) -> Result<usize, StoreError> {
        let name = schema::TABLES[table];
        let n: usize = rows.iter().map(|(_, b)| b.num_rows()).sum();
        if n == 0 {
            return Ok(0);
        }
        // After a failure the batch may be in, in part, or still arriving.
        if self.uncertain.load(Ordering::SeqCst) && batch::settle(&self.client, &self.config, name)? >= upto {
            return Ok(0);
        }
        let mut tsv = String::new();
        for (tenant, batch) in rows {
            rows::write_tsv(&mut tsv, *tenant, &self.config.node, upto, batch);
        }
        let id = batch::query_id(&self.config, name, upto);
        let written = self
            .client
            .insert(&schema::write_target(&self.config, name), &id, tsv)
            .map_err(StoreError::from)
            .and_then(|()| batch::mark(&self.client, &self.config, name, upto, n));
        if written.is_err() {
            self.uncertain.store(true, Ordering::SeqCst);
        }
        written.map(|()| n)
    }

    fn append<R: Row>(&self, tenant: TenantId, rows: &[R], table: usize) -> Result<(), StoreError> {
        // Replay after a crash offers rows ClickHouse holds already.
        let rows = newer_than(rows, self.covered[table].load(Ordering::SeqCst));
        if rows.is_empty() {
            return Ok(());
        }
        let batch = R::batch(&rows)?;
        self.lock_recent().tables[table].push((tenant, batch));
        Ok(())
    }
}

impl FactStore for ClickHouseStore {
    fn append_facts(&self, tenant: TenantId, facts: &[Fact<'_>]) -> Result<(), StoreError> {
        self.append(tenant, facts, 0)
    }

    fn append_events(&self, tenant: TenantId, events: Vec<(u64, EnrichedEvent)>) -> Result<(), StoreError> {
        self.append(tenant, &events, 1)
    }

    fn begin_checkpoint(&self) -> Checkpoint {
        let mut in_flight = self.lock_in_flight();
        let rows = Arc::new(std::mem::take(&mut *self.lock_recent()));
        let id = self.next_checkpoint.fetch_add(1, Ordering::SeqCst);
        in_flight.push((id, rows));
        Checkpoint(Box::new(Sealed { id }))
    }

    fn finish_checkpoint(&self, checkpoint: &mut Checkpoint, upto_lsn: u64) -> Result<FlushStats, StoreError> {
        let Some(sealed) = checkpoint.0.downcast_ref::<Sealed>() else {
            return Err(StoreError::Manifest {
                path: self.config.base_url(),
                reason: "a checkpoint begun by another store".into(),
            });
        };
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        // Polled, not awaited: checkpoints finish on a plain thread (or a test's runtime).
        let poll = std::time::Duration::from_millis(1);
        let _turnstile = loop {
            match self.turnstile.try_lock() {
                Ok(guard) => break guard,
                Err(_) => std::thread::sleep(poll),
            }
        };
        let _moment = loop {
            match self.moment.try_write() {
                Ok(guard) => break guard,
                Err(_) => std::thread::sleep(poll),
            }
        };
        let id = sealed.id;
        let Some(taken) = self.lock_in_flight().iter().find(|(i, _)| *i == id).map(|(_, r)| r.clone()) else {
            return Ok(FlushStats::default());
        };
        let mut stats = FlushStats::default();
        for (table, rows) in taken.tables.iter().enumerate() {
            stats.rows += self.insert_table(rows, table, upto_lsn)?;
            self.covered[table].fetch_max(upto_lsn, Ordering::SeqCst);
            // In ClickHouse now: no longer also in memory for queries, nor for a retry (if the other table fails).
            for (i, r) in self.lock_in_flight().iter_mut() {
                if *i == id {
                    Arc::make_mut(r).tables[table].clear();
                }
            }
        }
        self.uncertain.store(false, Ordering::SeqCst);
        self.lock_in_flight().retain(|(i, _)| *i != id);
        Ok(stats)
    }

    fn pending_rows(&self) -> usize {
        self.lock_recent().rows()
    }

    fn collect_garbage(&self) {}

    fn close(&self) {}

    fn dialect(&self) -> SqlDialect {
        SqlDialect::ClickHouse
    }

    fn select<'a>(&'a self, tenant: TenantId, scope: Scope, statements: &'a [Sql]) -> BoxFuture<'a, Result<Vec<Table>, StoreError>> {
        Box::pin(async move {
            drop(self.turnstile.lock().await);
            let _moment = self.moment.read().await;
            let externals = self.externals(tenant, scope)?;
            let statements = statements.to_vec();
            let client = self.client.clone();
            let run = move || -> Result<Vec<Table>, StoreError> {
                statements
                    .iter()
                    .map(|sql| {
                        let text = format!("{} FORMAT JSONCompact", bind::bind(&sql.text, &sql.params)?);
                        let body = client.select(&text, &externals)?;
                        Ok(answer::parse(&sql.columns, &body)?)
                    })
                    .collect()
            };
            tokio::task::spawn_blocking(run)
                .await
                .map_err(|e| StoreError::ClickHouse(format!("a query thread ended: {e}")))?
        })
    }

    fn erase(&self, tenant: TenantId, subject: &Subject) -> Result<Erased, StoreError> {
        erase::erase(self, tenant, subject)
    }

    fn apply_retention(&self, tenant: TenantId, keep_from_day: NaiveDate) -> Result<usize, StoreError> {
        erase::drop_before(self, tenant, keep_from_day, true)
    }

    fn apply_raw_retention(&self, tenant: TenantId, keep_from_day: NaiveDate) -> Result<usize, StoreError> {
        erase::drop_before(self, tenant, keep_from_day, false)
    }
}
