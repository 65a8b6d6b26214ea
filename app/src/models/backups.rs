//! Backups and restores as the screens and the server see them (issue 7).
use super::Stage;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pg_enum!(
    /// Why a backup was taken. Mirrors `ops.backup_kind`.
    BackupKind, "ops.backup_kind" { Scheduled = "scheduled", Manual = "manual", Safety = "safety" }
);

pg_enum!(
    /// Where a backup stands. Only `good` backups can be restored or downloaded. Mirrors
    /// `ops.backup_state`.
    BackupState, "ops.backup_state" {
        Pending = "pending", Running = "running", Verifying = "verifying", Good = "good",
        Failed = "failed", Cancelled = "cancelled", Missed = "missed", Deleting = "deleting",
        Deleted = "deleted",
    }
);

pg_enum!(
    /// Staging restores are neutralized; production restores are guarded. `ops.restore_mode`.
    RestoreMode, "ops.restore_mode" { Staging = "staging", Production = "production" }
);

pg_enum!(
    /// Where a restore stands. Mirrors `ops.restore_state`.
    RestoreState, "ops.restore_state" {
        Pending = "pending", SafetyBackup = "safety_backup", Restoring = "restoring",
        Neutralizing = "neutralizing", Switching = "switching", Succeeded = "succeeded",
        Failed = "failed", Cancelled = "cancelled",
    }
);

impl BackupState {
    /// Queued or in progress: shows a progress bar and can be cancelled.
    pub fn is_open(self) -> bool {
        matches!(self, BackupState::Pending | BackupState::Running | BackupState::Verifying)
    }
}

impl RestoreState {
    pub fn is_open(self) -> bool {
        matches!(self, RestoreState::Pending | RestoreState::SafetyBackup | RestoreState::Restoring | RestoreState::Neutralizing | RestoreState::Switching)
    }
    /// Until the switch starts a restore can be stopped with nothing changed.
    pub fn can_cancel(self) -> bool {
        self.is_open() && self != RestoreState::Switching
    }
}

/// Manual backups allowed per environment in any 24 hours (safety backups do not count).
pub const MANUAL_BACKUPS_PER_DAY: i64 = 5;

/// Grandfather-father-son retention: the newest backup of each of the last `daily` days,
/// `weekly` ISO weeks and `monthly` months that have backups is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Retention {
    /// Production's default.
    pub const PRODUCTION: Retention = Retention { daily: 7, weekly: 4, monthly: 3 };
    /// Staging and development: best effort, a few recent days.
    pub const BEST_EFFORT: Retention = Retention { daily: 3, weekly: 0, monthly: 0 };

    pub fn for_stage(stage: Stage) -> Retention {
        if stage == Stage::Production {
            Retention::PRODUCTION
        } else {
            Retention::BEST_EFFORT
        }
    }
}

/// Where a project's backups are written. Secrets are never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StorageSettings {
    /// The console's backup directory (`ODOOOPS_BACKUP_DIR`, default `<data dir>/backups`).
    Local,
    /// An S3-compatible bucket (path-style requests).
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: String,
        /// Empty for AWS itself; `http://127.0.0.1:9000` for a local server.
        #[serde(default)]
        endpoint: String,
        #[serde(default = "default_region")]
        region: String,
        #[serde(default)]
        allow_http: bool,
        #[serde(default)]
        access_key_id: String,
    },
}

fn default_region() -> String {
    "us-east-1".into()
}

impl StorageSettings {
    pub fn label(&self) -> String {
        match self {
            StorageSettings::Local => "the console's backup directory".into(),
            StorageSettings::S3 { bucket, prefix, endpoint, .. } => {
                let host = if endpoint.is_empty() { "AWS S3".to_string() } else { endpoint.clone() };
                if prefix.is_empty() {
                    format!("s3://{bucket} on {host}")
                } else {
                    format!("s3://{bucket}/{prefix} on {host}")
                }
            }
        }
    }

    /// Checks what a form sent; names the first bad field.
    pub fn validate(&self) -> Result<(), String> {
        let StorageSettings::S3 { bucket, prefix, endpoint, region, access_key_id, .. } = self else {
            return Ok(());
        };
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err("bucket: 3 to 63 characters, lower-case letters, digits, '-' and '.'".into());
        }
        if prefix.len() > 200 || prefix.split('/').any(|s| s == ".." || s == ".") || prefix.starts_with('/') {
            return Err("prefix: at most 200 characters, no leading '/', no '.' or '..' segments".into());
        }
        if !endpoint.is_empty() && !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
            return Err("endpoint: an http:// or https:// URL, or empty for AWS".into());
        }
        if region.is_empty() || region.len() > 40 || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("region: letters, digits and '-', such as us-east-1".into());
        }
        if access_key_id.len() > 200 {
            return Err("access key id: at most 200 characters".into());
        }
        Ok(())
    }
}

/// One backup in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct BackupRow {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub environment_name: String,
    pub stage: Stage,
    pub kind: BackupKind,
    pub state: BackupState,
    pub phase: String,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub requested_by_email: String,
    pub reason: String,
    pub database_name: Option<String>,
    pub db_size_bytes: Option<i64>,
    pub bytes_done: i64,
    pub bytes_expected: Option<i64>,
    pub files_done: i64,
    pub files_total: Option<i64>,
    pub dump_bytes: Option<i64>,
    pub dump_sha256: Option<String>,
    pub files_bytes: Option<i64>,
    pub files_count: Option<i64>,
    pub toc_entries: Option<i32>,
    pub pg_version: String,
    pub error: String,
    pub cancel_requested: bool,
    pub pinned_until: Option<DateTime<Utc>>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
}

impl BackupRow {
    /// Dump plus file archive, as stored.
    pub fn total_bytes(&self) -> i64 {
        self.dump_bytes.unwrap_or(0) + self.files_bytes.unwrap_or(0)
    }
}

/// One restore in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct RestoreRow {
    pub id: Uuid,
    pub backup_id: Uuid,
    pub source_environment_name: String,
    pub backup_finished_at: Option<DateTime<Utc>>,
    pub target_environment_id: Uuid,
    pub target_environment_name: String,
    pub mode: RestoreMode,
    pub state: RestoreState,
    pub phase: String,
    pub safety_backup_id: Option<Uuid>,
    pub new_database: Option<String>,
    pub previous_database: Option<String>,
    pub requested_by_email: String,
    pub reason: String,
    pub bytes_done: i64,
    pub bytes_expected: Option<i64>,
    pub error: String,
    pub cancel_requested: bool,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// An environment's schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ScheduleRow {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub cron: String,
    pub time_zone: String,
    pub enabled: bool,
    pub keep_daily: i32,
    pub keep_weekly: i32,
    pub keep_monthly: i32,
    pub next_run_at: Option<DateTime<Utc>>,
}

/// One environment on the backups page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentBackups {
    pub id: Uuid,
    pub name: String,
    pub stage: Stage,
    pub database_name: Option<String>,
    pub data_dir: Option<String>,
    pub last_good_backup_at: Option<DateTime<Utc>>,
    pub schedule: Option<ScheduleRow>,
    /// The schedule in words ("At 02:00 every day"), when there is one.
    pub schedule_text: String,
    /// Manual backups in the last 24 hours.
    pub manual_last_day: i64,
}

impl EnvironmentBackups {
    /// Staging and development backups are kept on a best-effort basis.
    pub fn best_effort(&self) -> bool {
        self.stage != Stage::Production
    }
}

/// What the viewer may do on the backups page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BackupPermissions {
    pub backup: bool,
    pub restore_staging: bool,
    pub restore_production: bool,
    pub download: bool,
    pub manage: bool,
}

/// Everything the backups page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupsOverview {
    pub project_id: Uuid,
    pub project_slug: String,
    pub project_name: String,
    pub storage: StorageSettings,
    pub storage_label: String,
    pub s3_secret_set: bool,
    pub compression: i32,
    pub time_zone: String,
    pub environments: Vec<EnvironmentBackups>,
    pub backups: Vec<BackupRow>,
    pub restores: Vec<RestoreRow>,
    pub can: BackupPermissions,
}

/// Share done, 0.0–1.0, when the total is known (capped below 1 until the job ends).
pub fn progress_fraction(done: i64, expected: Option<i64>, finished: bool) -> Option<f64> {
    if finished {
        return Some(1.0);
    }
    let expected = expected.filter(|e| *e > 0)?;
    Some((done.max(0) as f64 / expected as f64).min(0.99))
}

/// Seconds left at the average rate since `started`, when it can be told.
pub fn eta_seconds(done: i64, expected: Option<i64>, elapsed_secs: f64) -> Option<u64> {
    let expected = expected.filter(|e| *e > 0)?;
    if done <= 0 || elapsed_secs < 1.0 {
        return None;
    }
    let rate = done as f64 / elapsed_secs;
    let left = (expected - done).max(0) as f64 / rate;
    Some(left.round() as u64)
}

/// "1.4 GB", "512 KB": sizes on screens.
pub fn human_bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{} B", n as u64)
    } else if v < 10.0 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.0} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_settings_round_trip_and_validate() {
        let s: StorageSettings = serde_json::from_str(r#"{"kind":"local"}"#).unwrap();
        assert_eq!(s, StorageSettings::Local);
        let s3: StorageSettings = serde_json::from_str(r#"{"kind":"s3","bucket":"odoo-backups","endpoint":"http://127.0.0.1:9000","allow_http":true}"#).unwrap();
        assert!(s3.validate().is_ok());
        assert!(s3.label().contains("s3://odoo-backups"));
        let bad = StorageSettings::S3 { bucket: "B".into(), prefix: String::new(), endpoint: String::new(), region: "us-east-1".into(), allow_http: false, access_key_id: String::new() };
        assert!(bad.validate().unwrap_err().starts_with("bucket"));
        let traversal = StorageSettings::S3 { bucket: "odoo".into(), prefix: "a/../b".into(), endpoint: String::new(), region: "us-east-1".into(), allow_http: false, access_key_id: String::new() };
        assert!(traversal.validate().unwrap_err().starts_with("prefix"));
    }

    #[test]
    fn progress_and_eta() {
        assert_eq!(progress_fraction(50, Some(100), false), Some(0.5));
        assert_eq!(progress_fraction(150, Some(100), false), Some(0.99));
        assert_eq!(progress_fraction(150, Some(100), true), Some(1.0));
        assert_eq!(progress_fraction(1, None, false), None);
        assert_eq!(eta_seconds(50, Some(100), 10.0), Some(10));
        assert_eq!(eta_seconds(0, Some(100), 10.0), None);
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
        assert_eq!(human_bytes(25_000_000_000), "25 GB");
    }
}
