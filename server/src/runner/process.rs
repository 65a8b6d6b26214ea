//! Running one command in its own process group, streaming each output line into the log,
//! with a timeout and a cancel signal that kill the whole group (grandchildren included).
use crate::logs::level;
use crate::logs::sink::LogWriter;
use app::models::LogLevel;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How a command ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    Exited(i32),
    /// Killed by a signal (no exit code).
    Killed,
    TimedOut,
    Cancelled,
    /// It could not be started at all (missing program, bad directory).
    SpawnFailed(String),
}

/// Where output lines go and how they are labelled.
#[derive(Clone)]
pub struct Output {
    pub log: LogWriter,
    pub source: &'static str,
    pub meta: serde_json::Value,
}

/// Sends SIGTERM to the group, then SIGKILL after `grace`.
pub async fn kill_group(pgid: u32, grace: Duration) {
    let pid = Pid::from_raw(pgid as i32);
    if killpg(pid, Signal::SIGTERM).is_err() {
        return; // already gone
    }
    tokio::time::sleep(grace).await;
    let _ = killpg(pid, Signal::SIGKILL);
}

/// Spawns `cmd` as the leader of a new process group with piped output.
pub fn spawn(mut cmd: Command) -> std::io::Result<Child> {
    cmd.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    cmd.spawn()
}

/// Streams a child's stdout and stderr into `out` until both close.
pub fn stream_output(child: &mut Child, out: &Output) -> tokio::task::JoinHandle<()> {
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (a, b) = (out.clone(), out.clone());
    tokio::spawn(async move {
        let t1 = async {
            if let Some(s) = stdout {
                pump(s, &a, "stdout").await
            }
        };
        let t2 = async {
            if let Some(s) = stderr {
                pump(s, &b, "stderr").await
            }
        };
        tokio::join!(t1, t2);
    })
}

async fn pump(stream: impl AsyncRead + Unpin, out: &Output, name: &str) {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        // Lines are read as bytes: output that is not UTF-8 is kept, lossily, not dropped.
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let line = text.trim_end_matches(['\n', '\r']);
                let mut meta = out.meta.clone();
                if let Some(m) = meta.as_object_mut() {
                    m.insert("stream".into(), name.into());
                }
                out.log.write(level::parse(line, LogLevel::Info), out.source, line, meta).await;
            }
        }
    }
}

/// Runs `cmd` to the end, a timeout, or a cancel; output goes to `out`.
pub async fn run(cmd: Command, out: &Output, timeout: Duration, mut cancel: watch::Receiver<bool>) -> Ended {
    let mut child = match spawn(cmd) {
        Ok(c) => c,
        Err(e) => return Ended::SpawnFailed(e.to_string()),
    };
    let pgid = child.id().unwrap_or(0);
    let readers = stream_output(&mut child, out);
    let ended = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => s.code().map(Ended::Exited).unwrap_or(Ended::Killed),
            Err(e) => Ended::SpawnFailed(e.to_string()),
        },
        _ = tokio::time::sleep(timeout) => Ended::TimedOut,
        _ = wait_true(&mut cancel) => Ended::Cancelled,
    };
    if matches!(ended, Ended::TimedOut | Ended::Cancelled) && pgid > 0 {
        kill_group(pgid, Duration::from_secs(2)).await;
        let _ = child.wait().await;
    } else if pgid > 0 {
        // The leader exited; anything it left behind in its group goes too.
        let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL);
    }
    // Output still buffered in the pipes is read; a stray process holding them open is not
    // waited for beyond a moment.
    drain(readers).await;
    ended
}

/// Waits a moment for the output readers, then stops them: a process that escaped the group
/// (setsid, a daemon) may hold the pipes open forever, and a reader left behind would keep
/// the log sink, and so the build, from ever finishing.
pub async fn drain(mut readers: tokio::task::JoinHandle<()>) {
    if tokio::time::timeout(Duration::from_secs(3), &mut readers).await.is_err() {
        readers.abort();
        let _ = readers.await;
    }
}

/// Resolves once the watched flag is true (never, if the sender is gone while false).
pub async fn wait_true(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
