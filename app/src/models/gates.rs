//! Preflight gates: six checks run on every build and before every promotion.
//!
//! The engine lives in `server/src/gates/`; these are the types the browser and the server share
//! (results on the build card, per-project thresholds in the settings form).
use serde::{Deserialize, Serialize};

/// Evidence lists stop here and end with one "and N more" line.
pub const MAX_EVIDENCE: usize = 50;

/// The six gates, in the order they run and are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateId {
    Extensions,
    ObjectCount,
    CronRuntime,
    SystemPackages,
    Smtp,
    LongLivedConnections,
}

impl GateId {
    pub const ALL: [GateId; 6] =
        [GateId::Extensions, GateId::ObjectCount, GateId::CronRuntime, GateId::SystemPackages, GateId::Smtp, GateId::LongLivedConnections];

    pub fn as_str(self) -> &'static str {
        match self {
            GateId::Extensions => "extensions",
            GateId::ObjectCount => "object_count",
            GateId::CronRuntime => "cron_runtime",
            GateId::SystemPackages => "system_packages",
            GateId::Smtp => "smtp",
            GateId::LongLivedConnections => "long_lived_connections",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            GateId::Extensions => "PostgreSQL extensions",
            GateId::ObjectCount => "Database object count",
            GateId::CronRuntime => "Scheduled job runtime",
            GateId::SystemPackages => "System packages",
            GateId::Smtp => "Outgoing mail port",
            GateId::LongLivedConnections => "Long-lived connections",
        }
    }

    pub fn parse(s: &str) -> Option<GateId> {
        GateId::ALL.into_iter().find(|g| g.as_str() == s.trim())
    }
}

impl std::fmt::Display for GateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A gate's verdict. Declared from least to most severe, so the derived order makes
/// `Fail > Warn > Pass > Skipped` and `max` is "the worst".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GateStatus {
    Skipped,
    Pass,
    Warn,
    Fail,
}

impl GateStatus {
    pub const ALL: [GateStatus; 4] = [GateStatus::Pass, GateStatus::Warn, GateStatus::Fail, GateStatus::Skipped];

    pub fn as_str(self) -> &'static str {
        match self {
            GateStatus::Skipped => "skipped",
            GateStatus::Pass => "pass",
            GateStatus::Warn => "warn",
            GateStatus::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<GateStatus> {
        GateStatus::ALL.into_iter().find(|g| g.as_str() == s.trim())
    }

    /// The more severe of the two.
    pub fn worst(self, other: GateStatus) -> GateStatus {
        self.max(other)
    }

    /// A failed gate blocks a promotion unless an admin overrides it.
    pub fn blocks_promotion(self) -> bool {
        self == GateStatus::Fail
    }
}

impl std::fmt::Display for GateStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a gate found, and where: `database acme_staging: pg_extension` / `postgis 3.3`,
/// `migrations/0003_geo.sql:12` / `CREATE EXTENSION postgis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub location: String,
    pub found: String,
}

impl Evidence {
    pub fn new(location: impl Into<String>, found: impl Into<String>) -> Evidence {
        Evidence { location: location.into(), found: found.into() }
    }
}

/// One gate's outcome, worded for the person reading the build card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: GateId,
    pub status: GateStatus,
    /// One line: "2 extensions are not allowed: postgis, pg_cron".
    pub summary: String,
    /// Plain words: what the finding means and why it matters.
    pub explanation: String,
    /// What to do about it (empty when there is nothing to do).
    pub fix: String,
    /// At most `MAX_EVIDENCE` items plus one "and N more" line.
    pub evidence: Vec<Evidence>,
}

impl GateResult {
    /// Builds a result, capping the evidence list.
    pub fn new(gate: GateId, status: GateStatus, summary: impl Into<String>, explanation: impl Into<String>, fix: impl Into<String>, evidence: Vec<Evidence>) -> GateResult {
        GateResult { gate, status, summary: summary.into(), explanation: explanation.into(), fix: fix.into(), evidence: cap_evidence(evidence) }
    }

    /// A gate that had none of its inputs: `summary` says what was missing.
    pub fn skipped(gate: GateId, summary: impl Into<String>) -> GateResult {
        let explanation = format!("The {} gate needs its input to say anything; it was not run, which is neither a pass nor a failure.", gate.title().to_lowercase());
        GateResult::new(gate, GateStatus::Skipped, summary, explanation, "", Vec::new())
    }
}

/// Keeps the first `MAX_EVIDENCE` items and says how many more there were.
pub fn cap_evidence(mut evidence: Vec<Evidence>) -> Vec<Evidence> {
    if evidence.len() > MAX_EVIDENCE {
        let more = evidence.len() - MAX_EVIDENCE;
        evidence.truncate(MAX_EVIDENCE);
        evidence.push(Evidence::new("…", format!("and {more} more")));
    }
    evidence
}

/// The worst status of a run (`Skipped` when nothing ran).
pub fn overall(results: &[GateResult]) -> GateStatus {
    results.iter().map(|r| r.status).max().unwrap_or(GateStatus::Skipped)
}

mod settings;
pub use settings::*;

#[cfg(test)]
mod tests;
