//! The abuse guard (source 001, exception 2): token buckets per client IP and
//! per API key on the ingest endpoints. Blocked clients are written to an audit
//! table that admins can read — the one place raw IPs are kept, and only for
//! `abuse_retention`.

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

/// Requests per second and burst, per client IP and per key.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub per_ip: u32,
    pub per_ip_burst: u32,
    pub per_key: u32,
    pub per_key_burst: u32,
    /// Failed access-code checks one IP may make per [`FAILURE_WINDOW`] before
    /// every check from it is refused until the window ends.
    pub access_failures: u32,
}

pub const FAILURE_WINDOW: Duration = Duration::from_secs(600);

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_ip: 200,
            per_ip_burst: 400,
            per_key: 5000,
            per_key_burst: 10_000,
            access_failures: 20,
        }
    }
}

/// A blocked client is written to the audit table at most this often.
const RECORD_EVERY: Duration = Duration::from_secs(10);

pub struct AbuseGuard {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_key: DefaultKeyedRateLimiter<String>,
    recorded: Mutex<HashMap<(IpAddr, &'static str), (Instant, i64)>>,
    /// Per IP: when its failure window began and the failures in it.
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    max_failures: u32,
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
            per_key: RateLimiter::keyed(quota(limits.per_key, limits.per_key_burst)),
            recorded: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            max_failures: limits.access_failures.max(1),
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
    /// (guessing codes), whether or not this attempt would succeed.
    pub fn check_access_ip(&self, ip: IpAddr, tenant: TenantId) -> Result<(), ApiError> {
        let over = {
            let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            match failures.get(&ip) {
                Some((since, n)) if *n >= self.max_failures && since.elapsed() < FAILURE_WINDOW => Some(FAILURE_WINDOW - since.elapsed()),
                _ => None,
            }
        };
        match over {
            Some(left) => {
                self.record(ip, "repeated access-code failures", Some(tenant));
                Err(ApiError::TooManyRequests {
                    retry_after: left.as_secs() + 1,
                })
            }
            None => Ok(()),
        }
    }

    /// Counts a failed access check of an IP.
    pub fn access_failed(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = failures.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// Counts a block; writes it (with the hits since the last write) now and then.
    fn record(&self, ip: IpAddr, reason: &'static str, tenant: Option<TenantId>) {
        let hits = {
            let mut recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
            let entry = recorded.entry((ip, reason)).or_insert((Instant::now() - RECORD_EVERY, 0));
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
        self.per_key.retain_recent();
        self.per_ip.shrink_to_fit();
        self.per_key.shrink_to_fit();
        self.recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (at, hits)| *hits > 0 || at.elapsed() < Duration::from_secs(600));
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
    }
}
