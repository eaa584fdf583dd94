//! Rollups (issue 17): beside each settled file of facts, the rows a
//! [`RollupDefinition`] makes of it. A rollup is made from one immutable
//! file and named in that file's manifest entry, so it is exact for as long
//! as the file lives. Whatever rewrites the file (compaction, erasure,
//! retention) drops the rollup with it, and the new file's facts are read
//! as facts until its own rollup is built. A query of a scope with rollups
//! takes, in one look at the manifest, the rollups of the files that have
//! one (`rollups`) and the facts of the others and of memory (`unrolled`):
//! no fact is read twice or missed, whatever the builder is doing.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::prelude::{col, ParquetReadOptions, SessionContext};

use super::select::{read_schema, session};
use super::*;
use crate::arrow_rows::facts_schema;
use crate::RollupDefinition;

/// Rows per row group of a rollup file: a week's question reads a week's
/// groups of a month's file (the rows are in time order).
const ROLLUP_ROW_GROUP: usize = 64 * 1024;

/// Names a definition: rollups made by another are not read, and are made again.
pub(super) fn version(definition: &RollupDefinition) -> String {
    blake3::hash(definition.sql.as_bytes()).to_hex()[..16].to_string()
}

/// Where the rollup of the file of facts `path` goes: beside it.
fn rollup_path(path: &str, version: &str) -> String {
    format!("{}.rollup-{version}.parquet", path.trim_end_matches(".parquet"))
}

impl TableState {
    /// Files of facts that want a rollup of `version`: settled ones, which
    /// no flush merges again soon (older days, and files already of a
    /// merged size). Today's small files are read as facts until merged.
    pub(super) fn wanting_rollups<'a>(&'a self, version: &'a str) -> impl Iterator<Item = &'a FileEntry> {
        let today = today();
        self.manifest
            .files
            .iter()
            .filter(move |f| f.rollup.as_ref().is_none_or(|r| r.version != version))
            .filter(move |f| f.partition().last < today || f.rows >= COMPACTED_ROWS)
    }

    /// Names `rollup` as the rollup of the file `path`. Answers the files
    /// to delete: the rollup it replaces, or `rollup` itself when the file
    /// went meanwhile (a rewrite: the rollup holds rows that may be gone).
    pub(super) fn attach_rollup(&mut self, path: &str, rollup: RollupFile) -> Result<Vec<PathBuf>, StoreError> {
        let mut manifest = self.manifest.clone();
        let Some(entry) = manifest.files.iter_mut().find(|f| f.path == path) else {
            return Ok(vec![self.dir.join(&rollup.path)]);
        };
        let old = entry.rollup.replace(rollup);
        self.write_manifest(&manifest)?;
        self.manifest = manifest;
        Ok(old.map(|r| self.dir.join(r.path)).into_iter().collect())
    }

    /// The files of `[from, to)` split in one look: the rollups of `version`
    /// of those that have one, and the files of facts of the others.
    pub(super) fn rolled_and_unrolled(&self, from: Micros, to: Micros, version: &str) -> (Vec<String>, Vec<String>) {
        let (mut rolled, mut unrolled) = (Vec::new(), Vec::new());
        for f in self.entries_between(from, to) {
            match &f.rollup {
                Some(r) if r.version == version => rolled.push(self.path_text(&r.path)),
                _ => unrolled.push(self.path_text(&f.path)),
            }
        }
        (rolled, unrolled)
    }

    /// Drops rollups that cannot be read (they are made again), deleting
    /// them; how many went.
    pub(super) fn drop_unreadable_rollups(&mut self) -> Result<usize, StoreError> {
        let mut manifest = self.manifest.clone();
        let mut dropped = 0;
        for f in manifest.files.iter_mut() {
            let Some(r) = &f.rollup else { continue };
            let path = self.dir.join(&r.path);
            if let Err(why) = super::quarantine::readable(&path, r.rows) {
                tracing::warn!(file = %path.display(), reason = %why, "an unreadable rollup was dropped; it is made again");
                let _ = fs::remove_file(&path);
                f.rollup = None;
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.write_manifest(&manifest)?;
            self.manifest = manifest;
        }
        Ok(dropped)
    }
}

/// How far the rollups of the facts are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RollupStatus {
    /// Files of facts with a current rollup.
    pub rolled: usize,
    /// Settled files of facts still waiting for one.
    pub waiting: usize,
}

impl EmbeddedStore {
    /// Keeps `definition` beside each settled file of facts from now on
    /// ([`EmbeddedStore::build_rollups`] makes them).
    pub fn define_rollup(&self, definition: &'static RollupDefinition) {
        *self.rollup.lock().unwrap_or_else(|p| p.into_inner()) = Some(definition);
    }

    pub(super) fn rollup_definition(&self) -> Option<&'static RollupDefinition> {
        *self.rollup.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes missing rollups, oldest files first, until `budget` is spent
    /// (a rollup begun is finished); answers how many were made. Runs off
    /// every lock but a tenant's, briefly, to name each rollup made.
    pub fn build_rollups(&self, budget: Duration) -> Result<usize, StoreError> {
        let Some(definition) = self.rollup_definition() else { return Ok(0) };
        if self.mode == OpenMode::ReadOnly {
            return Ok(0);
        }
        let version = version(definition);
        let began = Instant::now();
        // Made when a file first wants a rollup: an idle round (most) makes none.
        let mut runtime = None;
        let mut made = 0;
        for (_, tables) in self.all_tables() {
            let (dir, wanting): (PathBuf, Vec<FileEntry>) = {
                let t = lock(&tables);
                (t.facts.dir.clone(), t.facts.wanting_rollups(&version).cloned().collect())
            };
            for entry in wanting {
                if began.elapsed() >= budget {
                    return Ok(made);
                }
                let rel = rollup_path(&entry.path, &version);
                let runtime = match &mut runtime {
                    Some(r) => r,
                    None => runtime.insert(tokio::runtime::Builder::new_current_thread().build().map_err(io_err(self.folder.root()))?),
                };
                let rows = match runtime.block_on(self.make_rollup(&dir.join(&entry.path), &dir.join(&rel), definition)) {
                    Ok(rows) => rows,
                    // Replaced meanwhile (and deleted: erasure deletes at once); its successor gets one.
                    Err(_) if !dir.join(&entry.path).exists() => continue,
                    Err(e) => {
                        let _ = fs::remove_file(dir.join(&rel));
                        return Err(e);
                    }
                };
                let rollup = RollupFile {
                    path: rel,
                    version: version.clone(),
                    rows,
                };
                let gone = lock(&tables).facts.attach_rollup(&entry.path, rollup)?;
                self.bury(gone);
                made += 1;
            }
        }
        Ok(made)
    }

    /// Runs the definition over one file of facts and writes its rows,
    /// in time order, as the file `to`; answers how many.
    async fn make_rollup(&self, facts: &Path, to: &Path, definition: &RollupDefinition) -> Result<u64, StoreError> {
        let ctx = session(&self.runtime);
        let schema = read_schema(&facts_schema());
        let rows = ctx
            .read_parquet(facts.display().to_string(), ParquetReadOptions::default().schema(&schema))
            .await?;
        ctx.register_table("facts", rows.into_view())?;
        let made = ctx.sql(&definition.sql).await?.sort(vec![col("ts").sort(true, false)])?;
        let schema: SchemaRef = Arc::new(made.schema().as_arrow().clone());
        let batches = made.collect().await?;
        let file = File::create(to).map_err(io_err(to))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(ROLLUP_ROW_GROUP))
            .build();
        let mut writer = ArrowWriter::try_new(file, schema, Some(props))?;
        for batch in &batches {
            writer.write(batch)?;
        }
        writer.into_inner()?.sync_all().map_err(io_err(to))?;
        if let Some(parent) = to.parent() {
            fsync_dir(parent)?;
        }
        Ok(batches.iter().map(|b| b.num_rows() as u64).sum())
    }

    /// How far the rollups of `definition` are, over every tenant.
    pub fn rollup_status(&self, definition: &RollupDefinition) -> RollupStatus {
        let version = version(definition);
        let mut status = RollupStatus::default();
        for (_, tables) in self.all_tables() {
            let t = lock(&tables);
            status.rolled += t
                .facts
                .manifest
                .files
                .iter()
                .filter(|f| f.rollup.as_ref().is_some_and(|r| r.version == version))
                .count();
            status.waiting += t.facts.wanting_rollups(&version).count();
        }
        status
    }

    /// The columns of `definition`'s rows: what it makes of facts (planned
    /// once a definition), all nullable, as the files are read.
    async fn rollup_schema(&self, definition: &RollupDefinition, version: &str, facts: SchemaRef) -> Result<SchemaRef, StoreError> {
        if let Some(known) = self.rollup_schemas.lock().unwrap_or_else(|p| p.into_inner()).get(version) {
            return Ok(known.clone());
        }
        let planning = session(&self.runtime);
        planning.register_batch("facts", RecordBatch::new_empty(facts))?;
        let made = planning.sql(&definition.sql).await?;
        let fields: Vec<Field> = made.schema().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        self.rollup_schemas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(version.to_string(), schema.clone());
        Ok(schema)
    }

    /// Registers a scope's facts as `definition` keeps them: `rollups` (the
    /// rollups of the files that have one) and `unrolled` (the other files'
    /// facts and those in memory), from one look at the manifest.
    pub(super) async fn register_rollups(&self, ctx: &SessionContext, tenant: TenantId, scope: Scope, definition: &RollupDefinition) -> Result<(), StoreError> {
        let version = version(definition);
        let facts = read_schema(&facts_schema());
        let ((rolled, unrolled), mem) = self.with_tenant(tenant, |t| {
            let split = t.facts.rolled_and_unrolled(scope.from, scope.to, &version);
            Ok((split, super::select::memory_between(&t.facts, scope, &facts)?))
        })?;
        super::select::register_files(ctx, "unrolled", unrolled, mem, &facts).await?;
        let schema = self.rollup_schema(definition, &version, facts).await?;
        let rows = match rolled.is_empty() {
            true => ctx.read_batch(RecordBatch::new_empty(schema))?,
            false => ctx.read_parquet(rolled, ParquetReadOptions::default().schema(&schema)).await?,
        };
        ctx.register_table("rollups", rows.into_view())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use streamtally_model::{Fact, FactKind};

    use super::*;
    use crate::{Cell, FactStore, Sql};

    /// Facts per hour and device: a definition of the store's own, not the query model's.
    fn per_hour() -> &'static RollupDefinition {
        static D: std::sync::OnceLock<RollupDefinition> = std::sync::OnceLock::new();
        D.get_or_init(|| RollupDefinition {
            sql: "SELECT date_trunc('hour', ts) AS ts, device_key, COUNT(*) AS n FROM facts GROUP BY date_trunc('hour', ts), device_key".into(),
        })
    }

    fn facts(day: &str, devices: u64, lsn: u64) -> Vec<Fact<'static>> {
        (0..devices * 3)
            .map(|i| super::super::tests::fact(FactKind::Start, &format!("{day}T{:02}:10:00Z", i % 24), i % devices, "c", lsn + i))
            .collect()
    }

    /// Facts counted through the rollups, rollup rows, and unrolled facts.
    fn counted(store: &EmbeddedStore, tenant: TenantId) -> Vec<Cell> {
        let scope = Scope {
            rollups: Some(per_hour()),
            ..Scope::facts(
                streamtally_model::parse_ts("2026-03-01T00:00:00Z").unwrap(),
                streamtally_model::parse_ts("2026-04-01T00:00:00Z").unwrap(),
            )
        };
        let sql = Sql {
            text: "SELECT (SELECT SUM(n) FROM (SELECT n FROM rollups UNION ALL SELECT COUNT(*) AS n FROM unrolled)) AS facts, \
                   (SELECT COUNT(*) FROM rollups) AS rolled, (SELECT COUNT(*) FROM unrolled) AS unrolled"
                .into(),
            params: vec![],
            columns: ["facts", "rolled", "unrolled"].map(String::from).to_vec(),
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(store.run_select(tenant, scope, &[sql])).unwrap().pop().unwrap().rows.pop().unwrap()
    }

    fn rollup_files(root: &Path) -> usize {
        walk(root).iter().filter(|p| p.to_string_lossy().contains(".rollup-")).count()
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            match e.path().is_dir() {
                true => out.extend(walk(&e.path())),
                false => out.push(e.path()),
            }
        }
        out
    }

    #[test]
    fn settled_files_get_a_rollup_that_is_read_instead_of_their_facts() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
        let tenant = store.meta().create_tenant("a").unwrap().id;
        store.append_facts(tenant, &facts("2026-03-02", 4, 1)).unwrap();
        store.flush(100).unwrap();
        // Without a definition, nothing is made and every fact is unrolled.
        assert_eq!(store.build_rollups(Duration::from_secs(60)).unwrap(), 0);
        assert_eq!(counted(&store, tenant), [Cell::Int(12), Cell::Int(0), Cell::Int(12)]);
        store.define_rollup(per_hour());
        assert_eq!(store.rollup_status(per_hour()), RollupStatus { rolled: 0, waiting: 1 });
        assert_eq!(store.build_rollups(Duration::from_secs(60)).unwrap(), 1);
        assert_eq!(store.rollup_status(per_hour()), RollupStatus { rolled: 1, waiting: 0 });
        // 12 facts in 12 hours: 12 rows; the memory's 6 facts are read as facts.
        store.append_facts(tenant, &facts("2026-03-03", 2, 101)).unwrap();
        assert_eq!(counted(&store, tenant), [Cell::Int(18), Cell::Int(12), Cell::Int(6)]);
        // The rollup is the file's: it stays across a reopening (no orphan)…
        store.flush(200).unwrap();
        drop(store);
        let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
        store.define_rollup(per_hour());
        assert_eq!(rollup_files(dir.path()), 1);
        assert_eq!(store.build_rollups(Duration::from_secs(60)).unwrap(), 1);
        assert_eq!(counted(&store, tenant), [Cell::Int(18), Cell::Int(18), Cell::Int(0)]);
        // …and goes with it.
        store.apply_retention(tenant, chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()).unwrap();
        store.delete_replaced_files();
        assert_eq!(rollup_files(dir.path()), 0);
        assert_eq!(counted(&store, tenant), [Cell::Int(0), Cell::Int(0), Cell::Int(0)]);
    }

    #[test]
    fn a_rollup_of_another_definition_is_not_read_and_is_made_again() {
        static OTHER: std::sync::OnceLock<RollupDefinition> = std::sync::OnceLock::new();
        let other = OTHER.get_or_init(|| RollupDefinition {
            sql: format!("{} HAVING COUNT(*) > 0", per_hour().sql),
        });
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
        let tenant = store.meta().create_tenant("a").unwrap().id;
        store.append_facts(tenant, &facts("2026-03-02", 4, 1)).unwrap();
        store.flush(100).unwrap();
        store.define_rollup(other);
        assert_eq!(store.build_rollups(Duration::from_secs(60)).unwrap(), 1);
        assert_eq!(counted(&store, tenant), [Cell::Int(12), Cell::Int(0), Cell::Int(12)]);
        store.define_rollup(per_hour());
        assert_eq!(store.build_rollups(Duration::from_secs(60)).unwrap(), 1);
        store.delete_replaced_files();
        assert_eq!(rollup_files(dir.path()), 1, "the other definition's rollup went");
        assert_eq!(counted(&store, tenant), [Cell::Int(12), Cell::Int(12), Cell::Int(0)]);
    }

    #[test]
    fn an_unreadable_rollup_is_dropped_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
        let tenant = store.meta().create_tenant("a").unwrap().id;
        store.append_facts(tenant, &facts("2026-03-02", 4, 1)).unwrap();
        store.flush(100).unwrap();
        store.define_rollup(per_hour());
        assert_eq!(store.build_rollups(Duration::from_secs(60)).unwrap(), 1);
        drop(store);
        let rollup = walk(dir.path()).into_iter().find(|p| p.to_string_lossy().contains(".rollup-")).unwrap();
        fs::write(&rollup, b"not parquet").unwrap();
        let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
        assert_eq!(counted(&store, tenant), [Cell::Int(12), Cell::Int(0), Cell::Int(12)]);
        store.define_rollup(per_hour());
        assert_eq!(store.build_rollups(Duration::from_secs(60)).unwrap(), 1);
        assert_eq!(counted(&store, tenant), [Cell::Int(12), Cell::Int(12), Cell::Int(0)]);
    }
}
