//! The abuse guard (source 001, exception 2): token buckets on the ingest
//! endpoints. Blocked clients are written to an audit table that admins can
//! read — the one place raw IPs are kept, and only for `abuse_retention`.
//!
//! A crowd behind one address (a hospital, a company, a mobile carrier's NAT)
//! is an audience, not an attack, so one address is not one client. Three
//! layers tell them apart:
//! 1. **per address**, before any work: a coarse ceiling sized for tens of
//!    thousands of players behind one address (the SDK sends one request per
//!    player every 10 s);
//! 2. **per client** (address + User-Agent + playback): what one player may
//!    send — far more than a player does, far less than a flood;
//! 3. **new clients per address**: how fast an address may bring clients it
//!    was not seen with lately. A crowd joining an event fits the burst; a
//!    flood that rotates playback ids or User-Agents to dodge layer 2 is held
//!    to this rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use streamtally_model::TenantId;
use streamtally_store::Meta;

use crate::ApiError;

/// Requests per second and burst, per client IP, per client, for new
/// clients of an IP, and per key.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub per_ip: u32,
    pub per_ip_burst: u32,
    /// One player: address + User-Agent + playback.
    pub per_client: u32,
    pub per_client_burst: u32,
    /// Clients an address was not seen with in the last [`CLIENT_MEMORY`].
    pub new_clients_per_ip: u32,
    pub new_clients_burst: u32,
    pub per_key: u32,
    pub per_key_burst: u32,
    /// Failed access-code checks one IP may make per [`FAILURE_WINDOW`] before
    /// every check from it is refused until the window ends; counted per
    /// tenant, so guessing one tenant's codes locks nobody out of another's.
    pub access_failures: u32,
    /// Failed authentications (unknown or wrong keys) one IP may make per
    /// [`FAILURE_WINDOW`] before it may only use keys it has used successfully.
    pub auth_failures: u32,
}

pub const FAILURE_WINDOW: Duration = Duration::from_secs(600);

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_ip: 2_000,
            per_ip_burst: 4_000,
            per_client: 20,
            per_client_burst: 60,
            new_clients_per_ip: 50,
            new_clients_burst: 3_000,
            // 200 000 viewers with the SDK send about 20 000 requests a second on one key.
            per_key: 50_000,
            per_key_burst: 100_000,
            access_failures: 20,
            auth_failures: 50,
        }
    }
}

/// How long an address remembers the clients it carried: a player sends at
/// least every 10 s while playing, and comes back after a pause within this.
pub const CLIENT_MEMORY: Duration = Duration::from_secs(600);

/// A blocked client: its address, the reason, and the tenant whose key it used.
type BlockKey = (IpAddr, &'static str, Option<TenantId>);

/// Per blocked client and reason: when it was last written, and the hits since.
type Recorded = (Instant, i64);

/// When a failure window began, and the failures in it.
type FailureWindow = (Instant, u32);

/// Counts one failure into a window, starting a new window when the old one ended.
fn count_failure<K: std::hash::Hash + Eq>(windows: &Mutex<HashMap<K, FailureWindow>>, key: K) {
    let mut windows = windows.lock().unwrap_or_else(|p| p.into_inner());
    let entry = windows.entry(key).or_insert((Instant::now(), 0));
    if entry.0.elapsed() >= FAILURE_WINDOW {
        *entry = (Instant::now(), 0);
    }
    entry.1 = entry.1.saturating_add(1);
}

/// How long `key` stays refused, when its window holds `max` failures or more.
fn refused_for<K: std::hash::Hash + Eq>(windows: &Mutex<HashMap<K, FailureWindow>>, key: &K, max: u32) -> Option<Duration> {
    match windows.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
        Some((since, n)) if *n >= max && since.elapsed() < FAILURE_WINDOW => Some(FAILURE_WINDOW - since.elapsed()),
        _ => None,
    }
}

/// Keys remembered per address as having authenticated from it.
const TRUSTED_KEYS_PER_IP: usize = 64;

/// A blocked client is written to the audit table at most this often.
const RECORD_EVERY: Duration = Duration::from_secs(10);

pub struct AbuseGuard {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_client: DefaultKeyedRateLimiter<(IpAddr, u64)>,
    new_clients: DefaultKeyedRateLimiter<IpAddr>,
    /// (address, client) → when it was last seen.
    seen: Mutex<HashMap<(IpAddr, u64), Instant>>,
    per_key: DefaultKeyedRateLimiter<String>,
    recorded: Mutex<HashMap<BlockKey, Recorded>>,
    /// Per tenant and IP: when its failure window began and the failures in it.
    failures: Mutex<HashMap<(TenantId, IpAddr), FailureWindow>>,
    max_failures: u32,
    /// Per IP: failed authentications.
    auth_failures: Mutex<HashMap<IpAddr, FailureWindow>>,
    max_auth_failures: u32,
    /// Per IP, the keys (by digest) that authenticated from it lately and
    /// when: while the address is over its failure budget they still may.
    trusted: Mutex<HashMap<IpAddr, HashMap<[u8; 32], Instant>>>,
    meta: Arc<Meta>,
}

fn quota(rate: u32, burst: u32) -> Quota {
    let rate = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

impl AbuseGuard {
    pub fn new(limits: RateLimits, meta: Arc<Meta>) -> Self {
        AbuseGuard {
            per_ip: RateLimiter::keyed(quota(limits.per_ip, limits.per_ip_burst)),
            per_client: RateLimiter::keyed(quota(limits.per_client, limits.per_client_burst)),
            new_clients: RateLimiter::keyed(quota(limits.new_clients_per_ip, limits.new_clients_burst)),
            seen: Mutex::new(HashMap::new()),
            per_key: RateLimiter::keyed(quota(limits.per_key, limits.per_key_burst)),
            recorded: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            max_failures: limits.access_failures.max(1),
            auth_failures: Mutex::new(HashMap::new()),
            max_auth_failures: limits.auth_failures.max(1),
            trusted: Mutex::new(HashMap::new()),
            meta,
        }
    }

    /// Before anything else (even key checks) is spent on a request.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        match self.per_ip.check_key(&ip) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                self.record(ip, "rate limit per IP", None);
                Err(ApiError::TooManyRequests {
                    retry_after: not_until.wait_time_from(DefaultClock::default().now()).as_secs() + 1,
                })
            }
        }
    }

    /// Once the request says which player it is (`client`: a hash of its
    /// User-Agent and playback): the per-client limit, and for a client new to
    /// this address, the new-client limit of the address.
    pub fn check_client(&self, ip: IpAddr, client: u64, tenant: TenantId) -> Result<(), ApiError> {
        let new = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.insert((ip, client), Instant::now()).is_none_or(|at| at.elapsed() >= CLIENT_MEMORY)
        };
        let verdict = if new {
            self.new_clients.check_key(&ip).map_err(|n| (n, "too many new clients per IP"))
        } else {
            Ok(())
        }
        .and_then(|()| self.per_client.check_key(&(ip, client)).map_err(|n| (n, "rate limit per client")));
        match verdict {
            Ok(()) => Ok(()),
            Err((not_until, reason)) => {
                if new {
                    // A refused newcomer is not remembered: it must not use up the address's memory.
                    self.seen.lock().unwrap_or_else(|p| p.into_inner()).remove(&(ip, client));
                }
                self.record(ip, reason, Some(tenant));
                Err(ApiError::TooManyRequests {
                    retry_after: not_until.wait_time_from(DefaultClock::default().now()).as_secs() + 1,
                })
            }
        }
    }

    pub fn check_key(&self, ip: IpAddr, key_id: &str, tenant: Option<TenantId>) -> Result<(), ApiError> {
        match self.per_key.check_key(&key_id.to_string()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                self.record(ip, "rate limit per key", tenant);
                Err(ApiError::TooManyRequests {
                    retry_after: not_until.wait_time_from(DefaultClock::default().now()).as_secs() + 1,
                })
            }
        }
    }

    /// Before an access check: refused while the IP is over its failure budget
    /// for this tenant (guessing codes), whether or not this attempt would succeed.
    pub fn check_access_ip(&self, ip: IpAddr, tenant: TenantId) -> Result<(), ApiError> {
        match refused_for(&self.failures, &(tenant, ip), self.max_failures) {
            Some(left) => {
                self.record(ip, "repeated access-code failures", Some(tenant));
                Err(ApiError::TooManyRequests {
                    retry_after: left.as_secs() + 1,
                })
            }
            None => Ok(()),
        }
    }

    /// Counts a failed access check of an IP for a tenant.
    pub fn access_failed(&self, ip: IpAddr, tenant: TenantId) {
        count_failure(&self.failures, (tenant, ip));
    }

    /// Before a key is verified: refused while the IP is over its budget of
    /// failed authentications (guessing keys). Keys it used successfully
    /// before are not asked here, so a crowd keeps playing beside a guesser.
    pub fn check_auth_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        match refused_for(&self.auth_failures, &ip, self.max_auth_failures) {
            Some(left) => {
                self.record(ip, "repeated authentication failures", None);
                Err(ApiError::TooManyRequests {
                    retry_after: left.as_secs() + 1,
                })
            }
            None => Ok(()),
        }
    }

    /// Counts a failed authentication of an IP.
    pub fn auth_failed(&self, ip: IpAddr) {
        count_failure(&self.auth_failures, ip);
    }

    /// Notes that the key with `digest` authenticated from `ip`.
    pub fn trust(&self, ip: IpAddr, digest: [u8; 32]) {
        let mut trusted = self.trusted.lock().unwrap_or_else(|p| p.into_inner());
        let keys = trusted.entry(ip).or_default();
        // A crowd shares a few keys; an address cycling through thousands is
        // not a crowd, and its oldest are forgotten.
        if keys.len() >= TRUSTED_KEYS_PER_IP && !keys.contains_key(&digest) {
            if let Some(oldest) = keys.iter().min_by_key(|(_, at)| **at).map(|(d, _)| *d) {
                keys.remove(&oldest);
            }
        }
        keys.insert(digest, Instant::now());
    }

    /// Whether the key with `digest` authenticated from `ip` within the failure window.
    pub fn trusted(&self, ip: IpAddr, digest: &[u8; 32]) -> bool {
        self.trusted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ip)
            .and_then(|keys| keys.get(digest))
            .is_some_and(|at| at.elapsed() < FAILURE_WINDOW)
    }

    /// Counts a block; writes it (with the hits since the last write) now and then.
    fn record(&self, ip: IpAddr, reason: &'static str, tenant: Option<TenantId>) {
        let hits = {
            let mut recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
            let entry = recorded.entry((ip, reason, tenant)).or_insert((Instant::now() - RECORD_EVERY, 0));
            entry.1 += 1;
            if entry.0.elapsed() < RECORD_EVERY {
                return;
            }
            entry.0 = Instant::now();
            std::mem::take(&mut entry.1)
        };
        let meta = self.meta.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = meta.record_abuse(&ip.to_string(), reason, tenant, hits) {
                tracing::warn!(error = %e, "cannot record a blocked client");
            }
        });
        tracing::debug!(reason, "blocked a client");
    }

    /// Forgets idle buckets so memory follows the active clients.
    pub fn housekeeping(&self) {
        self.per_ip.retain_recent();
        self.per_client.retain_recent();
        self.new_clients.retain_recent();
        self.per_key.retain_recent();
        self.per_ip.shrink_to_fit();
        self.per_client.shrink_to_fit();
        self.new_clients.shrink_to_fit();
        self.per_key.shrink_to_fit();
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, at| at.elapsed() < CLIENT_MEMORY);
        self.recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (at, hits)| *hits > 0 || at.elapsed() < Duration::from_secs(600));
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
        self.auth_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
        self.trusted.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, keys| {
            keys.retain(|_, at| at.elapsed() < FAILURE_WINDOW);
            !keys.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(limits: RateLimits) -> AbuseGuard {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("streamtally-abuse-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        AbuseGuard::new(limits, Arc::new(Meta::open(&dir.join("meta.sqlite")).unwrap()))
    }

    #[tokio::test]
    async fn keys_that_worked_from_an_address_pass_its_lockout_and_others_do_not() {
        let g = guard(RateLimits {
            auth_failures: 3,
            ..RateLimits::default()
        });
        let (ip, other): (IpAddr, IpAddr) = ("203.0.113.9".parse().unwrap(), "203.0.113.10".parse().unwrap());
        g.trust(ip, [1; 32]);
        for _ in 0..3 {
            g.auth_failed(ip);
        }
        assert!(matches!(g.check_auth_ip(ip), Err(ApiError::TooManyRequests { .. })));
        assert!(g.check_auth_ip(other).is_ok());
        assert!(g.trusted(ip, &[1; 32]));
        assert!(!g.trusted(ip, &[2; 32]));
        assert!(!g.trusted(other, &[1; 32]));
    }
}
