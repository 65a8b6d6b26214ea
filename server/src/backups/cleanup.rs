//! Leftovers of jobs that did not finish: parts of failed or cancelled backups, databases and
//! file stores of interrupted restores, and (at start) local directories no good backup owns.
use super::{audit, job, BackupContext};
use crate::neutralize::copy;
use anyhow::Result;
use app::db::DbClaims;
use std::collections::HashMap;
use uuid::Uuid;

/// Deletes a backup's parts (whatever was written of them).
pub async fn remove_parts(ctx: &BackupContext, claims: &DbClaims, id: Uuid) -> Result<u64> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let Some((project, storage, location)) = app::db::backups::location(&mut tx, id).await? else {
        return Ok(0);
    };
    if location.is_empty() {
        return Ok(0);
    }
    let store = job::store_of(ctx, &mut tx, project, &storage).await?;
    tx.commit().await?;
    store.delete_prefix(&location).await
}

/// A backup whose console stopped (the claim already marked it failed): its parts go, the
/// failure is audited and notified, and a scheduled one is queued again (three attempts).
pub async fn failed_backup(ctx: &BackupContext, claims: &DbClaims, id: Uuid) -> Result<()> {
    let removed = remove_parts(ctx, claims, id).await?;
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let row: Option<(Uuid, Uuid, String, app::models::BackupKind, i32)> = sqlx::query_as(
        "select b.project_id, b.environment_id, e.name, b.kind, b.attempt from ops.backups b join ops.environments e on e.id = b.environment_id where b.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((project, env, env_name, kind, attempt)) = row {
        let msg = "interrupted: the console running it stopped before it was verified";
        audit(&mut tx, "backup.interrupted", &id.to_string(), serde_json::json!({"environment": env_name, "kind": kind.as_str(), "objects_removed": removed})).await?;
        if kind != app::models::BackupKind::Manual {
            app::db::promotions::notify(&mut tx, project, Some(env), "error", &format!("{} backup of {env_name} was interrupted", kind.as_str()), msg).await?;
        }
        if kind == app::models::BackupKind::Scheduled && attempt + 1 < 3 {
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
    tx.commit().await?;
    Ok(())
}

/// A restore whose console stopped before its switch: the database it was filling (and its
/// file store) are dropped; the target keeps what it had.
pub async fn failed_restore(ctx: &BackupContext, claims: &DbClaims, id: Uuid) -> Result<()> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let row: Option<(Option<String>, Option<String>, Option<String>, String)> = sqlx::query_as(
        "select r.new_database, e.database_name, e.data_dir, e.name from ops.restores r join ops.environments e on e.id = r.target_environment_id where r.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some((new_db, current, data_dir, env_name)) = row else {
        return Ok(());
    };
    let mut dropped = None;
    if let Some(new_db) = new_db.filter(|n| Some(n) != current.as_ref()) {
        copy::drop_database(&ctx.admin_url(), &new_db).await?;
        if let Some(dir) = &data_dir {
            super::restore::remove_filestore(dir, &new_db).await;
        }
        dropped = Some(new_db);
    }
    let mut tx = ctx.db.tenant_tx(claims).await?;
    audit(&mut tx, "restore.interrupted", &id.to_string(), serde_json::json!({"environment": env_name, "dropped": dropped})).await?;
    tx.commit().await?;
    Ok(())
}

/// At start: local backup directories whose backup is gone, failed, cancelled or deleted
/// (a console killed mid-backup, a crash during pruning) are removed.
pub async fn sweep_local(ctx: &BackupContext) -> Result<u64> {
    let root = &ctx.root;
    if !root.is_dir() {
        return Ok(0);
    }
    let mut dirs: Vec<(Uuid, std::path::PathBuf)> = Vec::new();
    for e in walkdir::WalkDir::new(root).min_depth(3).max_depth(3).into_iter().flatten() {
        if e.file_type().is_dir() {
            if let Ok(id) = e.file_name().to_string_lossy().parse::<Uuid>() {
                dirs.push((id, e.path().to_path_buf()));
            }
        }
    }
    if dirs.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = dirs.iter().map(|(id, _)| *id).collect();
    let states: HashMap<Uuid, app::models::BackupState> =
        sqlx::query_as::<_, (Uuid, app::models::BackupState)>("select id, state from ops.backup_states($1)").bind(&ids).fetch_all(ctx.db.pool()).await?.into_iter().collect();
    let mut removed = 0;
    for (id, dir) in dirs {
        use app::models::BackupState::*;
        let keep = matches!(states.get(&id), Some(Good | Pending | Running | Verifying));
        if !keep {
            tracing::info!(backup_id = %id, dir = %dir.display(), "removing a backup directory no good backup owns");
            if tokio::fs::remove_dir_all(&dir).await.is_ok() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}
