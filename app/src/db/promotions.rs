//! `ops.promotions`, their approvals, timeline, gate results and notifications, and the
//! build each environment runs.
use crate::models::{
    ApprovalRow, BuildBrief, CommitRow, GateResult, NotificationRow, PromotionEventRow, PromotionKind, PromotionRow, PromotionState, Stage,
};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// An environment with what it runs, as promotions need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnvRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub stage: Stage,
    pub branch_name: String,
    pub database_name: Option<String>,
    pub build_id: Option<Uuid>,
    pub previous_build_id: Option<Uuid>,
    pub deployed_at: Option<DateTime<Utc>>,
    pub instance_state: String,
    pub instance_detail: String,
}

const ENV_COLS: &str = "e.id, e.project_id, e.name, e.stage, e.branch_name, e.database_name, e.build_id, e.previous_build_id,
                        e.deployed_at, e.instance_state, e.instance_detail";

/// A project's promotion policy: approvals needed, whether development may skip staging,
/// and the gate thresholds (defaults for anything not set).
pub async fn policy(conn: &mut PgConnection, project_id: Uuid) -> Result<(i32, bool, crate::models::GateSettings), sqlx::Error> {
    let (approvals, skip, gates): (i32, bool, serde_json::Value) =
        sqlx::query_as("select required_approvals, allow_dev_to_production, gate_settings from ops.projects where id = $1").bind(project_id).fetch_one(conn).await?;
    Ok((approvals, skip, serde_json::from_value(gates).unwrap_or_default()))
}

pub async fn environments(conn: &mut PgConnection, project_id: Uuid) -> Result<Vec<EnvRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {ENV_COLS} from ops.environments e where e.project_id = $1
          order by case e.stage when 'development' then 0 when 'staging' then 1 else 2 end, e.name"
    )))
    .bind(project_id)
    .fetch_all(conn)
    .await
}

pub async fn environment(conn: &mut PgConnection, env_id: Uuid) -> Result<Option<EnvRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {ENV_COLS} from ops.environments e where e.id = $1"))).bind(env_id).fetch_optional(conn).await
}

/// Locks the environment row for the rest of the transaction (deploys of one environment
/// never interleave).
pub async fn lock_environment(conn: &mut PgConnection, env_id: Uuid) -> Result<Option<EnvRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {ENV_COLS} from ops.environments e where e.id = $1 for update"))).bind(env_id).fetch_optional(conn).await
}

const BRIEF: &str = "select b.id, b.number, b.sha, b.message, b.author, br.name as branch_name, b.state, b.finished_at,
        coalesce((select g.status from ops.gate_results g where g.build_id = b.id and g.promotion_id is null
                   order by case g.status when 'fail' then 0 when 'warn' then 1 when 'pass' then 2 else 3 end limit 1), '') as gates
   from ops.builds b join ops.branches br on br.id = b.branch_id";

pub async fn build_brief(conn: &mut PgConnection, build_id: Uuid) -> Result<Option<BuildBrief>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{BRIEF} where b.id = $1"))).bind(build_id).fetch_optional(conn).await
}

/// The newest successful build of a branch (what a development environment follows).
pub async fn latest_good_build(conn: &mut PgConnection, project_id: Uuid, branch: &str) -> Result<Option<BuildBrief>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{BRIEF} where b.project_id = $1 and br.name = $2 and b.state in ('success', 'warning') order by b.number desc limit 1")))
        .bind(project_id)
        .bind(branch)
        .fetch_optional(conn)
        .await
}

const ROW: &str = "select p.id, p.number, p.kind, p.state, se.name as source_env, p.target_env_id, te.name as target_env, te.stage as target_stage,
        p.build_id, b.number as build_number, b.sha as build_sha, b.message as build_message,
        pb.number as previous_build_number, p.requested_by, p.requested_by_email, p.note,
        (select count(*) from ops.promotion_approvals a where a.promotion_id = p.id and a.decision = 'approve') as approvals,
        p.required_approvals, p.gates_overall, p.override_reason, p.overridden_by_email, p.refresh_data, p.error,
        p.created_at, p.finished_at
   from ops.promotions p
   join ops.environments te on te.id = p.target_env_id
   left join ops.environments se on se.id = p.source_env_id
   join ops.builds b on b.id = p.build_id
   left join ops.builds pb on pb.id = p.previous_build_id";

pub async fn row(conn: &mut PgConnection, id: Uuid) -> Result<Option<PromotionRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{ROW} where p.id = $1"))).bind(id).fetch_optional(conn).await
}

/// Open requests of a project, oldest first, or the newest closed ones.
pub async fn list(conn: &mut PgConnection, project_id: Uuid, open: bool, limit: i64) -> Result<Vec<PromotionRow>, sqlx::Error> {
    let (filter, order) = if open {
        ("p.state not in ('promoted', 'failed', 'rejected', 'cancelled')", "p.created_at")
    } else {
        ("p.state in ('promoted', 'failed', 'rejected', 'cancelled')", "p.created_at desc")
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{ROW} where p.project_id = $1 and {filter} order by {order} limit $2")))
        .bind(project_id)
        .bind(limit)
        .fetch_all(conn)
        .await
}

pub struct NewPromotion<'a> {
    pub project_id: Uuid,
    pub kind: PromotionKind,
    pub source_env_id: Option<Uuid>,
    pub target_env_id: Uuid,
    pub build_id: Uuid,
    pub previous_build_id: Option<Uuid>,
    pub rollback_of: Option<Uuid>,
    pub state: PromotionState,
    pub required_approvals: i32,
    pub refresh_data: bool,
    pub requested_by: Uuid,
    pub requested_by_email: &'a str,
    pub note: &'a str,
}

/// Inserts a request with the project's next number. A second open request for the same
/// target is refused by the `promotions_one_open_per_target` index.
pub async fn insert(conn: &mut PgConnection, p: &NewPromotion<'_>) -> Result<(Uuid, i64), sqlx::Error> {
    let number: i64 = sqlx::query_scalar("update ops.projects set promotion_seq = promotion_seq + 1 where id = $1 returning promotion_seq")
        .bind(p.project_id)
        .fetch_one(&mut *conn)
        .await?;
    let id: Uuid = sqlx::query_scalar(
        "insert into ops.promotions (tenant_id, project_id, number, kind, source_env_id, target_env_id, build_id, previous_build_id,
                                     rollback_of, state, required_approvals, refresh_data, requested_by, requested_by_email, note)
         values (ops.current_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) returning id",
    )
    .bind(p.project_id)
    .bind(number)
    .bind(p.kind)
    .bind(p.source_env_id)
    .bind(p.target_env_id)
    .bind(p.build_id)
    .bind(p.previous_build_id)
    .bind(p.rollback_of)
    .bind(p.state)
    .bind(p.required_approvals)
    .bind(p.refresh_data)
    .bind(p.requested_by)
    .bind(p.requested_by_email)
    .bind(p.note)
    .fetch_one(conn)
    .await?;
    Ok((id, number))
}

/// Moves a request to `to` if it is in one of the states allowed to precede it. Returns
/// false when it was not (someone else moved it first).
pub async fn transition(conn: &mut PgConnection, id: Uuid, to: PromotionState, error: Option<&str>) -> Result<bool, sqlx::Error> {
    let from: Vec<PromotionState> = to.sources().to_vec();
    let done = sqlx::query(
        "update ops.promotions set state = $2, error = coalesce($3, error),
                finished_at = case when $4 then now() else finished_at end
          where id = $1 and state = any($5)",
    )
    .bind(id)
    .bind(to)
    .bind(error)
    .bind(!to.is_open())
    .bind(from)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn add_event(conn: &mut PgConnection, id: Uuid, state: PromotionState, message: &str, actor: &str) -> Result<(), sqlx::Error> {
    sqlx::query("insert into ops.promotion_events (tenant_id, promotion_id, state, message, actor_email) values (ops.current_tenant_id(), $1, $2, $3, $4)")
        .bind(id)
        .bind(state)
        .bind(message)
        .bind(actor)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn events(conn: &mut PgConnection, id: Uuid) -> Result<Vec<PromotionEventRow>, sqlx::Error> {
    sqlx::query_as("select state, message, actor_email, created_at from ops.promotion_events where promotion_id = $1 order by id")
        .bind(id)
        .fetch_all(conn)
        .await
}

pub async fn approvals(conn: &mut PgConnection, id: Uuid) -> Result<Vec<ApprovalRow>, sqlx::Error> {
    sqlx::query_as("select user_email, decision, reason, created_at from ops.promotion_approvals where promotion_id = $1 order by created_at")
        .bind(id)
        .fetch_all(conn)
        .await
}

/// Records a decision; false if this user already decided on this request.
pub async fn add_approval(conn: &mut PgConnection, id: Uuid, user: Uuid, email: &str, decision: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into ops.promotion_approvals (tenant_id, promotion_id, user_id, user_email, decision, reason)
         values (ops.current_tenant_id(), $1, $2, $3, $4, $5) on conflict (promotion_id, user_id) do nothing",
    )
    .bind(id)
    .bind(user)
    .bind(email)
    .bind(decision)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_override(conn: &mut PgConnection, id: Uuid, reason: &str, by: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update ops.promotions set override_reason = $2, overridden_by_email = $3 where id = $1").bind(id).bind(reason).bind(by).execute(conn).await?;
    Ok(())
}

pub async fn set_preflight_result(conn: &mut PgConnection, id: Uuid, overall: &str, commits: &[CommitRow]) -> Result<(), sqlx::Error> {
    sqlx::query("update ops.promotions set gates_overall = $2, commits = $3 where id = $1")
        .bind(id)
        .bind(overall)
        .bind(serde_json::to_value(commits).unwrap_or_default())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn commits(conn: &mut PgConnection, id: Uuid) -> Result<Vec<CommitRow>, sqlx::Error> {
    let v: Option<serde_json::Value> = sqlx::query_scalar("select commits from ops.promotions where id = $1").bind(id).fetch_optional(conn).await?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}

pub async fn heartbeat(conn: &mut PgConnection, id: Uuid, worker: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("update ops.promotions set heartbeat_at = now() where id = $1 and worker = $2 and state in ('preflight_running', 'promoting')")
        .bind(id)
        .bind(worker)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The promotion that last brought the environment its current build.
pub async fn last_promoted(conn: &mut PgConnection, env_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from ops.promotions where target_env_id = $1 and state = 'promoted' order by finished_at desc limit 1")
        .bind(env_id)
        .fetch_optional(conn)
        .await
}

// ---------------------------------------------------------------------------------------
// Gate results and notifications.

pub async fn insert_gate_results(
    conn: &mut PgConnection,
    project_id: Uuid,
    build_id: Uuid,
    promotion_id: Option<Uuid>,
    environment_id: Option<Uuid>,
    results: &[GateResult],
) -> Result<(), sqlx::Error> {
    for r in results {
        sqlx::query(
            "insert into ops.gate_results (tenant_id, project_id, build_id, promotion_id, environment_id, gate, status, summary, explanation, fix, evidence)
             values (ops.current_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(project_id)
        .bind(build_id)
        .bind(promotion_id)
        .bind(environment_id)
        .bind(r.gate.as_str())
        .bind(r.status.as_str())
        .bind(&r.summary)
        .bind(&r.explanation)
        .bind(&r.fix)
        .bind(serde_json::to_value(&r.evidence).unwrap_or_default())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct GateRow {
    gate: String,
    status: String,
    summary: String,
    explanation: String,
    fix: String,
    evidence: serde_json::Value,
}

fn to_results(rows: Vec<GateRow>) -> Vec<GateResult> {
    rows.into_iter()
        .filter_map(|r| {
            Some(GateResult {
                gate: crate::models::GateId::parse(&r.gate)?,
                status: crate::models::GateStatus::parse(&r.status)?,
                summary: r.summary,
                explanation: r.explanation,
                fix: r.fix,
                evidence: serde_json::from_value(r.evidence).unwrap_or_default(),
            })
        })
        .collect()
}

const GATE_COLS: &str = "select gate, status, summary, explanation, fix, evidence from ops.gate_results";

pub async fn gates_of_promotion(conn: &mut PgConnection, id: Uuid) -> Result<Vec<GateResult>, sqlx::Error> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!("{GATE_COLS} where promotion_id = $1 order by id"))).bind(id).fetch_all(conn).await?;
    Ok(to_results(rows))
}

/// The gates run after a build (the latest run, should a build be checked twice).
pub async fn gates_of_build(conn: &mut PgConnection, build_id: Uuid) -> Result<Vec<GateResult>, sqlx::Error> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{GATE_COLS} where build_id = $1 and promotion_id is null
           and created_at = (select max(created_at) from ops.gate_results where build_id = $1 and promotion_id is null)
         order by id"
    )))
    .bind(build_id)
    .fetch_all(conn)
    .await?;
    Ok(to_results(rows))
}

pub async fn notify(conn: &mut PgConnection, project_id: Uuid, env_id: Option<Uuid>, level: &str, title: &str, body: &str) -> Result<(), sqlx::Error> {
    sqlx::query("insert into ops.notifications (tenant_id, project_id, environment_id, level, title, body) values (ops.current_tenant_id(), $1, $2, $3, $4, $5)")
        .bind(project_id)
        .bind(env_id)
        .bind(level)
        .bind(title)
        .bind(body)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn notifications(conn: &mut PgConnection, project_id: Option<Uuid>, limit: i64) -> Result<Vec<NotificationRow>, sqlx::Error> {
    sqlx::query_as(
        "select n.id, n.level, n.title, n.body, e.name as environment, n.created_at
           from ops.notifications n left join ops.environments e on e.id = n.environment_id
          where ($1::uuid is null or n.project_id = $1) and n.read_at is null
          order by n.created_at desc limit $2",
    )
    .bind(project_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn dismiss_notification(conn: &mut PgConnection, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("update ops.notifications set read_at = now() where id = $1 and read_at is null").bind(id).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------------------
// What environments run.

/// Points the environment at `build_id`, remembering what it ran before.
pub async fn deploy_pointer(conn: &mut PgConnection, env_id: Uuid, build_id: Uuid, previous: Option<Uuid>) -> Result<(), sqlx::Error> {
    sqlx::query("update ops.environments set build_id = $2, previous_build_id = $3, deployed_at = now() where id = $1")
        .bind(env_id)
        .bind(build_id)
        .bind(previous)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_instance(conn: &mut PgConnection, env_id: Uuid, state: &str, port: Option<i32>, worker: &str, detail: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update ops.environments set instance_state = $2, instance_port = $3, instance_worker = $4, instance_detail = $5 where id = $1")
        .bind(env_id)
        .bind(state)
        .bind(port)
        .bind(worker)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}

/// After a good build of the environment's branch: a development environment follows its
/// branch, and an environment that runs nothing yet takes its first good build. Staging and
/// production otherwise change only through promotions. True when the pointer moved.
pub async fn follow_branch(conn: &mut PgConnection, env_id: Uuid, build_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update ops.environments set previous_build_id = build_id, build_id = $2, deployed_at = now()
          where id = $1 and (stage = 'development' or build_id is null) and build_id is distinct from $2",
    )
    .bind(env_id)
    .bind(build_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
