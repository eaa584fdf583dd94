//! The API's OpenAPI document (`/api/v1/openapi.json`) against the router
//! that serves it: every described operation is served (no description
//! without its route), every other method of a described path is refused
//! with 405, and no route is added beside the described list. The document is
//! checked by an independent validator from PyPI (`openapi-spec-validator`,
//! installed by `scripts/test`).

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use support::*;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

fn document(server: &Server) -> Value {
    let r = server.request("GET", "/api/v1/openapi.json", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    r.json()
}

/// `(method, path)` of every operation the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                out.insert((method.to_string(), path.clone()));
            }
        }
    }
    out
}

/// A described path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{content_id}", "L")
        .replace("{key_id}", "k1")
        .replace("{account_id}", "a1")
        .replace("{user_id}", "u1")
}

#[test]
fn every_described_operation_is_served_and_no_other_method_is() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let doc = document(&server);
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    assert!(ops.len() >= 30, "only {} operations described", ops.len());
    let mut wrong = Vec::new();
    for (method, path) in &ops {
        // Without a key: a route that exists answers 401 (or its public answer),
        // never the router's "no such endpoint" or 405.
        let r = server.request(method, &concrete(path), &[("Content-Type", "application/json")], "");
        let fallback = r.status == 404 && r.body.contains("no such endpoint");
        if fallback || r.status == 405 {
            wrong.push(format!("{method} {path}: described but answered {} {}", r.status, r.body));
        }
        let op = &doc["paths"][path][method.to_lowercase()];
        if op["summary"].as_str().unwrap_or("").is_empty() || op["responses"].as_object().is_none_or(|r| r.is_empty()) {
            wrong.push(format!("{method} {path}: no summary or no responses"));
        }
    }
    let paths: BTreeSet<&String> = ops.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            if !ops.contains(&(method.to_string(), path.clone())) {
                let r = server.request(method, &concrete(path), &[], "");
                if r.status != 405 {
                    wrong.push(format!("{method} {path}: not described but answered {}", r.status));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_api_route_is_added_beside_the_described_list() {
    // The router is built from the handlers' descriptions (`routes!`); a plain
    // `.route("/api/…")` would serve a path the document does not know.
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()));
    let mut plain = Vec::new();
    let mut stack = vec![root.join("crates/server/src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, _) in text.match_indices(".route(") {
                    let rest = text[i + ".route(".len()..].trim_start();
                    let Some(route) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) else {
                        continue;
                    };
                    // The document's own route is the one allowed.
                    if (route.starts_with("/api/") || route == "/healthz" || route == "/metrics") && route != "/api/v1/openapi.json" {
                        plain.push(format!("{}: {route}", path.display()));
                    }
                }
            }
        }
    }
    assert!(plain.is_empty(), "routes outside the described list: {plain:?}");
}

#[test]
fn an_independent_validator_accepts_the_document() {
    let validator = std::env::var_os("STREAMTALLY_TEST_OPENAPI_VALIDATOR")
        .map(std::path::PathBuf::from)
        .filter(|p| p.exists())
        .expect("openapi-spec-validator is needed (STREAMTALLY_TEST_OPENAPI_VALIDATOR); ./scripts/test installs it");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&document(&server)).unwrap()).unwrap();
    let out = Command::new(&validator).arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
