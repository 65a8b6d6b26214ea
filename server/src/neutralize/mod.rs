//! Neutralization: scrubbing a copy of a production database (payment, mail, IAP, calendar
//! and API credentials; scheduled jobs; mail pointed at the catcher) before anyone uses it.
//!
//! The rules are data (`app::models::NeutralizeRule`, stored per project); this module runs
//! them against one database, in one transaction (all or nothing) with a statement timeout,
//! and reports what it did: counts, table and column names, never values. It knows nothing
//! about promotions or restores: both call [`neutralize`].
pub mod copy;
mod pattern;
pub mod record;
pub mod sample;

use anyhow::{Context, Result};
use app::models::sqlcheck::{self, quote_ident, quote_literal};
use app::models::{NeutralizeReport, NeutralizeRule, OutcomeStatus, RuleKind, RuleOutcome};
use sqlx::{Connection, PgConnection};
use std::time::Instant;
use uuid::Uuid;

/// Longest any one statement may run.
pub const STATEMENT_TIMEOUT: &str = "300s";
/// How long to wait for a lock held by someone else (an app still connected to the copy).
pub const LOCK_TIMEOUT: &str = "30s";

/// Where the copy's outgoing mail servers are pointed: the environment's mail catcher.
#[derive(Clone, Default)]
pub struct MailTarget {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for MailTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailTarget").field("host", &self.host).field("port", &self.port).field("username", &self.username).field("password", &"***").finish()
    }
}

impl MailTarget {
    /// `{{mail_host}}`… as SQL literals.
    fn literals(&self) -> Result<Vec<(&'static str, String)>> {
        let lit = |s: &str| quote_literal(s).map_err(anyhow::Error::msg);
        Ok(vec![
            ("mail_host", lit(&self.host)?),
            ("mail_port", self.port.to_string()),
            ("mail_user", lit(&self.username)?),
            ("mail_password", lit(&self.password)?),
        ])
    }
}

/// A run that failed: nothing was changed. The report says which rule and why.
#[derive(Debug)]
pub struct NeutralizeFailed {
    pub report: NeutralizeReport,
}

impl std::fmt::Display for NeutralizeFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.report.error.as_deref().unwrap_or("neutralization failed"))
    }
}

impl std::error::Error for NeutralizeFailed {}

/// The report of a failed run, if `err` is one (to record it with the run).
pub fn failed_report(err: &anyhow::Error) -> Option<&NeutralizeReport> {
    err.downcast_ref::<NeutralizeFailed>().map(|f| &f.report)
}

/// Runs the enabled `rules` (by position) on the database at `database_url`, then marks it
/// `database.is_neutralized` (when it has `ir_config_parameter`), all in one transaction.
///
/// Rules whose table or column is missing are skipped. Any other failure rolls everything
/// back and returns a [`NeutralizeFailed`] error carrying the report (see [`failed_report`]).
/// Running it twice changes nothing the second time.
#[tracing::instrument(skip_all, fields(rules = rules.len()))]
pub async fn neutralize(database_url: &str, rules: &[NeutralizeRule], mail: &MailTarget) -> Result<NeutralizeReport> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let values = mail.literals().context("the mail catcher settings")?;
    let mut conn = PgConnection::connect(database_url).await.context("connecting to the database to neutralize")?;
    let mut tx = conn.begin().await?;
    for setting in [format!("statement_timeout = '{STATEMENT_TIMEOUT}'"), format!("lock_timeout = '{LOCK_TIMEOUT}'"), "standard_conforming_strings = on".into()] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("set local {setting}"))).execute(&mut *tx).await?;
    }
    let mut report = NeutralizeReport { rules: Vec::new(), rows_changed: 0, columns_blanked: 0, tables_missing: Vec::new(), started_at, duration_ms: 0, error: None };
    let mut ordered: Vec<&NeutralizeRule> = rules.iter().filter(|r| r.enabled).collect();
    ordered.sort_by_key(|r| r.position);
    for rule in ordered {
        let outcome = match run_rule(&mut tx, rule, &values, &mut report).await {
            Ok(o) => o,
            Err(e) => Step::failed(e),
        };
        let failed = outcome.status == OutcomeStatus::Failed;
        if failed {
            report.error = Some(format!("rule “{}” failed: {}. Nothing was changed.", rule.name, outcome.detail));
        }
        report.rows_changed += outcome.rows;
        report.rules.push(RuleOutcome { rule_id: rule.id, name: rule.name.clone(), status: outcome.status, rows: outcome.rows, detail: outcome.detail });
        if failed {
            break;
        }
    }
    if report.error.is_none() {
        let marker = mark_neutralized(&mut tx).await.unwrap_or_else(Step::failed);
        if marker.status == OutcomeStatus::Failed {
            report.error = Some(format!("marking the database as neutralized failed: {}. Nothing was changed.", marker.detail));
        }
        report.rows_changed += marker.rows;
        report.rules.push(RuleOutcome { rule_id: Uuid::nil(), name: "Marked as neutralized".into(), status: marker.status, rows: marker.rows, detail: marker.detail });
    }
    report.duration_ms = clock.elapsed().as_millis() as i64;
    if report.error.is_some() {
        tx.rollback().await.ok();
        report.rows_changed = 0;
        report.columns_blanked = 0;
        for r in report.rules.iter_mut().filter(|r| r.status == OutcomeStatus::Applied) {
            r.detail = format!("{} (rolled back)", r.detail);
        }
        tracing::warn!(error = report.error.as_deref().unwrap_or(""), "neutralization failed and was rolled back");
        return Err(NeutralizeFailed { report }.into());
    }
    tx.commit().await.context("committing the neutralization")?;
    tracing::info!(rows = report.rows_changed, columns = report.columns_blanked, ms = report.duration_ms, "database neutralized");
    Ok(report)
}

/// How one rule (or the marker) went.
struct Step {
    status: OutcomeStatus,
    rows: i64,
    detail: String,
}

impl Step {
    fn applied(rows: i64, detail: String) -> Step {
        Step { status: OutcomeStatus::Applied, rows, detail }
    }
    fn skipped(detail: String) -> Step {
        Step { status: OutcomeStatus::Skipped, rows: 0, detail }
    }
    fn failed(e: anyhow::Error) -> Step {
        Step { status: OutcomeStatus::Failed, rows: 0, detail: describe(&e) }
    }
}

/// An error as a report may show it: PostgreSQL's message and code, no values.
fn describe(e: &anyhow::Error) -> String {
    if let Some(db) = e.downcast_ref::<sqlx::Error>().and_then(|e| e.as_database_error()) {
        let msg = db.message();
        // "invalid input syntax for type integer: "<value>"" and the like quote a value.
        let msg = if ["invalid input", "out of range", "value too long"].iter().any(|p| msg.contains(p)) { msg.split(':').next().unwrap_or(msg) } else { msg };
        let msg: String = msg.chars().take(300).collect();
        return format!("{msg} (SQLSTATE {})", db.code().unwrap_or_default());
    }
    format!("{e:#}").chars().take(300).collect()
}

/// The quoted table of a rule, or `None` (with the rule skipped) when it does not exist.
async fn resolve_table(conn: &mut PgConnection, name: &str, report: &mut NeutralizeReport) -> Result<Option<String>> {
    let parts = sqlcheck::table_path(name).map_err(anyhow::Error::msg)?;
    let quoted = parts.iter().map(|p| quote_ident(p)).collect::<Vec<_>>().join(".");
    let found: Option<String> = sqlx::query_scalar("select to_regclass($1)::text").bind(&quoted).fetch_one(&mut *conn).await?;
    if found.is_none() && !report.tables_missing.iter().any(|t| t == name) {
        report.tables_missing.push(name.to_string());
    }
    Ok(found.map(|_| quoted))
}

async fn run_rule(conn: &mut PgConnection, rule: &NeutralizeRule, values: &[(&str, String)], report: &mut NeutralizeReport) -> Result<Step> {
    if let Err(e) = rule.check() {
        return Ok(Step::failed(anyhow::anyhow!("the rule is not valid: {e}")));
    }
    if rule.kind == RuleKind::ColumnPattern {
        return pattern::blank_columns(conn, rule, report).await;
    }
    let Some(table) = resolve_table(conn, &rule.table_name, report).await? else {
        return Ok(Step::skipped(format!("table {} not present", rule.table_name)));
    };
    let filter = |extra: Option<&str>| -> Result<String> {
        let w = rule.where_sql.trim();
        let w = if w.is_empty() { None } else { Some(sqlcheck::render(w, values).map_err(anyhow::Error::msg)?) };
        Ok(match (w, extra) {
            (Some(w), Some(x)) => format!(" where ({w}) and {x}"),
            (Some(w), None) => format!(" where ({w})"),
            (None, Some(x)) => format!(" where {x}"),
            (None, None) => String::new(),
        })
    };
    let sql = match rule.kind {
        RuleKind::Update => {
            let (set, changed) = sqlcheck::update_parts(&rule.set_sql, values).map_err(anyhow::Error::msg)?;
            format!("update {table} set {set}{}", filter(Some(&changed))?)
        }
        _ => format!("delete from {table}{}", filter(None)?),
    };
    // A savepoint, so that a missing column skips this rule instead of failing the run.
    sqlx::raw_sql("savepoint neutralize_rule").execute(&mut *conn).await?;
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await {
        Ok(done) => {
            sqlx::raw_sql("release savepoint neutralize_rule").execute(&mut *conn).await?;
            let rows = done.rows_affected() as i64;
            let verb = if rule.kind == RuleKind::Update { "changed" } else { "deleted" };
            Ok(Step::applied(rows, format!("{rows} row{} {verb} in {}", if rows == 1 { "" } else { "s" }, rule.table_name)))
        }
        Err(e) => {
            let missing = e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "42703" || c == "42P01");
            if !missing {
                return Err(e.into());
            }
            sqlx::raw_sql("rollback to savepoint neutralize_rule").execute(&mut *conn).await?;
            sqlx::raw_sql("release savepoint neutralize_rule").execute(&mut *conn).await?;
            Ok(Step::skipped(describe(&e.into())))
        }
    }
}

/// `database.is_neutralized = true` in `ir_config_parameter`, as Odoo's own neutralization
/// does (Odoo shows its banner and skips some integrations on such databases).
async fn mark_neutralized(conn: &mut PgConnection) -> Result<Step> {
    let has_table: bool = sqlx::query_scalar("select to_regclass('ir_config_parameter') is not null").fetch_one(&mut *conn).await?;
    if !has_table {
        return Ok(Step::skipped("table ir_config_parameter not present (not an Odoo database?)".into()));
    }
    let has_type: bool = sqlx::query_scalar(
        "select exists (select 1 from pg_attribute where attrelid = 'ir_config_parameter'::regclass and attname = 'type' and not attisdropped)",
    )
    .fetch_one(&mut *conn)
    .await?;
    let updated = sqlx::query("update ir_config_parameter set value = 'true' where key = 'database.is_neutralized' and value is distinct from 'true'")
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let insert = if has_type {
        "insert into ir_config_parameter (key, value, type) select 'database.is_neutralized', 'true', 'str' where not exists (select 1 from ir_config_parameter where key = 'database.is_neutralized')"
    } else {
        "insert into ir_config_parameter (key, value) select 'database.is_neutralized', 'true' where not exists (select 1 from ir_config_parameter where key = 'database.is_neutralized')"
    };
    let inserted = sqlx::query(insert).execute(&mut *conn).await?.rows_affected();
    let rows = (updated + inserted) as i64;
    Ok(Step::applied(rows, if rows == 0 { "database.is_neutralized was already true".into() } else { "ir_config_parameter database.is_neutralized = true".into() }))
}
