//! Web shell sessions (issue 8): a real PTY per session, attached over a WebSocket, closed by
//! the server at its TTL (after a warning) or idle timeout whatever the client does, with
//! every byte in and out kept in `ops.exec_events`.
pub mod cast;
pub mod live;
pub mod pty;
pub mod transcript;
pub mod ws;

use crate::promotions::instances::Instances;
use anyhow::Result;
use app::db::shell::SessionTarget;
use app::db::{Db, DbClaims};
use app::models::{EndReason, ExecState};
use live::LiveSession;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct ShellConfig {
    pub shell: PathBuf,
    pub user: pty::OsUser,
    pub data_dir: PathBuf,
    pub scrollback_bytes: usize,
    pub warn_before: Duration,
    /// How long a transcript batch waits for more events.
    pub flush_every: Duration,
    /// How often the sweeper closes sessions nobody closed (crashed console, never attached).
    pub sweep_every: Duration,
}

#[derive(Clone)]
pub struct ShellService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cfg: ShellConfig,
    instances: Instances,
    live: Mutex<HashMap<Uuid, Arc<LiveSession>>>,
    stopping: AtomicBool,
    /// One transcript writer for every session of this console.
    transcripts: transcript::Transcripts,
}

/// Why a browser cannot attach.
#[derive(Debug)]
pub enum AttachError {
    /// The session is over (or expired); it cannot be reopened.
    Gone(String),
    Internal(anyhow::Error),
}

impl ShellService {
    pub fn new(db: Db, cfg: ShellConfig, instances: Instances) -> ShellService {
        let transcripts = transcript::Transcripts::new(db.clone(), cfg.flush_every);
        ShellService { inner: Arc::new(Inner { db, cfg, instances, live: Mutex::default(), stopping: AtomicBool::new(false), transcripts }) }
    }

    pub fn config(&self) -> &ShellConfig {
        &self.inner.cfg
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn transcripts(&self) -> &transcript::Transcripts {
        &self.inner.transcripts
    }

    /// The running session, or a new PTY for a session that never started. A session that
    /// started on another console (or before this one restarted) is closed as lost.
    pub async fn attach(&self, t: &SessionTarget, claims: &DbClaims) -> Result<Arc<LiveSession>, AttachError> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(AttachError::Gone("the console is stopping".into()));
        }
        let mut live = self.inner.live.lock().await;
        if let Some(l) = live.get(&t.id) {
            if l.is_closed() {
                return Err(AttachError::Gone("this session has ended".into()));
            }
            return Ok(l.clone());
        }
        if t.state == ExecState::Closed {
            return Err(AttachError::Gone("this session has ended".into()));
        }
        if t.expires_at <= chrono::Utc::now() {
            return Err(AttachError::Gone("this session's time limit has passed".into()));
        }
        if t.started_at.is_some() {
            drop(live);
            self.close_row(t, claims, EndReason::Lost, None, serde_json::json!({})).await;
            return Err(AttachError::Gone("the console that ran this session went away; open a new one".into()));
        }
        let session = live::start(self, t, claims).await.map_err(AttachError::Internal)?;
        let Some(session) = session else {
            return Err(AttachError::Gone("this session was started elsewhere".into()));
        };
        live.insert(t.id, session.clone());
        drop(live);
        let svc = self.clone();
        let s = session.clone();
        tokio::spawn(async move { svc.watch_limits(s).await });
        Ok(session)
    }

    /// Warns before the TTL and the idle timeout, then closes the session at either.
    async fn watch_limits(&self, s: Arc<LiveSession>) {
        let warn = self.inner.cfg.warn_before;
        let mut ended = s.ended();
        let ttl_warn_at = s.deadline.checked_sub(warn).unwrap_or(s.deadline);
        let mut ttl_warned = false;
        let mut idle_warned = false;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = ended.changed() => return,
                _ = tokio::time::sleep_until(ttl_warn_at.into()), if !ttl_warned => {
                    ttl_warned = true;
                    let left = s.deadline.saturating_duration_since(std::time::Instant::now()).as_secs();
                    s.warn("ttl", left, &format!("This session closes in {left} s (time limit)."), ).await;
                }
                _ = tokio::time::sleep_until(s.deadline.into()) => {
                    self.close(s.id, EndReason::Ttl).await;
                    return;
                }
                _ = tick.tick() => {
                    let idle_for = s.idle_for();
                    if idle_for >= s.idle {
                        self.close(s.id, EndReason::Idle).await;
                        return;
                    }
                    let warn_idle = s.idle.saturating_sub(warn);
                    if idle_for >= warn_idle && !idle_warned && warn_idle > Duration::ZERO {
                        idle_warned = true;
                        let left = (s.idle - idle_for).as_secs();
                        s.warn("idle", left, &format!("No input for a while: this session closes in {left} s unless you type.")).await;
                    } else if idle_for < warn_idle {
                        idle_warned = false;
                    }
                }
            }
        }
    }

    /// Ends a live session: kills its processes, flushes its transcript, records the end and
    /// audits it. Safe to call more than once.
    pub async fn close(&self, id: Uuid, reason: EndReason) {
        let Some(s) = self.inner.live.lock().await.get(&id).cloned() else { return };
        if let Some((exit_code, lost)) = s.shut_down(reason).await {
            let details = serde_json::json!({"bytes_in": s.bytes_in(), "bytes_out": s.bytes_out(), "lost_events": lost,
                                             "duration_seconds": s.started.elapsed().as_secs()});
            self.close_row(&s.target, &s.claims, reason, exit_code, details).await;
            s.finish(reason);
            // Only the call that closed it removes it, once its end is recorded: until then an
            // attach finds it (closed) and is refused, rather than taking it for lost.
            self.inner.live.lock().await.remove(&id);
        }
    }

    /// Marks the row closed and audits `shell.session_ended` (who, environment, how).
    async fn close_row(&self, t: &SessionTarget, claims: &DbClaims, reason: EndReason, exit_code: Option<i32>, mut details: serde_json::Value) {
        details["reason"] = serde_json::json!(reason);
        details["environment"] = serde_json::json!(t.environment_name);
        details["stage"] = serde_json::json!(t.stage);
        details["ttl_minutes"] = serde_json::json!(t.ttl_seconds / 60);
        if let Some(c) = exit_code {
            details["exit_code"] = serde_json::json!(c);
        }
        let done = async {
            let mut tx = self.inner.db.tenant_tx(claims).await?;
            if app::db::shell::close_session(&mut tx, t.id, reason, exit_code).await? {
                let entry = app::db::audit::AuditEntry {
                    actor_id: Some(t.user_id),
                    actor_email: &t.user_email,
                    action: "shell.session_ended",
                    target: &t.id.to_string(),
                    details,
                    request_id: "",
                    ip: "",
                };
                app::db::audit::insert(&mut tx, &entry).await?;
            }
            tx.commit().await
        }
        .await;
        if let Err(e) = done {
            tracing::error!(session_id = %t.id, error = %e, "could not record the end of a shell session");
        }
    }

    /// The sweeper: closes (and audits) sessions past their TTL that no console closed.
    /// On shutdown every live session is closed as `server_shutdown` and flushed.
    pub fn start(self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.inner.cfg.sweep_every);
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = tick.tick() => {
                        if let Err(e) = self.sweep().await {
                            tracing::warn!(error = %e, "shell sweep failed");
                        }
                    }
                }
            }
            self.stop_all().await;
        })
    }

    async fn sweep(&self) -> Result<()> {
        let mut tx = self.inner.db.pool().begin().await?;
        let closed: Vec<(Uuid, Uuid, String, String, EndReason)> =
            sqlx::query_as("select * from ops.close_expired_exec_sessions(interval '30 seconds')").fetch_all(&mut *tx).await?;
        tx.commit().await?;
        for (id, tenant_id, email, env, reason) in closed {
            let claims = DbClaims { sub: Uuid::nil(), tenant_id, role: app::models::Role::Admin };
            let mut tx = self.inner.db.tenant_tx(&claims).await?;
            let entry = app::db::audit::AuditEntry {
                actor_id: None,
                actor_email: &email,
                action: "shell.session_ended",
                target: &id.to_string(),
                details: serde_json::json!({"reason": reason, "environment": env, "closed_by": "sweeper"}),
                request_id: "",
                ip: "",
            };
            app::db::audit::insert(&mut tx, &entry).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Closes every live session of this console (the console is stopping).
    pub async fn stop_all(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let ids: Vec<Uuid> = self.inner.live.lock().await.keys().copied().collect();
        futures::future::join_all(ids.into_iter().map(|id| self.close(id, EndReason::ServerShutdown))).await;
    }

    /// The workspace a shell on `env_id` starts in, and the running build's checkout if any.
    async fn workdir(&self, env_id: Uuid) -> (PathBuf, Option<PathBuf>) {
        let dir = self.inner.cfg.data_dir.join("envs").join(env_id.to_string());
        (dir, self.inner.instances.workspace(env_id).await)
    }

    pub async fn live_count(&self) -> usize {
        self.inner.live.lock().await.len()
    }
}
