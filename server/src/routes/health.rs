use crate::startup::HttpState;
use crate::telemetry::METRICS_CONTENT_TYPE;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use std::time::Duration;

/// Liveness: the process answers.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers within 2 s.
pub async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    let check = tokio::time::timeout(Duration::from_secs(2), sqlx::query_scalar::<_, i32>("select 1").fetch_one(s.app.db.pool())).await;
    match check {
        Ok(Ok(_)) => (StatusCode::OK, Json(json!({"status": "ready", "database": "ok"}))),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database error");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "database": "error"})))
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "database": "timeout"}))),
    }
}

/// Prometheus text format.
pub async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    let pool = s.app.db.pool();
    s.metrics.set_gauge("odooops_db_pool_connections", "Open connections in the request pool.", pool.size() as f64);
    s.metrics.set_gauge("odooops_db_pool_idle_connections", "Idle connections in the request pool.", pool.num_idle() as f64);
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], s.metrics.render())
}
