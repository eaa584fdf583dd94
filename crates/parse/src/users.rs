//! The user directory as a tenant sends it (`PUT /api/v1/users`,
//! `streamtally users import`): NDJSON, a JSON array, or CSV with a header.
//! Each bad row is answered with its number and field; the good rows are
//! kept, as for events.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::{Map, Value};
use streamtally_model::parse_ts;
use streamtally_model::registered::{Birth, Gender, RegisteredUser};

/// Longest `user_id` and text field kept.
pub const MAX_ID: usize = 256;
const MAX_TEXT: usize = 512;

/// Why one row of a directory upload was refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    /// The row: the line of NDJSON or CSV (the header is line 1), the
    /// element of a JSON array (from 1).
    pub row: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// The rows read, and the refused ones.
#[derive(Debug, Default)]
pub struct ParsedUsers {
    pub users: Vec<RegisteredUser>,
    pub errors: Vec<RowError>,
}

/// The field to blame (if one is) and why.
type Refusal = (Option<String>, String);

/// Reads a directory upload; the format is told by its first character
/// (`[` JSON array, `{` NDJSON) or else it is CSV with a header.
pub fn parse_users(body: &[u8]) -> Result<ParsedUsers, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let text = text.trim_start_matches('\u{feff}');
    let mut out = ParsedUsers::default();
    let mut take = |row: usize, fields: Result<Map<String, Value>, Refusal>| match fields.and_then(|f| user_of(&f)) {
        Ok(user) => out.users.push(user),
        Err((field, message)) => out.errors.push(RowError { row, field, message }),
    };
    match text.trim_start().chars().next() {
        None => {}
        Some('[') => {
            let rows: Vec<Value> = serde_json::from_str(text).map_err(|e| format!("not a JSON array: {e}"))?;
            for (i, v) in rows.into_iter().enumerate() {
                take(i + 1, object(v));
            }
        }
        Some('{') => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                take(
                    i + 1,
                    serde_json::from_str::<Value>(line)
                        .map_err(|e| (None, format!("not JSON: {e}")))
                        .and_then(object),
                );
            }
        }
        Some(_) => {
            let csv_text = text;
            let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(csv_text.as_bytes());
            let header: Vec<String> = reader.headers().map_err(|e| format!("CSV header: {e}"))?.iter().map(str::to_string).collect();
            if !header.iter().any(|h| h == "user_id") {
                return Err("the CSV header names no `user_id` column".into());
            }
            for (i, record) in reader.records().enumerate() {
                // The file's line, as a spreadsheet shows it (blank lines and
                // quoted breaks counted): from the record's byte offset.
                let line = record
                    .as_ref()
                    .ok()
                    .and_then(|r| r.position())
                    .and_then(|p| {
                        // A record read after blank lines starts at them: skip them.
                        let start = p.byte() as usize;
                        let rest = csv_text.get(start..)?;
                        csv_text.get(..start + rest.len() - rest.trim_start_matches(['\r', '\n']).len())
                    })
                    .map(|before| before.matches('\n').count() + 1)
                    .unwrap_or(i + 2);
                let fields = record.map_err(|e| (None, format!("CSV: {e}"))).map(|r| {
                    header
                        .iter()
                        .zip(r.iter())
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| (k.clone(), Value::String(v.to_string())))
                        .collect()
                });
                take(line, fields);
            }
        }
    }
    Ok(out)
}

fn object(v: Value) -> Result<Map<String, Value>, Refusal> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err((None, "a user is a JSON object".into())),
    }
}

/// A scalar as text; `None` for null or empty.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn user_of(fields: &Map<String, Value>) -> Result<RegisteredUser, Refusal> {
    let err = |field: &str, message: String| (Some(field.to_string()), message);
    let get = |name: &str| -> Result<Option<String>, Refusal> {
        match fields.get(name).and_then(text) {
            Some(t) if t.chars().count() > MAX_TEXT => Err(err(name, format!("longer than {MAX_TEXT} characters"))),
            other => Ok(other),
        }
    };
    let user_id = get("user_id")?.ok_or_else(|| err("user_id", "missing".into()))?;
    if user_id.chars().count() > MAX_ID {
        return Err(err("user_id", format!("longer than {MAX_ID} characters")));
    }
    let this_year = chrono::Utc::now().year();
    let birth = match (get("birth_date")?, get("birth_year")?, get("age_range")?) {
        (Some(d), _, _) => {
            let date = NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| err("birth_date", format!("`{d}` is not a date (YYYY-MM-DD)")))?;
            if date.year() < 1900 || date.year() > this_year {
                return Err(err("birth_date", format!("{d} is not a birth date of a living person")));
            }
            Birth::Date(date)
        }
        (None, Some(y), _) => match y.parse::<i32>() {
            Ok(year) if (1900..=this_year).contains(&year) => Birth::Year(year),
            _ => return Err(err("birth_year", format!("`{y}` is not a year from 1900 to {this_year}"))),
        },
        (None, None, Some(range)) => Birth::AgeRange(range),
        (None, None, None) => Birth::Unknown,
    };
    let registered_at = match get("registered_at")? {
        None => None,
        Some(t) => {
            let at = parse_ts(&t).or_else(|| {
                NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc().timestamp_micros())
            });
            Some(at.ok_or_else(|| err("registered_at", format!("`{t}` is not an RFC 3339 time or a date")))?)
        }
    };
    // The tenant's own fields: `attributes`, and any other column.
    let mut attributes = BTreeMap::new();
    if let Some(extra) = fields.get("attributes") {
        let Value::Object(extra) = extra else {
            return Err(err("attributes", "not an object".into()));
        };
        for (k, v) in extra {
            if let Some(t) = text(v) {
                attributes.insert(k.clone(), t);
            }
        }
    }
    const KNOWN: [&str; 11] = [
        "user_id",
        "name",
        "gender",
        "birth_date",
        "birth_year",
        "age_range",
        "country",
        "region",
        "state",
        "city",
        "registered_at",
    ];
    for (k, v) in fields {
        if !KNOWN.contains(&k.as_str()) && k != "attributes" {
            if let Some(t) = text(v) {
                attributes.insert(k.clone(), t);
            }
        }
    }
    Ok(RegisteredUser {
        user_id,
        name: get("name")?,
        gender: get("gender")?.map(|g| Gender::parse(&g)).unwrap_or(Gender::Unknown),
        birth,
        // ISO 3166 codes in capitals, so `br` and `BR` are one country.
        country: get("country")?.map(|c| if c.len() == 2 { c.to_ascii_uppercase() } else { c }),
        region: match get("region")? {
            Some(r) => Some(r),
            None => get("state")?,
        },
        city: get("city")?,
        registered_at,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_read_the_same_user() {
        let json = br#"[{"user_id":"u1","name":"Ana","gender":"Female","birth_year":1990,"country":"br","state":"SP","city":"Campinas","registered_at":"2026-03-02","plan":"gold"}]"#;
        let ndjson = b"{\"user_id\":\"u1\",\"name\":\"Ana\",\"gender\":\"female\",\"birth_year\":\"1990\",\"country\":\"BR\",\"region\":\"SP\",\"city\":\"Campinas\",\"registered_at\":\"2026-03-02T00:00:00Z\",\"attributes\":{\"plan\":\"gold\"}}\n";
        let csv = b"user_id,name,gender,birth_year,country,state,city,registered_at,plan\nu1,Ana,female,1990,BR,SP,Campinas,2026-03-02,gold\n";
        let bad_csv = parse_users(b"user_id,birth_year\nu1,1990\n\nu2,year\n").unwrap();
        assert_eq!(bad_csv.errors[0].row, 4, "the file's line: {:?}", bad_csv.errors);
        let users: Vec<RegisteredUser> = [&json[..], &ndjson[..], &csv[..]]
            .iter()
            .map(|b| {
                let p = parse_users(b).unwrap();
                assert!(p.errors.is_empty(), "{:?}", p.errors);
                p.users.into_iter().next().unwrap()
            })
            .collect();
        assert_eq!(users[0], users[1]);
        assert_eq!(users[1], users[2]);
        assert_eq!(users[0].gender, Gender::Female);
        assert_eq!(users[0].birth, Birth::Year(1990));
        assert_eq!(users[0].attributes["plan"], "gold");
    }

    #[test]
    fn a_bad_row_names_its_row_and_field_and_the_good_rows_stay() {
        let body = b"{\"user_id\":\"u1\"}\n{\"name\":\"no id\"}\n{\"user_id\":\"u3\",\"birth_date\":\"1990-02-30\"}\n{\"user_id\":\"u4\",\"registered_at\":\"yesterday\"}\nnot json\n{\"user_id\":\"u6\",\"birth_year\":1850}\n";
        let p = parse_users(body).unwrap();
        assert_eq!(p.users.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), ["u1"]);
        let seen: Vec<(usize, Option<&str>)> = p.errors.iter().map(|e| (e.row, e.field.as_deref())).collect();
        assert_eq!(
            seen,
            [
                (2, Some("user_id")),
                (3, Some("birth_date")),
                (4, Some("registered_at")),
                (5, None),
                (6, Some("birth_year"))
            ]
        );
    }

    #[test]
    fn a_csv_without_user_id_is_refused_whole() {
        assert!(parse_users(b"id,name\n1,Ana\n").is_err());
    }
}
