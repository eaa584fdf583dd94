//! `streamtally serve`: the server, and the start-up shared with `demo`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use streamtally_pipeline::{open_serving, open_serving_on_clickhouse, Pipeline, PipelineConfig};
use streamtally_server::{AppState, ServerConfig};
use streamtally_store::ClickHouseConfig;

use streamtally_enrich::{Classifier, Enricher, GeoDb, UaLists};

use crate::{EnrichArgs, ServeArgs};

/// Loads the UA lists and geography databases named on the command line.
pub fn enricher(args: &EnrichArgs) -> anyhow::Result<Enricher> {
    let lists = match &args.ua_lists {
        Some(dir) => {
            let lists = UaLists::load(dir).with_context(|| format!("cannot load the User-Agent lists from {}", dir.display()))?;
            tracing::info!(entries = lists.entries(), skipped = lists.skipped, "loaded the OPAWG User-Agent lists");
            Some(lists)
        }
        None => None,
    };
    let geo = if args.geoip.is_empty() { None } else { Some(GeoDb::open(&args.geoip)?) };
    Ok(Enricher::new(Classifier::new(lists), geo))
}

/// Opens the data folder and makes sure a server administrator key exists;
/// returns the pipeline and, on first start, the new key (shown once).
pub fn open(args: &ServeArgs) -> anyhow::Result<(Arc<Pipeline>, Option<String>)> {
    let config = PipelineConfig {
        checkpoint_interval: args.checkpoint_interval,
        wal_backlog_limit: args.wal_backlog_mib.saturating_mul(1 << 20),
        ..PipelineConfig::default()
    };
    if let Some(url) = &args.data.meta {
        anyhow::ensure!(
            args.store.is_some(),
            "--meta (shared metadata) is for several nodes over one ClickHouse: give --store too, or leave --meta out to keep the metadata in the data folder"
        );
        anyhow::ensure!(
            streamtally_store::is_postgres_url(url),
            "--meta must be a PostgreSQL address, postgres://user:password@host:5432/database"
        );
    }
    let pipeline = match &args.store {
        None => open_serving(&args.data.data, config).with_context(|| format!("cannot open the data folder {}", args.data.data.display()))?,
        Some(url) => {
            // Each node's rows are told apart by its name: two nodes with one name would lose rows.
            let node = args
                .node
                .as_deref()
                .context("--store needs --node (or STREAMTALLY_NODE): a name unique to this node")?;
            let mut clickhouse = ClickHouseConfig::parse(url, node)?;
            if let Some(ca) = &args.store_ca {
                clickhouse = clickhouse.trusting(ca)?;
            }
            if let Some(cluster) = &args.cluster {
                clickhouse = clickhouse.on_cluster(cluster)?;
            }
            let shared = crate::commands::admin::shared_meta(&args.data)?.map(Arc::new);
            open_serving_on_clickhouse(&args.data.data, clickhouse, shared, config)
                .with_context(|| format!("cannot open the store {} with the data folder {}", redact(url), args.data.data.display()))?
        }
    };
    // The embedded store keeps rollups of the settled facts (a ClickHouse store reads facts only).
    pipeline.keep_rollups(streamtally_query::rollup_definition())?;
    if let (Some(_), Some(node)) = (&args.data.meta, &args.node) {
        // Other nodes hold the subject's rows too: they apply each erasure as well.
        pipeline.share_erasures(node);
    }
    let meta = pipeline.meta().clone();
    let mut new_key = None;
    if let Ok(key) = std::env::var("STREAMTALLY_ADMIN_KEY") {
        meta.ensure_admin_key(key.trim())?;
    } else if !meta.has_admin_key()? {
        new_key = Some(meta.create_key(None, streamtally_store::Role::Admin)?.key);
    }
    Ok((Arc::new(pipeline), new_key))
}

/// Files the process keeps for itself beyond connections: the data folder's
/// files, the WAL, SQLite, Parquet readers.
const RESERVED_FILES: u64 = 512;

/// The connection cap, kept below the open-file limit so that running out of
/// files never stops `accept` (past the cap a connection is answered `503`).
pub fn connection_cap(wanted: usize) -> usize {
    match crate::raise_open_file_limit() {
        Some(files) => wanted.min(files.saturating_sub(RESERVED_FILES).max(64) as usize),
        None => wanted,
    }
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is
/// called, not when it is first awaited: a signal that arrives between
/// "listening" and the first poll must not kill the process unflushed.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { _ = term => {}, _ = int => {} }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
    }
}

/// Serves on `listen` until a signal; then finishes requests and checkpoints.
pub async fn serve_until_signal(
    pipeline: Arc<Pipeline>,
    enricher: Enricher,
    listen: SocketAddr,
    config: ServerConfig,
    on_ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let shutdown = shutdown_signal();
    on_ready(addr);
    let state = AppState::new(pipeline.clone(), enricher, config);
    let erasures = tokio::spawn(apply_shared_erasures(pipeline.clone()));
    streamtally_server::serve(listener, state, shutdown).await?;
    erasures.abort();
    tokio::task::spawn_blocking(move || pipeline.shutdown()).await?;
    Ok(())
}

/// How often a node looks for erasures other nodes took.
const SHARED_ERASURES_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Applies, every few seconds, the erasures other nodes took (nothing when
/// erasures are not shared).
async fn apply_shared_erasures(pipeline: Arc<Pipeline>) {
    let mut every = tokio::time::interval(SHARED_ERASURES_EVERY);
    loop {
        every.tick().await;
        if let Err(e) = pipeline.apply_shared_erasures().await {
            tracing::warn!(error = %e, "erasures of other nodes not applied yet; trying again");
        }
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let enricher = enricher(&args.enrich)?;
    let (pipeline, new_key) = open(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(streamtally_server::tls::load(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let config = ServerConfig {
        tls,
        max_body_bytes: args.max_body_bytes,
        trust_forwarded_for: args.trust_forwarded_for,
        rate_limits: streamtally_server::RateLimits {
            per_ip: args.ingest_rate_per_ip,
            per_ip_burst: args.ingest_burst_per_ip,
            per_client: args.ingest_rate_per_client,
            per_client_burst: args.ingest_burst_per_client,
            new_clients_per_ip: args.ingest_new_clients_per_ip,
            new_clients_burst: args.ingest_new_clients_burst,
            per_key: args.ingest_rate_per_key,
            per_key_burst: args.ingest_burst_per_key,
            access_failures: args.access_failures_per_ip,
            auth_failures: args.auth_failures_per_ip,
        },
        connections: streamtally_server::ConnectionLimits {
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            max_connections: connection_cap(args.max_connections),
            max_connections_per_ip: args.max_connections_per_ip,
        },
        readers: streamtally_server::ReaderLimits {
            streams_per_key: args.max_streams_per_key,
            streams_per_tenant: args.max_streams_per_tenant,
            queries_per_tenant: args.max_queries_per_tenant,
        },
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(serve_until_signal(pipeline, enricher, args.listen, config, |addr| {
        println!("streamtally listening on {scheme}://{addr}");
        if let Some(key) = new_key {
            println!("server administrator key (shown once, keep it safe): {key}");
            println!("create a tenant:  curl -X POST -H 'Authorization: Bearer {key}' -d '{{\"name\":\"acme\"}}' -H 'Content-Type: application/json' {scheme}://{addr}/api/v1/tenants");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }))
}

/// A store address without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let auth = &url[scheme + 3..at];
            let user = auth.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
