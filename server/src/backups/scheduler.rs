//! The scheduler (every 30 s, in every console: inserting a slot twice is a no-op), the
//! watchdog that raises an alert when production has no recent good backup, and retention.
use super::{audit, cleanup, retention, BackupContext};
use crate::promotions::system_claims;
use anyhow::{Context, Result};
use app::db::DbClaims;
use app::models::{Retention, Stage};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// A slot more than this late (all consoles were down) is recorded as missed, and one
/// catch-up backup runs instead.
pub const MISSED_AFTER: chrono::Duration = chrono::Duration::minutes(30);

#[derive(Debug, sqlx::FromRow)]
struct Due {
    schedule_id: Option<Uuid>,
    tenant_id: Uuid,
    project_id: Uuid,
    environment_id: Uuid,
    cron: Option<String>,
    time_zone: Option<String>,
    project_time_zone: String,
}

pub fn start(ctx: BackupContext, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        match cleanup::sweep_local(&ctx).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "removed leftover backup directories"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "could not sweep the backup directory"),
        }
        loop {
            if let Err(e) = tick(&ctx, Utc::now()).await {
                tracing::error!(error = %format!("{e:#}"), "backup scheduler");
            }
            if let Err(e) = watchdog(&ctx).await {
                tracing::error!(error = %format!("{e:#}"), "backup watchdog");
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    })
}

/// One pass: production environments get their default schedule, due slots become pending
/// backups (late ones are recorded as missed first). Returns how many backups it queued.
pub async fn tick(ctx: &BackupContext, now: DateTime<Utc>) -> Result<usize> {
    let due: Vec<Due> = sqlx::query_as("select * from ops.due_backup_schedules()").fetch_all(ctx.db.pool()).await?;
    let mut queued = 0;
    for d in due {
        let claims = system_claims(d.tenant_id);
        match one(ctx, &claims, &d, now).await {
            Ok(n) => queued += n,
            Err(e) => tracing::warn!(error = %format!("{e:#}"), environment_id = %d.environment_id, "could not schedule a backup"),
        }
    }
    Ok(queued)
}

async fn one(ctx: &BackupContext, claims: &DbClaims, d: &Due, now: DateTime<Utc>) -> Result<usize> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let Some(schedule_id) = d.schedule_id else {
        // Production's default: daily at the configured hour, in the project's time zone.
        let cron = app::schedule::default_cron(ctx.default_hour);
        let tz = if app::schedule::time_zone(&d.project_time_zone).is_ok() { d.project_time_zone.clone() } else { "UTC".into() };
        let next = app::schedule::parse(&cron, &tz).ok().and_then(|s| s.next_after(now));
        sqlx::query(
            "insert into ops.backup_schedules (tenant_id, project_id, environment_id, cron, time_zone, enabled, keep_daily, keep_weekly, keep_monthly, next_run_at)
             values ($1, $2, $3, $4, $5, true, $6, $7, $8, $9) on conflict (environment_id) do nothing",
        )
        .bind(d.tenant_id)
        .bind(d.project_id)
        .bind(d.environment_id)
        .bind(&cron)
        .bind(&tz)
        .bind(Retention::PRODUCTION.daily as i32)
        .bind(Retention::PRODUCTION.weekly as i32)
        .bind(Retention::PRODUCTION.monthly as i32)
        .bind(next)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(0);
    };
    // Under the schedule's lock, re-read: another console may have done this slot.
    let locked: Option<(Option<DateTime<Utc>>, bool)> = sqlx::query_as("select next_run_at, enabled from ops.backup_schedules where id = $1 for update")
        .bind(schedule_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some((next, true)) = locked else {
        return Ok(0);
    };
    let schedule = match app::schedule::parse(d.cron.as_deref().unwrap_or_default(), d.time_zone.as_deref().unwrap_or("UTC")) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(schedule_id = %schedule_id, error = e, "a schedule cannot be read; it is skipped");
            return Ok(0);
        }
    };
    let Some(slot) = next else {
        sqlx::query("update ops.backup_schedules set next_run_at = $2 where id = $1").bind(schedule_id).bind(schedule.next_after(now)).execute(&mut *tx).await?;
        tx.commit().await?;
        return Ok(0);
    };
    if slot > now {
        return Ok(0);
    }
    let mut queued = 0;
    let late = now - slot > MISSED_AFTER;
    if late {
        sqlx::query(
            "insert into ops.backups (tenant_id, project_id, environment_id, kind, state, schedule_id, scheduled_for, storage, error, finished_at, requested_by_email)
             select e.tenant_id, e.project_id, e.id, 'scheduled', 'missed', $2, $3, p.backup_storage,
                    'no console was running at the scheduled time', now(), 'scheduler'
               from ops.environments e join ops.projects p on p.id = e.project_id where e.id = $1
             on conflict do nothing",
        )
        .bind(d.environment_id)
        .bind(schedule_id)
        .bind(slot)
        .execute(&mut *tx)
        .await?;
        let env_name: String = sqlx::query_scalar("select name from ops.environments where id = $1").bind(d.environment_id).fetch_one(&mut *tx).await?;
        app::db::promotions::notify(
            &mut tx,
            d.project_id,
            Some(d.environment_id),
            "error",
            &format!("scheduled backup of {env_name} missed"),
            &format!("The backup due at {} did not run (no console was running). A catch-up backup was started.", slot.format("%Y-%m-%d %H:%M UTC")),
        )
        .await?;
    }
    // The backup for this slot (or the catch-up, stamped now, for a missed one).
    let stamp = if late { now } else { slot };
    let n = sqlx::query(
        "insert into ops.backups (tenant_id, project_id, environment_id, kind, schedule_id, scheduled_for, storage, database_name, requested_by_email)
         select e.tenant_id, e.project_id, e.id, 'scheduled', $2, $3, p.backup_storage, e.database_name, 'scheduler'
           from ops.environments e join ops.projects p on p.id = e.project_id where e.id = $1 and e.database_name is not null
         on conflict do nothing",
    )
    .bind(d.environment_id)
    .bind(schedule_id)
    .bind(stamp)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    queued += n as usize;
    sqlx::query("update ops.backup_schedules set next_run_at = $2, last_scheduled_at = $3 where id = $1")
        .bind(schedule_id)
        .bind(schedule.next_after(now))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(queued)
}

/// Production without a good backup for longer than a day and two hours (and a schedule
/// that ran at least once) raises one error notification a day.
pub async fn watchdog(ctx: &BackupContext) -> Result<usize> {
    let rows: Vec<(Uuid, Uuid, Uuid, Option<DateTime<Utc>>)> =
        sqlx::query_as("select tenant_id, project_id, environment_id, last_good_backup_at from ops.stale_backup_environments('26 hours'::interval)").fetch_all(ctx.db.pool()).await?;
    let mut raised = 0;
    for (tenant, project, env, last) in rows {
        let mut tx = ctx.db.tenant_tx(&system_claims(tenant)).await?;
        let name: String = sqlx::query_scalar("select name from ops.environments where id = $1").bind(env).fetch_one(&mut *tx).await?;
        let title = format!("{name} has no recent good backup");
        let recent: bool = sqlx::query_scalar("select exists (select 1 from ops.notifications where environment_id = $1 and title = $2 and created_at > now() - interval '24 hours')")
            .bind(env)
            .bind(&title)
            .fetch_one(&mut *tx)
            .await?;
        if !recent {
            let body = match last {
                Some(t) => format!("The last good backup finished at {}. Check the backups page for failed or missed backups.", t.format("%Y-%m-%d %H:%M UTC")),
                None => "No backup of this environment has succeeded yet. Check the backups page.".to_string(),
            };
            app::db::promotions::notify(&mut tx, project, Some(env), "error", &title, &body).await?;
            raised += 1;
        }
        tx.commit().await?;
    }
    Ok(raised)
}

/// Retention after a good backup of the same environment: keeps what
/// [`retention::keep`] says plus the newest good backup, pinned ones and any an open restore
/// uses; the rest is marked `deleting` (no longer offered), its parts deleted, then `deleted`.
pub async fn prune_after(ctx: &BackupContext, claims: &DbClaims, backup_id: Uuid) -> Result<Vec<Uuid>> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let env: Option<(Uuid, Stage, String)> = sqlx::query_as(
        "select e.id, e.stage, p.time_zone from ops.backups b join ops.environments e on e.id = b.environment_id join ops.projects p on p.id = b.project_id where b.id = $1",
    )
    .bind(backup_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((env_id, stage, project_tz)) = env else {
        return Ok(Vec::new());
    };
    // One pruning per environment at a time.
    sqlx::query("select 1 from ops.environments where id = $1 for update").bind(env_id).execute(&mut *tx).await?;
    let schedule = app::db::backups::schedule_of(&mut tx, env_id).await?;
    let (policy, tz_name) = match &schedule {
        Some(s) => (Retention { daily: s.keep_daily.max(1) as u32, weekly: s.keep_weekly.max(0) as u32, monthly: s.keep_monthly.max(0) as u32 }, s.time_zone.clone()),
        None => (Retention::for_stage(stage), project_tz),
    };
    let tz = app::schedule::time_zone(&tz_name).unwrap_or(chrono_tz::UTC);
    let good: Vec<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>, bool)> =
        sqlx::query_as("select id, coalesce(finished_at, queued_at), pinned_until, kind = 'manual' from ops.backups where environment_id = $1 and state = 'good'")
            .bind(env_id)
            .fetch_all(&mut *tx)
            .await?;
    let in_use: HashSet<Uuid> = sqlx::query_scalar::<_, Uuid>(
        "select backup_id from ops.restores where target_environment_id is not null and state in ('pending', 'safety_backup', 'restoring', 'neutralizing', 'switching')
         union select safety_backup_id from ops.restores where safety_backup_id is not null and state in ('pending', 'safety_backup', 'restoring', 'neutralizing', 'switching')",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let now = Utc::now();
    let candidates: Vec<(Uuid, DateTime<Utc>)> = good.iter().map(|(id, at, _, _)| (*id, *at)).collect();
    let mut keep = retention::keep(&candidates, tz, policy);
    if let Some((newest, _)) = candidates.iter().max_by_key(|(_, at)| *at) {
        keep.insert(*newest);
    }
    keep.extend(good.iter().filter(|(_, _, pin, _)| pin.is_some_and(|p| p > now)).map(|(id, _, _, _)| *id));
    // A manual backup someone just took ("before my change") is not pruned by the next one
    // of the same day: it stays at least 24 hours.
    keep.extend(good.iter().filter(|(_, at, _, manual)| *manual && (now - *at) < chrono::Duration::hours(24) && *at <= now).map(|(id, _, _, _)| *id));
    keep.extend(in_use);
    let drop: Vec<Uuid> = good.iter().map(|(id, _, _, _)| *id).filter(|id| !keep.contains(id)).collect();
    if !drop.is_empty() {
        sqlx::query("update ops.backups set state = 'deleting' where id = any($1) and state = 'good'").bind(&drop).execute(&mut *tx).await?;
        audit(
            &mut tx,
            "backup.pruned",
            &env_id.to_string(),
            serde_json::json!({"policy": {"daily": policy.daily, "weekly": policy.weekly, "monthly": policy.monthly}, "time_zone": tz_name, "backups": drop, "kept": keep.len()}),
        )
        .await?;
    }
    // Deleting ones left by an earlier, interrupted pass go too.
    let deleting: Vec<Uuid> = sqlx::query_scalar("select id from ops.backups where environment_id = $1 and state = 'deleting'").bind(env_id).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    for id in &deleting {
        cleanup::remove_parts(ctx, claims, *id).await.with_context(|| format!("deleting the parts of backup {id}"))?;
        let mut tx = ctx.db.tenant_tx(claims).await?;
        sqlx::query("update ops.backups set state = 'deleted', deleted_at = now() where id = $1 and state = 'deleting'").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(drop)
}
