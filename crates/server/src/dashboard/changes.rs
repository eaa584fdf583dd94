//! What the settings page's forms do: each asks the API, with the session's
//! credential, exactly what a client would (`PUT /api/v1/settings`,
//! `POST /api/v1/keys`, …), and says in a sentence what came of it.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{api, Page};

/// Applies the form's `action`; the note the page shows.
pub async fn apply(page: &Page, fields: &HashMap<String, String>) -> String {
    let field = |name: &str| fields.get(name).map(|v| v.trim().to_string()).unwrap_or_default();
    let id = percent_encoding::utf8_percent_encode(&field("id"), percent_encoding::NON_ALPHANUMERIC).to_string();
    match field("action").as_str() {
        "settings" => settings(page, fields).await,
        "key_create" => {
            let answer = page.send("POST", "/api/v1/keys", &[], Some(json!({ "role": field("role") }))).await;
            match answer.error() {
                Some(e) => format!("No key made: {e}"),
                None => {
                    let key = answer.json();
                    format!(
                        "New {} key {} — copy it now, it is shown only once: {}",
                        key["role"].as_str().unwrap_or(""),
                        key["key_id"].as_str().unwrap_or(""),
                        key["key"].as_str().unwrap_or("")
                    )
                }
            }
        }
        "key_revoke" => outcome(page.send("DELETE", &format!("/api/v1/keys/{id}"), &[], None).await, "Revoked the key."),
        "account_create" => {
            let body = json!({ "email": field("email"), "password": fields.get("password").cloned().unwrap_or_default(), "role": field("role") });
            let answer = page.send("POST", "/api/v1/accounts", &[], Some(body)).await;
            outcome(answer, &format!("Made the account of {}.", field("email")))
        }
        "account_delete" => outcome(
            page.send("DELETE", &format!("/api/v1/accounts/{id}"), &[], None).await,
            "Deleted the account; its sessions have ended.",
        ),
        "codes_add" => {
            let entries: Vec<Value> = field("codes")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|line| {
                    let mut parts = line.splitn(3, ',').map(str::trim);
                    let code = parts.next().unwrap_or("");
                    let mut entry = Map::new();
                    entry.insert("code".into(), json!(code));
                    if let Some(expires) = parts.next().filter(|e| !e.is_empty()) {
                        entry.insert("expires".into(), json!(expires));
                    }
                    if let Some(note) = parts.next().filter(|n| !n.is_empty()) {
                        entry.insert("note".into(), json!(note));
                    }
                    Value::Object(entry)
                })
                .collect();
            let n = entries.len();
            outcome(
                page.send("PUT", "/api/v1/access/codes", &[], Some(Value::Array(entries))).await,
                &format!("Added {n} codes."),
            )
        }
        "code_revoke" => outcome(
            page.send("DELETE", "/api/v1/access/codes", &[("code", field("id").as_str())], None).await,
            "Revoked the code.",
        ),
        "erase" => {
            let subject = field("subject");
            if !["user_id", "device_id", "access_code"].contains(&subject.as_str()) || field("confirm") != "yes" {
                return "Nothing erased: choose what to erase and confirm.".into();
            }
            let answer = page
                .send("DELETE", "/api/v1/subjects", &[(subject.as_str(), field("value").as_str())], None)
                .await;
            match answer.error() {
                Some(e) => format!("Nothing erased: {e}"),
                None => format!("Erased {} {}: {}", subject.replace('_', " "), field("value"), answer.json()["erased"]),
            }
        }
        other => format!("Unknown action `{other}`."),
    }
}

/// Only the settings that changed are sent: the API checks each against its range.
async fn settings(page: &Page, fields: &HashMap<String, String>) -> String {
    let current = page.api("/api/v1/settings", &[]).await.json();
    let changed: Map<String, Value> = fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("s_").map(|name| (name.to_string(), v.clone())))
        .filter(|(k, v)| current[k].as_str() != Some(v.as_str()))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if changed.is_empty() {
        return "Nothing changed.".into();
    }
    let mut names: Vec<String> = changed.keys().cloned().collect();
    names.sort();
    let answer = page.send("PUT", "/api/v1/settings", &[], Some(Value::Object(changed))).await;
    match answer.error() {
        Some(e) => format!("Not saved: {e}"),
        None => format!("Saved: {}.", names.join(", ")),
    }
}

fn outcome(answer: api::Answer, done: &str) -> String {
    match answer.error() {
        Some(e) => format!("Not done: {e}"),
        None => done.to_string(),
    }
}
