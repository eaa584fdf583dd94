//! `streamtally import`: access logs from files, folders, globs, gzip files or
//! stdin — into the data folder directly, or with `--server` to a running
//! server's `POST /api/v1/logs`. `--follow` tails a live log through rotation
//! and truncation. Offline imports are idempotent: each file (known by a hash
//! of its first bytes) resumes where the last import of it stopped.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use streamtally_enrich::{Enricher, LogBatch, LogContext, SegmentDurations, REJECT_EXAMPLES};
use streamtally_parse::log::{LogFormat, LogParser};
use streamtally_pipeline::{open_serving, Pipeline, PipelineConfig, TenantContext, Ticket};
use streamtally_unify::{exclusions, EngineSettings};

use crate::{DataArg, EnrichArgs};

mod merge;

/// Lines are read, enriched and written to the WAL in chunks of about this
/// many bytes (a chunk is split over the cores; smaller ones spent a fifth of
/// an import on starting threads and per-chunk tables).
const CHUNK: usize = 4 * 1024 * 1024;
/// Chunks posted to a server (`--server`) stay well under its default body
/// limit of 1 MiB.
const REMOTE_CHUNK: usize = 512 * 1024;
/// The bytes looked at to detect the format and identify the file.
const HEAD: usize = 64 * 1024;
/// Facts held in memory before an import checkpoints (a server: 200 000).
const IMPORT_CHECKPOINT_ROWS: usize = 1_000_000;
/// Chunks handed to the WAL and not yet durable: reading and parsing the next
/// ones goes on meanwhile instead of waiting for each fsync.
const IN_FLIGHT: usize = 4;

/// A chunk on its way into the WAL (none when it held no request), and where
/// the file is read up to once it is durable.
type Pending = (Option<Ticket>, u64);

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Files, folders (read recursively), globs, or `-` for stdin; `.gz` files are decompressed.
    #[arg(required = true)]
    pub paths: Vec<String>,
    #[arg(long)]
    pub tenant: String,
    #[command(flatten)]
    pub data: DataArg,
    /// combined, common, nginx, w3c (cloudfront, iis, wowza), json, fastly, bunny, cloudflare; detected when absent.
    #[arg(long)]
    pub format: Option<String>,
    /// With `--format nginx`: your `log_format` string. With `--format json`: `field=json_key,…`.
    #[arg(long)]
    pub log_format: Option<String>,
    /// Zone (distribution) for lines that name none.
    #[arg(long)]
    pub zone: Option<String>,
    /// POP for lines that name none.
    #[arg(long)]
    pub pop: Option<String>,
    /// The folder the server serves URI paths from (nginx's `root`): segment
    /// durations are read from the HLS playlists under it (`#EXTINF`).
    #[arg(long, conflicts_with = "server")]
    pub media_root: Option<PathBuf>,
    /// Keep reading a live log as it grows (survives rotation and truncation).
    #[arg(long)]
    pub follow: bool,
    /// Send to a running server (`http://host:port`) instead of the data folder.
    #[arg(long, requires = "key")]
    pub server: Option<String>,
    /// The tenant's ingest key, with `--server`.
    #[arg(long, env = "STREAMTALLY_INGEST_KEY")]
    pub key: Option<String>,
    #[command(flatten)]
    pub enrich: EnrichArgs,
}

/// What an import did, for its summary.
#[derive(Default)]
struct Tally {
    bytes: u64,
    lines: u64,
    parsed: u64,
    skipped: u64,
    rejected: u64,
    /// Lines cut off in their last quoted value, taken as read.
    repaired: u64,
    first_rejects: Vec<String>,
    excluded: BTreeMap<String, u64>,
    files: u64,
    files_done_before: u64,
    file_errors: Vec<String>,
}

impl Tally {
    fn reject_examples(&mut self, file: &str, examples: impl IntoIterator<Item = (usize, String, String)>) {
        for (line, why, text) in examples {
            if self.first_rejects.len() < REJECT_EXAMPLES {
                self.first_rejects.push(format!("{file}:{line}: {why}: {text}"));
            }
        }
    }
}

/// Where parsed lines go.
enum Sink {
    Local {
        pipeline: Arc<Pipeline>,
        enricher: Box<Enricher>,
        tenant: Arc<TenantContext>,
        bitrates: HashMap<String, f64>,
        playlists: Option<SegmentDurations>,
    },
    Remote {
        agent: ureq::Agent,
        url: String,
        key: String,
    },
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let format = match &args.format {
        Some(name) => Some(LogFormat::named(name, args.log_format.as_deref())?),
        None => None,
    };
    let sink = match &args.server {
        Some(server) => {
            let mut url = format!("{}/api/v1/logs?tenant={}", server.trim_end_matches('/'), args.tenant);
            for (k, v) in [
                ("format", &args.format),
                ("log_format", &args.log_format),
                ("zone", &args.zone),
                ("pop", &args.pop),
            ] {
                if let Some(v) = v {
                    url.push_str(&format!("&{k}={}", url_encode(v)));
                }
            }
            Sink::Remote {
                agent: ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(120)))
                    .build()
                    .into(),
                url,
                key: args.key.clone().unwrap_or_default(),
            }
        }
        None => {
            // A bulk import fills memory fast: bigger checkpoints write fewer,
            // larger files (less merging later); the WAL holds everything meanwhile.
            let config = PipelineConfig {
                checkpoint_rows: IMPORT_CHECKPOINT_ROWS,
                ..PipelineConfig::default()
            };
            let pipeline = match open_serving(&args.data.data, config) {
                Ok(p) => p,
                Err(e @ streamtally_pipeline::PipelineError::Store(streamtally_store::StoreError::Locked { .. })) => {
                    bail!("{e}\n(a server runs on this folder: import into it with --server http://HOST:PORT --key INGEST_KEY)")
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
            Sink::Local {
                pipeline: Arc::new(pipeline),
                enricher: Box::new(crate::commands::serve::enricher(&args.enrich)?),
                tenant,
                bitrates,
                playlists,
            }
        }
    };
    let inputs = expand(&args.paths)?;
    anyhow::ensure!(!(args.follow && inputs.len() != 1), "--follow reads exactly one file");
    let total: u64 = inputs
        .iter()
        .filter_map(|i| i.as_ref().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len()))
        .sum();
    let progress = Progress::new(total);
    let started = Instant::now();
    let mut tally = Tally::default();
    // Several files into the data folder are merged by time (spec §8a).
    let files: Option<Vec<PathBuf>> = inputs.iter().cloned().collect();
    let merged = match (&sink, files) {
        (Sink::Local { .. }, Some(files)) if files.len() > 1 && !args.follow => {
            merge::import_merged(&files, format.clone(), &args, &sink, &progress, &mut tally)?;
            true
        }
        _ => false,
    };
    for input in inputs.iter().filter(|_| !merged) {
        tally.files += 1;
        let name = input.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "stdin".into());
        let mut format = format.clone();
        let result = loop {
            match import_one(input.as_deref(), &name, format.clone(), &args, &sink, &progress, &mut tally) {
                // A followed log was rotated or truncated: read the new one from its start.
                Ok(Some(same_format)) => format = Some(same_format),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if let Err(e) = result {
            // A broken file (truncated gzip, unreadable) stops that file only.
            tally.file_errors.push(format!("{name}: {e:#}"));
        }
    }
    progress.finish();
    if let Sink::Local { pipeline, .. } = sink {
        pipeline.shutdown();
    }
    print_summary(&tally, started.elapsed());
    if tally.parsed == 0 && tally.files_done_before == 0 && (tally.rejected > 0 || !tally.file_errors.is_empty()) {
        bail!("nothing could be imported");
    }
    Ok(())
}

/// Paths to read: `None` is stdin. Folders are walked, globs expanded, in order.
fn expand(paths: &[String]) -> anyhow::Result<Vec<Option<PathBuf>>> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            out.push(None);
        } else if p.contains(['*', '?', '[']) {
            let mut matched: Vec<PathBuf> = glob::glob(p).with_context(|| format!("bad glob `{p}`"))?.filter_map(Result::ok).collect();
            matched.sort();
            anyhow::ensure!(!matched.is_empty(), "`{p}` matches no file");
            out.extend(matched.into_iter().map(Some));
        } else if Path::new(p).is_dir() {
            let mut files = Vec::new();
            walk(Path::new(p), &mut files)?;
            files.sort();
            out.extend(files.into_iter().map(Some));
        } else {
            anyhow::ensure!(Path::new(p).exists(), "{p}: no such file");
            out.push(Some(PathBuf::from(p)));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Counts the (compressed) bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn open_input(path: Option<&Path>, counter: Arc<AtomicU64>) -> anyhow::Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = match path {
        Some(p) => Box::new(File::open(p).with_context(|| format!("cannot open {}", p.display()))?),
        None => Box::new(std::io::stdin()),
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, Counting { inner: raw, read: counter });
    let gz = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(256 * 1024, flate2::bufread::MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    })
}

/// Reads whole lines into `buf` until it holds at least `size` bytes.
/// Returns false at the end of the input.
fn next_chunk(reader: &mut dyn BufRead, buf: &mut Vec<u8>, size: usize) -> std::io::Result<bool> {
    while buf.len() < size {
        let n = reader.read_until(b'\n', buf)?;
        if n == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// An input opened for import: read past what an earlier import took, with
/// the key that identifies it, where it stands, and its parser.
pub(crate) struct Opened {
    reader: Box<dyn BufRead>,
    /// Its first bytes, as they were when it was opened.
    head: Vec<u8>,
    file_key: String,
    position: u64,
    parser: LogParser,
    /// The tenant whose import ledger holds the file's position (local imports of files).
    tenant_id: Option<streamtally_model::TenantId>,
}

fn open_for_import(
    path: Option<&Path>,
    format: Option<LogFormat>,
    args: &ImportArgs,
    sink: &Sink,
    progress: &Progress,
    tally: &mut Tally,
) -> anyhow::Result<Opened> {
    let mut reader = open_input(path, progress.counter())?;
    // The first line identifies the file (log lines carry times and addresses,
    // and a growing log keeps its first line); a re-import resumes after what was taken.
    let head = reader.fill_buf()?.iter().take(HEAD).copied().collect::<Vec<u8>>();
    let first_line = head.iter().position(|b| *b == b'\n').map(|i| &head[..=i]).unwrap_or(&head);
    let file_key = blake3::hash(first_line).to_hex().to_string();
    let (done_before, tenant_id) = match sink {
        Sink::Local { pipeline, tenant, .. } if path.is_some() => (pipeline.meta().imported_bytes(tenant.id, &file_key)?, Some(tenant.id)),
        Sink::Remote { agent, url, key } if path.is_some() => (imported_on_server(agent, url, key, &file_key)?, None),
        _ => (0, None),
    };
    let mut position = 0u64;
    if done_before > 0 {
        let skipped = std::io::copy(&mut (&mut reader).take(done_before), &mut std::io::sink())?;
        position = skipped;
        if !args.follow {
            tally.files_done_before += 1;
        }
    }
    let format = match format {
        Some(f) => f,
        None => {
            let sample = String::from_utf8_lossy(&head);
            LogFormat::detect(&sample).with_context(|| "cannot tell the log format; name it with --format")?
        }
    };
    Ok(Opened {
        reader,
        head,
        file_key,
        position,
        parser: LogParser::new(format),
        tenant_id,
    })
}

fn import_one(
    path: Option<&Path>,
    name: &str,
    format: Option<LogFormat>,
    args: &ImportArgs,
    sink: &Sink,
    progress: &Progress,
    tally: &mut Tally,
) -> anyhow::Result<Option<LogFormat>> {
    let Opened {
        mut reader,
        head,
        file_key,
        mut position,
        mut parser,
        tenant_id,
    } = open_for_import(path, format, args, sink, progress, tally)?;
    // A file (not standard input) tells a server which file and where each chunk is, so none is taken twice.
    let origin = path.map(|_| file_key.as_str());
    let mut line_no = 1usize;
    let chunk = match sink {
        Sink::Local { .. } => CHUNK,
        Sink::Remote { .. } => REMOTE_CHUNK,
    };
    let mut buf = Vec::with_capacity(chunk + 64 * 1024);
    let settings = match sink {
        Sink::Local { tenant, .. } => EngineSettings::from(&tenant.settings),
        Sink::Remote { .. } => EngineSettings::default(),
    };
    let mut pending: std::collections::VecDeque<Pending> = std::collections::VecDeque::new();
    // Waits for the oldest chunks until at most `keep` are in flight; records how far the file is durable.
    let settle = |pending: &mut std::collections::VecDeque<Pending>, keep: usize| -> anyhow::Result<()> {
        while pending.len() > keep {
            let Some((ticket, upto)) = pending.pop_front() else { break };
            if let Some(ticket) = ticket {
                ticket.wait()?;
            }
            if let Sink::Local { pipeline, .. } = sink {
                if let Some(t) = tenant_id {
                    pipeline.meta().set_imported_bytes(t, &file_key, upto)?;
                }
            }
        }
        Ok(())
    };
    loop {
        buf.clear();
        let (more, damage) = match next_chunk(reader.as_mut(), &mut buf, chunk) {
            Ok(more) => (more, None),
            Err(e) => {
                // The whole lines before the damage still count; the cut one does not.
                let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                buf.truncate(whole);
                (false, Some(e))
            }
        };
        // A last line without its newline may still be growing: a follow waits for it.
        if damage.is_none() && !more && args.follow && !buf.ends_with(b"\n") {
            if let Some(cut) = buf.iter().rposition(|b| *b == b'\n') {
                buf.truncate(cut + 1);
            } else {
                buf.clear();
            }
        }
        let sent = send(
            &buf,
            origin.map(|f| (f, position)),
            &mut parser,
            &mut line_no,
            name,
            args,
            sink,
            &settings,
            tally,
        )?;
        position += buf.len() as u64;
        tally.bytes += buf.len() as u64;
        pending.push_back((sent, position));
        if let Some(e) = damage {
            settle(&mut pending, 0)?;
            return Err(anyhow::anyhow!("{e} after {position} bytes; the lines before were imported"));
        }
        settle(&mut pending, if more { IN_FLIGHT } else { 0 })?;
        progress.lines(tally.lines);
        if !more {
            if !args.follow {
                return Ok(None);
            }
            let path = path.context("--follow needs a file")?;
            // Rotation or truncation: start over on the new file.
            std::thread::sleep(Duration::from_millis(500));
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if len < position || replaced(path, &head) {
                return Ok(Some(parser.format().clone()));
            }
            reader = open_input(Some(path), progress.counter())?;
            std::io::copy(&mut (&mut reader).take(position), &mut std::io::sink())?;
        }
    }
}

/// Whether the file at `path` no longer starts as the one being followed.
fn replaced(path: &Path, head: &[u8]) -> bool {
    let mut now = vec![0u8; head.len()];
    match File::open(path).and_then(|mut f| f.read_exact(&mut now)) {
        Ok(()) => now != head,
        Err(_) => true,
    }
}

/// Reads and enriches the lines of a chunk for a local import, counting them
/// into `tally`; the requests (and where each one's line ends) are the caller's to send.
#[allow(clippy::too_many_arguments)]
fn read_locally(
    chunk: &[u8],
    parser: &mut LogParser,
    line_no: &mut usize,
    name: &str,
    args: &ImportArgs,
    sink: &Sink,
    settings: &EngineSettings,
    tally: &mut Tally,
) -> LogBatch {
    let Sink::Local {
        pipeline,
        enricher,
        tenant,
        bitrates,
        playlists,
    } = sink
    else {
        return LogBatch::default();
    };
    let bitrate_of = |c: &str| bitrates.get(c).copied();
    let mut ctx = LogContext::new(&tenant.secret, &tenant.settings, &bitrate_of);
    ctx.segment_length.playlists = playlists.as_ref();
    ctx.accept = ctx.accept.not_before(pipeline.tenants().oldest_countable(tenant.id), &tenant.settings);
    let mut batch = enricher.read_log_lines(parser, chunk, *line_no, &ctx);
    *line_no += batch.lines;
    tally.lines += batch.lines as u64;
    tally.skipped += batch.skipped as u64;
    tally.rejected += batch.rejected as u64;
    tally.repaired += batch.repaired as u64;
    tally.parsed += batch.requests.len() as u64;
    tally.reject_examples(name, batch.first_rejects.drain(..));
    batch.fill_zone_pop(args.zone.as_deref(), args.pop.as_deref());
    for (why, n) in exclusions(&batch.requests, settings) {
        *tally.excluded.entry(why.to_string()).or_default() += n;
    }
    batch
}

#[allow(clippy::too_many_arguments)]
fn send(
    chunk: &[u8],
    origin: Option<(&str, u64)>,
    parser: &mut LogParser,
    line_no: &mut usize,
    name: &str,
    args: &ImportArgs,
    sink: &Sink,
    settings: &EngineSettings,
    tally: &mut Tally,
) -> anyhow::Result<Option<Ticket>> {
    if chunk.is_empty() {
        return Ok(None);
    }
    match sink {
        Sink::Local { pipeline, tenant, .. } => {
            let batch = read_locally(chunk, parser, line_no, name, args, sink, settings, tally);
            if !batch.requests.is_empty() {
                return Ok(Some(pipeline.queue_requests_blocking(tenant, batch.requests)?));
            }
        }
        Sink::Remote { agent, url, key } => {
            let url = match origin {
                Some((file, offset)) => format!("{url}&file={file}&offset={offset}"),
                None => url.clone(),
            };
            let mut r = agent
                .post(&url)
                .header("X-Ingest-Key", key)
                .content_type("text/plain")
                .send(chunk)
                .context("cannot reach the server")?;
            let status = r.status().as_u16();
            let v: serde_json::Value = r.body_mut().read_json().unwrap_or_default();
            if status == 200 && v["duplicate"] == true {
                // The server has this chunk already (an earlier run sent it).
                *line_no += memchr::memchr_iter(b'\n', chunk).count();
                return Ok(None);
            }
            if status != 202 && status != 400 {
                bail!("the server answered {status}: {v}");
            }
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            let lines = n("accepted") + n("rejected") + n("skipped");
            tally.lines += lines;
            tally.parsed += n("accepted");
            tally.rejected += n("rejected");
            tally.repaired += n("repaired");
            tally.skipped += n("skipped");
            let examples: Vec<(usize, String, String)> = v["errors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| {
                            (
                                *line_no - 1 + e["line"].as_u64().unwrap_or(0) as usize,
                                e["error"].as_str().unwrap_or("").to_string(),
                                String::new(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            tally.reject_examples(name, examples);
            if let Some(ex) = v["excluded"].as_object() {
                for (k, n) in ex {
                    *tally.excluded.entry(k.clone()).or_default() += n.as_u64().unwrap_or(0);
                }
            }
            *line_no += lines as usize;
        }
    }
    Ok(None)
}

/// How many bytes of the file `file_key` names the server has taken already.
fn imported_on_server(agent: &ureq::Agent, logs_url: &str, key: &str, file_key: &str) -> anyhow::Result<u64> {
    let url = format!("{}&file={file_key}", logs_url.replacen("/api/v1/logs?", "/api/v1/logs/imported?", 1));
    let mut r = agent.get(&url).header("X-Ingest-Key", key).call().context("cannot reach the server")?;
    let status = r.status().as_u16();
    let v: serde_json::Value = r.body_mut().read_json().unwrap_or_default();
    if status != 200 {
        bail!("the server answered {status}: {v}");
    }
    v["imported_bytes"].as_u64().context("the server did not say how much of the file it has")
}

/// A progress bar on a terminal; plain lines every few seconds otherwise.
struct Progress {
    bar: ProgressBar,
    read: Arc<AtomicU64>,
    plain: bool,
    started: Instant,
    last_plain: std::cell::Cell<Instant>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let plain = !std::io::stderr().is_terminal();
        let bar = if plain {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        };
        Progress {
            bar,
            read: Arc::new(AtomicU64::new(0)),
            plain,
            started: Instant::now(),
            last_plain: std::cell::Cell::new(Instant::now()),
        }
    }

    fn counter(&self) -> Arc<AtomicU64> {
        self.read.clone()
    }

    fn lines(&self, lines: u64) {
        let read = self.read.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        if self.plain {
            if self.last_plain.get().elapsed() >= Duration::from_secs(2) {
                self.last_plain.set(Instant::now());
                eprintln!("import: {read} bytes, {lines} lines, {:.0} lines/s", lines as f64 / secs);
            }
        } else {
            self.bar.set_position(read);
            self.bar.set_message(format!("{lines} lines ({:.0}/s)", lines as f64 / secs));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn print_summary(t: &Tally, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-6);
    println!("imported {} of {} files in {:.2} s", t.files - t.file_errors.len() as u64, t.files, secs);
    if t.files_done_before > 0 {
        println!("  files imported before (resumed after what was taken): {}", t.files_done_before);
    }
    println!("  bytes read:      {}", t.bytes);
    println!("  lines read:      {} ({:.0} lines/s)", t.lines, t.lines as f64 / secs);
    println!("  parsed:          {}", t.parsed);
    println!("  skipped:         {} (blank, comments, headers)", t.skipped);
    println!("  rejected:        {}", t.rejected);
    for r in &t.first_rejects {
        println!("    {r}");
    }
    if t.repaired > 0 {
        println!(
            "  repaired:        {} (cut off inside the last quoted field; read as far as it goes)",
            t.repaired
        );
    }
    let excluded: u64 = t.excluded.values().sum();
    println!("  excluded from audience metrics (still CDN traffic): {excluded}");
    for (why, n) in &t.excluded {
        println!("    {why}: {n}");
    }
    for e in &t.file_errors {
        println!("  error: {e}");
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
