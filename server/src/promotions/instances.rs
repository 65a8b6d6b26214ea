//! The app process an environment runs (the embedded runner's "instance"). A deploy starts
//! the new build beside the old one, checks it, and only then stops the old one: a build
//! that does not come up never replaces a working one (blue/green on loopback ports).
use crate::logs::sink::{LogSink, LogWriter};
use crate::previews::{free_port, wait_ready};
use crate::runner::process::{self, Ended, Output};
use crate::runner::{git, step_command};
use app::db::builds::BuildJob;
use app::db::{Db, DbClaims};
use app::models::{BuildConfig, Stage};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Child;
use tokio::sync::{watch, Mutex};
use uuid::Uuid;

struct Running {
    tenant_id: Uuid,
    pgid: u32,
    build_id: Uuid,
    workspace: PathBuf,
}

/// A started and checked process, not yet serving the environment.
pub struct Candidate {
    pub port: u16,
    pgid: u32,
    child: Child,
    readers: tokio::task::JoinHandle<()>,
    /// The app's own output goes to the build's and the environment's log for as long as
    /// it runs; the sink closes when the process is gone.
    sink: LogSink,
    workspace: PathBuf,
    build_id: Uuid,
}

/// What a deploy started.
pub enum Started {
    /// The build has no `[start]` section: the environment only points at it.
    NoStartCommand,
    Up(Candidate),
}

#[derive(Clone)]
pub struct Instances {
    db: Db,
    data_dir: PathBuf,
    running: Arc<Mutex<HashMap<Uuid, Running>>>,
    closed: Arc<AtomicBool>,
}

impl Instances {
    pub fn new(db: Db, data_dir: PathBuf) -> Instances {
        Instances { db, data_dir, running: Arc::default(), closed: Arc::default() }
    }

    /// Checks out the build, starts its `[start]` command on a free port and waits until it
    /// answers (and its health command passes). On error nothing is left running.
    pub async fn start(&self, claims: &DbClaims, env_id: Uuid, env_name: &str, stage: Stage, job: &BuildJob, log: &LogWriter) -> Result<Started, String> {
        if self.closed.load(Ordering::SeqCst) {
            return Err("the console is stopping".into());
        }
        let ws = self.data_dir.join("envs").join(env_id.to_string()).join(format!("{}-{}", job.number, &Uuid::new_v4().simple().to_string()[..6]));
        let mirror = self.data_dir.join("repos").join(format!("{}.git", job.project_id));
        let out = Output { log: log.clone(), source: "git", meta: serde_json::json!({"environment": env_name}) };
        let (_never_tx, never) = watch::channel(false);
        if let Err(e) = git::checkout(&job.repo_url, &mirror, &ws, &job.sha, &out, &never).await {
            let _ = tokio::fs::remove_dir_all(&ws).await;
            return Err(format!("checkout of {} failed: {e:?}", job.sha));
        }
        let text = match tokio::fs::read_to_string(ws.join(".odooops.toml")).await {
            Ok(t) => t,
            Err(_) => job.default_steps.clone(),
        };
        let start = match BuildConfig::parse(&text) {
            Ok(cfg) => cfg.start,
            Err(e) => {
                let _ = tokio::fs::remove_dir_all(&ws).await;
                return Err(format!("the build's steps file does not parse: {e}"));
            }
        };
        let Some(start) = start else {
            let _ = tokio::fs::remove_dir_all(&ws).await;
            return Ok(Started::NoStartCommand);
        };
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let mut cmd = step_command(&start.run, &ws, job, Some(port));
        cmd.env("ODOOOPS_ENVIRONMENT", env_name).env("ODOOOPS_STAGE", stage.as_str());
        log.info("deploy", format!("starting build #{} for {env_name} on port {port}: {}", job.number, start.run)).await;
        let mut child = match process::spawn(cmd) {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_dir_all(&ws).await;
                return Err(format!("the start command could not run: {e}"));
            }
        };
        let pgid = child.id().unwrap_or(0);
        let sink = LogSink::start(self.db.clone(), claims.clone(), Some(job.id), Some(env_id));
        let app_out = Output { log: sink.writer(), source: "app", meta: serde_json::json!({"environment": env_name}) };
        let readers = process::stream_output(&mut child, &app_out);
        drop(app_out);
        let mut cand = Candidate { port, pgid, child, readers, sink, workspace: ws.clone(), build_id: job.id };
        let mut ready = wait_ready(port, start.health_path.as_deref(), start.ready_timeout(), &mut cand.child).await;
        if ready.is_ok() {
            if let Some(check) = &start.health_command {
                log.info("deploy", format!("health check: {check}")).await;
                let mut hc = step_command(check, &ws, job, Some(port));
                hc.env("ODOOOPS_ENVIRONMENT", env_name).env("ODOOOPS_STAGE", stage.as_str());
                let hc_out = Output { log: log.clone(), source: "deploy", meta: serde_json::json!({"environment": env_name, "step": "health"}) };
                ready = match process::run(hc, &hc_out, start.ready_timeout(), never.clone()).await {
                    Ended::Exited(0) => Ok(()),
                    Ended::Exited(code) => Err(format!("the health command exited with code {code}")),
                    Ended::TimedOut => Err("the health command timed out".into()),
                    other => Err(format!("the health command did not finish ({other:?})")),
                };
            }
        }
        match ready {
            Ok(()) => Ok(Started::Up(cand)),
            Err(why) => {
                self.discard(cand).await;
                Err(why)
            }
        }
    }

    /// Makes `cand` the environment's instance and stops the one it replaces. `on_exit` is
    /// called if the process later ends by itself.
    pub async fn promote<F, Fut>(&self, env_id: Uuid, tenant_id: Uuid, cand: Candidate, on_exit: F)
    where
        F: FnOnce(String) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let Candidate { pgid, mut child, readers, sink, workspace, build_id, .. } = cand;
        let old = {
            let mut running = self.running.lock().await;
            running.insert(env_id, Running { tenant_id, pgid, build_id, workspace })
        };
        if let Some(old) = old {
            stop(old).await;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            process::drain(readers).await;
            sink.close().await;
            let mine = {
                let mut running = me.running.lock().await;
                match running.get(&env_id) {
                    Some(r) if r.pgid == pgid => running.remove(&env_id),
                    _ => None,
                }
            };
            // Only an exit nobody asked for is news (a replaced instance is killed on purpose).
            if let Some(r) = mine {
                let _ = tokio::fs::remove_dir_all(&r.workspace).await;
                let why = match status {
                    Ok(s) => format!("the app exited ({s})"),
                    Err(e) => format!("the app was lost: {e}"),
                };
                on_exit(why).await;
            }
        });
    }

    /// Kills a candidate that will not serve.
    pub async fn discard(&self, mut cand: Candidate) {
        if cand.pgid > 0 {
            process::kill_group(cand.pgid, Duration::from_secs(2)).await;
        }
        let _ = cand.child.wait().await;
        process::drain(cand.readers).await;
        cand.sink.close().await;
        let _ = tokio::fs::remove_dir_all(&cand.workspace).await;
    }

    /// Stops the environment's instance, if this console runs one.
    pub async fn stop(&self, env_id: Uuid) {
        let gone = self.running.lock().await.remove(&env_id);
        if let Some(r) = gone {
            stop(r).await;
        }
    }

    /// The build each environment's instance runs here.
    /// The checkout the environment's running instance serves from, if this console runs one.
    pub async fn workspace(&self, env_id: Uuid) -> Option<PathBuf> {
        self.running.lock().await.get(&env_id).map(|r| r.workspace.clone())
    }

    pub async fn running(&self) -> HashMap<Uuid, Uuid> {
        self.running.lock().await.iter().map(|(e, r)| (*e, r.build_id)).collect()
    }

    /// Stops every instance of this console; none starts afterwards. Returns the
    /// environments (with their tenants).
    pub async fn stop_all(&self) -> Vec<(Uuid, Uuid)> {
        self.closed.store(true, Ordering::SeqCst);
        let all: Vec<(Uuid, Running)> = self.running.lock().await.drain().collect();
        let mut envs = Vec::new();
        for (env, r) in all {
            envs.push((env, r.tenant_id));
            stop(r).await;
        }
        envs
    }
}

async fn stop(r: Running) {
    if r.pgid > 0 {
        process::kill_group(r.pgid, Duration::from_secs(2)).await;
    }
    let _ = tokio::fs::remove_dir_all(&r.workspace).await;
}
