//! The external-CI API (project API token): create a build, append log lines, set its state,
//! so GitHub Actions or any CI reports into the same grid as the embedded runner.
use super::github;
use crate::routes::app_error;
use crate::routes::machine::authenticate;
use crate::startup::HttpState;
use app::db::builds::{self, NewBuild};
use app::db::logs::NewEvent;
use app::db::tokens::TokenScope;
use app::db::DbClaims;
use app::models::{AppError, BuildRunner, BuildState, BuildTrigger, Capability, LogLevel};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

pub const MAX_LINES_PER_CALL: usize = 10_000;

fn claims(scope: &TokenScope) -> DbClaims {
    DbClaims { sub: Uuid::nil(), tenant_id: scope.tenant_id, role: scope.role }
}

async fn token(s: &HttpState, headers: &HeaderMap) -> Result<TokenScope, Response> {
    let scope = authenticate(s, headers).await?;
    if !scope.role.allows(Capability::OperateBuilds) {
        return Err(app_error(AppError::Forbidden(format!("a {} token cannot report builds", scope.role.label()))));
    }
    Ok(scope)
}

/// An unreadable body: 413 when it is too large, otherwise 422, always with a JSON error.
fn rejected(e: axum::extract::rejection::JsonRejection) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(json!({"error": "the request body is too large; send the lines in smaller batches"}))).into_response();
    }
    app_error(AppError::Invalid(e.body_text()))
}

async fn audit(conn: &mut PgConnection, scope: &TokenScope, action: &str, target: &str, details: serde_json::Value) -> Result<(), AppError> {
    let email = format!("token:{}", scope.name);
    let entry = app::db::audit::AuditEntry { actor_id: None, actor_email: &email, action, target, details, request_id: "", ip: "" };
    app::db::audit::insert(conn, &entry).await.map_err(AppError::internal)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBuild {
    /// Project slug; may be omitted with a project-scoped token.
    #[serde(default)]
    pub project: Option<String>,
    pub branch: String,
    pub sha: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub author: String,
}

/// `POST /api/v1/builds`
pub async fn create(State(s): State<HttpState>, headers: HeaderMap, body: Result<Json<CreateBuild>, axum::extract::rejection::JsonRejection>) -> Response {
    let scope = match token(&s, &headers).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return rejected(e),
    };
    let result = async {
        let sha = b.sha.trim().to_ascii_lowercase();
        if !github::is_sha(&sha) {
            return Err(AppError::Invalid("sha must be 7-64 hex characters".into()));
        }
        if !github::valid_branch(b.branch.trim()) {
            return Err(AppError::Invalid("invalid branch name".into()));
        }
        let mut tx = s.app.db.tenant_tx(&claims(&scope)).await.map_err(AppError::internal)?;
        let project = match (&b.project, scope.project_id) {
            (Some(slug), _) => app::db::projects::find_by_slug(&mut tx, slug.trim()).await.map_err(AppError::internal)?,
            (None, Some(id)) => app::db::projects::list(&mut tx).await.map_err(AppError::internal)?.into_iter().find(|p| p.id == id),
            (None, None) => return Err(AppError::Invalid("name the project (this token is not tied to one)".into())),
        }
        .ok_or_else(|| AppError::NotFound("project".into()))?;
        if scope.project_id.is_some_and(|id| id != project.id) {
            return Err(AppError::Forbidden("this token belongs to another project".into()));
        }
        let slug = builds::preview_slug(&project.slug, b.branch.trim());
        let new = NewBuild {
            project_id: project.id,
            branch: b.branch.trim(),
            sha: &sha,
            message: &b.message,
            author: &b.author,
            trigger: BuildTrigger::Ci,
            runner: BuildRunner::External,
            pr_number: None,
            requested_by: None,
            delivery_guid: None,
            repo_full_name: "",
            batch_window_secs: 0,
            force: true,
        };
        let q = builds::enqueue(&mut tx, &new, &slug).await.map_err(AppError::internal)?;
        audit(&mut tx, &scope, "build.reported", &q.build_id.to_string(), json!({"project": project.slug, "sha": sha})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(json!({"id": q.build_id, "number": q.number, "url": format!("{}/builds/{}", s.services.settings.public_url, q.build_id)}))
    }
    .await;
    match result {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => app_error(e),
    }
}

/// The external build `id` if this token may write to it.
async fn writable(s: &HttpState, scope: &TokenScope, id: &str) -> Result<(Uuid, Option<Uuid>), AppError> {
    let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound("build".into()))?;
    let mut tx = s.app.db.tenant_tx(&claims(scope)).await.map_err(AppError::internal)?;
    let (state, runner, project_id) = builds::state_of(&mut tx, id).await.map_err(AppError::internal)?.ok_or_else(|| AppError::NotFound("build".into()))?;
    let place = builds::place(&mut tx, id).await.map_err(AppError::internal)?;
    tx.commit().await.map_err(AppError::internal)?;
    if scope.project_id.is_some_and(|p| p != project_id) {
        return Err(AppError::NotFound("build".into()));
    }
    if runner != BuildRunner::External {
        return Err(AppError::Conflict("this build is run by the console's runner".into()));
    }
    if state.is_finished() {
        return Err(AppError::Conflict(format!("this build has finished ({state})")));
    }
    Ok((id, place.and_then(|p| p.env_id)))
}

#[derive(Debug, Deserialize)]
pub struct LogBatch {
    pub lines: Vec<IncomingLine>,
}

#[derive(Debug, Deserialize)]
pub struct IncomingLine {
    pub message: String,
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub meta: Option<serde_json::Value>,
}

/// `POST /api/v1/builds/{id}/logs` with `{"lines": [{"message": "...", "level": "error"}]}`.
pub async fn append_logs(State(s): State<HttpState>, Path(id): Path<String>, headers: HeaderMap, body: Result<Json<LogBatch>, axum::extract::rejection::JsonRejection>) -> Response {
    let scope = match token(&s, &headers).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Json(batch) = match body {
        Ok(b) => b,
        Err(e) => return rejected(e),
    };
    let result = async {
        if batch.lines.len() > MAX_LINES_PER_CALL {
            return Err(AppError::Invalid(format!("at most {MAX_LINES_PER_CALL} lines per call")));
        }
        let (build_id, env_id) = writable(&s, &scope, &id).await?;
        let now = chrono::Utc::now();
        let mut events = Vec::with_capacity(batch.lines.len());
        for (i, l) in batch.lines.into_iter().enumerate() {
            let source = l.source.unwrap_or_else(|| "ci".into());
            if !app::db::logs::valid_source(&source) {
                return Err(AppError::Invalid(format!("line {i}: source must be lowercase letters, digits, _ . : -")));
            }
            let level = match l.level.as_deref() {
                None => crate::logs::level::parse(&l.message, LogLevel::Info),
                Some(v) => LogLevel::parse(v).ok_or_else(|| AppError::Invalid(format!("line {i}: unknown level “{v}”")))?,
            };
            let meta = match l.meta {
                None | Some(serde_json::Value::Null) => serde_json::Value::Null,
                Some(m @ serde_json::Value::Object(_)) => m,
                Some(_) => return Err(AppError::Invalid(format!("line {i}: meta must be an object"))),
            };
            events.push(NewEvent { level, source, message: l.message, meta, at: now });
        }
        let n = crate::logs::sink::ingest(&s.app.db, &claims(&scope), Some(build_id), env_id, &events).await.map_err(AppError::internal)?;
        Ok(json!({"accepted": n}))
    }
    .await;
    match result {
        Ok(v) => (StatusCode::ACCEPTED, Json(v)).into_response(),
        Err(e) => app_error(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetState {
    pub state: String,
    #[serde(default)]
    pub error: String,
}

/// `POST /api/v1/builds/{id}/status` with `{"state": "success"}`.
pub async fn set_status(State(s): State<HttpState>, Path(id): Path<String>, headers: HeaderMap, body: Result<Json<SetState>, axum::extract::rejection::JsonRejection>) -> Response {
    let scope = match token(&s, &headers).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return rejected(e),
    };
    let result = async {
        let state = BuildState::parse(&b.state).ok_or_else(|| AppError::Invalid("state: pending, running, success, warning, failed or cancelled".into()))?;
        let (build_id, _) = writable(&s, &scope, &id).await?;
        let mut tx = s.app.db.tenant_tx(&claims(&scope)).await.map_err(AppError::internal)?;
        let now = builds::set_external_state(&mut tx, build_id, state, &b.error).await.map_err(AppError::internal)?.ok_or_else(|| AppError::Conflict("this build has finished".into()))?;
        audit(&mut tx, &scope, "build.state_reported", &build_id.to_string(), json!({"state": state})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(json!({"id": build_id, "state": now}))
    }
    .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => app_error(e),
    }
}
