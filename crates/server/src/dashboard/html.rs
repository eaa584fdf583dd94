//! HTML pieces of the dashboard, written by hand: every value that did not
//! come from this file goes through [`esc`].

use std::fmt::Write;

use serde_json::Value;

use super::view::{ViewParams, PRESETS};

/// Text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as the text a table shows.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format_number(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A number as a table shows it: integers whole, others to two places.
pub fn format_number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f:.2}")
    }
}

/// Seconds as hours and minutes (`3 h 05 min`), the unit viewers think in.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as i64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

pub const PAGES: [(&str, &str); 8] = [
    ("overview", "Overview"),
    ("live", "Live"),
    ("monthly", "Monthly"),
    ("quality", "Quality"),
    ("cdn", "CDN"),
    ("attendance", "Attendance"),
    ("audience", "Audience"),
    ("settings", "Settings"),
];

/// The page around `body`: navigation, the tenant menu of the server
/// administrator, the view form, sign-out.
pub fn layout(title: &str, page: &str, view: &ViewParams, csrf: &str, tenants: &[String], body: &str) -> String {
    let mut nav = String::new();
    let mut menu = String::new();
    if !tenants.is_empty() {
        let _ = write!(
            menu,
            "<form method=\"get\" action=\"/{page}\" class=\"tenant\"><label>Tenant <select name=\"tenant\">"
        );
        for t in tenants {
            let sel = if view.tenant.as_deref() == Some(t.as_str()) { " selected" } else { "" };
            let _ = write!(menu, "<option value=\"{v}\"{sel}>{v}</option>", v = esc(t));
        }
        menu.push_str("</select></label><button>Switch</button></form>");
    }
    let qs = view.query_string();
    for (slug, name) in PAGES {
        let current = if slug == page { " aria-current=\"page\"" } else { "" };
        let _ = write!(nav, "<a href=\"/{slug}?{}\"{current}>{name}</a>", esc(&qs));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · streamtally</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\
<body><header><strong class=\"brand\">streamtally</strong><nav>{nav}</nav>{menu}\
<form method=\"post\" action=\"/signout\" class=\"signout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button>Sign out</button></form></header>\
{form}<main><h1>{title}</h1>{body}</main><script src=\"/assets/app.js\" defer></script></body></html>",
        title = esc(title),
        csrf = esc(csrf),
        form = view_form(page, view),
    )
}

/// The date range and the filters, as a form that reloads the page (GET, so
/// the URL holds the view).
fn view_form(page: &str, v: &ViewParams) -> String {
    let mut options = String::new();
    for (key, name) in PRESETS {
        let sel = if v.preset() == key { " selected" } else { "" };
        let _ = write!(options, "<option value=\"{key}\"{sel}>{name}</option>");
    }
    let field = |name: &str, label: &str, value: &Option<String>| {
        format!(
            "<label>{label} <input name=\"{name}\" value=\"{}\" size=\"10\"></label>",
            esc(value.as_deref().unwrap_or(""))
        )
    };
    let kind = |k: &str, label: &str| {
        let sel = if v.kind.as_deref() == Some(k) { " selected" } else { "" };
        format!("<option value=\"{k}\"{sel}>{label}</option>")
    };
    let tenant = match &v.tenant {
        Some(t) => format!("<input type=\"hidden\" name=\"tenant\" value=\"{}\">", esc(t)),
        None => String::new(),
    };
    format!(
        "<form class=\"view\" method=\"get\" action=\"/{page}\">{tenant}\
<label>Range <select name=\"range\">{options}</select></label>\
<label>From <input type=\"date\" name=\"from\" value=\"{from}\"></label><label>To <input type=\"date\" name=\"to\" value=\"{to}\"></label>\
{content}{property}{country}{device}\
<label>Kind <select name=\"kind\"><option value=\"\">all</option>{live}{vod}</select></label>{zone}\
<button>Show</button></form>",
        from = esc(v.from.as_deref().unwrap_or("")),
        to = esc(v.to.as_deref().unwrap_or("")),
        content = field("content", "Content", &v.content),
        property = field("property", "Property", &v.property),
        country = field("country", "Country", &v.country),
        device = field("device_type", "Device", &v.device_type),
        live = kind("live", "live"),
        vod = kind("vod", "on demand"),
        zone = field("zone", "Zone", &v.zone),
    )
}

/// Number tiles: (label, value shown, change against the previous period).
pub fn tiles(items: &[(&str, String, Option<f64>)]) -> String {
    let mut out = String::from("<section class=\"tiles\">");
    for (label, value, change) in items {
        let change = match change {
            Some(c) if c.is_finite() => {
                let class = if *c >= 0.0 { "up" } else { "down" };
                format!("<span class=\"change {class}\">{}{:.1} %</span>", if *c >= 0.0 { "+" } else { "" }, c)
            }
            _ => "<span class=\"change\">new</span>".into(),
        };
        let _ = write!(
            out,
            "<div class=\"tile\"><span class=\"label\">{}</span><span class=\"value\">{}</span>{change}</div>",
            esc(label),
            esc(value)
        );
    }
    out.push_str("</section>");
    out
}

/// A table of API rows: the columns named, each with its header.
pub fn table(caption: &str, columns: &[(&str, &str)], rows: &[Value]) -> String {
    table_with(caption, columns, rows, None)
}

/// [`table`] with a last column of markup made per row (a form's button).
pub fn table_with(caption: &str, columns: &[(&str, &str)], rows: &[Value], last: Option<&dyn Fn(&Value) -> String>) -> String {
    let mut out = format!("<table><caption>{}</caption><thead><tr>", esc(caption));
    for (_, header) in columns {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(header));
    }
    if last.is_some() {
        out.push_str("<th scope=\"col\"></th>");
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (i, (key, _)) in columns.iter().enumerate() {
            let text = esc(&cell(&row[*key]));
            if i == 0 {
                let _ = write!(out, "<th scope=\"row\">{text}</th>");
            } else {
                let _ = write!(out, "<td>{text}</td>");
            }
        }
        if let Some(last) = last {
            let _ = write!(out, "<td>{}</td>", last(row));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// What an empty page says, and what to do about it.
pub fn empty(what: &str, todo: &str) -> String {
    format!("<p class=\"empty\">{} — {}</p>", esc(what), todo)
}

/// A refusal of the API, shown where the figures would be.
pub fn refused(message: &str) -> String {
    format!("<p class=\"error\" role=\"alert\">{}</p>", esc(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_cannot_make_markup() {
        assert_eq!(esc("<script>\"x\"&'y'</script>"), "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;");
        let rows = [serde_json::json!({ "content_id": "<b>", "starts": 3 })];
        let t = table("Top", &[("content_id", "Content"), ("starts", "Starts")], &rows);
        assert!(t.contains("<th scope=\"row\">&lt;b&gt;</th><td>3</td>"), "{t}");
        assert_eq!(duration(3725.0), "1 h 02 min");
        assert_eq!(cell(&serde_json::json!(12.5)), "12.50");
    }
}
