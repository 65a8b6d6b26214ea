//! Backups and restores (issue 7). A backup is a `pg_dump` custom-format dump, a tar.zst of
//! the environment's file store and a manifest, written to the project's storage and read
//! back to verify before the row says `good`. Jobs are rows in `ops.backups` and
//! `ops.restores`, claimed by any console (`ops.claim_backup_job`, skip locked), with
//! heartbeats that carry progress out and cancel requests in. A job whose console died is
//! failed and cleaned up by the next claim; nothing half-written is ever listed as good.
pub mod archive;
pub mod cleanup;
pub mod http;
pub mod job;
pub mod restore;
pub mod retention;
pub mod scheduler;
pub mod store;
pub mod worker;

use app::db::{self, Db};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What backup workers and the scheduler need.
#[derive(Clone)]
pub struct BackupContext {
    pub db: Db,
    /// The console's owner URL: environment databases live on the same server.
    pub owner_url: Arc<app::auth::Secret>,
    /// Local storage root (`ODOOOPS_BACKUP_DIR`, default `<data dir>/backups`).
    pub root: PathBuf,
    /// Where restored staging databases send their mail (the console's catcher).
    pub smtp: Option<std::net::SocketAddr>,
    /// Production's default schedule: daily at this hour, in the project's time zone.
    pub default_hour: u32,
    /// A running job whose heartbeat is older than this is taken over (failed and cleaned).
    pub stale: Duration,
    pub heartbeat: Duration,
    /// How many jobs this console runs at once.
    pub workers: usize,
}

impl BackupContext {
    pub fn admin_url(&self) -> String {
        self.owner_url.expose().to_string()
    }
}

/// Live counters of one job, read by its heartbeat.
#[derive(Debug)]
pub struct Progress {
    pub done: AtomicI64,
    /// -1 while unknown.
    pub expected: AtomicI64,
    pub files_done: AtomicI64,
    pub files_total: AtomicI64,
    pub phase: Mutex<String>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { done: AtomicI64::new(0), expected: AtomicI64::new(-1), files_done: AtomicI64::new(0), files_total: AtomicI64::new(-1), phase: Mutex::new(String::new()) }
    }
}

impl Progress {
    pub fn set_phase(&self, phase: &str) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.to_string();
        }
    }
    pub fn phase(&self) -> String {
        self.phase.lock().map(|p| p.clone()).unwrap_or_default()
    }
    pub fn set_done(&self, n: u64) {
        self.done.store(n as i64, Ordering::Relaxed);
    }
    pub fn set_expected(&self, n: Option<i64>) {
        self.expected.store(n.unwrap_or(-1), Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> (i64, Option<i64>, i64, Option<i64>, String) {
        let opt = |v: i64| (v >= 0).then_some(v);
        (
            self.done.load(Ordering::Relaxed),
            opt(self.expected.load(Ordering::Relaxed)),
            self.files_done.load(Ordering::Relaxed),
            opt(self.files_total.load(Ordering::Relaxed)),
            self.phase(),
        )
    }
}

/// An error for people: each cause once (object_store repeats its source in its own text),
/// at most 600 characters.
pub fn plain_error(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    let all = parts.join(": ");
    match all.char_indices().nth(600) {
        Some((i, _)) => format!("{}…", &all[..i]),
        None => all,
    }
}

/// An audit row written by the console on behalf of a job (the person who asked is in the
/// job's row and in the details).
pub async fn audit(conn: &mut sqlx::PgConnection, action: &str, target: &str, details: serde_json::Value) -> Result<(), sqlx::Error> {
    db::audit::insert(conn, &db::audit::AuditEntry { actor_id: None, actor_email: "console", action, target, details, request_id: "", ip: "" }).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_errors_say_each_cause_once() {
        let e = anyhow::anyhow!("Connection refused").context("HTTP error: Connection refused").context("uploading db.dump");
        assert_eq!(super::plain_error(&e), "uploading db.dump: HTTP error: Connection refused");
        let long = anyhow::anyhow!("x".repeat(700));
        assert_eq!(super::plain_error(&long).chars().count(), 601);
    }
}
