//! Preflight: the six gates against the build's files and the target's database, and the
//! commits the promotion would bring. A failing gate blocks the request (an admin may
//! override it with a reason); otherwise it waits for approvals.
use super::{audit, PromotionContext};
use crate::gates::{self, GateInput};
use crate::logs::sink::LogSink;
use crate::runner::git;
use crate::runner::process::Output;
use anyhow::{Context, Result};
use app::db::{self, DbClaims};
use app::models::{overall, CommitRow, GateStatus, PromotionState};
use std::path::Path;
use tokio::sync::watch;
use uuid::Uuid;

pub async fn run(ctx: &PromotionContext, claims: &DbClaims, id: Uuid) -> Result<()> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let row = db::promotions::row(&mut tx, id).await?.context("the promotion is gone")?;
    let target = db::promotions::environment(&mut tx, row.target_env_id).await?.context("the target environment is gone")?;
    let job = db::builds::job(&mut tx, row.build_id).await?.context("the build is gone")?;
    let previous_sha: Option<String> = match row.previous_build_number {
        Some(_) => sqlx::query_scalar("select b.sha from ops.promotions p join ops.builds b on b.id = p.previous_build_id where p.id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?,
        None => None,
    };
    let settings = ctx.gate_settings(&mut tx, job.project_id).await?;
    let db_url = ctx.env_db_url(target.database_name.as_deref());
    let msg = format!(
        "running the gates for build #{} against {}{}",
        row.build_number,
        target.name,
        target.database_name.as_deref().map(|d| format!(" (database {d})")).unwrap_or_else(|| " (no database registered)".into())
    );
    db::promotions::add_event(&mut tx, id, PromotionState::PreflightRunning, &msg, "console").await?;
    tx.commit().await?;

    let sink = LogSink::start(ctx.db.clone(), claims.clone(), Some(job.id), Some(target.id));
    let log = sink.writer();
    log.info("promotion", format!("promotion #{}: {msg}", row.number)).await;
    let ws = ctx.data_dir.join("promotions").join(id.to_string());
    let _ = tokio::fs::remove_dir_all(&ws).await;
    let mirror = ctx.data_dir.join("repos").join(format!("{}.git", job.project_id));
    let out = Output { log: log.clone(), source: "git", meta: serde_json::json!({"promotion": row.number}) };
    let (_keep, never) = watch::channel(false);
    let checked_out = if job.repo_url.trim().is_empty() {
        log.warning("promotion", "the project has no repository: file gates are skipped").await;
        false
    } else {
        match git::checkout(&job.repo_url, &mirror, &ws, &job.sha, &out, &never).await {
            Ok(()) => true,
            Err(e) => {
                log.warning("promotion", format!("could not check out the build ({e:?}): file gates are skipped")).await;
                false
            }
        }
    };
    let commits = if checked_out { commits_between(&mirror, previous_sha.as_deref(), &job.sha).await } else { Vec::new() };
    let report = gates::run_all(&GateInput { workspace: checked_out.then_some(ws.as_path()), database_url: db_url.as_deref(), settings: &settings }).await;
    let _ = tokio::fs::remove_dir_all(&ws).await;
    let worst = overall(&report.results);
    for r in &report.results {
        log.info("promotion", format!("gate {}: {} — {}", r.gate.as_str(), r.status.as_str(), r.summary)).await;
    }
    drop((out, log));
    sink.close().await;

    let mut tx = ctx.db.tenant_tx(claims).await?;
    db::promotions::insert_gate_results(&mut tx, job.project_id, job.id, Some(id), Some(target.id), &report.results).await?;
    super::deploy::notify_disabled_jobs(&mut tx, job.project_id, target.id, &target.name, &report.disabled_jobs).await?;
    db::promotions::set_preflight_result(&mut tx, id, worst.as_str(), &commits).await?;
    let failing: Vec<String> = report.results.iter().filter(|r| r.status == GateStatus::Fail).map(|r| format!("{}: {}", r.gate.title(), r.summary)).collect();
    if failing.is_empty() {
        let warn = report.results.iter().filter(|r| r.status == GateStatus::Warn).count();
        let msg = if warn > 0 { format!("gates passed with {warn} warning(s); waiting for approval") } else { "all gates passed; waiting for approval".to_string() };
        if db::promotions::transition(&mut tx, id, PromotionState::AwaitingApproval, None).await? {
            db::promotions::add_event(&mut tx, id, PromotionState::AwaitingApproval, &msg, "console").await?;
            audit(&mut tx, "promotion.preflight_passed", &id.to_string(), serde_json::json!({"number": row.number, "overall": worst.as_str(), "commits": commits.len()})).await?;
        }
    } else {
        let msg = format!("blocked by {} failing gate(s): {}", failing.len(), failing.join("; "));
        if db::promotions::transition(&mut tx, id, PromotionState::PreflightFailed, Some(&msg)).await? {
            db::promotions::add_event(&mut tx, id, PromotionState::PreflightFailed, &msg, "console").await?;
            audit(&mut tx, "promotion.preflight_failed", &id.to_string(), serde_json::json!({"number": row.number, "failing": failing})).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Commits in `to` that `from` lacks (newest first, at most 200); without `from`, the last
/// 20 commits of `to`.
pub async fn commits_between(mirror: &Path, from: Option<&str>, to: &str) -> Vec<CommitRow> {
    let range = match from {
        Some(f) if f != to => format!("{f}..{to}"),
        Some(_) => return Vec::new(),
        None => to.to_string(),
    };
    let limit = if from.is_some() { "200" } else { "20" };
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(mirror)
        .args(["log", "--no-color", "-n", limit, "--format=%H%x1f%an%x1f%aI%x1f%s", &range])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await;
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut p = l.split('\u{1f}');
            Some(CommitRow { sha: p.next()?.to_string(), author: p.next()?.to_string(), date: p.next()?.to_string(), subject: p.next().unwrap_or_default().to_string() })
        })
        .collect()
}
