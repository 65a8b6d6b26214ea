//! `ops.backups`, `ops.restores` and `ops.backup_schedules` as requests see them. The worker's
//! own statements (claim, heartbeat, finish) live with the worker in the server crate.
use crate::models::{BackupKind, BackupRow, EnvironmentBackups, RestoreMode, RestoreRow, ScheduleRow, Stage, StorageSettings, MANUAL_BACKUPS_PER_DAY};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

pub const BACKUP_COLS: &str = "b.id, b.environment_id, e.name as environment_name, e.stage, b.kind, b.state, b.phase, b.scheduled_for,
        b.requested_by_email, b.reason, b.database_name, b.db_size_bytes, b.bytes_done, b.bytes_expected, b.files_done,
        b.files_total, b.dump_bytes, b.dump_sha256, b.files_bytes, b.files_count, b.toc_entries, b.pg_version, b.error,
        b.cancel_requested, b.pinned_until, b.queued_at, b.started_at, b.finished_at, b.verified_at";

const RESTORE_COLS: &str = "r.id, r.backup_id, se.name as source_environment_name, b.finished_at as backup_finished_at,
        r.target_environment_id, te.name as target_environment_name, r.mode, r.state, r.phase, r.safety_backup_id,
        r.new_database, r.previous_database, r.requested_by_email, r.reason, r.bytes_done, r.bytes_expected, r.error,
        r.cancel_requested, r.queued_at, r.started_at, r.finished_at";

/// Storage settings, whether an S3 secret is set, pg_dump compression and time zone.
pub async fn project_settings(conn: &mut PgConnection, project_id: Uuid) -> Result<(StorageSettings, bool, i32, String), sqlx::Error> {
    let (storage, secret_set, compression, tz): (serde_json::Value, bool, i32, String) =
        sqlx::query_as("select backup_storage, coalesce(ops.backup_s3_secret(id), '') <> '', backup_compression, time_zone from ops.projects where id = $1")
            .bind(project_id)
            .fetch_one(conn)
            .await?;
    Ok((serde_json::from_value(storage).unwrap_or(StorageSettings::Local), secret_set, compression, tz))
}

/// Saves storage settings; `secret` replaces the stored S3 secret key when given.
pub async fn set_project_settings(conn: &mut PgConnection, project_id: Uuid, storage: &StorageSettings, secret: Option<&str>, compression: i32, tz: &str) -> Result<(), sqlx::Error> {
    let storage = serde_json::to_value(storage).unwrap_or_default();
    sqlx::query("update ops.projects set backup_storage = $2, backup_compression = $3, time_zone = $4 where id = $1")
        .bind(project_id)
        .bind(storage)
        .bind(compression)
        .bind(tz)
        .execute(&mut *conn)
        .await?;
    // The secret column is write-only for this role: it may be set, never read (not even by
    // a coalesce), so it is a statement of its own.
    if let Some(secret) = secret {
        sqlx::query("update ops.projects set backup_s3_secret = $2 where id = $1").bind(project_id).bind(secret).execute(conn).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct EnvLine {
    id: Uuid,
    name: String,
    stage: Stage,
    database_name: Option<String>,
    data_dir: Option<String>,
    last_good_backup_at: Option<DateTime<Utc>>,
    manual_last_day: i64,
    schedule_id: Option<Uuid>,
    cron: Option<String>,
    time_zone: Option<String>,
    enabled: Option<bool>,
    keep_daily: Option<i32>,
    keep_weekly: Option<i32>,
    keep_monthly: Option<i32>,
    next_run_at: Option<DateTime<Utc>>,
}

/// The project's environments, production first, with schedules and last good backups.
/// `schedule_text` is left empty for the caller (the server describes cron expressions).
pub async fn environments(conn: &mut PgConnection, project_id: Uuid) -> Result<Vec<EnvironmentBackups>, sqlx::Error> {
    let lines: Vec<EnvLine> = sqlx::query_as(
        "select e.id, e.name, e.stage, e.database_name, e.data_dir, e.last_good_backup_at,
                (select count(*) from ops.backups b where b.environment_id = e.id and b.kind = 'manual'
                    and b.queued_at > now() - interval '24 hours') as manual_last_day,
                s.id as schedule_id, s.cron, s.time_zone, s.enabled, s.keep_daily, s.keep_weekly, s.keep_monthly, s.next_run_at
           from ops.environments e left join ops.backup_schedules s on s.environment_id = e.id
          where e.project_id = $1
          order by case e.stage when 'production' then 0 when 'staging' then 1 else 2 end, e.name",
    )
    .bind(project_id)
    .fetch_all(conn)
    .await?;
    Ok(lines
        .into_iter()
        .map(|l| EnvironmentBackups {
            schedule: l.schedule_id.map(|id| ScheduleRow {
                id,
                environment_id: l.id,
                cron: l.cron.unwrap_or_default(),
                time_zone: l.time_zone.unwrap_or_default(),
                enabled: l.enabled.unwrap_or(false),
                keep_daily: l.keep_daily.unwrap_or(0),
                keep_weekly: l.keep_weekly.unwrap_or(0),
                keep_monthly: l.keep_monthly.unwrap_or(0),
                next_run_at: l.next_run_at,
            }),
            id: l.id,
            name: l.name,
            stage: l.stage,
            database_name: l.database_name,
            data_dir: l.data_dir,
            last_good_backup_at: l.last_good_backup_at,
            schedule_text: String::new(),
            manual_last_day: l.manual_last_day,
        })
        .collect())
}

/// Backups of a project (or one environment), newest first; deleted ones only if asked.
pub async fn list(conn: &mut PgConnection, project_id: Uuid, env_id: Option<Uuid>, include_deleted: bool, limit: i64) -> Result<Vec<BackupRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {BACKUP_COLS} from ops.backups b join ops.environments e on e.id = b.environment_id
          where b.project_id = $1 and ($2::uuid is null or b.environment_id = $2)
            and ($3 or b.state <> 'deleted')
          order by b.queued_at desc limit $4"
    )))
    .bind(project_id)
    .bind(env_id)
    .bind(include_deleted)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<BackupRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {BACKUP_COLS} from ops.backups b join ops.environments e on e.id = b.environment_id where b.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The project a backup belongs to, and where its parts are (`storage` snapshot, key prefix).
pub async fn location(conn: &mut PgConnection, id: Uuid) -> Result<Option<(Uuid, serde_json::Value, String)>, sqlx::Error> {
    sqlx::query_as("select project_id, storage, location from ops.backups where id = $1").bind(id).fetch_optional(conn).await
}

pub async fn list_restores(conn: &mut PgConnection, project_id: Uuid, limit: i64) -> Result<Vec<RestoreRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {RESTORE_COLS} from ops.restores r join ops.backups b on b.id = r.backup_id
           join ops.environments se on se.id = b.environment_id join ops.environments te on te.id = r.target_environment_id
          where r.project_id = $1 order by r.queued_at desc limit $2"
    )))
    .bind(project_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn get_restore(conn: &mut PgConnection, id: Uuid) -> Result<Option<RestoreRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {RESTORE_COLS} from ops.restores r join ops.backups b on b.id = r.backup_id
           join ops.environments se on se.id = b.environment_id join ops.environments te on te.id = r.target_environment_id
          where r.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Why a manual backup was not queued.
#[derive(Debug, Clone, PartialEq)]
pub enum ManualRefused {
    /// Five in the last 24 hours; the next one is possible at this time.
    Limit(DateTime<Utc>),
    /// The environment has no database to back up.
    NoDatabase,
}

/// Queues a manual backup of `env_id`, or returns the one already queued or running (second
/// value true). Five manual backups per environment in any 24 hours.
pub async fn queue_manual(conn: &mut PgConnection, env_id: Uuid, user: Uuid, email: &str, reason: &str) -> Result<Result<(Uuid, bool), ManualRefused>, sqlx::Error> {
    let env: Option<(Uuid, Option<String>)> = sqlx::query_as("select project_id, database_name from ops.environments where id = $1 for update").bind(env_id).fetch_optional(&mut *conn).await?;
    let Some((project_id, database)) = env else {
        return Err(sqlx::Error::RowNotFound);
    };
    if database.is_none() {
        return Ok(Err(ManualRefused::NoDatabase));
    }
    let open: Option<Uuid> = sqlx::query_scalar("select id from ops.backups where environment_id = $1 and state in ('pending', 'running', 'verifying')")
        .bind(env_id)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(id) = open {
        return Ok(Ok((id, true)));
    }
    let recent: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "select queued_at from ops.backups where environment_id = $1 and kind = 'manual' and queued_at > now() - interval '24 hours' order by queued_at",
    )
    .bind(env_id)
    .fetch_all(&mut *conn)
    .await?;
    if recent.len() as i64 >= MANUAL_BACKUPS_PER_DAY {
        let oldest = recent[recent.len() - MANUAL_BACKUPS_PER_DAY as usize];
        return Ok(Err(ManualRefused::Limit(oldest + chrono::Duration::hours(24))));
    }
    let id = insert(conn, project_id, env_id, BackupKind::Manual, Some(user), email, reason).await?;
    Ok(Ok((id, false)))
}

/// Inserts a pending backup with the project's current storage settings.
pub async fn insert(conn: &mut PgConnection, project_id: Uuid, env_id: Uuid, kind: BackupKind, user: Option<Uuid>, email: &str, reason: &str) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into ops.backups (tenant_id, project_id, environment_id, kind, requested_by, requested_by_email, reason, storage, database_name)
         select e.tenant_id, e.project_id, e.id, $3, $4, $5, $6, p.backup_storage, e.database_name
           from ops.environments e join ops.projects p on p.id = e.project_id
          where e.id = $2 and e.project_id = $1
         returning id",
    )
    .bind(project_id)
    .bind(env_id)
    .bind(kind)
    .bind(user)
    .bind(email)
    .bind(reason)
    .fetch_one(conn)
    .await
}

/// A pending backup is cancelled at once; a running one is asked to stop (its worker reads
/// the flag with its next heartbeat). False when it is no longer open.
pub async fn cancel(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "update ops.backups set
            state = case when state = 'pending' then 'cancelled'::ops.backup_state else state end,
            finished_at = case when state = 'pending' then now() else finished_at end,
            error = case when state = 'pending' then 'cancelled before it started' else error end,
            cancel_requested = true
          where id = $1 and state in ('pending', 'running', 'verifying')",
    )
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Queues a restore of a good backup into `target`. Fails with a unique violation when the
/// target already has a restore open.
pub async fn queue_restore(conn: &mut PgConnection, backup_id: Uuid, target: Uuid, mode: RestoreMode, user: Uuid, email: &str, reason: &str) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into ops.restores (tenant_id, project_id, backup_id, target_environment_id, mode, requested_by, requested_by_email, reason, bytes_expected)
         select b.tenant_id, b.project_id, b.id, $2, $3, $4, $5, $6, b.dump_bytes
           from ops.backups b where b.id = $1 and b.state = 'good'
         returning id",
    )
    .bind(backup_id)
    .bind(target)
    .bind(mode)
    .bind(user)
    .bind(email)
    .bind(reason)
    .fetch_one(conn)
    .await
}

/// Cancels a restore that has not reached its switch. False when too late or not open.
pub async fn cancel_restore(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "update ops.restores set
            state = case when state = 'pending' then 'cancelled'::ops.restore_state else state end,
            finished_at = case when state = 'pending' then now() else finished_at end,
            error = case when state = 'pending' then 'cancelled before it started' else error end,
            cancel_requested = true
          where id = $1 and state in ('pending', 'safety_backup', 'restoring', 'neutralizing')",
    )
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Creates or replaces an environment's schedule; `next_run_at` is the caller's computation.
#[allow(clippy::too_many_arguments)]
pub async fn save_schedule(
    conn: &mut PgConnection,
    env_id: Uuid,
    cron: &str,
    tz: &str,
    enabled: bool,
    keep: crate::models::Retention,
    next_run_at: Option<DateTime<Utc>>,
) -> Result<ScheduleRow, sqlx::Error> {
    sqlx::query_as(
        "insert into ops.backup_schedules (tenant_id, project_id, environment_id, cron, time_zone, enabled, keep_daily, keep_weekly, keep_monthly, next_run_at)
         select e.tenant_id, e.project_id, e.id, $2, $3, $4, $5, $6, $7, $8 from ops.environments e where e.id = $1
         on conflict (environment_id) do update set cron = excluded.cron, time_zone = excluded.time_zone, enabled = excluded.enabled,
             keep_daily = excluded.keep_daily, keep_weekly = excluded.keep_weekly, keep_monthly = excluded.keep_monthly,
             next_run_at = excluded.next_run_at
         returning id, environment_id, cron, time_zone, enabled, keep_daily, keep_weekly, keep_monthly, next_run_at",
    )
    .bind(env_id)
    .bind(cron)
    .bind(tz)
    .bind(enabled)
    .bind(keep.daily as i32)
    .bind(keep.weekly as i32)
    .bind(keep.monthly as i32)
    .bind(next_run_at)
    .fetch_one(conn)
    .await
}

pub async fn schedule_of(conn: &mut PgConnection, env_id: Uuid) -> Result<Option<ScheduleRow>, sqlx::Error> {
    sqlx::query_as("select id, environment_id, cron, time_zone, enabled, keep_daily, keep_weekly, keep_monthly, next_run_at from ops.backup_schedules where environment_id = $1")
        .bind(env_id)
        .fetch_optional(conn)
        .await
}

/// Sets where an environment's Odoo data directory is (its file store is backed up with it).
pub async fn set_data_dir(conn: &mut PgConnection, env_id: Uuid, data_dir: Option<&str>) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("update ops.environments set data_dir = $2 where id = $1").bind(env_id).bind(data_dir).execute(conn).await?.rows_affected() > 0)
}
