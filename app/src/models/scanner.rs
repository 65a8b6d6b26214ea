//! Database scans as the console shows them (issue 10): scan targets, the risk register,
//! scan history with drift, the inventory and fix plans.
use super::Stage;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pg_enum!(
    /// Where a finding stands in the register.
    FindingStatus, "ops.finding_status" { Open = "open", Resolved = "resolved", Suppressed = "suppressed" }
);

pg_enum!(
    /// How a scan ended.
    ScanStatus, "ops.scan_status" { Running = "running", Succeeded = "succeeded", Failed = "failed" }
);

pg_enum!(
    /// Who started a scan.
    ScanSource, "ops.scan_source" { Nightly = "nightly", Manual = "manual", Cli = "cli" }
);

pg_enum!(
    /// A queued scan or plan application.
    ScanJobState, "ops.scan_job_state" { Queued = "queued", Running = "running", Done = "done", Failed = "failed" }
);

pg_enum!(
    ScanJobKind, "ops.scan_job_kind" { Scan = "scan", ApplyPlan = "apply_plan" }
);

pg_enum!(
    /// A fix plan's state (`draft` until its job applies it).
    PlanStatus, "ops.plan_status" { Draft = "draft", Applied = "applied", Failed = "failed" }
);

/// A finding's severity, ordered most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Error,
    Warn,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Error, Severity::Warn, Severity::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warn => "WARN",
            Severity::Info => "INFO",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "Error",
            Severity::Warn => "Warning",
            Severity::Info => "Info",
        }
    }
}

/// The target key of the console's own database.
pub const CONSOLE_TARGET: &str = "console";

/// Fix plans are not applied to the console's own database (its migrations own that schema).
pub fn plans_allowed(target_key: &str) -> bool {
    target_key != CONSOLE_TARGET
}

/// The target key of an environment's database.
pub fn environment_target(id: Uuid) -> String {
    format!("environment:{id}")
}

/// Counts of a scan (as stored in `ops.inventory_scans.counts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanCounts {
    #[serde(default)]
    pub error: i64,
    #[serde(default)]
    pub warn: i64,
    #[serde(default)]
    pub info: i64,
    #[serde(default)]
    pub new: i64,
    #[serde(default)]
    pub resolved: i64,
    #[serde(default)]
    pub not_applicable: i64,
    #[serde(default)]
    pub failed: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRow {
    pub id: Uuid,
    pub target_key: String,
    pub target_name: String,
    pub source: ScanSource,
    pub status: ScanStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i32>,
    pub server_version: String,
    pub object_count: i32,
    pub finding_count: i32,
    pub counts: ScanCounts,
    pub score: Option<i32>,
    pub error: Option<String>,
    pub requested_by: Option<String>,
}

/// A queued or running scan or plan application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanJobRow {
    pub id: Uuid,
    pub kind: ScanJobKind,
    pub target_key: String,
    pub state: ScanJobState,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// Something the console scans: an environment's database or its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanTarget {
    pub key: String,
    pub name: String,
    pub project_slug: Option<String>,
    pub project_name: Option<String>,
    pub environment: Option<String>,
    pub stage: Option<Stage>,
    pub database: String,
    pub last_scan: Option<ScanRow>,
    /// Open findings per severity (suppressed ones do not count).
    pub open_error: i64,
    pub open_warn: i64,
    pub open_info: i64,
    pub suppressed: i64,
    /// Open findings with a safe fix.
    pub fixable: i64,
    /// Scores of the last scans, oldest first (for the sparkline).
    pub scores: Vec<i32>,
    pub job: Option<ScanJobRow>,
}

impl ScanTarget {
    /// Fix plans are not applied to the console's own database (its migrations own it).
    pub fn plans_allowed(&self) -> bool {
        plans_allowed(&self.key)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingRow {
    pub id: Uuid,
    pub target_key: String,
    pub target_name: String,
    pub finding_key: String,
    pub lint: String,
    pub name: String,
    pub level: Severity,
    pub category: String,
    pub title: String,
    pub description: String,
    pub detail: String,
    pub remediation: String,
    /// The finding's metadata, pretty-printed JSON.
    pub evidence: String,
    pub fix_sql: Option<String>,
    pub status: FindingStatus,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub suppressed_reason: Option<String>,
    pub suppressed_until: Option<DateTime<Utc>>,
    pub suppressed_by: Option<String>,
}

/// The register's filters; empty strings mean "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisterFilter {
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub level: String,
    /// `open` (the default), `suppressed`, `resolved` or `all`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub q: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanPermissions {
    pub run: bool,
    pub suppress: bool,
    pub apply: bool,
    pub settings: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanSchedule {
    pub cron: String,
    pub enabled: bool,
    /// The schedule in words.
    pub text: String,
    pub next_run_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerOverview {
    pub targets: Vec<ScanTarget>,
    pub findings: Vec<FindingRow>,
    /// More findings matched than were returned.
    pub truncated: bool,
    pub categories: Vec<String>,
    pub schedule: ScanSchedule,
    pub can: ScanPermissions,
}

/// What changed between a scan and the one before it on the same target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub scan: ScanRow,
    pub previous: Option<Uuid>,
    pub new: Vec<DriftItem>,
    pub fixed: Vec<DriftItem>,
    /// Each lint's outcome: (id, name, status, detail) where status is ran, not_applicable or failed.
    pub lints: Vec<LintOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftItem {
    pub finding_id: Uuid,
    pub level: Severity,
    pub name: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LintOutcome {
    pub id: String,
    pub name: String,
    pub status: String,
    pub findings: i64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanHistory {
    pub target: ScanTarget,
    /// Every target, for the picker.
    pub targets: Vec<ScanTarget>,
    /// Newest first.
    pub scans: Vec<ScanRow>,
}

/// One patch of a fix plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    pub finding_id: Uuid,
    pub finding_key: String,
    pub level: Severity,
    pub title: String,
    pub detail: String,
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRow {
    pub id: Uuid,
    pub target_key: String,
    pub target_name: String,
    pub status: PlanStatus,
    pub steps: Vec<PlanStep>,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub applied_at: Option<DateTime<Utc>>,
    pub rescan: Option<ScanRow>,
    pub error: Option<String>,
    /// The job applying it, while it runs.
    pub job: Option<ScanJobRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixPlans {
    pub target: ScanTarget,
    /// Every target, for the picker.
    pub targets: Vec<ScanTarget>,
    /// The patches available now (open findings with a safe fix), most severe first.
    pub available: Vec<PlanStep>,
    /// Plans made for this target, newest first.
    pub plans: Vec<PlanRow>,
    pub can: ScanPermissions,
}

/// One object of a scan's inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryObject {
    pub object_type: String,
    pub key: String,
    pub risk_flags: Vec<String>,
    /// The object as observed, pretty-printed JSON.
    pub json: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaSummary {
    pub name: String,
    /// (object type, count), in a fixed order.
    pub counts: Vec<(String, i64)>,
    pub flagged: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryView {
    pub target: ScanTarget,
    /// Every target, for the picker.
    pub targets: Vec<ScanTarget>,
    pub scan: Option<ScanRow>,
    pub schemas: Vec<SchemaSummary>,
    /// The picked schema's objects (or the cluster-wide ones: roles, extensions).
    pub schema: String,
    pub objects: Vec<InventoryObject>,
    /// Open findings of the picked schema's objects.
    pub findings: Vec<FindingRow>,
}

/// A suppression as typed: a reason and the last day it holds.
pub fn parse_suppression(reason: &str, until: &str, today: chrono::NaiveDate) -> Result<(String, DateTime<Utc>), String> {
    let reason = reason.trim();
    if reason.chars().count() < 3 {
        return Err("give a reason of at least 3 characters: the next reader needs to know why".into());
    }
    if reason.chars().count() > 500 {
        return Err("the reason is longer than 500 characters".into());
    }
    let day = chrono::NaiveDate::parse_from_str(until.trim(), "%Y-%m-%d").map_err(|_| "give the expiry as a date (YYYY-MM-DD)".to_string())?;
    if day <= today {
        return Err("the expiry must be after today".into());
    }
    if day > today + chrono::Duration::days(366) {
        return Err("a suppression lasts at most a year: review it then".into());
    }
    let end = day.and_hms_opt(23, 59, 59).map(|t| t.and_utc()).ok_or("not a valid date")?;
    Ok((reason.to_string(), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suppression_needs_a_reason_and_a_future_date_within_a_year() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let (r, until) = parse_suppression("  accepted: read-only lookup table ", "2027-01-31", today).unwrap();
        assert_eq!(r, "accepted: read-only lookup table");
        assert_eq!(until.to_rfc3339(), "2027-01-31T23:59:59+00:00");
        assert!(parse_suppression("ok", "2027-01-31", today).unwrap_err().contains("reason"));
        assert!(parse_suppression("because", "2026-12-03", today).unwrap_err().contains("after today"));
        assert!(parse_suppression("because", "31/01/2027", today).unwrap_err().contains("YYYY-MM-DD"));
        assert!(parse_suppression("because", "2028-01-31", today).unwrap_err().contains("a year"));
    }

    #[test]
    fn severities_parse_in_any_case_and_sort_most_severe_first() {
        assert_eq!(Severity::parse("warn"), Some(Severity::Warn));
        assert_eq!(Severity::parse("bogus"), None);
        let mut v = vec![Severity::Info, Severity::Error, Severity::Warn];
        v.sort();
        assert_eq!(v, vec![Severity::Error, Severity::Warn, Severity::Info]);
    }
}
