//! Promotions: a build moving to the next stage, its approvals, gates and timeline.
use super::{BuildState, Stage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pg_enum!(
    /// Where a promotion request stands. Mirrors `ops.promotion_state`.
    PromotionState, "ops.promotion_state" {
        Requested = "requested", PreflightRunning = "preflight_running", PreflightFailed = "preflight_failed",
        AwaitingApproval = "awaiting_approval", Approved = "approved", Promoting = "promoting",
        Promoted = "promoted", Failed = "failed", Rejected = "rejected", Cancelled = "cancelled",
    }
);
pg_enum!(
    /// A forward promotion, or a rollback to the build an environment ran before.
    PromotionKind, "ops.promotion_kind" { Promotion = "promotion", Rollback = "rollback" }
);

impl PromotionState {
    /// The states a request may be in to move to `self`. A state may follow itself only
    /// where a worker takes over work whose worker stopped answering.
    pub fn sources(self) -> &'static [PromotionState] {
        use PromotionState::*;
        match self {
            Requested => &[],
            PreflightRunning => &[Requested, PreflightRunning],
            PreflightFailed => &[PreflightRunning],
            AwaitingApproval => &[PreflightRunning, PreflightFailed],
            Approved => &[AwaitingApproval],
            Promoting => &[Approved, Promoting],
            Promoted => &[Promoting],
            Failed => &[PreflightRunning, Promoting],
            Rejected => &[AwaitingApproval],
            Cancelled => &[Requested, PreflightRunning, PreflightFailed, AwaitingApproval, Approved],
        }
    }

    pub fn can_move_to(self, to: PromotionState) -> bool {
        to.sources().contains(&self)
    }

    /// Still going somewhere (holds the target environment).
    pub fn is_open(self) -> bool {
        !matches!(self, PromotionState::Promoted | PromotionState::Failed | PromotionState::Rejected | PromotionState::Cancelled)
    }

    pub fn label(self) -> &'static str {
        match self {
            PromotionState::Requested => "Requested",
            PromotionState::PreflightRunning => "Running gates",
            PromotionState::PreflightFailed => "Gates failed",
            PromotionState::AwaitingApproval => "Awaiting approval",
            PromotionState::Approved => "Approved",
            PromotionState::Promoting => "Deploying",
            PromotionState::Promoted => "Promoted",
            PromotionState::Failed => "Failed",
            PromotionState::Rejected => "Rejected",
            PromotionState::Cancelled => "Cancelled",
        }
    }
}

impl Stage {
    /// The stage a build of this stage is promoted to by default.
    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::Development => Some(Stage::Staging),
            Stage::Staging => Some(Stage::Production),
            Stage::Production => None,
        }
    }

    /// Whether a build may go straight from `self` to `to`.
    pub fn may_promote_to(self, to: Stage, allow_dev_to_production: bool) -> bool {
        self.next() == Some(to) || (allow_dev_to_production && self == Stage::Development && to == Stage::Production)
    }
}

/// A build as the pipeline shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct BuildBrief {
    pub id: Uuid,
    pub number: i64,
    pub sha: String,
    pub message: String,
    pub author: String,
    pub branch_name: String,
    pub state: BuildState,
    pub finished_at: Option<DateTime<Utc>>,
    /// Worst status of the gates run after the build ("" when none ran).
    pub gates: String,
}

/// One environment column of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineColumn {
    pub env_id: Uuid,
    pub name: String,
    pub stage: Stage,
    pub branch_name: String,
    pub database_name: Option<String>,
    pub build: Option<BuildBrief>,
    pub previous_build: Option<BuildBrief>,
    pub deployed_at: Option<DateTime<Utc>>,
    pub instance_state: String,
    pub instance_detail: String,
    /// The environment this one's build is promoted to: stage, name, id.
    pub promote_to: Option<(Stage, String, Uuid)>,
    /// An open request targeting this environment.
    pub open: Option<PromotionRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct PromotionRow {
    pub id: Uuid,
    pub number: i64,
    pub kind: PromotionKind,
    pub state: PromotionState,
    pub source_env: Option<String>,
    pub target_env_id: Uuid,
    pub target_env: String,
    pub target_stage: Stage,
    pub build_id: Uuid,
    pub build_number: i64,
    pub build_sha: String,
    pub build_message: String,
    pub previous_build_number: Option<i64>,
    pub requested_by: Option<Uuid>,
    pub requested_by_email: String,
    pub note: String,
    pub approvals: i64,
    pub required_approvals: i32,
    pub gates_overall: String,
    pub override_reason: String,
    pub overridden_by_email: String,
    pub refresh_data: bool,
    pub error: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ApprovalRow {
    pub user_email: String,
    pub decision: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct PromotionEventRow {
    pub state: PromotionState,
    pub message: String,
    pub actor_email: String,
    pub created_at: DateTime<Utc>,
}

/// A commit between the target's build and the promoted one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitRow {
    pub sha: String,
    pub author: String,
    pub date: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionDetail {
    pub row: PromotionRow,
    pub approvals: Vec<ApprovalRow>,
    pub events: Vec<PromotionEventRow>,
    pub gates: Vec<super::GateResult>,
    pub commits: Vec<CommitRow>,
    /// What the viewer may do with it now.
    pub can_approve: bool,
    pub can_cancel: bool,
    pub can_override: bool,
    /// Why the viewer cannot approve (their own request, already voted...), if that is why.
    pub approve_blocked: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct NotificationRow {
    pub id: i64,
    pub level: String,
    pub title: String,
    pub body: String,
    pub environment: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionPolicy {
    pub required_approvals: i32,
    pub allow_dev_to_production: bool,
    pub gates: super::GateSettings,
    /// Whether the viewer may change it (admins).
    pub can_manage: bool,
}

/// Everything the promotions page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionsOverview {
    pub project_id: Uuid,
    pub project_slug: String,
    pub project_name: String,
    pub policy: PromotionPolicy,
    pub pipeline: Vec<PipelineColumn>,
    pub pending: Vec<PromotionDetail>,
    pub history: Vec<PromotionRow>,
    pub notifications: Vec<NotificationRow>,
    pub can_request: bool,
    pub can_approve: bool,
    pub can_rollback: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_transitions_are_allowed() {
        use PromotionState::*;
        assert!(Requested.can_move_to(PreflightRunning));
        assert!(PreflightFailed.can_move_to(AwaitingApproval), "an override");
        assert!(AwaitingApproval.can_move_to(Approved));
        assert!(!Requested.can_move_to(Approved), "gates cannot be skipped");
        assert!(!PreflightFailed.can_move_to(Approved), "approval needs an override first");
        assert!(!Promoted.can_move_to(Cancelled), "history is never edited");
        assert!(!Rejected.can_move_to(AwaitingApproval));
        for s in PromotionState::ALL {
            if !s.is_open() {
                assert!(PromotionState::ALL.iter().all(|t| !s.can_move_to(*t)), "{s} is final");
            }
        }
    }

    #[test]
    fn stages_promote_one_step_unless_the_policy_allows_skipping_staging() {
        assert!(Stage::Development.may_promote_to(Stage::Staging, false));
        assert!(Stage::Staging.may_promote_to(Stage::Production, false));
        assert!(!Stage::Development.may_promote_to(Stage::Production, false));
        assert!(Stage::Development.may_promote_to(Stage::Production, true));
        assert!(!Stage::Production.may_promote_to(Stage::Staging, true));
    }
}
