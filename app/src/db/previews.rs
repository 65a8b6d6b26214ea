//! `ops.previews`: running instances of successful builds, reached through the console.
use crate::models::PreviewState;
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn insert_starting(conn: &mut PgConnection, project_id: Uuid, branch_id: Uuid, build_id: Uuid, port: u16, worker: &str) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into ops.previews (tenant_id, project_id, branch_id, build_id, port, worker)
         values (ops.current_tenant_id(), $1, $2, $3, $4, $5) returning id",
    )
    .bind(project_id)
    .bind(branch_id)
    .bind(build_id)
    .bind(port as i32)
    .bind(worker)
    .fetch_one(conn)
    .await
}

/// Moves a preview to `state` unless it is already stopped or failed.
pub async fn set_state(conn: &mut PgConnection, id: Uuid, state: PreviewState, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update ops.previews set state = $2, stop_reason = left($3, 200),
                stopped_at = case when $2 in ('stopped', 'failed') then now() end
          where id = $1 and state in ('starting', 'running')",
    )
    .bind(id)
    .bind(state)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn state_of(conn: &mut PgConnection, id: Uuid) -> Result<Option<(PreviewState, chrono::DateTime<chrono::Utc>)>, sqlx::Error> {
    sqlx::query_as("select state, last_access_at from ops.previews where id = $1").bind(id).fetch_optional(conn).await
}

/// Live previews of a project, oldest first (for the per-project limit).
pub async fn live_in_project(conn: &mut PgConnection, project_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from ops.previews where project_id = $1 and state in ('starting', 'running') order by started_at")
        .bind(project_id)
        .fetch_all(conn)
        .await
}

/// Asks every live preview of a branch to stop; the console running it notices and kills it.
pub async fn stop_for_branch(conn: &mut PgConnection, branch_id: Uuid, reason: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "update ops.previews set state = 'stopped', stop_reason = left($2, 200), stopped_at = now()
          where branch_id = $1 and state in ('starting', 'running')",
    )
    .bind(branch_id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub async fn touch(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update ops.previews set last_access_at = now() where id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// What the proxy needs to reach a preview by its branch slug (any tenant: definer function).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PreviewTarget {
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub branch_id: Uuid,
    pub build_id: Option<Uuid>,
    pub preview_id: Option<Uuid>,
    pub state: Option<PreviewState>,
    pub host: Option<String>,
    pub port: Option<i32>,
}

pub async fn target(conn: &mut PgConnection, slug: &str) -> Result<Option<PreviewTarget>, sqlx::Error> {
    sqlx::query_as::<_, PreviewTarget>("select * from ops.preview_target($1)").bind(slug).fetch_optional(conn).await
}
