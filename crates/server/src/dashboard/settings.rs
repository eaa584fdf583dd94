//! Settings (admin): every counting setting of the spec, the tenant's zone,
//! retention and switches, changed through `PUT /api/v1/settings` with the
//! session's key — so only an admin key can, and the API's own ranges and
//! messages apply. The form is CSRF-checked; the tenant's keys are listed.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::html::{self, esc};
use super::session::same_token;
use super::view::ViewParams;
use super::{api, form, Page};
use crate::extract::Query;
use crate::AppState;

pub async fn show(State(state): State<AppState>, peer: ConnectInfo<SocketAddr>, headers: HeaderMap, Query(view): Query<ViewParams>) -> Response {
    match Page::open(state, peer, &headers, view).await {
        Ok(page) => render(&page, None).await,
        Err(r) => r,
    }
}

pub async fn change(State(state): State<AppState>, peer: ConnectInfo<SocketAddr>, headers: HeaderMap, Query(view): Query<ViewParams>, body: Bytes) -> Response {
    let page = match Page::open(state, peer, &headers, view).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let fields = form(&body);
    if !same_token(fields.get("csrf").map(String::as_str).unwrap_or(""), &page.csrf) {
        return (StatusCode::FORBIDDEN, html::refused("The form expired; reload the page and try again.")).into_response();
    }
    // Only what changed is sent: the API checks each value against its range.
    let current = page.api("/api/v1/settings", &[]).await.json();
    let changed: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("s_").map(|name| (name.to_string(), v)))
        .filter(|(k, v)| current[k].as_str() != Some(v.as_str()))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let note = if changed.is_empty() {
        "Nothing changed.".to_string()
    } else {
        let url = format!("/api/v1/settings?{}", page.tenant_param.trim_start_matches('&'));
        let answer = api::send(
            &page.router,
            page.peer,
            &page.key,
            "PUT",
            &url,
            Some(Value::Object(changed.clone()).to_string()),
        )
        .await;
        match answer.error() {
            Some(e) => format!("Not saved: {e}"),
            None => format!("Saved: {}.", changed.keys().cloned().collect::<Vec<_>>().join(", ")),
        }
    };
    render(&page, Some(&note)).await
}

async fn render(page: &Page, note: Option<&str>) -> Response {
    let settings = page.api("/api/v1/settings", &[]).await;
    if let Some(e) = settings.error() {
        return page.render("Settings", "settings", &html::refused(&format!("{e} (settings are for a tenant's admin key)")));
    }
    let settings = settings.json();
    let mut body = String::new();
    if let Some(note) = note {
        body.push_str(&format!("<p class=\"note\" role=\"status\">{}</p>", esc(note)));
    }
    let action = format!("/settings?{}", page.view.query_string());
    body.push_str(&format!(
        "<form method=\"post\" action=\"{}\" class=\"settings\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><table><caption>Counting settings (spec windows and thresholds, zone, retention, switches)</caption><tbody>",
        esc(&action),
        esc(&page.csrf)
    ));
    if let Some(map) = settings.as_object() {
        for (name, value) in map {
            let value = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
            body.push_str(&format!(
                "<tr><th scope=\"row\"><label for=\"s_{n}\">{n}</label></th><td><input id=\"s_{n}\" name=\"s_{n}\" value=\"{v}\"></td></tr>",
                n = esc(name),
                v = esc(&value)
            ));
        }
    }
    body.push_str("</tbody></table><button>Save</button></form>");
    let keys = page.api("/api/v1/keys", &[]).await.json();
    let keys = keys["keys"].as_array().cloned().unwrap_or_default();
    let columns: Vec<String> = keys
        .first()
        .and_then(|k| k.as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let refs: Vec<(&str, &str)> = columns.iter().map(|c| (c.as_str(), c.as_str())).collect();
    body.push_str("<h2>API keys</h2>");
    body.push_str(&html::table(
        "The tenant's keys (create and revoke them with the API or `streamtally key`)",
        &refs,
        &keys,
    ));
    page.render("Settings", "settings", &body)
}
