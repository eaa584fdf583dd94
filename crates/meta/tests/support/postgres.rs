//! A PostgreSQL server for tests: Debian's `postgresql` started as an
//! ordinary process (as the `postgres` user when the tests run as root, which
//! PostgreSQL refuses) on a free loopback port, its data in a temporary
//! folder. [`PostgresServer::shared`] is one server per test process, each
//! caller given a database of its own; it stops when the process ends, as a
//! shell beside it waits on a pipe from this process and stops it then.
//! Shared by the metadata tests and the workspace's node tests (`#[path]`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct PostgresServer {
    child: Option<Child>,
    /// The shared server's folder goes when it stops (its value is never dropped).
    remove_when_stopped: bool,
    /// Closing it stops the server (the shell beside it reads it).
    stop: Option<ChildStdin>,
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    databases: AtomicUsize,
    /// More `-c name=value` settings for the server (TLS).
    settings: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The newest installed server's programs (`STREAMTALLY_TEST_POSTGRES` names another folder).
fn bin_folder() -> PathBuf {
    if let Some(dir) = std::env::var_os("STREAMTALLY_TEST_POSTGRES") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL is not installed under /usr/lib/postgresql (the test command, scripts/test, installs Debian's postgresql)")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command run as the user the server runs as.
fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl PostgresServer {
    /// Starts a server of its own, stopped when dropped.
    pub fn start() -> PostgresServer {
        PostgresServer::start_keeping(true, None)
    }

    /// Starts a server that also takes TLS, with this certificate and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> PostgresServer {
        PostgresServer::start_keeping(true, Some((cert_pem, key_pem)))
    }

    fn start_keeping(keep_folder: bool, tls: Option<(&str, &str)>) -> PostgresServer {
        let bin = bin_folder();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let data = dir.path().join("data");
        if running_as_root() {
            // The server's user must reach its folder.
            std::fs::create_dir(&data).expect("the data folder");
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().expect("chown");
            assert!(status.success(), "chown of {} failed", dir.path().display());
        }
        let out = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .output()
            .expect("initdb runs");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut settings = Vec::new();
        if let Some((cert, key)) = tls {
            let (cert_file, key_file) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&cert_file, cert).expect("the certificate written");
            std::fs::write(&key_file, key).expect("the key written");
            // PostgreSQL reads a key only its own user can read.
            let _ = Command::new("chmod").arg("600").arg(&key_file).status();
            if running_as_root() {
                let _ = Command::new("chown").arg("postgres:postgres").arg(&cert_file).arg(&key_file).status();
            }
            settings = vec![
                "ssl=on".to_string(),
                format!("ssl_cert_file={}", cert_file.display()),
                format!("ssl_key_file={}", key_file.display()),
            ];
        }
        let port = free_port();
        let mut server = PostgresServer {
            child: None,
            remove_when_stopped: !keep_folder,
            stop: None,
            dir,
            port,
            bin,
            databases: AtomicUsize::new(0),
            settings,
        };
        server.run();
        server
    }

    /// One server for the whole test process; stops (and its folder goes)
    /// when the process ends.
    pub fn shared() -> &'static PostgresServer {
        static SERVER: OnceLock<PostgresServer> = OnceLock::new();
        SERVER.get_or_init(|| PostgresServer::start_keeping(false, None))
    }

    fn run(&mut self) {
        let data = self.dir.path().join("data");
        let postgres = self.bin.join("postgres");
        // The shell stops the server (fast shutdown) once its input closes:
        // when this value is dropped, or this process ends however it ends.
        let script = r#"dir="$1"; remove="$2"; shift 2; "$@" & pid=$!; cat >/dev/null; kill -INT "$pid"; wait "$pid"; [ "$remove" = yes ] && rm -rf "$dir""#;
        let mut child = as_server_user(Path::new("/bin/sh"))
            .args(["-c", script, "sh"])
            .arg(self.dir.path())
            .arg(if self.remove_when_stopped { "yes" } else { "no" })
            .arg(&postgres)
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ])
            .args(self.settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(self.dir.path().join("server.log")).expect("a log file")))
            .spawn()
            .expect("postgres starts");
        self.stop = child.stdin.take();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not start:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        let name = format!("t{}_{}", std::process::id(), self.databases.fetch_add(1, Ordering::Relaxed));
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", &name])
            .output()
            .expect("createdb runs");
        assert!(out.status.success(), "createdb failed: {}", String::from_utf8_lossy(&out.stderr));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs SQL with psql on a database; what it printed (unaligned, no headers).
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops the server and waits until it is gone.
    pub fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}
