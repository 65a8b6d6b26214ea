//! `ops.projects`, `ops.environments`, `ops.branches`.
use crate::models::{BranchRow, EnvironmentSummary, ProjectSummary};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: Uuid,
    slug: String,
    name: String,
    repo_url: String,
    branch_count: i64,
}

/// Every project of the claimed tenant with its environments (production first).
pub async fn list(conn: &mut PgConnection) -> Result<Vec<ProjectSummary>, sqlx::Error> {
    let projects = sqlx::query_as::<_, ProjectRow>(
        "select p.id, p.slug, p.name, p.repo_url,
                (select count(*) from ops.branches b where b.project_id = p.id and b.archived_at is null) as branch_count
           from ops.projects p
          order by p.name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let envs = sqlx::query_as::<_, EnvironmentSummary>(
        "select id, project_id, name, stage, branch_name, updated_at
           from ops.environments
          order by project_id, stage, name",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(projects
        .into_iter()
        .map(|p| ProjectSummary {
            environments: envs.iter().filter(|e| e.project_id == p.id).cloned().collect(),
            id: p.id,
            slug: p.slug,
            name: p.name,
            repo_url: p.repo_url,
            branch_count: p.branch_count,
        })
        .collect())
}

pub async fn find_by_slug(conn: &mut PgConnection, slug: &str) -> Result<Option<ProjectSummary>, sqlx::Error> {
    Ok(list(conn).await?.into_iter().find(|p| p.slug == slug))
}

pub async fn branches(conn: &mut PgConnection, project_id: Uuid) -> Result<Vec<BranchRow>, sqlx::Error> {
    sqlx::query_as::<_, BranchRow>(
        "select b.id, b.name, b.head_sha, e.name as environment_name, e.stage, b.archived_at, b.updated_at
           from ops.branches b
           left join ops.environments e on e.id = b.environment_id
          where b.project_id = $1
          order by b.archived_at nulls first, e.stage nulls last, b.name",
    )
    .bind(project_id)
    .fetch_all(conn)
    .await
}
