//! `streamtally report`: the query API's answers, offline.

use anyhow::Context;
use streamtally_query::{attendance_answer, Answer, Ask, AttendanceQuery, Metric, MetricsQuery};
use streamtally_store::{EmbeddedStore, OpenMode, StoreError};

use crate::DataArg;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// What to report.
    #[arg(default_value = "metrics", value_parser = ["metrics", "attendance"])]
    pub what: String,
    #[command(flatten)]
    pub data: DataArg,
    #[arg(long)]
    pub tenant: String,
    /// Start (inclusive): RFC 3339 or a date.
    #[arg(long)]
    pub from: String,
    /// End (exclusive).
    #[arg(long)]
    pub to: String,
    /// Metrics: comma-separated metrics (default: all).
    #[arg(long)]
    pub metrics: Option<String>,
    /// Comma-separated dimensions, e.g. hour,content_id.
    #[arg(long)]
    pub group_by: Option<String>,
    /// dimension:value pairs, comma-separated.
    #[arg(long)]
    pub filter: Option<String>,
    /// Attendance: only this content.
    #[arg(long)]
    pub content_id: Option<String>,
    /// Attendance: only this access code.
    #[arg(long)]
    pub access_code: Option<String>,
    /// IANA time zone (default: the tenant's; attendance days are always the tenant's).
    #[arg(long)]
    pub tz: Option<String>,
    #[arg(long, default_value = "table", value_parser = ["json", "csv", "table"])]
    pub format: String,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    args.data.folder_only("report")?;
    let store = match EmbeddedStore::open(&args.data.data, OpenMode::ReadOnly) {
        Err(e @ StoreError::Locked { .. }) => {
            anyhow::bail!("{e}\n(report reads the folder directly; while a server runs, use GET /api/v1/metrics with the same parameters)")
        }
        other => other.with_context(|| format!("cannot open {}", args.data.data.display()))?,
    };
    // Acknowledged input that is only in the WAL yet is counted too.
    streamtally_pipeline::replay_read_only(&store, store.meta().clone(), store.folder())?;
    let tenant = store.meta().tenant_by_name(&args.tenant)?;
    let runtime = tokio::runtime::Runtime::new()?;
    if args.what == "attendance" {
        let tz = store.meta().settings(tenant.id)?.tz();
        let q = AttendanceQuery::parse(&args.from, &args.to, args.content_id.as_deref(), args.access_code.as_deref(), tz)?;
        let answer = attendance_answer(runtime.block_on(store.ask(tenant.id, &q))?, tz);
        print_answer(&answer, &args.format)?;
        return Ok(());
    }
    let tz = args.tz.clone().or_else(|| store.meta().settings(tenant.id).ok().map(|s| s.timezone));
    let all = Metric::AUDIENCE.iter().map(|m| m.name()).collect::<Vec<_>>().join(",");
    let q = MetricsQuery::parse(
        &args.from,
        &args.to,
        args.metrics.as_deref().unwrap_or(&all),
        args.group_by.as_deref(),
        args.filter.as_deref(),
        tz.as_deref(),
    )?;
    let answer = runtime.block_on(store.query(tenant.id, &q))?;
    print_answer(&answer, &args.format)
}

fn print_answer(answer: &Answer, format: &str) -> anyhow::Result<()> {
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(&answer.to_json())?),
        "csv" => print!("{}", answer.to_csv()),
        _ => print!("{}", answer.to_table()),
    }
    Ok(())
}
