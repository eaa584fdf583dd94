//! The dashboard, served at `/` from inside the binary: pages rendered here
//! as HTML with SVG charts (`chart.rs`) and tables, a little script of ours
//! (`assets/app.js`: live updates over SSE, sorting, zooming) and a style
//! sheet. Every number comes from the server's own API, asked with the
//! signed-in session's key (`api.rs`), so the API's checks and tenant
//! isolation hold for the dashboard too.

mod api;
mod audience;
mod changes;
mod chart;
mod html;
mod pages;
mod quality;
mod session;
mod settings;
mod user;
mod view;

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use streamtally_store::{Principal, Role};

pub use session::{session_reads, Sessions, ACCOUNT_BEARER_PREFIX};

use crate::auth::{authenticate, ClientIp};
use crate::AppState;
use html::esc;
use session::{cookie, random_token, same_token, session_of, set_cookie, CSRF_COOKIE, SESSION_COOKIE, SESSION_LIFETIME};

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_form).post(signin))
        .route("/signout", axum::routing::post(signout))
        .route("/overview", get(pages::overview))
        .route("/live", get(pages::live))
        .route("/monthly", get(pages::monthly))
        .route("/cdn", get(pages::cdn))
        .route("/quality", get(quality::quality))
        .route("/attendance", get(pages::attendance))
        .route("/audience", get(audience::audience))
        .route("/audience/user", get(user::user))
        .route("/settings", get(settings::show).post(settings::change))
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", JS) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Redirect {
    match session_of(&state, &headers) {
        Some(_) => Redirect::to("/overview"),
        None => Redirect::to("/signin"),
    }
}

fn secure(state: &AppState) -> bool {
    state.config.tls.is_some()
}

/// The sign-in form, with a fresh CSRF token in a cookie and in the form.
async fn signin_form(State(state): State<AppState>) -> Response {
    signin_page(&state, None, StatusCode::OK)
}

fn signin_page(state: &AppState, error: Option<&str>, status: StatusCode) -> Response {
    let csrf = random_token();
    let error = error.map(html::refused).unwrap_or_default();
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Sign in · streamtally</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body class=\"signin\"><main>\
<h1>streamtally</h1>{error}<form method=\"post\" action=\"/signin\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label>E-mail <input type=\"email\" name=\"email\" autocomplete=\"username\"></label>\
<label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\"></label>\
<button name=\"with\" value=\"account\">Sign in</button></form>\
<form method=\"post\" action=\"/signin\" class=\"with-key\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label>or an API key (read or admin) <input type=\"password\" name=\"key\" autocomplete=\"off\" required></label>\
<button name=\"with\" value=\"key\">Sign in with the key</button></form>\
<p class=\"hint\">A staff account made by your admin; or a tenant's read or admin key, or the server administrator's key.</p></main></body></html>"
    );
    let mut response = (status, Html(page)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(CSRF_COOKIE, &csrf, std::time::Duration::from_secs(3600), secure(state)),
    );
    response
}

/// A form body's fields.
pub(crate) fn form(body: &Bytes) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn signin(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form(&body);
    let sent = fields.get("csrf").map(String::as_str).unwrap_or("");
    let expected = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_token(sent, &expected) {
        return signin_page(&state, Some("The form expired; please sign in again."), StatusCode::FORBIDDEN);
    }
    let email = fields.get("email").map(|e| e.trim().to_string()).unwrap_or_default();
    let (token, principal) = if email.is_empty() {
        let key = fields.get("key").map(|k| k.trim().to_string()).unwrap_or_default();
        let principal = match authenticate(&state, Some(key.clone()), Role::Read).await {
            Ok(p) => p,
            Err(e) => return signin_page(&state, Some(&e.to_string()), StatusCode::UNAUTHORIZED),
        };
        (state.sessions.create(key).0, principal)
    } else {
        let password = fields.get("password").cloned().unwrap_or_default();
        match account_signin(&state, ip, email, password).await {
            Ok(signed_in) => signed_in,
            Err((status, message)) => return signin_page(&state, Some(&message), status),
        }
    };
    // The server administrator chooses a tenant first.
    let to = if principal.tenant.is_none() {
        match state.meta.tenants().ok().and_then(|t| t.into_iter().next()) {
            Some(t) => format!(
                "/overview?tenant={}",
                url::form_urlencoded::byte_serialize(t.name.as_bytes()).collect::<String>()
            ),
            None => "/overview".into(),
        }
    } else {
        "/overview".into()
    };
    let mut response = Redirect::to(&to).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &token, SESSION_LIFETIME, secure(&state)));
    response
}

/// Checks an account's password, counting failures against the address as
/// for wrong keys; a session of the account when it matches.
async fn account_signin(state: &AppState, ip: std::net::IpAddr, email: String, password: String) -> Result<(String, Principal), (StatusCode, String)> {
    if let Err(e) = state.abuse.check_auth_ip(ip) {
        return Err((StatusCode::TOO_MANY_REQUESTS, e.to_string()));
    }
    let meta = state.meta.clone();
    let verified = tokio::task::spawn_blocking(move || meta.verify_account(&email, &password)).await;
    let internal = |e: String| (StatusCode::INTERNAL_SERVER_ERROR, format!("The sign-in failed: {e}"));
    let account = match verified.map_err(|e| internal(e.to_string()))?.map_err(|e| internal(e.to_string()))? {
        Some(id) => id,
        None => {
            state.abuse.auth_failed(ip);
            return Err((StatusCode::UNAUTHORIZED, "The e-mail address or the password is wrong.".into()));
        }
    };
    let principal = state
        .meta
        .account_principal(&account)
        .map_err(|e| internal(e.to_string()))?
        .ok_or_else(|| (StatusCode::UNAUTHORIZED, "The account was deleted.".to_string()))?;
    Ok((state.sessions.create_for_account(account).0, principal))
}

async fn signout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some((token, session)) = session_of(&state, &headers) else {
        return Redirect::to("/signin").into_response();
    };
    let fields = form(&body);
    if !same_token(fields.get("csrf").map(String::as_str).unwrap_or(""), &session.csrf) {
        return (
            StatusCode::FORBIDDEN,
            Html(html::refused("The form expired; reload the page and sign out again.")),
        )
            .into_response();
    }
    state.sessions.remove(&token);
    let mut response = Redirect::to("/signin").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", std::time::Duration::ZERO, secure(&state)));
    response
}

/// What every page needs: the session, where the browser is, the view and
/// the tenant's zone and today.
pub(crate) struct Page {
    /// The server's own router, built once per page for all its API questions.
    pub router: Router,
    pub peer: SocketAddr,
    pub key: String,
    pub csrf: String,
    pub view: view::ViewParams,
    pub tz: chrono_tz::Tz,
    pub today: chrono::NaiveDate,
    /// `&tenant=…` for the server administrator, else empty.
    pub tenant_param: String,
    /// The tenants the server administrator can switch between (none for a tenant's key).
    pub tenants: Vec<String>,
}

impl Page {
    /// The page for a request, or where to send a browser without a session.
    async fn open(state: AppState, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: &HeaderMap, view: view::ViewParams) -> Result<Page, Response> {
        let Some((_, session)) = session_of(&state, headers) else {
            return Err(Redirect::to("/signin").into_response());
        };
        // The key may have been revoked since sign-in: ask as any client would.
        let principal = match authenticate(&state, Some(session.key.clone()), Role::Read).await {
            Ok(p) => p,
            Err(_) => return Err(Redirect::to("/signin").into_response()),
        };
        let tenant = match crate::auth::tenant_of(&state, &principal, view.tenant.as_deref()) {
            Ok(t) => t,
            Err(e) => return Err((StatusCode::NOT_FOUND, Html(html::refused(&e.to_string()))).into_response()),
        };
        let tz = state.pipeline.tenants().get(tenant).map(|c| c.settings.tz()).unwrap_or(chrono_tz::Tz::UTC);
        let today = chrono::Utc::now().with_timezone(&tz).date_naive();
        let tenant_param = match (&principal.tenant, &view.tenant) {
            (None, Some(t)) => format!("&tenant={}", url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()),
            _ => String::new(),
        };
        let router = crate::router(state.clone());
        let tenants = match principal.tenant {
            Some(_) => Vec::new(),
            None => api::get(&router, peer, &session.key, "/api/v1/tenants").await.json()["tenants"]
                .as_array()
                .map(|a| a.iter().filter_map(|t| t["name"].as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        };
        Ok(Page {
            router,
            peer,
            key: session.key,
            csrf: session.csrf,
            view,
            tz,
            today,
            tenant_param,
            tenants,
        })
    }

    async fn api(&self, path: &str, params: &[(&str, &str)]) -> api::Answer {
        self.send("GET", path, params, None).await
    }

    /// `method path?params` on the API for the page's tenant, with a JSON body if given.
    async fn send(&self, method: &str, path: &str, params: &[(&str, &str)], json: Option<serde_json::Value>) -> api::Answer {
        let url = format!("{path}?{}{}", encode(params), self.tenant_param);
        api::send(&self.router, self.peer, &self.key, method, &url, json.map(|b| b.to_string())).await
    }

    fn render(&self, title: &str, page: &str, body: &str) -> Response {
        Html(html::layout(title, page, &self.view, &self.csrf, &self.tenants, body)).into_response()
    }
}

/// A value as one segment of an API path: form encoding writes a space as
/// `+`, which a path keeps as a `+`, so spaces become `%20`.
pub(crate) fn path_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

/// A link to the same question as CSV, answered by the API itself (the
/// session's cookie authorises reads).
pub(crate) fn csv_link(path: &str, params: &[(&str, &str)], tenant_param: &str) -> String {
    let query = encode(&[params, &[("format", "csv")]].concat());
    format!(
        "<a class=\"csv\" href=\"{}\" download>Download CSV</a>",
        esc(&format!("{path}?{query}{tenant_param}"))
    )
}

/// `k=v&…`, form-encoded. (A plain function: the encoder is not `Send`, so
/// it never lives across an await.)
fn encode(params: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    q.finish()
}
