//! `streamtally import`: access logs from files, folders, globs, gzip files or
//! stdin — into the data folder directly (`local.rs`), or with `--server` to a
//! running server's `POST /api/v1/logs` (`remote.rs`). `--follow` tails a live
//! log through rotation and truncation. Imports are idempotent: each file
//! (known by a hash of its first line) resumes where the last import of it
//! stopped. Reading, chunking and the ledger's rule are `streamtally-source`'s.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use streamtally_parse::log::LogFormat;
use streamtally_source::{expand, import_file, FollowOptions, Input, Sink, Tally};

use crate::{DataArg, EnrichArgs};

mod local;
mod merge;
mod remote;

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
    /// The property the lines count under (spec §1; default the ingest key's, else `Others`).
    #[arg(long)]
    pub property: Option<String>,
    /// `i/N`: only the lines whose client address nginx's `upstream { hash
    /// $remote_addr; }` sends to the i-th of N nodes (0-based, in the order
    /// the servers are listed); the rest are skipped. See docs/scaling.md.
    #[arg(long, value_parser = streamtally_enrich::Shard::parse)]
    pub shard: Option<streamtally_enrich::Shard>,
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

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let format = match &args.format {
        Some(name) => Some(LogFormat::named(name, args.log_format.as_deref())?),
        None => None,
    };
    let inputs = expand(&args.paths)?;
    anyhow::ensure!(!(args.follow && inputs.len() != 1), "--follow reads exactly one file");
    let total: u64 = inputs
        .iter()
        .filter_map(|i| i.path().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len()))
        .sum();
    let progress = Progress::new(total);
    let started = Instant::now();
    let mut tally = Tally::default();
    match &args.server {
        Some(server) => import_each(&inputs, &remote::RemoteSink::new(server, &args), &args, &progress, &mut tally),
        None => {
            let sink = local::LocalSink::open(&args, format)?;
            // Several files into the data folder are merged by time (spec §8a).
            let files: Option<Vec<PathBuf>> = inputs.iter().map(|i| i.path().map(PathBuf::from)).collect();
            match files {
                Some(files) if files.len() > 1 && !args.follow => merge::import_merged(&files, &sink, &progress, &mut tally)?,
                _ => import_each(&inputs, &sink, &args, &progress, &mut tally),
            }
            sink.shutdown();
        }
    }
    progress.finish();
    print_summary(&tally, started.elapsed());
    if tally.parsed == 0 && tally.files_done_before == 0 && (tally.rejected > 0 || !tally.file_errors.is_empty()) {
        bail!("nothing could be imported");
    }
    Ok(())
}

/// Imports the inputs one after another; a broken file (truncated gzip,
/// unreadable) stops that file only.
fn import_each<S: Sink>(inputs: &[Input], sink: &S, args: &ImportArgs, progress: &Progress, tally: &mut Tally) {
    let options = FollowOptions {
        follow: args.follow,
        ..FollowOptions::default()
    };
    for input in inputs {
        tally.files += 1;
        if let Err(e) = import_file(input, sink, &options, progress.counter(), &|t| progress.lines(t.lines), tally) {
            tally.file_errors.push(format!("{}: {e}", input.name()));
        }
    }
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
