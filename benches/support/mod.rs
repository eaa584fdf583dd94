//! What the benchmarks that generate a data folder share: a number from the
//! environment, and the folder (`STREAMTALLY_BENCH_DIR` to keep it, else a
//! temporary one) with its store, the `bench` tenant and whether data of
//! this shape was generated there before; and the browsers generated events
//! come from.
#![allow(dead_code)] // each bench uses its part

use std::path::{Path, PathBuf};
use std::sync::Arc;

use streamtally_model::{ClientFamily, Micros, TenantId, MICROS_PER_SEC};
use streamtally_store::{EmbeddedStore, OpenMode};

pub const DAY_US: Micros = 86_400 * MICROS_PER_SEC;

/// Four client families (browser, OS, device type) of the generated
/// events, as enrichment names them, and `more` after them.
pub fn clients(more: &[(&str, &str, &str)]) -> Vec<ClientFamily> {
    [
        ("Chrome", "Windows", "desktop"),
        ("Safari", "iOS", "mobile"),
        ("Chrome", "Android", "mobile"),
        ("Firefox", "Linux", "desktop"),
    ]
    .iter()
    .chain(more)
    .map(|(b, o, d)| ClientFamily {
        browser: Some((*b).into()),
        os: Some((*o).into()),
        device_type: Some((*d).into()),
        app: None,
        bot: false,
    })
    .collect()
}

/// The real engine, counting `tenant` at the default settings.
pub fn engine(tenant: TenantId) -> streamtally_unify::Engine {
    let mut engine = streamtally_unify::Engine::new();
    engine.set_settings(tenant, streamtally_unify::EngineSettings::from(&streamtally_model::Settings::default()));
    engine
}

/// `name` from the environment as a number, else `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The start of today (UTC).
pub fn today() -> Micros {
    chrono::Utc::now().timestamp_micros().div_euclid(DAY_US) * DAY_US
}

pub struct BenchFolder {
    _temp: Option<tempfile::TempDir>,
    pub dir: PathBuf,
    pub store: Arc<EmbeddedStore>,
    pub tenant: TenantId,
    marker: PathBuf,
}

impl BenchFolder {
    /// Opens the folder; `shape` names the data (its size and first day),
    /// so a folder holding another shape generates anew.
    pub fn open(shape: &str) -> BenchFolder {
        let (temp, dir) = match std::env::var("STREAMTALLY_BENCH_DIR") {
            Ok(d) => (None, PathBuf::from(d)),
            Err(_) => {
                let t = tempfile::tempdir().expect("temp dir");
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let store = Arc::new(EmbeddedStore::open(&dir, OpenMode::Serve).expect("open store"));
        let tenant = match store.meta().tenant_by_name("bench") {
            Ok(t) => t.id,
            Err(_) => store.meta().create_tenant("bench").expect("tenant").id,
        };
        BenchFolder {
            _temp: temp,
            marker: dir.join(format!("generated-{shape}")),
            dir,
            store,
            tenant,
        }
    }

    /// Whether data of this shape is there already (then says so).
    pub fn generated(&self) -> bool {
        let there = self.marker.exists();
        if there {
            println!("using the data generated before in {}", self.dir.display());
        }
        there
    }

    /// Records that data of this shape is there now.
    pub fn mark_generated(&self) {
        std::fs::write(&self.marker, b"").expect("marker");
    }
}

/// The Parquet files below `dir`, sorted, and their bytes.
pub fn parquet_files(dir: &Path) -> (Vec<PathBuf>, u64) {
    let mut files = Vec::new();
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                files.push(path);
            }
        }
    }
    files.sort();
    (files, bytes)
}
