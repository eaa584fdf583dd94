//! Values into statement text, for servers without query parameters
//! (ClickHouse 18.16): the query model writes `{pN:String}` for the N-th
//! string parameter; each is replaced, in one pass over the text, by the
//! value as a quoted ClickHouse string literal. A value is never scanned
//! again, so a value holding `{p2:String}` or a quote stays a value.

/// A ClickHouse string literal holding exactly `value`.
pub(super) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BindError {
    #[error("the statement names parameter {0}, of {1} given")]
    Missing(usize, usize),
}

/// `text` with every `{pN:String}` replaced by the N-th (1-based) value, quoted.
pub(super) fn bind(text: &str, params: &[String]) -> Result<String, BindError> {
    let mut out = String::with_capacity(text.len() + params.iter().map(|p| p.len() + 2).sum::<usize>());
    let mut rest = text;
    while let Some(at) = rest.find("{p") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match (digits, after[digits..].strip_prefix(":String}")) {
            (1.., Some(tail)) => {
                let n: usize = after[..digits].parse().unwrap_or(0);
                let value = n.checked_sub(1).and_then(|i| params.get(i)).ok_or(BindError::Missing(n, params.len()))?;
                out.push_str(&quote(value));
                rest = tail;
            }
            _ => {
                out.push_str("{p");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_the_place_of_their_parameters() {
        let sql = bind("SELECT 1 WHERE a = {p1:String} AND b IN ({p2:String}, {p1:String})", &["x".into(), "y".into()]).unwrap();
        assert_eq!(sql, "SELECT 1 WHERE a = 'x' AND b IN ('y', 'x')");
    }

    #[test]
    fn a_value_is_never_read_as_a_parameter_or_as_sql() {
        let params = vec!["{p2:String}".to_string(), "' OR 1 = 1 --".to_string()];
        let sql = bind("a = {p1:String} AND b = {p2:String}", &params).unwrap();
        assert_eq!(sql, "a = '{p2:String}' AND b = '\\' OR 1 = 1 --'");
    }

    #[test]
    fn a_missing_parameter_is_an_error() {
        assert_eq!(bind("a = {p3:String}", &["x".into()]), Err(BindError::Missing(3, 1)));
    }

    #[test]
    fn text_like_a_parameter_but_not_one_is_left_alone() {
        assert_eq!(bind("'{p}' {px:String} {p1:Int}", &[]).unwrap(), "'{p}' {px:String} {p1:Int}");
    }
}
