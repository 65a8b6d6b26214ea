//! HTTP routes outside Leptos: probes, metrics, the machine API.
pub mod health;
pub mod machine;

use app::models::AppError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An [`AppError`] as a JSON response with its status (the text never carries internals).
pub fn app_error(e: AppError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(serde_json::json!({"error": e.to_string()}))).into_response()
}
