//! Settings (admin): every counting setting of the spec with the tenant's
//! zone, retention and switches (the attendance consent among them); API
//! keys; staff accounts; the access list; erasure. Each change is one
//! CSRF-checked form whose action (`changes.rs`) asks the API with the
//! session's credential — so only an admin can, and the API's own ranges and
//! messages apply.

use std::fmt::Write;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::html::{self, esc};
use super::session::same_token;
use super::view::ViewParams;
use super::{changes, form, Page};
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
    let note = changes::apply(&page, &fields).await;
    render(&page, Some(&note)).await
}

/// A form of this page: posts `action` with the CSRF token, and `inner`.
fn action_form(page: &Page, action: &str, class: &str, inner: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"{class}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{action}\">{inner}</form>",
        esc(&format!("/settings?{}", page.view.query_string())),
        esc(&page.csrf)
    )
}

/// A table of API rows with one button per row (revoke, delete) posting
/// `action` with the row's `id_field` as `id`; none on a revoked row.
fn table_with_button(page: &Page, caption: &str, columns: &[(&str, &str)], rows: &[Value], button: (&str, &str, &str)) -> String {
    let (action, id_field, label) = button;
    let form = |row: &Value| {
        let done = row["revoked"].as_bool() == Some(true) || row["revoked"].is_string();
        if done {
            return String::new();
        }
        let id = row[id_field].as_str().unwrap_or("");
        let inner = format!(
            "<input type=\"hidden\" name=\"id\" value=\"{}\"><button class=\"small\">{label}</button>",
            esc(id)
        );
        action_form(page, action, "row", &inner)
    };
    html::table_with(caption, columns, rows, Some(&form))
}

fn counting_settings(page: &Page, settings: &Value) -> String {
    let mut rows = String::new();
    if let Some(map) = settings.as_object() {
        for (name, value) in map {
            let value = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
            let n = esc(name);
            // Switches (the attendance consent among them) are a choice, not free text.
            let input = if value == "true" || value == "false" {
                let opt = |v: &str| format!("<option{}>{v}</option>", if value == v { " selected" } else { "" });
                format!("<select id=\"s_{n}\" name=\"s_{n}\">{}{}</select>", opt("true"), opt("false"))
            } else {
                format!("<input id=\"s_{n}\" name=\"s_{n}\" value=\"{}\">", esc(&value))
            };
            let _ = write!(rows, "<tr><th scope=\"row\"><label for=\"s_{n}\">{n}</label></th><td>{input}</td></tr>");
        }
    }
    let inner = format!(
        "<table><caption>Counting settings (spec windows and thresholds, zone, retention, switches)</caption><tbody>{rows}</tbody></table><button>Save</button>"
    );
    action_form(page, "settings", "settings", &inner)
}

async fn render(page: &Page, note: Option<&str>) -> Response {
    let settings = page.api("/api/v1/settings", &[]).await;
    if let Some(e) = settings.error() {
        return page.render("Settings", "settings", &html::refused(&format!("{e} (settings are for a tenant's admin)")));
    }
    let mut body = String::new();
    if let Some(note) = note {
        let _ = write!(body, "<p class=\"note\" role=\"status\">{}</p>", esc(note));
    }
    body.push_str(&counting_settings(page, &settings.json()));

    body.push_str("<h2 id=\"keys\">API keys</h2>");
    let keys = page.api("/api/v1/keys", &[]).await.json();
    let keys = keys["keys"].as_array().cloned().unwrap_or_default();
    body.push_str(&table_with_button(
        page,
        "The tenant's keys (secrets are shown once, when made)",
        &[
            ("key_id", "Key"),
            ("role", "Role"),
            ("created_at", "Created (s since 1970)"),
            ("revoked", "Revoked"),
        ],
        &keys,
        ("key_revoke", "key_id", "Revoke"),
    ));
    body.push_str(&action_form(
        page,
        "key_create",
        "inline",
        "<label>New key with the role <select name=\"role\"><option>ingest</option><option>read</option><option>admin</option></select></label><button>Create key</button>",
    ));

    body.push_str("<h2 id=\"accounts\">Staff accounts</h2>");
    let accounts = page.api("/api/v1/accounts", &[]).await.json();
    let accounts = accounts["accounts"].as_array().cloned().unwrap_or_default();
    body.push_str(&table_with_button(
        page,
        "People who sign in with an e-mail address and a password",
        &[
            ("email", "E-mail"),
            ("role", "Role"),
            ("account_id", "Id"),
            ("last_sign_in", "Last sign-in (s since 1970)"),
        ],
        &accounts,
        ("account_delete", "account_id", "Delete"),
    ));
    body.push_str(&action_form(
        page,
        "account_create",
        "inline",
        "<label>E-mail <input type=\"email\" name=\"email\" required autocomplete=\"off\"></label>\
<label>Password (10+ characters) <input type=\"password\" name=\"password\" required minlength=\"10\" autocomplete=\"new-password\"></label>\
<label>Role <select name=\"role\"><option>read</option><option>admin</option></select></label><button>Create account</button>",
    ));

    body.push_str("<h2 id=\"access\">Access list</h2>");
    let codes = page.api("/api/v1/access/codes", &[]).await.json();
    let codes = codes["codes"].as_array().cloned().unwrap_or_default();
    body.push_str(&table_with_button(
        page,
        "Access codes (spec §6): revoked codes stay listed, so their tokens stay refused",
        &[("code", "Code"), ("note", "Note"), ("expires", "Expires"), ("revoked", "Revoked")],
        &codes,
        ("code_revoke", "code", "Revoke"),
    ));
    body.push_str(&action_form(
        page,
        "codes_add",
        "inline",
        "<label>Codes to add, one per line: <code>CODE</code> or <code>CODE,EXPIRES,NOTE</code> <textarea name=\"codes\" rows=\"3\" required></textarea></label><button>Add codes</button>",
    ));

    body.push_str(
        "<h2 id=\"erasure\">Erasure</h2><p class=\"hint\">Removes everything recorded of one user, device or access code (spec §8). It cannot be undone.</p>",
    );
    body.push_str(&action_form(
        page,
        "erase",
        "inline",
        "<label>Of <select name=\"subject\"><option value=\"user_id\">user id</option><option value=\"device_id\">device id</option><option value=\"access_code\">access code</option></select></label>\
<label>Value <input name=\"value\" required autocomplete=\"off\"></label><label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> I mean it</label><button>Erase</button>",
    ));
    page.render("Settings", "settings", &body)
}
