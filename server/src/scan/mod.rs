//! The database scanner: runs every lint (splinter's and ours, see `catalog`) against one
//! PostgreSQL database in a read-only transaction and reports findings, with the lints that
//! do not apply to that database listed as such (never a silent all-clear).
pub mod catalog;
pub mod cli;
pub mod register;
pub mod sarif;
pub mod worker;

use anyhow::{Context, Result};
use catalog::{Level, LintDef, LINTS};
use serde::Serialize;
use sqlx::{Connection, PgConnection, Row};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The schemas an API (PostgREST) exposes; empty: lints about exposure do not apply.
    pub exposed_schemas: Vec<String>,
    pub statement_timeout_ms: u64,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            exposed_schemas: vec!["public".into()],
            statement_timeout_ms: 60_000,
        }
    }
}

/// One finding, with splinter's ten columns (text exactly as splinter returns it, so the
/// two can be compared) plus a safe fix where one exists.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub lint: &'static str,
    pub name: String,
    pub title: String,
    pub level: Level,
    pub facing: String,
    pub categories: Vec<String>,
    pub description: String,
    pub detail: String,
    pub remediation: String,
    pub metadata: serde_json::Value,
    /// The stable key: object + lint, for tracking and suppression.
    pub cache_key: String,
    pub fix_sql: Option<String>,
}

impl Finding {
    /// splinter writes a backslash before each backtick in many texts; readers get them
    /// without.
    pub fn detail_text(&self) -> String {
        self.detail.replace("\\`", "`")
    }

    /// `schema.name` of the object, when the metadata says.
    pub fn object(&self) -> String {
        let m = &self.metadata;
        match (
            m.get("schema").and_then(|v| v.as_str()),
            m.get("name").and_then(|v| v.as_str()),
        ) {
            (Some(s), Some(n)) => format!("{s}.{n}"),
            (None, Some(n)) => n.to_string(),
            _ => String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Ran { findings: usize, ms: f64 },
    NotApplicable { reason: String },
    Failed { error: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct LintRun {
    pub id: &'static str,
    pub name: &'static str,
    pub title: &'static str,
    pub level: Level,
    pub category: &'static str,
    pub ours: bool,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub database: String,
    pub server_version: String,
    pub exposed_schemas: Vec<String>,
    pub scanned_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: f64,
    pub lints: Vec<LintRun>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    pub fn failed(&self) -> impl Iterator<Item = &LintRun> {
        self.lints
            .iter()
            .filter(|l| matches!(l.outcome, Outcome::Failed { .. }))
    }

    pub fn not_applicable(&self) -> impl Iterator<Item = &LintRun> {
        self.lints
            .iter()
            .filter(|l| matches!(l.outcome, Outcome::NotApplicable { .. }))
    }

    /// True when a finding is at `level` or above.
    pub fn reaches(&self, level: Level) -> bool {
        self.findings.iter().any(|f| f.level >= level)
    }
}

/// What the database has, checked once before the lints run.
struct Facts {
    roles: Vec<String>,
    schemas: Vec<String>,
    extensions: Vec<String>,
}

async fn facts(conn: &mut PgConnection) -> Result<(Facts, String, String)> {
    let row = sqlx::query(
        "select coalesce((select array_agg(rolname::text) from pg_catalog.pg_roles), '{}'),
                coalesce((select array_agg(nspname::text) from pg_catalog.pg_namespace), '{}'),
                coalesce((select array_agg(extname::text) from pg_catalog.pg_extension), '{}'),
                current_setting('server_version'), current_database()::text",
    )
    .fetch_one(&mut *conn)
    .await
    .context("reading the catalog")?;
    Ok((
        Facts {
            roles: row.get(0),
            schemas: row.get(1),
            extensions: row.get(2),
        },
        row.get(3),
        row.get(4),
    ))
}

/// Why a lint with these requirements does not apply, judged from the catalog facts
/// (relations are checked separately, against the database).
fn missing_piece(req: &catalog::Requires, facts: &Facts, opts: &ScanOptions) -> Option<String> {
    let missing = |have: &[String], want: &[String]| {
        want.iter()
            .filter(|w| !have.contains(w))
            .cloned()
            .collect::<Vec<_>>()
    };
    let roles = missing(&facts.roles, &req.roles);
    if !roles.is_empty() {
        return Some(format!(
            "the database has no role {} (Supabase API roles)",
            roles.join(", ")
        ));
    }
    let schemas = missing(&facts.schemas, &req.schemas);
    if !schemas.is_empty() {
        return Some(format!("the database has no schema {}", schemas.join(", ")));
    }
    let exts = missing(&facts.extensions, &req.extensions);
    if !exts.is_empty() {
        return Some(format!(
            "the extension {} is not installed",
            exts.join(", ")
        ));
    }
    if req.exposed && opts.exposed_schemas.is_empty() {
        return Some("no API-exposed schemas are configured (--exposed-schemas)".into());
    }
    None
}

/// Why `lint` does not apply to this database, if it does not.
async fn not_applicable(
    conn: &mut PgConnection,
    lint: &LintDef,
    facts: &Facts,
    opts: &ScanOptions,
) -> Result<Option<String>> {
    let req = catalog::requires(lint.sql);
    if let Some(why) = missing_piece(&req, facts, opts) {
        return Ok(Some(why));
    }
    for rel in &req.relations {
        let found: bool = sqlx::query_scalar("select pg_catalog.to_regclass($1) is not null")
            .bind(rel)
            .fetch_one(&mut *conn)
            .await?;
        if !found {
            return Ok(Some(format!("the database has no relation {rel}")));
        }
    }
    Ok(None)
}

fn finding(lint: &LintDef, row: &sqlx::postgres::PgRow) -> Result<Finding> {
    let level: String = row.try_get("level")?;
    Ok(Finding {
        lint: lint.id,
        name: row.try_get("name")?,
        title: row.try_get("title")?,
        level: Level::parse(&level).with_context(|| format!("unknown level {level:?}"))?,
        facing: row.try_get("facing")?,
        categories: row.try_get("categories")?,
        description: row.try_get("description")?,
        detail: row.try_get("detail")?,
        remediation: row.try_get("remediation")?,
        metadata: row.try_get("metadata")?,
        cache_key: row.try_get("cache_key")?,
        fix_sql: row.try_get("fix_sql")?,
    })
}

/// Scans the database at `url` (any PostgreSQL; nothing is written).
pub async fn scan_url(url: &str, opts: &ScanOptions) -> Result<Report> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("connecting to the database to scan")?;
    let report = scan(&mut conn, opts).await;
    let _ = conn.close().await;
    report
}

pub async fn scan(conn: &mut PgConnection, opts: &ScanOptions) -> Result<Report> {
    let started = Instant::now();
    let scanned_at = chrono::Utc::now();
    let mut tx = conn.begin().await?;
    sqlx::query("set transaction read only")
        .execute(&mut *tx)
        .await?;
    sqlx::query("select set_config('search_path', '', true), set_config('statement_timeout', $1, true), set_config('pgrst.db_schemas', $2, true)")
        .bind(format!("{}ms", opts.statement_timeout_ms))
        .bind(opts.exposed_schemas.join(", "))
        .execute(&mut *tx)
        .await?;
    let (facts, server_version, database) = facts(&mut tx).await?;
    let mut lints = Vec::with_capacity(LINTS.len());
    let mut findings = Vec::new();
    for lint in LINTS {
        let outcome = match not_applicable(&mut tx, lint, &facts, opts).await? {
            Some(reason) => Outcome::NotApplicable { reason },
            None => {
                let t = Instant::now();
                // A savepoint per lint: one failing query does not abort the others.
                let mut sp = tx.begin().await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(lint.sql))
                    .fetch_all(&mut *sp)
                    .await;
                match rows.map_err(anyhow::Error::from).and_then(|rows| {
                    rows.iter()
                        .map(|r| finding(lint, r))
                        .collect::<Result<Vec<_>>>()
                }) {
                    Ok(found) => {
                        sp.commit().await?;
                        let n = found.len();
                        findings.extend(found);
                        Outcome::Ran {
                            findings: n,
                            ms: t.elapsed().as_secs_f64() * 1000.0,
                        }
                    }
                    Err(e) => {
                        sp.rollback().await?;
                        Outcome::Failed {
                            error: format!("{e:#}"),
                        }
                    }
                }
            }
        };
        lints.push(LintRun {
            id: lint.id,
            name: lint.name,
            title: lint.title,
            level: lint.level,
            category: lint.category,
            ours: lint.ours,
            outcome,
        });
    }
    tx.rollback().await?;
    findings.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then_with(|| a.lint.cmp(b.lint))
            .then_with(|| a.cache_key.cmp(&b.cache_key))
    });
    Ok(Report {
        database,
        server_version,
        exposed_schemas: opts.exposed_schemas.clone(),
        scanned_at,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        lints,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(roles: &[&str], schemas: &[&str], extensions: &[&str]) -> Facts {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        Facts {
            roles: v(roles),
            schemas: v(schemas),
            extensions: v(extensions),
        }
    }

    #[test]
    fn a_lint_missing_what_it_needs_says_why_instead_of_passing() {
        let opts = ScanOptions::default();
        let req = catalog::requires("-- lint: x\n-- requires-roles: anon, authenticated\n-- requires-exposed: true\nselect 1");
        let plain = facts(&["postgres"], &["public"], &["plpgsql"]);
        assert_eq!(
            missing_piece(&req, &plain, &opts).as_deref(),
            Some("the database has no role anon, authenticated (Supabase API roles)")
        );
        let supa = facts(
            &["postgres", "anon", "authenticated"],
            &["public", "auth"],
            &["plpgsql"],
        );
        assert_eq!(missing_piece(&req, &supa, &opts), None);
        let none_exposed = ScanOptions {
            exposed_schemas: vec![],
            ..ScanOptions::default()
        };
        assert!(missing_piece(&req, &supa, &none_exposed)
            .unwrap()
            .contains("exposed"));
        let gql = catalog::requires("-- requires-extensions: pg_graphql\nselect 1");
        assert_eq!(
            missing_piece(&gql, &supa, &opts).as_deref(),
            Some("the extension pg_graphql is not installed")
        );
        let auth = catalog::requires("-- requires-schemas: auth, storage\nselect 1");
        assert_eq!(
            missing_piece(&auth, &supa, &opts).as_deref(),
            Some("the database has no schema storage")
        );
    }
}
