//! Test harness: runs the real `streamtally` binary on a temp data folder and
//! talks to it over real HTTP.
#![allow(dead_code)]

pub mod browser;
pub mod forms;
pub mod live_sim;
pub mod media;
pub mod nginx;
pub mod workload;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
pub const IP1: &str = "203.0.113.7";
pub const UA1: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_streamtally"))
}

/// `streamtally` with `args`, its output thrown away (for `import` runs whose
/// result is read from the server).
pub fn quietly(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args).stdout(Stdio::null()).stderr(Stdio::null());
    c
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Reply, String> {
    let mut r = r.map_err(|e| e.to_string())?;
    let headers = r.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
    Ok(Reply { status, body, headers })
}

pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub data: PathBuf,
    pub log: PathBuf,
}

impl Server {
    /// Starts `streamtally serve` on a free loopback port.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_on(data, 0, extra)
    }

    /// Starts `streamtally serve` on loopback `port` (0: a free one), e.g. a
    /// restarted node where a proxy expects it.
    pub fn start_on(data: &Path, port: u16, extra: &[&str]) -> Server {
        Server::start_wrapped(&[], data, port, extra)
    }

    /// As [`Server::start_on`], the server started by `wrapper` (a program and
    /// its arguments, which must end by running the rest of its arguments in
    /// its place, e.g. `unshare … sh -c '…; exec "$@"'`).
    pub fn start_wrapped(wrapper: &[&str], data: &Path, port: u16, extra: &[&str]) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let log = data.with_extension(format!(
            "log{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        let log_file = std::fs::File::create(&log).unwrap();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        let mut child = command
            .args(["serve", "--data"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--trust-forwarded-for"])
            .args(extra)
            .env("STREAMTALLY_ADMIN_KEY", ADMIN_KEY)
            .env("STREAMTALLY_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start streamtally");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("streamtally listening on ") {
                        break url.trim().to_string();
                    }
                }
                _ => panic!("server exited before listening; log: {}", std::fs::read_to_string(&log).unwrap_or_default()),
            }
        };
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child: Some(child),
            base,
            data: data.to_path_buf(),
            log,
        }
    }

    /// The server process's CPU time so far (user + system), from `/proc`.
    pub fn cpu_time(&self) -> Duration {
        let pid = self.child.as_ref().map(|c| c.id()).unwrap_or(0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name, which sits in parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
        // Linux reports in clock ticks of 1/100 s (USER_HZ).
        Duration::from_millis(ticks * 10)
    }

    /// `host:port` of the server.
    pub fn host(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).unwrap_or(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str, key: &str) -> Reply {
        reply(agent().get(&self.url(path)).header("Authorization", &format!("Bearer {key}")).call()).unwrap()
    }

    pub fn send(&self, method: &str, path: &str, key: &str, body: &str) -> Reply {
        let a = agent();
        let url = self.url(path);
        let auth = format!("Bearer {key}");
        let r = match method {
            "POST" => a.post(&url).header("Authorization", &auth).content_type("application/json").send(body),
            "PUT" => a.put(&url).header("Authorization", &auth).content_type("application/json").send(body),
            other => panic!("method {other}"),
        };
        reply(r).unwrap()
    }

    /// Any request with extra headers; `body` is sent when not empty.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Reply {
        let body = body.as_ref();
        let url = self.url(path);
        let mut b = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let a = agent();
        let r = if body.is_empty() {
            a.run(b.body(()).unwrap())
        } else {
            let typed = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
            let b = if typed { b } else { b.header("Content-Type", "application/json") };
            a.run(b.body(body.to_vec()).unwrap())
        };
        reply(r).unwrap()
    }

    /// Changes a tenant's settings through the API.
    pub fn set(&self, keys: &TenantKeys, settings: Value) {
        let r = self.send("PUT", "/api/v1/settings", &keys.admin, &settings.to_string());
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// Posts player events as a browser at `ip` with `ua` would.
    pub fn try_post_events(&self, key: &str, ip: &str, ua: &str, events: &Value) -> Result<Reply, String> {
        reply(
            agent()
                .post(&self.url("/api/v1/events"))
                .header("X-Ingest-Key", key)
                .header("X-Forwarded-For", ip)
                .header("User-Agent", ua)
                .content_type("application/json")
                .send(events.to_string()),
        )
    }

    pub fn post_events(&self, key: &str, ip: &str, ua: &str, events: &Value) -> Reply {
        let r = self.try_post_events(key, ip, ua, events).unwrap();
        assert_eq!(r.status, 202, "{}", r.body);
        r
    }

    /// Creates a tenant with an ingest, a read and an admin key.
    pub fn tenant(&self, name: &str) -> TenantKeys {
        let r = self.send("POST", "/api/v1/tenants", ADMIN_KEY, &json!({ "name": name }).to_string());
        assert_eq!(r.status, 201, "{}", r.body);
        let key = |role: &str| {
            let r = self.send("POST", &format!("/api/v1/keys?tenant={name}"), ADMIN_KEY, &json!({ "role": role }).to_string());
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["key"].as_str().unwrap().to_string()
        };
        TenantKeys {
            name: name.to_string(),
            ingest: key("ingest"),
            read: key("read"),
            admin: key("admin"),
        }
    }

    /// Waits until every durable event is counted.
    pub fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reply(agent().get(&self.url("/healthz")).call()) {
                let v = r.json();
                if v["wal"]["applied_lsn"] == v["wal"]["durable_lsn"] {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not catch up");
    }

    pub fn metrics(&self, key: &str, query: &str) -> Value {
        self.wait_idle();
        let r = self.get(&format!("/api/v1/metrics?{query}"), key);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    /// Graceful stop (SIGTERM): the server checkpoints and exits.
    pub fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(status.success(), "server exited with {status}");
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            panic!("server did not stop on SIGTERM");
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The server process's CPU time (user + system, seconds) and peak resident memory (MiB).
    pub fn resources(&self) -> (f64, u64) {
        let pid = self.child.as_ref().map(|c| c.id()).unwrap_or(0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start at field 3.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let hz = 100.0; // USER_HZ on Linux
        let cpu = (ticks(11) + ticks(12)) / hz;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let peak_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        (cpu, peak_kib / 1024)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct TenantKeys {
    pub name: String,
    pub ingest: String,
    pub read: String,
    pub admin: String,
}

/// `2026-03-02T{hms}Z`, the date of the spec's worked examples.
pub fn at(hms: &str) -> String {
    format!("2026-03-02T{hms}Z")
}

pub fn ev(kind: &str, ts: &str, playback: &str, content: &str) -> Value {
    json!({ "type": kind, "ts": ts, "playback_id": playback, "content_id": content })
}

pub fn playing(ts: &str, playback: &str, content: &str, secs: f64) -> Value {
    json!({ "type": "playing", "ts": ts, "playback_id": playback, "content_id": content, "duration": secs })
}

pub const DAY: &str = "from=2026-03-02&to=2026-03-03";
