//! Request bodies over the size limit are answered `413` only after they were
//! read. Without this, the server answers while the client is still writing
//! and closes the connection with the body unread; the client then sees a
//! broken pipe or a reset instead of the answer (as nginx's lingering close
//! avoids). What is read past the limit is thrown away, and only up to a cap.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::error::ApiError;

/// At most this many bytes of an oversized body are read and discarded.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// An oversized body is read for at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// How much a body may be, and how long it may take to arrive.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    pub max_bytes: usize,
    /// The user directory's upload (`PUT /api/v1/users`) may be larger.
    pub directory_bytes: usize,
    /// Large uploads buffered at once: their memory is bounded, whoever
    /// sends them (the key is checked only after the body is read).
    pub directory_uploads: std::sync::Arc<tokio::sync::Semaphore>,
    pub timeout: Duration,
}

/// Buffers the body up to `max_bytes`; a larger one is drained and refused,
/// and one that does not arrive within `timeout` is answered `408`.
pub async fn read_body(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    let directory = request.uri().path() == "/api/v1/users";
    let _upload = match directory {
        true => match limits.directory_uploads.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return ApiError::Unavailable("another directory upload is being read; retry in a few seconds".into()).into_response(),
        },
        false => None,
    };
    let limit = if directory { limits.directory_bytes } else { limits.max_bytes };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut kept: Vec<u8> = Vec::new();
    let mut over = declared.is_some_and(|n| n > limit as u64);
    if !over {
        kept.reserve(declared.unwrap_or(0) as usize);
        let read = async {
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else {
                    return Err(ApiError::BadRequest("request body could not be read".to_string()));
                };
                if kept.len() + chunk.len() > limit {
                    over = true;
                    break;
                }
                kept.extend_from_slice(&chunk);
            }
            Ok(())
        };
        match tokio::time::timeout(limits.timeout, read).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return e.into_response(),
            Err(_) => {
                return ApiError::Timeout(format!("the request body did not arrive within {} s", limits.timeout.as_secs())).into_response();
            }
        }
    }
    if over {
        let drain = async {
            let mut seen = 0u64;
            while let Some(Ok(chunk)) = stream.next().await {
                seen += chunk.len() as u64;
                if seen > DRAIN_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
        return ApiError::TooLarge(format!("request body larger than {limit} bytes")).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(Bytes::from(kept)))).await
}
