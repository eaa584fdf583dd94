//! Connections: accepting them within caps, and the timeouts that keep a slow
//! or idle client from holding one. Every connection costs a file and some
//! memory, so a client that opens thousands and sends nothing (slow loris)
//! must neither exhaust the process's files nor keep `/healthz` and ingest
//! from answering.
//!
//! - the request head (and, between requests on a kept-alive connection, the
//!   wait for the next one) must arrive within [`ConnectionLimits::header_timeout`];
//! - a body within [`ConnectionLimits::body_timeout`] (`body_limit.rs`);
//! - past [`ConnectionLimits::max_connections`] in total, or
//!   [`ConnectionLimits::max_connections_per_ip`] from one peer address, a new
//!   connection is answered `503` and closed at once;
//! - with TLS, the handshake within the header timeout too; then HTTP/2 when
//!   the client chose it (ALPN), else HTTP/1.1.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// For a request head, and for the next request on an idle kept-alive
    /// connection (players send every 10 s, so keep this above that).
    pub header_timeout: Duration,
    /// For a request body once its head has arrived.
    pub body_timeout: Duration,
    pub max_connections: usize,
    /// From one peer address (a proxy in front counts as one address).
    pub max_connections_per_ip: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(30),
            max_connections: 16_384,
            // A crowd of 2 000 players behind one address on keep-alive connections fits twice.
            max_connections_per_ip: 4_096,
        }
    }
}

/// Open connections, in total and per peer address.
#[derive(Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One accepted connection's place; given back when it closes.
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total -= 1;
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

fn take_slot(open: &Arc<Mutex<Open>>, ip: IpAddr, limits: &ConnectionLimits) -> Result<Slot, &'static str> {
    let mut o = open.lock().unwrap_or_else(|p| p.into_inner());
    if o.total >= limits.max_connections {
        return Err("the server holds as many connections as it may");
    }
    let n = o.per_ip.entry(ip).or_insert(0);
    if *n >= limits.max_connections_per_ip {
        return Err("this address holds as many connections as it may");
    }
    *n += 1;
    o.total += 1;
    Ok(Slot { open: open.clone(), ip })
}

/// A refused connection gets a short answer rather than a reset, so its client knows why.
async fn refuse(mut stream: TcpStream, why: &'static str) {
    let body = serde_json::json!({ "error": format!("{why}; retry later") }).to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// Accepts connections until `shutdown` resolves, then lets open ones finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Mutex::new(Open::default()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every connection task holds a receiver; `closed()` resolves once all are gone.
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of files or buffers: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let slot = match take_slot(&open, peer.ip(), &limits) {
            Ok(slot) => slot,
            Err(why) => {
                tokio::spawn(refuse(stream, why));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.oneshot(request.map(axum::body::Body::new)).await.unwrap_or_else(|e| match e {})) }
            });
            let mut http1 = hyper::server::conn::http1::Builder::new();
            http1.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
            match tls {
                None => drive(http1.serve_connection(TokioIo::new(stream), service), &mut stop).await,
                Some(acceptor) => match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                            let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                            http2.timer(TokioTimer::new());
                            drive(http2.serve_connection(TokioIo::new(stream), service), &mut stop).await
                        } else {
                            drive(http1.serve_connection(TokioIo::new(stream), service), &mut stop).await
                        }
                    }
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                },
            }
            drop((slot, done));
        });
    }
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// Serves one connection until it ends, or shuts it down gracefully when the
/// server stops (requests under way finish).
async fn drive<C>(conn: C, stop: &mut tokio::sync::watch::Receiver<bool>)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended");
            }
        }
        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.as_mut().await;
        }
    }
}
