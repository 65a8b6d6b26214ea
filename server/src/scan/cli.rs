//! `odooops scan`: scans any PostgreSQL without the console running, prints the findings as
//! a table, JSON or SARIF, and exits non-zero when findings reach `--fail-on`, so teams can
//! gate pull requests on it. Exit codes: 0 clean, 1 findings at or above the level,
//! 2 the scan itself failed (no connection, or a lint could not run).
use super::catalog::Level;
use super::{sarif, Outcome, Report, ScanOptions};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Error,
    Warn,
    Info,
    Never,
}

impl FailOn {
    fn level(self) -> Option<Level> {
        match self {
            FailOn::Error => Some(Level::Error),
            FailOn::Warn => Some(Level::Warn),
            FailOn::Info => Some(Level::Info),
            FailOn::Never => None,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// PostgreSQL URL of the database to scan (read only; a login that can read the catalog).
    #[arg(long, env = "ODOOOPS_SCAN_DB", hide_env_values = true)]
    pub db: String,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Exit with 1 when a finding is at this level or above.
    #[arg(long, value_enum, default_value = "never")]
    pub fail_on: FailOn,
    /// Schemas an API (PostgREST) exposes, comma-separated; "" when none.
    #[arg(long, default_value = "public")]
    pub exposed_schemas: String,
    /// Write the report here instead of standard output.
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
}

pub fn table(report: &Report) -> String {
    let ran = report
        .lints
        .iter()
        .filter(|l| matches!(l.outcome, Outcome::Ran { .. }))
        .count();
    let mut s = format!(
        "Scan of {} (PostgreSQL {}): {} lints, {ran} ran, {} not applicable, {} failed; {} findings ({} error, {} warn, {} info) in {:.0} ms\n",
        report.database,
        report.server_version,
        report.lints.len(),
        report.not_applicable().count(),
        report.failed().count(),
        report.findings.len(),
        report.count(Level::Error),
        report.count(Level::Warn),
        report.count(Level::Info),
        report.duration_ms
    );
    if report.findings.is_empty() {
        s.push_str("\nNo findings.\n");
    } else {
        let w = report
            .findings
            .iter()
            .map(|f| f.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        s.push_str(&format!("\n{:<5}  {:<w$}  {}\n", "LEVEL", "LINT", "DETAIL"));
        for f in &report.findings {
            s.push_str(&format!(
                "{:<5}  {:<w$}  {}{}\n",
                f.level.as_str(),
                f.name,
                f.detail_text(),
                if f.fix_sql.is_some() {
                    "  [fix available]"
                } else {
                    ""
                }
            ));
        }
    }
    let na: Vec<_> = report.not_applicable().collect();
    if !na.is_empty() {
        s.push_str("\nNot applicable to this database:\n");
        for l in na {
            if let Outcome::NotApplicable { reason } = &l.outcome {
                s.push_str(&format!("  {}  {}: {reason}\n", &l.id[..4], l.name));
            }
        }
    }
    for l in report.failed() {
        if let Outcome::Failed { error } = &l.outcome {
            s.push_str(&format!("\nFAILED {} ({}): {error}\n", l.id, l.name));
        }
    }
    s
}

/// Runs the command; returns the process exit code.
pub async fn run(args: ScanArgs) -> i32 {
    let opts = ScanOptions {
        exposed_schemas: args
            .exposed_schemas
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        ..ScanOptions::default()
    };
    let report = match super::scan_url(&args.db, &opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("odooops scan: {e:#}");
            return 2;
        }
    };
    let text = match args.format {
        Format::Table => table(&report),
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        Format::Sarif => {
            serde_json::to_string_pretty(&sarif::render(&report)).unwrap_or_default() + "\n"
        }
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, &text),
        None => std::io::stdout().write_all(text.as_bytes()),
    };
    if let Err(e) = written {
        eprintln!("odooops scan: writing the report: {e}");
        return 2;
    }
    if report.failed().next().is_some() {
        eprintln!(
            "odooops scan: {} lint(s) could not run; see the report",
            report.failed().count()
        );
        return 2;
    }
    match args.fail_on.level() {
        Some(level) if report.reaches(level) => 1,
        _ => 0,
    }
}
