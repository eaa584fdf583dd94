//! One table of one tenant: its manifest of Parquet files, its in-memory
//! tail, and what rewrites them (flush, compaction, erasure, retention).

use super::*;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Manifest {
    /// Every row produced by WAL records at or below this is in `files`.
    pub(super) lsn: u64,
    pub(super) files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FileEntry {
    /// Relative to the table folder.
    pub(super) path: String,
    /// The first day of the rows it may hold…
    pub(super) day: NaiveDate,
    /// …and the last (older manifests: the same day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) last_day: Option<NaiveDate>,
    pub(super) rows: u64,
    /// Its facts pre-aggregated (`rollup.rs`), once built: it lives and goes with the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) rollup: Option<RollupFile>,
}

/// A file of rollup rows made from one file of facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct RollupFile {
    /// Relative to the table folder, beside its file of facts.
    pub(super) path: String,
    /// The definition it was made by ([`super::rollup::Rollup::version`]).
    pub(super) version: String,
    pub(super) rows: u64,
}

impl FileEntry {
    pub(super) fn partition(&self) -> Partition {
        Partition {
            first: self.day,
            last: self.last_day.unwrap_or(self.day),
        }
    }

    /// The file and its rollup, if any: what goes when the entry does.
    pub(super) fn paths(&self, dir: &Path) -> Vec<PathBuf> {
        std::iter::once(&self.path)
            .chain(self.rollup.as_ref().map(|r| &r.path))
            .map(|p| dir.join(p))
            .collect()
    }
}

pub(super) fn lock(tables: &Mutex<TenantTables>) -> MutexGuard<'_, TenantTables> {
    tables.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The rows of `rows` above the WAL position `covered` (a store holds the
/// rest already): borrowed when all are, as nearly always.
pub(crate) fn newer_than<R: Row>(rows: &[R], covered: u64) -> std::borrow::Cow<'_, [R]> {
    if rows.iter().all(|r| r.lsn() > covered) {
        std::borrow::Cow::Borrowed(rows)
    } else {
        std::borrow::Cow::Owned(rows.iter().filter(|r| r.lsn() > covered).cloned().collect())
    }
}

/// Rows a table takes in and keeps as Arrow.
pub(crate) trait Row: Clone {
    fn lsn(&self) -> u64;
    fn batch(rows: &[Self]) -> Result<RecordBatch, StoreError>;
}

impl Row for Fact<'_> {
    fn lsn(&self) -> u64 {
        self.lsn
    }
    fn batch(rows: &[Self]) -> Result<RecordBatch, StoreError> {
        facts_batch(rows)
    }
}

impl Row for (u64, EnrichedEvent) {
    fn lsn(&self) -> u64 {
        self.0
    }
    fn batch(rows: &[Self]) -> Result<RecordBatch, StoreError> {
        events_batch(rows)
    }
}

pub(super) struct TableState {
    pub(super) dir: PathBuf,
    pub(super) manifest: Manifest,
    /// The tail not yet in files, columnar: a batch per append. (Rows as Rust
    /// structs in one growing vector cost an import most of its time in
    /// reallocation and page faults.)
    pub(super) mem: Vec<RecordBatch>,
    /// Sealed for the flush under way: being written, still read by queries.
    pub(super) sealed: Vec<RecordBatch>,
}

/// Files written for one table by a flush, not yet in its manifest.
pub(super) struct Written {
    pub(super) files: Vec<FileEntry>,
    /// How many sealed batches they hold.
    pub(super) batches: usize,
    pub(super) rows: usize,
}

/// The `ts` column (the first of every table) of a batch.
pub(crate) fn ts_column(batch: &RecordBatch) -> Result<&TimestampMicrosecondArray, StoreError> {
    batch
        .column(0)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| datafusion::arrow::error::ArrowError::SchemaError("the first column is not the timestamp".into()).into())
}

/// Rows of `batch` with `from <= ts < to`.
pub(crate) fn between(batch: &RecordBatch, from: Micros, to: Micros) -> Result<RecordBatch, StoreError> {
    let ts = ts_column(batch)?;
    let mask: BooleanArray = ts.values().iter().map(|t| Some(*t >= from && *t < to)).collect();
    Ok(filter_record_batch(batch, &mask)?)
}

pub(super) fn day_of(ts: Micros) -> NaiveDate {
    micros_to_datetime(ts).date_naive()
}

pub(super) fn entry(path: String, part: Partition, rows: usize) -> FileEntry {
    FileEntry {
        path,
        day: part.first,
        last_day: (part.last != part.first).then_some(part.last),
        rows: rows as u64,
        rollup: None,
    }
}

pub(super) fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

pub(super) fn unique_name(lsn: u64) -> String {
    format!("{lsn:020}-{:08x}.parquet", rand::random::<u32>())
}

/// `files` in order, in groups of at least two whose rows together stay
/// within `cap`: a merge holds one group in memory (sorting it by user), so
/// a busy day's small files are merged a million rows at a time, not all at
/// once (16 checkpoints of a beacon load were 3 M rows, 1 GiB at the peak).
pub(super) fn merge_groups(files: Vec<FileEntry>, cap: u64) -> Vec<Vec<FileEntry>> {
    let mut groups = Vec::new();
    let (mut group, mut rows): (Vec<FileEntry>, u64) = (Vec::new(), 0);
    for f in files {
        if !group.is_empty() && rows + f.rows > cap {
            if group.len() >= 2 {
                groups.push(std::mem::take(&mut group));
            }
            group.clear();
            rows = 0;
        }
        rows += f.rows;
        group.push(f);
    }
    if group.len() >= 2 {
        groups.push(group);
    }
    groups
}

impl TableState {
    pub(super) fn load(dir: PathBuf, clean_orphans: bool) -> Result<Self, StoreError> {
        let mpath = dir.join("manifest.json");
        let manifest = match fs::read(&mpath) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Manifest {
                path: mpath.display().to_string(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(io_err(&mpath)(e)),
        };
        let state = TableState {
            dir,
            manifest,
            mem: Vec::new(),
            sealed: Vec::new(),
        };
        if clean_orphans {
            state.remove_orphans()?;
        }
        Ok(state)
    }

    /// Files a crash left behind before their manifest named them.
    pub(super) fn remove_orphans(&self) -> Result<(), StoreError> {
        let live: std::collections::HashSet<&str> = self
            .manifest
            .files
            .iter()
            .flat_map(|f| std::iter::once(f.path.as_str()).chain(f.rollup.as_ref().map(|r| r.path.as_str())))
            .collect();
        let Ok(days) = fs::read_dir(&self.dir) else { return Ok(()) };
        for day in days.flatten().filter(|d| d.path().is_dir()) {
            for f in fs::read_dir(day.path()).map_err(io_err(&day.path()))?.flatten() {
                let rel = format!("{}/{}", day.file_name().to_string_lossy(), f.file_name().to_string_lossy());
                if !live.contains(rel.as_str()) {
                    tracing::info!(file = %f.path().display(), "removing a file no manifest names");
                    fs::remove_file(f.path()).map_err(io_err(&f.path()))?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn write_manifest(&self, manifest: &Manifest) -> Result<(), StoreError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let tmp = self.dir.join("manifest.json.tmp");
        let path = self.dir.join("manifest.json");
        let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| StoreError::Manifest {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        fsync_dir(&self.dir)
    }

    pub(super) fn append<R: Row>(&mut self, rows: &[R]) {
        // Replay after a crash offers rows the files hold already.
        let rows = newer_than(rows, self.manifest.lsn);
        if rows.is_empty() {
            return;
        }
        match R::batch(&rows) {
            Ok(batch) => self.mem.push(batch),
            // Only a schema bug gets here; the WAL still holds the input, and a restart replays it.
            Err(e) => tracing::error!(error = %e, "rows cannot be turned into Arrow; kept out of the store until restart replays them"),
        }
    }

    /// Rows not yet sealed for a flush.
    pub(super) fn pending_rows(&self) -> usize {
        self.mem.iter().map(RecordBatch::num_rows).sum()
    }

    /// Everything in memory, sealed or not.
    pub(super) fn memory(&self) -> impl Iterator<Item = &RecordBatch> {
        self.sealed.iter().chain(&self.mem)
    }

    /// Moves the in-memory tail to `sealed`; returns (cheap copies of) the batches moved.
    pub(super) fn seal(&mut self) -> Vec<RecordBatch> {
        let batches = std::mem::take(&mut self.mem);
        self.sealed.extend(batches.iter().cloned());
        batches
    }

    /// Writes batches as one file per partition (a recent day, or an older
    /// month or year) under `dir` (no lock held: the files are published only
    /// by [`TableState::publish`]).
    pub(super) fn write_days(dir: &Path, batches: &[RecordBatch], upto_lsn: u64) -> Result<Written, StoreError> {
        let today = today();
        let mut per_day: BTreeMap<Partition, Vec<RecordBatch>> = BTreeMap::new();
        for batch in batches {
            let parts: Vec<Partition> = ts_column(batch)?.values().iter().map(|t| Partition::of(day_of(*t), today)).collect();
            let distinct: BTreeSet<Partition> = parts.iter().copied().collect();
            for &part in &distinct {
                let rows = if distinct.len() == 1 {
                    batch.clone()
                } else {
                    filter_record_batch(batch, &BooleanArray::from(parts.iter().map(|p| *p == part).collect::<Vec<bool>>()))?
                };
                per_day.entry(part).or_default().push(rows);
            }
        }
        let mut written = Written {
            files: Vec::new(),
            batches: batches.len(),
            rows: 0,
        };
        for (part, batches) in per_day {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let rel = format!("{}/{}", part.folder(), unique_name(upto_lsn));
            write_parquet(&dir.join(&rel), batches)?;
            fsync_dir(&dir.join(part.folder()))?;
            written.rows += rows;
            written.files.push(entry(rel, part, rows));
        }
        Ok(written)
    }

    /// Names the written files in the manifest (covering `upto_lsn`) and
    /// drops the sealed batches they hold from memory.
    pub(super) fn publish(&mut self, written: Written, upto_lsn: u64) -> Result<(), StoreError> {
        if written.batches == 0 {
            return Ok(());
        }
        let mut manifest = self.manifest.clone();
        manifest.files.extend(written.files);
        manifest.lsn = manifest.lsn.max(upto_lsn);
        self.write_manifest(&manifest)?;
        self.manifest = manifest;
        self.sealed.drain(..written.batches.min(self.sealed.len()));
        Ok(())
    }

    /// The partitions with many small files, and those files: what a
    /// compaction would merge. Only small files are merged, so a busy day is
    /// not rewritten again and again: each row is rewritten about once per
    /// size tier.
    pub(super) fn compaction_plan(&self) -> Vec<(Partition, Vec<FileEntry>)> {
        let mut per_part: BTreeMap<Partition, Vec<FileEntry>> = BTreeMap::new();
        for f in self.manifest.files.iter().filter(|f| f.rows < COMPACTED_ROWS) {
            per_part.entry(f.partition()).or_default().push(f.clone());
        }
        per_part
            .into_iter()
            .filter(|(_, files)| files.len() >= COMPACT_AT_FILES)
            .flat_map(|(part, files)| merge_groups(files, COMPACTED_ROWS).into_iter().map(move |g| (part, g)))
            .collect()
    }

    /// Merges `old` into one new file (no lock held: the files are immutable
    /// and only published by [`TableState::replace`]).
    pub(super) fn merge(dir: &Path, part: Partition, old: &[FileEntry], lsn: u64) -> Result<FileEntry, StoreError> {
        let mut batches = Vec::new();
        for f in old {
            batches.extend(read_parquet(&dir.join(&f.path))?);
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let rel = format!("{}/{}", part.folder(), unique_name(lsn));
        write_parquet(&dir.join(&rel), batches)?;
        Ok(entry(rel, part, rows))
    }

    /// Publishes a merged file in place of the files it holds; returns those.
    pub(super) fn replace(&mut self, old: &[FileEntry], merged: FileEntry) -> Result<Vec<PathBuf>, StoreError> {
        let gone: BTreeSet<&str> = old.iter().map(|f| f.path.as_str()).collect();
        let mut manifest = Manifest {
            lsn: self.manifest.lsn,
            files: self.manifest.files.iter().filter(|f| !gone.contains(f.path.as_str())).cloned().collect(),
        };
        manifest.files.push(merged);
        self.write_manifest(&manifest)?;
        // The files' rollups as they are now (one may have been built during the merge).
        let replaced = self
            .manifest
            .files
            .iter()
            .filter(|f| gone.contains(f.path.as_str()))
            .flat_map(|f| f.paths(&self.dir))
            .collect();
        self.manifest = manifest;
        Ok(replaced)
    }

    /// Rewrites every file and the memory without the rows `keep` rejects.
    pub(super) fn retain(&mut self, keep: &dyn Fn(&RecordBatch) -> Result<BooleanArray, StoreError>) -> Result<(u64, Vec<PathBuf>), StoreError> {
        let filter = |batches: &[RecordBatch]| -> Result<(Vec<RecordBatch>, u64), StoreError> {
            let mut dropped = 0;
            let kept = batches
                .iter()
                .map(|b| {
                    let f = filter_record_batch(b, &keep(b)?)?;
                    dropped += (b.num_rows() - f.num_rows()) as u64;
                    Ok(f)
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok((kept, dropped))
        };
        let (mem, from_mem) = filter(&self.mem)?;
        let (sealed, from_sealed) = filter(&self.sealed)?;
        (self.mem, self.sealed) = (mem, sealed);
        let mut removed = from_mem + from_sealed;
        let mut manifest = self.manifest.clone();
        let mut replaced = Vec::new();
        for entry in manifest.files.iter_mut() {
            let path = self.dir.join(&entry.path);
            let mut kept = Vec::new();
            let mut dropped = 0u64;
            for batch in read_parquet(&path)? {
                let mask = keep(&batch)?;
                let filtered = filter_record_batch(&batch, &mask)?;
                dropped += (batch.num_rows() - filtered.num_rows()) as u64;
                kept.push(filtered);
            }
            if dropped == 0 {
                continue;
            }
            let rel = format!("{}/{}", entry.partition().folder(), unique_name(manifest.lsn));
            let rows = kept.iter().map(RecordBatch::num_rows).sum::<usize>() as u64;
            write_parquet(&self.dir.join(&rel), kept)?;
            replaced.push(path);
            // The rollup holds the removed rows too: it goes, and is built again from the new file.
            replaced.extend(entry.rollup.take().map(|r| self.dir.join(r.path)));
            entry.path = rel;
            entry.rows = rows;
            removed += dropped;
        }
        if !replaced.is_empty() {
            manifest.files.retain(|f| f.rows > 0);
            self.write_manifest(&manifest)?;
            self.manifest = manifest;
        }
        Ok((removed, replaced))
    }

    pub(super) fn drop_days_before(&mut self, day: NaiveDate) -> Result<Vec<PathBuf>, StoreError> {
        let (old, mut keep): (Vec<FileEntry>, Vec<FileEntry>) = self.manifest.files.iter().cloned().partition(|f| f.partition().last < day);
        let from = day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros();
        self.mem = self.mem.iter().map(|b| between(b, from, Micros::MAX)).collect::<Result<_, _>>()?;
        self.sealed = self.sealed.iter().map(|b| between(b, from, Micros::MAX)).collect::<Result<_, _>>()?;
        let mut replaced: Vec<PathBuf> = old.iter().flat_map(|f| f.paths(&self.dir)).collect();
        // A month or year folder that straddles the cut keeps only its later rows.
        for f in keep.iter_mut().filter(|f| f.day < day) {
            let path = self.dir.join(&f.path);
            let kept = read_parquet(&path)?
                .iter()
                .map(|b| between(b, from, Micros::MAX))
                .collect::<Result<Vec<_>, _>>()?;
            if kept.iter().map(RecordBatch::num_rows).sum::<usize>() as u64 == f.rows {
                // Nothing of it is before the cut: the hourly run leaves it be.
                continue;
            }
            let rel = format!("{}/{}", f.partition().folder(), unique_name(self.manifest.lsn));
            let rows = kept.iter().map(RecordBatch::num_rows).sum::<usize>() as u64;
            write_parquet(&self.dir.join(&rel), kept)?;
            f.path = rel;
            f.rows = rows;
            replaced.push(path);
            replaced.extend(f.rollup.take().map(|r| self.dir.join(r.path)));
        }
        keep.retain(|f| f.rows > 0);
        if replaced.is_empty() {
            return Ok(Vec::new());
        }
        let manifest = Manifest {
            lsn: self.manifest.lsn,
            files: keep,
        };
        self.write_manifest(&manifest)?;
        self.manifest = manifest;
        Ok(replaced)
    }

    /// The files that can hold rows of `[from, to)`.
    pub(super) fn files_between(&self, from: Micros, to: Micros) -> Vec<String> {
        self.entries_between(from, to).map(|f| self.path_text(&f.path)).collect()
    }

    /// The manifest's entries whose partitions overlap `[from, to)`.
    pub(super) fn entries_between(&self, from: Micros, to: Micros) -> impl Iterator<Item = &FileEntry> {
        let (first, last) = (day_of(from), day_of(to - 1));
        self.manifest.files.iter().filter(move |f| f.partition().overlaps(first, last))
    }

    /// A path relative to the table folder, as a query engine is given it.
    pub(super) fn path_text(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }
}
