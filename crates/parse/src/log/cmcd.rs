//! CMCD (CTA-5004) data: `key=value` pairs separated by commas, strings in
//! double quotes, keys without a value meaning `true`; sent as the `CMCD`
//! query argument or in the `CMCD-Request/-Object/-Status/-Session` headers.

use streamtally_model::Cmcd;

/// Reads one CMCD string (query value already URL-decoded, or a header value)
/// into `into`; unknown keys are ignored, as the standard asks.
pub fn parse_cmcd(text: &str, into: &mut Cmcd) {
    for pair in split_outside_quotes(text) {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (key, value) = match pair.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (pair, None),
        };
        let text = || value.map(|v| v.trim_matches('"').to_string()).filter(|v| !v.is_empty());
        let number = || value.and_then(|v| v.trim_matches('"').parse::<f64>().ok()).filter(|v| v.is_finite());
        let flag = || value.is_none_or(|v| v != "false");
        match key {
            "sid" => into.sid = text(),
            "cid" => into.cid = text(),
            "st" => into.st = text(),
            "ot" => into.ot = text(),
            "d" => into.d = number(),
            "br" => into.br = number(),
            "bs" => into.bs = flag(),
            "bl" => into.bl = number(),
            "mtp" => into.mtp = number(),
            "su" => into.su = flag(),
            "sta" => into.sta = text(),
            "pt" => into.pt = number(),
            "ts" => into.ts = number(),
            "msd" => into.msd = number(),
            "bsa" => into.bsa = number(),
            "bsd" => into.bsd = number(),
            "ec" => into.ec = text(),
            _ => {}
        }
    }
}

/// The CMCD data of a query string (`…&CMCD=br%3D3200%2Cbs…`), if any;
/// `into` is made only when there is some (most requests carry none).
pub fn cmcd_of_query(query: &str, into: &mut Option<Box<Cmcd>>) {
    if memchr::memmem::find(query.as_bytes(), b"CMCD=").is_none() {
        return;
    }
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "CMCD" {
            parse_cmcd(&v, into.get_or_insert_default());
        }
    }
}

fn split_outside_quotes(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut quoted = false;
    let mut parts = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_example_and_v2_keys() {
        let mut none = None;
        cmcd_of_query("a=1&b=CMCD", &mut none);
        assert_eq!(none, None, "no CMCD, nothing made");
        let mut c = None;
        cmcd_of_query(
            "a=1&CMCD=br%3D3200%2Cbs%2Cd%3D4004%2Cmtp%3D25400%2Cot%3Dv%2Crtp%3D15000%2Csid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66%22%2Ctb%3D6000",
            &mut c,
        );
        let c = c.expect("CMCD read");
        assert_eq!(c.br, Some(3200.0));
        assert!(c.bs);
        assert_eq!(c.d, Some(4004.0));
        assert_eq!(c.ot.as_deref(), Some("v"));
        assert_eq!(c.sid.as_deref(), Some("6e2fb550-c457-11e9-bb97-0800200c9a66"));
        let mut v2 = Cmcd::default();
        parse_cmcd(r#"cid="ep,1",sta=r,pt=12000,ts=1772445600000,msd=250,bsa=3,bsd=1200,ec="E42",st=l,su"#, &mut v2);
        assert_eq!(v2.cid.as_deref(), Some("ep,1"), "commas inside quotes stay");
        assert_eq!((v2.sta.as_deref(), v2.st.as_deref(), v2.ec.as_deref()), (Some("r"), Some("l"), Some("E42")));
        assert_eq!(
            (v2.pt, v2.ts, v2.msd, v2.bsa, v2.bsd),
            (Some(12000.0), Some(1772445600000.0), Some(250.0), Some(3.0), Some(1200.0))
        );
        assert!(v2.su);
        let mut junk = Cmcd::default();
        parse_cmcd("d=abc,,=,br=NaN,x", &mut junk);
        assert_eq!(junk, Cmcd::default());
    }
}
