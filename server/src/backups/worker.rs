//! Backup workers: claim the next job (`ops.claim_backup_job`), run it under its tenant with a
//! heartbeat that publishes progress and reads cancel requests, record how it ended.
use super::{audit, cleanup, job, restore, BackupContext, Progress};
use crate::logs::hub::{Hub, Notice};
use crate::promotions::system_claims;
use app::db::DbClaims;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Backup,
    Restore,
    CleanupBackup,
    CleanupRestore,
}

impl JobKind {
    fn parse(s: &str) -> Option<JobKind> {
        Some(match s {
            "backup" => JobKind::Backup,
            "restore" => JobKind::Restore,
            "cleanup_backup" => JobKind::CleanupBackup,
            "cleanup_restore" => JobKind::CleanupRestore,
            _ => return None,
        })
    }
}

pub struct BackupWorker {
    ctx: BackupContext,
    hub: Hub,
    name: String,
}

/// Claims the next job for `worker`, if any.
pub async fn claim(ctx: &BackupContext, worker: &str) -> Result<Option<(JobKind, Uuid, Uuid)>, sqlx::Error> {
    let row: Option<(String, Uuid, Uuid)> = sqlx::query_as("select job_kind, job_id, tenant_id from ops.claim_backup_job($1, $2::interval)")
        .bind(worker)
        .bind(format!("{} seconds", ctx.stale.as_secs().max(1)))
        .fetch_optional(ctx.db.pool())
        .await?;
    Ok(row.and_then(|(k, id, t)| JobKind::parse(&k).map(|k| (k, id, t))))
}

impl BackupWorker {
    pub fn new(ctx: BackupContext, hub: Hub, n: usize) -> BackupWorker {
        let name = format!("pid-{}-backup{n}-{}", std::process::id(), &Uuid::new_v4().simple().to_string()[..6]);
        BackupWorker { ctx, hub, name }
    }

    pub fn start(self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut notices = self.hub.subscribe();
            loop {
                if *shutdown.borrow() {
                    break;
                }
                match claim(&self.ctx, &self.name).await {
                    Ok(Some((kind, id, tenant))) => {
                        let stop = CancellationToken::new();
                        let work = run_job(&self.ctx, &self.name, kind, id, tenant, &stop);
                        tokio::pin!(work);
                        tokio::select! {
                            _ = &mut work => {}
                            // The console stops: cancel the job so its leftovers are removed now.
                            _ = shutdown.changed() => {
                                stop.cancel();
                                let _ = tokio::time::timeout(Duration::from_secs(8), work).await;
                            }
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "could not claim a backup job"),
                }
                let wake = async {
                    loop {
                        match notices.recv().await {
                            Ok(Notice::Backup(n)) if n.state == "pending" => return,
                            Ok(_) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                            Err(_) => std::future::pending::<()>().await,
                        }
                    }
                };
                tokio::select! {
                    _ = shutdown.changed() => {}
                    _ = wake => {}
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        })
    }
}

/// Runs one claimed job to its end and records the outcome. `stop` cancels it from outside
/// (console shutdown); cancel requests from users arrive through the heartbeat.
pub async fn run_job(ctx: &BackupContext, worker: &str, kind: JobKind, id: Uuid, tenant: Uuid, stop: &CancellationToken) {
    let claims = system_claims(tenant);
    match kind {
        JobKind::CleanupBackup => {
            if let Err(e) = cleanup::failed_backup(ctx, &claims, id).await {
                tracing::error!(error = %format!("{e:#}"), backup_id = %id, "cleaning up an interrupted backup failed");
            }
        }
        JobKind::CleanupRestore => {
            if let Err(e) = cleanup::failed_restore(ctx, &claims, id).await {
                tracing::error!(error = %format!("{e:#}"), restore_id = %id, "cleaning up an interrupted restore failed");
            }
        }
        JobKind::Backup => {
            let progress = Arc::new(Progress::default());
            let cancel = stop.child_token();
            let hb = heartbeat(ctx, &claims, "backups", id, worker, progress.clone(), cancel.clone());
            let result = job::run(ctx, &claims, id, &progress, &cancel).await;
            hb.abort();
            match result {
                Ok(()) => {
                    if let Err(e) = super::scheduler::prune_after(ctx, &claims, id).await {
                        tracing::error!(error = %format!("{e:#}"), backup_id = %id, "pruning old backups failed");
                    }
                }
                Err(e) => backup_failed(ctx, &claims, id, &e, cancel.is_cancelled()).await,
            }
        }
        JobKind::Restore => {
            let progress = Arc::new(Progress::default());
            let cancel = stop.child_token();
            let hb = heartbeat(ctx, &claims, "restores", id, worker, progress.clone(), cancel.clone());
            let result = restore::run(ctx, &claims, id, worker, &progress, &cancel).await;
            hb.abort();
            if let Err(e) = result {
                restore::failed(ctx, &claims, id, &e, cancel.is_cancelled()).await;
            }
        }
    }
}

/// Every `ctx.heartbeat`: progress into the row; a cancel request (or a lost claim) fires
/// `cancel`.
pub fn heartbeat(ctx: &BackupContext, claims: &DbClaims, table: &'static str, id: Uuid, worker: &str, progress: Arc<Progress>, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
    let (db, claims, worker, every) = (ctx.db.clone(), claims.clone(), worker.to_string(), ctx.heartbeat);
    let backups = table == "backups";
    let sql = if backups {
        "update ops.backups set heartbeat_at = now(), bytes_done = $3, bytes_expected = coalesce($4, bytes_expected), phase = $5,
                files_done = $6, files_total = coalesce($7, files_total)
          where id = $1 and worker = $2 and state in ('running', 'verifying') returning cancel_requested"
    } else {
        "update ops.restores set heartbeat_at = now(), bytes_done = $3, bytes_expected = coalesce($4, bytes_expected), phase = $5
          where id = $1 and worker = $2 and state in ('safety_backup', 'restoring', 'neutralizing', 'switching') returning cancel_requested"
    };
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let (done, expected, files_done, files_total, phase) = progress.snapshot();
            let beat = async {
                let mut tx = db.tenant_tx(&claims).await?;
                let mut q = sqlx::query_scalar::<_, bool>(sql).bind(id).bind(&worker).bind(done).bind(expected).bind(&phase);
                if backups {
                    q = q.bind(files_done).bind(files_total);
                }
                let row = q.fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(row)
            }
            .await;
            match beat {
                Ok(Some(true)) => {
                    tracing::info!(job = %id, "cancel requested");
                    cancel.cancel();
                }
                Ok(Some(false)) => {}
                // The row is no longer ours (taken over, or finished elsewhere).
                Ok(None) => {
                    cancel.cancel();
                    return;
                }
                Err(e) => tracing::warn!(error = %e, job = %id, "heartbeat failed"),
            }
        }
    })
}

/// Records a backup that did not finish: its parts are deleted, the row says why, scheduled
/// and safety backups raise a notification, and a failed scheduled backup is retried (up to
/// three attempts).
pub async fn backup_failed(ctx: &BackupContext, claims: &DbClaims, id: Uuid, e: &anyhow::Error, cancelled: bool) {
    let cancelled = cancelled || super::store::is_cancelled(e);
    let msg = if cancelled { "cancelled".to_string() } else { super::plain_error(e) };
    if !cancelled {
        tracing::error!(error = %msg, backup_id = %id, "backup failed");
    }
    if let Err(e) = cleanup::remove_parts(ctx, claims, id).await {
        tracing::error!(error = %format!("{e:#}"), backup_id = %id, "could not remove a failed backup's parts");
    }
    let recorded = async {
        let mut tx = ctx.db.tenant_tx(claims).await?;
        let row: Option<(Uuid, Uuid, String, app::models::BackupKind, i32)> = sqlx::query_as(
            "update ops.backups b set state = $2, finished_at = now(), error = left($3, 4000), phase = ''
               from ops.environments e
              where b.id = $1 and e.id = b.environment_id and b.state in ('pending', 'running', 'verifying')
             returning b.project_id, b.environment_id, e.name, b.kind, b.attempt",
        )
        .bind(id)
        .bind(if cancelled { app::models::BackupState::Cancelled } else { app::models::BackupState::Failed })
        .bind(&msg)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((project, env, env_name, kind, attempt)) = row {
            let action = if cancelled { "backup.cancelled" } else { "backup.failed" };
            audit(&mut tx, action, &id.to_string(), serde_json::json!({"environment": env_name, "kind": kind.as_str(), "error": msg})).await?;
            if !cancelled && kind != app::models::BackupKind::Manual {
                app::db::promotions::notify(&mut tx, project, Some(env), "error", &format!("{} backup of {env_name} failed", kind.as_str()), &msg).await?;
            }
            if !cancelled && kind == app::models::BackupKind::Scheduled && attempt + 1 < 3 {
                sqlx::query(
                    "insert into ops.backups (tenant_id, project_id, environment_id, kind, schedule_id, scheduled_for, attempt, storage, database_name, requested_by_email)
                     select tenant_id, project_id, environment_id, kind, schedule_id, scheduled_for, attempt + 1, storage, database_name, requested_by_email
                       from ops.backups where id = $1
                     on conflict do nothing",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await
    }
    .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, backup_id = %id, "could not record a failed backup");
    }
}
