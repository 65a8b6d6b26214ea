//! Read-only endpoints of the local API: the project, migrations, buckets, logs, advisors.
use super::{json_text, read_json, short, ApiError, Local, Target};
use crate::scan::{self, ScanOptions};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;

/// `GET /v1/projects/{ref}`.
pub async fn project(t: Target, State(l): State<Local>) -> Result<Response, ApiError> {
    let version = read_json(&t, l.sb.query_timeout, "select to_json(current_setting('server_version'))::text").await?;
    let version: String = serde_json::from_str(&version).unwrap_or_default();
    let body = serde_json::json!({
        "id": t.project_ref, "ref": t.project_ref, "organization_id": "local", "name": t.name,
        "region": "local", "created_at": t.created_at, "status": "ACTIVE_HEALTHY",
        "database": {"host": t.host, "version": version, "postgres_engine": version.split('.').next().unwrap_or_default(), "release_channel": "ga"},
    });
    Ok(json_text(StatusCode::OK, body.to_string()))
}

/// `GET /v1/projects/{ref}/database/migrations`: `[{version, name}]`, empty when the
/// database has no `supabase_migrations.schema_migrations`.
pub async fn migrations(t: Target, State(l): State<Local>) -> Result<Response, ApiError> {
    // Read through to_jsonb so an older table without `name` still works; the table is
    // named only inside a query that runs when it exists.
    let exists = read_json(&t, l.sb.query_timeout, "select to_json(to_regclass('supabase_migrations.schema_migrations') is not null)::text").await?;
    if exists != "true" {
        return Ok(json_text(StatusCode::OK, "[]".into()));
    }
    let body = read_json(
        &t,
        l.sb.query_timeout,
        "select coalesce(json_agg(json_build_object('version', m->>'version', 'name', m->>'name') order by m->>'version'), '[]')::text
           from (select to_jsonb(x) m from supabase_migrations.schema_migrations x) t",
    )
    .await?;
    Ok(json_text(StatusCode::OK, body))
}

/// `GET /v1/projects/{ref}/storage/buckets`.
pub async fn buckets(t: Target, State(l): State<Local>) -> Result<Response, ApiError> {
    let exists = read_json(&t, l.sb.query_timeout, "select to_json(to_regclass('storage.buckets') is not null)::text").await?;
    if exists != "true" {
        return Ok(json_text(StatusCode::OK, "[]".into()));
    }
    let body = read_json(
        &t,
        l.sb.query_timeout,
        "select coalesce(json_agg(json_build_object(
                  'id', b->>'id', 'name', b->>'name', 'owner', coalesce(b->>'owner', ''),
                  'public', coalesce((b->>'public')::boolean, false),
                  'created_at', b->>'created_at', 'updated_at', b->>'updated_at',
                  'file_size_limit', b->'file_size_limit', 'allowed_mime_types', b->'allowed_mime_types')
                order by b->>'name'), '[]')::text
           from (select to_jsonb(x) b from storage.buckets x) t",
    )
    .await?;
    Ok(json_text(StatusCode::OK, body))
}

#[derive(Debug, Deserialize)]
pub struct LogParams {
    #[serde(default)]
    iso_timestamp_start: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    iso_timestamp_end: Option<chrono::DateTime<chrono::Utc>>,
    /// Local extension: `edge_logs` (default) or `postgres_logs`.
    #[serde(default)]
    source: Option<String>,
    /// Supabase's log SQL: accepted, not interpreted.
    #[serde(default, rename = "sql")]
    _sql: Option<String>,
}

/// `GET /v1/projects/{ref}/analytics/endpoints/logs.all`: `{result, error}`.
pub async fn logs(t: Target, State(l): State<Local>, Query(p): Query<LogParams>) -> Result<Json<serde_json::Value>, ApiError> {
    let end = p.iso_timestamp_end.unwrap_or_else(chrono::Utc::now);
    let start = p.iso_timestamp_start.unwrap_or(end - chrono::Duration::hours(1));
    let result: serde_json::Value = match p.source.as_deref().unwrap_or("edge_logs") {
        "edge_logs" => {
            let mut tx = l.db.tenant_tx(&t.claims).await.map_err(ApiError::internal)?;
            let rows: serde_json::Value = sqlx::query_scalar(
                "select coalesce(json_agg(json_build_object(
                          'id', id::text, 'timestamp', (extract(epoch from created_at) * 1000000)::bigint,
                          'event_message', concat_ws(' ', details->>'method', '/' || (details->>'path'), details->>'status'),
                          'method', details->>'method', 'path', '/' || (details->>'path'),
                          'status_code', (details->>'status')::int, 'latency_ms', (details->>'latency_ms')::float8,
                          'actor', actor_email) order by id desc), '[]')
                   from (select * from ops.audit_log
                          where action = 'supabase.proxy' and target = $1 and created_at between $2 and $3
                          order by id desc limit 500) a",
            )
            .bind(t.project_ref.as_str())
            .bind(start)
            .bind(end)
            .fetch_one(&mut *tx)
            .await
            .map_err(ApiError::internal)?;
            tx.commit().await.map_err(ApiError::internal)?;
            rows
        }
        "postgres_logs" => {
            let text = read_json(
                &t,
                l.sb.query_timeout,
                "select coalesce(json_agg(json_build_object(
                          'id', pid::text, 'timestamp', (extract(epoch from coalesce(query_start, backend_start)) * 1000000)::bigint,
                          'event_message', coalesce(query, ''), 'state', state, 'user_name', usename::text,
                          'application_name', application_name) order by coalesce(query_start, backend_start) desc), '[]')::text
                   from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
            )
            .await?;
            serde_json::from_str(&text).map_err(ApiError::internal)?
        }
        other => return Err(ApiError::bad_request(format!("unknown log source {other:?}: edge_logs or postgres_logs"))),
    };
    Ok(Json(serde_json::json!({"result": result, "error": null})))
}

pub async fn security_advisors(t: Target, State(l): State<Local>) -> Result<Json<serde_json::Value>, ApiError> {
    advisors(&t, &l, "SECURITY").await
}

pub async fn performance_advisors(t: Target, State(l): State<Local>) -> Result<Json<serde_json::Value>, ApiError> {
    advisors(&t, &l, "PERFORMANCE").await
}

/// `{lints: [...]}` in splinter's shape, from the console's scanner.
async fn advisors(t: &Target, l: &Local, category: &str) -> Result<Json<serde_json::Value>, ApiError> {
    let mut conn = t.pool.acquire().await.map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("cannot reach the project's database: {}", short(&e))))?;
    let opts = ScanOptions { statement_timeout_ms: l.sb.query_timeout.as_millis() as u64, ..ScanOptions::default() };
    let report = scan::scan(&mut conn, &opts).await.map_err(|e| ApiError::internal(format!("{e:#}")))?;
    let lints: Vec<serde_json::Value> = report
        .findings
        .iter()
        .filter(|f| f.categories.iter().any(|c| c == category))
        .map(|f| {
            serde_json::json!({
                "name": f.name, "title": f.title, "level": f.level, "facing": f.facing,
                "categories": f.categories, "description": f.description, "detail": f.detail,
                "remediation": f.remediation, "metadata": f.metadata, "cache_key": f.cache_key,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({"lints": lints})))
}
