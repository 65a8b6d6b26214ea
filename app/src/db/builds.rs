//! `ops.builds` and the branches they build: enqueueing (with batching), the grid,
//! histories, cancel and rebuild, and the runner's side of the queue.
use crate::models::{BuildCard, BuildRunner, BuildState, BuildTrigger, FailureKind, GridRow, Stage};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

const CARD_COLUMNS: &str = "b.id, b.number, b.branch_id, br.name as branch_name, b.sha, b.message, b.author,
    b.trigger, b.runner, b.pr_number, b.state, b.failure, b.failed_step, b.error, b.attempt, b.has_start,
    b.queued_at, b.started_at, b.finished_at,
    (select p.state from ops.previews p where p.build_id = b.id order by p.started_at desc limit 1) as preview_state,
    coalesce((select g.status from ops.gate_results g where g.build_id = b.id and g.promotion_id is null
               order by g.created_at desc, case g.status when 'fail' then 0 when 'warn' then 1 when 'pass' then 2 else 3 end
               limit 1), '') as gates";

/// A build to queue. The tenant comes from the transaction's claims.
#[derive(Debug, Clone)]
pub struct NewBuild<'a> {
    pub project_id: Uuid,
    pub branch: &'a str,
    pub sha: &'a str,
    pub message: &'a str,
    pub author: &'a str,
    pub trigger: BuildTrigger,
    pub runner: BuildRunner,
    pub pr_number: Option<i32>,
    pub requested_by: Option<Uuid>,
    pub delivery_guid: Option<&'a str>,
    pub repo_full_name: &'a str,
    /// Seconds to wait for more commits on the same branch before starting (newest wins).
    pub batch_window_secs: i64,
    /// Queue even if this commit already has a build (a rebuild).
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    pub build_id: Uuid,
    pub number: i64,
    /// False when the commit already had a build and none was created.
    pub created: bool,
    /// Pending builds of the branch that this one replaced.
    pub superseded: Vec<Uuid>,
}

/// Creates or updates the branch, then queues one build for its head commit. Pending builds
/// of the same branch that have not started yet are cancelled as superseded.
pub async fn enqueue(conn: &mut PgConnection, b: &NewBuild<'_>, preview_slug: &str) -> Result<Enqueued, sqlx::Error> {
    let branch_id: Uuid = sqlx::query_scalar(
        "insert into ops.branches (tenant_id, project_id, environment_id, name, head_sha, pr_number, preview_slug)
         values (ops.current_tenant_id(), $1,
                 (select e.id from ops.environments e where e.project_id = $1 and e.branch_name = $2 limit 1),
                 $2, $3, $4, $5)
         on conflict (project_id, name) do update
            set head_sha = excluded.head_sha, archived_at = null,
                pr_number = coalesce(excluded.pr_number, ops.branches.pr_number),
                preview_slug = coalesce(ops.branches.preview_slug, excluded.preview_slug)
         returning id",
    )
    .bind(b.project_id)
    .bind(b.branch)
    .bind(b.sha)
    .bind(b.pr_number)
    .bind(preview_slug)
    .fetch_one(&mut *conn)
    .await?;

    if !b.force {
        let existing: Option<(Uuid, i64)> = sqlx::query_as(
            "select id, number from ops.builds
              where branch_id = $1 and sha = $2 and state <> 'cancelled'
              order by number desc limit 1",
        )
        .bind(branch_id)
        .bind(b.sha)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((build_id, number)) = existing {
            return Ok(Enqueued { build_id, number, created: false, superseded: vec![] });
        }
    }

    // The row lock on the project serializes numbering across concurrent deliveries.
    let number: i64 = sqlx::query_scalar("update ops.projects set build_seq = build_seq + 1 where id = $1 returning build_seq")
        .bind(b.project_id)
        .fetch_one(&mut *conn)
        .await?;
    let build_id: Uuid = sqlx::query_scalar(
        "insert into ops.builds (tenant_id, project_id, branch_id, number, sha, message, author, trigger, runner,
                                 pr_number, requested_by, delivery_guid, repo_full_name, not_before, state, started_at)
         values (ops.current_tenant_id(), $1, $2, $3, $4, left($5, 4000), left($6, 200), $7, $8, $9, $10, $11, left($12, 200),
                 now() + make_interval(secs => $13::double precision),
                 case when $8 = 'external'::ops.build_runner then 'running'::ops.build_state else 'pending' end,
                 case when $8 = 'external'::ops.build_runner then now() end)
         returning id",
    )
    .bind(b.project_id)
    .bind(branch_id)
    .bind(number)
    .bind(b.sha)
    .bind(b.message)
    .bind(b.author)
    .bind(b.trigger)
    .bind(b.runner)
    .bind(b.pr_number)
    .bind(b.requested_by)
    .bind(b.delivery_guid)
    .bind(b.repo_full_name)
    .bind(b.batch_window_secs.max(0) as f64)
    .fetch_one(&mut *conn)
    .await?;
    let superseded: Vec<Uuid> = sqlx::query_scalar(
        "update ops.builds
            set state = 'cancelled', failure = 'cancelled', superseded_by = $2, finished_at = now(),
                error = 'superseded by a newer commit (' || left($3, 8) || ')'
          where branch_id = $1 and id <> $2 and state = 'pending' and runner = 'embedded'
          returning id",
    )
    .bind(branch_id)
    .bind(build_id)
    .bind(b.sha)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Enqueued { build_id, number, created: true, superseded })
}

/// Marks a branch deleted: archived, its queued builds cancelled, its previews stopped.
pub async fn archive_branch(conn: &mut PgConnection, project_id: Uuid, name: &str, reason: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let id: Option<Uuid> =
        sqlx::query_scalar("update ops.branches set archived_at = now() where project_id = $1 and name = $2 returning id")
            .bind(project_id)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(id) = id {
        stop_branch_work(conn, id, reason).await?;
    }
    Ok(id)
}

/// Cancels a branch's queued and running builds and asks its previews to stop.
pub async fn stop_branch_work(conn: &mut PgConnection, branch_id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update ops.builds set state = 'cancelled', failure = 'cancelled', finished_at = now(), error = left($2, 2000)
          where branch_id = $1 and state = 'pending'",
    )
    .bind(branch_id)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    sqlx::query("update ops.builds set cancel_requested = true where branch_id = $1 and state = 'running'")
        .bind(branch_id)
        .execute(&mut *conn)
        .await?;
    crate::db::previews::stop_for_branch(conn, branch_id, reason).await?;
    Ok(())
}

pub async fn branch_id_by_name(conn: &mut PgConnection, project_id: Uuid, name: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from ops.branches where project_id = $1 and name = $2")
        .bind(project_id)
        .bind(name)
        .fetch_optional(conn)
        .await
}

#[derive(sqlx::FromRow)]
struct BranchMeta {
    id: Uuid,
    name: String,
    stage: Option<Stage>,
    environment_name: Option<String>,
    pr_number: Option<i32>,
    preview_slug: Option<String>,
    archived_at: Option<DateTime<Utc>>,
}

fn grid_row(m: BranchMeta, builds: Vec<BuildCard>) -> GridRow {
    GridRow {
        branch_id: m.id,
        branch_name: m.name,
        // Branches without an environment are development work (feature branches, PRs).
        stage: m.stage.unwrap_or(Stage::Development),
        environment_name: m.environment_name,
        pr_number: m.pr_number,
        preview_slug: m.preview_slug,
        archived: m.archived_at.is_some(),
        builds,
    }
}

const BRANCH_COLUMNS: &str = "br.id, br.name, e.stage, e.name as environment_name, br.pr_number, br.preview_slug, br.archived_at";

/// The grid: active branches, production first, each with its latest `per_branch` builds.
pub async fn grid(conn: &mut PgConnection, project_id: Uuid, per_branch: i64) -> Result<Vec<GridRow>, sqlx::Error> {
    let branches = sqlx::query_as::<_, BranchMeta>(sqlx::AssertSqlSafe(format!(
        "select {BRANCH_COLUMNS}
           from ops.branches br left join ops.environments e on e.id = br.environment_id
          where br.project_id = $1 and br.archived_at is null
          order by coalesce(e.stage, 'development'), e.stage is null,
                   (select max(b.number) from ops.builds b where b.branch_id = br.id) desc nulls last, br.name"
    )))
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    let builds = sqlx::query_as::<_, BuildCard>(sqlx::AssertSqlSafe(format!(
        "select {CARD_COLUMNS}
           from (select x.*, row_number() over (partition by x.branch_id order by x.number desc) as rn
                   from ops.builds x where x.project_id = $1) b
           join ops.branches br on br.id = b.branch_id
          where b.rn <= $2
          order by b.number desc"
    )))
    .bind(project_id)
    .bind(per_branch)
    .fetch_all(&mut *conn)
    .await?;
    Ok(branches
        .into_iter()
        .map(|m| {
            let mine = builds.iter().filter(|b| b.branch_id == m.id).cloned().collect();
            grid_row(m, mine)
        })
        .collect())
}

/// One branch with its builds, newest first.
pub async fn branch_history(conn: &mut PgConnection, project_id: Uuid, branch_id: Uuid, limit: i64) -> Result<Option<GridRow>, sqlx::Error> {
    let meta = sqlx::query_as::<_, BranchMeta>(sqlx::AssertSqlSafe(format!(
        "select {BRANCH_COLUMNS} from ops.branches br left join ops.environments e on e.id = br.environment_id where br.id = $1 and br.project_id = $2"
    )))
    .bind(branch_id)
    .bind(project_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(meta) = meta else { return Ok(None) };
    let builds = sqlx::query_as::<_, BuildCard>(sqlx::AssertSqlSafe(format!(
        "select {CARD_COLUMNS} from ops.builds b join ops.branches br on br.id = b.branch_id
          where b.branch_id = $1 order by b.number desc limit $2"
    )))
    .bind(branch_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(grid_row(meta, builds)))
}

pub async fn card(conn: &mut PgConnection, build_id: Uuid) -> Result<Option<BuildCard>, sqlx::Error> {
    sqlx::query_as::<_, BuildCard>(sqlx::AssertSqlSafe(format!(
        "select {CARD_COLUMNS} from ops.builds b join ops.branches br on br.id = b.branch_id where b.id = $1"
    )))
    .bind(build_id)
    .fetch_optional(conn)
    .await
}

/// Where a build sits: its project, branch environment and preview slug.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuildPlace {
    pub project_id: Uuid,
    pub project_slug: String,
    pub project_name: String,
    pub branch_id: Uuid,
    pub branch_name: String,
    pub env_id: Option<Uuid>,
    pub preview_slug: Option<String>,
}

pub async fn place(conn: &mut PgConnection, build_id: Uuid) -> Result<Option<BuildPlace>, sqlx::Error> {
    sqlx::query_as::<_, BuildPlace>(
        "select p.id as project_id, p.slug as project_slug, p.name as project_name, br.id as branch_id,
                br.name as branch_name, br.environment_id as env_id, br.preview_slug
           from ops.builds b join ops.projects p on p.id = b.project_id join ops.branches br on br.id = b.branch_id
          where b.id = $1",
    )
    .bind(build_id)
    .fetch_optional(conn)
    .await
}

/// Cancels a queued build at once, or asks the runner holding a running one to stop.
/// Returns the state the build was in, or None if it does not exist (in this tenant).
pub async fn request_cancel(conn: &mut PgConnection, build_id: Uuid) -> Result<Option<BuildState>, sqlx::Error> {
    let before: Option<(BuildState, BuildRunner)> = sqlx::query_as("select state, runner from ops.builds where id = $1 for update")
        .bind(build_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some((state, runner)) = before else { return Ok(None) };
    match (state, runner) {
        (BuildState::Pending, _) | (BuildState::Running, BuildRunner::External) => {
            sqlx::query(
                "update ops.builds set state = 'cancelled', failure = 'cancelled', finished_at = now(),
                        error = 'cancelled by a user' where id = $1",
            )
            .bind(build_id)
            .execute(&mut *conn)
            .await?;
        }
        (BuildState::Running, BuildRunner::Embedded) => {
            sqlx::query("update ops.builds set cancel_requested = true where id = $1").bind(build_id).execute(&mut *conn).await?;
        }
        _ => {}
    }
    Ok(Some(state))
}

// ---------------------------------------------------------------------------------------
// The runner's side.

/// Everything a runner needs to execute a claimed build.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuildJob {
    pub id: Uuid,
    pub number: i64,
    pub project_id: Uuid,
    pub project_slug: String,
    pub repo_url: String,
    pub default_steps: String,
    pub preview_limit: i32,
    pub branch_id: Uuid,
    pub branch_name: String,
    pub env_id: Option<Uuid>,
    pub sha: String,
    pub pr_number: Option<i32>,
    pub attempt: i32,
    pub repo_full_name: String,
}

pub async fn job(conn: &mut PgConnection, build_id: Uuid) -> Result<Option<BuildJob>, sqlx::Error> {
    sqlx::query_as::<_, BuildJob>(
        "select b.id, b.number, b.project_id, p.slug as project_slug, p.repo_url, p.default_steps, p.preview_limit,
                b.branch_id, br.name as branch_name, br.environment_id as env_id, b.sha, b.pr_number, b.attempt,
                b.repo_full_name
           from ops.builds b join ops.projects p on p.id = b.project_id join ops.branches br on br.id = b.branch_id
          where b.id = $1",
    )
    .bind(build_id)
    .fetch_optional(conn)
    .await
}

/// Keeps the claim alive; returns whether a cancel was requested (or the build was taken away).
pub async fn heartbeat(conn: &mut PgConnection, build_id: Uuid, worker: &str) -> Result<bool, sqlx::Error> {
    let row: Option<bool> = sqlx::query_scalar(
        "update ops.builds set heartbeat_at = now() where id = $1 and worker = $2 and state = 'running'
         returning cancel_requested",
    )
    .bind(build_id)
    .bind(worker)
    .fetch_optional(conn)
    .await?;
    Ok(row.unwrap_or(true))
}

pub async fn set_has_start(conn: &mut PgConnection, build_id: Uuid, has_start: bool) -> Result<(), sqlx::Error> {
    sqlx::query("update ops.builds set has_start = $2 where id = $1").bind(build_id).bind(has_start).execute(conn).await?;
    Ok(())
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: BuildState,
    pub failure: Option<FailureKind>,
    pub failed_step: Option<String>,
    pub error: String,
}

/// Records the end of a run held by `worker` (a build taken over by another worker is left alone).
pub async fn finish(conn: &mut PgConnection, build_id: Uuid, worker: &str, o: &Outcome) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update ops.builds set state = $3, failure = $4, failed_step = $5, error = left($6, 2000), finished_at = now()
          where id = $1 and worker = $2 and state = 'running'",
    )
    .bind(build_id)
    .bind(worker)
    .bind(o.state)
    .bind(o.failure)
    .bind(&o.failed_step)
    .bind(&o.error)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a build that failed for infrastructure reasons back in the queue after `delay_secs`.
pub async fn retry_later(conn: &mut PgConnection, build_id: Uuid, worker: &str, delay_secs: i64, error: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update ops.builds set state = 'pending', attempt = attempt + 1, worker = null, started_at = null,
                not_before = now() + make_interval(secs => $3::double precision), error = left($4, 2000)
          where id = $1 and worker = $2 and state = 'running'",
    )
    .bind(build_id)
    .bind(worker)
    .bind(delay_secs as f64)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------------------
// External CI.

/// Sets the state of a build reported by an external CI. Only external builds accept it,
/// and a finished build stays finished.
pub async fn set_external_state(conn: &mut PgConnection, build_id: Uuid, state: BuildState, error: &str) -> Result<Option<BuildState>, sqlx::Error> {
    sqlx::query_scalar(
        "update ops.builds
            set state = $2,
                started_at = coalesce(started_at, case when $2 <> 'pending' then now() end),
                finished_at = case when $2 in ('success', 'warning', 'failed', 'cancelled') then now() end,
                failure = case $2 when 'failed' then 'build'::ops.failure_kind when 'cancelled' then 'cancelled' end,
                error = left($3, 2000)
          where id = $1 and runner = 'external' and state in ('pending', 'running')
          returning state",
    )
    .bind(build_id)
    .bind(state)
    .bind(error)
    .fetch_optional(conn)
    .await
}

/// Runner and state of a build (None when not visible in this tenant).
pub async fn state_of(conn: &mut PgConnection, build_id: Uuid) -> Result<Option<(BuildState, BuildRunner, Uuid)>, sqlx::Error> {
    sqlx::query_as("select state, runner, project_id from ops.builds where id = $1").bind(build_id).fetch_optional(conn).await
}

/// A stable, URL-safe preview slug for a branch: `<project>-<branch>-<4 random hex>`
/// (the random tail keeps slugs unique across tenants with the same names).
pub fn preview_slug(project_slug: &str, branch: &str) -> String {
    use rand::Rng;
    let mut base: String = format!("{project_slug}-{branch}")
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    let base: String = base.trim_matches('-').chars().take(70).collect();
    let base = base.trim_end_matches('-');
    let tail: u16 = rand::thread_rng().gen();
    let base = if base.is_empty() { "preview" } else { base };
    format!("{base}-{tail:04x}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn preview_slugs_are_url_safe_and_bounded() {
        let s = super::preview_slug("acme-erp", "feature/Invoice Layout!!");
        assert!(s.starts_with("acme-erp-feature-invoice-layout-"), "{s}");
        assert!(s.len() <= 76 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{s}");
        let long = super::preview_slug(&"p".repeat(60), &"b".repeat(200));
        assert!(long.len() <= 76, "{long}");
    }
}
