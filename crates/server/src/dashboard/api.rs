//! How a dashboard page reads its numbers: by asking the server's own API
//! (the same router, handlers and checks every client meets) with the
//! session's key. There is no private way in.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

/// What the API answered: a status and the body's text.
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The API's own message when it refused.
    pub fn error(&self) -> Option<String> {
        (!self.status.is_success()).then(|| self.json()["error"].as_str().map(str::to_string).unwrap_or_else(|| self.status.to_string()))
    }
}

/// `GET path_and_query` on the API (`router`, the server's own), as the session's key.
pub async fn get(router: &Router, peer: SocketAddr, key: &str, path_and_query: &str) -> Answer {
    send(router, peer, key, "GET", path_and_query, None).await
}

/// A request to the API as the session's key, with a JSON body if given.
pub async fn send(router: &Router, peer: SocketAddr, key: &str, method: &str, path_and_query: &str, json: Option<String>) -> Answer {
    let builder = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(header::AUTHORIZATION, format!("Bearer {key}"));
    let mut request = match json {
        Some(body) => builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body)),
        None => builder.body(Body::empty()),
    }
    .unwrap_or_default();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = match router.clone().oneshot(request).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024).await.unwrap_or_default();
    Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}
