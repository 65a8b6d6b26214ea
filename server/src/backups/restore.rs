//! Restoring a good backup into a new database, then switching an environment to it.
//! Staging (the standard case): the copy is neutralized first, and the previous staging
//! database is dropped only after the switch. Production (guarded by the server function):
//! a safety backup of the current database first, no neutralization, and the previous
//! database is kept for the sysadmin to drop.
use super::store::{self, Store};
use super::{archive, audit, job, worker, BackupContext, Progress};
use crate::neutralize::{self, copy, MailTarget};
use crate::promotions::refresh::next_name;
use anyhow::{anyhow, bail, Context, Result};
use app::db::{self, DbClaims};
use app::models::{RestoreMode, RestoreState, Stage};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
struct Job {
    mode: RestoreMode,
    backup_id: Uuid,
    reason: String,
    requested_by_email: String,
    project_id: Uuid,
    storage: serde_json::Value,
    location: String,
    dump_sha256: Option<String>,
    dump_bytes: Option<i64>,
    files_sha256: Option<String>,
    files_bytes: Option<i64>,
    source_env: String,
    env_id: Uuid,
    env_name: String,
    stage: Stage,
    database_name: Option<String>,
    data_dir: Option<String>,
}

async fn load(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<Job, sqlx::Error> {
    sqlx::query_as(
        "select r.mode, r.backup_id, r.reason, r.requested_by_email, r.project_id, b.storage, b.location, b.dump_sha256, b.dump_bytes,
                b.files_sha256, b.files_bytes, se.name as source_env, te.id as env_id, te.name as env_name, te.stage,
                te.database_name, te.data_dir
           from ops.restores r join ops.backups b on b.id = r.backup_id
           join ops.environments se on se.id = b.environment_id join ops.environments te on te.id = r.target_environment_id
          where r.id = $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await
}

async fn set_state(ctx: &BackupContext, claims: &DbClaims, id: Uuid, state: RestoreState, phase: &str) -> Result<()> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let n = sqlx::query("update ops.restores set state = $2, phase = $3 where id = $1 and state in ('safety_backup', 'restoring', 'neutralizing')")
        .bind(id)
        .bind(state)
        .bind(phase)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    if n == 0 {
        bail!("the restore is no longer running (cancelled or taken over)");
    }
    Ok(())
}

/// The file store directory of `database` under an Odoo data directory.
pub fn filestore_dir(data_dir: &str, database: &str) -> PathBuf {
    Path::new(data_dir).join("filestore").join(database)
}

pub async fn remove_filestore(data_dir: &str, database: &str) {
    for dir in [filestore_dir(data_dir, database), filestore_dir(data_dir, &format!("{database}.partial"))] {
        if dir.exists() {
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                tracing::warn!(error = %e, dir = %dir.display(), "could not remove a file store");
            }
        }
    }
}

pub async fn run(ctx: &BackupContext, claims: &DbClaims, id: Uuid, worker_name: &str, progress: &Arc<Progress>, cancel: &CancellationToken) -> Result<()> {
    let clock = Instant::now();
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let job = load(&mut tx, id).await?;
    let store = job::store_of(ctx, &mut tx, job.project_id, &job.storage).await?;
    tx.commit().await?;
    let wanted = if job.mode == RestoreMode::Production { Stage::Production } else { Stage::Staging };
    if job.stage != wanted {
        bail!("{} is a {} environment, not {}", job.env_name, job.stage.as_str(), wanted.as_str());
    }
    let (Some(dump_sha), Some(dump_bytes)) = (job.dump_sha256.clone(), job.dump_bytes) else {
        bail!("the backup has no verified dump");
    };

    let mut safety = None;
    if job.mode == RestoreMode::Production {
        progress.set_phase("safety backup of production");
        safety = Some(safety_backup(ctx, claims, id, &job, worker_name, progress, cancel).await?);
        set_state(ctx, claims, id, RestoreState::Restoring, "restoring the database").await?;
    }

    // A new database, named before it exists so that cleanup can always find it.
    let new_db = next_name(job.database_name.as_deref(), job.env_id);
    {
        let mut tx = ctx.db.tenant_tx(claims).await?;
        sqlx::query("update ops.restores set new_database = $2, phase = 'restoring the database', bytes_expected = $3, bytes_done = 0 where id = $1")
            .bind(id)
            .bind(&new_db)
            .bind(dump_bytes)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    progress.set_phase("restoring the database");
    progress.set_done(0);
    progress.set_expected(Some(dump_bytes));
    let admin_url = ctx.admin_url();
    let (_, bin) = job::server_tools(&admin_url).await?;
    {
        let mut conn = copy::admin(&admin_url).await?;
        copy::check_name(&new_db)?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {} template template0", app::models::sqlcheck::quote_ident(&new_db))))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {new_db}"))?;
    }
    let key = format!("{}/{}", job.location, job::DUMP);
    let sha = restore_dump(&store, &key, &admin_url, &bin, &new_db, progress, cancel).await?;
    if sha != dump_sha {
        bail!("the stored dump does not match its manifest (sha256 {sha}, expected {dump_sha}): nothing was switched");
    }

    // The file store, next to the new database's name.
    let mut files_note = serde_json::Value::Null;
    if job.files_sha256.is_some() {
        match &job.data_dir {
            Some(data_dir) => {
                progress.set_phase("restoring the file store");
                set_phase(ctx, claims, id, "restoring the file store").await?;
                let partial = filestore_dir(data_dir, &format!("{new_db}.partial"));
                let (_, reader) = store.reader(&format!("{}/{}", job.location, job::FILES)).await?;
                let checked = archive::check(reader, Some(partial.clone()), progress.clone()).await.context("restoring the file store")?;
                if Some(&checked.sha256) != job.files_sha256.as_ref() || Some(checked.bytes as i64) != job.files_bytes {
                    bail!("the stored file archive does not match its manifest: nothing was switched");
                }
                tokio::fs::rename(&partial, filestore_dir(data_dir, &new_db)).await.context("moving the restored file store in place")?;
                files_note = serde_json::json!({"files": checked.files});
            }
            None => files_note = serde_json::json!({"skipped": "the environment has no data directory"}),
        }
    }
    if cancel.is_cancelled() {
        bail!(store::Cancelled);
    }

    // Staging: no live payment, mail, sync or API credentials survive.
    let mut report_note = serde_json::Value::Null;
    if job.mode == RestoreMode::Staging {
        set_state(ctx, claims, id, RestoreState::Neutralizing, "neutralizing").await?;
        progress.set_phase("neutralizing");
        let mut tx = ctx.db.tenant_tx(claims).await?;
        let mailbox = db::mail::ensure_mailbox(&mut tx, job.env_id).await?.context("staging's mailbox")?;
        tx.commit().await?;
        let (host, port) = match ctx.smtp {
            Some(a) => (a.ip().to_string(), a.port()),
            None => ("127.0.0.1".to_string(), 1025),
        };
        let mail = MailTarget { host, port, username: mailbox.smtp_username.clone(), password: mailbox.smtp_password.clone() };
        let url = crate::db::with_database(&admin_url, &new_db);
        let run = db::neutralize::NewRun {
            project_id: job.project_id,
            environment_id: Some(job.env_id),
            promotion_id: None,
            restore_id: Some(id),
            actor_email: &job.requested_by_email,
            database_name: &new_db,
        };
        let actor = neutralize::record::Actor { id: None, email: job.requested_by_email.clone(), request_id: String::new() };
        let report = neutralize::record::run_recorded(&ctx.db, claims, &run, &actor, &url, &mail).await.context("neutralizing the restored database (staging keeps its database)")?;
        report_note = serde_json::json!({"rows_changed": report.rows_changed, "columns_blanked": report.columns_blanked, "rules": report.rules.len()});
    }
    if cancel.is_cancelled() {
        bail!(store::Cancelled);
    }

    // The switch: from here on the restore cannot be cancelled.
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let moved = sqlx::query("update ops.restores set state = 'switching', phase = 'switching' where id = $1 and state in ('restoring', 'neutralizing') and not cancel_requested")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if moved == 0 {
        bail!(store::Cancelled);
    }
    sqlx::query("select 1 from ops.environments where id = $1 for update").bind(job.env_id).execute(&mut *tx).await?;
    sqlx::query("update ops.environments set database_name = $2 where id = $1").bind(job.env_id).bind(&new_db).execute(&mut *tx).await?;
    sqlx::query("update ops.restores set state = 'succeeded', phase = '', finished_at = now(), previous_database = $2, bytes_done = bytes_expected where id = $1")
        .bind(id)
        .bind(&job.database_name)
        .execute(&mut *tx)
        .await?;
    let action = if job.mode == RestoreMode::Production { "restore.production_switched" } else { "restore.succeeded" };
    audit(
        &mut tx,
        action,
        &id.to_string(),
        serde_json::json!({
            "requested_by": job.requested_by_email, "reason": job.reason, "mode": job.mode.as_str(),
            "backup": job.backup_id, "source_environment": job.source_env, "environment": job.env_name,
            "before": {"database": job.database_name}, "after": {"database": new_db},
            "safety_backup": safety, "files": files_note, "neutralized": report_note,
            "duration_ms": clock.elapsed().as_millis() as u64,
        }),
    )
    .await?;
    tx.commit().await?;

    // Staging's previous database goes now; production's stays until a sysadmin drops it.
    if job.mode == RestoreMode::Staging {
        if let Some(old) = job.database_name.as_deref().filter(|o| *o != new_db) {
            match copy::drop_database(&admin_url, old).await {
                Ok(()) => {
                    if let Some(dir) = &job.data_dir {
                        remove_filestore(dir, old).await;
                    }
                    let mut tx = ctx.db.tenant_tx(claims).await?;
                    sqlx::query("update ops.restores set previous_dropped_at = now() where id = $1").bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                }
                Err(e) => tracing::warn!(error = %format!("{e:#}"), database = old, "the previous staging database could not be dropped"),
            }
        }
    }
    Ok(())
}

async fn set_phase(ctx: &BackupContext, claims: &DbClaims, id: Uuid, phase: &str) -> Result<()> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    sqlx::query("update ops.restores set phase = $2 where id = $1").bind(id).bind(phase).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Backs up the current production database before it is replaced; the restore waits
/// (up to 30 minutes) for a production backup already running. Returns its id.
async fn safety_backup(ctx: &BackupContext, claims: &DbClaims, restore_id: Uuid, job: &Job, worker_name: &str, progress: &Arc<Progress>, cancel: &CancellationToken) -> Result<Uuid> {
    let deadline = Instant::now() + Duration::from_secs(30 * 60);
    let backup_id = loop {
        let mut tx = ctx.db.tenant_tx(claims).await?;
        let inserted = sqlx::query_scalar::<_, Uuid>(
            "insert into ops.backups (tenant_id, project_id, environment_id, kind, state, requested_by_email, reason, storage, database_name,
                                      pinned_until, worker, heartbeat_at, started_at)
             select e.tenant_id, e.project_id, e.id, 'safety', 'running', $2, $3, p.backup_storage, e.database_name,
                    now() + interval '30 days', $4, now(), now()
               from ops.environments e join ops.projects p on p.id = e.project_id where e.id = $1
             returning id",
        )
        .bind(job.env_id)
        .bind(&job.requested_by_email)
        .bind(format!("before restoring backup {} into production: {}", job.backup_id, job.reason))
        .bind(worker_name)
        .fetch_one(&mut *tx)
        .await;
        match inserted {
            Ok(id) => {
                sqlx::query("update ops.restores set safety_backup_id = $2 where id = $1").bind(restore_id).bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                break id;
            }
            Err(e) if db::unique_violation(&e).is_some() => {
                drop(tx);
                if Instant::now() > deadline {
                    bail!("a production backup has been running for 30 minutes: try again later");
                }
                progress.set_phase("waiting for the running production backup");
                tokio::select! {
                    _ = cancel.cancelled() => bail!(store::Cancelled),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
            Err(e) => return Err(e.into()),
        }
    };
    let inner = Arc::new(Progress::default());
    let hb = worker::heartbeat(ctx, claims, "backups", backup_id, worker_name, inner.clone(), cancel.clone());
    // The restore's own bar follows the safety backup meanwhile.
    let mirror = {
        let (inner, outer) = (inner.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                let (done, expected, _, _, _) = inner.snapshot();
                outer.set_done(done.max(0) as u64);
                outer.set_expected(expected);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let result = job::run(ctx, claims, backup_id, &inner, cancel).await;
    hb.abort();
    mirror.abort();
    if let Err(e) = result {
        worker::backup_failed(ctx, claims, backup_id, &e, cancel.is_cancelled()).await;
        if store::is_cancelled(&e) || cancel.is_cancelled() {
            bail!(store::Cancelled);
        }
        return Err(anyhow!("the safety backup of production failed, so nothing was restored: {e:#}"));
    }
    Ok(backup_id)
}

/// Streams the stored dump into `pg_restore` on `database`; returns its sha256.
async fn restore_dump(store: &Store, key: &str, admin_url: &str, bin: &Path, database: &str, progress: &Progress, cancel: &CancellationToken) -> Result<String> {
    let (_, mut reader) = store.reader(key).await?;
    let (url, password) = copy::tool_target(admin_url, database)?;
    let mut child = copy::tool(bin, "pg_restore", &password)
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting pg_restore")?;
    let err = copy::stderr_tail(&mut child);
    let mut input = child.stdin.take().ok_or_else(|| anyhow!("pg_restore has no stdin"))?;
    job::widen_pipe(&input);
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    let fed: Result<()> = async {
        loop {
            let n = tokio::select! {
                biased;
                _ = cancel.cancelled() => bail!(store::Cancelled),
                n = reader.read(&mut buf) => n?,
            };
            if n == 0 {
                return Ok(());
            }
            hash.update(&buf[..n]);
            bytes += n as u64;
            progress.set_done(bytes);
            if input.write_all(&buf[..n]).await.is_err() {
                // pg_restore stopped reading: its exit status tells why.
                return Ok(());
            }
        }
    }
    .await;
    drop(input);
    if fed.is_err() {
        job::kill_group(&child);
    }
    let status = child.wait().await?;
    let err = err.await.unwrap_or_default();
    fed?;
    if !status.success() {
        bail!("pg_restore into {database} failed ({status}): {err}");
    }
    Ok(hex::encode(hash.finalize()))
}

/// Records a restore that did not finish: the new database and file store are dropped,
/// the environment keeps what it had.
pub async fn failed(ctx: &BackupContext, claims: &DbClaims, id: Uuid, e: &anyhow::Error, cancelled: bool) {
    let cancelled = cancelled || store::is_cancelled(e);
    let msg = if cancelled { "cancelled: nothing was switched".to_string() } else { super::plain_error(e) };
    if !cancelled {
        tracing::error!(error = %msg, restore_id = %id, "restore failed");
    }
    let done = async {
        let mut tx = ctx.db.tenant_tx(claims).await?;
        let row: Option<(Option<String>, Option<String>, Option<String>, String, Uuid, Uuid, RestoreMode)> = sqlx::query_as(
            "update ops.restores r set state = $2, finished_at = now(), error = left($3, 4000), phase = ''
               from ops.environments e
              where r.id = $1 and e.id = r.target_environment_id and r.state in ('pending', 'safety_backup', 'restoring', 'neutralizing', 'switching')
             returning r.new_database, e.database_name, e.data_dir, e.name, r.project_id, e.id, r.mode",
        )
        .bind(id)
        .bind(if cancelled { RestoreState::Cancelled } else { RestoreState::Failed })
        .bind(&msg)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((new_db, current, data_dir, env_name, project, env_id, mode)) = row else {
            tx.commit().await?;
            return Ok::<_, anyhow::Error>(());
        };
        audit(&mut tx, if cancelled { "restore.cancelled" } else { "restore.failed" }, &id.to_string(), serde_json::json!({"environment": env_name, "mode": mode.as_str(), "error": msg}))
            .await?;
        if !cancelled {
            let title = format!("restore into {env_name} failed; {env_name} keeps its database");
            db::promotions::notify(&mut tx, project, Some(env_id), "error", &title, &msg).await?;
        }
        tx.commit().await?;
        if let Some(new_db) = new_db.filter(|n| Some(n) != current.as_ref()) {
            copy::drop_database(&ctx.admin_url(), &new_db).await?;
            if let Some(dir) = &data_dir {
                remove_filestore(dir, &new_db).await;
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = done {
        tracing::error!(error = %format!("{e:#}"), restore_id = %id, "could not record a failed restore");
    }
}
