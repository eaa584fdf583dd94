//! The quality page (spec §8d): what viewers felt — how long they waited for
//! the first frame, how often it stalled, how often it failed, at what
//! bitrate — over the range and per content, from `GET /api/v1/qoe`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::chart;
use super::html::{self, cell, format_number};
use super::pages::{num, pairs, rows};
use super::view::ViewParams;
use super::{csv_link, Page};
use crate::extract::Query;
use crate::AppState;

const METRICS: &str = "startup_median,startup_p95,rebuffer_ratio,rebuffer_frequency,failure_rate,exits_before_start,bitrate_avg,bitrate_switches,errors";

/// The columns of the tables, with their headings.
const COLUMNS: [(&str, &str); 9] = [
    ("startup_median", "Startup, median (s)"),
    ("startup_p95", "Startup, 95th percentile (s)"),
    ("rebuffer_ratio", "Rebuffering (share of time)"),
    ("rebuffer_frequency", "Stalls per minute"),
    ("failure_rate", "Failed starts (share)"),
    ("exits_before_start", "Exits before start"),
    ("bitrate_avg", "Average bitrate (kbps)"),
    ("bitrate_switches", "Bitrate switches"),
    ("errors", "Errors (not fatal)"),
];

/// A share as a percentage for a tile; "—" when there is none.
fn percent(v: &Value) -> String {
    v.as_f64().map_or("—".into(), |f| format!("{:.1} %", f * 100.0))
}

/// Seconds for a tile; "—" when there are none.
fn seconds(v: &Value) -> String {
    v.as_f64().map_or("—".into(), |f| format!("{f:.2} s"))
}

pub async fn quality(State(state): State<AppState>, peer: ConnectInfo<SocketAddr>, headers: HeaderMap, Query(view): Query<ViewParams>) -> Response {
    let page = match Page::open(state, peer, &headers, view).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let days = match page.view.days(page.today, page.tz) {
        Ok(d) => d,
        Err(e) => return page.render("Quality", "quality", &html::refused(&e)),
    };
    let (from, to) = days.bounds();
    let unit = if days.len() <= 2 { "hour" } else { "day" };
    let filter = page.view.filter().unwrap_or_default();
    let ask = |group_by: &str| {
        let mut q = vec![
            ("from", from.clone()),
            ("to", to.clone()),
            ("metrics", METRICS.to_string()),
            ("group_by", group_by.to_string()),
        ];
        if !filter.is_empty() {
            q.push(("filter", filter.clone()));
        }
        q
    };
    let series_q = ask(unit);
    let series = page.api("/api/v1/qoe", &pairs(&series_q)).await;
    if let Some(e) = series.error() {
        return page.render("Quality", "quality", &html::refused(&e));
    }
    let series = series.json();
    let totals = &series["totals"];
    let r = rows(&series);
    let mut body = html::tiles(&[
        ("Startup, median", seconds(&totals["startup_median"]), None),
        ("Startup, 95th percentile", seconds(&totals["startup_p95"]), None),
        ("Rebuffering", percent(&totals["rebuffer_ratio"]), None),
        ("Failed starts", percent(&totals["failure_rate"]), None),
        ("Exits before start", format_number(num(&totals["exits_before_start"])), None),
        (
            "Average bitrate",
            totals["bitrate_avg"].as_f64().map_or("—".into(), |b| format!("{} kbps", format_number(b))),
            None,
        ),
    ]);
    if totals["startup_median"].is_null() && totals["rebuffer_ratio"].is_null() {
        body.push_str(&html::empty(
            "No quality reports in this range",
            "the player SDK reports startup, stalls and errors by itself; players without it can send CMCD to your CDN, whose logs you import.",
        ));
    }
    let labels: Vec<String> = r.iter().map(|x| cell(&x[unit])).collect();
    body.push_str(&chart::lines(
        "Startup time (s)",
        &labels,
        &[
            ("median", r.iter().map(|x| num(&x["startup_median"])).collect()),
            ("95th percentile", r.iter().map(|x| num(&x["startup_p95"])).collect()),
        ],
    ));
    let mut over_time = vec![(unit, "Period")];
    over_time.extend(COLUMNS);
    body.push_str(&html::table("Quality over time", &over_time, &r));
    body.push_str(&csv_link("/api/v1/qoe", &pairs(&series_q), &page.tenant_param));
    let contents_q = ask("content_id");
    let contents = rows(&page.api("/api/v1/qoe", &pairs(&contents_q)).await.json());
    let mut per_content = vec![("content_id", "Content")];
    per_content.extend(COLUMNS);
    body.push_str(&html::table("Quality per content", &per_content, &contents));
    body.push_str(&csv_link("/api/v1/qoe", &pairs(&contents_q), &page.tenant_param));
    page.render("Quality", "quality", &body)
}
