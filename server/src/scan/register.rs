//! Scans stored: the inventory a scan observed, the risk register across scans (new, still
//! open, resolved when a later scan no longer finds it, suppressed with a reason and an
//! expiry), drift per scan, and the maturity score.
use super::{catalog::Level, Finding, Outcome, Report, ScanOptions};
use anyhow::{Context, Result};
use app::db::{Db, DbClaims};
use app::models::ScanSource;
use serde_json::json;
use sqlx::{Connection, PgConnection, Row};
use std::collections::HashMap;
use uuid::Uuid;

/// What gets scanned: `key` follows the target across scans.
#[derive(Debug, Clone)]
pub struct Target {
    pub tenant_id: Uuid,
    pub project_id: Option<Uuid>,
    pub environment_id: Option<Uuid>,
    pub key: String,
    pub name: String,
    /// Never stored or logged (it may hold a password).
    pub url: String,
}

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Summary {
    pub scan_id: Uuid,
    pub findings: usize,
    pub new: usize,
    pub resolved: usize,
    pub score: i32,
    pub objects: usize,
}

/// One observed object of the target database.
#[derive(Debug, Clone)]
pub struct Object {
    pub kind: String,
    pub key: String,
    pub json: serde_json::Value,
}

/// Everything a scan keeps of a database's shape: schemas, relations, functions, triggers,
/// policies, extensions, roles.
pub async fn inventory(conn: &mut PgConnection) -> Result<Vec<Object>> {
    let rows = sqlx::query(
        "with s as (
           select oid, nspname from pg_catalog.pg_namespace
            where nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and nspname !~ '^pg_(temp|toast_temp)_'
         )
         select 'schema' as kind, s.nspname as key,
                jsonb_build_object('owner', pg_catalog.pg_get_userbyid(n.nspowner)) as obj
           from s join pg_catalog.pg_namespace n on n.oid = s.oid
         union all
         select case c.relkind when 'r' then 'table' when 'p' then 'table' when 'v' then 'view' when 'm' then 'materialized view'
                               when 'f' then 'foreign table' when 'S' then 'sequence' else 'index' end,
                s.nspname || '.' || c.relname,
                jsonb_build_object('schema', s.nspname, 'name', c.relname, 'owner', pg_catalog.pg_get_userbyid(c.relowner),
                                   'rls', c.relrowsecurity, 'force_rls', c.relforcerowsecurity, 'partitioned', c.relkind = 'p',
                                   'rows_estimate', greatest(c.reltuples, 0)::bigint, 'options', c.reloptions,
                                   'table', (select t.relname from pg_catalog.pg_index i join pg_catalog.pg_class t on t.oid = i.indrelid where i.indexrelid = c.oid),
                                   'definition', case when c.relkind in ('i', 'I') then pg_catalog.pg_get_indexdef(c.oid) end)
           from pg_catalog.pg_class c join s on s.oid = c.relnamespace
          where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S', 'i', 'I')
         union all
         select 'function', s.nspname || '.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
                jsonb_build_object('schema', s.nspname, 'name', p.proname, 'arguments', pg_catalog.pg_get_function_identity_arguments(p.oid),
                                   'kind', p.prokind, 'language', l.lanname, 'security_definer', p.prosecdef, 'config', p.proconfig,
                                   'owner', pg_catalog.pg_get_userbyid(p.proowner), 'comment', pg_catalog.obj_description(p.oid, 'pg_proc'))
           from pg_catalog.pg_proc p join s on s.oid = p.pronamespace join pg_catalog.pg_language l on l.oid = p.prolang
         union all
         select 'trigger', s.nspname || '.' || c.relname || '.' || t.tgname,
                jsonb_build_object('schema', s.nspname, 'table', c.relname, 'name', t.tgname, 'enabled', t.tgenabled,
                                   'function', t.tgfoid::regprocedure::text)
           from pg_catalog.pg_trigger t join pg_catalog.pg_class c on c.oid = t.tgrelid join s on s.oid = c.relnamespace
          where not t.tgisinternal
         union all
         select 'policy', s.nspname || '.' || c.relname || '.' || p.polname,
                jsonb_build_object('schema', s.nspname, 'table', c.relname, 'name', p.polname, 'permissive', p.polpermissive,
                                   'command', p.polcmd, 'roles', (select coalesce(array_agg(case r when 0 then 'public' else pg_catalog.pg_get_userbyid(r) end), '{}') from unnest(p.polroles) r),
                                   'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid), 'with_check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
           from pg_catalog.pg_policy p join pg_catalog.pg_class c on c.oid = p.polrelid join s on s.oid = c.relnamespace
         union all
         select 'extension', e.extname,
                jsonb_build_object('name', e.extname, 'schema', e.extnamespace::regnamespace::text, 'version', e.extversion, 'relocatable', e.extrelocatable)
           from pg_catalog.pg_extension e
         union all
         select 'role', r.rolname,
                jsonb_build_object('name', r.rolname, 'login', r.rolcanlogin, 'superuser', r.rolsuper, 'bypass_rls', r.rolbypassrls)
           from pg_catalog.pg_roles r where r.rolname !~ '^pg_'",
    )
    .fetch_all(&mut *conn)
    .await
    .context("reading the inventory")?;
    Ok(rows
        .iter()
        .map(|r| Object {
            kind: r.get("kind"),
            key: r.get("key"),
            json: r.get("obj"),
        })
        .collect())
}

/// The maturity score: 100 with nothing open, falling with each open finding weighted by its
/// level (ERROR 10, WARN 3, INFO 0.5): 100 · 20 / (20 + weight). Suppressed findings do not
/// count.
pub fn score(levels: impl IntoIterator<Item = Level>) -> i32 {
    let weight: f64 = levels
        .into_iter()
        .map(|l| match l {
            Level::Error => 10.0,
            Level::Warn => 3.0,
            Level::Info => 0.5,
        })
        .sum();
    (100.0 * 20.0 / (20.0 + weight)).round() as i32
}

/// Marks each object with the lints that found something on it.
fn flags(objects: &mut [Object], findings: &[Finding]) {
    let mut by_object: HashMap<String, Vec<String>> = HashMap::new();
    for f in findings {
        by_object
            .entry(f.object())
            .or_default()
            .push(f.name.clone());
    }
    for o in objects.iter_mut() {
        let base = match o.key.split_once('(') {
            Some((name, _)) => name.to_string(),
            None => o.key.clone(),
        };
        if let Some(names) = by_object.get(&base) {
            let mut n = names.clone();
            n.sort();
            n.dedup();
            o.json["risk_flags"] = json!(n);
        }
    }
}

/// Scans `target` and records everything under its tenant; a scan that cannot run is stored
/// as failed with its error (no password in it) and returned as an error.
pub async fn run(
    db: &Db,
    claims: &DbClaims,
    target: &Target,
    source: ScanSource,
    requested_by: Option<Uuid>,
    opts: &ScanOptions,
) -> Result<Summary> {
    let mut tx = db.tenant_tx(claims).await?;
    let scan_id: Uuid = sqlx::query_scalar(
        "insert into ops.inventory_scans (tenant_id, project_id, environment_id, target_key, target_name, source, requested_by)
         values ($1, $2, $3, $4, $5, $6::ops.scan_source, $7) returning id",
    )
    .bind(target.tenant_id)
    .bind(target.project_id)
    .bind(target.environment_id)
    .bind(&target.key)
    .bind(&target.name)
    .bind(source)
    .bind(requested_by)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let observed = async {
        let mut conn = PgConnection::connect(&target.url)
            .await
            .context("connecting to the database to scan")?;
        let report = super::scan(&mut conn, opts).await;
        let objects = match &report {
            Ok(_) => inventory(&mut conn).await,
            Err(_) => Ok(vec![]),
        };
        let _ = conn.close().await;
        Ok::<_, anyhow::Error>((report?, objects?))
    }
    .await;
    let (report, mut objects) = match observed {
        Ok(x) => x,
        Err(e) => {
            let msg = format!("{e:#}");
            let mut tx = db.tenant_tx(claims).await?;
            sqlx::query("update ops.inventory_scans set status = 'failed', finished_at = now(), duration_ms = (extract(epoch from now() - started_at) * 1000)::int, error = $2 where id = $1")
                .bind(scan_id)
                .bind(&msg)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Err(e);
        }
    };
    flags(&mut objects, &report.findings);
    let mut tx = db.tenant_tx(claims).await?;
    let summary = store(&mut tx, target, scan_id, &report, &objects).await?;
    tx.commit().await?;
    Ok(summary)
}

async fn store(
    tx: &mut PgConnection,
    target: &Target,
    scan_id: Uuid,
    report: &Report,
    objects: &[Object],
) -> Result<Summary> {
    // Inventory, in batches.
    for chunk in objects.chunks(2000) {
        let kinds: Vec<&str> = chunk.iter().map(|o| o.kind.as_str()).collect();
        let keys: Vec<&str> = chunk.iter().map(|o| o.key.as_str()).collect();
        let jsons: Vec<serde_json::Value> = chunk.iter().map(|o| o.json.clone()).collect();
        let flags: Vec<String> = chunk
            .iter()
            .map(|o| {
                o.json
                    .get("risk_flags")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default()
            })
            .collect();
        sqlx::query(
            "insert into ops.inventory_objects (tenant_id, scan_id, object_type, object_key, object_json, risk_flags)
             select $1, $2, k, key, j - 'risk_flags', case when f = '' then '{}' else string_to_array(f, ',') end
               from unnest($3::text[], $4::text[], $5::jsonb[], $6::text[]) as x(k, key, j, f)
             on conflict do nothing",
        )
        .bind(target.tenant_id)
        .bind(scan_id)
        .bind(&kinds)
        .bind(&keys)
        .bind(&jsons)
        .bind(&flags)
        .execute(&mut *tx)
        .await?;
    }
    // The register: what was there before, then this scan's findings.
    let before: HashMap<String, String> = sqlx::query_as::<_, (String, String)>("select finding_key, status::text from ops.risk_findings where tenant_id = $1 and target_key = $2")
        .bind(target.tenant_id)
        .bind(&target.key)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let mut new = 0;
    let mut seen = std::collections::HashSet::new();
    for f in &report.findings {
        // Two rows of one lint can share a key (splinter's own keys are not always unique):
        // the register tracks the key once.
        if !seen.insert(f.cache_key.clone()) {
            continue;
        }
        // New: never seen on this target, or back after being resolved.
        let is_new = before.get(&f.cache_key).is_none_or(|s| s == "resolved");
        new += usize::from(is_new);
        let id: Uuid = sqlx::query_scalar(
            "insert into ops.risk_findings (tenant_id, project_id, target_key, target_name, finding_key, lint, name, level, category,
                                            title, description, detail, remediation, evidence, fix_sql, first_scan_id, last_scan_id)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)
             on conflict (tenant_id, target_key, finding_key) do update set
               last_scan_id = excluded.last_scan_id, last_seen_at = now(), level = excluded.level, detail = excluded.detail,
               description = excluded.description, remediation = excluded.remediation, evidence = excluded.evidence,
               fix_sql = excluded.fix_sql, target_name = excluded.target_name, resolved_at = null,
               status = case when ops.risk_findings.status = 'suppressed' and ops.risk_findings.suppressed_until > now()
                             then 'suppressed'::ops.finding_status else 'open'::ops.finding_status end
             returning id",
        )
        .bind(target.tenant_id)
        .bind(target.project_id)
        .bind(&target.key)
        .bind(&target.name)
        .bind(&f.cache_key)
        .bind(f.lint)
        .bind(&f.name)
        .bind(f.level.as_str())
        .bind(f.categories.first().map(String::as_str).unwrap_or(""))
        .bind(&f.title)
        .bind(f.description.replace("\\`", "`"))
        .bind(f.detail_text())
        .bind(&f.remediation)
        .bind(&f.metadata)
        .bind(&f.fix_sql)
        .bind(scan_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("insert into ops.scan_findings (tenant_id, scan_id, finding_id, is_new) values ($1, $2, $3, $4) on conflict do nothing")
            .bind(target.tenant_id)
            .bind(scan_id)
            .bind(id)
            .bind(is_new)
            .execute(&mut *tx)
            .await?;
    }
    // Resolved: what this scan's lints (only those that ran) no longer find.
    let ran: Vec<&str> = report
        .lints
        .iter()
        .filter(|l| matches!(l.outcome, Outcome::Ran { .. }))
        .map(|l| l.id)
        .collect();
    let resolved = sqlx::query(
        "update ops.risk_findings set status = 'resolved', resolved_at = now()
          where tenant_id = $1 and target_key = $2 and status <> 'resolved' and last_scan_id <> $3 and lint = any($4)",
    )
    .bind(target.tenant_id)
    .bind(&target.key)
    .bind(scan_id)
    .bind(&ran)
    .execute(&mut *tx)
    .await?
    .rows_affected() as usize;
    let open: Vec<String> = sqlx::query_scalar("select level from ops.risk_findings where tenant_id = $1 and target_key = $2 and status = 'open'")
        .bind(target.tenant_id)
        .bind(&target.key)
        .fetch_all(&mut *tx)
        .await?;
    let score = score(open.iter().filter_map(|l| Level::parse(l)));
    let lints: Vec<serde_json::Value> = report
        .lints
        .iter()
        .map(|l| {
            let mut v = json!({"id": l.id, "name": l.name, "title": l.title, "level": l.level, "category": l.category});
            match &l.outcome {
                Outcome::Ran { findings, ms } => {
                    v["status"] = json!("ran");
                    v["findings"] = json!(findings);
                    v["ms"] = json!((ms * 10.0).round() / 10.0);
                }
                Outcome::NotApplicable { reason } => {
                    v["status"] = json!("not_applicable");
                    v["reason"] = json!(reason);
                }
                Outcome::Failed { error } => {
                    v["status"] = json!("failed");
                    v["reason"] = json!(error);
                }
            }
            v
        })
        .collect();
    let counts = json!({
        "error": report.count(Level::Error), "warn": report.count(Level::Warn), "info": report.count(Level::Info),
        "new": new, "resolved": resolved, "not_applicable": report.not_applicable().count(), "failed": report.failed().count(),
    });
    let failed = report.failed().next().is_some();
    sqlx::query(
        "update ops.inventory_scans set status = $2::ops.scan_status, finished_at = now(), duration_ms = (extract(epoch from now() - started_at) * 1000)::int,
                server_version = $3, object_count = $4, finding_count = $5, counts = $6, lints = $7, score = $8,
                error = case when $2 = 'failed' then 'some lints could not run; see their outcomes' end
          where id = $1",
    )
    .bind(scan_id)
    .bind(if failed { "failed" } else { "succeeded" })
    .bind(&report.server_version)
    .bind(objects.len() as i32)
    .bind(report.findings.len() as i32)
    .bind(&counts)
    .bind(serde_json::Value::Array(lints))
    .bind(score)
    .execute(&mut *tx)
    .await?;
    Ok(Summary {
        scan_id,
        findings: report.findings.len(),
        new,
        resolved,
        score,
        objects: objects.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_falls_with_weighted_open_findings() {
        assert_eq!(score([]), 100);
        assert_eq!(score([Level::Error, Level::Error]), 50);
        assert!(score([Level::Info]) > score([Level::Warn]));
        assert!(score([Level::Warn]) > score([Level::Error]));
        assert!(score(std::iter::repeat_n(Level::Error, 1000)) >= 0);
    }
}
