//! Deploying an approved promotion (or a rollback): start the build beside the running one,
//! check it, then point the environment at it. A build that does not come up is discarded
//! and the environment keeps (or gets back) its previous build: an automatic rollback.
use super::instances::Started;
use super::{audit, PromotionContext};
use crate::gates::DisabledJob;
use crate::logs::sink::{LogSink, LogWriter};
use anyhow::{Context, Result};
use app::db::promotions::{self as repo, EnvRow};
use app::db::{self, DbClaims};
use app::models::{PromotionKind, PromotionState};
use uuid::Uuid;

pub async fn run(ctx: &PromotionContext, claims: &DbClaims, id: Uuid, worker: &str) -> Result<()> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let row = repo::row(&mut tx, id).await?.context("the promotion is gone")?;
    let env = repo::environment(&mut tx, row.target_env_id).await?.context("the target environment is gone")?;
    let job = db::builds::job(&mut tx, row.build_id).await?.context("the build is gone")?;
    let what = if row.kind == PromotionKind::Rollback { "rolling back" } else { "deploying" };
    repo::add_event(&mut tx, id, PromotionState::Promoting, &format!("{what} build #{} to {}", row.build_number, env.name), "console").await?;
    repo::set_instance(&mut tx, env.id, "starting", None, worker, &format!("starting build #{}", row.build_number)).await?;
    tx.commit().await?;

    let sink = LogSink::start(ctx.db.clone(), claims.clone(), Some(job.id), Some(env.id));
    let log = sink.writer();
    log.info("deploy", format!("promotion #{}: {what} build #{} to {}", row.number, row.build_number, env.name)).await;
    if row.refresh_data {
        if let Err(e) = super::refresh::run(ctx, claims, id, &env, &log).await {
            let why = format!("{e:#}");
            let result = fail(ctx, claims, id, &row, &env, worker, &format!("refreshing staging's data failed: {why}"), &log).await;
            drop(log);
            sink.close().await;
            return result;
        }
    }
    let started = ctx.instances.start(claims, env.id, &env.name, env.stage, &job, &log).await;
    let result = match started {
        Ok(started) => succeed(ctx, claims, id, &row, &env, worker, started, &log).await,
        Err(why) => fail(ctx, claims, id, &row, &env, worker, &why, &log).await,
    };
    drop(log);
    sink.close().await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn succeed(ctx: &PromotionContext, claims: &DbClaims, id: Uuid, row: &app::models::PromotionRow, env: &EnvRow, worker: &str, started: Started, log: &LogWriter) -> Result<()> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let locked = repo::lock_environment(&mut tx, env.id).await?.context("the target environment is gone")?;
    repo::deploy_pointer(&mut tx, env.id, row.build_id, locked.build_id.filter(|b| *b != row.build_id)).await?;
    let (state, port, detail) = match &started {
        Started::NoStartCommand => ("none", None, "the build has no [start] command: nothing to run".to_string()),
        Started::Up(c) => ("running", Some(i32::from(c.port)), format!("build #{} on 127.0.0.1:{}", row.build_number, c.port)),
    };
    repo::set_instance(&mut tx, env.id, state, port, worker, &detail).await?;
    let moved = repo::transition(&mut tx, id, PromotionState::Promoted, None).await?;
    let msg = format!("{} now runs build #{} ({detail})", env.name, row.build_number);
    repo::add_event(&mut tx, id, PromotionState::Promoted, &msg, "console").await?;
    let action = if row.kind == PromotionKind::Rollback { "promotion.rolled_back" } else { "promotion.deployed" };
    audit(
        &mut tx,
        action,
        &id.to_string(),
        serde_json::json!({"number": row.number, "environment": env.name, "before": {"build_id": locked.build_id}, "after": {"build_id": row.build_id}}),
    )
    .await?;
    match tx.commit().await {
        Ok(()) if moved => {}
        Ok(()) => tracing::warn!("the promotion changed state while deploying"),
        Err(e) => {
            if let Started::Up(c) = started {
                ctx.instances.discard(c).await;
            }
            return Err(e.into());
        }
    }
    log.info("deploy", msg).await;
    if let Started::Up(c) = started {
        serve(ctx, claims, env.id, c).await;
    } else {
        ctx.instances.stop(env.id).await;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn fail(ctx: &PromotionContext, claims: &DbClaims, id: Uuid, row: &app::models::PromotionRow, env: &EnvRow, worker: &str, why: &str, log: &LogWriter) -> Result<()> {
    log.error("deploy", format!("build #{} did not come up: {why}", row.build_number)).await;
    // The environment's own build keeps serving if it runs here; if not (this console was
    // restarted), it is started again so the environment is back where it was.
    let mut restored = String::new();
    if let Some(prev) = env.build_id {
        let running_here = ctx.instances.running().await.get(&env.id) == Some(&prev);
        if running_here {
            restored = "its running instance was left untouched".into();
        } else {
            let mut tx = ctx.db.tenant_tx(claims).await?;
            let prev_job = db::builds::job(&mut tx, prev).await?;
            tx.commit().await?;
            if let Some(prev_job) = prev_job {
                match ctx.instances.start(claims, env.id, &env.name, env.stage, &prev_job, log).await {
                    Ok(Started::Up(c)) => {
                        restored = format!("build #{} was started again", prev_job.number);
                        let port = c.port;
                        serve(ctx, claims, env.id, c).await;
                        let mut tx = ctx.db.tenant_tx(claims).await?;
                        repo::set_instance(&mut tx, env.id, "running", Some(i32::from(port)), worker, &format!("build #{} on 127.0.0.1:{port}", prev_job.number)).await?;
                        tx.commit().await?;
                    }
                    Ok(Started::NoStartCommand) => restored = format!("build #{} has nothing to start", prev_job.number),
                    Err(e) => restored = format!("build #{} could not be started again either: {e}", prev_job.number),
                }
            }
        }
    }
    let previous = match env.build_id {
        Some(b) => {
            let mut tx = ctx.db.tenant_tx(claims).await?;
            let n = repo::build_brief(&mut tx, b).await?.map(|b| b.number);
            tx.commit().await?;
            n.map(|n| format!("build #{n}")).unwrap_or_else(|| "its previous build".into())
        }
        None => "no build (it ran none before)".into(),
    };
    let msg = format!("deploy failed: {why}. Rolled back automatically: {} stays on {previous}{}", env.name, if restored.is_empty() { String::new() } else { format!(" ({restored})") });
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let still_running = ctx.instances.running().await.contains_key(&env.id);
    let (state, detail) = if still_running { ("running", format!("{previous} (deploy of build #{} failed)", row.build_number)) } else { ("failed", msg.clone()) };
    sqlx::query("update ops.environments set instance_state = $2, instance_detail = $3 where id = $1").bind(env.id).bind(state).bind(&detail).execute(&mut *tx).await?;
    if repo::transition(&mut tx, id, PromotionState::Failed, Some(&msg)).await? {
        repo::add_event(&mut tx, id, PromotionState::Failed, &msg, "console").await?;
        audit(&mut tx, "promotion.deploy_failed", &id.to_string(), serde_json::json!({"number": row.number, "environment": env.name, "error": why})).await?;
        audit(&mut tx, "promotion.auto_rolled_back", &id.to_string(), serde_json::json!({"number": row.number, "environment": env.name, "kept": previous, "restored": restored}))
            .await?;
        repo::notify(&mut tx, env.project_id, Some(env.id), "error", &format!("Deploy of build #{} to {} failed and was rolled back", row.build_number, env.name), &msg).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Makes `c` the environment's instance; should it exit by itself later, the environment
/// says so.
async fn serve(ctx: &PromotionContext, claims: &DbClaims, env_id: Uuid, c: super::instances::Candidate) {
    let (db, cl) = (ctx.db.clone(), claims.clone());
    ctx.instances
        .promote(env_id, claims.tenant_id, c, move |why| async move {
            if let Ok(mut tx) = db.tenant_tx(&cl).await {
                let _ = repo::set_instance(&mut tx, env_id, "failed", None, "", &why).await;
                let _ = tx.commit().await;
            }
        })
        .await;
}

/// One notification per cron job a gate disabled.
pub async fn notify_disabled_jobs(conn: &mut sqlx::PgConnection, project_id: Uuid, env_id: Uuid, env_name: &str, jobs: &[DisabledJob]) -> Result<(), sqlx::Error> {
    for j in jobs {
        let title = format!("Scheduled job “{}” on {env_name} was disabled", j.name);
        let body = format!(
            "Its runs took up to {:.0} s, over the limit of {} s, so the cron runtime gate disabled it ({} job {}). Make it faster or split it, then enable it again.",
            j.longest_seconds, j.limit_seconds, j.source, j.job_id
        );
        repo::notify(&mut *conn, project_id, Some(env_id), "warning", &title, &body).await?;
        audit(&mut *conn, "gate.cron_job_disabled", env_name, serde_json::json!({"job_id": j.job_id, "name": j.name, "source": j.source, "longest_seconds": j.longest_seconds}))
            .await?;
    }
    Ok(())
}

/// At shutdown: instances stop with the console, and the environments say so.
pub async fn stop_instances(ctx: &PromotionContext) {
    for (env_id, tenant_id) in ctx.instances.stop_all().await {
        let done = async {
            let mut tx = ctx.db.tenant_tx(&super::system_claims(tenant_id)).await?;
            sqlx::query("update ops.environments set instance_state = 'stopped', instance_port = null, instance_detail = 'the console stopped' where id = $1")
                .bind(env_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "could not record a stopped instance");
        }
    }
}
