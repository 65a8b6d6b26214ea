//! `ops.notifications` across the tenant's projects, for the dashboard. Writing, per-project
//! lists and dismissing live with promotions (`db::promotions`), which raise them.
use crate::models::ProjectNotification;
use sqlx::PgConnection;

/// Unread notifications of every project, newest first.
pub async fn unread(conn: &mut PgConnection, limit: i64) -> Result<Vec<ProjectNotification>, sqlx::Error> {
    sqlx::query_as(
        "select p.slug as project_slug, p.name as project_name,
                n.id, n.level, n.title, n.body, e.name as environment, n.created_at
           from ops.notifications n
           join ops.projects p on p.id = n.project_id
           left join ops.environments e on e.id = n.environment_id
          where n.read_at is null
          order by n.created_at desc, n.id desc
          limit $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}
