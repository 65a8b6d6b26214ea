//! `POST /api/webhooks/github/{project_id}`: verify, record, enqueue, answer at once.
//! Building never happens here; the runner picks queued builds up through the database.
use super::github::{self, PullRequestEvent, PushEvent};
use crate::routes::app_error;
use crate::startup::HttpState;
use app::db::builds::{self, NewBuild};
use app::db::deliveries::{self, NewDelivery};
use app::db::DbClaims;
use app::models::{AppError, BuildRunner, BuildTrigger, DeliveryOutcome, Role};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

pub const MAX_BODY: usize = 25 * 1024 * 1024;

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// What a delivery caused.
struct Effect {
    outcome: DeliveryOutcome,
    detail: String,
    build_id: Option<Uuid>,
}

impl Effect {
    fn ignored(detail: impl Into<String>) -> Effect {
        Effect { outcome: DeliveryOutcome::Ignored, detail: detail.into(), build_id: None }
    }
}

pub async fn github_webhook(State(s): State<HttpState>, Path(project): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(project_id) = Uuid::parse_str(project.trim()) else {
        return reply(StatusCode::NOT_FOUND, json!({"error": "unknown project"}));
    };
    let target = async {
        let mut conn = s.app.db.pool().acquire().await.map_err(AppError::internal)?;
        sqlx::query_as::<_, (Uuid, String)>("select tenant_id, webhook_secret from ops.webhook_target($1)")
            .bind(project_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(AppError::internal)
    }
    .await;
    let (tenant_id, secret) = match target {
        Ok(Some(t)) => t,
        Ok(None) => return reply(StatusCode::NOT_FOUND, json!({"error": "unknown project"})),
        Err(e) => return app_error(e),
    };
    let claims = DbClaims { sub: Uuid::nil(), tenant_id, role: Role::Admin };
    let event = header(&headers, "x-github-event").unwrap_or("").to_string();
    let guid = header(&headers, "x-github-delivery").unwrap_or("").to_string();
    let size = body.len().min(i32::MAX as usize) as i32;

    let record_claims = claims.clone();
    let record = |signature_ok: bool, outcome: DeliveryOutcome, detail: String| {
        let db = s.app.db.clone();
        let claims = record_claims.clone();
        let (event, guid) = (event.clone(), guid.clone());
        async move {
            let mut tx = db.tenant_tx(&claims).await.map_err(AppError::internal)?;
            let d = NewDelivery { project_id, guid: &guid, event: &event, signature_ok, outcome, detail: &detail, payload_bytes: size };
            deliveries::record(&mut tx, &d).await.map_err(AppError::internal)?;
            tx.commit().await.map_err(AppError::internal)
        }
    };

    if let Err(why) = github::signature_ok(&secret, header(&headers, "x-hub-signature-256"), &body) {
        // Recorded so "nothing happened after my push" has an answer; an unverified GUID is
        // outside the idempotency index, so a forged request cannot block a real delivery.
        let _ = record(false, DeliveryOutcome::Rejected, format!("signature: {why}")).await;
        tracing::warn!(project_id = %project_id, reason = why, "webhook refused: bad signature");
        return reply(StatusCode::UNAUTHORIZED, json!({"error": why}));
    }
    if event.is_empty() || guid.is_empty() || guid.len() > 100 || event.len() > 100 {
        let _ = record(true, DeliveryOutcome::Rejected, "missing X-GitHub-Event or X-GitHub-Delivery header".into()).await;
        return reply(StatusCode::BAD_REQUEST, json!({"error": "missing X-GitHub-Event or X-GitHub-Delivery header"}));
    }

    let result = async {
        let mut tx = s.app.db.tenant_tx(&claims).await.map_err(AppError::internal)?;
        let d = NewDelivery { project_id, guid: &guid, event: &event, signature_ok: true, outcome: DeliveryOutcome::Accepted, detail: "", payload_bytes: size };
        let Some(delivery_id) = deliveries::record(&mut tx, &d).await.map_err(AppError::internal)? else {
            tx.commit().await.map_err(AppError::internal)?;
            return Ok((StatusCode::OK, json!({"status": "duplicate", "detail": "this delivery was already processed"})));
        };
        let effect = handle(&mut tx, &s, project_id, &event, &guid, &body).await?;
        deliveries::resolve(&mut tx, delivery_id, effect.outcome, &effect.detail, effect.build_id).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        let status = match effect.outcome {
            DeliveryOutcome::Rejected => StatusCode::BAD_REQUEST,
            DeliveryOutcome::Accepted if effect.build_id.is_some() => StatusCode::ACCEPTED,
            _ => StatusCode::OK,
        };
        tracing::info!(project_id = %project_id, event = %event, delivery = %guid, outcome = %effect.outcome, build_id = ?effect.build_id, "webhook delivery");
        Ok::<_, AppError>((status, json!({"status": effect.outcome, "detail": effect.detail, "build_id": effect.build_id})))
    }
    .await;
    match result {
        Ok((status, body)) => reply(status, body),
        Err(e) => app_error(e),
    }
}

async fn handle(tx: &mut PgConnection, s: &HttpState, project_id: Uuid, event: &str, guid: &str, body: &[u8]) -> Result<Effect, AppError> {
    let rejected = |e: serde_json::Error| Effect { outcome: DeliveryOutcome::Rejected, detail: format!("unreadable {event} payload: {e}"), build_id: None };
    match event {
        "ping" => Ok(Effect::ignored("ping: the webhook is connected")),
        "push" => match serde_json::from_slice::<PushEvent>(body) {
            Ok(p) => push(tx, s, project_id, guid, p).await,
            Err(e) => Ok(rejected(e)),
        },
        "pull_request" => match serde_json::from_slice::<PullRequestEvent>(body) {
            Ok(p) => pull_request(tx, s, project_id, guid, p).await,
            Err(e) => Ok(rejected(e)),
        },
        other => Ok(Effect::ignored(format!("{other} events are recorded and not acted on"))),
    }
}

async fn project_slug(tx: &mut PgConnection, project_id: Uuid) -> Result<String, AppError> {
    sqlx::query_scalar("select slug from ops.projects where id = $1").bind(project_id).fetch_one(tx).await.map_err(AppError::internal)
}

async fn push(tx: &mut PgConnection, s: &HttpState, project_id: Uuid, guid: &str, p: PushEvent) -> Result<Effect, AppError> {
    let Some(branch) = p.git_ref.strip_prefix("refs/heads/") else {
        return Ok(Effect::ignored(format!("{} is not a branch", p.git_ref)));
    };
    if !github::valid_branch(branch) {
        return Ok(Effect { outcome: DeliveryOutcome::Rejected, detail: "invalid branch name".into(), build_id: None });
    }
    if p.deleted || github::is_zero_sha(&p.after) {
        let archived = builds::archive_branch(tx, project_id, branch, "branch deleted").await.map_err(AppError::internal)?;
        return Ok(Effect::ignored(match archived {
            Some(_) => format!("branch {branch} deleted: archived, its queued builds cancelled"),
            None => format!("branch {branch} deleted (it was never built)"),
        }));
    }
    if !github::is_sha(&p.after) {
        return Ok(Effect { outcome: DeliveryOutcome::Rejected, detail: "`after` is not a commit id".into(), build_id: None });
    }
    let (message, author) = match &p.head_commit {
        Some(c) if c.id == p.after => (c.message.clone(), c.author.username.clone().unwrap_or_else(|| c.author.name.clone())),
        _ => (String::new(), p.pusher.as_ref().map(|x| x.name.clone()).unwrap_or_default()),
    };
    let slug = builds::preview_slug(&project_slug(tx, project_id).await?, branch);
    let new = NewBuild {
        project_id,
        branch,
        sha: &p.after,
        message: &message,
        author: &author,
        trigger: BuildTrigger::Push,
        runner: BuildRunner::Embedded,
        pr_number: None,
        requested_by: None,
        delivery_guid: Some(guid),
        repo_full_name: p.repository.as_ref().map(|r| r.full_name.as_str()).unwrap_or(""),
        batch_window_secs: s.services.settings.batch_window_secs,
        force: false,
    };
    let q = builds::enqueue(tx, &new, &slug).await.map_err(AppError::internal)?;
    Ok(enqueued_effect(branch, &p.after, q))
}

fn enqueued_effect(branch: &str, sha: &str, q: builds::Enqueued) -> Effect {
    let short: String = sha.chars().take(8).collect();
    if q.created {
        let mut detail = format!("build #{} queued for {branch} at {short}", q.number);
        if !q.superseded.is_empty() {
            detail.push_str(&format!("; {} queued build(s) of the branch superseded", q.superseded.len()));
        }
        Effect { outcome: DeliveryOutcome::Accepted, detail, build_id: Some(q.build_id) }
    } else {
        Effect { outcome: DeliveryOutcome::Ignored, detail: format!("{short} already has build #{}", q.number), build_id: Some(q.build_id) }
    }
}

async fn pull_request(tx: &mut PgConnection, s: &HttpState, project_id: Uuid, guid: &str, p: PullRequestEvent) -> Result<Effect, AppError> {
    let branch = p.pull_request.head.git_ref.as_str();
    if !github::valid_branch(branch) || p.number <= 0 {
        return Ok(Effect { outcome: DeliveryOutcome::Rejected, detail: "invalid pull request head".into(), build_id: None });
    }
    match p.action.as_str() {
        "opened" | "synchronize" | "reopened" => {
            let sha = p.pull_request.head.sha.as_str();
            if !github::is_sha(sha) {
                return Ok(Effect { outcome: DeliveryOutcome::Rejected, detail: "head sha is not a commit id".into(), build_id: None });
            }
            let slug = builds::preview_slug(&project_slug(tx, project_id).await?, branch);
            let author = p.pull_request.user.as_ref().and_then(|u| u.login.clone()).unwrap_or_default();
            let new = NewBuild {
                project_id,
                branch,
                sha,
                message: &p.pull_request.title,
                author: &author,
                trigger: BuildTrigger::PullRequest,
                runner: BuildRunner::Embedded,
                pr_number: Some(p.number),
                requested_by: None,
                delivery_guid: Some(guid),
                repo_full_name: p.repository.as_ref().map(|r| r.full_name.as_str()).unwrap_or(""),
                batch_window_secs: s.services.settings.batch_window_secs,
                force: false,
            };
            let q = builds::enqueue(tx, &new, &slug).await.map_err(AppError::internal)?;
            Ok(enqueued_effect(branch, sha, q))
        }
        "closed" => {
            let Some(branch_id) = builds::branch_id_by_name(tx, project_id, branch).await.map_err(AppError::internal)? else {
                return Ok(Effect::ignored(format!("pull request #{} closed; {branch} was never built", p.number)));
            };
            builds::stop_branch_work(tx, branch_id, &format!("pull request #{} closed", p.number)).await.map_err(AppError::internal)?;
            Ok(Effect::ignored(format!("pull request #{} closed: preview stopped, queued builds cancelled", p.number)))
        }
        other => Ok(Effect::ignored(format!("pull_request action “{other}” is not acted on"))),
    }
}
