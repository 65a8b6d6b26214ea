//! `ops.ssh_keys`, `ops.shell_settings`, `ops.exec_sessions` and `ops.exec_events`. RLS
//! limits keys to their owner and sessions to their opener (admins and sysadmins see all).
use crate::models::{EndReason, ExecDirection, SessionFilter, ShellSessionRow, ShellSettings, SshKeyRow, Stage};
use sqlx::PgConnection;
use uuid::Uuid;

// --- SSH keys ---------------------------------------------------------------------------

pub async fn list_keys(conn: &mut PgConnection) -> Result<Vec<SshKeyRow>, sqlx::Error> {
    sqlx::query_as::<_, SshKeyRow>(
        "select id, name, algorithm, bits, fingerprint, created_at from ops.ssh_keys
          where user_id = ops.current_user_id() order by created_at desc, id",
    )
    .fetch_all(conn)
    .await
}

pub struct NewKey<'a> {
    pub name: &'a str,
    pub algorithm: &'a str,
    pub bits: i32,
    pub fingerprint: &'a str,
    pub public_key: &'a str,
}

/// `Ok(None)` when the key (its fingerprint) is already registered in this tenant.
pub async fn insert_key(conn: &mut PgConnection, k: &NewKey<'_>) -> Result<Option<Uuid>, sqlx::Error> {
    let r = sqlx::query_scalar(
        "insert into ops.ssh_keys (tenant_id, user_id, name, algorithm, bits, fingerprint, public_key)
         values (ops.current_tenant_id(), ops.current_user_id(), $1, $2, $3, $4, $5) returning id",
    )
    .bind(k.name)
    .bind(k.algorithm)
    .bind(k.bits)
    .bind(k.fingerprint)
    .bind(k.public_key)
    .fetch_one(&mut *conn)
    .await;
    match r {
        Ok(id) => Ok(Some(id)),
        Err(e) if super::unique_violation(&e).is_some() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The removed key's fingerprint, or `None` when the caller has no such key.
pub async fn delete_key(conn: &mut PgConnection, id: Uuid) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("delete from ops.ssh_keys where id = $1 returning name, fingerprint").bind(id).fetch_optional(conn).await
}

// --- settings ---------------------------------------------------------------------------

pub async fn settings(conn: &mut PgConnection) -> Result<ShellSettings, sqlx::Error> {
    let row = sqlx::query_as::<_, ShellSettings>("select default_ttl_minutes, max_ttl_minutes, idle_minutes from ops.shell_settings")
        .fetch_optional(conn)
        .await?;
    Ok(row.unwrap_or_default())
}

/// Returns the settings before the change, for the audit record.
pub async fn save_settings(conn: &mut PgConnection, s: &ShellSettings) -> Result<ShellSettings, sqlx::Error> {
    let before = settings(&mut *conn).await?;
    sqlx::query(
        "insert into ops.shell_settings (tenant_id, default_ttl_minutes, max_ttl_minutes, idle_minutes)
         values (ops.current_tenant_id(), $1, $2, $3)
         on conflict (tenant_id) do update
            set default_ttl_minutes = excluded.default_ttl_minutes, max_ttl_minutes = excluded.max_ttl_minutes,
                idle_minutes = excluded.idle_minutes, updated_at = now()",
    )
    .bind(s.default_ttl_minutes)
    .bind(s.max_ttl_minutes)
    .bind(s.idle_minutes)
    .execute(conn)
    .await?;
    Ok(before)
}

// --- sessions ---------------------------------------------------------------------------

const SESSION_COLUMNS: &str = "s.id, p.slug as project_slug, s.environment_id, s.environment_name, s.stage, s.user_id, s.user_email,
       s.state, s.ttl_seconds, s.os_user, s.workdir, s.created_at, s.expires_at, s.started_at, s.ended_at, s.end_reason,
       s.bytes_in, s.bytes_out, s.events";

/// Sessions the caller may see, newest first, filtered.
pub async fn list_sessions(conn: &mut PgConnection, f: &SessionFilter, limit: i64) -> Result<Vec<ShellSessionRow>, sqlx::Error> {
    let sql = format!(
        "select {SESSION_COLUMNS} from ops.exec_sessions s join ops.projects p on p.id = s.project_id
          where ($1 = '' or s.environment_id::text = $1)
            and ($2 = '' or s.user_email ilike '%' || $2 || '%')
            and ($3 = '' or s.state::text = $3)
          order by s.created_at desc, s.id limit $4"
    );
    sqlx::query_as::<_, ShellSessionRow>(sqlx::AssertSqlSafe(sql))
        .bind(f.environment.trim())
        .bind(f.user.trim())
        .bind(f.state.trim())
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// The caller's own sessions that are still open (to reattach on load).
pub async fn my_open_sessions(conn: &mut PgConnection) -> Result<Vec<ShellSessionRow>, sqlx::Error> {
    let sql = format!(
        "select {SESSION_COLUMNS} from ops.exec_sessions s join ops.projects p on p.id = s.project_id
          where s.user_id = ops.current_user_id() and s.state = 'open' and s.expires_at > now()
          order by s.created_at"
    );
    sqlx::query_as::<_, ShellSessionRow>(sqlx::AssertSqlSafe(sql)).fetch_all(conn).await
}

pub async fn get_session(conn: &mut PgConnection, id: Uuid) -> Result<Option<ShellSessionRow>, sqlx::Error> {
    let sql = format!("select {SESSION_COLUMNS} from ops.exec_sessions s join ops.projects p on p.id = s.project_id where s.id = $1");
    sqlx::query_as::<_, ShellSessionRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await
}

pub struct NewSession<'a> {
    pub project_id: Uuid,
    pub environment_id: Uuid,
    pub environment_name: &'a str,
    pub stage: Stage,
    pub user_email: &'a str,
    pub ttl_seconds: i32,
    pub idle_seconds: i32,
}

pub async fn insert_session(conn: &mut PgConnection, n: &NewSession<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into ops.exec_sessions (tenant_id, project_id, environment_id, environment_name, stage, user_id, user_email,
                                        ttl_seconds, idle_seconds, expires_at)
         values (ops.current_tenant_id(), $1, $2, $3, $4, ops.current_user_id(), $5, $6, $7, now() + make_interval(secs => $6))
         returning id",
    )
    .bind(n.project_id)
    .bind(n.environment_id)
    .bind(n.environment_name)
    .bind(n.stage)
    .bind(n.user_email)
    .bind(n.ttl_seconds)
    .bind(n.idle_seconds)
    .fetch_one(conn)
    .await
}

/// What the console needs to start or reattach to a session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionTarget {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_email: String,
    pub project_id: Uuid,
    pub project_slug: String,
    pub environment_id: Uuid,
    pub environment_name: String,
    pub database_name: Option<String>,
    pub stage: Stage,
    pub state: crate::models::ExecState,
    pub idle_seconds: i32,
    pub ttl_seconds: i32,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn session_target(conn: &mut PgConnection, id: Uuid) -> Result<Option<SessionTarget>, sqlx::Error> {
    sqlx::query_as::<_, SessionTarget>(
        "select s.id, s.user_id, s.user_email, s.project_id, p.slug as project_slug, s.environment_id, s.environment_name,
                e.database_name, s.stage, s.state, s.idle_seconds, s.ttl_seconds, s.expires_at, s.started_at
           from ops.exec_sessions s join ops.projects p on p.id = s.project_id
           join ops.environments e on e.id = s.environment_id
          where s.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Marks the PTY as started; false when it already was (another attach won) or the session
/// is no longer open.
pub async fn mark_started(conn: &mut PgConnection, id: Uuid, os_user: &str, workdir: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update ops.exec_sessions set started_at = now(), os_user = $2, workdir = $3
          where id = $1 and started_at is null and state = 'open' and expires_at > now()",
    )
    .bind(id)
    .bind(os_user)
    .bind(workdir)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn record_size(conn: &mut PgConnection, id: Uuid, cols: i32, rows: i32) -> Result<(), sqlx::Error> {
    sqlx::query("update ops.exec_sessions set cols = $2, rows = $3 where id = $1").bind(id).bind(cols).bind(rows).execute(conn).await?;
    Ok(())
}

/// Closes an open session; false when it was already closed.
pub async fn close_session(conn: &mut PgConnection, id: Uuid, reason: EndReason, exit_code: Option<i32>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update ops.exec_sessions set state = 'closed', ended_at = now(), end_reason = $2, exit_code = $3
          where id = $1 and state = 'open'",
    )
    .bind(id)
    .bind(reason)
    .bind(exit_code)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One transcript chunk.
#[derive(Debug, Clone)]
pub struct ExecEvent {
    pub seq: i64,
    pub direction: ExecDirection,
    pub offset_us: i64,
    pub data: Vec<u8>,
}

/// Appends chunks in one statement and adds them to the session's counters.
pub async fn append_events(conn: &mut PgConnection, session_id: Uuid, events: &[ExecEvent]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let dirs: Vec<ExecDirection> = events.iter().map(|e| e.direction).collect();
    let offsets: Vec<i64> = events.iter().map(|e| e.offset_us).collect();
    let data: Vec<&[u8]> = events.iter().map(|e| e.data.as_slice()).collect();
    // One call per batch: the function checks the session is the caller's once, then
    // appends the chunks and the session's counters (see the migration for why).
    sqlx::query("select ops.append_exec_events($1, $2, $3, $4, $5)")
        .bind(session_id)
        .bind(&seqs)
        .bind(&dirs)
        .bind(&offsets)
        .bind(&data)
        .execute(conn)
        .await?;
    Ok(())
}

/// A session's transcript in order (bounded: at most `limit` chunks after `after_seq`).
pub async fn events(conn: &mut PgConnection, session_id: Uuid, after_seq: i64, limit: i64) -> Result<Vec<ExecEvent>, sqlx::Error> {
    let rows: Vec<(i64, ExecDirection, i64, Vec<u8>)> = sqlx::query_as(
        "select seq, direction, offset_us, data from ops.exec_events where session_id = $1 and seq > $2 order by seq limit $3",
    )
    .bind(session_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(seq, direction, offset_us, data)| ExecEvent { seq, direction, offset_us, data }).collect())
}
