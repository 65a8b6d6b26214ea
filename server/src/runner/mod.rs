//! The embedded runner: workers claim queued builds from PostgreSQL (`FOR UPDATE SKIP
//! LOCKED`, through `ops.claim_build`), fetch the commit, run the steps from `.odooops.toml`
//! (or the project's defaults), stream every line into `ops.run_events`, and record the
//! outcome. Infrastructure failures are retried with backoff; build failures are not.
pub mod git;
pub mod process;

use crate::builds::github::StatusClient;
use crate::builds::BuildSettings;
use crate::logs::hub::{Hub, Notice};
use crate::logs::sink::{LogSink, LogWriter};
use crate::previews::PreviewManager;
use app::db::builds::{self, BuildJob, Outcome};
use app::db::{Db, DbClaims};
use app::models::{BuildConfig, BuildState, FailureKind, Role};
use process::{Ended, Output};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::watch;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub workers: usize,
    pub data_dir: PathBuf,
    /// A running build without a heartbeat for this long is taken over by another worker.
    pub stale_after: Duration,
    pub max_attempts: i32,
    pub heartbeat: Duration,
}

#[derive(Clone)]
pub struct Runner {
    db: Db,
    cfg: Arc<RunnerConfig>,
    settings: Arc<BuildSettings>,
    hub: Hub,
    previews: PreviewManager,
    status: Option<StatusClient>,
    /// Gates after each good build, and the environment pointer of development branches.
    promotions: Option<crate::promotions::PromotionContext>,
    /// Identifies this console process in `ops.builds.worker`.
    process_id: String,
}

/// Why a run did not succeed.
#[derive(Debug, Clone, PartialEq)]
enum Failure {
    Infrastructure(String),
    Build { step: Option<String>, error: String },
    Timeout { step: String },
    Cancelled,
}

impl Runner {
    pub fn new(db: Db, cfg: RunnerConfig, settings: Arc<BuildSettings>, hub: Hub, previews: PreviewManager, status: Option<StatusClient>) -> Runner {
        let process_id = format!("{}-{}", hostname(), &Uuid::new_v4().simple().to_string()[..6]);
        Runner { db, cfg: Arc::new(cfg), settings, hub, previews, status, promotions: None, process_id }
    }

    /// Runs the preflight gates after every good build (results on the build card).
    pub fn with_gates(mut self, ctx: crate::promotions::PromotionContext) -> Runner {
        self.promotions = Some(ctx);
        self
    }

    /// Starts the workers; they stop taking builds when `shutdown` turns true.
    pub fn start(&self, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.cfg.workers)
            .map(|i| {
                let r = self.clone();
                let name = format!("{}/{i}", self.process_id);
                tokio::spawn(r.worker_loop(name, shutdown.clone()))
            })
            .collect()
    }

    async fn worker_loop(self, worker: String, mut shutdown: watch::Receiver<bool>) {
        let mut notices = self.hub.subscribe();
        tracing::info!(worker = %worker, "build worker started");
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.claim(&worker).await {
                Ok(Some((build_id, tenant_id, taken_over))) => {
                    self.execute(&worker, build_id, tenant_id, taken_over).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, worker = %worker, "could not claim a build"),
            }
            let wake = async {
                loop {
                    match notices.recv().await {
                        Ok(Notice::Build(b)) if b.state == BuildState::Pending => return,
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                        Err(_) => std::future::pending::<()>().await,
                    }
                }
            };
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = wake => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn claim(&self, worker: &str) -> Result<Option<(Uuid, Uuid, bool)>, sqlx::Error> {
        let stale = format!("{} seconds", self.cfg.stale_after.as_secs().max(1));
        let row: Option<(Uuid, Uuid, i32, bool)> =
            sqlx::query_as("select build_id, tenant_id, attempt, taken_over from ops.claim_build($1, $2::interval)")
                .bind(worker)
                .bind(stale)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(row.map(|(b, t, _, over)| (b, t, over)))
    }

    #[tracing::instrument(skip(self), fields(build_id = %build_id))]
    async fn execute(&self, worker: &str, build_id: Uuid, tenant_id: Uuid, taken_over: bool) {
        let claims = DbClaims { sub: Uuid::nil(), tenant_id, role: Role::Admin };
        let job = match self.load(&claims, build_id).await {
            Ok(Some(j)) => j,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "could not load a claimed build");
                return;
            }
        };
        let sink = LogSink::start(self.db.clone(), claims.clone(), Some(build_id), job.env_id);
        let log = sink.writer();
        if taken_over {
            log.write(app::models::LogLevel::Warning, "runner", "the worker that ran this build stopped answering; starting it again", serde_json::Value::Null).await;
        }
        log.info("runner", format!("build #{} of {} ({}) at {} on {worker}, attempt {}", job.number, job.project_slug, job.branch_name, job.sha, job.attempt + 1)).await;
        self.post_status(&job, "pending", "building").await;

        // Heartbeats keep the claim; they also carry cancel requests back to us.
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let hb = {
            let (db, claims, worker, every) = (self.db.clone(), claims.clone(), worker.to_string(), self.cfg.heartbeat);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let cancel = async {
                        let mut tx = db.tenant_tx(&claims).await?;
                        let c = builds::heartbeat(&mut tx, build_id, &worker).await?;
                        tx.commit().await?;
                        Ok::<_, sqlx::Error>(c)
                    }
                    .await;
                    if let Ok(true) = cancel {
                        let _ = cancel_tx.send(true);
                    }
                }
            })
        };
        let workspace = self.cfg.data_dir.join("builds").join(build_id.to_string());
        let result = self.run_steps(&claims, &job, &workspace, &log, cancel_rx).await;
        hb.abort();

        let (outcome, retry, start) = match result {
            Ok(start) => (Outcome { state: BuildState::Success, failure: None, failed_step: None, error: String::new() }, None, start),
            Err(Failure::Infrastructure(e)) if job.attempt + 1 < self.cfg.max_attempts => {
                let delay = 5i64 * (1 << job.attempt.clamp(0, 6));
                log.write(app::models::LogLevel::Warning, "runner", format!("infrastructure problem: {e}; retrying in {delay}s"), serde_json::Value::Null).await;
                (Outcome { state: BuildState::Pending, failure: None, failed_step: None, error: e }, Some(delay), None)
            }
            Err(Failure::Infrastructure(e)) => (Outcome { state: BuildState::Failed, failure: Some(FailureKind::Infrastructure), failed_step: None, error: e }, None, None),
            Err(Failure::Build { step, error }) => (Outcome { state: BuildState::Failed, failure: Some(FailureKind::Build), failed_step: step, error }, None, None),
            Err(Failure::Timeout { step }) => (
                Outcome { state: BuildState::Failed, failure: Some(FailureKind::Timeout), error: format!("step {step} timed out"), failed_step: Some(step) },
                None,
                None,
            ),
            Err(Failure::Cancelled) => (Outcome { state: BuildState::Cancelled, failure: Some(FailureKind::Cancelled), failed_step: None, error: "cancelled".into() }, None, None),
        };
        if retry.is_none() {
            log.info("runner", format!("build #{} finished: {}{}", job.number, outcome.state, if outcome.error.is_empty() { String::new() } else { format!(" ({})", outcome.error) })).await;
        }
        // Every writer must be gone before the sink can flush its last batch and stop.
        drop(log);
        let stats = sink.close().await;
        let mut outcome = outcome;
        if outcome.state == BuildState::Success && (stats.warnings > 0 || stats.errors > 0) {
            outcome.state = BuildState::Warning;
            outcome.error = format!("{} warning and {} error line(s) in the log", stats.warnings, stats.errors);
        }
        let recorded = async {
            let mut tx = self.db.tenant_tx(&claims).await?;
            let ok = match retry {
                Some(delay) => builds::retry_later(&mut tx, build_id, worker, delay, &outcome.error).await?,
                None => builds::finish(&mut tx, build_id, worker, &outcome).await?,
            };
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ok)
        }
        .await;
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the build was taken over before it finished here; outcome not recorded"),
            Err(e) => tracing::error!(error = %e, "could not record the build outcome"),
        }
        if retry.is_none() {
            let (state, text) = match outcome.state {
                BuildState::Success | BuildState::Warning => ("success", outcome.state.as_str()),
                BuildState::Cancelled => ("error", "cancelled"),
                _ if outcome.failure == Some(FailureKind::Infrastructure) => ("error", "infrastructure failure"),
                _ => ("failure", "failed"),
            };
            self.post_status(&job, state, text).await;
        }
        if matches!(outcome.state, BuildState::Success | BuildState::Warning) && retry.is_none() {
            if let Some(ctx) = &self.promotions {
                if let Err(e) = crate::promotions::after_build(ctx, &claims, &job, &workspace).await {
                    tracing::error!(error = %format!("{e:#}"), "could not run the gates after the build");
                }
            }
        }
        match (start, outcome.state) {
            (Some(start), BuildState::Success | BuildState::Warning) => {
                let previews = self.previews.clone();
                let (job, claims, ws) = (job.clone(), claims.clone(), workspace.clone());
                tokio::spawn(async move { previews.start(&claims, &job, start, ws).await });
            }
            _ => {
                let _ = tokio::fs::remove_dir_all(&workspace).await;
            }
        }
    }

    async fn load(&self, claims: &DbClaims, build_id: Uuid) -> Result<Option<BuildJob>, sqlx::Error> {
        let mut tx = self.db.tenant_tx(claims).await?;
        let job = builds::job(&mut tx, build_id).await?;
        tx.commit().await?;
        Ok(job)
    }

    async fn post_status(&self, job: &BuildJob, state: &str, text: &str) {
        if let Some(client) = &self.status {
            let url = format!("{}/builds/{}", self.settings.public_url, job.id);
            client.post(&job.repo_full_name, &job.sha, state, &format!("OdooOps build #{}: {text}", job.number), &url).await;
        }
    }

    /// Checkout and steps. Returns the `start` step when the build may be previewed.
    async fn run_steps(&self, claims: &DbClaims, job: &BuildJob, ws: &Path, log: &LogWriter, cancel: watch::Receiver<bool>) -> Result<Option<app::models::StartStep>, Failure> {
        if job.repo_url.trim().is_empty() {
            return Err(Failure::Build { step: None, error: "the project has no repository URL".into() });
        }
        let _ = tokio::fs::remove_dir_all(ws).await;
        let mirror = self.cfg.data_dir.join("repos").join(format!("{}.git", job.project_id));
        let out = Output { log: log.clone(), source: "git", meta: serde_json::json!({"step": "checkout"}) };
        git::checkout(&job.repo_url, &mirror, ws, &job.sha, &out, &cancel).await.map_err(|e| match e {
            git::GitError::Unreachable(m) | git::GitError::Local(m) => Failure::Infrastructure(m),
            git::GitError::MissingCommit(m) => Failure::Build { step: Some("checkout".into()), error: m },
            git::GitError::Cancelled => Failure::Cancelled,
        })?;

        let file = ws.join(".odooops.toml");
        let (text, origin) = match tokio::fs::read_to_string(&file).await {
            Ok(t) => (t, ".odooops.toml"),
            Err(_) if !job.default_steps.trim().is_empty() => (job.default_steps.clone(), "the project's default steps"),
            Err(_) => return Err(Failure::Build { step: None, error: "no .odooops.toml in the repository and no default steps for the project".into() }),
        };
        let config = BuildConfig::parse(&text).map_err(|e| Failure::Build { step: None, error: format!("{origin}: {e}") })?;
        log.info("runner", format!("{} step(s) from {origin}{}", config.steps.len(), if config.start.is_some() { ", with a start command for previews" } else { "" })).await;
        let has_start = config.start.is_some();
        if let Ok(mut tx) = self.db.tenant_tx(claims).await {
            let _ = builds::set_has_start(&mut tx, job.id, has_start).await;
            let _ = tx.commit().await;
        }
        for step in &config.steps {
            log.info("runner", format!("▶ step {} (timeout {}s)", step.name, step.timeout().as_secs())).await;
            let started = std::time::Instant::now();
            let cmd = step_command(&step.run, ws, job, None);
            let out = Output { log: log.clone(), source: "build", meta: serde_json::json!({"step": step.name}) };
            let ended = process::run(cmd, &out, step.timeout(), cancel.clone()).await;
            let took = started.elapsed().as_secs_f64();
            match ended {
                Ended::Exited(0) => log.info("runner", format!("✔ step {} passed in {took:.1}s", step.name)).await,
                Ended::Exited(code) => {
                    log.error("runner", format!("✘ step {} failed with exit code {code} after {took:.1}s", step.name)).await;
                    return Err(Failure::Build { step: Some(step.name.clone()), error: format!("step {} exited with code {code}", step.name) });
                }
                Ended::Killed => {
                    log.error("runner", format!("✘ step {} was killed by a signal", step.name)).await;
                    return Err(Failure::Build { step: Some(step.name.clone()), error: format!("step {} was killed", step.name) });
                }
                Ended::TimedOut => {
                    log.error("runner", format!("✘ step {} timed out after {}s; its processes were killed", step.name, step.timeout().as_secs())).await;
                    return Err(Failure::Timeout { step: step.name.clone() });
                }
                Ended::Cancelled => {
                    log.info("runner", format!("step {} stopped: the build was cancelled", step.name)).await;
                    return Err(Failure::Cancelled);
                }
                Ended::SpawnFailed(e) => return Err(Failure::Infrastructure(format!("cannot start a shell: {e}"))),
            }
        }
        Ok(config.start)
    }
}

/// A step's shell command: a clean environment (no console secrets), the build's identity,
/// and `PORT` for a start command.
pub fn step_command(run: &str, ws: &Path, job: &BuildJob, port: Option<u16>) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(run).current_dir(ws).env_clear();
    c.env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()))
        .env("HOME", ws)
        .env("LANG", "C.UTF-8")
        .env("CI", "true")
        .env("ODOOOPS_BUILD_ID", job.id.to_string())
        .env("ODOOOPS_BUILD_NUMBER", job.number.to_string())
        .env("ODOOOPS_COMMIT", &job.sha)
        .env("ODOOOPS_BRANCH", &job.branch_name)
        .env("ODOOOPS_PROJECT", &job.project_slug);
    if let Some(p) = port {
        c.env("PORT", p.to_string());
    }
    c
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "console".into())
}
