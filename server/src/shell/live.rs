//! One running session: its PTY, the threads that pump it, the recent output a reattaching
//! browser gets back, and the broadcast every attached socket reads from.
use super::pty::{self, Spawn};
use super::transcript::Recorder;
use super::ShellService;
use anyhow::Result;
use app::db::shell::SessionTarget;
use app::db::DbClaims;
use app::models::{EndReason, ExecDirection};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, oneshot, watch};
use uuid::Uuid;

/// What attached sockets receive: terminal output, or a JSON control message.
#[derive(Debug, Clone)]
pub enum Frame {
    Output(Bytes),
    Control(Arc<str>),
}

struct Screen {
    recent: Vec<u8>,
    cap: usize,
}

impl Screen {
    fn push(&mut self, data: &[u8]) {
        self.recent.extend_from_slice(data);
        // Trim in large steps (amortized), keeping at most `cap` bytes and starting at a line
        // when one is near, so a replay rarely begins inside an escape sequence.
        if self.recent.len() > self.cap * 2 {
            let mut cut = self.recent.len() - self.cap;
            if let Some(nl) = self.recent[cut..].iter().take(4096).position(|&b| b == b'\n') {
                cut += nl + 1;
            }
            self.recent.drain(..cut);
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        let start = self.recent.len().saturating_sub(self.cap);
        let mut from = start;
        if start > 0 {
            if let Some(nl) = self.recent[start..].iter().take(4096).position(|&b| b == b'\n') {
                from = start + nl + 1;
            }
        }
        self.recent[from..].to_vec()
    }
}

pub struct LiveSession {
    pub id: Uuid,
    pub target: SessionTarget,
    pub claims: DbClaims,
    pub started: Instant,
    pub deadline: Instant,
    pub idle: Duration,
    pid: i32,
    /// The PTY's write side (keystrokes, resizes); the lock keeps one socket's chunk whole
    /// when several write at once. None once the session is shut down.
    writer: tokio::sync::Mutex<Option<pty_process::OwnedWritePty>>,
    child: tokio::sync::Mutex<tokio::process::Child>,
    screen: Mutex<Screen>,
    frames: broadcast::Sender<Frame>,
    recorder: Recorder,
    last_input: Mutex<Instant>,
    closed: AtomicBool,
    end: watch::Sender<Option<EndReason>>,
    reader_done: Mutex<Option<oneshot::Receiver<()>>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// Starts the PTY of a session that never ran; `None` when another attach started it first.
pub async fn start(svc: &ShellService, t: &SessionTarget, claims: &DbClaims) -> Result<Option<Arc<LiveSession>>> {
    let cfg = svc.config().clone();
    let (dir, app_dir) = svc.workdir(t.environment_id).await;
    let workdir = pty::prepare_workdir(&dir, &cfg.user)?;
    let mut tx = svc.db().tenant_tx(claims).await?;
    if !app::db::shell::mark_started(&mut tx, t.id, &cfg.user.name, &workdir.to_string_lossy()).await? {
        return Ok(None);
    }
    tx.commit().await?;
    let mut env = vec![
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()),
        ("HOME", workdir.to_string_lossy().to_string()),
        ("USER", cfg.user.name.clone()),
        ("LOGNAME", cfg.user.name.clone()),
        ("SHELL", cfg.shell.to_string_lossy().to_string()),
        ("TERM", "xterm-256color".to_string()),
        ("COLORTERM", "truecolor".to_string()),
        ("LANG", "C.UTF-8".to_string()),
        ("ODOOOPS_SESSION", t.id.to_string()),
        ("ODOOOPS_PROJECT", t.project_slug.clone()),
        ("ODOOOPS_ENVIRONMENT", t.environment_name.clone()),
        ("ODOOOPS_STAGE", t.stage.as_str().to_string()),
        ("PS1", format!("\\u@{}:\\w\\$ ", t.environment_name)),
    ];
    if let Some(db) = &t.database_name {
        env.push(("PGDATABASE", db.clone()));
    }
    if let Some(app) = &app_dir {
        env.push(("ODOOOPS_APP_DIR", app.to_string_lossy().to_string()));
    }
    let spawned = pty::spawn(Spawn {
        shell: &cfg.shell,
        user: &cfg.user,
        workdir: &workdir,
        env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        cols: 80,
        rows: 24,
    });
    let p = match spawned {
        Ok(p) => p,
        Err(e) => {
            svc.close_row(t, claims, EndReason::Exited, None, serde_json::json!({"error": "the shell could not start"})).await;
            return Err(e);
        }
    };
    let now_utc = chrono::Utc::now();
    let left = (t.expires_at - now_utc).to_std().unwrap_or_default();
    let started = Instant::now();
    let (frames, _) = broadcast::channel(1024);
    let mut reader = p.reader;
    let (done_tx, done_rx) = oneshot::channel();
    let session = Arc::new(LiveSession {
        id: t.id,
        target: t.clone(),
        claims: claims.clone(),
        started,
        deadline: started + left,
        idle: Duration::from_secs(t.idle_seconds.max(1) as u64),
        pid: p.pid,
        writer: tokio::sync::Mutex::new(Some(p.writer)),
        child: tokio::sync::Mutex::new(p.child),
        screen: Mutex::new(Screen { recent: Vec::new(), cap: cfg.scrollback_bytes.max(1024) }),
        frames,
        recorder: svc.transcripts().open(claims.clone(), t.id, started),
        last_input: Mutex::new(started),
        closed: AtomicBool::new(false),
        end: watch::channel(None).0,
        reader_done: Mutex::new(Some(done_rx)),
        bytes_in: AtomicU64::new(0),
        bytes_out: AtomicU64::new(0),
    });
    let reader_session = session.clone();
    let svc = svc.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => reader_session.output(&buf[..n]).await,
            }
        }
        let _ = done_tx.send(());
        let id = reader_session.id;
        drop(reader_session);
        // The shell is gone (exit, or killed by a close already under way).
        svc.close(id, EndReason::Exited).await;
    });
    tracing::info!(session_id = %t.id, environment = %t.environment_name, os_user = %cfg.user.name, "shell started");
    Ok(Some(session))
}

impl LiveSession {
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn ended(&self) -> watch::Receiver<Option<EndReason>> {
        self.end.subscribe()
    }

    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    pub fn idle_for(&self) -> Duration {
        self.last_input.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }

    /// The recent output and a subscription that continues exactly where it ends.
    pub fn attach(&self) -> (Vec<u8>, broadcast::Receiver<Frame>) {
        let screen = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        (screen.snapshot(), self.frames.subscribe())
    }

    fn publish(&self, data: &[u8]) {
        let mut screen = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        screen.push(data);
        let _ = self.frames.send(Frame::Output(Bytes::copy_from_slice(data)));
        self.bytes_out.fetch_add(data.len() as u64, Ordering::Relaxed);
    }

    /// Output of the shell: to attached sockets first, then to the transcript (whose bounded
    /// queue slows the reader, and so the shell, when the database falls behind).
    async fn output(&self, data: &[u8]) {
        self.publish(data);
        self.recorder.record(ExecDirection::Output, data).await;
    }

    /// A line the console itself writes into the terminal (recorded like the shell's output).
    async fn notice(&self, text: &str) {
        let line = format!("\r\n\x1b[1;33m[odooops] {text}\x1b[0m\r\n");
        self.publish(line.as_bytes());
        self.recorder.record(ExecDirection::Output, line.as_bytes()).await;
    }

    pub fn control(&self, msg: serde_json::Value) {
        let _ = self.frames.send(Frame::Control(msg.to_string().into()));
    }

    pub async fn warn(&self, kind: &str, seconds_left: u64, text: &str) {
        self.notice(text).await;
        self.control(serde_json::json!({"type": "warning", "kind": kind, "seconds_left": seconds_left}));
    }

    /// Keystrokes (or a paste) from the browser.
    pub async fn input(&self, data: &[u8]) {
        if self.is_closed() || data.is_empty() {
            return;
        }
        *self.last_input.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
        let mut writer = self.writer.lock().await;
        let Some(w) = writer.as_mut() else { return };
        // Numbered before it reaches the shell, so its echo is always recorded after it.
        self.recorder.record(ExecDirection::Input, data).await;
        if let Err(e) = w.write_all(data).await {
            tracing::debug!(session_id = %self.id, error = %e, "PTY write failed");
        }
    }

    pub async fn resize(&self, cols: u16, rows: u16) -> bool {
        let (cols, rows) = (cols.clamp(2, 1000), rows.clamp(2, 500));
        let done = match self.writer.lock().await.as_ref() {
            Some(w) => w.resize(pty_process::Size::new(rows, cols)).is_ok(),
            None => false,
        };
        if done {
            self.recorder.record(ExecDirection::Resize, format!("{cols}x{rows}").as_bytes()).await;
        }
        done
    }

    /// Kills the shell's session, waits for its last output and flushes the transcript.
    /// Returns (exit code, events lost) the first time, None after.
    pub async fn shut_down(&self, reason: EndReason) -> Option<(Option<i32>, u64)> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return None;
        }
        if reason != EndReason::Exited {
            self.notice(&format!("Session closed: {}.", reason.label())).await;
        }
        pty::kill_session(self.pid, Duration::from_millis(1000)).await;
        self.writer.lock().await.take();
        let done = self.reader_done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(done) = done {
            let _ = tokio::time::timeout(Duration::from_secs(3), done).await;
        }
        let mut exit_code = None;
        for _ in 0..50 {
            let status = self.child.lock().await.try_wait();
            match status {
                Ok(Some(s)) => {
                    use std::os::unix::process::ExitStatusExt;
                    exit_code = s.code().or_else(|| s.signal().map(|sig| 128 + sig));
                    break;
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(_) => break,
            }
        }
        let lost = self.recorder.close().await;
        Some((exit_code, lost))
    }

    /// Tells attached sockets the session is over (after its end is recorded).
    pub fn finish(&self, reason: EndReason) {
        self.control(serde_json::json!({"type": "closed", "reason": reason, "label": reason.label()}));
        let _ = self.end.send(Some(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::Screen;

    #[test]
    fn recent_output_is_bounded_and_starts_at_a_line() {
        let mut s = Screen { recent: Vec::new(), cap: 100 };
        for i in 0..1000 {
            s.push(format!("line {i}\n").as_bytes());
        }
        let snap = s.snapshot();
        assert!(snap.len() <= 100, "{}", snap.len());
        assert!(snap.starts_with(b"line "), "{:?}", String::from_utf8_lossy(&snap));
        assert!(snap.ends_with(b"line 999\n"));
        assert!(s.recent.len() <= 200 + 10);
    }
}
