//! The pages: each reads the view from the URL, asks the API, and shows
//! tiles, charts with their tables, and a CSV link for what it shows.

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Datelike;
use serde_json::Value;
use std::net::SocketAddr;

use super::chart;
use super::html::{self, cell, duration, esc, format_number};
use super::view::ViewParams;
use super::{csv_link, Page};
use crate::extract::Query;
use crate::AppState;

const METRICS: [(&str, &str); 7] = [
    ("starts", "Starts"),
    ("streams", "Streams"),
    ("time", "Time"),
    ("downloads", "Downloads"),
    ("devices", "Devices"),
    ("views", "Views"),
    ("users", "Users"),
];

pub(super) fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

pub(super) fn rows(v: &Value) -> Vec<Value> {
    v["rows"].as_array().cloned().unwrap_or_default()
}

/// Starts, streams, time… of the range against the same length before, a
/// series over the range, and the top contents, properties, referrers,
/// countries, device types and apps.
pub async fn overview(State(state): State<AppState>, peer: ConnectInfo<SocketAddr>, headers: HeaderMap, Query(view): Query<ViewParams>) -> Response {
    let page = match Page::open(state, peer, &headers, view).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let days = match page.view.days(page.today, page.tz) {
        Ok(d) => d,
        Err(e) => return page.render("Overview", "overview", &html::refused(&e)),
    };
    let (from, to) = days.bounds();
    let (pfrom, pto) = days.previous().bounds();
    let filter = page.view.filter().unwrap_or_default();
    let all = METRICS.map(|(m, _)| m).join(",");
    let ask = |from: &str, to: &str, metrics: &str, group_by: Option<&str>| {
        let mut p = vec![("from", from.to_string()), ("to", to.to_string()), ("metrics", metrics.to_string())];
        if let Some(g) = group_by {
            p.push(("group_by", g.to_string()));
        }
        if !filter.is_empty() {
            p.push(("filter", filter.clone()));
        }
        p
    };
    let unit = days.unit();
    let (now_q, before_q) = (ask(&from, &to, &all, None), ask(&pfrom, &pto, &all, None));
    let series_q = ask(&from, &to, "starts,streams,devices,time", Some(unit));
    let (now_a, before_a, series_a) = (pairs(&now_q), pairs(&before_q), pairs(&series_q));
    // The totals, the period before and the series, asked together.
    let (current, before, series) = futures_util::join!(
        page.api("/api/v1/metrics", &now_a),
        page.api("/api/v1/metrics", &before_a),
        page.api("/api/v1/metrics", &series_a)
    );
    if let Some(e) = current.error() {
        return page.render("Overview", "overview", &html::refused(&e));
    }
    let (before, series) = (before.json(), series.json());
    let current = current.json();
    let totals = &current["totals"];
    let tiles: Vec<(&str, String, Option<f64>)> = METRICS
        .iter()
        .map(|(m, label)| {
            let (now, was) = (num(&totals[*m]), num(&before["totals"][*m]));
            let shown = if *m == "time" { duration(now) } else { format_number(now) };
            (*label, shown, (was > 0.0).then(|| (now - was) / was * 100.0))
        })
        .collect();
    let mut body = html::tiles(&tiles);
    if num(&totals["starts"]) == 0.0 && num(&totals["downloads"]) == 0.0 {
        body.push_str(&html::empty(
            "No events yet",
            "add the player snippet to your pages: <code>&lt;script src=\"/sdk/streamtally.js\"&gt;&lt;/script&gt;</code> and <code>streamtally.track(video, {key: \"INGEST_KEY\", contentId: \"…\"})</code>, or import your CDN logs with <code>streamtally import</code>.",
        ));
    }
    let series_rows = fill(rows(&series), unit, &days.buckets(unit));
    let labels: Vec<String> = series_rows.iter().map(|r| cell(&r[unit])).collect();
    let line = |m: &str| series_rows.iter().map(|r| num(&r[m])).collect::<Vec<f64>>();
    body.push_str("<section><h2>Over time</h2>");
    body.push_str(&chart::lines(
        "Starts and streams",
        &labels,
        &[("starts", line("starts")), ("streams", line("streams")), ("devices", line("devices"))],
    ));
    body.push_str(&html::table(
        "Starts, streams, devices and time",
        &[
            (unit, "Period"),
            ("starts", "Starts"),
            ("streams", "Streams"),
            ("devices", "Devices"),
            ("time", "Time (s)"),
        ],
        &series_rows,
    ));
    body.push_str(&csv_link("/api/v1/metrics", &series_a, &page.tenant_param));
    body.push_str("</section><section class=\"tops\">");
    let tops = [
        ("content_id", "Top contents"),
        ("property", "Properties"),
        ("referrer_host", "Referrers"),
        ("country", "Countries"),
        ("device_type", "Device types"),
        ("app", "Apps"),
    ];
    let questions: Vec<Vec<(&'static str, String)>> = tops.iter().map(|(dim, _)| ask(&from, &to, "starts,time,devices", Some(dim))).collect();
    let asked: Vec<Vec<(&str, &str)>> = questions.iter().map(|q| pairs(q)).collect();
    // Asked together: the API runs a few of a tenant's questions at a time.
    let answers = futures_util::future::join_all(asked.iter().map(|q| page.api("/api/v1/metrics", q))).await;
    for (((dim, title), q), answer) in tops.iter().zip(&asked).zip(answers) {
        let mut top = rows(&answer.json());
        top.sort_by(|a, b| num(&b["starts"]).total_cmp(&num(&a["starts"])));
        top.truncate(10);
        body.push_str(&format!("<div><h2>{}</h2>", esc(title)));
        body.push_str(&html::table(
            title,
            &[(dim, "Name"), ("starts", "Starts"), ("time", "Time (s)"), ("devices", "Devices")],
            &top,
        ));
        body.push_str(&csv_link("/api/v1/metrics", q, &page.tenant_param));
        body.push_str("</div>");
    }
    body.push_str("</section>");
    page.render("Overview", "overview", &body)
}

/// The API's rows of a series with a zero row for every bucket it has none of.
fn fill(rows: Vec<Value>, unit: &str, buckets: &[String]) -> Vec<Value> {
    if buckets.is_empty() {
        return rows;
    }
    let mut by_bucket: std::collections::HashMap<String, Value> = rows.into_iter().map(|r| (cell(&r[unit]), r)).collect();
    buckets
        .iter()
        .map(|b| {
            by_bucket
                .remove(b)
                .unwrap_or_else(|| serde_json::json!({ unit: b, "starts": 0, "streams": 0, "devices": 0, "time": 0 }))
        })
        .collect()
}

pub(super) fn pairs<'a>(p: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    p.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Viewers of every live content now (updated from the SSE stream), one
/// stream's per-minute concurrency, and the range's past broadcasts.
pub async fn live(State(state): State<AppState>, peer: ConnectInfo<SocketAddr>, headers: HeaderMap, Query(view): Query<ViewParams>) -> Response {
    let page = match Page::open(state, peer, &headers, view).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = page.api("/api/v1/live", &[]).await;
    if let Some(e) = now.error() {
        return page.render("Live", "live", &html::refused(&e));
    }
    let now = now.json();
    let stream_url = format!("/api/v1/live/stream?interval=5{}", page.tenant_param);
    let mut body = format!(
        "<section data-live=\"{}\"><h2>Live now: <span data-live-total>{}</span> viewers</h2>",
        esc(&stream_url),
        esc(&cell(&now["viewers"]))
    );
    let contents = now["contents"].as_array().cloned().unwrap_or_default();
    body.push_str(&html::table(
        "Current viewers per live content",
        &[("content_id", "Content"), ("title", "Title"), ("viewers", "Viewers"), ("peak", "Peak")],
        &contents,
    ));
    if contents.is_empty() {
        body.push_str(&html::empty(
            "Nothing is live right now",
            "a live content appears here as soon as a player reports it (content_kind \"live\").",
        ));
    }
    body.push_str("</section>");
    let days = match page.view.days(page.today, page.tz) {
        Ok(d) => d,
        Err(e) => return page.render("Live", "live", &(body + &html::refused(&e))),
    };
    let (from, to) = days.bounds();
    let past = page.api("/api/v1/live/overview", &[("from", &from), ("to", &to)]).await.json();
    // One stream's chart: the one asked for, else the one live now, else the range's first.
    let first_of = |v: &Value| v.as_array().and_then(|a| a.first()).and_then(|c| c["content_id"].as_str()).map(str::to_string);
    let item = page
        .view
        .item
        .clone()
        .filter(|i| !i.is_empty())
        .or_else(|| first_of(&now["contents"]))
        .or_else(|| first_of(&past["contents"]));
    if let Some(item) = item {
        let path = format!("/api/v1/live/{}/concurrency", super::path_segment(&item));
        let c = page.api(&path, &[("from", &from), ("to", &to)]).await.json();
        let series = c["series"].as_array().cloned().unwrap_or_default();
        let labels: Vec<String> = series.iter().map(|r| cell(&r["minute"])).collect();
        body.push_str(&format!("<section><h2>{} per minute</h2>", esc(&item)));
        body.push_str(&chart::lines(
            "Viewers per minute",
            &labels,
            &[("viewers", series.iter().map(|r| num(&r["viewers"])).collect())],
        ));
        body.push_str(&html::table("Viewers per minute", &[("minute", "Minute"), ("viewers", "Viewers")], &series));
        body.push_str(&csv_link(&path, &[("from", &from), ("to", &to)], &page.tenant_param));
        body.push_str("</section>");
    }
    let broadcasts = past["contents"].as_array().cloned().unwrap_or_default();
    body.push_str("<section><h2>Broadcasts of the range</h2>");
    body.push_str(&html::table(
        "Broadcasts of the range (click a heading to sort)",
        &[
            ("content_id", "Content"),
            ("title", "Title"),
            ("first_minute", "From"),
            ("last_minute", "To"),
            ("peak", "Peak"),
            ("average", "Average"),
            ("viewers", "Viewers"),
            ("average_watch_time", "Average watch time (s)"),
        ],
        &broadcasts,
    ));
    let mut links = String::from("<p class=\"items\">");
    for b in &broadcasts {
        let id = b["content_id"].as_str().unwrap_or("");
        let href = format!(
            "/live?{}&item={}",
            page.view.query_string(),
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        );
        links.push_str(&format!("<a href=\"{}\">{}</a> ", esc(&href), esc(id)));
    }
    links.push_str("</p></section>");
    body.push_str(&links);
    page.render("Live", "live", &body)
}

/// One row per month: requests and data volume (CDN), starts, streams, time,
/// devices and the average viewing time per start.
pub async fn monthly(State(state): State<AppState>, peer: ConnectInfo<SocketAddr>, headers: HeaderMap, Query(view): Query<ViewParams>) -> Response {
    let page = match Page::open(state, peer, &headers, view).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (first, last) = if page.view.range.is_none() {
        // A year by default: this month and the eleven before.
        (page.today.checked_sub_months(chrono::Months::new(11)).unwrap_or(page.today), page.today)
    } else {
        match page.view.days(page.today, page.tz) {
            Ok(d) => (d.first, d.last),
            Err(e) => return page.render("Monthly", "monthly", &html::refused(&e)),
        }
    };
    let days = super::view::Days {
        first: first.with_day(1).unwrap_or(first),
        last,
        tz: page.tz,
    };
    let (from, to) = days.bounds();
    let filter = page.view.filter().unwrap_or_default();
    let mut q = vec![
        ("from", from.as_str()),
        ("to", to.as_str()),
        ("metrics", "starts,streams,time,devices"),
        ("group_by", "month"),
    ];
    if !filter.is_empty() {
        q.push(("filter", filter.as_str()));
    }
    let m = page.api("/api/v1/metrics", &q).await;
    if let Some(e) = m.error() {
        return page.render("Monthly", "monthly", &html::refused(&e));
    }
    let mut months = rows(&m.json());
    let cdn = page.api("/api/v1/cdn", &[("from", &from), ("to", &to), ("group_by", "day")]).await.json();
    for row in &mut months {
        let month = cell(&row["month"]);
        let prefix = month.get(..7).unwrap_or("").to_string();
        let (mut requests, mut traffic) = (0.0, 0.0);
        for d in rows(&cdn) {
            if cell(&d["day"]).starts_with(&prefix) {
                requests += num(&d["requests"]);
                traffic += num(&d["traffic"]);
            }
        }
        row["month"] = Value::String(prefix);
        row["requests"] = requests.into();
        row["traffic_gb"] = ((traffic / 1e9 * 1000.0).round() / 1000.0).into();
        let starts = num(&row["starts"]);
        row["average_time"] = if starts > 0.0 {
            ((num(&row["time"]) / starts * 10.0).round() / 10.0).into()
        } else {
            Value::Null
        };
    }
    let body = html::table(
        "Months",
        &[
            ("month", "Month"),
            ("requests", "Requests"),
            ("traffic_gb", "Data volume (GB)"),
            ("average_time", "Average viewing time per start (s)"),
            ("starts", "Starts"),
            ("streams", "Streams"),
            ("time", "Time (s)"),
            ("devices", "Devices"),
        ],
        &months,
    ) + &csv_link("/api/v1/metrics", &q, &page.tenant_param);
    page.render("Monthly", "monthly", &body)
}

/// CDN traffic, requests, hit ratio and errors over time; status classes,
/// cache status and POPs.
pub async fn cdn(State(state): State<AppState>, peer: ConnectInfo<SocketAddr>, headers: HeaderMap, Query(view): Query<ViewParams>) -> Response {
    let page = match Page::open(state, peer, &headers, view).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let days = match page.view.days(page.today, page.tz) {
        Ok(d) => d,
        Err(e) => return page.render("CDN", "cdn", &html::refused(&e)),
    };
    let (from, to) = days.bounds();
    let unit = if days.len() <= 2 { "hour" } else { "day" };
    let zone = page.view.zone.clone().unwrap_or_default();
    let ask = |group_by: &'static str| {
        let mut q = vec![("from", from.clone()), ("to", to.clone()), ("group_by", group_by.to_string())];
        if !zone.trim().is_empty() {
            q.push(("zone", zone.trim().to_string()));
        }
        q
    };
    let series_q = ask(unit);
    let series = page.api("/api/v1/cdn", &pairs(&series_q)).await;
    if let Some(e) = series.error() {
        return page.render("CDN", "cdn", &html::refused(&e));
    }
    let series = series.json();
    let r = rows(&series);
    let labels: Vec<String> = r.iter().map(|x| cell(&x[unit])).collect();
    let totals = &series["totals"];
    let mut body = html::tiles(&[
        ("Traffic (GB)", format_number((num(&totals["traffic"]) / 1e9 * 1000.0).round() / 1000.0), None),
        ("Requests", format_number(num(&totals["requests"])), None),
        ("Hit ratio", cell(&totals["hit_ratio"]), None),
        ("Errors", format_number(num(&totals["errors"])), None),
    ]);
    if r.is_empty() {
        body.push_str(&html::empty(
            "No CDN traffic in this range",
            "import your CDN or streaming-server logs with <code>streamtally import</code> or push them to <code>POST /api/v1/logs</code>.",
        ));
    }
    body.push_str(&chart::lines(
        "Requests and errors",
        &labels,
        &[
            ("requests", r.iter().map(|x| num(&x["requests"])).collect()),
            ("errors", r.iter().map(|x| num(&x["errors"])).collect()),
        ],
    ));
    body.push_str(&html::table(
        "Traffic over time",
        &[
            (unit, "Period"),
            ("traffic", "Traffic (bytes)"),
            ("requests", "Requests"),
            ("hit_ratio", "Hit ratio"),
            ("errors", "Errors"),
        ],
        &r,
    ));
    body.push_str(&csv_link("/api/v1/cdn", &pairs(&series_q), &page.tenant_param));
    body.push_str("<section class=\"tops\">");
    for (group, title) in [("pop", "Traffic per POP"), ("status_class", "Status classes"), ("cache_status", "Cache status")] {
        let q = ask(group);
        let a = page.api("/api/v1/cdn", &pairs(&q)).await.json();
        let items = rows(&a);
        body.push_str(&format!("<div><h2>{}</h2>", esc(title)));
        body.push_str(&chart::bars(
            title,
            &items.iter().map(|x| (cell(&x[group]), num(&x["requests"]))).collect::<Vec<_>>(),
        ));
        body.push_str(&html::table(
            title,
            &[(group, "Name"), ("requests", "Requests"), ("traffic", "Traffic (bytes)")],
            &items,
        ));
        body.push_str("</div>");
    }
    body.push_str("</section>");
    page.render("CDN", "cdn", &body)
}

/// Code × content × day: watched time, first and last activity (only where
/// the tenant enabled attendance).
pub async fn attendance(State(state): State<AppState>, peer: ConnectInfo<SocketAddr>, headers: HeaderMap, Query(view): Query<ViewParams>) -> Response {
    let page = match Page::open(state, peer, &headers, view).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let days = match page.view.days(page.today, page.tz) {
        Ok(d) => d,
        Err(e) => return page.render("Attendance", "attendance", &html::refused(&e)),
    };
    let (from, to) = (days.first.to_string(), (days.last + chrono::Duration::days(1)).to_string());
    let mut q = vec![("from", from.as_str()), ("to", to.as_str())];
    let content = page.view.content.clone().unwrap_or_default();
    if !content.trim().is_empty() {
        q.push(("content_id", content.trim()));
    }
    let a = page.api("/api/v1/attendance", &q).await;
    if let Some(e) = a.error() {
        return page.render("Attendance", "attendance", &html::refused(&e));
    }
    let rows = rows(&a.json());
    let mut body = String::new();
    if rows.is_empty() {
        body.push_str(&html::empty(
            "No attendance in this range",
            "attendance is counted only where the tenant enabled it (setting <code>attendance</code>) and players send a verified access code.",
        ));
    }
    let columns: Vec<(&str, &str)> = rows
        .first()
        .and_then(|r| r.as_object())
        .map(|o| o.keys().map(|k| (k.as_str(), k.as_str())).collect())
        .unwrap_or_else(|| vec![("access_code", "access_code"), ("content_id", "content_id"), ("day", "day")]);
    let columns: Vec<(String, String)> = columns.into_iter().map(|(a, b)| (a.to_string(), b.replace('_', " "))).collect();
    let refs: Vec<(&str, &str)> = columns.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    body.push_str(&html::table("Attendance", &refs, &rows));
    body.push_str(&csv_link("/api/v1/attendance", &q, &page.tenant_param));
    page.render("Attendance", "attendance", &body)
}
