//! The data folder as an import's sink: lines parsed and enriched in this
//! process, their requests handed to the pipeline's WAL, each file's position
//! kept in the folder's import ledger.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use streamtally_enrich::{Enricher, LogBatch, LogContext, SegmentDurations};
use streamtally_parse::log::{LogFormat, LogParser};
use streamtally_pipeline::{open_serving, Pipeline, PipelineConfig, TenantContext, Ticket};
use streamtally_source::{Chunk, Pending, Sink, SourceError, Tally};

use super::ImportArgs;

/// Lines are read, enriched and written to the WAL in chunks of about this
/// many bytes (a chunk is split over the cores; smaller ones spent a fifth of
/// an import on starting threads and per-chunk tables).
pub(super) const CHUNK: usize = 4 * 1024 * 1024;
/// Facts held in memory before an import checkpoints (a server: 200 000).
const IMPORT_CHECKPOINT_ROWS: usize = 1_000_000;
/// Chunks read ahead of counting (a server: 64 small records).
const IMPORT_APPLY_QUEUE: usize = 4;

pub(super) struct LocalSink {
    pub pipeline: Arc<Pipeline>,
    enricher: Box<Enricher>,
    pub tenant: Arc<TenantContext>,
    bitrates: HashMap<String, f64>,
    playlists: Option<SegmentDurations>,
    format: Option<LogFormat>,
    zone: Option<String>,
    pop: Option<String>,
    /// The property of every line (spec §1).
    pub property: Option<String>,
    /// Only this shard's lines (`--shard`).
    shard: Option<streamtally_enrich::Shard>,
}

/// One file's reading state: its parser and the number of its next line.
pub(super) struct LocalReader {
    name: String,
    pub parser: LogParser,
    line_no: usize,
}

/// A chunk's WAL record on its way to disk.
struct Durable(Ticket);

impl Pending for Durable {
    fn wait(self: Box<Self>) -> Result<(), SourceError> {
        self.0.wait().map(|_| ()).map_err(|e| SourceError::Sink(e.to_string()))
    }
}

fn refused(e: impl std::fmt::Display) -> SourceError {
    SourceError::Sink(e.to_string())
}

impl LocalSink {
    /// The ledger place of `file_key` (of this import's shard) at `end`,
    /// which the WAL record of a chunk carries.
    pub(super) fn position(&self, file_key: &str, end: u64) -> streamtally_pipeline::ImportPosition {
        streamtally_pipeline::ImportPosition {
            file_key: streamtally_enrich::ledger_key(file_key, self.shard.as_ref()),
            end,
        }
    }

    pub fn open(args: &ImportArgs, format: Option<LogFormat>) -> anyhow::Result<LocalSink> {
        // A bulk import fills memory fast: bigger checkpoints write fewer,
        // larger files (less merging later); the WAL holds everything meanwhile.
        let config = PipelineConfig {
            checkpoint_rows: IMPORT_CHECKPOINT_ROWS,
            // A few chunks ahead keep counting busy; more only hold memory.
            apply_queue: IMPORT_APPLY_QUEUE,
            ..PipelineConfig::default()
        };
        args.data.folder_only("import")?;
        let pipeline = match open_serving(&args.data.data, config) {
            Ok(p) => p,
            Err(e @ streamtally_pipeline::PipelineError::Store(streamtally_store::StoreError::Locked { .. })) => {
                anyhow::bail!("{e}\n(a server runs on this folder: import into it with --server http://HOST:PORT --key INGEST_KEY)")
            }
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", args.data.data.display())),
        };
        let meta = pipeline.meta().clone();
        let t = meta.tenant_by_name(&args.tenant)?;
        let tenant = pipeline.tenants().get(t.id).context("the tenant's settings cannot be read")?;
        let bitrates = meta.contents(t.id)?.into_iter().filter_map(|c| c.bitrate.map(|b| (c.content_id, b))).collect();
        let playlists = match &args.media_root {
            Some(root) => {
                let d = SegmentDurations::from_root(root).context("--media-root")?;
                eprintln!(
                    "import: {} segment durations from {} playlists under {}",
                    d.segments(),
                    d.playlists(),
                    root.display()
                );
                Some(d)
            }
            None => None,
        };
        Ok(LocalSink {
            pipeline: Arc::new(pipeline),
            enricher: Box::new(crate::commands::serve::enricher(&args.enrich)?),
            tenant,
            bitrates,
            playlists,
            format,
            zone: args.zone.clone(),
            pop: args.pop.clone(),
            property: streamtally_store::checked_property(args.property.as_deref())?.map(str::to_string),
            shard: args.shard,
        })
    }

    /// Reads and enriches the lines of a chunk, counting them into `tally`;
    /// the requests (and where each one's line ends) are the caller's to send.
    pub fn read(&self, reader: &mut LocalReader, chunk: &[u8], tally: &mut Tally) -> LogBatch {
        let bitrate_of = |c: &str| self.bitrates.get(c).copied();
        let tenant = &self.tenant;
        let mut ctx = LogContext::new(&tenant.secret, &tenant.settings, &bitrate_of);
        ctx.segment_length.playlists = self.playlists.as_ref();
        ctx.accept = ctx.accept.not_before(self.pipeline.tenants().oldest_countable(tenant.id), &tenant.settings);
        ctx.shard = self.shard;
        let mut batch = self.enricher.read_log_lines(&mut reader.parser, chunk, reader.line_no, &ctx);
        reader.line_no += batch.lines;
        tally.lines += batch.lines as u64;
        tally.skipped += batch.skipped as u64;
        tally.rejected += batch.rejected as u64;
        tally.repaired += batch.repaired as u64;
        tally.parsed += batch.requests.len() as u64;
        tally.reject_examples(&reader.name, batch.first_rejects.drain(..));
        batch.fill_zone_pop(self.zone.as_deref(), self.pop.as_deref());
        for (why, n) in tenant.exclusions(&batch.requests) {
            *tally.excluded.entry(why.to_string()).or_default() += n;
        }
        batch
    }

    pub fn shutdown(&self) {
        self.pipeline.shutdown();
    }
}

/// The parser for a file: the format named, the one of the file it replaced,
/// or the one its first lines show.
pub(super) fn parser_for(named: Option<&LogFormat>, head: &[u8], before: Option<&LogParser>) -> Result<LogParser, SourceError> {
    let format = match (named, before) {
        (_, Some(p)) => p.format().clone(),
        (Some(f), None) => f.clone(),
        (None, None) => LogFormat::detect(&String::from_utf8_lossy(head)).ok_or_else(|| refused("cannot tell the log format; name it with --format"))?,
    };
    Ok(LogParser::new(format))
}

impl Sink for LocalSink {
    type Reader = LocalReader;

    fn chunk_size(&self) -> usize {
        CHUNK
    }

    fn imported_bytes(&self, key: &str) -> Result<u64, SourceError> {
        let key = streamtally_enrich::ledger_key(key, self.shard.as_ref());
        self.pipeline.meta().imported_bytes(self.tenant.id, &key).map_err(refused)
    }

    fn reader(&self, name: &str, head: &[u8], before: Option<LocalReader>) -> Result<LocalReader, SourceError> {
        Ok(LocalReader {
            name: name.to_string(),
            parser: parser_for(self.format.as_ref(), head, before.as_ref().map(|b| &b.parser))?,
            line_no: 1,
        })
    }

    fn send(&self, reader: &mut LocalReader, chunk: Chunk<'_>, tally: &mut Tally) -> Result<Option<Box<dyn Pending>>, SourceError> {
        let batch = self.read(reader, chunk.bytes, tally);
        if batch.requests.is_empty() {
            return Ok(None);
        }
        let import = chunk
            .origin
            .map(|(key, offset)| self.position(key, offset + chunk.bytes.len() as u64))
            .into_iter()
            .collect();
        let ticket = self
            .pipeline
            .queue_requests_blocking(&self.tenant, batch.requests, self.property.clone(), import)
            .map_err(refused)?;
        Ok(Some(Box::new(Durable(ticket))))
    }

    fn taken(&self, key: &str, upto: u64) -> Result<(), SourceError> {
        // The counting engine moved it already when it counted the chunk's
        // record; this covers chunks without requests.
        let key = streamtally_enrich::ledger_key(key, self.shard.as_ref());
        self.pipeline.meta().set_imported_bytes(self.tenant.id, &key, upto).map_err(refused)
    }
}
