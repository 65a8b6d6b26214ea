//! Preflight gates: six checks of a build's files and its environment database, run after
//! every build and before every promotion (issue 5). Each gate answers pass, warn or fail with
//! evidence and a plain explanation; a gate without any of its inputs is skipped, and a gate
//! whose check itself breaks warns with the reason (never a silent pass).
//!
//! The environment database is opened once, read-only (`default_transaction_read_only`), with
//! a short connect timeout and a 5 s `statement_timeout`; the only write is the cron gate
//! disabling jobs that ran past their limit, in its own read-write transaction.
mod cron_runtime;
mod envdb;
mod extensions;
mod long_lived;
mod object_count;
mod smtp;
mod system_packages;
pub mod workspace;

use app::models::{overall, Evidence, GateId, GateResult, GateSettings, GateStatus};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use envdb::{CONNECT_TIMEOUT, STATEMENT_TIMEOUT};

/// What the gates look at. Either input may be missing (no checkout yet, no database).
pub struct GateInput<'a> {
    /// The build's checked-out files.
    pub workspace: Option<&'a Path>,
    /// The environment database (`postgres://…`), as a role that can read its catalogs.
    pub database_url: Option<&'a str>,
    pub settings: &'a GateSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// Always six, in `GateId::ALL` order.
    pub results: Vec<GateResult>,
    /// Scheduled jobs the cron gate disabled in this run (the caller raises the notification).
    pub disabled_jobs: Vec<DisabledJob>,
}

impl GateReport {
    pub fn overall(&self) -> GateStatus {
        overall(&self.results)
    }

    pub fn result(&self, gate: GateId) -> Option<&GateResult> {
        self.results.iter().find(|r| r.gate == gate)
    }
}

/// A scheduled job switched off because a recent run exceeded the limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisabledJob {
    /// The scheduler it belongs to: `pg_cron`.
    pub source: String,
    pub job_id: i64,
    /// The job's name, or the start of its command when it has none.
    pub name: String,
    pub longest_seconds: f64,
    pub limit_seconds: i64,
}

/// An input as a gate sees it.
pub(crate) enum Source<T> {
    Missing,
    /// It was given but could not be read; a sentence saying why.
    Failed(String),
    Ready(T),
}

pub(crate) struct Ctx<'a> {
    pub settings: &'a GateSettings,
    pub files: Source<workspace::Workspace>,
    pub db: Source<envdb::EnvDb>,
}

/// Runs the six gates. Never panics on bad input; problems become warnings.
#[tracing::instrument(skip_all, fields(workspace = input.workspace.is_some(), database = input.database_url.is_some()))]
pub async fn run_all(input: &GateInput<'_>) -> GateReport {
    let files = match input.workspace {
        None => Source::Missing,
        Some(p) => match workspace::load(p).await {
            Ok(ws) => Source::Ready(ws),
            Err(e) => Source::Failed(e),
        },
    };
    let db = match input.database_url {
        None => Source::Missing,
        Some(url) => match envdb::EnvDb::connect(url).await {
            Ok(db) => Source::Ready(db),
            Err(e) => Source::Failed(e),
        },
    };
    let mut ctx = Ctx { settings: input.settings, files, db };
    let extensions = extensions::check(&mut ctx).await;
    let objects = object_count::check(&mut ctx).await;
    let (cron, disabled_jobs) = cron_runtime::check(&mut ctx).await;
    let packages = system_packages::check(&ctx);
    let smtp = smtp::check(&mut ctx).await;
    let long_lived = long_lived::check(&ctx);
    if let Source::Ready(db) = ctx.db {
        db.close().await;
    }
    let report = GateReport { results: vec![extensions, objects, cron, packages, smtp, long_lived], disabled_jobs };
    tracing::info!(overall = %report.overall(), disabled = report.disabled_jobs.len(), "gates ran");
    report
}

/// What one gate gathered from its inputs, turned into a result by `finish`.
#[derive(Default)]
pub(crate) struct Tally {
    /// Findings that make the gate fail (or warn, for warn-only gates).
    pub bad: Vec<Evidence>,
    /// Everything else worth showing: what was checked and found fine.
    pub info: Vec<Evidence>,
    /// Parts that could not be checked, as (where, sentence).
    pub errors: Vec<(String, String)>,
}

/// The words of a gate for each outcome.
pub(crate) struct Words {
    pub summary: String,
    pub explanation: String,
    pub fix: String,
}

impl Tally {
    /// Records that a part could not be checked.
    pub fn error(&mut self, location: impl Into<String>, why: impl Into<String>) {
        self.errors.push((location.into(), why.into()));
    }

    /// Adds the workspace's input problems (missing is fine: the database may still count).
    pub fn note_files(&mut self, files: &Source<workspace::Workspace>) {
        match files {
            Source::Failed(e) => self.error("workspace", e.clone()),
            Source::Ready(ws) if ws.truncated => self.error(
                "workspace",
                format!("the scan stopped after {} files; the rest was not checked", fmt_count(ws.files.len() as i64)),
            ),
            _ => {}
        }
    }

    /// The result: `bad_status` with `bad` words when something was found, else a warning when
    /// a part could not be checked, else a pass.
    pub fn finish(self, gate: GateId, bad_status: GateStatus, bad: impl FnOnce(&[Evidence]) -> Words, pass: impl FnOnce() -> Words) -> GateResult {
        let unchecked: Vec<String> = self.errors.iter().map(|(_, e)| e.clone()).collect();
        let mut evidence = self.bad.clone();
        evidence.extend(self.errors.iter().map(|(loc, e)| Evidence::new(loc.clone(), format!("not checked: {e}"))));
        evidence.extend(self.info);
        if !self.bad.is_empty() {
            let w = bad(&self.bad);
            let explanation = if unchecked.is_empty() { w.explanation } else { format!("{} Also not checked: {}.", w.explanation, unchecked.join("; ")) };
            return GateResult::new(gate, bad_status, w.summary, explanation, w.fix, evidence);
        }
        if !unchecked.is_empty() {
            return unchecked_result(gate, &unchecked, evidence);
        }
        let w = pass();
        GateResult::new(gate, GateStatus::Pass, w.summary, w.explanation, w.fix, evidence)
    }
}

/// A warning for a gate that could not look at all of its inputs.
fn unchecked_result(gate: GateId, unchecked: &[String], evidence: Vec<Evidence>) -> GateResult {
    GateResult::new(
        gate,
        GateStatus::Warn,
        format!("could not check everything: {}", unchecked.join("; ")),
        format!(
            "The {} gate could not look at all of its inputs, so it cannot vouch for this build. This is a warning, not a pass.",
            gate.title().to_lowercase()
        ),
        "Check that the environment database is running and reachable from the console (and that the build's files were checked out), then run the gates again.",
        evidence,
    )
}

/// A gate whose only input could not be read.
pub(crate) fn could_not_check(gate: GateId, location: impl Into<String>, why: String) -> GateResult {
    let evidence = vec![Evidence::new(location, format!("not checked: {why}"))];
    unchecked_result(gate, &[why], evidence)
}

/// 8412 -> "8,412".
pub fn fmt_count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// 1205.4 -> "20 min 5 s", 900 -> "15 min", 3720 -> "1 h 2 min".
pub fn fmt_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as i64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// "1 job" / "2 jobs".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_durations_read_naturally() {
        assert_eq!((fmt_count(0), fmt_count(999), fmt_count(8412), fmt_count(1_234_567)), ("0".into(), "999".into(), "8,412".into(), "1,234,567".into()));
        assert_eq!(fmt_duration(900.0), "15 min");
        assert_eq!(fmt_duration(1205.4), "20 min 5 s");
        assert_eq!(fmt_duration(42.0), "42 s");
        assert_eq!(fmt_duration(3720.0), "1 h 2 min");
        assert_eq!(plural(1, "job", "jobs"), "1 job");
    }
}
