//! Previews: a successful build with a `start` step runs on a free loopback port and is
//! reached through the console (`/preview/<branch slug>/`). Rows in `ops.previews` are the
//! truth: stopping a preview is a state change any console can make (a closed PR, the
//! per-project limit, a deleted branch); the console that runs it notices and kills it.
pub mod proxy;

use crate::logs::sink::LogSink;
use crate::runner::process::{self, Output};
use crate::runner::step_command;
use app::db::builds::BuildJob;
use app::db::previews;
use app::db::{Db, DbClaims};
use app::models::{PreviewState, StartStep};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};
use uuid::Uuid;

struct Running {
    claims: DbClaims,
    pgid: u32,
    workspace: PathBuf,
}

#[derive(Clone)]
pub struct PreviewManager {
    db: Db,
    idle_ttl: Duration,
    worker: String,
    running: Arc<Mutex<HashMap<Uuid, Running>>>,
    /// Set (under the `running` lock) once the console stops: a preview whose build finished
    /// just then is not started, or is killed at once, instead of outliving the console.
    closed: Arc<AtomicBool>,
}

impl PreviewManager {
    pub fn new(db: Db, idle_ttl: Duration) -> PreviewManager {
        PreviewManager { db, idle_ttl, worker: format!("pid-{}", std::process::id()), running: Arc::default(), closed: Arc::default() }
    }

    /// Starts the build's `start` command and waits until it answers (or gives up).
    #[tracing::instrument(skip_all, fields(build_id = %job.id))]
    pub async fn start(&self, claims: &DbClaims, job: &BuildJob, start: StartStep, workspace: PathBuf) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let sink = LogSink::start(self.db.clone(), claims.clone(), Some(job.id), job.env_id);
        let log = sink.writer();
        let prepared = async {
            let mut tx = self.db.tenant_tx(claims).await?;
            // A newer build replaces the branch's preview; the project limit stops the oldest.
            previews::stop_for_branch(&mut tx, job.branch_id, &format!("replaced by build #{}", job.number)).await?;
            let live = previews::live_in_project(&mut tx, job.project_id).await?;
            let limit = job.preview_limit.max(0) as usize;
            let excess = (live.len() + 1).saturating_sub(limit.max(1));
            for id in live.iter().take(excess) {
                previews::set_state(&mut tx, *id, PreviewState::Stopped, &format!("preview limit of {limit} reached")).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        if let Err(e) = prepared {
            tracing::error!(error = %e, "could not prepare the preview");
            return;
        }
        let port = match free_port() {
            Ok(p) => p,
            Err(e) => {
                log.error("preview", format!("no free port for the preview: {e}")).await;
                return;
            }
        };
        let id = match self.insert(claims, job, port).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "could not record the preview");
                return;
            }
        };
        log.info("preview", format!("starting the preview on port {port}: {}", start.run)).await;
        let cmd = step_command(&start.run, &workspace, job, Some(port));
        let mut child = match process::spawn(cmd) {
            Ok(c) => c,
            Err(e) => {
                log.error("preview", format!("the start command could not run: {e}")).await;
                self.set_state(claims, id, PreviewState::Failed, "could not start").await;
                return;
            }
        };
        let pgid = child.id().unwrap_or(0);
        let out = Output { log: log.clone(), source: "app", meta: serde_json::json!({"preview": id}) };
        let readers = process::stream_output(&mut child, &out);
        {
            let mut running = self.running.lock().await;
            if self.closed.load(Ordering::SeqCst) {
                drop(running);
                if pgid > 0 {
                    process::kill_group(pgid, Duration::from_secs(2)).await;
                }
                let _ = child.wait().await;
                process::drain(readers).await;
                self.set_state(claims, id, PreviewState::Stopped, "the console stopped").await;
                let _ = tokio::fs::remove_dir_all(&workspace).await;
                drop((out, log));
                sink.close().await;
                return;
            }
            running.insert(id, Running { claims: claims.clone(), pgid, workspace: workspace.clone() });
        }

        let ready = wait_ready(port, start.health_path.as_deref(), start.ready_timeout(), &mut child).await;
        match ready {
            Ok(()) => {
                self.set_state(claims, id, PreviewState::Running, "").await;
                log.info("preview", format!("preview is up (port {port})")).await;
            }
            Err(why) => {
                log.error("preview", format!("the preview did not come up: {why}")).await;
                self.set_state(claims, id, PreviewState::Failed, &why).await;
            }
        }
        // Whatever happens next, an exit is recorded and the app's output keeps flowing
        // into the build's log until then.
        let me = self.clone();
        let claims = claims.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            process::drain(readers).await;
            let why = match status {
                Ok(s) => format!("the app exited ({s})"),
                Err(e) => format!("the app was lost: {e}"),
            };
            if me.running.lock().await.remove(&id).is_some() {
                log.info("preview", why.clone()).await;
                me.set_state(&claims, id, PreviewState::Failed, &why).await;
            }
            drop(log);
            sink.close().await;
        });
    }

    async fn insert(&self, claims: &DbClaims, job: &BuildJob, port: u16) -> Result<Uuid, sqlx::Error> {
        let mut tx = self.db.tenant_tx(claims).await?;
        let id = previews::insert_starting(&mut tx, job.project_id, job.branch_id, job.id, port, &self.worker).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn set_state(&self, claims: &DbClaims, id: Uuid, state: PreviewState, reason: &str) {
        let done = async {
            let mut tx = self.db.tenant_tx(claims).await?;
            previews::set_state(&mut tx, id, state, reason).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, preview_id = %id, "could not record the preview state");
        }
    }

    /// Every two seconds: stop what was asked to stop elsewhere and what sat idle too long.
    pub fn start_reaper(&self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.changed() => {
                        me.stop_all("the console stopped").await;
                        return;
                    }
                    _ = tokio::time::sleep(Duration::from_secs(2)) => me.reap().await,
                }
            }
        })
    }

    async fn reap(&self) {
        let ids: Vec<(Uuid, DbClaims)> = self.running.lock().await.iter().map(|(id, r)| (*id, r.claims.clone())).collect();
        for (id, claims) in ids {
            let state = async {
                let mut tx = self.db.tenant_tx(&claims).await?;
                let s = previews::state_of(&mut tx, id).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(s)
            }
            .await;
            match state {
                Ok(Some((PreviewState::Stopped | PreviewState::Failed, _))) | Ok(None) => self.kill(id).await,
                Ok(Some((PreviewState::Running, last))) if (chrono::Utc::now() - last).to_std().unwrap_or_default() > self.idle_ttl => {
                    let mins = self.idle_ttl.as_secs() / 60;
                    self.set_state(&claims, id, PreviewState::Stopped, &format!("idle for more than {mins} min")).await;
                    self.kill(id).await;
                }
                _ => {}
            }
        }
    }

    async fn kill(&self, id: Uuid) {
        let gone = self.running.lock().await.remove(&id);
        if let Some(r) = gone {
            if r.pgid > 0 {
                process::kill_group(r.pgid, Duration::from_secs(2)).await;
            }
            let _ = tokio::fs::remove_dir_all(&r.workspace).await;
        }
    }

    /// Stops every preview of this process; none starts afterwards.
    pub async fn stop_all(&self, reason: &str) {
        let ids: Vec<(Uuid, DbClaims)> = {
            let running = self.running.lock().await;
            self.closed.store(true, Ordering::SeqCst);
            running.iter().map(|(id, r)| (*id, r.claims.clone())).collect()
        };
        for (id, claims) in ids {
            self.set_state(&claims, id, PreviewState::Stopped, reason).await;
            self.kill(id).await;
        }
    }

    pub async fn running_count(&self) -> usize {
        self.running.lock().await.len()
    }
}

pub(crate) fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Waits until the port accepts connections (and `health_path` answers below 500).
pub(crate) async fn wait_ready(port: u16, health_path: Option<&str>, timeout: Duration, child: &mut tokio::process::Child) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).redirect(reqwest::redirect::Policy::none()).build().map_err(|e| e.to_string())?;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the start command exited before it was ready ({status})"));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            match health_path {
                None => return Ok(()),
                Some(p) => {
                    if let Ok(r) = client.get(format!("http://127.0.0.1:{port}{p}")).send().await {
                        if r.status().as_u16() < 500 {
                            return Ok(());
                        }
                    }
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("nothing answered on port {port} within {}s", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
