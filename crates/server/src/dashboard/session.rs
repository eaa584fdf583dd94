//! Dashboard sessions: a signed-in browser holds a random token in an
//! `HttpOnly`, `SameSite=Strict` cookie (`Secure` over TLS); the server keeps,
//! in memory only, the credential it stands for — the API key signed in
//! with, or for a staff account a session bearer (`sts_…`) that the API
//! accepts while the account exists. Every page and every API read a session
//! makes is authenticated with that credential, as any client's is — so a
//! revoked key or a deleted account ends its sessions at once. Forms carry a CSRF token checked
//! against the session's (or, before sign-in, a cookie's: double submit).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

pub const SESSION_COOKIE: &str = "st_session";
pub const CSRF_COOKIE: &str = "st_csrf";
/// A session ends this long after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the oldest go first).
const MAX_SESSIONS: usize = 10_000;

/// What a staff account's session presents to the API as its key.
pub const ACCOUNT_BEARER_PREFIX: &str = "sts_";

#[derive(Clone)]
pub struct Session {
    /// The bearer the session's API requests carry: an API key, or an account's session bearer.
    pub key: String,
    /// The staff account signed in, if it was one.
    pub account: Option<String>,
    pub csrf: String,
    pub signed_in: Instant,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    /// A session of an API key.
    pub fn create(&self, key: String) -> (String, Session) {
        self.insert(key, None)
    }

    /// A session of a staff account, with a fresh bearer for its API requests.
    pub fn create_for_account(&self, account_id: String) -> (String, Session) {
        self.insert(format!("{ACCOUNT_BEARER_PREFIX}{}", random_token()), Some(account_id))
    }

    fn insert(&self, key: String, account: Option<String>) -> (String, Session) {
        let token = random_token();
        let session = Session {
            key,
            account,
            csrf: random_token(),
            signed_in: Instant::now(),
        };
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| s.signed_in.elapsed() < SESSION_LIFETIME);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.signed_in).map(|(t, _)| t.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(token.clone(), session.clone());
        (token, session)
    }

    pub fn get(&self, token: &str) -> Option<Session> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(token).filter(|s| s.signed_in.elapsed() < SESSION_LIFETIME).cloned()
    }

    pub fn remove(&self, token: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(token);
    }

    /// The staff account whose live session presents `bearer`.
    pub fn account_of_bearer(&self, bearer: &str) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.values()
            .find(|s| s.signed_in.elapsed() < SESSION_LIFETIME && same_token(&s.key, bearer))
            .and_then(|s| s.account.clone())
    }

    /// Ends every session of a deleted account.
    pub fn end_account(&self, account_id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| s.account.as_deref() != Some(account_id));
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Secure` over TLS.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", max_age.as_secs());
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session a request's cookie names, if it is live.
pub fn session_of(state: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let session = state.sessions.get(&token)?;
    Some((token, session))
}

/// The API reads of a signed-in dashboard: a `GET` (or `HEAD`) to `/api/`
/// without a key of its own is made with its session's key. Nothing that
/// changes state is ever authorised by a cookie, so the API needs no CSRF
/// defence of its own.
pub async fn session_reads(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    if reads && request.uri().path().starts_with("/api/") && !request.headers().contains_key(header::AUTHORIZATION) {
        if let Some((_, session)) = session_of(&state, request.headers()) {
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", session.key)) {
                request.headers_mut().insert(header::AUTHORIZATION, v);
            }
        }
    }
    next.run(request).await
}
