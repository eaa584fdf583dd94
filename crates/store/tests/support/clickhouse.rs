//! A ClickHouse server for tests: Debian's `clickhouse-server` started as an
//! ordinary process on a free loopback port, with its data, logs and config
//! in a temporary folder, stopped when dropped. Shared by the storage suite
//! and the workspace's cluster tests (included with `#[path]`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ClickHouseServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub http_port: u16,
    /// The native protocol's port (what a `Distributed` table reaches shards on).
    pub tcp_port: u16,
    /// Extra configuration inside `<yandex>` (a cluster's `remote_servers`).
    extra: String,
    /// The HTTPS interface's port, when started with a certificate.
    pub https_port: Option<u16>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn binary() -> PathBuf {
    let path = std::env::var_os("STREAMTALLY_TEST_CLICKHOUSE")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/sbin/clickhouse-server".into());
    assert!(
        path.exists(),
        "ClickHouse is not installed at {} (the test command, scripts/test, installs Debian's clickhouse-server)",
        path.display()
    );
    path
}

impl ClickHouseServer {
    /// Starts a server and waits until it answers.
    pub fn start() -> ClickHouseServer {
        ClickHouseServer::start_with("")
    }

    /// Starts a server with extra configuration (XML inside `<yandex>`).
    pub fn start_with(extra: &str) -> ClickHouseServer {
        let mut server = ClickHouseServer::unstarted();
        server.extra = extra.to_string();
        server.run();
        server
    }

    fn unstarted() -> ClickHouseServer {
        ClickHouseServer {
            child: None,
            dir: tempfile::tempdir().expect("a temporary folder"),
            http_port: free_port(),
            tcp_port: free_port(),
            extra: String::new(),
            https_port: None,
        }
    }

    /// Starts a server that also serves HTTPS with the certificate and key
    /// in these PEM files (plain HTTP stays open, for checks).
    pub fn start_tls(cert: &Path, key: &Path) -> ClickHouseServer {
        let mut server = ClickHouseServer::unstarted();
        let port = free_port();
        server.https_port = Some(port);
        server.extra = format!(
            "<https_port>{port}</https_port>\n\
             <openSSL><server><certificateFile>{}</certificateFile><privateKeyFile>{}</privateKeyFile>\
             <verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile>\
             <disableProtocols>sslv2,sslv3</disableProtocols><preferServerCiphers>true</preferServerCiphers></server></openSSL>",
            cert.display(),
            key.display()
        );
        server.run();
        server
    }

    /// The store address over HTTPS (`start_tls`).
    pub fn https_url(&self) -> String {
        format!("https://default@127.0.0.1:{}/streamtally", self.https_port.expect("started with TLS"))
    }

    /// Starts `n` servers as the `n` shards of the cluster `name` (each knows all).
    pub fn start_cluster(name: &str, n: usize) -> Vec<ClickHouseServer> {
        let mut servers: Vec<ClickHouseServer> = (0..n).map(|_| ClickHouseServer::unstarted()).collect();
        let shards: String = servers
            .iter()
            .map(|s| format!("<shard><replica><host>127.0.0.1</host><port>{}</port></replica></shard>", s.tcp_port))
            .collect();
        let extra = format!("<remote_servers><{name}>{shards}</{name}></remote_servers>");
        for s in &mut servers {
            s.extra = extra.clone();
            s.run();
        }
        servers
    }

    pub fn url(&self) -> String {
        format!("clickhouse://default@127.0.0.1:{}/streamtally", self.http_port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn run(&mut self) {
        let d = self.dir.path();
        let p = |s: &str| d.join(s).display().to_string();
        let config = format!(
            "<yandex>\n<logger><level>warning</level><log>{log}</log><errorlog>{err}</errorlog></logger>\n\
             <http_port>{port}</http_port><tcp_port>{tcp}</tcp_port><listen_host>127.0.0.1</listen_host>\n\
             <path>{data}/</path><tmp_path>{tmp}/</tmp_path><user_files_path>{files}/</user_files_path>\n\
             <format_schema_path>{schema}/</format_schema_path><users_config>users.xml</users_config>\n\
             <default_profile>default</default_profile><default_database>default</default_database>\n\
             <mark_cache_size>5368709120</mark_cache_size><max_concurrent_queries>100</max_concurrent_queries>\n\
             <query_log><database>system</database><table>query_log</table><flush_interval_milliseconds>1000</flush_interval_milliseconds></query_log>\n\
             {extra}\n</yandex>\n",
            log = p("server.log"),
            err = p("server.err.log"),
            port = self.http_port,
            tcp = self.tcp_port,
            data = p("data"),
            tmp = p("tmp"),
            files = p("user_files"),
            schema = p("format_schemas"),
            extra = self.extra,
        );
        std::fs::write(d.join("config.xml"), config).expect("config written");
        std::fs::write(
            d.join("users.xml"),
            "<yandex><profiles><default><log_queries>1</log_queries></default></profiles>\n\
             <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>\
             <profile>default</profile><quota>default</quota></default></users>\n<quotas><default></default></quotas></yandex>\n",
        )
        .expect("users written");
        let child = Command::new(binary())
            .arg(format!("--config-file={}", d.join("config.xml").display()))
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clickhouse-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(d.join("server.err.log")).unwrap_or_default();
        panic!(
            "ClickHouse did not answer on port {} within 60 s: {}",
            self.http_port,
            log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.http_port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /ping HTTP/1.0\r\n\r\n").is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.ends_with("Ok.\n")
    }

    /// Stops the server (SIGTERM, then waits), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe_kill(child.id(), 15);
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

fn unsafe_kill(pid: u32, signal: i32) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
