//! `ops.neutralize_rule_defaults`, `ops.neutralize_rules` and `ops.neutralize_runs`.
use crate::models::{NeutralizeReport, NeutralizeRule, NeutralizeRun, ValidRule};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

const RULE_COLS: &str = "id, position, name, description, kind, table_name, set_sql, where_sql, column_pattern, exclude, enabled, builtin";

/// The global default rules (what every new project starts with).
pub async fn defaults(conn: &mut PgConnection) -> Result<Vec<NeutralizeRule>, sqlx::Error> {
    sqlx::query_as(
        "select id, position, name, description, kind, table_name, set_sql, where_sql, column_pattern, exclude, enabled,
                true as builtin
           from ops.neutralize_rule_defaults order by position, name",
    )
    .fetch_all(conn)
    .await
}

/// A project's rules in the order they run.
pub async fn rules(conn: &mut PgConnection, project_id: Uuid) -> Result<Vec<NeutralizeRule>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {RULE_COLS} from ops.neutralize_rules where project_id = $1 order by position, name")))
        .bind(project_id)
        .fetch_all(conn)
        .await
}

/// A project's enabled rules, for a run.
pub async fn enabled_rules(conn: &mut PgConnection, project_id: Uuid) -> Result<Vec<NeutralizeRule>, sqlx::Error> {
    Ok(rules(conn, project_id).await?.into_iter().filter(|r| r.enabled).collect())
}

/// One rule with its project.
pub async fn rule(conn: &mut PgConnection, id: Uuid) -> Result<Option<(Uuid, NeutralizeRule)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        project_id: Uuid,
        #[sqlx(flatten)]
        rule: NeutralizeRule,
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("select project_id, {RULE_COLS} from ops.neutralize_rules where id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| (r.project_id, r.rule)))
}

/// Adds a rule after the project's last one.
pub async fn insert_rule(conn: &mut PgConnection, project_id: Uuid, r: &ValidRule) -> Result<NeutralizeRule, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into ops.neutralize_rules (tenant_id, project_id, position, name, description, kind, table_name, set_sql, where_sql, column_pattern, exclude)
         select p.tenant_id, p.id,
                coalesce((select max(position) from ops.neutralize_rules where project_id = p.id), 0) + 10,
                $2, $3, $4, $5, $6, $7, $8, $9
           from ops.projects p where p.id = $1
         returning {RULE_COLS}"
    )))
    .bind(project_id)
    .bind(&r.name)
    .bind(&r.description)
    .bind(r.kind)
    .bind(&r.table_name)
    .bind(&r.set_sql)
    .bind(&r.where_sql)
    .bind(&r.column_pattern)
    .bind(&r.exclude)
    .fetch_one(conn)
    .await
}

/// Replaces what a rule does (its kind included); `None` if there is no such rule.
pub async fn update_rule(conn: &mut PgConnection, id: Uuid, r: &ValidRule) -> Result<Option<NeutralizeRule>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update ops.neutralize_rules
            set name = $2, description = $3, kind = $4, table_name = $5, set_sql = $6, where_sql = $7, column_pattern = $8, exclude = $9
          where id = $1
         returning {RULE_COLS}"
    )))
    .bind(id)
    .bind(&r.name)
    .bind(&r.description)
    .bind(r.kind)
    .bind(&r.table_name)
    .bind(&r.set_sql)
    .bind(&r.where_sql)
    .bind(&r.column_pattern)
    .bind(&r.exclude)
    .fetch_optional(conn)
    .await
}

pub async fn set_enabled(conn: &mut PgConnection, id: Uuid, enabled: bool) -> Result<Option<NeutralizeRule>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("update ops.neutralize_rules set enabled = $2 where id = $1 returning {RULE_COLS}")))
        .bind(id)
        .bind(enabled)
        .fetch_optional(conn)
        .await
}

/// Deletes a rule people added; built-in rules stay (they can be disabled). Returns whether
/// a row went.
pub async fn delete_rule(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from ops.neutralize_rules where id = $1 and not builtin").bind(id).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// What starts a run record.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub project_id: Uuid,
    pub environment_id: Option<Uuid>,
    pub promotion_id: Option<Uuid>,
    pub restore_id: Option<Uuid>,
    pub actor_email: &'a str,
    pub database_name: &'a str,
}

/// Records a run as `running` (under the claimed tenant); returns its id.
pub async fn insert_run(conn: &mut PgConnection, run: &NewRun<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into ops.neutralize_runs (tenant_id, project_id, environment_id, promotion_id, actor_email, database_name, restore_id)
         select p.tenant_id, p.id, $2, $3, $4, $5, $6 from ops.projects p where p.id = $1
         returning id",
    )
    .bind(run.project_id)
    .bind(run.environment_id)
    .bind(run.promotion_id)
    .bind(run.actor_email)
    .bind(run.database_name)
    .bind(run.restore_id)
    .fetch_one(conn)
    .await
}

/// Stores the outcome: `succeeded` unless the report carries an error.
pub async fn finish_run(conn: &mut PgConnection, id: Uuid, report: &NeutralizeReport) -> Result<(), sqlx::Error> {
    sqlx::query("update ops.neutralize_runs set status = $2, report = $3, finished_at = now() where id = $1")
        .bind(id)
        .bind(if report.succeeded() { "succeeded" } else { "failed" })
        .bind(Json(report))
        .execute(conn)
        .await?;
    Ok(())
}

/// The project's latest runs, newest first.
pub async fn runs(conn: &mut PgConnection, project_id: Uuid, limit: i64) -> Result<Vec<NeutralizeRun>, sqlx::Error> {
    type Row = (Uuid, Option<Uuid>, Option<String>, Option<Uuid>, String, String, String, Option<Json<serde_json::Value>>, DateTime<Utc>, Option<DateTime<Utc>>);
    let rows: Vec<Row> = sqlx::query_as(
        "select r.id, r.environment_id, e.name, r.promotion_id, r.actor_email, r.database_name, r.status, r.report,
                r.started_at, r.finished_at
           from ops.neutralize_runs r
           left join ops.environments e on e.id = r.environment_id
          where r.project_id = $1
          order by r.started_at desc
          limit $2",
    )
    .bind(project_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, environment_id, environment_name, promotion_id, actor_email, database_name, status, report, started_at, finished_at)| NeutralizeRun {
            id,
            environment_id,
            environment_name,
            promotion_id,
            actor_email,
            database_name,
            status,
            // A report written by another version that no longer decodes shows as missing.
            report: report.and_then(|j| serde_json::from_value(j.0).ok()),
            started_at,
            finished_at,
        })
        .collect())
}
