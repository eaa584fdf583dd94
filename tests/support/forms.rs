//! The dashboard's forms as a browser without JavaScript sends them:
//! redirects not followed, cookies by hand, the CSRF token read from the page.

use super::{Reply, Server};

/// A browser without redirects followed, so each answer can be looked at.
pub fn browser() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into()
}

pub fn call(server: &Server, method: &str, path: &str, cookie: &str, form: Option<&str>) -> Reply {
    let mut b = ureq::http::Request::builder().method(method).uri(server.url(path));
    if !cookie.is_empty() {
        b = b.header("Cookie", cookie);
    }
    let r = match form {
        Some(body) => browser().run(
            b.header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.as_bytes().to_vec())
                .unwrap(),
        ),
        None => browser().run(b.body(()).unwrap()),
    };
    let mut r = r.unwrap();
    let headers = r.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    Reply {
        status: r.status().as_u16(),
        body: r.body_mut().read_to_string().unwrap_or_default(),
        headers,
    }
}

/// `name=value` of a `Set-Cookie` header.
pub fn cookie_of(r: &Reply, name: &str) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .find(|v| v.starts_with(&format!("{name}=")))
}

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

/// Signs in with `key`: the session cookie (empty when refused) and the answer.
pub fn sign_in(server: &Server, key: &str) -> (String, Reply) {
    sign_in_with(server, &format!("key={}", enc(key)))
}

/// Signs in with a staff account's e-mail address and password.
pub fn sign_in_as(server: &Server, email: &str, password: &str) -> (String, Reply) {
    sign_in_with(server, &format!("email={}&password={}", enc(email), enc(password)))
}

pub fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn sign_in_with(server: &Server, fields: &str) -> (String, Reply) {
    let form = call(server, "GET", "/signin", "", None);
    assert_eq!(form.status, 200);
    let csrf_cookie = cookie_of(&form, "st_csrf").unwrap();
    let csrf = hidden(&form.body, "csrf");
    let jar = csrf_cookie.split(';').next().unwrap().to_string();
    let r = call(server, "POST", "/signin", &jar, Some(&format!("csrf={csrf}&{fields}")));
    let session = cookie_of(&r, "st_session")
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap_or_default();
    (session, r)
}
