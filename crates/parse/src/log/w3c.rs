//! W3C extended log lines: CloudFront standard logs (tab-separated, values
//! URL-encoded), IIS and Wowza (space-separated, `+` for spaces in the
//! User-Agent). Columns come from the latest `#Fields:` header.

use std::borrow::Cow;

use streamtally_model::LogRequest;

use super::fields::{apply, complete, Field};
use super::LineError;

fn field_of(name: &str) -> Field {
    match name {
        "c-ip" => Field::Ip,
        "cs-method" => Field::Method,
        "cs-uri-stem" => Field::Path,
        "cs-uri-query" => Field::Query,
        "cs-uri" => Field::Uri,
        "sc-status" => Field::Status,
        "sc-bytes" => Field::Bytes,
        "cs(User-Agent)" => Field::UserAgent,
        "cs(Referer)" | "cs(Referrer)" => Field::Referrer,
        "cs(Range)" => Field::Range,
        "x-edge-location" | "s-computername" => Field::Pop,
        "x-edge-result-type" | "x-cache-status" => Field::CacheStatus,
        "cs(Host)" | "x-host-header" | "s-sitename" => Field::Zone,
        "time-taken" => Field::TimeToServe,
        _ => Field::Ignore,
    }
}

fn decode(v: &str) -> String {
    let plus = v.replace('+', " ");
    let once = percent_decode(&plus);
    // CloudFront encodes the User-Agent twice (`%2520` for a space).
    if once.contains('%') {
        percent_decode(&once)
    } else {
        once
    }
}

fn percent_decode(v: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", v.replace('&', "%26").replace('=', "%3D")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

pub fn parse<'a>(fields: &[String], line: &'a str) -> Result<LogRequest<'a>, LineError> {
    let values: Vec<&str> = if line.contains('\t') {
        line.split('\t').collect()
    } else {
        line.split_whitespace().collect()
    };
    if values.len() != fields.len() {
        return Err(LineError(format!("{} values for {} #Fields", values.len(), fields.len())));
    }
    let mut req = LogRequest::default();
    let (mut date, mut time) = (None, None);
    for (name, value) in fields.iter().zip(values) {
        match name.as_str() {
            "date" => date = Some(value),
            "time" => time = Some(value),
            "cs(User-Agent)" | "cs(Referer)" | "cs(Referrer)" => apply(&mut req, field_of(name), Cow::Owned(decode(value)))?,
            other => apply(&mut req, field_of(other), Cow::Borrowed(value))?,
        }
    }
    // W3C times are UTC.
    if let (Some(d), Some(t)) = (date, time) {
        apply(&mut req, Field::TimeIso, Cow::Owned(format!("{d}T{t}Z")))?;
    }
    // CloudFront: `Hit`, `RefreshHit`, `Miss`, `Error`… → HIT/MISS as elsewhere.
    if let Some(c) = &req.cache_status {
        if c.ends_with("HIT") {
            req.cache_status = Some("HIT".into());
        }
    }
    complete(&req)?;
    Ok(req)
}
