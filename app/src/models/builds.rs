//! Builds, webhook deliveries, previews and log lines as the browser and server share them.
use super::Stage;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pg_enum!(
    /// A build's lifecycle. Mirrors `ops.build_state`.
    BuildState, "ops.build_state" {
        Pending = "pending", Running = "running", Success = "success",
        Warning = "warning", Failed = "failed", Cancelled = "cancelled",
    }
);
pg_enum!(BuildTrigger, "ops.build_trigger" { Push = "push", PullRequest = "pull_request", Manual = "manual", Ci = "ci" });
pg_enum!(BuildRunner, "ops.build_runner" { Embedded = "embedded", External = "external" });
pg_enum!(
    /// Why a build did not succeed: its own fault, or the machinery's (retried).
    FailureKind, "ops.failure_kind" {
        Build = "build", Infrastructure = "infrastructure", Timeout = "timeout", Cancelled = "cancelled",
    }
);
pg_enum!(
    /// Severity of a log line, lowest first (so `>=` means "at least").
    LogLevel, "ops.log_level" { Debug = "debug", Info = "info", Warning = "warning", Error = "error" }
);
pg_enum!(PreviewState, "ops.preview_state" { Starting = "starting", Running = "running", Stopped = "stopped", Failed = "failed" });
pg_enum!(DeliveryOutcome, "ops.delivery_outcome" { Accepted = "accepted", Ignored = "ignored", Duplicate = "duplicate", Rejected = "rejected" });

impl BuildState {
    pub fn is_finished(self) -> bool {
        matches!(self, BuildState::Success | BuildState::Warning | BuildState::Failed | BuildState::Cancelled)
    }
    pub fn is_active(self) -> bool {
        matches!(self, BuildState::Pending | BuildState::Running)
    }
}

/// One build as a card on the grid or a row in a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct BuildCard {
    pub id: Uuid,
    pub number: i64,
    pub branch_id: Uuid,
    pub branch_name: String,
    pub sha: String,
    pub message: String,
    pub author: String,
    pub trigger: BuildTrigger,
    pub runner: BuildRunner,
    pub pr_number: Option<i32>,
    pub state: BuildState,
    pub failure: Option<FailureKind>,
    pub failed_step: Option<String>,
    pub error: String,
    pub attempt: i32,
    pub has_start: bool,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub preview_state: Option<PreviewState>,
    /// Worst status of the gates run after the build ("" when none ran; see `gate_status`).
    pub gates: String,
}

impl BuildCard {
    pub fn short_sha(&self) -> String {
        self.sha.chars().take(8).collect()
    }

    /// The worst gate status after the build, if the gates ran.
    pub fn gate_status(&self) -> Option<super::GateStatus> {
        super::GateStatus::parse(&self.gates)
    }

    /// Seconds between start and finish (or now, while running).
    pub fn duration_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        let start = self.started_at?;
        Some((self.finished_at.unwrap_or(now) - start).num_seconds().max(0))
    }
}

/// A branch row of the grid: its latest builds, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridRow {
    pub branch_id: Uuid,
    pub branch_name: String,
    pub stage: Stage,
    pub environment_name: Option<String>,
    pub pr_number: Option<i32>,
    pub preview_slug: Option<String>,
    pub archived: bool,
    pub builds: Vec<BuildCard>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildGrid {
    pub project_id: Uuid,
    pub project_slug: String,
    pub project_name: String,
    pub rows: Vec<GridRow>,
    pub can_operate: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchHistory {
    pub project_slug: String,
    pub project_name: String,
    pub branch: GridRow,
    pub can_operate: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildDetail {
    pub project_id: Uuid,
    pub project_slug: String,
    pub project_name: String,
    pub env_id: Option<Uuid>,
    pub preview_slug: Option<String>,
    pub build: BuildCard,
    pub can_operate: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct DeliveryRow {
    pub id: i64,
    pub delivery_guid: String,
    pub event: String,
    pub signature_ok: bool,
    pub outcome: DeliveryOutcome,
    pub detail: String,
    pub build_id: Option<Uuid>,
    pub build_number: Option<i64>,
    pub payload_bytes: i32,
    pub redeliveries: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookInfo {
    pub project_id: Uuid,
    pub project_slug: String,
    pub project_name: String,
    pub url_path: String,
    pub secret_set: bool,
    pub deliveries: Vec<DeliveryRow>,
    pub can_manage: bool,
}

/// One log line. `cursor` ("tx:id") orders lines and resumes a live tail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub id: i64,
    pub cursor: String,
    pub job_id: Option<Uuid>,
    pub env_id: Option<Uuid>,
    pub level: LogLevel,
    pub source: String,
    pub message: String,
    pub meta: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// What the log viewer asks for. Every field is optional; text fields are validated on the
/// server (a bad id or level is a 422, not a crash).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub env: String,
    #[serde(default)]
    pub build: String,
    /// Minimum level.
    #[serde(default)]
    pub level: String,
    #[serde(default)]
    pub source: String,
    /// Full-text search (web-search syntax: words, "phrases", -not).
    #[serde(default)]
    pub q: String,
    /// Lines strictly before this cursor (older page).
    #[serde(default)]
    pub before: String,
}

impl LogQuery {
    /// The same filters as a URL query string (for the tail and the CSV export).
    pub fn to_query_string(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [("project", &self.project), ("env", &self.env), ("build", &self.build), ("level", &self.level), ("source", &self.source), ("q", &self.q)] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", crate::components::ui::urlencode(v)));
            }
        }
        parts.join("&")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogPage {
    /// Oldest first.
    pub lines: Vec<LogLine>,
    /// Cursor of the newest line matching the filters (where a live tail starts).
    pub tail_from: String,
    pub has_older: bool,
}

/// Choices for the log viewer's filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogFacets {
    pub environments: Vec<(Uuid, String, String)>,
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}
