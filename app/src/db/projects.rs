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

/// Projects of the claimed tenant with their environments (production first); all of them,
/// or only the one with `slug`.
async fn fetch(conn: &mut PgConnection, slug: Option<&str>) -> Result<Vec<ProjectSummary>, sqlx::Error> {
    let projects = sqlx::query_as::<_, ProjectRow>(
        "select p.id, p.slug, p.name, p.repo_url,
                (select count(*) from ops.branches b where b.project_id = p.id and b.archived_at is null) as branch_count
           from ops.projects p
          where $1::text is null or p.slug = $1
          order by p.name",
    )
    .bind(slug)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = projects.iter().map(|p| p.id).collect();
    let envs = sqlx::query_as::<_, EnvironmentSummary>(
        "select id, project_id, name, stage, branch_name, updated_at
           from ops.environments
          where project_id = any($1)
          order by project_id, stage, name",
    )
    .bind(&ids)
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

pub async fn list(conn: &mut PgConnection) -> Result<Vec<ProjectSummary>, sqlx::Error> {
    fetch(conn, None).await
}

pub async fn find_by_slug(conn: &mut PgConnection, slug: &str) -> Result<Option<ProjectSummary>, sqlx::Error> {
    Ok(fetch(conn, Some(slug)).await?.into_iter().next())
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
