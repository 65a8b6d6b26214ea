//! The local Management API: `/local-supabase/v1/projects/{ref}/...` with Supabase's shapes,
//! backed by the PostgreSQL database registered for the ref (see the module doc of
//! `supabase` for the routes). Authenticated by `ODOOOPS_SUPABASE_LOCAL_TOKEN` alone: it is
//! the management token of these projects, as Supabase's is of theirs.
mod info;
mod query;
mod settings;

use super::crypto::same_token;
use super::Supabase;
use app::db::DbClaims;
use app::models::supabase::ProjectRef;
use app::models::Role;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

pub const MOUNT: &str = "/local-supabase";

/// Connection pools to the registered databases, one per link (replaced when its
/// connection string changes).
#[derive(Clone, Default)]
pub struct Pools(Arc<Mutex<HashMap<Uuid, (String, PgPool)>>>);

impl Pools {
    fn get(&self, link: Uuid, sealed: &str, url: &str) -> Result<PgPool, ApiError> {
        let mut pools = self.0.lock().map_err(|_| ApiError::internal("pool registry poisoned"))?;
        if let Some((s, p)) = pools.get(&link) {
            if s == sealed {
                return Ok(p.clone());
            }
        }
        // No statement cache: every connection is wiped (`discard all`) when it goes back,
        // so nothing one caller set (roles, settings, prepared statements) reaches the next.
        let opts = PgConnectOptions::from_str(url).map_err(|_| ApiError::internal("the registered connection string does not parse"))?.statement_cache_capacity(0);
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(Duration::from_secs(60))
            .after_release(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql("discard all").execute(conn).await?;
                    Ok(true)
                })
            })
            .connect_lazy_with(opts);
        pools.insert(link, (sealed.to_string(), pool.clone()));
        Ok(pool)
    }
}

#[derive(Clone)]
pub struct Local {
    pub db: app::db::Db,
    pub sb: Supabase,
}

pub fn router(db: app::db::Db, sb: Supabase) -> Router {
    Router::new()
        .route("/local-supabase/v1/projects/{ref}", get(info::project))
        .route("/local-supabase/v1/projects/{ref}/database/query", post(query::run))
        .route("/local-supabase/v1/projects/{ref}/database/migrations", get(info::migrations))
        .route("/local-supabase/v1/projects/{ref}/storage/buckets", get(info::buckets))
        .route("/local-supabase/v1/projects/{ref}/config/auth", get(settings::auth_config).patch(settings::patch_auth_config))
        .route("/local-supabase/v1/projects/{ref}/secrets", get(settings::secrets).post(settings::create_secrets).delete(settings::delete_secrets))
        .route("/local-supabase/v1/projects/{ref}/analytics/endpoints/logs.all", get(info::logs))
        .route("/local-supabase/v1/projects/{ref}/advisors/security", get(info::security_advisors))
        .route("/local-supabase/v1/projects/{ref}/advisors/performance", get(info::performance_advisors))
        .with_state(Local { db, sb })
}

/// An error in Supabase's shape: `{"message": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// Logged with an id; the caller sees only the id.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        let id = Uuid::new_v4().simple().to_string();
        tracing::error!(error_id = %id, error = %e, "local Supabase API error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error {}", &id[..8]))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({"message": self.message}))).into_response()
    }
}

/// The project a request is for, after its bearer token was checked.
pub struct Target {
    pub id: Uuid,
    pub project_ref: ProjectRef,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub host: String,
    pub pool: PgPool,
    /// Claims for the console's own tables of this project (secrets, auth config, logs).
    pub claims: DbClaims,
}

impl FromRequestParts<Local> for Target {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, l: &Local) -> Result<Target, ApiError> {
        let Some(expected) = l.sb.local_token.as_ref() else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "the local Management API is not enabled"));
        };
        let given = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
        if given.is_empty() || !same_token(given, expected.expose()) {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized"));
        }
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, l).await.map_err(|_| ApiError::bad_request("bad path"))?;
        let project_ref = params.get("ref").and_then(|r| ProjectRef::parse(r)).ok_or_else(|| ApiError::bad_request("a project ref is 20 lowercase letters"))?;
        let mut conn = l.db.pool().acquire().await.map_err(ApiError::internal)?;
        let t = app::db::supabase::local_target(&mut conn, &project_ref).await.map_err(ApiError::internal)?;
        drop(conn);
        let t = t.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Project not found"))?;
        let url = l.sb.secrets.open(&t.db_url_enc).map_err(ApiError::internal)?;
        let host = PgConnectOptions::from_str(&url).map(|o| o.get_host().to_string()).unwrap_or_default();
        let pool = l.sb.pools.get(t.id, &t.db_url_enc, &url)?;
        Ok(Target {
            id: t.id,
            project_ref,
            name: t.name,
            created_at: t.created_at,
            host,
            pool,
            claims: DbClaims { sub: Uuid::nil(), tenant_id: t.tenant_id, role: Role::Admin },
        })
    }
}

/// A JSON body already serialized (keeps column order, avoids a second pass).
pub fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Runs `sql` (returning one `text` of JSON) in a read-only transaction on the backing database.
pub async fn read_json(t: &Target, timeout: Duration, sql: &'static str) -> Result<String, ApiError> {
    use sqlx::Connection;
    let mut conn = t.pool.acquire().await.map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("cannot reach the project's database: {}", short(&e))))?;
    let mut tx = conn.begin().await.map_err(ApiError::internal)?;
    sqlx::query("set transaction read only").execute(&mut *tx).await.map_err(ApiError::internal)?;
    sqlx::query("select set_config('statement_timeout', $1, true)").bind(format!("{}", timeout.as_millis())).execute(&mut *tx).await.map_err(ApiError::internal)?;
    let out: String = sqlx::query_scalar(sql).fetch_one(&mut *tx).await.map_err(|e| ApiError::bad_request(short(&e)))?;
    tx.rollback().await.map_err(ApiError::internal)?;
    Ok(out)
}

/// A database error as a person reads it (the server's message, no connection details).
pub fn short(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_string(),
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".into(),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => "connection failed".into(),
        _ => "database error".into(),
    }
}
