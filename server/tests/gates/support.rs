//! Helpers for the gate tests: throwaway workspaces on disk and fresh databases in the test
//! cluster (bare ones: the console's migrations are not applied, as in an Odoo database).
use app::models::{GateId, GateResult, GateSettings, GateStatus};
use odooops::gates::{run_all, GateInput, GateReport};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// A directory of files, removed when dropped.
pub struct Workspace(pub PathBuf);

impl Workspace {
    pub fn new(files: &[(&str, &str)]) -> Workspace {
        let dir = std::env::temp_dir().join(format!("gates-ws-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let ws = Workspace(dir);
        for (path, text) in files {
            ws.write(path, text.as_bytes());
        }
        ws
    }

    pub fn write(&self, path: &str, bytes: &[u8]) {
        let p = self.0.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty database: its URL, its name and an owner pool to set it up.
pub struct EnvDb {
    pub url: String,
    pub name: String,
    pub pool: PgPool,
}

impl EnvDb {
    pub async fn new() -> EnvDb {
        let url = crate::common::fresh_database().await;
        let name = url.rsplit('/').next().unwrap().to_string();
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&url).await.unwrap();
        EnvDb { url, name, pool }
    }

    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&self.pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

pub async fn run(ws: Option<&Workspace>, db: Option<&EnvDb>, settings: &GateSettings) -> GateReport {
    let report = run_all(&GateInput { workspace: ws.map(|w| w.path()), database_url: db.map(|d| d.url.as_str()), settings }).await;
    let order: Vec<GateId> = report.results.iter().map(|r| r.gate).collect();
    assert_eq!(order, GateId::ALL, "six results in order");
    for r in &report.results {
        assert!(!r.summary.is_empty() && !r.summary.contains('\n'), "{:?}: one-line summary, got {:?}", r.gate, r.summary);
        if matches!(r.status, GateStatus::Fail | GateStatus::Warn) {
            assert!(!r.explanation.is_empty() && !r.fix.is_empty(), "{:?} explains itself: {r:?}", r.gate);
            assert!(!r.evidence.is_empty(), "{:?} shows evidence: {r:?}", r.gate);
        }
    }
    report
}

pub fn gate(report: &GateReport, id: GateId) -> &GateResult {
    report.result(id).unwrap()
}

/// The evidence as `location | found` lines, for assertions and failure messages.
pub fn evidence(r: &GateResult) -> Vec<String> {
    r.evidence.iter().map(|e| format!("{} | {}", e.location, e.found)).collect()
}

pub fn has_evidence(r: &GateResult, location: &str, found: &str) -> bool {
    r.evidence.iter().any(|e| e.location == location && e.found.contains(found))
}

/// pg_cron's two catalog tables with their real column shapes (pg_cron 1.3+). pg_cron itself is
/// not installed in the test cluster (it must be preloaded by the server), so the test creates
/// the tables the gate reads and writes.
pub const PG_CRON_SHAPE: &str = "
create schema cron;
create table cron.job (
    jobid bigserial primary key, schedule text not null, command text not null,
    nodename text not null default 'localhost', nodeport int not null default 5432,
    database text not null default current_database(), username text not null default current_user,
    active boolean not null default true, jobname text
);
create sequence cron.runid_seq;
create table cron.job_run_details (
    jobid bigint, runid bigint primary key default nextval('cron.runid_seq'), job_pid integer,
    database text, username text, command text, status text, return_message text,
    start_time timestamptz, end_time timestamptz
);";

/// Odoo's `ir_mail_server`, reduced to the columns the gate reads.
pub const IR_MAIL_SERVER: &str = "
create table ir_mail_server (
    id serial primary key, name varchar not null, smtp_host varchar not null, smtp_port int,
    smtp_encryption varchar, sequence int default 10, active boolean default true
);";
