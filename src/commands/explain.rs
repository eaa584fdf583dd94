//! `streamtally explain`: how the server reads what it is given, line by line.
//! `--ua` classifies User-Agents; without it, log lines are read as `import`
//! would and each gets a JSON answer: the fields parsed, CMCD decoded, the
//! client, the content and playback, and what it counts as — or the typed
//! reason it counts for nothing.

use std::io::{BufRead, Write};

use serde_json::{json, Value};
use streamtally_enrich::{DeviceSecret, LogContext};
use streamtally_model::{format_ts, Fact, TenantId};
use streamtally_parse::log::{Line, LogFormat, LogParser};
use streamtally_unify::{CdnTally, Engine, EngineSettings};

use crate::EnrichArgs;

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// Read User-Agent strings (one per line) instead of log lines.
    #[arg(long)]
    pub ua: bool,
    /// The log format (detected from the first line when absent).
    #[arg(long)]
    pub format: Option<String>,
    /// With `--format nginx`: the `log_format` string; with `json`: the field mapping.
    #[arg(long)]
    pub log_format: Option<String>,
    /// The folder the server serves URI paths from: segments take their HLS playlist's `#EXTINF`.
    #[arg(long)]
    pub media_root: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub enrich: EnrichArgs,
}

pub fn run(args: ExplainArgs) -> anyhow::Result<()> {
    let enricher = crate::commands::serve::enricher(&args.enrich)?;
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.ua {
        for line in stdin.lock().lines() {
            let line = line?;
            let c = enricher.classify(line.trim_end_matches('\r'), &[]);
            let v = json!({
                "user_agent": line,
                "bot": c.family.bot,
                "bot_rule": c.bot_rule,
                "browser": c.family.browser,
                "os": c.family.os,
                "device_type": c.family.device_type,
                "app": c.family.app,
            });
            writeln!(out, "{v}")?;
        }
        out.flush()?;
        return Ok(());
    }
    let mut parser: Option<LogParser> = match &args.format {
        Some(name) => Some(LogParser::new(LogFormat::named(name, args.log_format.as_deref())?)),
        None => None,
    };
    // Lines are counted in order, as one import would count them, with the
    // default settings: a repeat of a listener shows as part of its start.
    const TENANT: TenantId = 0;
    let mut engine = Engine::new();
    let settings = streamtally_model::Settings::default();
    engine.set_settings(TENANT, EngineSettings::from(&settings));
    let secret = DeviceSecret::from_bytes(rand::random());
    let playlists = match &args.media_root {
        Some(root) => Some(anyhow::Context::context(streamtally_enrich::SegmentDurations::from_root(root), "--media-root")?),
        None => None,
    };
    let no_catalogue = |_: &str| None;
    let mut ctx = LogContext::new(&secret, &settings, &no_catalogue);
    ctx.segment_length.playlists = playlists.as_ref();
    let mut raw = Vec::new();
    let mut lock = stdin.lock();
    let mut number = 0usize;
    loop {
        raw.clear();
        if lock.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        number += 1;
        let text = String::from_utf8_lossy(&raw);
        let text = text.trim_end_matches(['\n', '\r']);
        let p = match &mut parser {
            Some(p) => p,
            None => match LogFormat::detect(text) {
                Some(f) => parser.insert(LogParser::new(f)),
                None => {
                    writeln!(
                        out,
                        "{}",
                        json!({ "line": number, "counts": false, "dropped": "parse_error", "error": "cannot tell the log format; give --format" })
                    )?;
                    continue;
                }
            },
        };
        let v = match p.parse_line(text) {
            Ok(Line::Skip) => json!({ "line": number, "skipped": "blank line, comment or header" }),
            Err(e) => json!({ "line": number, "counts": false, "dropped": "parse_error", "error": e.0 }),
            Ok(Line::Request(req)) => {
                let parsed = json!({
                    "time": format_ts(req.ts),
                    "ip": req.ip.map(|ip| ip.to_string()),
                    "user_agent": req.user_agent,
                    "method": req.method,
                    "path": req.path,
                    "query": req.query,
                    "status": req.status,
                    "bytes": req.bytes,
                    "range": req.range,
                    "referrer": req.referrer,
                    "cache_status": req.cache_status,
                    "pop": req.pop,
                    "zone": req.zone,
                    "time_to_serve": req.time_to_serve,
                });
                let cmcd = req
                    .cmcd
                    .as_deref()
                    .filter(|c| !c.is_empty())
                    .map(|c| serde_json::to_value(c).unwrap_or(Value::Null));
                let ua = req.user_agent.as_deref().unwrap_or_default().to_string();
                let class = enricher.classify(&ua, &settings.bot_deny);
                let r = enricher.enrich_request(req, ctx.secret, ctx.opts, ctx.segment_length, &mut Default::default());
                let mut facts: Vec<Fact> = Vec::new();
                let verdict = engine.apply_request(TENANT, number as u64, r.ts, (&r, streamtally_model::PROPERTY_OTHERS), &mut facts);
                let mut cdn = CdnTally::default();
                cdn.add(&r);
                cdn.drain_into(number as u64, streamtally_model::PROPERTY_OTHERS, &mut facts);
                let counted: Vec<Value> = facts
                    .iter()
                    .map(|f| json!({ "metric": f.kind.as_str(), "source": f.source.as_str(), "value": f.value, "at": format_ts(f.ts) }))
                    .collect();
                json!({
                    "line": number,
                    "parsed": parsed,
                    "cmcd": cmcd,
                    "client": { "bot": class.family.bot, "bot_rule": class.bot_rule, "browser": class.family.browser, "os": class.family.os,
                                "device_type": class.family.device_type, "app": class.family.app },
                    "kind": r.kind.as_str(),
                    "content_id": r.content_id,
                    "playback_id": r.playback_id,
                    "segment_seconds": r.segment_seconds,
                    "counts": verdict.is_ok(),
                    "dropped": verdict.err().map(|d| d.as_str()),
                    "facts": counted,
                })
            }
        };
        writeln!(out, "{v}")?;
    }
    out.flush()?;
    Ok(())
}
