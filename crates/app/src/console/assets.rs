//! The console's one stylesheet, compiled into the binary so `cargo run` needs no build step.

use axum::response::IntoResponse;
use http::{HeaderValue, header};

pub const STYLESHEET: &str = "/console/assets/console.css";

const CSS: &str = include_str!("../../assets/console.css");

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        CSS,
    )
}
