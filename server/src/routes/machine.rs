//! The machine API, authenticated by `Authorization: Bearer oops_…` tokens.
use crate::startup::HttpState;
use app::auth::token;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// Resolves the bearer token of a request to its scope, or a 401 response.
pub async fn authenticate(s: &HttpState, headers: &HeaderMap) -> Result<app::db::tokens::TokenScope, Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with(token::PREFIX) && t.len() < 200);
    let Some(presented) = presented else {
        return Err(error(StatusCode::UNAUTHORIZED, "missing or malformed bearer token"));
    };
    let mut conn = s.app.db.pool().acquire().await.map_err(|e| {
        tracing::error!(error = %e, "token check: no connection");
        error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    })?;
    match app::db::tokens::resolve(&mut conn, &token::digest(presented)).await {
        Ok(Some(scope)) => Ok(scope),
        Ok(None) => Err(error(StatusCode::UNAUTHORIZED, "unknown, expired or revoked token")),
        Err(e) => {
            tracing::error!(error = %e, "token check failed");
            Err(error(StatusCode::INTERNAL_SERVER_ERROR, "token check failed"))
        }
    }
}

/// What the presented token may act on.
pub async fn whoami(State(s): State<HttpState>, headers: HeaderMap) -> Response {
    match authenticate(&s, &headers).await {
        Ok(scope) => Json(json!({
            "token_id": scope.token_id,
            "name": scope.name,
            "tenant_id": scope.tenant_id,
            "project_id": scope.project_id,
            "role": scope.role,
        }))
        .into_response(),
        Err(r) => r,
    }
}
