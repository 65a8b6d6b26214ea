//! Server functions of backups and restores: the overview, manual backups, restores (into
//! staging; into production behind a typed confirmation), schedules, storage and data
//! directories. They only move rows; the server's backup worker does the work.
use crate::models::{AppError, BackupsOverview, RestoreMode, ScheduleRow, StorageSettings};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What asking for a manual backup did: the backup, and whether it was already under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupQueued {
    pub id: Uuid,
    pub already_open: bool,
}

#[cfg(feature = "ssr")]
mod ssr {
    pub use crate::auth::require;
    pub use crate::db::backups as repo;
    pub use crate::models::{BackupPermissions, BackupState, Capability, Role, Stage};
    use crate::models::AppError;
    use sqlx::PgConnection;
    use uuid::Uuid;

    pub fn db(e: sqlx::Error) -> AppError {
        AppError::internal(e)
    }

    pub use crate::api::not_found;

    /// The facts about an environment a request checks, locked until the transaction ends.
    #[derive(sqlx::FromRow)]
    pub struct Env {
        pub id: Uuid,
        pub project_id: Uuid,
        pub name: String,
        pub stage: Stage,
        pub database_name: Option<String>,
        pub data_dir: Option<String>,
    }

    pub async fn env(conn: &mut PgConnection, id: Uuid) -> Result<Env, AppError> {
        sqlx::query_as("select id, project_id, name, stage, database_name, data_dir from ops.environments where id = $1 for update")
            .bind(id)
            .fetch_optional(conn)
            .await
            .map_err(db)?
            .ok_or_else(|| not_found("environment"))
    }

    pub async fn project_name(conn: &mut PgConnection, id: Uuid) -> Result<String, AppError> {
        sqlx::query_scalar("select name from ops.projects where id = $1").bind(id).fetch_optional(conn).await.map_err(db)?.ok_or_else(|| not_found("project"))
    }

    /// Free text typed by a person: trimmed, at most 2,000 characters, may be empty.
    pub fn text(t: Option<String>, what: &str) -> Result<String, AppError> {
        let t = t.unwrap_or_default().trim().to_string();
        if t.chars().count() > 2000 {
            return Err(AppError::Invalid(format!("the {what} is too long (2,000 characters at most)")));
        }
        Ok(t)
    }

    /// A schedule in words, or the raw expression when it does not parse (an old row).
    pub fn describe(cron: &str, tz: &str) -> String {
        crate::schedule::parse(cron, tz).map(|s| s.describe()).unwrap_or_else(|_| format!("{cron} ({tz})"))
    }

    pub fn checked_time_zone(tz: &str) -> Result<String, AppError> {
        let tz = tz.trim();
        crate::schedule::time_zone(tz).map_err(|e| AppError::Invalid(format!("time zone: {e}")))?;
        Ok(tz.to_string())
    }

    pub fn permissions(role: Role) -> BackupPermissions {
        BackupPermissions {
            backup: role.allows(Capability::RunBackup),
            restore_staging: role.allows(Capability::RestoreStaging),
            restore_production: role.allows(Capability::RestoreProduction),
            download: role.allows(Capability::DownloadBackup),
            manage: role.allows(Capability::ManageBackups),
        }
    }

    /// Saves storage settings; `secret` replaces the S3 secret key when given. The app role
    /// may write the secret but not read it, so it is set by a statement of its own (not
    /// `coalesce($new, backup_s3_secret)`, which reads the column and is refused).
    pub async fn save_settings(conn: &mut PgConnection, project_id: Uuid, storage: &crate::models::StorageSettings, secret: Option<&str>, compression: i32, tz: &str) -> Result<(), sqlx::Error> {
        let storage = serde_json::to_value(storage).unwrap_or_default();
        sqlx::query("update ops.projects set backup_storage = $2, backup_compression = $3, time_zone = $4 where id = $1")
            .bind(project_id)
            .bind(storage)
            .bind(compression)
            .bind(tz)
            .execute(&mut *conn)
            .await?;
        if let Some(secret) = secret {
            sqlx::query("update ops.projects set backup_s3_secret = $2 where id = $1").bind(project_id).bind(secret).execute(&mut *conn).await?;
        }
        Ok(())
    }

    pub fn conflict_on_open(e: sqlx::Error, target: &str) -> AppError {
        match crate::db::unique_violation(&e) {
            Some(c) if c == "restores_one_open_per_target" => {
                AppError::Conflict(format!("{target} already has a restore in progress: wait for it to finish or cancel it first"))
            }
            _ => db(e),
        }
    }
}

/// Everything the backups page shows for a project.
#[server(prefix = "/api", endpoint = "backups")]
pub async fn get_backups(slug: String) -> Result<BackupsOverview, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewBackups).await?;
        let mut tx = s.tx().await?;
        let p = crate::db::projects::find_by_slug(&mut tx, &slug).await.map_err(db)?.ok_or_else(|| not_found(&format!("project “{slug}”")))?;
        let (storage, s3_secret_set, compression, time_zone) = repo::project_settings(&mut tx, p.id).await.map_err(db)?;
        let mut environments = repo::environments(&mut tx, p.id).await.map_err(db)?;
        for e in &mut environments {
            if let Some(sch) = &e.schedule {
                e.schedule_text = describe(&sch.cron, &sch.time_zone);
            }
        }
        let backups = repo::list(&mut tx, p.id, None, false, 200).await.map_err(db)?;
        let restores = repo::list_restores(&mut tx, p.id, 50).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(BackupsOverview {
            project_id: p.id,
            project_slug: p.slug,
            project_name: p.name,
            storage_label: storage.label(),
            storage,
            s3_secret_set,
            compression,
            time_zone,
            environments,
            backups,
            restores,
            can: permissions(s.role()),
        })
    })
    .await
}

/// Takes a backup of an environment now (five per environment in any 24 hours).
#[server(prefix = "/api", endpoint = "backup-create")]
pub async fn create_backup(env_id: Uuid, reason: Option<String>) -> Result<BackupQueued, AppError> {
    crate::api::guard(async move {
        use crate::db::backups::ManualRefused;
        use crate::models::MANUAL_BACKUPS_PER_DAY;
        use ssr::*;
        let s = require(Capability::RunBackup).await?;
        let reason = text(reason, "reason")?;
        let mut tx = s.tx().await?;
        let e = env(&mut tx, env_id).await?;
        let (id, already_open) = match repo::queue_manual(&mut tx, e.id, s.user_id(), &s.email, &reason).await.map_err(db)? {
            Ok(queued) => queued,
            Err(ManualRefused::Limit(at)) => {
                let at = crate::components::ui::fmt_time(&at);
                return Err(AppError::TooManyRequests(format!("{MANUAL_BACKUPS_PER_DAY} manual backups in 24 hours: next possible at {at}")));
            }
            Err(ManualRefused::NoDatabase) => return Err(AppError::Invalid(format!("{} has no database yet: there is nothing to back up", e.name))),
        };
        if !already_open {
            s.audit(&mut tx, "backup.requested", &id.to_string(), serde_json::json!({"environment": e.name, "stage": e.stage, "database": e.database_name, "reason": reason}))
                .await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(BackupQueued { id, already_open })
    })
    .await
}

/// Stops a queued or running backup; nothing it wrote is ever listed as good.
#[server(prefix = "/api", endpoint = "backup-cancel")]
pub async fn cancel_backup(id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::RunBackup).await?;
        let mut tx = s.tx().await?;
        let b = repo::get(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("backup"))?;
        if !repo::cancel(&mut tx, id).await.map_err(db)? {
            return Err(AppError::Conflict(format!("this backup is {}: there is nothing to cancel", b.state)));
        }
        s.audit(&mut tx, "backup.cancel_requested", &id.to_string(), serde_json::json!({"environment": b.environment_name, "state_before": b.state})).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

/// Restores a good backup. Into staging: the standard action (neutralized, switched when
/// ready). Into production: sysadmins only, with the project's name typed and a reason; a
/// safety backup of production is taken first. Refused attempts on production are audited.
#[server(prefix = "/api", endpoint = "restore-request")]
pub async fn request_restore(backup_id: Uuid, target_env: Uuid, mode: RestoreMode, confirm: Option<String>, reason: Option<String>) -> Result<Uuid, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(match mode {
            RestoreMode::Staging => Capability::RestoreStaging,
            RestoreMode::Production => Capability::RestoreProduction,
        })
        .await?;
        let reason = text(reason, "reason")?;
        let mut tx = s.tx().await?;
        let b = repo::get(&mut tx, backup_id).await.map_err(db)?.ok_or_else(|| not_found("backup"))?;
        let (project_id, _, _) = repo::location(&mut tx, backup_id).await.map_err(db)?.ok_or_else(|| not_found("backup"))?;
        let target = env(&mut tx, target_env).await?;
        if target.project_id != project_id {
            return Err(AppError::Invalid("the backup and the target environment must belong to the same project".into()));
        }
        let wanted = match mode {
            RestoreMode::Staging => Stage::Staging,
            RestoreMode::Production => Stage::Production,
        };
        if target.stage != wanted {
            return Err(AppError::Invalid(format!("{} is a {} environment: a {mode} restore needs a {} one", target.name, target.stage.as_str(), wanted.as_str())));
        }
        let what = serde_json::json!({"backup_id": b.id, "backup_of": b.environment_name, "backup_finished_at": b.finished_at,
                                      "target": target.name, "target_database": target.database_name, "reason": reason});
        if mode == RestoreMode::Production {
            let name = project_name(&mut tx, project_id).await?;
            let typed = confirm.unwrap_or_default();
            let refusal = if typed.trim() != name.trim() {
                Some(format!("type the project name “{name}” to confirm"))
            } else if reason.is_empty() {
                Some("a production restore needs a reason: it is recorded with the restore and in the audit log".to_string())
            } else {
                None
            };
            if let Some(why) = refusal {
                // The refusal is kept even though the request fails.
                let mut details = what.clone();
                details["refused"] = why.clone().into();
                details["typed"] = typed.trim().chars().take(200).collect::<String>().into();
                s.audit(&mut tx, "restore.production_refused", &b.id.to_string(), details).await?;
                tx.commit().await.map_err(db)?;
                return Err(AppError::Invalid(why));
            }
        }
        if b.state != BackupState::Good {
            return Err(AppError::Invalid(format!("only good backups can be restored: this one is {}", b.state)));
        }
        let id = repo::queue_restore(&mut tx, b.id, target.id, mode, s.user_id(), &s.email, &reason).await.map_err(|e| conflict_on_open(e, &target.name))?;
        let action = match mode {
            RestoreMode::Staging => "restore.staging_requested",
            RestoreMode::Production => "restore.production_requested",
        };
        let mut details = what;
        details["restore_id"] = id.to_string().into();
        s.audit(&mut tx, action, &id.to_string(), details).await?;
        tx.commit().await.map_err(db)?;
        Ok(id)
    })
    .await
}

/// Stops a restore before its switch; afterwards it is too late (409).
#[server(prefix = "/api", endpoint = "restore-cancel")]
pub async fn cancel_restore(id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::RestoreStaging).await?;
        let mut tx = s.tx().await?;
        let r = repo::get_restore(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("restore"))?;
        if r.mode == RestoreMode::Production && !s.role().allows(Capability::RestoreProduction) {
            return Err(require(Capability::RestoreProduction).await.err().unwrap_or_else(|| AppError::Forbidden("sysadmins only".into())));
        }
        if !repo::cancel_restore(&mut tx, id).await.map_err(db)? {
            let why = if r.state.is_open() {
                format!("the restore into {} is switching databases: it can no longer be cancelled", r.target_environment_name)
            } else {
                format!("the restore into {} is {}: there is nothing to cancel", r.target_environment_name, r.state)
            };
            return Err(AppError::Conflict(why));
        }
        s.audit(&mut tx, "restore.cancel_requested", &id.to_string(), serde_json::json!({"target": r.target_environment_name, "mode": r.mode, "state_before": r.state}))
            .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

/// An environment's schedule (cron in a time zone) and retention.
#[server(prefix = "/api", endpoint = "backup-schedule-save")]
pub async fn save_backup_schedule(env_id: Uuid, cron: String, time_zone: String, enabled: bool, keep_daily: i32, keep_weekly: i32, keep_monthly: i32) -> Result<ScheduleRow, AppError> {
    crate::api::guard(async move {
        use crate::models::Retention;
        use ssr::*;
        let s = require(Capability::ManageBackups).await?;
        let cron = cron.split_whitespace().collect::<Vec<_>>().join(" ");
        let tz = checked_time_zone(&time_zone)?;
        let schedule = crate::schedule::parse(&cron, &tz).map_err(|e| AppError::Invalid(format!("schedule: {e}")))?;
        for (v, what, range) in [(keep_daily, "daily", 1..=400), (keep_weekly, "weekly", 0..=260), (keep_monthly, "monthly", 0..=120)] {
            if !range.contains(&v) {
                return Err(AppError::Invalid(format!("{what} backups to keep: between {} and {}", range.start(), range.end())));
            }
        }
        let keep = Retention { daily: keep_daily as u32, weekly: keep_weekly as u32, monthly: keep_monthly as u32 };
        let next_run_at = schedule.next_after(chrono::Utc::now());
        let mut tx = s.tx().await?;
        let e = env(&mut tx, env_id).await?;
        let before = repo::schedule_of(&mut tx, e.id).await.map_err(db)?;
        let after = repo::save_schedule(&mut tx, e.id, &cron, &tz, enabled, keep, next_run_at).await.map_err(db)?;
        let brief = |r: &ScheduleRow| {
            serde_json::json!({"cron": r.cron, "time_zone": r.time_zone, "enabled": r.enabled,
                               "keep_daily": r.keep_daily, "keep_weekly": r.keep_weekly, "keep_monthly": r.keep_monthly})
        };
        s.audit(
            &mut tx,
            "backup.schedule_changed",
            &e.id.to_string(),
            serde_json::json!({"environment": e.name, "before": before.as_ref().map(brief), "after": brief(&after), "next_run_at": after.next_run_at}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(after)
    })
    .await
}

/// Where a project's backups go, pg_dump's compression and the project's time zone. The S3
/// secret key is write-only: given to replace it, never sent back, never in the audit log.
#[server(prefix = "/api", endpoint = "backup-storage-save", input = Json)]
pub async fn save_backup_storage(slug: String, storage: StorageSettings, secret: Option<String>, compression: i32, time_zone: String) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageBackups).await?;
        storage.validate().map_err(AppError::Invalid)?;
        if !(0..=9).contains(&compression) {
            return Err(AppError::Invalid("compression: a level from 0 (none) to 9 (smallest, slowest)".into()));
        }
        let tz = checked_time_zone(&time_zone)?;
        let new_secret = secret.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if new_secret.as_ref().is_some_and(|v| v.chars().count() > 500) {
            return Err(AppError::Invalid("secret access key: at most 500 characters".into()));
        }
        let mut tx = s.tx().await?;
        let p = crate::db::projects::find_by_slug(&mut tx, &slug).await.map_err(db)?.ok_or_else(|| not_found(&format!("project “{slug}”")))?;
        let (old_storage, secret_was_set, old_compression, old_tz) = repo::project_settings(&mut tx, p.id).await.map_err(db)?;
        // A secret with nothing to use it is not kept: local storage clears it.
        let secret = match &storage {
            StorageSettings::Local => secret_was_set.then(String::new),
            StorageSettings::S3 { access_key_id, .. } => {
                if !access_key_id.is_empty() && !secret_was_set && new_secret.is_none() {
                    return Err(AppError::Invalid("secret access key: required with an access key id (it is stored write-only)".into()));
                }
                new_secret
            }
        };
        save_settings(&mut tx, p.id, &storage, secret.as_deref(), compression, &tz).await.map_err(db)?;
        s.audit(
            &mut tx,
            "backup.storage_changed",
            &p.slug,
            serde_json::json!({"before": {"storage": old_storage, "compression": old_compression, "time_zone": old_tz},
                               "after": {"storage": storage, "compression": compression, "time_zone": tz},
                               "secret_changed": secret.is_some()}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

/// Where an environment's Odoo data directory is (its file store is backed up with the
/// database); empty for none.
#[server(prefix = "/api", endpoint = "environment-data-dir-save")]
pub async fn save_environment_data_dir(env_id: Uuid, data_dir: String) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageBackups).await?;
        let dir = Some(data_dir.trim().to_string()).filter(|d| !d.is_empty());
        if let Some(d) = &dir {
            if !d.starts_with('/') || d.len() > 1000 || d.split('/').any(|p| p == ".." || p == ".") || d.chars().any(char::is_control) {
                return Err(AppError::Invalid("data directory: an absolute path such as /var/lib/odoo (no “..”), or empty for none".into()));
            }
        }
        let mut tx = s.tx().await?;
        let e = env(&mut tx, env_id).await?;
        repo::set_data_dir(&mut tx, e.id, dir.as_deref()).await.map_err(db)?;
        s.audit(&mut tx, "backup.data_dir_changed", &e.id.to_string(), serde_json::json!({"environment": e.name, "before": e.data_dir, "after": dir})).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}
