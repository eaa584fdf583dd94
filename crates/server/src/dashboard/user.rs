//! One user's page (source 002): an admin finds a user by id and sees the
//! overview, bandwidth per minute, details and the events of the range —
//! `GET /api/v1/users/{id}/activity`, asked with the session's credential
//! (a reader is told the API's refusal; every look-up is recorded).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::chart;
use super::html::{self, cell, esc};
use super::view::ViewParams;
use super::Page;
use crate::extract::Query;
use crate::AppState;

/// `/audience/user?item=USER_ID&range=…`.
pub async fn user(State(state): State<AppState>, peer: ConnectInfo<SocketAddr>, headers: HeaderMap, Query(view): Query<ViewParams>) -> Response {
    let page = match Page::open(state, peer, &headers, view).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let wanted = page.view.item.clone().map(|i| i.trim().to_string()).filter(|i| !i.is_empty());
    let mut body = search_form(&page.view, wanted.as_deref().unwrap_or(""));
    let Some(user) = wanted else {
        body.push_str("<p class=\"hint\">Enter a user id to see what that user watched (admins only; each look-up is recorded).</p>");
        return page.render("User", "audience", &body);
    };
    let days = match page.view.days(page.today, page.tz) {
        Ok(d) => d,
        Err(e) => return page.render("User", "audience", &html::refused(&e)),
    };
    let (from, to) = days.bounds();
    let tz = page.tz.name().to_string();
    let path = format!("/api/v1/users/{}/activity", super::path_segment(&user));
    let answer = page.api(&path, &[("from", &from), ("to", &to), ("tz", &tz), ("per_page", "1000")]).await;
    if let Some(e) = answer.error() {
        body.push_str(&html::refused(&e));
        return page.render("User", "audience", &body);
    }
    let v = answer.json();
    let o = &v["overview"];
    let last_login = match &v["last_login"] {
        Value::Null => "—".to_string(),
        t => cell(t),
    };
    body.push_str(&format!("<h2>{}</h2>", esc(&user)));
    body.push_str(&html::tiles(&[
        ("Playback starts", cell(&o["starts"]), None),
        ("Streams", cell(&o["streams"]), None),
        ("Minutes", cell(&o["minutes"]), None),
        ("Last login", last_login, None),
    ]));
    let list = |value: &Value| value.as_array().cloned().unwrap_or_default();
    let bandwidth = list(&v["bandwidth"]);
    if !bandwidth.is_empty() {
        let labels: Vec<String> = bandwidth.iter().map(|m| cell(&m["minute"])).collect();
        let kbps = |key: &str| bandwidth.iter().map(|m| m[key].as_f64().unwrap_or(0.0)).collect::<Vec<f64>>();
        body.push_str(&chart::lines(
            "Bandwidth per minute (kbps)",
            &labels,
            &[("bandwidth", kbps("bandwidth_kbps")), ("bitrate", kbps("bitrate_kbps"))],
        ));
    }
    let d = &v["details"];
    body.push_str(&html::table(
        "Devices",
        &[
            ("browser", "Browser"),
            ("os", "OS"),
            ("device_type", "Type"),
            ("first_seen", "First seen"),
            ("last_seen", "Last seen"),
            ("events", "Events"),
        ],
        &list(&d["devices"]),
    ));
    let contents = [("content_id", "Content"), ("title", "Title"), ("minutes", "Minutes")];
    body.push_str(&html::table("On demand", &contents, &list(&d["on_demand"])));
    body.push_str(&html::table("Live", &contents, &list(&d["live"])));
    body.push_str(&html::table(
        "Referrers",
        &[("referrer_host", "Referrer"), ("events", "Events")],
        &list(&d["referrers"]),
    ));
    let logins: Vec<Value> = list(&d["logins"]).into_iter().map(|t| json!({ "at": t })).collect();
    body.push_str(&html::table("Logins", &[("at", "Time")], &logins));
    // The events, their device details flattened into the row.
    let events: Vec<Value> = list(&v["events"]["items"])
        .into_iter()
        .map(|mut e| {
            for k in ["browser", "os", "device_type"] {
                e[k] = e["device"][k].clone();
            }
            e
        })
        .collect();
    let total = v["events"]["total"].as_u64().unwrap_or(0);
    body.push_str(&html::table(
        &format!("Events ({total}{})", if total as usize > events.len() { ", the first 1000" } else { "" }),
        &[
            ("ts", "Time"),
            ("type", "Event"),
            ("title", "Content"),
            ("position", "Position (s)"),
            ("duration", "Duration (s)"),
            ("bitrate", "Bitrate (kbps)"),
            ("browser", "Browser"),
            ("os", "OS"),
            ("device_type", "Type"),
        ],
        &events,
    ));
    page.render("User", "audience", &body)
}

/// The search box; the page's range and tenant come along.
pub fn search_form(view: &ViewParams, value: &str) -> String {
    let mut hidden = String::new();
    for (name, v) in [("range", &view.range), ("from", &view.from), ("to", &view.to), ("tenant", &view.tenant)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            hidden.push_str(&format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", esc(v)));
        }
    }
    format!(
        "<form class=\"search\" method=\"get\" action=\"/audience/user\">{hidden}<label>User id <input name=\"item\" value=\"{}\" required></label> <button type=\"submit\">Find user</button></form>",
        esc(value)
    )
}
