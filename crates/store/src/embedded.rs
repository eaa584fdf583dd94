//! The embedded store: Parquet files per tenant, table and day, listed by a
//! manifest per table, plus an in-memory tail; queried with DataFusion.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, BooleanArray, RecordBatch, TimestampMicrosecondArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use serde::{Deserialize, Serialize};
use streamtally_model::{micros_to_datetime, DeviceKey, EnrichedEvent, Fact, Micros, TenantId};

use crate::arrow_rows::{events_batch, facts_batch};
use crate::partition::Partition;
use crate::{io_err, BoxFuture, Checkpoint, DataFolder, FactStore, Meta, Scope, Sql, SqlDialect, StoreError, Table};

mod erase;
mod free_dimension;
mod parquet_file;
mod quarantine;
mod rollup;
mod select;
mod table;
use erase::*;
pub(crate) use erase::{add_owned, add_owned_in, keep_unless_device, keep_unless_text, keep_unless_user, Owned};
use parquet_file::*;
pub use rollup::RollupStatus;
pub(crate) use select::{contents_batch, users_batch};
use table::*;
pub(crate) use table::{between, newer_than, ts_column, Row};

/// A day with this many small files has them merged into one.
const COMPACT_AT_FILES: usize = 16;
/// Files with at least this many rows are left as they are.
const COMPACTED_ROWS: u64 = 1_000_000;
/// Replaced files are deleted this long after, so running queries can finish.
const GRAVE_DELAY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The owner: may write, cleans up unreferenced files.
    Serve,
    /// Offline reads (`report`): takes the folder lock, writes nothing.
    ReadOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableKind {
    Facts,
    Events,
}

impl TableKind {
    fn dir_name(self) -> &'static str {
        match self {
            TableKind::Facts => "facts",
            TableKind::Events => "events",
        }
    }
}

/// Whose data an erasure request names (spec §8).
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    UserId(String),
    Device(DeviceKey),
    AccessCode(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Erased {
    pub facts: u64,
    pub events: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FlushStats {
    pub files_written: usize,
    pub rows: usize,
    pub files_compacted: usize,
}

struct TenantTables {
    facts: TableState,
    events: TableState,
}

/// The in-memory tails one seal took, to be written by [`EmbeddedStore::write_sealed`].
pub struct Sealed(Vec<SealedTables>);

/// One tenant's sealed tables; each is `None` once published.
struct SealedTables {
    tenant: TenantId,
    facts_dir: PathBuf,
    facts: Option<Vec<RecordBatch>>,
    events_dir: PathBuf,
    events: Option<Vec<RecordBatch>>,
}

pub struct EmbeddedStore {
    folder: DataFolder,
    meta: Arc<Meta>,
    mode: OpenMode,
    /// Each tenant's tables behind a lock of its own: one tenant's
    /// compaction or rewrite never holds up another's appends or queries.
    tenants: Mutex<HashMap<TenantId, Arc<Mutex<TenantTables>>>>,
    /// Held for a whole flush (seal, write, publish) and by whatever rewrites
    /// files or sealed rows (erasure, retention), which so wait for it.
    flushing: Mutex<()>,
    graveyard: Mutex<Vec<(Instant, PathBuf)>>,
    /// Files put aside as unreadable when their tables opened (`quarantine.rs`).
    quarantined: Mutex<Vec<String>>,
    /// DataFusion's runtime, shared by every query: its cache of Parquet
    /// footers (checked against each file's size and time) spares a small
    /// query the re-reading of every file's metadata.
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    /// What is kept pre-aggregated beside the settled files of facts (`rollup.rs`).
    rollup: Mutex<Option<&'static crate::RollupDefinition>>,
    /// The columns of each rollup definition's rows, by version (planned once).
    rollup_schemas: Mutex<HashMap<String, datafusion::arrow::datatypes::SchemaRef>>,
    _lock: File,
}

impl EmbeddedStore {
    /// Opens the data folder, creating it if needed, and takes its lock.
    pub fn open(root: &Path, mode: OpenMode) -> Result<EmbeddedStore, StoreError> {
        let (folder, lock) = DataFolder::take(root, mode)?;
        let format = crate::format::check(root)?;
        let meta = Arc::new(Meta::open(&folder.meta_file())?);
        let store = EmbeddedStore {
            folder,
            meta,
            mode,
            tenants: Mutex::new(HashMap::new()),
            flushing: Mutex::new(()),
            runtime: datafusion::execution::runtime_env::RuntimeEnvBuilder::new().build_arc()?,
            graveyard: Mutex::new(Vec::new()),
            quarantined: Mutex::new(Vec::new()),
            rollup: Mutex::new(None),
            rollup_schemas: Mutex::new(HashMap::new()),
            _lock: lock,
        };
        for t in store.meta.tenants()? {
            store.with_tenant(t.id, |_| Ok(()))?;
        }
        crate::format::mark(root, mode, format)?;
        Ok(store)
    }

    pub fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

    pub fn folder(&self) -> &DataFolder {
        &self.folder
    }

    /// Seals every table's in-memory tail for [`EmbeddedStore::write_sealed`].
    /// Cheap: the engine goes on counting while another thread writes the files.
    pub fn seal(&self) -> Sealed {
        Sealed(
            self.all_tables()
                .into_iter()
                .map(|(id, t)| {
                    let mut t = lock(&t);
                    SealedTables {
                        tenant: id,
                        facts_dir: t.facts.dir.clone(),
                        facts: Some(t.facts.seal()),
                        events_dir: t.events.dir.clone(),
                        events: Some(t.events.seal()),
                    }
                })
                .collect(),
        )
    }

    /// Writes what one [`EmbeddedStore::seal`] sealed as files (a file per table
    /// and day), names them in the manifests as covering `upto_lsn`, then merges
    /// small files. Queries and appends go on meanwhile; seals must be written
    /// in the order they were made.
    /// On an error, `sealed` keeps what is not published yet: call again with it.
    pub fn write_sealed(&self, sealed: &mut Sealed, upto_lsn: u64) -> Result<FlushStats, StoreError> {
        if self.mode == OpenMode::ReadOnly {
            return Err(StoreError::ReadOnly);
        }
        let _flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let mut stats = FlushStats::default();
        let mut replaced = Vec::new();
        let result = (|| {
            while let Some(table) = sealed.0.first_mut() {
                let tenant = table.tenant;
                self.write_table(
                    tenant,
                    &mut table.facts,
                    &table.facts_dir,
                    upto_lsn,
                    |t| &mut t.facts,
                    &mut stats,
                    &mut replaced,
                )?;
                self.write_table(
                    tenant,
                    &mut table.events,
                    &table.events_dir,
                    upto_lsn,
                    |t| &mut t.events,
                    &mut stats,
                    &mut replaced,
                )?;
                sealed.0.remove(0);
            }
            Ok::<_, StoreError>(())
        })();
        stats.files_compacted = replaced.len();
        self.bury(replaced);
        self.empty_graveyard(false);
        result.map(|()| stats)
    }

    /// Writes one sealed table of a tenant, publishes it and merges its small
    /// files; leaves `None` once published, so a retry skips it.
    #[allow(clippy::too_many_arguments)]
    fn write_table(
        &self,
        tenant: TenantId,
        sealed: &mut Option<Vec<RecordBatch>>,
        dir: &Path,
        upto_lsn: u64,
        table: impl Fn(&mut TenantTables) -> &mut TableState,
        stats: &mut FlushStats,
        replaced: &mut Vec<PathBuf>,
    ) -> Result<(), StoreError> {
        let Some(batches) = sealed else { return Ok(()) };
        let written = TableState::write_days(dir, batches, upto_lsn)?;
        stats.files_written += written.files.len();
        stats.rows += written.rows;
        let tables = self.lock_tenants().get(&tenant).cloned();
        if let Some(t) = tables {
            let (plan, lsn) = {
                let mut t = lock(&t);
                let state = table(&mut t);
                state.publish(written, upto_lsn)?;
                (state.compaction_plan(), state.manifest.lsn)
            };
            // Merged off every lock: this tenant's queries and appends go on
            // meanwhile. Nothing else changes its files: this runs under `flushing`.
            for (part, old) in plan {
                let merged = TableState::merge(dir, part, &old, lsn)?;
                replaced.extend(table(&mut lock(&t)).replace(&old, merged)?);
            }
        }
        *sealed = None;
        Ok(())
    }

    /// Drops the raw events' days before `keep_from_day`, and the facts' too
    /// when `facts`; returns how many files went.
    fn drop_days(&self, tenant: TenantId, keep_from_day: NaiveDate, facts: bool) -> Result<usize, StoreError> {
        if self.mode == OpenMode::ReadOnly {
            return Err(StoreError::ReadOnly);
        }
        let _flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let replaced = self.with_tenant(tenant, |t| {
            let mut r = t.events.drop_days_before(keep_from_day)?;
            if facts {
                r.extend(t.facts.drop_days_before(keep_from_day)?);
            }
            Ok(r)
        })?;
        let n = replaced.len();
        self.bury(replaced);
        Ok(n)
    }

    /// The map of tenants; held only to find or add one.
    fn lock_tenants(&self) -> MutexGuard<'_, HashMap<TenantId, Arc<Mutex<TenantTables>>>> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn all_tables(&self) -> Vec<(TenantId, Arc<Mutex<TenantTables>>)> {
        let mut all: Vec<_> = self.lock_tenants().iter().map(|(id, t)| (*id, t.clone())).collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// Runs `f` on a tenant's tables (loaded on first use), holding that
    /// tenant's lock only.
    fn with_tenant<T>(&self, tenant: TenantId, f: impl FnOnce(&mut TenantTables) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let tables = {
            let mut tenants = self.lock_tenants();
            match tenants.entry(tenant) {
                std::collections::hash_map::Entry::Occupied(e) => e.get().clone(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let dir = self.folder.tenant_dir(tenant);
                    let clean = self.mode == OpenMode::Serve;
                    let mut tables = TenantTables {
                        facts: TableState::load(dir.join(TableKind::Facts.dir_name()), clean)?,
                        events: TableState::load(dir.join(TableKind::Events.dir_name()), clean)?,
                    };
                    if clean {
                        let aside = |kind: TableKind| self.folder.root().join("quarantine").join(tenant.to_string()).join(kind.dir_name());
                        let mut moved = tables.facts.quarantine_unreadable(&aside(TableKind::Facts))?;
                        moved.extend(tables.events.quarantine_unreadable(&aside(TableKind::Events))?);
                        tables.facts.drop_unreadable_rollups()?;
                        self.quarantined.lock().unwrap_or_else(|p| p.into_inner()).extend(moved);
                    }
                    e.insert(Arc::new(Mutex::new(tables))).clone()
                }
            }
        };
        let mut t = lock(&tables);
        f(&mut t)
    }

    /// Rows (facts and raw events) waiting in memory for the next flush.
    pub fn pending_rows(&self) -> usize {
        self.all_tables()
            .iter()
            .map(|(_, t)| {
                let t = lock(t);
                t.facts.pending_rows() + t.events.pending_rows()
            })
            .sum()
    }

    fn bury(&self, files: Vec<PathBuf>) {
        let now = Instant::now();
        self.graveyard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(files.into_iter().map(|f| (now, f)));
    }

    fn empty_graveyard(&self, all: bool) {
        let mut g = self.graveyard.lock().unwrap_or_else(|p| p.into_inner());
        g.retain(|(at, path)| {
            if all || at.elapsed() >= GRAVE_DELAY {
                if let Err(e) = fs::remove_file(path) {
                    tracing::warn!(file = %path.display(), error = %e, "could not remove a replaced file");
                }
                false
            } else {
                true
            }
        });
    }

    /// Deletes replaced files now (shutdown, erasure: the data must go).
    pub fn delete_replaced_files(&self) {
        self.empty_graveyard(true);
    }

    pub fn close(&self) {
        self.delete_replaced_files();
    }
}

impl FactStore for EmbeddedStore {
    fn append_facts(&self, tenant: TenantId, facts: &[Fact<'_>]) -> Result<(), StoreError> {
        self.with_tenant(tenant, |t| {
            t.facts.append(facts);
            Ok(())
        })
    }

    fn append_events(&self, tenant: TenantId, events: Vec<(u64, EnrichedEvent)>) -> Result<(), StoreError> {
        self.with_tenant(tenant, |t| {
            t.events.append(&events);
            Ok(())
        })
    }

    fn begin_checkpoint(&self) -> Checkpoint {
        Checkpoint(Box::new(self.seal()))
    }

    fn finish_checkpoint(&self, checkpoint: &mut Checkpoint, upto_lsn: u64) -> Result<FlushStats, StoreError> {
        match checkpoint.0.downcast_mut::<Sealed>() {
            Some(sealed) => self.write_sealed(sealed, upto_lsn),
            None => Err(StoreError::Manifest {
                path: self.folder.root().display().to_string(),
                reason: "a checkpoint begun by another store".into(),
            }),
        }
    }

    fn flush(&self, upto_lsn: u64) -> Result<FlushStats, StoreError> {
        if self.mode == OpenMode::ReadOnly {
            return Err(StoreError::ReadOnly);
        }
        let mut sealed = self.seal();
        self.write_sealed(&mut sealed, upto_lsn)
    }

    fn pending_rows(&self) -> usize {
        EmbeddedStore::pending_rows(self)
    }

    fn collect_garbage(&self) {
        self.delete_replaced_files();
    }

    fn close(&self) {
        EmbeddedStore::close(self);
    }

    fn quarantined(&self) -> Vec<String> {
        self.quarantined.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn dialect(&self) -> SqlDialect {
        SqlDialect::DataFusion
    }

    fn define_rollup(&self, definition: &'static crate::RollupDefinition) {
        EmbeddedStore::define_rollup(self, definition)
    }

    fn build_rollups(&self, budget: Duration) -> Result<usize, StoreError> {
        EmbeddedStore::build_rollups(self, budget)
    }

    fn rollup_status(&self) -> Option<RollupStatus> {
        self.rollup_definition().map(|d| EmbeddedStore::rollup_status(self, d))
    }

    fn select<'a>(&'a self, tenant: TenantId, scope: Scope, statements: &'a [Sql]) -> BoxFuture<'a, Result<Vec<Table>, StoreError>> {
        Box::pin(self.run_select(tenant, scope, statements))
    }

    fn erase(&self, tenant: TenantId, subject: &Subject) -> Result<Erased, StoreError> {
        if self.mode == OpenMode::ReadOnly {
            return Err(StoreError::ReadOnly);
        }
        let _flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let (erased, replaced) = self.with_tenant(tenant, |t| {
            let owned = match subject {
                Subject::UserId(u) => owned_playbacks(&mut t.facts, u)?,
                _ => Owned::new(),
            };
            let (facts, mut replaced) = match subject {
                Subject::UserId(u) => t.facts.retain(&|b| keep_unless_user(b, u, &owned))?,
                Subject::Device(k) => t.facts.retain(&|b| keep_unless_device(b, *k))?,
                Subject::AccessCode(c) => t.facts.retain(&|b| keep_unless_text(b, "access_code", c))?,
            };
            let (events, more) = match subject {
                Subject::UserId(u) => t.events.retain(&|b| keep_unless_user(b, u, &owned))?,
                Subject::Device(k) => t.events.retain(&|b| keep_unless_device(b, *k))?,
                Subject::AccessCode(c) => t.events.retain(&|b| keep_unless_text(b, "access_code", c))?,
            };
            replaced.extend(more);
            Ok((Erased { facts, events }, replaced))
        })?;
        self.bury(replaced);
        Ok(erased)
    }

    fn apply_retention(&self, tenant: TenantId, keep_from_day: NaiveDate) -> Result<usize, StoreError> {
        self.drop_days(tenant, keep_from_day, true)
    }

    fn apply_raw_retention(&self, tenant: TenantId, keep_from_day: NaiveDate) -> Result<usize, StoreError> {
        self.drop_days(tenant, keep_from_day, false)
    }
}

#[cfg(test)]
mod tests;
