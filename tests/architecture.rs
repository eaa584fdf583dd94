//! The crate graph follows the data flow of `docs/ARCHITECTURE.md`: each step's
//! crate depends only on the steps before it (and on the side crates it is
//! allowed), never on a later one. Read from `cargo metadata`, so it checks
//! the `Cargo.toml`s as they are; the doc's table lists the same graph.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// The steps in flow order, each with the crates of this workspace it may use
/// (by short name, without `streamtally-`). Dev-dependencies are free: a test
/// may ask a question through a later step (the storage suite does).
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("source", &[]),
    ("parse", &["model"]),
    ("access", &["model"]),
    ("enrich", &["model", "parse"]),
    ("wal", &[]),
    ("unify", &["model"]),
    ("meta", &["model", "access"]),
    ("store", &["model", "meta"]),
    ("query", &["model", "store"]),
    ("pipeline", &["model", "enrich", "wal", "unify", "meta", "store"]),
    (
        "server",
        &["model", "parse", "access", "enrich", "meta", "store", "query", "pipeline", "source"],
    ),
];

fn workspace_graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        ))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
    let mut graph = BTreeMap::new();
    for package in meta["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("a name");
        let Some(short) = name.strip_prefix("streamtally-") else { continue };
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            // Normal dependencies only: `kind` is null for them.
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str()?.strip_prefix("streamtally-").map(String::from))
            .collect();
        graph.insert(short.to_string(), deps);
    }
    graph
}

#[test]
fn no_crate_depends_on_a_later_step() {
    let graph = workspace_graph();
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED.iter().map(|(c, deps)| (*c, deps.iter().copied().collect())).collect();
    let mut wrong = Vec::new();
    for (krate, deps) in &graph {
        let Some(may) = allowed.get(krate.as_str()) else {
            wrong.push(format!("crates/{krate} is not a step of ALLOWED (add it where it belongs in the flow)"));
            continue;
        };
        for d in deps {
            if !may.contains(d.as_str()) {
                wrong.push(format!("streamtally-{krate} depends on streamtally-{d}"));
            }
        }
    }
    assert!(wrong.is_empty(), "the crate graph breaks the data flow:\n{}", wrong.join("\n"));
    // The table never allows a later step: each crate's allowed crates come before it.
    for (i, (krate, deps)) in ALLOWED.iter().enumerate() {
        for d in *deps {
            let at = ALLOWED.iter().position(|(c, _)| c == d).expect("a known crate");
            assert!(at < i, "ALLOWED lets {krate} use {d}, which comes after it");
        }
    }
}

#[test]
fn the_architecture_doc_names_every_crate() {
    let doc = std::fs::read_to_string(
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("docs/ARCHITECTURE.md"),
    )
    .expect("the doc");
    for krate in workspace_graph().keys() {
        assert!(
            doc.contains(&format!("`crates/{krate}`")),
            "docs/ARCHITECTURE.md does not describe crates/{krate}"
        );
    }
}
