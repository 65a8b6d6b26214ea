//! `ops.inventory_scans`, `ops.inventory_objects`, `ops.risk_findings`, `ops.scan_findings`,
//! `ops.remediation_plans`, `ops.scan_jobs` and `ops.scan_settings`, as the console reads
//! and changes them (the scanner service writes scans and findings in `server/src/scan`).
use crate::models::{
    Drift, DriftItem, FindingRow, FindingStatus, InventoryObject, LintOutcome, PlanRow, PlanStatus, PlanStep, RegisterFilter, ScanJobKind, ScanJobRow,
    ScanJobState, ScanRow, ScanSource, ScanStatus, ScanTarget, SchemaSummary, Severity, Stage,
};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

const SCAN_COLUMNS: &str = "s.id, s.target_key, s.target_name, s.source, s.status, s.started_at, s.finished_at, s.duration_ms, s.server_version,
     s.object_count, s.finding_count, s.counts, s.score, s.error, u.email as requested_by";

fn scan_row(r: &sqlx::postgres::PgRow) -> ScanRow {
    ScanRow {
        id: r.get("id"),
        target_key: r.get("target_key"),
        target_name: r.get("target_name"),
        source: r.get::<ScanSource, _>("source"),
        status: r.get::<ScanStatus, _>("status"),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
        duration_ms: r.get("duration_ms"),
        server_version: r.get("server_version"),
        object_count: r.get("object_count"),
        finding_count: r.get("finding_count"),
        counts: serde_json::from_value(r.get("counts")).unwrap_or_default(),
        score: r.get("score"),
        error: r.get("error"),
        requested_by: r.get("requested_by"),
    }
}

const FINDING_COLUMNS: &str = "f.id, f.target_key, f.target_name, f.finding_key, f.lint, f.name, f.level, f.category, f.title, f.description,
     f.detail, f.remediation, jsonb_pretty(f.evidence) as evidence, f.fix_sql, f.status, f.first_seen_at, f.last_seen_at, f.resolved_at,
     f.suppressed_reason, f.suppressed_until, u.email as suppressed_by";

fn finding_row(r: &sqlx::postgres::PgRow) -> FindingRow {
    FindingRow {
        id: r.get("id"),
        target_key: r.get("target_key"),
        target_name: r.get("target_name"),
        finding_key: r.get("finding_key"),
        lint: r.get("lint"),
        name: r.get("name"),
        level: Severity::parse(r.get("level")).unwrap_or(Severity::Info),
        category: r.get("category"),
        title: r.get("title"),
        description: r.get("description"),
        detail: r.get("detail"),
        remediation: r.get("remediation"),
        evidence: r.get("evidence"),
        fix_sql: r.get("fix_sql"),
        status: r.get::<FindingStatus, _>("status"),
        first_seen_at: r.get("first_seen_at"),
        last_seen_at: r.get("last_seen_at"),
        resolved_at: r.get("resolved_at"),
        suppressed_reason: r.get("suppressed_reason"),
        suppressed_until: r.get("suppressed_until"),
        suppressed_by: r.get("suppressed_by"),
    }
}

fn job_row(r: &sqlx::postgres::PgRow) -> ScanJobRow {
    ScanJobRow {
        id: r.get("id"),
        kind: r.get::<ScanJobKind, _>("kind"),
        target_key: r.get("target_key"),
        state: r.get::<ScanJobState, _>("state"),
        requested_at: r.get("requested_at"),
        started_at: r.get("started_at"),
        error: r.get("error"),
    }
}

/// Whether the current tenant is the installation's own (the first one created): the
/// console's own database is scanned under it.
pub async fn is_console_tenant(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select ops.is_console_tenant(ops.current_tenant_id())").fetch_one(conn).await
}

/// The tenant's scan targets: every environment with a database, every linked Supabase
/// project served by the local Management API (its registered connection), then the console's
/// own database for the installation's tenant; each with its last scan, open counts, score
/// history and open job.
pub async fn targets(conn: &mut PgConnection) -> Result<Vec<ScanTarget>, sqlx::Error> {
    let console = is_console_tenant(&mut *conn).await?;
    let rows = sqlx::query(
        "with t as (
           select 'environment:' || e.id as key, p.name || ' / ' || e.name as name, p.slug, p.name as project_name, e.name as env, e.stage,
                  e.database_name as database, p.name as sort1,
                  case e.stage when 'production' then 0 when 'staging' then 1 else 2 end as sort2
             from ops.environments e join ops.projects p on p.id = e.project_id
            where e.database_name is not null
           union all
           select 'supabase:' || s.project_ref, p.name || ' / ' || s.name, p.slug, p.name, null, null, s.project_ref, p.name, 3
             from ops.supabase_projects s join ops.projects p on p.id = s.project_id
            where s.upstream = 'local'
           union all
           select 'console', 'Console database', null, null, null, null, current_database(), '~', 0
            where $1
         )
         select t.key, t.name, t.slug, t.project_name, t.env, t.stage, t.database,
                (select coalesce(array_agg(x.score order by x.started_at), '{}') from
                   (select s.score, s.started_at from ops.inventory_scans s where s.target_key = t.key and s.score is not null
                     order by s.started_at desc limit 30) x) as scores,
                count(f.id) filter (where f.status = 'open' and f.level = 'ERROR') as open_error,
                count(f.id) filter (where f.status = 'open' and f.level = 'WARN') as open_warn,
                count(f.id) filter (where f.status = 'open' and f.level = 'INFO') as open_info,
                count(f.id) filter (where f.status = 'suppressed') as suppressed,
                count(f.id) filter (where f.status = 'open' and f.fix_sql is not null) as fixable
           from t left join ops.risk_findings f on f.target_key = t.key
          group by t.key, t.name, t.slug, t.project_name, t.env, t.stage, t.database, t.sort1, t.sort2
          order by t.sort1, t.sort2",
    )
    .bind(console)
    .fetch_all(&mut *conn)
    .await?;
    // Every target's last scan and open job, two queries in all.
    let keys: Vec<String> = rows.iter().map(|r| r.get("key")).collect();
    let sql = format!(
        "select distinct on (s.target_key) {SCAN_COLUMNS} from ops.inventory_scans s left join ops.users u on u.id = s.requested_by
          where s.target_key = any($1) order by s.target_key, s.started_at desc"
    );
    let mut last: std::collections::HashMap<String, ScanRow> =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&keys).fetch_all(&mut *conn).await?.iter().map(scan_row).map(|s| (s.target_key.clone(), s)).collect();
    let mut jobs: std::collections::HashMap<String, ScanJobRow> = sqlx::query(
        "select id, kind, target_key, state, requested_at, started_at, error from ops.scan_jobs
          where target_key = any($1) and state in ('queued', 'running')",
    )
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(job_row)
    .map(|j| (j.target_key.clone(), j))
    .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let key: String = r.get("key");
            ScanTarget {
                job: jobs.remove(&key),
                last_scan: last.remove(&key),
                key,
                name: r.get("name"),
                project_slug: r.get("slug"),
                project_name: r.get("project_name"),
                environment: r.get("env"),
                stage: r.get::<Option<Stage>, _>("stage"),
                database: r.get("database"),
                open_error: r.get("open_error"),
                open_warn: r.get("open_warn"),
                open_info: r.get("open_info"),
                suppressed: r.get("suppressed"),
                fixable: r.get("fixable"),
                scores: r.get("scores"),
            }
        })
        .collect())
}

pub async fn target(conn: &mut PgConnection, key: &str) -> Result<Option<ScanTarget>, sqlx::Error> {
    Ok(targets(conn).await?.into_iter().find(|t| t.key == key))
}

pub async fn scan(conn: &mut PgConnection, id: Uuid) -> Result<Option<ScanRow>, sqlx::Error> {
    let sql = format!("select {SCAN_COLUMNS} from ops.inventory_scans s left join ops.users u on u.id = s.requested_by where s.id = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?.as_ref().map(scan_row))
}

/// A target's scans, newest first.
pub async fn scans(conn: &mut PgConnection, target_key: &str, limit: i64) -> Result<Vec<ScanRow>, sqlx::Error> {
    let sql = format!(
        "select {SCAN_COLUMNS} from ops.inventory_scans s left join ops.users u on u.id = s.requested_by
          where s.target_key = $1 order by s.started_at desc limit $2"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(target_key).bind(limit).fetch_all(conn).await?.iter().map(scan_row).collect())
}

/// The register, most severe and most recent first. Returns at most `limit` rows and
/// whether more matched.
pub async fn findings(conn: &mut PgConnection, filter: &RegisterFilter, limit: i64) -> Result<(Vec<FindingRow>, bool), sqlx::Error> {
    let status = match filter.status.as_str() {
        "" => Some("open"),
        "all" => None,
        s => FindingStatus::parse(s).map(|s| s.as_str()),
    };
    let level = Severity::parse(&filter.level).map(|l| l.as_str());
    let q = filter.q.trim();
    let sql = format!(
        "select {FINDING_COLUMNS} from ops.risk_findings f left join ops.users u on u.id = f.suppressed_by
          where ($1 = '' or f.target_key = $1) and ($2::text is null or f.status::text = $2) and ($3::text is null or f.level = $3)
            and ($4 = '' or f.category = $4)
            and ($5 = '' or f.detail ilike '%' || $5 || '%' or f.name ilike '%' || $5 || '%' or f.title ilike '%' || $5 || '%' or f.lint = $5)
          order by case f.level when 'ERROR' then 0 when 'WARN' then 1 else 2 end, f.last_seen_at desc, f.finding_key
          limit $6"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(filter.target.trim())
        .bind(status)
        .bind(level)
        .bind(filter.category.trim())
        .bind(q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
        .bind(limit + 1)
        .fetch_all(conn)
        .await?;
    let truncated = rows.len() as i64 > limit;
    Ok((rows.iter().take(limit as usize).map(finding_row).collect(), truncated))
}

pub async fn finding(conn: &mut PgConnection, id: Uuid) -> Result<Option<FindingRow>, sqlx::Error> {
    let sql = format!("select {FINDING_COLUMNS} from ops.risk_findings f left join ops.users u on u.id = f.suppressed_by where f.id = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?.as_ref().map(finding_row))
}

pub async fn categories(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select distinct category from ops.risk_findings where category <> '' order by 1").fetch_all(conn).await
}

/// Suppresses an open finding until `until`, with a reason; false when it is resolved or
/// missing (the caller checks the role and audits).
pub async fn suppress(conn: &mut PgConnection, finding_id: Uuid, reason: &str, until: DateTime<Utc>, by: Uuid) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "update ops.risk_findings set status = 'suppressed', suppressed_reason = $2, suppressed_until = $3, suppressed_by = $4, suppressed_at = now()
          where id = $1 and status <> 'resolved'",
    )
    .bind(finding_id)
    .bind(reason)
    .bind(until)
    .bind(by)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Lifts a suppression: the finding is open again at once.
pub async fn unsuppress(conn: &mut PgConnection, finding_id: Uuid) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "update ops.risk_findings set status = 'open', suppressed_reason = null, suppressed_until = null, suppressed_by = null, suppressed_at = null
          where id = $1 and status = 'suppressed'",
    )
    .bind(finding_id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

// --- Jobs and the schedule ---------------------------------------------------------------

pub async fn open_job(conn: &mut PgConnection, target_key: &str) -> Result<Option<ScanJobRow>, sqlx::Error> {
    Ok(sqlx::query(
        "select id, kind, target_key, state, requested_at, started_at, error from ops.scan_jobs
          where target_key = $1 and state in ('queued', 'running')",
    )
    .bind(target_key)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(job_row))
}

pub async fn job(conn: &mut PgConnection, id: Uuid) -> Result<Option<ScanJobRow>, sqlx::Error> {
    Ok(sqlx::query("select id, kind, target_key, state, requested_at, started_at, error from ops.scan_jobs where id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(job_row))
}

pub struct NewJob<'a> {
    pub tenant_id: Uuid,
    pub kind: ScanJobKind,
    pub target_key: &'a str,
    pub source: ScanSource,
    pub plan_id: Option<Uuid>,
    pub slot: Option<DateTime<Utc>>,
    pub requested_by: Option<Uuid>,
}

/// Queues a job; `None` when the target already has an open job (or this nightly slot was
/// queued by another console).
pub async fn queue_job(conn: &mut PgConnection, j: &NewJob<'_>) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "insert into ops.scan_jobs (tenant_id, kind, target_key, source, plan_id, slot, requested_by)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing returning id",
    )
    .bind(j.tenant_id)
    .bind(j.kind)
    .bind(j.target_key)
    .bind(j.source)
    .bind(j.plan_id)
    .bind(j.slot)
    .bind(j.requested_by)
    .fetch_optional(conn)
    .await
}

/// The tenant's schedule: (cron, enabled); nightly at 03:00 UTC when never set.
pub async fn schedule(conn: &mut PgConnection) -> Result<(String, bool), sqlx::Error> {
    Ok(sqlx::query_as("select cron, enabled from ops.scan_settings where tenant_id = ops.current_tenant_id()")
        .fetch_optional(conn)
        .await?
        .unwrap_or_else(|| ("0 3 * * *".to_string(), true)))
}

/// Saves the schedule; returns the previous one (for the audit row).
pub async fn save_schedule(conn: &mut PgConnection, cron: &str, enabled: bool, by: Uuid) -> Result<(String, bool), sqlx::Error> {
    let before = schedule(&mut *conn).await?;
    sqlx::query(
        "insert into ops.scan_settings (tenant_id, cron, enabled, updated_by) values (ops.current_tenant_id(), $1, $2, $3)
         on conflict (tenant_id) do update set cron = excluded.cron, enabled = excluded.enabled, updated_by = excluded.updated_by, updated_at = now()",
    )
    .bind(cron)
    .bind(enabled)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(before)
}

// --- Drift and inventory -------------------------------------------------------------------

/// What a scan found new and what it no longer found, compared with the target's previous
/// finished scan.
pub async fn drift(conn: &mut PgConnection, scan_id: Uuid) -> Result<Option<Drift>, sqlx::Error> {
    let Some(scan) = scan(&mut *conn, scan_id).await? else { return Ok(None) };
    let previous: Option<Uuid> = sqlx::query_scalar(
        "select id from ops.inventory_scans where target_key = $1 and started_at < $2 and status <> 'running' and lints <> '[]'
          order by started_at desc limit 1",
    )
    .bind(&scan.target_key)
    .bind(scan.started_at)
    .fetch_optional(&mut *conn)
    .await?;
    let item = |r: &sqlx::postgres::PgRow| DriftItem {
        finding_id: r.get("id"),
        level: Severity::parse(r.get("level")).unwrap_or(Severity::Info),
        name: r.get("name"),
        detail: r.get("detail"),
    };
    let new = sqlx::query(
        "select f.id, f.level, f.name, f.detail from ops.scan_findings sf join ops.risk_findings f on f.id = sf.finding_id
          where sf.scan_id = $1 and sf.is_new order by f.level, f.name, f.detail",
    )
    .bind(scan_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(item)
    .collect();
    // Fixed: seen by the previous scan, not by this one, and only for lints this one ran.
    let fixed = sqlx::query(
        "select f.id, f.level, f.name, f.detail from ops.scan_findings sf join ops.risk_findings f on f.id = sf.finding_id
          where sf.scan_id = $2
            and not exists (select 1 from ops.scan_findings x where x.scan_id = $1 and x.finding_id = sf.finding_id)
            and f.lint in (select l->>'id' from ops.inventory_scans s, jsonb_array_elements(s.lints) l where s.id = $1 and l->>'status' = 'ran')
          order by f.level, f.name, f.detail",
    )
    .bind(scan_id)
    .bind(previous)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(item)
    .collect();
    let lints: serde_json::Value = sqlx::query_scalar("select lints from ops.inventory_scans where id = $1").bind(scan_id).fetch_one(&mut *conn).await?;
    let lints = lints
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| LintOutcome {
                    id: l["id"].as_str().unwrap_or_default().to_string(),
                    name: l["name"].as_str().unwrap_or_default().to_string(),
                    status: l["status"].as_str().unwrap_or_default().to_string(),
                    findings: l["findings"].as_i64().unwrap_or(0),
                    reason: l["reason"].as_str().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Drift { scan, previous, new, fixed, lints }))
}

/// Object types in the order the inventory shows them.
pub const OBJECT_TYPES: [&str; 12] =
    ["table", "view", "materialized view", "foreign table", "sequence", "index", "function", "trigger", "policy", "extension", "role", "schema"];

/// Per schema of a scan: how many objects of each type and how many carry a risk flag.
/// Extensions and roles belong to the whole database and are listed under `(database)`.
pub async fn schemas(conn: &mut PgConnection, scan_id: Uuid) -> Result<Vec<SchemaSummary>, sqlx::Error> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "select case when object_type in ('extension', 'role') then '(database)' when object_type = 'schema' then object_key
                     else coalesce(object_json->>'schema', split_part(object_key, '.', 1)) end as schema,
                object_type, count(*), count(*) filter (where risk_flags <> '{}')
           from ops.inventory_objects where scan_id = $1 and object_type <> 'schema'
          group by 1, 2",
    )
    .bind(scan_id)
    .fetch_all(&mut *conn)
    .await?;
    let names: Vec<String> = sqlx::query_scalar("select object_key from ops.inventory_objects where scan_id = $1 and object_type = 'schema' order by 1")
        .bind(scan_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut out: Vec<SchemaSummary> = names.into_iter().chain(std::iter::once("(database)".to_string())).map(|name| SchemaSummary { name, counts: vec![], flagged: 0 }).collect();
    for (schema, kind, n, flagged) in rows {
        let Some(s) = out.iter_mut().find(|s| s.name == schema) else { continue };
        s.counts.push((kind, n));
        s.flagged += flagged;
    }
    for s in &mut out {
        s.counts.sort_by_key(|(k, _)| OBJECT_TYPES.iter().position(|t| t == k).unwrap_or(99));
    }
    // Schemas with risks first, then the busiest.
    out.sort_by(|a, b| {
        let size = |s: &SchemaSummary| s.counts.iter().map(|(_, n)| n).sum::<i64>();
        (b.flagged > 0).cmp(&(a.flagged > 0)).then(size(b).cmp(&size(a))).then(a.name.cmp(&b.name))
    });
    Ok(out)
}

/// The objects of one schema of a scan (flagged ones first).
pub async fn objects(conn: &mut PgConnection, scan_id: Uuid, schema: &str, limit: i64) -> Result<Vec<InventoryObject>, sqlx::Error> {
    let rows = sqlx::query(
        "select object_type, object_key, risk_flags, jsonb_pretty(object_json) as json from ops.inventory_objects
          where scan_id = $1 and object_type <> 'schema'
            and case when $2 = '(database)' then object_type in ('extension', 'role')
                     else object_type not in ('extension', 'role') and coalesce(object_json->>'schema', split_part(object_key, '.', 1)) = $2 end
          order by risk_flags = '{}', object_type, object_key limit $3",
    )
    .bind(scan_id)
    .bind(schema)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| InventoryObject { object_type: r.get("object_type"), key: r.get("object_key"), risk_flags: r.get("risk_flags"), json: r.get("json") })
        .collect())
}

/// Open and suppressed findings of a target whose object is in `schema`.
pub async fn schema_findings(conn: &mut PgConnection, target_key: &str, schema: &str) -> Result<Vec<FindingRow>, sqlx::Error> {
    let sql = format!(
        "select {FINDING_COLUMNS} from ops.risk_findings f left join ops.users u on u.id = f.suppressed_by
          where f.target_key = $1 and f.status <> 'resolved' and (f.evidence->>'schema' = $2 or ($2 = '(database)' and f.evidence->>'schema' is null))
          order by case f.level when 'ERROR' then 0 when 'WARN' then 1 else 2 end, f.name, f.detail"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(target_key).bind(schema).fetch_all(conn).await?.iter().map(finding_row).collect())
}

// --- Fix plans -------------------------------------------------------------------------------

/// The patches available for a target now: its open findings with a safe fix, most severe
/// first.
pub async fn available_steps(conn: &mut PgConnection, target_key: &str) -> Result<Vec<PlanStep>, sqlx::Error> {
    let rows = sqlx::query(
        "select id, finding_key, level, title, detail, fix_sql from ops.risk_findings
          where target_key = $1 and status = 'open' and fix_sql is not null
          order by case level when 'ERROR' then 0 when 'WARN' then 1 else 2 end, name, detail",
    )
    .bind(target_key)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| PlanStep {
            finding_id: r.get("id"),
            finding_key: r.get("finding_key"),
            level: Severity::parse(r.get("level")).unwrap_or(Severity::Info),
            title: r.get("title"),
            detail: r.get("detail"),
            sql: r.get("fix_sql"),
        })
        .collect())
}

pub struct NewPlan<'a> {
    pub tenant_id: Uuid,
    pub project_id: Option<Uuid>,
    pub target_key: &'a str,
    pub target_name: &'a str,
    pub scan_id: Uuid,
    pub steps: &'a [PlanStep],
    pub created_by: Uuid,
}

pub async fn insert_plan(conn: &mut PgConnection, p: &NewPlan<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into ops.remediation_plans (tenant_id, project_id, target_key, target_name, scan_id, steps, created_by)
         values ($1, $2, $3, $4, $5, $6, $7) returning id",
    )
    .bind(p.tenant_id)
    .bind(p.project_id)
    .bind(p.target_key)
    .bind(p.target_name)
    .bind(p.scan_id)
    .bind(serde_json::to_value(p.steps).unwrap_or_default())
    .bind(p.created_by)
    .fetch_one(conn)
    .await
}

async fn plan_rows(conn: &mut PgConnection, filter: &str, arg: String) -> Result<Vec<PlanRow>, sqlx::Error> {
    let sql = format!(
        "select p.id, p.target_key, p.target_name, p.status, p.steps, p.created_at, u.email as created_by, p.applied_at, p.rescan_id, p.error,
                (select j.id from ops.scan_jobs j where j.plan_id = p.id and j.state in ('queued', 'running')) as job_id
           from ops.remediation_plans p left join ops.users u on u.id = p.created_by
          where {filter} order by p.created_at desc limit 50"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(arg).fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let rescan: Option<Uuid> = r.get("rescan_id");
        let job_id: Option<Uuid> = r.get("job_id");
        out.push(PlanRow {
            id: r.get("id"),
            target_key: r.get("target_key"),
            target_name: r.get("target_name"),
            status: r.get::<PlanStatus, _>("status"),
            steps: serde_json::from_value(r.get("steps")).unwrap_or_default(),
            created_at: r.get("created_at"),
            created_by: r.get("created_by"),
            applied_at: r.get("applied_at"),
            rescan: match rescan {
                Some(id) => scan(&mut *conn, id).await?,
                None => None,
            },
            error: r.get("error"),
            job: match job_id {
                Some(id) => job(&mut *conn, id).await?,
                None => None,
            },
        });
    }
    Ok(out)
}

pub async fn plans(conn: &mut PgConnection, target_key: &str) -> Result<Vec<PlanRow>, sqlx::Error> {
    plan_rows(conn, "p.target_key = $1", target_key.to_string()).await
}

pub async fn plan(conn: &mut PgConnection, id: Uuid) -> Result<Option<PlanRow>, sqlx::Error> {
    Ok(plan_rows(conn, "p.id = $1::uuid", id.to_string()).await?.into_iter().next())
}
