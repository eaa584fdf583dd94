//! Retention: each tenant's old days and its blocked clients' addresses go
//! when their time is up.

use super::*;

/// How often each tenant's `retention_days` is enforced.
pub(crate) const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Drops the days older than each tenant's retention (0 keeps everything).
pub(crate) fn apply_retention(store: &dyn FactStore, meta: &Meta, tenants: &Tenants) {
    let Ok(all) = meta.tenants() else { return };
    let today = chrono::Utc::now().date_naive();
    let default_cutoff = chrono::Utc::now().timestamp() - streamtally_model::Settings::default().abuse_retention.as_secs() as i64;
    if let Err(e) = meta.prune_abuse(None, default_cutoff) {
        tracing::warn!(error = %e, "cannot prune the abuse audit table");
    }
    for t in all {
        let Some(ctx) = tenants.get(t.id) else { continue };
        // Blocked clients' addresses go after the tenant's abuse_retention.
        let cutoff = chrono::Utc::now().timestamp() - ctx.settings.abuse_retention.as_secs() as i64;
        if let Err(e) = meta.prune_abuse(Some(t.id), cutoff) {
            tracing::warn!(error = %e, "cannot prune the abuse audit table");
        }
        if ctx.settings.retention_days != 0 {
            let keep_from = today - chrono::Days::new(u64::from(ctx.settings.retention_days));
            match store.apply_retention(t.id, keep_from) {
                Ok(0) => {}
                Ok(n) => tracing::info!(tenant = %t.name, files = n, %keep_from, "retention dropped old days"),
                Err(e) => tracing::warn!(tenant = %t.name, error = %e, "retention failed; will retry"),
            }
        }
        // Raw events (one user's activity) usually go sooner than the facts.
        if ctx.settings.raw_retention_days != 0 {
            let keep_from = today - chrono::Days::new(u64::from(ctx.settings.raw_retention_days));
            match store.apply_raw_retention(t.id, keep_from) {
                Ok(0) => {}
                Ok(n) => tracing::info!(tenant = %t.name, files = n, %keep_from, "raw retention dropped old days of raw events"),
                Err(e) => tracing::warn!(tenant = %t.name, error = %e, "raw retention failed; will retry"),
            }
        }
    }
}
