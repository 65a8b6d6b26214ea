//! A neutralization with its paper trail: the project's enabled rules are read, the run is
//! recorded in `ops.neutralize_runs` (running, then succeeded or failed with the report) and
//! audited. Promotions and restores both call this; neither is known here.
use super::{failed_report, neutralize, MailTarget};
use anyhow::{Context, Result};
use app::db::audit::AuditEntry;
use app::db::neutralize::{self as repo, NewRun};
use app::db::{Db, DbClaims};
use app::models::NeutralizeReport;

/// Who asked, for the run record and the audit log.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub id: Option<uuid::Uuid>,
    pub email: String,
    pub request_id: String,
}

/// Runs the project's enabled rules on `database_url` and records the run under `claims`'
/// tenant. Audits `neutralize.succeeded` or `neutralize.failed` (target: the run id, details:
/// database, counts, error). Returns the report, or the engine's error (see
/// [`super::failed_report`]) after recording it.
#[tracing::instrument(skip_all, fields(project_id = %run.project_id, database = run.database_name))]
pub async fn run_recorded(db: &Db, claims: &DbClaims, run: &NewRun<'_>, actor: &Actor, database_url: &str, mail: &MailTarget) -> Result<NeutralizeReport> {
    let mut tx = db.tenant_tx(claims).await?;
    let rules = repo::enabled_rules(&mut tx, run.project_id).await.context("reading the neutralization rules")?;
    let run_id = repo::insert_run(&mut tx, run).await.context("recording the neutralization run")?;
    tx.commit().await?;

    let outcome = neutralize(database_url, &rules, mail).await;
    let report = match &outcome {
        Ok(r) => r.clone(),
        Err(e) => failed_report(e).cloned().unwrap_or_else(|| NeutralizeReport {
            rules: Vec::new(),
            rows_changed: 0,
            columns_blanked: 0,
            tables_missing: Vec::new(),
            started_at: chrono::Utc::now(),
            duration_ms: 0,
            error: Some(format!("{e:#}")),
        }),
    };
    let mut tx = db.tenant_tx(claims).await?;
    repo::finish_run(&mut tx, run_id, &report).await.context("recording the neutralization report")?;
    let entry = AuditEntry {
        actor_id: actor.id,
        actor_email: &actor.email,
        action: if report.succeeded() { "neutralize.succeeded" } else { "neutralize.failed" },
        target: &run_id.to_string(),
        details: serde_json::json!({
            "database": run.database_name,
            "environment_id": run.environment_id,
            "promotion_id": run.promotion_id,
            "rows_changed": report.rows_changed,
            "columns_blanked": report.columns_blanked,
            "tables_missing": report.tables_missing,
            "error": report.error,
        }),
        request_id: &actor.request_id,
        ip: "",
    };
    app::db::audit::insert(&mut tx, &entry).await.context("auditing the neutralization")?;
    tx.commit().await?;
    outcome
}
