//! Real servers and tools beside streamtally: nginx on a loopback port with a
//! temp folder, serving a folder and logging in a given `log_format`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The first of `candidates` that exists (the test command installs them).
pub fn tool(name: &str, candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} is needed for this test; ./scripts/test installs it"))
}

/// Runs a command that must succeed; its standard output.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Nginx(Child);

impl Drop for Nginx {
    /// SIGTERM to the master stops its workers too (SIGKILL would orphan them).
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx on `port` serving `www`, logging to `dir/access.log` in
/// `log_format`; `locations` go into its server block.
pub fn start_nginx(dir: &Path, www: &Path, port: u16, log_format: &str, locations: &str) -> Nginx {
    start_nginx_http(
        dir,
        port,
        &format!(
            r#"  types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; audio/mpeg mp3; text/html html; text/javascript js; video/mp4 mp4 m4s; }}
  log_format st '{log_format}';
  access_log {log} st;
  server {{ listen 127.0.0.1:{port}; root {www}; {locations} }}"#,
            log = dir.join("access.log").display(),
            www = www.display(),
        ),
    )
}

/// nginx on `port` with `http` as its whole `http` block (upstreams and servers).
pub fn start_nginx_http(dir: &Path, port: u16, http: &str) -> Nginx {
    let conf = dir.join("nginx.conf");
    let tmp = dir.join("nginx-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{ worker_connections 64; }}\n\
             http {{\n  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;\n\
             uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;\n{http}\n}}\n",
            tmp = tmp.display()
        ),
    )
    .unwrap();
    launch(&conf, &tmp, port)
}

fn launch(conf: &Path, tmp: &Path, port: u16) -> Nginx {
    let nginx = tool("nginx", &["/usr/sbin/nginx", "/usr/bin/nginx"]);
    let child = Command::new(nginx)
        .arg("-c")
        .arg(conf)
        .arg("-p")
        .arg(tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

/// nginx on a free loopback port in front of `backends` (their ports), split
/// by `hash $remote_addr` with the client address taken from
/// `X-Forwarded-For` (sent on to the backends). A backend that fails is
/// never marked down (`max_fails=0`) nor replaced by another
/// (`proxy_next_upstream off`): a client's inputs wait for its node. Its
/// base URL too.
pub fn start_hash_split(dir: &Path, backends: &[u16]) -> (Nginx, String) {
    let port = free_port();
    let upstream: String = backends.iter().map(|p| format!("server 127.0.0.1:{p} max_fails=0;")).collect();
    let nginx = start_nginx_http(
        dir,
        port,
        &format!(
            "access_log off;\nupstream streamtally {{ hash $remote_addr; {upstream} }}\n\
             server {{ listen 127.0.0.1:{port}; set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;\n\
             location / {{ proxy_pass http://streamtally; proxy_next_upstream off; proxy_set_header X-Forwarded-For $remote_addr; }} }}"
        ),
    );
    (nginx, format!("http://127.0.0.1:{port}"))
}
