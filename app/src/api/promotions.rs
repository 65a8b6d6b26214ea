//! Server functions of promotions: the pipeline, requests, approvals, overrides, rollbacks.
//! They only move rows; the server's promotion worker runs the gates and the deploys.
use crate::models::{AppError, PromotionDetail, PromotionsOverview};
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
mod ssr {
    pub use crate::auth::require;
    pub use crate::auth::session::Session;
    pub use crate::db::promotions as repo;
    pub use crate::models::{Capability, PromotionKind, PromotionRow, PromotionState};
    use crate::models::{AppError, PromotionDetail};
    use sqlx::PgConnection;
    use uuid::Uuid;

    pub fn db(e: sqlx::Error) -> AppError {
        AppError::internal(e)
    }

    pub use crate::api::not_found;

    /// A reason typed by a person: trimmed, required, at most 2,000 characters.
    pub fn reason_text(text: &str, what: &str) -> Result<String, AppError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(AppError::Invalid(format!("{what} needs a reason")));
        }
        if t.chars().count() > 2000 {
            return Err(AppError::Invalid("the reason is too long (2,000 characters at most)".into()));
        }
        Ok(t.to_string())
    }

    pub async fn load(conn: &mut PgConnection, id: Uuid) -> Result<PromotionRow, AppError> {
        repo::row(conn, id).await.map_err(db)?.ok_or_else(|| not_found("promotion"))
    }

    /// Locks the request row so two decisions on it are taken one after the other.
    pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<PromotionRow, AppError> {
        sqlx::query("select 1 from ops.promotions where id = $1 for update").bind(id).execute(&mut *conn).await.map_err(db)?;
        load(conn, id).await
    }

    pub fn not_in(row: &PromotionRow, wanted: &str) -> AppError {
        AppError::Conflict(format!("promotion #{} is {}, not {wanted}", row.number, row.state.label().to_lowercase()))
    }

    pub async fn detail(conn: &mut PgConnection, s: &Session, row: PromotionRow) -> Result<PromotionDetail, AppError> {
        let approvals = repo::approvals(conn, row.id).await.map_err(db)?;
        let events = repo::events(conn, row.id).await.map_err(db)?;
        let gates = repo::gates_of_promotion(conn, row.id).await.map_err(db)?;
        let commits = repo::commits(conn, row.id).await.map_err(db)?;
        let own = row.requested_by == Some(s.user_id());
        let voted = approvals.iter().any(|a| a.user_email == s.email);
        let approver = s.role().allows(Capability::ApprovePromotion);
        let awaiting = row.state == PromotionState::AwaitingApproval;
        let approve_blocked = if !approver || !awaiting {
            String::new()
        } else if own {
            "You requested this promotion: someone else must approve it.".to_string()
        } else if voted {
            "You have already approved this promotion.".to_string()
        } else {
            String::new()
        };
        Ok(PromotionDetail {
            can_approve: approver && awaiting && !own && !voted,
            can_cancel: row.state.is_open()
                && row.state != PromotionState::Promoting
                && ((own && s.role().allows(Capability::RequestPromotion)) || s.role() == crate::models::Role::Admin),
            can_override: row.state == PromotionState::PreflightFailed && s.role().allows(Capability::OverrideGate),
            approve_blocked,
            row,
            approvals,
            events,
            gates,
            commits,
        })
    }

    pub fn conflict_on_open(e: sqlx::Error, target: &str) -> AppError {
        match crate::db::unique_violation(&e) {
            Some(c) if c == "promotions_one_open_per_target" => {
                AppError::Conflict(format!("{target} already has an open promotion; approve, reject or cancel it first"))
            }
            _ => db(e),
        }
    }
}

#[server(prefix = "/api", endpoint = "promotions")]
pub async fn get_promotions(slug: String) -> Result<PromotionsOverview, AppError> {
    crate::api::guard(async move {
        use crate::models::{PipelineColumn, PromotionPolicy};
        use ssr::*;
        let s = require(Capability::ViewPromotions).await?;
        let mut tx = s.tx().await?;
        let p = crate::db::projects::find_by_slug(&mut tx, &slug).await.map_err(db)?.ok_or_else(|| not_found(&format!("project “{slug}”")))?;
        let (required_approvals, allow_dev_to_production, gates) = repo::policy(&mut tx, p.id).await.map_err(db)?;
        let envs = repo::environments(&mut tx, p.id).await.map_err(db)?;
        let open = repo::list(&mut tx, p.id, true, 50).await.map_err(db)?;
        let mut pipeline = Vec::new();
        for e in &envs {
            let build = match e.build_id {
                Some(b) => repo::build_brief(&mut tx, b).await.map_err(db)?,
                None => None,
            };
            let previous_build = match e.previous_build_id {
                Some(b) => repo::build_brief(&mut tx, b).await.map_err(db)?,
                None => None,
            };
            let promote_to = e.stage.next().and_then(|st| envs.iter().find(|t| t.stage == st))
                // Nothing to promote when the next stage already runs this build.
                .filter(|t| t.build_id != e.build_id)
                .map(|t| (t.stage, t.name.clone(), t.id));
            pipeline.push(PipelineColumn {
                env_id: e.id,
                name: e.name.clone(),
                stage: e.stage,
                branch_name: e.branch_name.clone(),
                database_name: e.database_name.clone(),
                build,
                previous_build,
                deployed_at: e.deployed_at,
                instance_state: e.instance_state.clone(),
                instance_detail: e.instance_detail.clone(),
                promote_to,
                open: open.iter().find(|r| r.target_env == e.name).cloned(),
            });
        }
        let mut pending = Vec::new();
        for row in open {
            pending.push(detail(&mut tx, &s, row).await?);
        }
        let history = repo::list(&mut tx, p.id, false, 50).await.map_err(db)?;
        let notifications = repo::notifications(&mut tx, Some(p.id), 20).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let role = s.role();
        Ok(PromotionsOverview {
            project_id: p.id,
            project_slug: p.slug,
            project_name: p.name,
            policy: PromotionPolicy { required_approvals, allow_dev_to_production, gates, can_manage: role.allows(Capability::ManagePromotionSettings) },
            pipeline,
            pending,
            history,
            notifications,
            can_request: role.allows(Capability::RequestPromotion),
            can_approve: role.allows(Capability::ApprovePromotion),
            can_rollback: role.allows(Capability::Rollback),
        })
    })
    .await
}

#[server(prefix = "/api", endpoint = "promotion")]
pub async fn get_promotion(id: Uuid) -> Result<PromotionDetail, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewPromotions).await?;
        let mut tx = s.tx().await?;
        let row = load(&mut tx, id).await?;
        let d = detail(&mut tx, &s, row).await?;
        tx.commit().await.map_err(db)?;
        Ok(d)
    })
    .await
}

/// Asks for the build `source_env` runs to go to `target_env`. Returns the request's id.
#[server(prefix = "/api", endpoint = "promotion-request")]
pub async fn request_promotion(source_env: Uuid, target_env: Uuid, note: String, refresh_data: bool) -> Result<Uuid, AppError> {
    crate::api::guard(async move {
        use crate::models::{BuildState, Stage};
        use ssr::*;
        let s = require(Capability::RequestPromotion).await?;
        if note.chars().count() > 2000 {
            return Err(AppError::Invalid("the note is too long (2,000 characters at most)".into()));
        }
        let mut tx = s.tx().await?;
        let src = repo::environment(&mut tx, source_env).await.map_err(db)?.ok_or_else(|| not_found("source environment"))?;
        let dst = repo::lock_environment(&mut tx, target_env).await.map_err(db)?.ok_or_else(|| not_found("target environment"))?;
        if src.project_id != dst.project_id {
            return Err(AppError::Invalid("both environments must belong to the same project".into()));
        }
        let (required, allow_skip, _) = repo::policy(&mut tx, src.project_id).await.map_err(db)?;
        if !src.stage.may_promote_to(dst.stage, allow_skip) {
            let why = if src.stage == Stage::Development && dst.stage == Stage::Production {
                "this project's policy does not let development skip staging"
            } else {
                "builds move one stage up: development → staging → production"
            };
            return Err(AppError::Invalid(format!("{} ({}) cannot be promoted to {} ({}): {why}", src.name, src.stage.as_str(), dst.name, dst.stage.as_str())));
        }
        let build_id = src.build_id.ok_or_else(|| AppError::Invalid(format!("{} runs no build yet: nothing to promote", src.name)))?;
        let build = repo::build_brief(&mut tx, build_id).await.map_err(db)?.ok_or_else(|| not_found("build"))?;
        if !matches!(build.state, BuildState::Success | BuildState::Warning) {
            return Err(AppError::Invalid(format!("build #{} is {}: only successful builds can be promoted", build.number, build.state)));
        }
        if dst.build_id == Some(build_id) {
            return Err(AppError::Invalid(format!("{} already runs build #{}", dst.name, build.number)));
        }
        if refresh_data && dst.stage != Stage::Staging {
            return Err(AppError::Invalid("only staging can have its data refreshed from production".into()));
        }
        // A request whose gates failed gives way to a new one (a fix was pushed).
        let superseded: Vec<Uuid> = sqlx::query_scalar(
            "update ops.promotions set state = 'cancelled', error = 'superseded by a newer request', finished_at = now()
              where target_env_id = $1 and state = 'preflight_failed' returning id",
        )
        .bind(dst.id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for old in superseded {
            repo::add_event(&mut tx, old, PromotionState::Cancelled, "superseded by a newer request", &s.email).await.map_err(db)?;
        }
        let new = repo::NewPromotion {
            project_id: src.project_id,
            kind: PromotionKind::Promotion,
            source_env_id: Some(src.id),
            target_env_id: dst.id,
            build_id,
            previous_build_id: dst.build_id,
            rollback_of: None,
            state: PromotionState::Requested,
            required_approvals: required,
            refresh_data,
            requested_by: s.user_id(),
            requested_by_email: &s.email,
            note: note.trim(),
        };
        let (id, number) = repo::insert(&mut tx, &new).await.map_err(|e| conflict_on_open(e, &dst.name))?;
        let msg = format!("{} asked to promote build #{} from {} to {}", s.email, build.number, src.name, dst.name);
        repo::add_event(&mut tx, id, PromotionState::Requested, &msg, &s.email).await.map_err(db)?;
        s.audit(
            &mut tx,
            "promotion.requested",
            &id.to_string(),
            serde_json::json!({"number": number, "from": src.name, "to": dst.name, "build": build.number,
                               "before": {"build_id": dst.build_id}, "after": {"build_id": build_id}, "note": note.trim(),
                               "refresh_data": refresh_data}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(id)
    })
    .await
}

#[server(prefix = "/api", endpoint = "promotion-approve")]
pub async fn approve_promotion(id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ApprovePromotion).await?;
        let mut tx = s.tx().await?;
        let row = lock(&mut tx, id).await?;
        if row.requested_by == Some(s.user_id()) {
            s.audit(&mut tx, "promotion.self_approval_refused", &id.to_string(), serde_json::json!({"number": row.number})).await?;
            tx.commit().await.map_err(db)?;
            return Err(AppError::Forbidden("you requested this promotion; someone else must approve it".into()));
        }
        if row.state != PromotionState::AwaitingApproval {
            return Err(not_in(&row, "awaiting approval"));
        }
        if !repo::add_approval(&mut tx, id, s.user_id(), &s.email, "approve", "").await.map_err(db)? {
            return Err(AppError::Conflict("you have already approved this promotion".into()));
        }
        let count = row.approvals + 1;
        let done = count >= i64::from(row.required_approvals);
        repo::add_event(&mut tx, id, PromotionState::AwaitingApproval, &format!("approved by {} ({count} of {})", s.email, row.required_approvals), &s.email)
            .await
            .map_err(db)?;
        if done {
            repo::transition(&mut tx, id, PromotionState::Approved, None).await.map_err(db)?;
            repo::add_event(&mut tx, id, PromotionState::Approved, "all approvals given; deploying next", &s.email).await.map_err(db)?;
        }
        s.audit(&mut tx, "promotion.approved", &id.to_string(), serde_json::json!({"number": row.number, "approvals": count, "required": row.required_approvals, "to": row.target_env}))
            .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

#[server(prefix = "/api", endpoint = "promotion-reject")]
pub async fn reject_promotion(id: Uuid, reason: String) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ApprovePromotion).await?;
        let why = ssr::reason_text(&reason, "a rejection")?;
        let mut tx = s.tx().await?;
        let row = lock(&mut tx, id).await?;
        if row.requested_by == Some(s.user_id()) {
            return Err(AppError::Forbidden("you requested this promotion; cancel it instead of rejecting it".into()));
        }
        if row.state != PromotionState::AwaitingApproval {
            return Err(not_in(&row, "awaiting approval"));
        }
        repo::add_approval(&mut tx, id, s.user_id(), &s.email, "reject", &why).await.map_err(db)?;
        repo::transition(&mut tx, id, PromotionState::Rejected, Some(&format!("rejected by {}: {why}", s.email))).await.map_err(db)?;
        repo::add_event(&mut tx, id, PromotionState::Rejected, &format!("rejected: {why}"), &s.email).await.map_err(db)?;
        s.audit(&mut tx, "promotion.rejected", &id.to_string(), serde_json::json!({"number": row.number, "reason": why, "to": row.target_env})).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

#[server(prefix = "/api", endpoint = "promotion-cancel")]
pub async fn cancel_promotion(id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::RequestPromotion).await?;
        let mut tx = s.tx().await?;
        let row = lock(&mut tx, id).await?;
        if row.requested_by != Some(s.user_id()) && s.role() != crate::models::Role::Admin {
            return Err(AppError::Forbidden("only the requester or an admin can cancel a promotion".into()));
        }
        if !row.state.can_move_to(PromotionState::Cancelled) {
            return Err(not_in(&row, "cancellable"));
        }
        repo::transition(&mut tx, id, PromotionState::Cancelled, Some(&format!("cancelled by {}", s.email))).await.map_err(db)?;
        repo::add_event(&mut tx, id, PromotionState::Cancelled, "cancelled", &s.email).await.map_err(db)?;
        s.audit(&mut tx, "promotion.cancelled", &id.to_string(), serde_json::json!({"number": row.number, "state_before": row.state})).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

/// Lets a request whose gates failed go on to approval; the reason is kept and audited.
#[server(prefix = "/api", endpoint = "promotion-override")]
pub async fn override_gates(id: Uuid, reason: String) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::OverrideGate).await?;
        let why = ssr::reason_text(&reason, "an override")?;
        let mut tx = s.tx().await?;
        let row = lock(&mut tx, id).await?;
        if row.state != PromotionState::PreflightFailed {
            return Err(not_in(&row, "blocked by a gate"));
        }
        repo::set_override(&mut tx, id, &why, &s.email).await.map_err(db)?;
        repo::transition(&mut tx, id, PromotionState::AwaitingApproval, None).await.map_err(db)?;
        repo::add_event(&mut tx, id, PromotionState::AwaitingApproval, &format!("failing gates overridden: {why}"), &s.email).await.map_err(db)?;
        s.audit(&mut tx, "promotion.gate_overridden", &id.to_string(), serde_json::json!({"number": row.number, "reason": why, "gates": row.gates_overall}))
            .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

/// Re-promotes the build the environment ran before its current one: a new history entry.
#[server(prefix = "/api", endpoint = "promotion-rollback")]
pub async fn rollback_environment(env_id: Uuid, note: String) -> Result<Uuid, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::Rollback).await?;
        let mut tx = s.tx().await?;
        let env = repo::lock_environment(&mut tx, env_id).await.map_err(db)?.ok_or_else(|| not_found("environment"))?;
        let (Some(current), Some(previous)) = (env.build_id, env.previous_build_id) else {
            return Err(AppError::Invalid(format!("{} has no previous build to roll back to", env.name)));
        };
        let prev = repo::build_brief(&mut tx, previous).await.map_err(db)?.ok_or_else(|| not_found("previous build"))?;
        let cur = repo::build_brief(&mut tx, current).await.map_err(db)?.ok_or_else(|| not_found("current build"))?;
        let rollback_of = repo::last_promoted(&mut tx, env.id).await.map_err(db)?;
        let new = repo::NewPromotion {
            project_id: env.project_id,
            kind: PromotionKind::Rollback,
            source_env_id: None,
            target_env_id: env.id,
            build_id: previous,
            previous_build_id: Some(current),
            rollback_of,
            state: PromotionState::Approved,
            required_approvals: 0,
            refresh_data: false,
            requested_by: s.user_id(),
            requested_by_email: &s.email,
            note: note.trim(),
        };
        let (id, number) = repo::insert(&mut tx, &new).await.map_err(|e| conflict_on_open(e, &env.name))?;
        let msg = format!("rollback of {} from build #{} to build #{}", env.name, cur.number, prev.number);
        repo::add_event(&mut tx, id, PromotionState::Approved, &msg, &s.email).await.map_err(db)?;
        s.audit(
            &mut tx,
            "promotion.rollback_requested",
            &id.to_string(),
            serde_json::json!({"number": number, "environment": env.name, "before": {"build": cur.number}, "after": {"build": prev.number}, "note": note.trim()}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(id)
    })
    .await
}

#[server(prefix = "/api", endpoint = "notification-dismiss")]
pub async fn dismiss_notification(id: i64) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewPromotions).await?;
        let mut tx = s.tx().await?;
        repo::dismiss_notification(&mut tx, id).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

/// A project's promotion policy and gate thresholds (admins). Lists are comma-separated.
#[server(prefix = "/api", endpoint = "promotion-policy")]
#[allow(clippy::too_many_arguments)]
pub async fn update_promotion_policy(
    slug: String,
    required_approvals: i32,
    allow_dev_to_production: Option<String>,
    allowed_extensions: String,
    objects_warn: i64,
    objects_fail: i64,
    cron_max_seconds: i64,
    smtp_allowed_ports: String,
) -> Result<(), AppError> {
    crate::api::guard(async move {
        use crate::models::GateSettings;
        use ssr::*;
        let s = require(Capability::ManagePromotionSettings).await?;
        if !(1..=5).contains(&required_approvals) {
            return Err(AppError::Invalid("approvals needed: between 1 and 5".into()));
        }
        let mut ports = Vec::new();
        for p in smtp_allowed_ports.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            ports.push(p.parse::<i32>().map_err(|_| AppError::Invalid(format!("“{p}” is not a port number")))?);
        }
        let mut tx = s.tx().await?;
        let p = crate::db::projects::find_by_slug(&mut tx, &slug).await.map_err(db)?.ok_or_else(|| not_found(&format!("project “{slug}”")))?;
        let before = repo::policy(&mut tx, p.id).await.map_err(db)?;
        let gates = GateSettings {
            allowed_extensions: allowed_extensions.split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect(),
            objects_warn,
            objects_fail,
            cron_max_seconds,
            cron_window_hours: before.2.cron_window_hours,
            smtp_allowed_ports: ports,
        };
        gates.validate().map_err(AppError::Invalid)?;
        let allow = allow_dev_to_production.is_some_and(|v| v == "on" || v == "true");
        let after = serde_json::to_value(&gates).map_err(AppError::internal)?;
        sqlx::query("update ops.projects set required_approvals = $2, allow_dev_to_production = $3, gate_settings = $4 where id = $1")
            .bind(p.id)
            .bind(required_approvals)
            .bind(allow)
            .bind(&after)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        s.audit(
            &mut tx,
            "promotion.policy_changed",
            &p.slug,
            serde_json::json!({"before": {"required_approvals": before.0, "allow_dev_to_production": before.1, "gates": before.2},
                               "after": {"required_approvals": required_approvals, "allow_dev_to_production": allow, "gates": after}}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}
