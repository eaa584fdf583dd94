//! CDN traffic (spec §7): what the CDN served, bots included.

use hashbrown::HashMap as FastMap;
use streamtally_model::{ClientFamily, DeviceKey, EnrichedRequest, Fact, FactKind, Geo, Micros, Served, Source, Text, MICROS_PER_SEC};

use crate::filters::source_of;

/// CDN traffic of the log requests of one input batch, summed per 5-minute
/// bucket, zone, POP, status, cache status and source: one fact per sum
/// instead of one per line, since CDN metrics need no more (and a busy CDN
/// log has thousands of lines per bucket).
#[derive(Debug, Default)]
pub struct CdnTally {
    sums: FastMap<CdnKey, (u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct CdnKey {
    bucket: Micros,
    status: u16,
    cache_status: Option<Text>,
    pop: Option<Text>,
    zone: Option<Text>,
    source: Source,
}

/// CDN buckets are five minutes long.
pub const CDN_BUCKET: Micros = 5 * 60 * MICROS_PER_SEC;

impl CdnTally {
    pub fn add(&mut self, r: &EnrichedRequest) {
        let key = CdnKey {
            bucket: r.ts.div_euclid(CDN_BUCKET) * CDN_BUCKET,
            status: r.status,
            cache_status: r.cache_status.clone(),
            pop: r.pop.clone(),
            zone: r.zone.clone(),
            source: source_of(r),
        };
        let sum = self.sums.entry(key).or_default();
        sum.0 += 1;
        // Saturating: a sum that cannot grow further is still the largest one.
        sum.1 = sum.1.saturating_add(r.bytes);
    }

    /// The sums as `request` facts (in a fixed order), leaving the tally empty.
    pub fn drain_into<'a>(&mut self, lsn: u64, property: &'a str, out: &mut Vec<Fact<'a>>) {
        let mut sums: Vec<(CdnKey, (u64, u64))> = self.sums.drain().collect();
        sums.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (k, (requests, bytes)) in sums {
            out.push(Fact {
                kind: FactKind::Request,
                ts: k.bucket,
                value: bytes as f64,
                // A sum over devices: it belongs to none.
                device_key: DeviceKey(0),
                content_id: None,
                playback_id: None,
                source: k.source,
                property,
                content_kind: None,
                media: None,
                referrer_host: None,
                client: &ClientFamily::UNKNOWN,
                geo: &Geo::UNKNOWN,
                user_id: None,
                dimensions: None,
                span: None,
                near: None,
                bitrate: None,
                access_code: None,
                served: Some(Box::new(Served {
                    requests,
                    status: k.status,
                    cache_status: k.cache_status,
                    pop: k.pop,
                    zone: k.zone,
                })),
                lsn,
            });
        }
    }
}
