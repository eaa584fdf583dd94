//! `streamtally`: the command line. Each subcommand lives in `commands/`; this
//! file only parses arguments and dispatches.

mod commands;

/// Counting and storing allocate many small strings per input line; glibc's
/// allocator spent about a third of an import's CPU time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// No transparent huge pages for this process: the allocator asks for them,
/// and where the kernel then compacts memory on a page fault (`defrag` =
/// `madvise`, Debian's default) an import spent up to a third of its time in
/// the kernel; without them its times vary by a few per cent instead of 50.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: a process-wide flag; no memory is touched. Failure (old kernels) changes nothing.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// A server holds a connection (a file) per player: take as many files as
/// the system allows this process (the soft limit is often 1 024). Returns
/// the limit now in force, which caps the connections `serve` accepts.
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    // SAFETY: reads and writes one process limit through a local struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, ..lim };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Some(raised.rlim_cur);
            }
        }
        Some(lim.rlim_cur)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "streamtally", version, about = "Self-hosted analytics for live video, on-demand video and podcasts")]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub struct DataArg {
    /// The data folder.
    #[arg(long, default_value = "./streamtally-data", env = "STREAMTALLY_DATA")]
    pub data: PathBuf,
    /// Metadata (tenants, keys, settings, catalogue, directory, access lists)
    /// shared by several nodes, in PostgreSQL:
    /// `postgres://user:password@host:5432/database`. Without it, the data
    /// folder's own SQLite file. For `serve --store clickhouse://…` and the
    /// commands that manage tenants, keys, settings, contents, users and access.
    #[arg(long, env = "STREAMTALLY_META")]
    pub meta: Option<String>,
    /// With `--meta`: reach PostgreSQL over TLS, trusting the certificates in
    /// this PEM file (a private CA or the server's own). Without it, TLS only
    /// with `sslmode=require` in the address, against the public CAs.
    #[arg(long, env = "STREAMTALLY_META_CA", requires = "meta")]
    pub meta_ca: Option<PathBuf>,
}

impl DataArg {
    /// Refuses shared metadata for a command that works on the data folder alone.
    pub fn folder_only(&self, command: &str) -> anyhow::Result<()> {
        match &self.meta {
            Some(_) => anyhow::bail!(
                "`{command}` works on the data folder's own metadata; --meta (or STREAMTALLY_META) is for `serve --store` and the tenant, key, settings, contents, users and access commands"
            ),
            None => Ok(()),
        }
    }
}

#[derive(clap::Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with this certificate chain (PEM, the server's first).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Take client addresses from X-Forwarded-For (only behind a proxy you run).
    #[arg(long)]
    pub trust_forwarded_for: bool,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Where facts and raw events are stored: the data folder (the default),
    /// or ClickHouse, `clickhouse://user:password@host:8123/database`, or over
    /// TLS `https://user:password@host:8443/database` (the node's WAL and
    /// engine state stay in the data folder).
    #[arg(long, env = "STREAMTALLY_STORE")]
    pub store: Option<String>,
    /// With an `https://` store: trust the certificates in this PEM file (a
    /// private CA, or the server's own) instead of the public CAs.
    #[arg(long, env = "STREAMTALLY_STORE_CA", requires = "store")]
    pub store_ca: Option<std::path::PathBuf>,
    /// This node's name, stored with each row it writes to ClickHouse:
    /// unique per node, and the same across its restarts (needed with `--store`).
    #[arg(long, env = "STREAMTALLY_NODE")]
    pub node: Option<String>,
    /// A ClickHouse cluster (`remote_servers`): rows go to this server's
    /// `*_local` tables, queries read `Distributed` tables over the cluster.
    #[arg(long, env = "STREAMTALLY_CLUSTER", requires = "store")]
    pub cluster: Option<String>,
    /// The most MiB of accepted input the WAL may hold that is not yet in the
    /// store: while ClickHouse is unreachable, ingest is accepted up to this,
    /// then answered `503` until the store takes rows again.
    #[arg(long, default_value_t = 10 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub wal_backlog_mib: u64,
    #[command(flatten)]
    pub enrich: EnrichArgs,
    /// Ingest requests per second allowed from one client IP (abuse guard):
    /// sized for a crowd of tens of thousands of players behind one address…
    #[arg(long, default_value_t = 2_000)]
    pub ingest_rate_per_ip: u32,
    /// …and the burst above that rate.
    #[arg(long, default_value_t = 4_000)]
    pub ingest_burst_per_ip: u32,
    /// Ingest requests per second allowed from one player (IP + User-Agent + playback)…
    #[arg(long, default_value_t = 20)]
    pub ingest_rate_per_client: u32,
    /// …and the burst above that rate.
    #[arg(long, default_value_t = 60)]
    pub ingest_burst_per_client: u32,
    /// Players per second one IP may bring that it was not seen with in the last 10 minutes…
    #[arg(long, default_value_t = 50)]
    pub ingest_new_clients_per_ip: u32,
    /// …and the burst above that rate (a crowd joining an event at once).
    #[arg(long, default_value_t = 3_000)]
    pub ingest_new_clients_burst: u32,
    /// Ingest requests per second allowed for one API key…
    #[arg(long, default_value_t = 50_000)]
    pub ingest_rate_per_key: u32,
    /// …and the burst above that rate.
    #[arg(long, default_value_t = 100_000)]
    pub ingest_burst_per_key: u32,
    /// Failed access-code checks one client IP may make in 10 minutes before
    /// all its checks are refused for the rest of that window.
    #[arg(long, default_value_t = 20)]
    pub access_failures_per_ip: u32,
    /// Failed authentications (unknown or wrong API keys) one client IP may
    /// make in 10 minutes before keys it has not used successfully are refused.
    #[arg(long, default_value_t = 50)]
    pub auth_failures_per_ip: u32,
    /// Time a client has to send a request's head, and an idle kept-alive
    /// connection waits for the next request.
    #[arg(long, default_value = "15s", value_parser = humantime_duration)]
    pub header_timeout: std::time::Duration,
    /// Time a client has to send a request's body.
    #[arg(long, default_value = "30s", value_parser = humantime_duration)]
    pub body_timeout: std::time::Duration,
    /// Connections held at once (also kept below the open-file limit).
    #[arg(long, default_value_t = 16_384)]
    pub max_connections: usize,
    /// Connections held at once from one peer address (behind a proxy: the proxy's).
    #[arg(long, default_value_t = 4_096)]
    pub max_connections_per_ip: usize,
    /// Live streams (`/api/v1/live/stream`) one key may hold open.
    #[arg(long, default_value_t = 20)]
    pub max_streams_per_key: usize,
    /// Live streams one tenant may hold open.
    #[arg(long, default_value_t = 100)]
    pub max_streams_per_tenant: usize,
    /// Queries of one tenant that run at once (others wait their turn).
    #[arg(long, default_value_t = 2)]
    pub max_queries_per_tenant: usize,
    /// How often counted facts are written to Parquet files.
    #[arg(long, default_value = "5s", value_parser = humantime_duration)]
    pub checkpoint_interval: std::time::Duration,
}

/// Where enrichment finds its reference data.
#[derive(clap::Args, Clone, Default)]
pub struct EnrichArgs {
    /// A copy of the OPAWG user-agents-v2 lists (its folder or its `src/`);
    /// without it the built-in rules apply.
    #[arg(long, env = "STREAMTALLY_UA_LISTS")]
    pub ua_lists: Option<PathBuf>,
    /// A MaxMind-format geography database (.mmdb); repeat for IPv4 and IPv6 files.
    #[arg(long = "geoip")]
    pub geoip: Vec<PathBuf>,
}

fn humantime_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 5s: {e}"))
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Run the server with a demo tenant fed by a built-in traffic generator.
    Demo {
        #[arg(long, default_value = "./streamtally-demo-data")]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Explain how input is read: log lines on stdin, one JSON answer each
    /// (what was parsed, what it counts as, or why not); `--ua` for User-Agents.
    Explain(commands::explain::ExplainArgs),
    /// Import access logs (files, folders, globs, .gz, stdin) into the data folder or a server.
    Import(commands::import::ImportArgs),
    /// Delete every fact and raw event of one subject, offline (while a server
    /// runs, use DELETE /api/v1/subjects).
    Erase(commands::erase::EraseArgs),
    /// Answer a query offline, from the data folder: `report [metrics] …` or
    /// `report attendance …`.
    Report(commands::report::ReportArgs),
    /// Read or change a tenant's counting settings.
    Settings {
        #[command(subcommand)]
        action: commands::admin::SettingsAction,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        action: commands::admin::TenantAction,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        action: commands::admin::KeyAction,
    },
    /// Manage access codes and SecureIDs (attendance, spec §6).
    Access {
        #[command(subcommand)]
        action: commands::access::AccessAction,
    },
    /// Manage the content catalogue.
    Contents {
        #[command(subcommand)]
        action: commands::admin::ContentsAction,
    },
    /// The user directory: a tenant's registered users (names and demographics
    /// stay in the metadata, never in facts).
    Users {
        #[command(subcommand)]
        action: commands::users::UsersAction,
    },
}

/// Every file streamtally makes is its user's only: the data folder holds
/// each tenant's secrets, the WAL holds accepted input (docs/SECURITY.md).
fn private_files() {
    #[cfg(target_os = "linux")]
    // SAFETY: sets the process's file-creation mask; no memory is touched.
    unsafe {
        libc::umask(0o077);
    }
}

fn main() -> std::process::ExitCode {
    no_huge_pages();
    private_files();
    let _ = raise_open_file_limit();
    let cli = Cli::parse();
    commands::init_logging(&cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Demo { data, listen } => commands::demo::run(data, listen),
        Command::Explain(args) => commands::explain::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Erase(args) => commands::erase::run(args),
        Command::Settings { action } => commands::admin::settings(action),
        Command::Tenant { action } => commands::admin::tenant(action),
        Command::Key { action } => commands::admin::key(action),
        Command::Contents { action } => commands::admin::contents(action),
        Command::Users { action } => commands::users::run(action),
        Command::Access { action } => commands::access::run(action),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
