//! `GET /sdk/streamtally.js`: the player SDK (`sdk/streamtally.js`), served
//! from inside the binary so a page can load it from the server it reports to.

use axum::http::header;
use axum::response::IntoResponse;

/// The SDK as written: readable, and under its size limit gzipped (tested).
pub const SDK: &str = include_str!("../../../../sdk/streamtally.js");

#[utoipa::path(
    get,
    path = "/sdk/streamtally.js",
    tag = "sdk",
    summary = "The player SDK (JavaScript)",
    responses((status = 200, description = "The SDK", content_type = "text/javascript", body = String)),
)]
pub async fn get_sdk() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SDK,
    )
}
