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
    let mail = &s.services.mail_stats;
    let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed) as f64;
    s.metrics.set_gauge("odooops_smtp_sessions_open", "SMTP sessions open now.", mail.sessions_open.load(std::sync::atomic::Ordering::Relaxed) as f64);
    s.metrics.set_gauge("odooops_smtp_sessions", "SMTP sessions accepted since start.", get(&mail.sessions));
    s.metrics.set_gauge("odooops_smtp_sessions_refused", "SMTP connections turned away at the session cap since start.", get(&mail.sessions_refused));
    s.metrics.set_gauge("odooops_smtp_messages_stored", "Messages captured since start.", get(&mail.stored));
    s.metrics.set_gauge("odooops_smtp_messages_relayed", "Production messages relayed since start.", get(&mail.relayed));
    s.metrics.set_gauge("odooops_smtp_messages_rejected", "Messages refused after DATA since start.", get(&mail.rejected));
    s.metrics.set_gauge("odooops_smtp_auth_failures", "Failed SMTP logins since start.", get(&mail.auth_failures));
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], s.metrics.render())
}
