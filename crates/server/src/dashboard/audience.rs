//! The audience page (source 002): registrations of the range per day (or
//! month, for a long range) split by gender with the peak period marked,
//! gender shares, age ranges at registration and geography — all from
//! `GET /api/v1/audience/registrations`, asked with the session's credential.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::chart;
use super::html::{self, cell};
use super::view::ViewParams;
use super::{csv_link, Page};
use crate::extract::Query;
use crate::AppState;

const GENDERS: [&str; 4] = ["female", "male", "other", "unknown"];

pub async fn audience(State(state): State<AppState>, peer: ConnectInfo<SocketAddr>, headers: HeaderMap, Query(view): Query<ViewParams>) -> Response {
    let page = match Page::open(state, peer, &headers, view).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let days = match page.view.days(page.today, page.tz) {
        Ok(d) => d,
        Err(e) => return page.render("Audience", "audience", &html::refused(&e)),
    };
    let (from, to) = days.bounds();
    let unit = if days.len() > 92 { "month" } else { "day" };
    let tz = page.tz.name().to_string();
    let q = [("from", from.as_str()), ("to", to.as_str()), ("group_by", unit), ("tz", tz.as_str())];
    let answer = page.api("/api/v1/audience/registrations", &q).await;
    if let Some(e) = answer.error() {
        return page.render("Audience", "audience", &html::refused(&e));
    }
    let v = answer.json();
    let rows = |part: &str| v[part].as_array().cloned().unwrap_or_default();
    let total = v["total"].as_u64().unwrap_or(0);
    let peak = match &v["peak"] {
        Value::Null => "—".to_string(),
        p => format!("{} ({})", cell(&p["period"]), cell(&p["registrations"])),
    };
    let mut body = super::user::search_form(&page.view, "");
    body.push_str(&html::tiles(&[("Registrations", total.to_string(), None), ("Peak period", peak, None)]));
    if total == 0 {
        body.push_str(&html::empty(
            "No registrations in this range",
            "load the user directory with <code>PUT /api/v1/users</code> or <code>streamtally users import FILE</code>",
        ));
    }
    let series = rows("series");
    let labels: Vec<String> = series.iter().map(|r| cell(&r["period"])).collect();
    let lines: Vec<(&str, Vec<f64>)> = GENDERS
        .iter()
        .map(|g| (*g, series.iter().map(|r| r[*g].as_f64().unwrap_or(0.0)).collect()))
        .collect();
    body.push_str(&chart::lines("Registrations by gender", &labels, &lines));
    let part_link = |part: &str| {
        let mut params = q.to_vec();
        params.push(("part", part));
        csv_link("/api/v1/audience/registrations", &params, &page.tenant_param)
    };
    body.push_str(&html::table(
        "Registrations per period (the peak marked)",
        &[
            ("period", "Period"),
            ("female", "Female"),
            ("male", "Male"),
            ("other", "Other"),
            ("unknown", "Unknown"),
            ("total", "Total"),
            ("peak", "Peak"),
        ],
        &series,
    ));
    body.push_str(&part_link("series"));
    let shares: Vec<(String, f64)> = rows("gender")
        .iter()
        .map(|r| (cell(&r["gender"]), r["users"].as_f64().unwrap_or(0.0)))
        .collect();
    body.push_str(&chart::bars("Gender", &shares));
    body.push_str(&html::table(
        "Gender share",
        &[("gender", "Gender"), ("users", "Users"), ("share", "Share (%)")],
        &rows("gender"),
    ));
    body.push_str(&part_link("gender"));
    body.push_str(&html::table(
        "Age at registration",
        &[("age_range", "Age range"), ("users", "Users"), ("share", "Share (%)")],
        &rows("age_ranges"),
    ));
    body.push_str(&part_link("age_ranges"));
    body.push_str(&html::table(
        "Countries",
        &[("country", "Country"), ("users", "Users"), ("share", "Share (%)")],
        &rows("countries"),
    ));
    if let Some(home) = v["home_country"].as_str() {
        body.push_str(&html::table(
            &format!("States of {home} (other countries as Other)"),
            &[("region", "State"), ("users", "Users"), ("share", "Share (%)")],
            &rows("regions"),
        ));
        body.push_str(&html::table(
            &format!("Cities of {home}"),
            &[("city", "City"), ("region", "State"), ("users", "Users"), ("share", "Share (%)")],
            &rows("cities"),
        ));
    } else {
        body.push_str("<p class=\"hint\">Set <code>home_country</code> in Settings to see its states and cities.</p>");
    }
    page.render("Audience", "audience", &body)
}
