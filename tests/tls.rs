//! HTTPS (`serve --tls-cert --tls-key`): with a certificate this test makes,
//! a real client (curl) speaks HTTP/2 and HTTP/1.1 to the server, beacons are
//! taken over it, and nothing is served in the clear on the TLS port.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

/// A certificate for 127.0.0.1 and localhost, and its key, as PEM files.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key_pair.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// curl's HTTP version and status for `url`, trusting only `ca`.
fn curl(ca: &Path, args: &[&str], url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(args)
        .args(["--output", "/dev/null", "--write-out", "%{http_version} %{http_code}"])
        .arg(url)
        .output()
        .expect("curl runs (the test command installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (version, status) = text.split_once(' ').unwrap_or(("", ""));
    (version.to_string(), status.to_string())
}

#[test]
fn https_speaks_http2_and_http1_and_takes_beacons() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let server = Server::start(&dir.path().join("data"), &["--tls-cert", &cert_s, "--tls-key", &key_s]);
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);
    let healthz = server.url("/healthz");
    assert_eq!(curl(&cert, &["--http2"], &healthz), ("2".into(), "200".into()));
    assert_eq!(curl(&cert, &["--http1.1"], &healthz), ("1.1".into(), "200".into()));
    // A beacon over HTTPS (HTTP/2), as a browser on an HTTPS page sends it.
    // The tenant and its ingest key, made over HTTPS too.
    let admin = |path: &str, body: &str| -> serde_json::Value {
        let r = Command::new("curl")
            .args([
                "--silent",
                "--cacert",
                &cert_s,
                "-X",
                "POST",
                "-H",
                &format!("Authorization: Bearer {ADMIN_KEY}"),
            ])
            .args(["-H", "Content-Type: application/json", "-d", body])
            .arg(server.url(path))
            .output()
            .unwrap();
        assert!(r.status.success());
        serde_json::from_slice(&r.stdout).unwrap()
    };
    admin("/api/v1/tenants", r#"{"name":"tls"}"#);
    let keys = admin("/api/v1/keys?tenant=tls", r#"{"role":"ingest"}"#)["key"].as_str().unwrap().to_string();
    let events = r#"[{"type":"play","ts":"2026-03-02T10:00:00Z","playback_id":"p","content_id":"V"}]"#;
    let beacon = server.url(&format!("/api/v1/events?key={keys}"));
    let (version, status) = curl(&cert, &["--http2", "-H", "Content-Type: text/plain", "--data-binary", events], &beacon);
    assert_eq!((version.as_str(), status.as_str()), ("2", "202"));
    // Over TLS the dashboard's cookies are `Secure`.
    let head = Command::new("curl")
        .args(["--silent", "--include", "--cacert", &cert_s])
        .arg(server.url("/signin"))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).to_lowercase();
    let cookie = head.lines().find(|l| l.starts_with("set-cookie:")).unwrap_or_default().to_string();
    assert!(
        cookie.contains("; secure") && cookie.contains("httponly") && cookie.contains("samesite=strict"),
        "{cookie}"
    );
    // A client that does not speak TLS gets nothing in the clear.
    let plain = server.base.replace("https://", "http://");
    let (_, status) = curl(&cert, &[], &format!("{plain}/healthz"));
    assert_ne!(status, "200");
    server.stop();
}

#[test]
fn a_key_that_does_not_fit_the_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = certificate(dir.path());
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (_, wrong_key) = certificate(&other);
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&wrong_key)
        .env("STREAMTALLY_ADMIN_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS configuration") || err.contains("key"), "{err}");
}
