//! Server functions of the build grid, branch histories, build pages and webhook settings.
use crate::models::{AppError, BranchHistory, BuildDetail, BuildGrid, BuildState, GateResult, ShareLink, WebhookInfo};
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
mod ssr {
    pub use crate::auth::require;
    pub use crate::models::Capability;
    use crate::models::{AppError, ProjectSummary};
    use sqlx::PgConnection;

    pub fn db(e: sqlx::Error) -> AppError {
        AppError::internal(e)
    }

    pub fn not_found(what: String) -> AppError {
        let e = AppError::NotFound(what);
        crate::auth::session::set_status(&e);
        e
    }

    pub async fn project(conn: &mut PgConnection, slug: &str) -> Result<ProjectSummary, AppError> {
        crate::db::projects::find_by_slug(conn, slug).await.map_err(db)?.ok_or_else(|| not_found(format!("project “{slug}”")))
    }
}

#[server(prefix = "/api", endpoint = "build-grid")]
pub async fn get_build_grid(slug: String) -> Result<BuildGrid, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewBuilds).await?;
        let mut tx = s.tx().await?;
        let p = project(&mut tx, &slug).await?;
        let rows = crate::db::builds::grid(&mut tx, p.id, 6).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(BuildGrid { project_id: p.id, project_slug: p.slug, project_name: p.name, rows, can_operate: s.role().allows(Capability::OperateBuilds) })
    })
    .await
}

#[server(prefix = "/api", endpoint = "branch-history")]
pub async fn get_branch_history(slug: String, branch_id: Uuid) -> Result<BranchHistory, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewBuilds).await?;
        let mut tx = s.tx().await?;
        let p = project(&mut tx, &slug).await?;
        let branch = crate::db::builds::branch_history(&mut tx, p.id, branch_id, 200).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let branch = branch.ok_or_else(|| not_found("branch".into()))?;
        Ok(BranchHistory { project_slug: p.slug, project_name: p.name, branch, can_operate: s.role().allows(Capability::OperateBuilds) })
    })
    .await
}

#[server(prefix = "/api", endpoint = "build")]
pub async fn get_build(id: Uuid) -> Result<BuildDetail, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewBuilds).await?;
        let mut tx = s.tx().await?;
        let build = crate::db::builds::card(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("build".into()))?;
        let place = crate::db::builds::place(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("build".into()))?;
        tx.commit().await.map_err(db)?;
        Ok(BuildDetail {
            project_id: place.project_id,
            project_slug: place.project_slug,
            project_name: place.project_name,
            env_id: place.env_id,
            preview_slug: place.preview_slug,
            build,
            can_operate: s.role().allows(Capability::OperateBuilds),
        })
    })
    .await
}

/// The preflight gates run after the build (empty until they ran; they run after a good build).
#[server(prefix = "/api", endpoint = "build-gates")]
pub async fn get_build_gates(id: Uuid) -> Result<Vec<GateResult>, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewBuilds).await?;
        let mut tx = s.tx().await?;
        crate::db::builds::place(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("build".into()))?;
        let gates = crate::db::promotions::gates_of_build(&mut tx, id).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(gates)
    })
    .await
}

#[server(prefix = "/api", endpoint = "build-cancel")]
pub async fn cancel_build(id: Uuid) -> Result<BuildState, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::OperateBuilds).await?;
        let mut tx = s.tx().await?;
        let before = crate::db::builds::request_cancel(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("build".into()))?;
        if before.is_finished() {
            return Err(AppError::Conflict(format!("this build has already finished ({before})")));
        }
        s.audit(&mut tx, "build.cancelled", &id.to_string(), serde_json::json!({"state_before": before})).await?;
        tx.commit().await.map_err(db)?;
        Ok(before)
    })
    .await
}

#[server(prefix = "/api", endpoint = "build-rebuild")]
pub async fn rebuild_build(id: Uuid) -> Result<Uuid, AppError> {
    crate::api::guard(async move {
        use crate::models::{BuildRunner, BuildTrigger};
        use ssr::*;
        let s = require(Capability::OperateBuilds).await?;
        let mut tx = s.tx().await?;
        let card = crate::db::builds::card(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("build".into()))?;
        let place = crate::db::builds::place(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("build".into()))?;
        if card.runner == BuildRunner::External {
            return Err(AppError::Invalid("this build was reported by an external CI; re-run it there".into()));
        }
        let slug = crate::db::builds::preview_slug(&place.project_slug, &place.branch_name);
        let new = crate::db::builds::NewBuild {
            project_id: place.project_id,
            branch: &place.branch_name,
            sha: &card.sha,
            message: &card.message,
            author: &card.author,
            trigger: BuildTrigger::Manual,
            runner: BuildRunner::Embedded,
            pr_number: card.pr_number,
            requested_by: Some(s.user_id()),
            delivery_guid: None,
            repo_full_name: "",
            batch_window_secs: 0,
            force: true,
        };
        let queued = crate::db::builds::enqueue(&mut tx, &new, &slug).await.map_err(db)?;
        s.audit(&mut tx, "build.rebuilt", &queued.build_id.to_string(), serde_json::json!({"from_build": id, "sha": card.sha})).await?;
        tx.commit().await.map_err(db)?;
        Ok(queued.build_id)
    })
    .await
}

#[server(prefix = "/api", endpoint = "webhooks")]
pub async fn get_webhooks(slug: String) -> Result<WebhookInfo, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewDeliveries).await?;
        let mut tx = s.tx().await?;
        let p = project(&mut tx, &slug).await?;
        let deliveries = crate::db::deliveries::list(&mut tx, p.id, 200).await.map_err(db)?;
        let secret_set: bool = sqlx::query_scalar("select ops.webhook_secret_set($1)").bind(p.id).fetch_one(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(WebhookInfo {
            project_id: p.id,
            url_path: format!("/api/webhooks/github/{}", p.id),
            project_slug: p.slug,
            project_name: p.name,
            secret_set,
            deliveries,
            can_manage: s.role().allows(Capability::ManageBuildSettings),
        })
    })
    .await
}

/// Sets a fresh webhook secret and returns it (shown once; paste it into GitHub).
#[server(prefix = "/api", endpoint = "webhook-rotate")]
pub async fn rotate_webhook_secret(slug: String) -> Result<String, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageBuildSettings).await?;
        let mut tx = s.tx().await?;
        let p = project(&mut tx, &slug).await?;
        let secret = crate::auth::token::random_hex(24);
        sqlx::query("update ops.projects set webhook_secret = $2 where id = $1").bind(p.id).bind(&secret).execute(&mut *tx).await.map_err(db)?;
        s.audit(&mut tx, "webhook.secret_rotated", &p.slug, serde_json::json!({"project_id": p.id})).await?;
        tx.commit().await.map_err(db)?;
        Ok(secret)
    })
    .await
}

/// A link to the branch preview of `build_id` that works without a session until it expires.
#[server(prefix = "/api", endpoint = "preview-share")]
pub async fn share_preview(build_id: Uuid, hours: u32) -> Result<ShareLink, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewBuilds).await?;
        if !(1..=168).contains(&hours) {
            return Err(AppError::Invalid("a shared link lasts 1 to 168 hours".into()));
        }
        let mut tx = s.tx().await?;
        let place = crate::db::builds::place(&mut tx, build_id).await.map_err(db)?.ok_or_else(|| not_found("build".into()))?;
        let slug = place.preview_slug.ok_or_else(|| AppError::Invalid("this branch has no preview".into()))?;
        let expires_at = chrono::Utc::now() + chrono::Duration::hours(hours as i64);
        let token = crate::auth::share::sign(&s.state.auth.jwt_key, &slug, expires_at.timestamp());
        s.audit(&mut tx, "preview.shared", &slug, serde_json::json!({"build_id": build_id, "hours": hours})).await?;
        tx.commit().await.map_err(db)?;
        Ok(ShareLink { url: format!("/preview/{slug}/?share={token}"), expires_at })
    })
    .await
}
