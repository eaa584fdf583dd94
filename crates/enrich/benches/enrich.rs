//! Enrichment throughput: User-Agents classified per second with a realistic
//! repeat rate (Zipf-distributed over a few thousand distinct strings, as in
//! CDN logs), with and without the OPAWG lists, and device keys per second.
//! Prints numbers; asserts nothing. Run: `cargo bench -p streamtally-enrich`.

use std::path::PathBuf;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use streamtally_enrich::{device_key, Classifier, DeviceSecret, UaLists};

fn opawg() -> PathBuf {
    std::env::var_os("STREAMTALLY_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../../shared")
        })
        .join("data/opawg-user-agents-v2")
}

/// Distinct User-Agents: the OPAWG examples plus synthetic browser versions.
fn distinct_uas() -> Vec<String> {
    let mut uas = Vec::new();
    for file in ["apps.json", "browsers.json", "bots.json", "libraries.json", "devices.json"] {
        if let Ok(text) = std::fs::read_to_string(opawg().join("src").join(file)) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            for e in v["entries"].as_array().cloned().unwrap_or_default() {
                for x in e["examples"].as_array().cloned().unwrap_or_default() {
                    if let Some(s) = x.as_str() {
                        uas.push(s.to_string());
                    }
                }
            }
        }
    }
    for major in 100..130 {
        for build in 0..60 {
            uas.push(format!(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.{build}.0 Safari/537.36"
            ));
        }
    }
    uas
}

/// A request stream: `n` picks with Zipf(1.1) popularity.
fn stream(distinct: &[String], n: usize) -> Vec<usize> {
    let weights: Vec<f64> = (1..=distinct.len()).map(|r| 1.0 / (r as f64).powf(1.1)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(weights.len());
    let mut acc = 0.0;
    for w in weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    (0..n)
        .map(|_| cdf.partition_point(|c| *c < rng.random::<f64>()).min(distinct.len() - 1))
        .collect()
}

fn run(name: &str, classifier: &Classifier, uas: &[String], picks: &[usize]) {
    let started = Instant::now();
    let mut bots = 0usize;
    for &i in picks {
        bots += usize::from(classifier.classify(&uas[i]).family.bot);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name}: {:.0} User-Agents/s ({} lookups, {} distinct, {:.1} % bots, {:.2} s)",
        picks.len() as f64 / secs,
        picks.len(),
        uas.len(),
        100.0 * bots as f64 / picks.len() as f64,
        secs
    );
}

fn main() {
    let uas = distinct_uas();
    let picks = stream(&uas, 2_000_000);
    let distinct_seen = {
        let mut s: Vec<usize> = picks.clone();
        s.sort_unstable();
        s.dedup();
        s.len()
    };
    println!(
        "request stream: {} requests over {} distinct User-Agents ({} seen)",
        picks.len(),
        uas.len(),
        distinct_seen
    );
    run("built-in rules, cached", &Classifier::new(None), &uas, &picks);
    match UaLists::load(&opawg()) {
        Ok(lists) => run("OPAWG lists + built-in rules, cached", &Classifier::new(Some(lists)), &uas, &picks),
        Err(e) => println!("OPAWG lists not found ({e}); skipped"),
    }
    let cold_runs: Vec<(&str, Classifier)> = vec![("built-in rules", Classifier::new(None))]
        .into_iter()
        .chain(UaLists::load(&opawg()).ok().map(|l| ("OPAWG lists + built-in rules", Classifier::new(Some(l)))))
        .collect();
    for (name, cold) in cold_runs {
        let started = Instant::now();
        for ua in &uas {
            std::hint::black_box(cold.classify(ua));
        }
        println!(
            "{name}, every string new: {:.0} User-Agents/s",
            uas.len() as f64 / started.elapsed().as_secs_f64()
        );
    }
    let secret = DeviceSecret::from_bytes([3; 32]);
    let started = Instant::now();
    let n = 2_000_000u32;
    let mut x = 0u64;
    for i in 0..n {
        let ip = std::net::IpAddr::from(i.to_be_bytes());
        x ^= device_key(&secret, Some(ip), &uas[picks[i as usize % picks.len()]], None).0;
    }
    std::hint::black_box(x);
    println!(
        "device keys (keyed BLAKE3 of IP + UA): {:.0} per second",
        n as f64 / started.elapsed().as_secs_f64()
    );
}
