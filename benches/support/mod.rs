//! What the benchmarks that generate a data folder share: a number from the
//! environment, and the folder (`STREAMTALLY_BENCH_DIR` to keep it, else a
//! temporary one) with its store, the `bench` tenant and whether data of
//! this shape was generated there before.

use std::path::PathBuf;
use std::sync::Arc;

use streamtally_model::{Micros, TenantId, MICROS_PER_SEC};
use streamtally_store::{EmbeddedStore, OpenMode};

pub const DAY_US: Micros = 86_400 * MICROS_PER_SEC;

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
