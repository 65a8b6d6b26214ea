//! Server functions of the database scanner: targets and the risk register, "Scan now",
//! suppression (admins), history with drift, the inventory, fix plans (applied by a sysadmin)
//! and the schedule. They only move rows: the server's scan worker does the scanning and
//! applies plans (`server/src/scan/worker.rs`).
use crate::models::{AppError, Drift, FindingRow, FixPlans, InventoryView, PlanRow, RegisterFilter, ScanHistory, ScanJobRow, ScannerOverview};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use uuid::Uuid;

#[cfg(feature = "ssr")]
mod ssr {
    pub use crate::auth::require;
    pub use crate::db::scanner as repo;
    pub use crate::models::{Capability, Role};
    use crate::models::{AppError, ScanPermissions, ScanTarget};
    use sqlx::PgConnection;

    pub fn db(e: sqlx::Error) -> AppError {
        AppError::internal(e)
    }

    pub use crate::api::not_found;

    pub fn permissions(role: Role) -> ScanPermissions {
        ScanPermissions {
            run: role.allows(Capability::RunScan),
            suppress: role.allows(Capability::SuppressFinding),
            apply: role.allows(Capability::ApplyFixPlan),
            settings: role.allows(Capability::ManageScanSettings),
        }
    }

    /// A target of the caller's tenant, or 404 (another tenant's never shows).
    pub async fn target(conn: &mut PgConnection, key: &str) -> Result<ScanTarget, AppError> {
        repo::target(conn, key.trim()).await.map_err(db)?.ok_or_else(|| not_found("scan target"))
    }

    /// The target asked for, or when none is named the first one (for fix plans: the first
    /// with something to fix); with every target for the page's picker.
    pub async fn pick(conn: &mut PgConnection, key: &str, for_plans: bool) -> Result<(ScanTarget, Vec<ScanTarget>), AppError> {
        let all = repo::targets(conn).await.map_err(db)?;
        let key = key.trim();
        let found = if key.is_empty() {
            let usable = || all.iter().filter(|t| !for_plans || t.plans_allowed());
            usable().find(|t| !for_plans || t.fixable > 0).or_else(|| usable().next()).cloned()
        } else {
            all.iter().find(|t| t.key == key).cloned()
        };
        match found {
            Some(t) => Ok((t, all)),
            None if key.is_empty() => Err(not_found("database to scan: none yet")),
            None => Err(not_found("scan target")),
        }
    }

    pub fn schedule(cron: &str, enabled: bool) -> crate::models::ScanSchedule {
        let parsed = crate::schedule::parse(cron, "UTC");
        crate::models::ScanSchedule {
            cron: cron.to_string(),
            enabled,
            text: parsed.as_ref().map(|s| s.describe()).unwrap_or_else(|e| e.clone()),
            next_run_at: parsed.ok().filter(|_| enabled).and_then(|s| s.next_after(chrono::Utc::now())),
        }
    }
}

/// The scanner's front page: every target with its last scan and score, and the register
/// filtered as asked (open findings by default).
#[server(prefix = "/api", endpoint = "scanner", input = Json)]
pub async fn get_scanner(filter: RegisterFilter) -> Result<ScannerOverview, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewScans).await?;
        let mut tx = s.tx().await?;
        let targets = repo::targets(&mut tx).await.map_err(db)?;
        let (findings, truncated) = repo::findings(&mut tx, &filter, 300).await.map_err(db)?;
        let categories = repo::categories(&mut tx).await.map_err(db)?;
        let (cron, enabled) = repo::schedule(&mut tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(ScannerOverview { targets, findings, truncated, categories, schedule: schedule(&cron, enabled), can: permissions(s.role()) })
    })
    .await
}

/// Queues a scan of one target now (a second click finds the scan already queued).
#[server(prefix = "/api", endpoint = "scan-now")]
pub async fn scan_now(target_key: String) -> Result<ScanJobRow, AppError> {
    crate::api::guard(async move {
        use crate::models::{ScanJobKind, ScanSource};
        use ssr::*;
        let s = require(Capability::RunScan).await?;
        let mut tx = s.tx().await?;
        let t = ssr::target(&mut tx, &target_key).await?;
        if let Some(open) = repo::open_job(&mut tx, &t.key).await.map_err(db)? {
            tx.commit().await.map_err(db)?;
            return Ok(open);
        }
        let job = repo::NewJob { tenant_id: s.claims.tenant_id, kind: ScanJobKind::Scan, target_key: &t.key, source: ScanSource::Manual, plan_id: None, slot: None, requested_by: Some(s.user_id()) };
        let id = match repo::queue_job(&mut tx, &job).await.map_err(db)? {
            Some(id) => id,
            None => return Err(AppError::Conflict("a scan of this database was queued a moment ago".into())),
        };
        s.audit(&mut tx, "scan.requested", &t.name, serde_json::json!({"target": t.key, "job_id": id})).await?;
        let row = repo::job(&mut tx, id).await.map_err(db)?.ok_or_else(|| AppError::internal("job vanished"))?;
        tx.commit().await.map_err(db)?;
        Ok(row)
    })
    .await
}

/// A job's state, for the page that waits on it.
#[server(prefix = "/api", endpoint = "scan-job")]
pub async fn scan_job(id: Uuid) -> Result<ScanJobRow, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewScans).await?;
        let mut tx = s.tx().await?;
        let row = repo::job(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("scan job"))?;
        tx.commit().await.map_err(db)?;
        Ok(row)
    })
    .await
}

/// Suppresses a finding until a date, with a reason (admins; audited). Later scans keep it
/// suppressed until the date passes; then it is open again.
#[server(prefix = "/api", endpoint = "finding-suppress")]
pub async fn suppress_finding(id: Uuid, reason: String, until: String) -> Result<FindingRow, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::SuppressFinding).await?;
        let (reason, until) = crate::models::parse_suppression(&reason, &until, chrono::Utc::now().date_naive()).map_err(AppError::Invalid)?;
        let mut tx = s.tx().await?;
        let f = repo::finding(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("finding"))?;
        if !repo::suppress(&mut tx, id, &reason, until, s.user_id()).await.map_err(db)? {
            return Err(AppError::Conflict("this finding is resolved: there is nothing to suppress".into()));
        }
        s.audit(
            &mut tx,
            "scan.finding_suppressed",
            &f.finding_key,
            serde_json::json!({"finding_id": id, "target": f.target_key, "lint": f.name, "level": f.level, "reason": reason, "until": until}),
        )
        .await?;
        let row = repo::finding(&mut tx, id).await.map_err(db)?.ok_or_else(|| AppError::internal("finding vanished"))?;
        tx.commit().await.map_err(db)?;
        Ok(row)
    })
    .await
}

/// Lifts a suppression (admins; audited).
#[server(prefix = "/api", endpoint = "finding-unsuppress")]
pub async fn unsuppress_finding(id: Uuid) -> Result<FindingRow, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::SuppressFinding).await?;
        let mut tx = s.tx().await?;
        let f = repo::finding(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("finding"))?;
        if !repo::unsuppress(&mut tx, id).await.map_err(db)? {
            return Err(AppError::Conflict("this finding is not suppressed".into()));
        }
        s.audit(&mut tx, "scan.suppression_lifted", &f.finding_key, serde_json::json!({"finding_id": id, "target": f.target_key, "lint": f.name})).await?;
        let row = repo::finding(&mut tx, id).await.map_err(db)?.ok_or_else(|| AppError::internal("finding vanished"))?;
        tx.commit().await.map_err(db)?;
        Ok(row)
    })
    .await
}

/// A target's scans, newest first, with their scores.
#[server(prefix = "/api", endpoint = "scan-history")]
pub async fn get_scan_history(target_key: String) -> Result<ScanHistory, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewScans).await?;
        let mut tx = s.tx().await?;
        let (t, targets) = ssr::pick(&mut tx, &target_key, false).await?;
        let scans = repo::scans(&mut tx, &t.key, 60).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(ScanHistory { target: t, targets, scans })
    })
    .await
}

/// What one scan found new and what it no longer found, and each lint's outcome.
#[server(prefix = "/api", endpoint = "scan-drift")]
pub async fn scan_drift(scan_id: Uuid) -> Result<Drift, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewScans).await?;
        let mut tx = s.tx().await?;
        let d = repo::drift(&mut tx, scan_id).await.map_err(db)?.ok_or_else(|| not_found("scan"))?;
        tx.commit().await.map_err(db)?;
        Ok(d)
    })
    .await
}

/// The last scan's inventory of a target: schemas, then one schema's objects and findings.
#[server(prefix = "/api", endpoint = "scan-inventory")]
pub async fn scan_inventory(target_key: String, schema: String) -> Result<InventoryView, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewScans).await?;
        let mut tx = s.tx().await?;
        let (t, targets) = ssr::pick(&mut tx, &target_key, false).await?;
        // The newest scan that stored an inventory.
        let scan = repo::scans(&mut tx, &t.key, 20).await.map_err(db)?.into_iter().find(|s| s.object_count > 0);
        let (schemas, objects, findings, schema) = match &scan {
            Some(sc) => {
                let schemas = repo::schemas(&mut tx, sc.id).await.map_err(db)?;
                let pick = if schemas.iter().any(|s| s.name == schema) { schema } else { schemas.first().map(|s| s.name.clone()).unwrap_or_default() };
                let objects = repo::objects(&mut tx, sc.id, &pick, 1000).await.map_err(db)?;
                let findings = repo::schema_findings(&mut tx, &t.key, &pick).await.map_err(db)?;
                (schemas, objects, findings, pick)
            }
            None => (vec![], vec![], vec![], String::new()),
        };
        tx.commit().await.map_err(db)?;
        Ok(InventoryView { target: t, targets, scan, schemas, schema, objects, findings })
    })
    .await
}

/// A target's available patches (previewed as SQL) and its past plans.
#[server(prefix = "/api", endpoint = "fix-plans")]
pub async fn get_fix_plans(target_key: String) -> Result<FixPlans, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewScans).await?;
        let mut tx = s.tx().await?;
        let (t, targets) = ssr::pick(&mut tx, &target_key, true).await?;
        let available = repo::available_steps(&mut tx, &t.key).await.map_err(db)?;
        let plans = repo::plans(&mut tx, &t.key).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(FixPlans { target: t, targets, available, plans, can: permissions(s.role()) })
    })
    .await
}

/// Makes a plan of the picked patches (`steps`: comma-separated finding ids, or `all`) and
/// queues its application: one transaction on the target database, then a re-scan.
/// Sysadmins only; audited.
#[server(prefix = "/api", endpoint = "fix-plan-apply")]
pub async fn apply_fix_plan(target_key: String, steps: String) -> Result<PlanRow, AppError> {
    crate::api::guard(async move {
        use crate::models::{ScanJobKind, ScanSource};
        use ssr::*;
        let s = require(Capability::ApplyFixPlan).await?;
        let mut tx = s.tx().await?;
        let t = ssr::target(&mut tx, &target_key).await?;
        if !t.plans_allowed() {
            return Err(AppError::Forbidden("fix plans are not applied to the console's own database: its migrations own that schema".into()));
        }
        let Some(scan) = t.last_scan.as_ref() else {
            return Err(AppError::Conflict("this database has not been scanned yet".into()));
        };
        if repo::open_job(&mut tx, &t.key).await.map_err(db)?.is_some() {
            return Err(AppError::Conflict("a scan or a plan of this database is under way: wait for it to finish".into()));
        }
        let available = repo::available_steps(&mut tx, &t.key).await.map_err(db)?;
        let picked: Vec<_> = if steps.trim() == "all" {
            available
        } else {
            let ids: Vec<Uuid> = steps.split(',').filter(|x| !x.trim().is_empty()).map(|x| x.trim().parse::<Uuid>()).collect::<Result<_, _>>().map_err(|_| AppError::Invalid("the picked patches are not valid ids".into()))?;
            if ids.iter().any(|id| !available.iter().any(|st| st.finding_id == *id)) {
                return Err(AppError::Conflict("a picked patch is no longer available (its finding was fixed or suppressed): reload the plan".into()));
            }
            available.into_iter().filter(|st| ids.contains(&st.finding_id)).collect()
        };
        if picked.is_empty() {
            return Err(AppError::Invalid("pick at least one patch".into()));
        }
        let project_id: Option<Uuid> = match t.key.strip_prefix("environment:").and_then(|x| x.parse::<Uuid>().ok()) {
            Some(env) => sqlx::query_scalar("select project_id from ops.environments where id = $1").bind(env).fetch_optional(&mut *tx).await.map_err(db)?,
            None => None,
        };
        let plan = repo::NewPlan { tenant_id: s.claims.tenant_id, project_id, target_key: &t.key, target_name: &t.name, scan_id: scan.id, steps: &picked, created_by: s.user_id() };
        let plan_id = repo::insert_plan(&mut tx, &plan).await.map_err(db)?;
        let job = repo::NewJob { tenant_id: s.claims.tenant_id, kind: ScanJobKind::ApplyPlan, target_key: &t.key, source: ScanSource::Manual, plan_id: Some(plan_id), slot: None, requested_by: Some(s.user_id()) };
        let Some(job_id) = repo::queue_job(&mut tx, &job).await.map_err(db)? else {
            return Err(AppError::Conflict("a scan of this database was queued a moment ago: apply the plan when it has finished".into()));
        };
        let keys: Vec<&str> = picked.iter().map(|p| p.finding_key.as_str()).collect();
        s.audit(&mut tx, "scan.plan_apply_requested", &t.name, serde_json::json!({"target": t.key, "plan_id": plan_id, "job_id": job_id, "steps": picked.len(), "findings": keys})).await?;
        let row = repo::plan(&mut tx, plan_id).await.map_err(db)?.ok_or_else(|| AppError::internal("plan vanished"))?;
        tx.commit().await.map_err(db)?;
        Ok(row)
    })
    .await
}

/// The nightly schedule (admins; audited). A cron expression read in UTC.
#[server(prefix = "/api", endpoint = "scan-schedule-save")]
pub async fn save_scan_schedule(cron: String, enabled: Option<String>) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageScanSettings).await?;
        let parsed = crate::schedule::parse(&cron, "UTC").map_err(AppError::Invalid)?;
        let enabled = enabled.is_some_and(|v| !v.is_empty() && v != "false");
        let mut tx = s.tx().await?;
        let before = repo::save_schedule(&mut tx, parsed.expression(), enabled, s.user_id()).await.map_err(db)?;
        s.audit(
            &mut tx,
            "scan.schedule_changed",
            "scanner",
            serde_json::json!({"before": {"cron": before.0, "enabled": before.1}, "after": {"cron": parsed.expression(), "enabled": enabled}}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

/// The tenant's scan targets (for pickers).
#[server(prefix = "/api", endpoint = "scan-targets")]
pub async fn scan_targets() -> Result<Vec<crate::models::ScanTarget>, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewScans).await?;
        let mut tx = s.tx().await?;
        let t = repo::targets(&mut tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(t)
    })
    .await
}
