//! The outcome of checking an audit hash chain (see `migrations/20261125000001_audit_chain.sql`).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One chain walked from its first row to its head: a tenant's, or the rows without a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    pub rows_checked: u64,
    /// The newest seq and hash the chain's head records (0 and zeros before the first row).
    pub head_seq: i64,
    /// Lower-case hex, 64 characters.
    pub head_hash: String,
    pub first_break: Option<ChainBreak>,
    pub checked_at: DateTime<Utc>,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// The first link that does not hold. `audit_id` is absent when the row itself is missing
/// (the newest rows were deleted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainBreak {
    pub seq: i64,
    pub audit_id: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
    pub action: Option<String>,
    /// What is wrong, in plain words.
    pub reason: String,
}
