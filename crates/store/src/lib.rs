//! Storage: facts and raw events as Parquet files queried with DataFusion; it
//! opens the folder's metadata (`streamtally-meta`) and hands it out. Every
//! path of a data folder comes from [`DataFolder`].
//!
//! Layout of a data folder:
//! ```text
//! DATA/
//!   FORMAT                      the folder's format version (`format.rs`)
//!   streamtally.lock            held by the process that owns the folder
//!   meta.sqlite                 metadata (`streamtally-meta`)
//!   wal/                        the write-ahead log (owned by the pipeline)
//!   state/                      counting-engine snapshots (owned by the pipeline)
//!   tenants/<id>/<table>/manifest.json
//!   tenants/<id>/<table>/day=YYYY-MM-DD/<lsn>-<n>.parquet   (older days: month=, year=)
//! ```
//! A table's manifest (replaced by atomic rename) lists its live files and the
//! WAL position its files cover; rows at or below it are never appended again,
//! which is what makes replay after a crash count nothing twice. Recent rows live
//! in memory, where queries see them too, until [`EmbeddedStore::flush`].
//! Tenant isolation lives here: every read and write names one tenant and touches
//! only that tenant's folder and rows.

mod arrow_rows;
mod clickhouse;
mod embedded;
mod folder;
pub mod format;
mod partition;
mod statement;

pub use clickhouse::{ClickHouseConfig, ClickHouseStore};
pub use embedded::{EmbeddedStore, Erased, FlushStats, OpenMode, RollupStatus, Sealed, Subject, TableKind};
pub use folder::DataFolder;
pub use statement::{Cell, RollupDefinition, Scope, Sql, SqlDialect, Table, CONTENT_COLUMNS, USER_COLUMNS};
pub use streamtally_meta::{checked_property, is_postgres_url, AbuseBlock, AccessFailures, ApiKey, Content, KeyInfo, Meta, MetaError, Principal, Role, Tenant};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data folder {path} is in use by another streamtally process (a running server?): {hint}")]
    Locked { path: String, hint: String },
    #[error("storage I/O error at {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("query engine: {0}")]
    Engine(#[from] datafusion::error::DataFusionError),
    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("manifest {path} is unreadable: {reason}")]
    Manifest { path: String, reason: String },
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("the store was opened read-only")]
    ReadOnly,
    #[error("ClickHouse: {0}")]
    ClickHouse(String),
    #[error(transparent)]
    ClickHouseClient(#[from] clickhouse::ClientError),
    #[error(transparent)]
    Bind(#[from] clickhouse::BindError),
    #[error(transparent)]
    Answer(#[from] clickhouse::AnswerError),
    #[error("the data folder {path} cannot be opened: {reason}")]
    Format { path: String, reason: String },
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What a checkpoint took from a store's memory, until it is durable: each
/// backend's own (the embedded store's sealed Arrow batches).
pub struct Checkpoint(pub Box<dyn std::any::Any + Send>);

/// The storage interface every backend implements: the embedded store today,
/// ClickHouse when scaling out. The pipeline, its checkpoint thread, the
/// server and the CLI use the store only through it.
///
/// The checkpoint protocol: [`FactStore::begin_checkpoint`] takes what was
/// appended so far (cheap: it stays queryable, appends go on);
/// [`FactStore::finish_checkpoint`] makes it durable and records the WAL
/// position it covers. Checkpoints are finished in the order they were
/// begun; a failed one is finished again with the same [`Checkpoint`].
pub trait FactStore: Send + Sync {
    /// Adds facts produced by the engine; facts at or below the durable WAL
    /// position of their table are ignored (they are stored already).
    fn append_facts(&self, tenant: streamtally_model::TenantId, facts: &[streamtally_model::Fact<'_>]) -> Result<(), StoreError>;
    /// Adds enriched raw events with their WAL positions.
    fn append_events(&self, tenant: streamtally_model::TenantId, events: Vec<(u64, streamtally_model::EnrichedEvent)>) -> Result<(), StoreError>;
    /// Begins a checkpoint of everything appended so far.
    fn begin_checkpoint(&self) -> Checkpoint;
    /// Makes a begun checkpoint durable, recording `upto_lsn` as covered.
    fn finish_checkpoint(&self, checkpoint: &mut Checkpoint, upto_lsn: u64) -> Result<FlushStats, StoreError>;
    /// Makes everything appended so far durable, recording `upto_lsn` as covered.
    fn flush(&self, upto_lsn: u64) -> Result<FlushStats, StoreError> {
        let mut checkpoint = self.begin_checkpoint();
        self.finish_checkpoint(&mut checkpoint, upto_lsn)
    }
    /// Rows appended and not yet in a finished checkpoint.
    fn pending_rows(&self) -> usize;
    /// Removes what rewrites replaced (after queries that may read it ended).
    fn collect_garbage(&self);
    /// Called once, when the pipeline stops.
    fn close(&self);
    /// Files put aside as unreadable when the store opened, each with why.
    fn quarantined(&self) -> Vec<String> {
        Vec::new()
    }
    /// The SQL this backend runs.
    fn dialect(&self) -> SqlDialect;
    /// Keeps `definition` pre-aggregated from now on, where the backend
    /// keeps rollups (the embedded store; others read facts only).
    fn define_rollup(&self, _definition: &'static RollupDefinition) {}
    /// Makes missing rollups for about `budget`; answers how many it made.
    fn build_rollups(&self, _budget: std::time::Duration) -> Result<usize, StoreError> {
        Ok(0)
    }
    /// How far the rollups of the definition kept are (`None`: none kept).
    fn rollup_status(&self) -> Option<RollupStatus> {
        None
    }
    /// Runs statements (in [`FactStore::dialect`]) over one tenant's rows of
    /// `scope`: one table each, in order. The query model writes them.
    fn select<'a>(&'a self, tenant: streamtally_model::TenantId, scope: Scope, statements: &'a [Sql]) -> BoxFuture<'a, Result<Vec<Table>, StoreError>>;
    /// Deletes every fact and raw event of a subject.
    fn erase(&self, tenant: streamtally_model::TenantId, subject: &Subject) -> Result<Erased, StoreError>;
    /// Drops the days before `keep_from_day` (UTC date), returns files removed.
    fn apply_retention(&self, tenant: streamtally_model::TenantId, keep_from_day: chrono::NaiveDate) -> Result<usize, StoreError>;
    /// Drops the raw events' days before `keep_from_day` (the facts stay).
    fn apply_raw_retention(&self, tenant: streamtally_model::TenantId, keep_from_day: chrono::NaiveDate) -> Result<usize, StoreError>;
}
