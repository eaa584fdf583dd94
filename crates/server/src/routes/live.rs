//! Live (spec §5): the contents live now, one stream's per-minute concurrency
//! and live-detail summary, the overview of a range, and a Server-Sent Events
//! stream of the current figures for the dashboard.

use std::convert::Infallible;
use std::time::Duration;

use crate::extract::Query;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use chrono_tz::Tz;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use streamtally_model::{parse_ts, Micros, TenantId};
use streamtally_query::{format_in_tz, live_details, Ask, LiveDetail, LiveQuery, MINUTE};
use streamtally_store::Role;

use crate::auth::{authenticate, bearer, tenant_of};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveParams {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// The instant to report (default: now), e.g. to replay a past event.
    at: Option<String>,
    /// How many minutes back a content counts as live now (default 5).
    minutes: Option<i64>,
    /// IANA time zone for days and buckets (default: the tenant's `timezone` setting).
    tz: Option<String>,
    /// Seconds between SSE pushes (default 5).
    interval: Option<u64>,
}

async fn reader(state: &AppState, headers: &HeaderMap, tenant: Option<&str>, tz: Option<&str>) -> Result<(TenantId, Tz), ApiError> {
    reader_with_key(state, headers, tenant, tz).await.map(|(t, tz, _)| (t, tz))
}

/// [`reader`], and the id of the key that asked.
async fn reader_with_key(state: &AppState, headers: &HeaderMap, tenant: Option<&str>, tz: Option<&str>) -> Result<(TenantId, Tz, String), ApiError> {
    let principal = authenticate(state, bearer(headers), Role::Read).await?;
    let tenant = tenant_of(state, &principal, tenant)?;
    Ok((tenant, super::zone(state, tenant, tz)?, principal.key_id))
}

/// `minutes` (1–60, default 5) and `interval` (1–300 s, default 5), refused outside.
fn minutes_and_interval(p: &LiveParams) -> Result<(i64, Duration), ApiError> {
    let minutes = p.minutes.unwrap_or(5);
    if !(1..=60).contains(&minutes) {
        return Err(ApiError::BadRequest(format!("`minutes` must be 1 to 60, not {minutes}")));
    }
    let interval = p.interval.unwrap_or(5);
    if !(1..=300).contains(&interval) {
        return Err(ApiError::BadRequest(format!("`interval` must be 1 to 300 seconds, not {interval}")));
    }
    Ok((minutes, Duration::from_secs(interval)))
}

fn instant(s: Option<&str>, field: &'static str) -> Result<Option<Micros>, ApiError> {
    s.map(|v| parse_ts(v).ok_or_else(|| ApiError::BadRequest(format!("`{field}` is not a time: `{v}`"))))
        .transpose()
}

/// The live contents of the last minutes with the viewers of `at`'s minute.
async fn live_now(state: &AppState, tenant: TenantId, tz: Tz, at: Micros, minutes: i64) -> Result<Value, ApiError> {
    let q = LiveQuery::recent(at, minutes);
    let tables = state.queries.run(tenant, async { Ok(state.pipeline.store().ask(tenant, &q).await?) }).await?;
    let minute = at.div_euclid(MINUTE) * MINUTE;
    let mut contents: Vec<(i64, Value)> = live_details(&tables)
        .into_iter()
        .map(|d| {
            let now = d.viewers_in(minute);
            let v = json!({
                "content_id": d.content_id,
                "title": d.title,
                "viewers": now,
                "previous_minute_viewers": d.viewers_in(minute - MINUTE),
                "peak": d.peak,
                "peak_minute": d.peak_minute.map(|m| format_in_tz(m, tz)),
                "last_active_minute": d.last_minute().map(|m| format_in_tz(m, tz)),
            });
            (now, v)
        })
        .collect();
    contents.sort_by_key(|c| std::cmp::Reverse(c.0));
    Ok(json!({
        "at": format_in_tz(at, tz),
        "minute": format_in_tz(minute, tz),
        "viewers": contents.iter().map(|(n, _)| n).sum::<i64>(),
        "contents": contents.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    }))
}

/// `GET /api/v1/live`
#[utoipa::path(
    get,
    path = "/api/v1/live",
    tag = "live",
    summary = "Live contents now, with current viewers",
    params(LiveParams),
    responses(
        (status = 200, description = "Live contents", body = Object),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_live(State(state): State<AppState>, Query(p): Query<LiveParams>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (tenant, tz) = reader(&state, &headers, p.tenant.as_deref(), p.tz.as_deref()).await?;
    let (minutes, _) = minutes_and_interval(&p)?;
    let at = instant(p.at.as_deref(), "at")?.unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
    Ok(Json(live_now(&state, tenant, tz, at, minutes).await?))
}

/// `GET /api/v1/live/stream`: `event: live` with the `GET /api/v1/live` figures every few seconds.
#[utoipa::path(
    get,
    path = "/api/v1/live/stream",
    tag = "live",
    summary = "Server-sent events: the live figures every few seconds",
    params(LiveParams),
    responses(
        (status = 200, description = "`event: live` messages", content_type = "text/event-stream", body = String),
        crate::openapi::AdminRefusals,
        (status = 429, description = "Too many requests or failures; see Retry-After", body = crate::openapi::ErrorBody),
    ),
    security(("api_key" = [])),
)]
pub async fn get_stream(
    State(state): State<AppState>,
    Query(p): Query<LiveParams>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (tenant, tz, key_id) = reader_with_key(&state, &headers, p.tenant.as_deref(), p.tz.as_deref()).await?;
    let (minutes, every) = minutes_and_interval(&p)?;
    // Held by the stream: its place is given back when the client goes.
    let slot = state.streams.take(&key_id, tenant, &state.config.readers)?;
    let ticker = tokio::time::interval(every);
    let mut closing = state.closing.subscribe();
    let events = stream::unfold((state, ticker, slot), move |(state, mut ticker, slot)| async move {
        ticker.tick().await;
        let second = chrono::Utc::now().timestamp();
        // Every subscriber of this tenant in this second shares one computation.
        let shared = state
            .live_share
            .get((tenant, tz.name().to_string(), minutes), second, || async {
                state.pipeline.metrics().live_computations.inc();
                live_now(&state, tenant, tz, second * 1_000_000, minutes).await
            })
            .await;
        let event = match shared {
            Ok(v) => Event::default().event("live").data(v.to_string()),
            Err(e) => Event::default().event("error").data(json!({ "error": e.to_string() }).to_string()),
        };
        Some((Ok(event), (state, ticker, slot)))
    })
    .take_until(async move {
        let _ = closing.wait_for(|c| *c).await;
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// Start of the range: an RFC 3339 instant or a day (YYYY-MM-DD, in `tz`).
    from: Option<String>,
    /// End of the range (exclusive): an RFC 3339 instant or a day (YYYY-MM-DD, in `tz`).
    to: Option<String>,
    /// Filters `dimension:value`, several joined by `,`.
    filter: Option<String>,
    /// IANA time zone for days and buckets (default: the tenant's `timezone` setting).
    tz: Option<String>,
    /// Sort by peak, average, viewers, watch_time, first_minute or content_id.
    sort: Option<String>,
    /// `desc` (default) or `asc`.
    order: Option<String>,
}

/// The range asked for; by default the last 24 hours up to the end of this minute.
fn range(p: &RangeParams) -> (String, String) {
    let now = chrono::Utc::now();
    let to = p.to.clone().unwrap_or_else(|| (now + chrono::Duration::minutes(1)).to_rfc3339());
    let from = p.from.clone().unwrap_or_else(|| (now - chrono::Duration::hours(24)).to_rfc3339());
    (from, to)
}

async fn detail(state: &AppState, (tenant, tz): (TenantId, chrono_tz::Tz), content_id: &str, p: &RangeParams) -> Result<Option<LiveDetail>, ApiError> {
    let (from, to) = range(p);
    let q = LiveQuery::parse(&from, &to, Some(content_id), p.filter.as_deref(), tz)?;
    let tables = state.queries.run(tenant, async { Ok(state.pipeline.store().ask(tenant, &q).await?) }).await?;
    Ok(live_details(&tables).into_iter().next())
}

/// `GET /api/v1/live/{content_id}/concurrency?from&to&filter`
#[utoipa::path(
    get,
    path = "/api/v1/live/{content_id}/concurrency",
    tag = "live",
    summary = "Viewers per minute of one live content",
    params(RangeParams, ("content_id" = String, Path, description = "The live content")),
    responses(
        (status = 200, description = "Viewers per minute", body = Object),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_concurrency(
    State(state): State<AppState>,
    Path(content_id): Path<String>,
    Query(p): Query<RangeParams>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (tenant, tz) = reader(&state, &headers, p.tenant.as_deref(), p.tz.as_deref()).await?;
    let d = detail(&state, (tenant, tz), &content_id, &p).await?;
    Ok(Json(json!({
        "content_id": content_id,
        "series": d.as_ref().map(|d| d.series_json(tz)).unwrap_or(json!([])),
        "peak": d.as_ref().map(|d| d.peak).unwrap_or(0),
    })))
}

/// `GET /api/v1/live/{content_id}/summary?from&to&filter`
#[utoipa::path(
    get,
    path = "/api/v1/live/{content_id}/summary",
    tag = "live",
    summary = "Summary of one live content: peak, average, viewers, time",
    params(RangeParams, ("content_id" = String, Path, description = "The live content")),
    responses(
        (status = 200, description = "The summary", body = Object),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_summary(
    State(state): State<AppState>,
    Path(content_id): Path<String>,
    Query(p): Query<RangeParams>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (tenant, tz) = reader(&state, &headers, p.tenant.as_deref(), p.tz.as_deref()).await?;
    match detail(&state, (tenant, tz), &content_id, &p).await? {
        Some(d) => Ok(Json(d.summary_json(tz))),
        None => Err(ApiError::NotFound(format!("no viewers of `{content_id}` in this range"))),
    }
}

/// `GET /api/v1/live/overview?from&to&sort=peak|average|viewers|watch_time|first_minute|content_id&order=desc|asc`
#[utoipa::path(
    get,
    path = "/api/v1/live/overview",
    tag = "live",
    summary = "Live broadcasts of a range with peak and average viewers",
    params(RangeParams),
    responses(
        (status = 200, description = "One row per broadcast", body = Object),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_overview(State(state): State<AppState>, Query(p): Query<RangeParams>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (tenant, tz) = reader(&state, &headers, p.tenant.as_deref(), p.tz.as_deref()).await?;
    let (from, to) = range(&p);
    let q = LiveQuery::parse(&from, &to, None, p.filter.as_deref(), tz)?;
    let tables = state.queries.run(tenant, async { Ok(state.pipeline.store().ask(tenant, &q).await?) }).await?;
    let mut details = live_details(&tables);
    let sort = p.sort.as_deref().unwrap_or("peak");
    let key = |d: &LiveDetail| -> f64 {
        match sort {
            "average" => d.average,
            "viewers" => d.viewers as f64,
            "watch_time" => d.watch_time,
            "first_minute" => d.first_minute().unwrap_or(0) as f64,
            _ => d.peak as f64,
        }
    };
    if !matches!(sort, "peak" | "average" | "viewers" | "watch_time" | "first_minute" | "content_id") {
        return Err(ApiError::BadRequest(format!(
            "cannot sort by `{sort}` (peak, average, viewers, watch_time, first_minute or content_id)"
        )));
    }
    if sort == "content_id" {
        details.sort_by(|a, b| a.content_id.cmp(&b.content_id));
    } else {
        details.sort_by(|a, b| key(a).total_cmp(&key(b)).then_with(|| a.content_id.cmp(&b.content_id)));
    }
    let descending = match p.order.as_deref() {
        None => sort != "content_id" && sort != "first_minute",
        Some("desc") => true,
        Some("asc") => false,
        Some(o) => return Err(ApiError::BadRequest(format!("order `{o}` is neither asc nor desc"))),
    };
    if descending {
        details.reverse();
    }
    Ok(Json(json!({ "contents": details.iter().map(|d| d.summary_json(tz)).collect::<Vec<_>>() })))
}
