//! Neutralization of staging data: the rules (data, per project), what a run did (the report),
//! and the checks a rule must pass before it is saved or run.
//!
//! A report never carries a value from the scrubbed database: only counts, table and column
//! names.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod sqlcheck;

/// What a rule does. Mirrors `ops.neutralize_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(feature = "ssr", sqlx(type_name = "ops.neutralize_kind", rename_all = "snake_case"))]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// `update <table> set <set_sql> [where <where_sql>]`, counting only rows that change.
    Update,
    /// `delete from <table> [where <where_sql>]`.
    Delete,
    /// Blank every text-like column whose name matches `column_pattern`.
    ColumnPattern,
}

impl RuleKind {
    pub const ALL: [RuleKind; 3] = [RuleKind::Update, RuleKind::Delete, RuleKind::ColumnPattern];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Update => "update",
            RuleKind::Delete => "delete",
            RuleKind::ColumnPattern => "column_pattern",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RuleKind::Update => "Update",
            RuleKind::Delete => "Delete",
            RuleKind::ColumnPattern => "Column pattern",
        }
    }

    pub fn parse(s: &str) -> Option<RuleKind> {
        RuleKind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// One rule of a project (or a default, with `builtin` set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct NeutralizeRule {
    pub id: Uuid,
    pub position: i32,
    pub name: String,
    pub description: String,
    pub kind: RuleKind,
    /// `table` or `schema.table`; empty for a pattern rule that covers every table.
    pub table_name: String,
    /// Update: an assignment list such as `state = 'test', provider_key = null`.
    pub set_sql: String,
    /// Update and Delete: an optional filter (without the word `where`).
    pub where_sql: String,
    /// ColumnPattern: a case-insensitive PostgreSQL regex on column names.
    pub column_pattern: String,
    /// ColumnPattern: `table.column` or `schema.table.column` entries that stay untouched.
    pub exclude: String,
    pub enabled: bool,
    /// Copied from the default set: can be disabled or edited, not deleted.
    pub builtin: bool,
}

impl NeutralizeRule {
    /// What the rule does, in one line, for the rules table.
    pub fn summary(&self) -> String {
        let filter = |w: &str| if w.trim().is_empty() { String::new() } else { format!(" where {}", w.trim()) };
        match self.kind {
            RuleKind::Update => format!("update {} set {}{}", self.table_name, self.set_sql, filter(&self.where_sql)),
            RuleKind::Delete => format!("delete from {}{}", self.table_name, filter(&self.where_sql)),
            RuleKind::ColumnPattern => {
                let scope = if self.table_name.is_empty() { "any table".to_string() } else { self.table_name.clone() };
                let except = if self.exclude.trim().is_empty() { String::new() } else { format!(", except {}", self.exclude.trim()) };
                format!("blank columns ~* {} in {scope}{except}", self.column_pattern)
            }
        }
    }

    /// The checks of [`RuleForm::validate`], for rules read back from the database.
    pub fn check(&self) -> Result<(), String> {
        RuleForm::from(self).validate().map(|_| ())
    }
}

/// How one rule went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Applied,
    Skipped,
    Failed,
}

impl OutcomeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Applied => "applied",
            OutcomeStatus::Skipped => "skipped",
            OutcomeStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The rule's id; nil for the engine's own step (the `database.is_neutralized` marker).
    pub rule_id: Uuid,
    pub name: String,
    pub status: OutcomeStatus,
    /// Rows changed or deleted.
    pub rows: i64,
    /// Which tables and columns were touched, or why the rule was skipped or failed.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeutralizeReport {
    pub rules: Vec<RuleOutcome>,
    pub rows_changed: i64,
    /// Columns (table.column) in which at least one value was blanked.
    pub columns_blanked: i64,
    /// Tables named by rules that the database does not have.
    pub tables_missing: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    /// Set when the run failed; then nothing was changed (one transaction).
    pub error: Option<String>,
}

impl NeutralizeReport {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    pub fn count(&self, status: OutcomeStatus) -> usize {
        self.rules.iter().filter(|r| r.status == status).count()
    }
}

/// A run as the runs list shows it. `status` is `running`, `succeeded` or `failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeutralizeRun {
    pub id: Uuid,
    pub environment_id: Option<Uuid>,
    pub environment_name: Option<String>,
    pub promotion_id: Option<Uuid>,
    pub actor_email: String,
    pub database_name: String,
    pub status: String,
    pub report: Option<NeutralizeReport>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The neutralization page of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeutralizeOverview {
    pub project_id: Uuid,
    pub project_slug: String,
    pub project_name: String,
    pub rules: Vec<NeutralizeRule>,
    pub runs: Vec<NeutralizeRun>,
    /// The caller may edit, add and delete rules.
    pub can_manage: bool,
}

/// A rule as typed into the add or edit form. Fields that do not apply to the kind are
/// ignored (cleared) by [`RuleForm::validate`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleForm {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: String,
    #[serde(default)]
    pub table_name: String,
    #[serde(default)]
    pub set_sql: String,
    #[serde(default)]
    pub where_sql: String,
    #[serde(default)]
    pub column_pattern: String,
    #[serde(default)]
    pub exclude: String,
}

/// A rule that passed [`RuleForm::validate`]: trimmed, with the fields of its kind only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidRule {
    pub name: String,
    pub description: String,
    pub kind: RuleKind,
    pub table_name: String,
    pub set_sql: String,
    pub where_sql: String,
    pub column_pattern: String,
    pub exclude: String,
}

impl From<&NeutralizeRule> for RuleForm {
    fn from(r: &NeutralizeRule) -> Self {
        RuleForm {
            name: r.name.clone(),
            description: r.description.clone(),
            kind: r.kind.as_str().to_string(),
            table_name: r.table_name.clone(),
            set_sql: r.set_sql.clone(),
            where_sql: r.where_sql.clone(),
            column_pattern: r.column_pattern.clone(),
            exclude: r.exclude.clone(),
        }
    }
}

impl RuleForm {
    /// Checks everything that can be checked without a database (the regex itself is
    /// checked by PostgreSQL, whose dialect the engine uses). Errors name the field.
    pub fn validate(&self) -> Result<ValidRule, String> {
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err("Name: 1 to 100 characters.".into());
        }
        let description = self.description.trim().to_string();
        if description.chars().count() > 2000 {
            return Err("Description: 2000 characters at most.".into());
        }
        let kind = RuleKind::parse(&self.kind).ok_or("Kind: choose update, delete or column pattern.")?;
        let table_name = self.table_name.trim().to_string();
        if !table_name.is_empty() {
            sqlcheck::table_path(&table_name).map_err(|e| format!("Table: {e}"))?;
        } else if kind != RuleKind::ColumnPattern {
            return Err("Table: name the table the rule changes (e.g. ir_cron or myschema.mytable).".into());
        }
        let mut rule = ValidRule { name, description, kind, table_name, set_sql: String::new(), where_sql: String::new(), column_pattern: String::new(), exclude: String::new() };
        match kind {
            RuleKind::Update | RuleKind::Delete => {
                if kind == RuleKind::Update {
                    rule.set_sql = self.set_sql.trim().to_string();
                    if rule.set_sql.is_empty() {
                        return Err("Set: an update rule needs assignments, e.g. active = false.".into());
                    }
                    if rule.set_sql.len() > 4000 {
                        return Err("Set: 4000 characters at most.".into());
                    }
                    sqlcheck::assignments(&rule.set_sql).map_err(|e| format!("Set: {e}"))?;
                }
                rule.where_sql = self.where_sql.trim().to_string();
                if rule.where_sql.len() > 4000 {
                    return Err("Where: 4000 characters at most.".into());
                }
                if !rule.where_sql.is_empty() {
                    sqlcheck::condition(&rule.where_sql).map_err(|e| format!("Where: {e}"))?;
                }
            }
            RuleKind::ColumnPattern => {
                rule.column_pattern = self.column_pattern.trim().to_string();
                if rule.column_pattern.is_empty() {
                    return Err("Column pattern: a pattern rule needs a regular expression, e.g. (^|_)api_key$.".into());
                }
                if rule.column_pattern.len() > 500 {
                    return Err("Column pattern: 500 characters at most.".into());
                }
                rule.exclude = self.exclude.trim().to_string();
                if rule.exclude.len() > 2000 {
                    return Err("Exclude: 2000 characters at most.".into());
                }
                sqlcheck::exclusions(&rule.exclude).map_err(|e| format!("Exclude: {e}"))?;
            }
        }
        Ok(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: &str, table: &str, set: &str, pattern: &str) -> RuleForm {
        RuleForm { name: "r".into(), kind: kind.into(), table_name: table.into(), set_sql: set.into(), column_pattern: pattern.into(), ..Default::default() }
    }

    #[test]
    fn an_update_needs_a_table_and_assignments() {
        assert!(form("update", "ir_cron", "active = false", "").validate().is_ok());
        assert!(form("update", "", "active = false", "").validate().unwrap_err().starts_with("Table:"));
        assert!(form("update", "ir_cron", "  ", "").validate().unwrap_err().starts_with("Set:"));
        assert!(form("update", "ir cron", "active = false", "").validate().unwrap_err().starts_with("Table:"));
        assert!(form("nope", "ir_cron", "active = false", "").validate().unwrap_err().starts_with("Kind:"));
    }

    #[test]
    fn a_pattern_rule_keeps_only_its_own_fields() {
        let mut f = form("column_pattern", "", "active = false", "secret$");
        f.exclude = "res_users.password, public.x.y".into();
        let v = f.validate().unwrap();
        assert_eq!((v.set_sql.as_str(), v.exclude.as_str()), ("", "res_users.password, public.x.y"));
        f.exclude = "password".into();
        assert!(f.validate().unwrap_err().starts_with("Exclude:"));
    }
}
