//! The rollup builder: a thread of its own that has the store make the
//! rollups its files of facts want (`FactStore::build_rollups`), a few
//! seconds of work at a time, so that neither counting nor checkpoints wait
//! for it. Queries never depend on it: facts without a rollup are read as
//! facts.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use streamtally_store::FactStore;

/// How long the builder rests between rounds when there was nothing to do…
const REST: Duration = Duration::from_secs(2);
/// …and how long one round may work before it looks whether to stop.
const ROUND: Duration = Duration::from_secs(5);

/// Builds rollups until `stop` is dropped (the pipeline shuts down).
pub(crate) fn builder(store: Arc<dyn FactStore>, stop: Receiver<()>) {
    let mut rest = Duration::from_millis(500);
    loop {
        match stop.recv_timeout(rest) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        rest = match store.build_rollups(ROUND) {
            // More may want one: go on soon.
            Ok(made) if made > 0 => {
                tracing::debug!(made, "rollups made");
                Duration::from_millis(100)
            }
            Ok(_) => REST,
            Err(e) => {
                tracing::warn!(error = %e, "rollups could not be made; the facts are read instead");
                REST
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use streamtally_model::{parse_ts, ClientFamily, DeviceKey, EnrichedEvent, EventType, Geo, Micros, PlayerEvent, Text, MICROS_PER_SEC};
    use streamtally_query::{rollup_definition, Ask, MetricsQuery};
    use streamtally_store::Subject;

    use crate::tests::{runtime, wait_applied};
    use crate::{open_serving, Pipeline, PipelineConfig};

    /// Playbacks of a few days across hours (Berlin's midnight among them):
    /// devices on two browsers and countries, some with users, some of
    /// podcasts downloaded, and the quality facts a rollup leaves out.
    fn playbacks(first: Micros, n: u64) -> Vec<EnrichedEvent> {
        let mut out = Vec::new();
        for p in 0..n {
            let device = p % 23;
            let start = first + (p as i64 * 1_733) % (3 * 86_400) * MICROS_PER_SEC;
            let (playback, content) = (format!("p{p}"), format!("c{}", p % 5));
            let steps: Vec<EventType> = match p % 4 {
                3 => vec![EventType::FileDownloaded],
                _ => std::iter::once(EventType::Play)
                    .chain(std::iter::repeat_n(EventType::Playing, 1 + (p % 6) as usize))
                    .chain([EventType::Pause])
                    .collect(),
            };
            for (i, kind) in steps.into_iter().enumerate() {
                let at = start + i as i64 * 40 * MICROS_PER_SEC;
                let mut e = PlayerEvent::new(kind, at, &playback, &content);
                if kind == EventType::Playing {
                    e.duration = Some(40.0 / (1 + p % 3) as f64);
                }
                e.property = Some(["web", "app"][(p % 2) as usize].into());
                if device % 4 == 0 {
                    e.user_id = Some(format!("user-{device}"));
                }
                out.push(EnrichedEvent {
                    received_at: at,
                    event: e,
                    device_key: DeviceKey(device * 7_919),
                    referrer_host: (p % 3 == 0).then(|| Text::from("news.example")),
                    client: ClientFamily {
                        browser: Some(Text::from(["Firefox", "Chrome"][(device % 2) as usize])),
                        ..ClientFamily::UNKNOWN
                    },
                    geo: Geo {
                        country: Some(Text::from(["DE", "BR", "US"][(device % 3) as usize])),
                        ..Geo::UNKNOWN
                    },
                });
            }
        }
        out.sort_by_key(|e| e.event.ts);
        out
    }

    fn questions() -> Vec<MetricsQuery> {
        let all = "starts,streams,time,downloads,devices,views,users,avg_time";
        let q = |group_by: Option<&str>, filter: Option<&str>, tz: Option<&str>| {
            MetricsQuery::parse("2026-03-01", "2026-03-06", all, group_by, filter, tz).unwrap()
        };
        vec![
            q(None, None, None),
            q(Some("day"), None, None),
            q(Some("day"), None, Some("Europe/Berlin")),
            q(Some("hour,content_id"), None, Some("America/Sao_Paulo")),
            q(Some("content_id"), Some("property:web"), None),
            q(Some("country,browser"), None, None),
            q(Some("referrer_host,week"), Some("country:DE,country:US"), None),
            q(Some("month,content_kind"), None, None),
            // Fewer metrics: rows of other kinds only (a download's hour, asked for starts) make no group.
            MetricsQuery::parse("2026-03-01", "2026-03-06", "starts,time", Some("hour"), None, None).unwrap(),
            MetricsQuery::parse("2026-03-01", "2026-03-06", "downloads", Some("hour,content_id"), None, None).unwrap(),
            MetricsQuery::parse("2026-03-01", "2026-03-06", "users,devices", Some("hour,country"), None, None).unwrap(),
        ]
    }

    fn assert_same_answers(p: &Pipeline, tenant: i64, when: &str) {
        let rt = runtime();
        for q in questions() {
            assert!(reads_rollups(&q), "{q:?}");
            let rolled = rt.block_on(p.store().query(tenant, &q)).unwrap();
            let facts = rt.block_on(p.store().query_from_facts(tenant, &q)).unwrap();
            assert_eq!(rolled, facts, "{when}: {:?} by {:?}", q.tz, q.group_by);
            assert!(!facts.rows.rows.is_empty(), "{when}: nothing counted by {:?}", q.group_by);
        }
    }

    fn reads_rollups(q: &MetricsQuery) -> bool {
        use streamtally_query::Select;
        q.scope().rollups.is_some()
    }

    fn open(dir: &std::path::Path) -> Pipeline {
        let config = PipelineConfig {
            checkpoint_interval: Duration::from_secs(3_600),
            checkpoint_rows: 10_000_000,
            ..PipelineConfig::default()
        };
        open_serving(dir, config).unwrap()
    }

    /// A pipeline with one tenant that counted `events`, all of them in files.
    fn counted_in_files(dir: &std::path::Path, events: Vec<EnrichedEvent>) -> (Pipeline, i64) {
        let p = open(dir);
        let tenant = p.meta().create_tenant("t").unwrap().id;
        let ctx = p.tenants().get(tenant).unwrap();
        runtime().block_on(p.submit(&ctx, events)).unwrap();
        wait_applied(&p);
        p.store().flush(p.progress().applied_lsn.load(std::sync::atomic::Ordering::SeqCst)).unwrap();
        (p, tenant)
    }

    #[test]
    fn rollups_answer_as_the_facts_do_before_during_and_after_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let events = playbacks(parse_ts("2026-03-01T18:00:00Z").unwrap(), 600);
        let (early, late) = events.split_at(events.len() * 2 / 3);
        let (p, tenant) = counted_in_files(dir.path(), early.to_vec());
        let (rt, store) = (runtime(), p.store());
        // Nothing rolled up yet: every fact is read as a fact.
        assert_same_answers(&p, tenant, "before any rollup");
        store.define_rollup(rollup_definition());
        assert!(store.build_rollups(Duration::from_secs(60)).unwrap() > 0);
        assert_eq!(store.build_rollups(Duration::from_secs(60)).unwrap(), 0, "each file is rolled up once");
        assert_same_answers(&p, tenant, "rolled up");
        // Facts in memory, not in any file, are read beside the rollups.
        let ctx = p.tenants().get(tenant).unwrap();
        rt.block_on(p.submit(&ctx, late.to_vec())).unwrap();
        wait_applied(&p);
        assert_same_answers(&p, tenant, "rolled up, with facts in memory");

        // An erased device leaves the rollups at once (the rewritten file has
        // none until it is made again), and does not come back when it is.
        let devices = |p: &Pipeline| {
            let q = MetricsQuery::parse("2026-03-01", "2026-03-06", "devices", None, None, None).unwrap();
            rt.block_on(p.store().query(tenant, &q)).unwrap().totals.rows[0][0].clone()
        };
        let before = devices(&p);
        rt.block_on(p.erase(tenant, Subject::Device(DeviceKey(7_919)))).unwrap();
        let after = devices(&p);
        assert_ne!(before, after);
        assert_same_answers(&p, tenant, "erased, not rolled up again");
        assert!(store.build_rollups(Duration::from_secs(60)).unwrap() > 0);
        assert_eq!(devices(&p), after);
        assert_same_answers(&p, tenant, "erased and rolled up again");
        p.shutdown();
    }

    #[test]
    fn a_serving_pipeline_makes_the_rollups_itself_and_they_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (p, tenant) = counted_in_files(dir.path(), playbacks(parse_ts("2026-03-01T18:00:00Z").unwrap(), 200));
        p.keep_rollups(rollup_definition()).unwrap();
        // The builder's thread makes them all: nothing is left waiting.
        let mut status = None;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            status = p.store().rollup_status();
            if status.is_some_and(|s| s.rolled > 0 && s.waiting == 0) {
                break;
            }
        }
        let made = status.expect("rollups kept").rolled;
        assert!(made > 0 && status.unwrap().waiting == 0, "not all rollups made: {status:?}");
        p.shutdown();
        drop(p);
        let p = open(dir.path());
        assert_eq!(rolled_files(dir.path()), made, "the files' rollups stay theirs across a restart");
        assert_same_answers(&p, tenant, "after a restart");
        p.shutdown();
    }

    /// Rollup files in the data folder.
    fn rolled_files(root: &std::path::Path) -> usize {
        fn walk(dir: &std::path::Path, n: &mut usize) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, n);
                } else if path.to_string_lossy().contains(".rollup-") {
                    *n += 1;
                }
            }
        }
        let mut n = 0;
        walk(root, &mut n);
        n
    }
}
