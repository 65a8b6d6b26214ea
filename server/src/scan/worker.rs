//! The scanner service (targets: environment databases, linked Supabase projects with a
//! registered connection, the console's own database): a worker that claims scan jobs (`ops.claim_scan_job`, skip locked)
//! and runs them under their tenant, and a scheduler that queues each tenant's nightly scans
//! (one job per target and cron slot, whichever console gets there first) and a first scan
//! of every target never scanned.
//!
//! A job is either a scan (stored by [`register::run`]) or a fix plan: its patches applied to
//! the target database in one transaction, audited, then a re-scan that shows what they fixed.
use super::register::{self, Target};
use super::ScanOptions;
use crate::promotions::system_claims;
use anyhow::{bail, Context, Result};
use app::db::scanner as repo;
use app::db::{Db, DbClaims};
use app::models::{environment_target, PlanStep, ScanJobKind, ScanJobState, ScanSource, CONSOLE_TARGET};
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// A nightly slot more than this late (every console was down) is skipped.
const SLOT_GRACE: chrono::Duration = chrono::Duration::minutes(30);

#[derive(Clone)]
pub struct ScanContext {
    pub db: Db,
    /// The console's owner URL: the console's own database, and environment databases live
    /// on the same server.
    pub owner_url: Arc<app::auth::Secret>,
    pub options: ScanOptions,
    /// A running job whose console has been silent this long is failed.
    pub stale: Duration,
    /// How often an idle worker looks for work.
    pub poll: Duration,
    /// Opens the connection strings of linked Supabase projects (none: they are not scanned).
    pub secrets: Option<Arc<crate::supabase::crypto::SecretBox>>,
}

#[derive(sqlx::FromRow)]
struct Job {
    tenant_id: Uuid,
    kind: ScanJobKind,
    target_key: String,
    source: ScanSource,
    plan_id: Option<Uuid>,
    requested_by: Option<Uuid>,
}

/// Starts the worker and the scheduler.
pub fn start(ctx: ScanContext, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    let name = format!("pid-{}-scan-{}", std::process::id(), &Uuid::new_v4().simple().to_string()[..6]);
    vec![tokio::spawn(work(ctx.clone(), name, shutdown.clone())), tokio::spawn(schedule(ctx, shutdown))]
}

async fn work(ctx: ScanContext, name: String, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        match claim(&ctx, &name).await {
            Ok(Some((id, tenant))) => {
                let job = run(&ctx, id, tenant);
                tokio::pin!(job);
                tokio::select! {
                    _ = &mut job => {}
                    // A scan is read-only and a plan is one transaction: dropping either
                    // leaves nothing half-done; the next claim fails the job as interrupted.
                    _ = shutdown.changed() => return,
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "could not claim a scan job"),
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(ctx.poll) => {}
        }
    }
}

async fn claim(ctx: &ScanContext, worker: &str) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as("select job_id, tenant_id from ops.claim_scan_job($1, $2::interval)")
        .bind(worker)
        .bind(format!("{} seconds", ctx.stale.as_secs().max(1)))
        .fetch_optional(ctx.db.pool())
        .await
}

/// Runs one claimed job, with a heartbeat, and records how it ended.
#[tracing::instrument(skip(ctx), fields(job_id = %id, tenant_id = %tenant))]
pub async fn run(ctx: &ScanContext, id: Uuid, tenant: Uuid) {
    let claims = system_claims(tenant);
    let beat = async {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if let Ok(mut tx) = ctx.db.tenant_tx(&claims).await {
                let _ = sqlx::query("update ops.scan_jobs set heartbeat_at = now() where id = $1 and state = 'running'").bind(id).execute(&mut *tx).await;
                let _ = tx.commit().await;
            }
        }
    };
    let outcome = tokio::select! {
        r = one(ctx, &claims, id) => r,
        _ = beat => unreachable!("the heartbeat never ends"),
    };
    let (state, scan_id, error) = match outcome {
        Ok(scan_id) => (ScanJobState::Done, scan_id, None),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "scan job failed");
            (ScanJobState::Failed, None, Some(crate::backups::plain_error(&e)))
        }
    };
    let done = async {
        let mut tx = ctx.db.tenant_tx(&claims).await?;
        sqlx::query("update ops.scan_jobs set state = $2, finished_at = now(), scan_id = coalesce($3, scan_id), error = $4 where id = $1")
            .bind(id)
            .bind(state)
            .bind(scan_id)
            .bind(error)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = done {
        tracing::error!(error = %e, "could not record how a scan job ended");
    }
}

/// The job's work; the scan it stored, if any.
async fn one(ctx: &ScanContext, claims: &DbClaims, id: Uuid) -> Result<Option<Uuid>> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let job: Job = sqlx::query_as("select tenant_id, kind, target_key, source, plan_id, requested_by from ops.scan_jobs where id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let target = target(ctx, &mut tx, job.tenant_id, &job.target_key).await?;
    tx.commit().await?;
    match job.kind {
        ScanJobKind::Scan => {
            let s = register::run(&ctx.db, claims, &target, job.source, job.requested_by, &ctx.options).await?;
            tracing::info!(scan_id = %s.scan_id, findings = s.findings, new = s.new, resolved = s.resolved, score = s.score, "scan stored");
            Ok(Some(s.scan_id))
        }
        ScanJobKind::ApplyPlan => {
            let plan_id = job.plan_id.context("a plan job without its plan")?;
            apply_plan(ctx, claims, &target, plan_id, job.requested_by).await?;
            let s = register::run(&ctx.db, claims, &target, ScanSource::Manual, job.requested_by, &ctx.options).await?;
            let mut tx = ctx.db.tenant_tx(claims).await?;
            sqlx::query("update ops.remediation_plans set rescan_id = $2 where id = $1").bind(plan_id).bind(s.scan_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(s.scan_id))
        }
    }
}

/// Where a target key points, with its connection URL (never stored or logged).
async fn target(ctx: &ScanContext, conn: &mut PgConnection, tenant_id: Uuid, key: &str) -> Result<Target> {
    if key == CONSOLE_TARGET {
        if !repo::is_console_tenant(conn).await? {
            bail!("the console's own database is scanned only under the installation's tenant");
        }
        return Ok(Target { tenant_id, project_id: None, environment_id: None, key: key.into(), name: "Console database".into(), url: ctx.owner_url.expose().to_string() });
    }
    if let Some(r) = key.strip_prefix("supabase:") {
        let project_ref = app::models::supabase::ProjectRef::parse(r).with_context(|| format!("{r} is not a Supabase project ref"))?;
        let link = app::db::supabase::local_target(conn, &project_ref)
            .await?
            .filter(|l| l.tenant_id == tenant_id)
            .context("the Supabase link is gone or has no registered connection")?;
        let secrets = ctx.secrets.as_ref().context("this console cannot open Supabase connection strings")?;
        let url = secrets.open(&link.db_url_enc).context("opening the Supabase project's connection string")?;
        let project: String = sqlx::query_scalar("select name from ops.projects where id = $1").bind(link.project_id).fetch_one(&mut *conn).await?;
        return Ok(Target { tenant_id, project_id: Some(link.project_id), environment_id: None, key: key.into(), name: format!("{project} / {}", link.name), url });
    }
    let env_id: Uuid = key.strip_prefix("environment:").and_then(|x| x.parse().ok()).with_context(|| format!("unknown scan target {key}"))?;
    let row: Option<(Uuid, String, String, Option<String>)> = sqlx::query_as(
        "select e.project_id, p.name, e.name, e.database_name from ops.environments e join ops.projects p on p.id = e.project_id where e.id = $1",
    )
    .bind(env_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((project_id, project, env, Some(database))) = row else {
        bail!("the environment is gone or has no database");
    };
    Ok(Target {
        tenant_id,
        project_id: Some(project_id),
        environment_id: Some(env_id),
        key: environment_target(env_id),
        name: format!("{project} / {env}"),
        url: crate::db::with_database(ctx.owner_url.expose(), &database),
    })
}

/// Applies a plan's patches to the target database in one transaction (all or nothing),
/// and records the outcome on the plan with an audit row either way.
async fn apply_plan(ctx: &ScanContext, claims: &DbClaims, target: &Target, plan_id: Uuid, by: Option<Uuid>) -> Result<()> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let steps: serde_json::Value = sqlx::query_scalar("select steps from ops.remediation_plans where id = $1 and status = 'draft'")
        .bind(plan_id)
        .fetch_optional(&mut *tx)
        .await?
        .context("the plan is gone or was already applied")?;
    tx.commit().await?;
    let steps: Vec<PlanStep> = serde_json::from_value(steps).context("reading the plan's steps")?;
    let applied = patch(&target.url, &steps).await;
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let keys: Vec<&str> = steps.iter().map(|s| s.finding_key.as_str()).collect();
    match &applied {
        Ok(()) => {
            sqlx::query("update ops.remediation_plans set status = 'applied', applied_by = $2, applied_at = now() where id = $1").bind(plan_id).bind(by).execute(&mut *tx).await?;
            crate::promotions::audit(&mut tx, "scan.plan_applied", &target.name, serde_json::json!({"plan_id": plan_id, "target": target.key, "steps": steps.len(), "findings": keys, "requested_by": by}))
                .await?;
        }
        Err(e) => {
            let msg = crate::backups::plain_error(e);
            sqlx::query("update ops.remediation_plans set status = 'failed', error = $2 where id = $1").bind(plan_id).bind(&msg).execute(&mut *tx).await?;
            crate::promotions::audit(&mut tx, "scan.plan_failed", &target.name, serde_json::json!({"plan_id": plan_id, "target": target.key, "error": msg, "requested_by": by})).await?;
        }
    }
    tx.commit().await?;
    applied
}

/// Runs the patches in order inside one transaction on the target; the first failure rolls
/// everything back and names its step.
pub async fn patch(url: &str, steps: &[PlanStep]) -> Result<()> {
    let mut conn = PgConnection::connect(url).await.context("connecting to the database to patch")?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql("set local lock_timeout = '10s'; set local statement_timeout = '120s'").execute(&mut *tx).await?;
    for (i, step) in steps.iter().enumerate() {
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(step.sql.clone())).execute(&mut *tx).await {
            let reason = match &e {
                sqlx::Error::Database(d) => d.message().to_string(),
                other => other.to_string(),
            };
            bail!("step {} of {} ({}) failed, nothing was changed: {reason}", i + 1, steps.len(), step.title);
        }
    }
    tx.commit().await?;
    let _ = conn.close().await;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TenantSchedule {
    tenant_id: Uuid,
    cron: String,
    enabled: bool,
}

async fn schedule(ctx: ScanContext, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = tick(&ctx, Utc::now()).await {
            tracing::error!(error = %format!("{e:#}"), "scan scheduler");
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// The nightly slot of `cron` due at `now`: its latest run in the grace window, if any.
pub fn due_slot(cron: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = app::schedule::parse(cron, "UTC").ok()?;
    let mut slot = None;
    let mut t = now - SLOT_GRACE;
    while let Some(next) = s.next_after(t) {
        if next > now {
            break;
        }
        slot = Some(next);
        t = next;
    }
    slot
}

/// One pass over every tenant: the due nightly slot's scans, and a first scan of each target
/// never scanned. Returns how many jobs it queued.
pub async fn tick(ctx: &ScanContext, now: DateTime<Utc>) -> Result<usize> {
    let tenants: Vec<TenantSchedule> = sqlx::query_as("select tenant_id, cron, enabled from ops.scan_schedules()").fetch_all(ctx.db.pool()).await?;
    let mut queued = 0;
    for t in tenants {
        let claims = system_claims(t.tenant_id);
        let mut tx = ctx.db.tenant_tx(&claims).await?;
        let slot = if t.enabled { due_slot(&t.cron, now) } else { None };
        for target in repo::targets(&mut tx).await? {
            let (source, slot) = match (slot, &target.last_scan) {
                (Some(s), _) => (ScanSource::Nightly, Some(s)),
                (None, None) if target.job.is_none() => (ScanSource::Nightly, None),
                _ => continue,
            };
            let job = repo::NewJob { tenant_id: t.tenant_id, kind: ScanJobKind::Scan, target_key: &target.key, source, plan_id: None, slot, requested_by: None };
            queued += usize::from(repo::queue_job(&mut tx, &job).await?.is_some());
        }
        tx.commit().await?;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_nightly_slot_is_due_for_half_an_hour_after_its_time() {
        let at = |h, m| Utc.with_ymd_and_hms(2026, 12, 3, h, m, 0).unwrap();
        assert_eq!(due_slot("0 3 * * *", at(3, 0)), Some(at(3, 0)));
        assert_eq!(due_slot("0 3 * * *", at(3, 29)), Some(at(3, 0)));
        assert_eq!(due_slot("0 3 * * *", at(3, 31)), None);
        assert_eq!(due_slot("0 3 * * *", at(2, 59)), None);
        assert_eq!(due_slot("not a cron", at(3, 0)), None);
    }
}
