//! A shell in a real PTY (pty-process: the master is non-blocking and driven by the async
//! runtime, so a keystroke goes from the socket's task into the PTY and its echo straight
//! back, with no thread per session): spawned in its own session (setsid), as an
//! unprivileged user when the console is root, with an explicit environment (nothing of the
//! console's own environment, which holds its secrets, is passed on).
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Who the shell runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsUser {
    pub name: String,
    /// Set when the console switches to this user (it is root); None: the console's own.
    pub ids: Option<(u32, u32)>,
}

/// Resolves the configured user. As root with a known user: that user. Otherwise the
/// console's own user (an unknown name is logged, not fatal: "where the host allows it").
pub fn resolve_user(configured: &str) -> OsUser {
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid()).ok().flatten().map(|u| u.name).unwrap_or_else(|| "console".into());
    let wanted = configured.trim();
    if !nix::unistd::geteuid().is_root() || wanted.is_empty() || wanted == "-" {
        return OsUser { name: me, ids: None };
    }
    match nix::unistd::User::from_name(wanted) {
        Ok(Some(u)) if !u.uid.is_root() => OsUser { name: u.name, ids: Some((u.uid.as_raw(), u.gid.as_raw())) },
        _ => {
            tracing::warn!(user = wanted, "shell user not found (or root): shells run as the console's user");
            OsUser { name: me, ids: None }
        }
    }
}

pub struct Spawn<'a> {
    pub shell: &'a Path,
    pub user: &'a OsUser,
    pub workdir: &'a Path,
    pub env: Vec<(String, String)>,
    pub cols: u16,
    pub rows: u16,
}

pub struct Pty {
    pub reader: pty_process::OwnedReadPty,
    /// Writes keystrokes and resizes the terminal.
    pub writer: pty_process::OwnedWritePty,
    pub child: tokio::process::Child,
    /// The shell's pid, which is also its session and process-group id.
    pub pid: i32,
}

/// The argv for the shell: bash without profile or rc files (a predictable prompt), others `-i`.
fn argv(s: &Spawn<'_>) -> Vec<String> {
    let shell = s.shell.to_string_lossy().to_string();
    let mut inner = vec![shell.clone()];
    if shell.ends_with("bash") {
        inner.extend(["--noprofile".into(), "--norc".into()]);
    }
    inner.push("-i".into());
    match s.user.ids {
        // setpriv (util-linux) drops to the user and keeps no supplementary groups; the
        // shell can never gain privileges again (no_new_privs).
        Some((uid, gid)) => {
            let mut v = vec!["setpriv".to_string(), format!("--reuid={uid}"), format!("--regid={gid}"), "--clear-groups".into(), "--no-new-privs".into(), "--".into()];
            v.extend(inner);
            v
        }
        None => inner,
    }
}

pub fn spawn(s: Spawn<'_>) -> Result<Pty> {
    let (pty, pts) = pty_process::open().context("open a PTY")?;
    pty.resize(pty_process::Size::new(s.rows.max(2), s.cols.max(2))).context("size the PTY")?;
    let args = argv(&s);
    let cmd = pty_process::Command::new(&args[0]).args(&args[1..]).env_clear().envs(s.env.iter().map(|(k, v)| (k, v))).current_dir(s.workdir);
    // `spawn` takes the slave side: once it returns only the child holds it, so reads end
    // when the shell's session is gone.
    let child = cmd.spawn(pts).with_context(|| format!("start {}", args.join(" ")))?;
    let pid = child.id().context("the shell has no pid")? as i32;
    let (reader, writer) = pty.into_split();
    Ok(Pty { reader, writer, child, pid })
}

/// Makes `dir` (and nothing below it) the shell user's, so the shell can write there.
pub fn prepare_workdir(dir: &Path, user: &OsUser) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    if let Some((uid, gid)) = user.ids {
        nix::unistd::chown(dir, Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(gid))).with_context(|| format!("chown {}", dir.display()))?;
    }
    Ok(dir.to_path_buf())
}

/// Every process of the shell's session (the shell, its jobs in their own process groups,
/// their children), found through /proc.
pub fn session_members(sid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // pid (comm) state ppid pgrp session ...: comm may hold spaces and parens.
                    // Zombies are gone already (they only wait for their parent to reap them).
                    let mut f = stat[stat.rfind(')')? + 1..].split_whitespace();
                    let state = f.next()?;
                    (state != "Z" && state != "X").then_some(())?;
                    f.nth(2).and_then(|s| s.parse::<i32>().ok())
                })
                == Some(sid)
        })
        .collect()
}

/// Signals the whole session: SIGHUP first, SIGKILL for what is left after `grace`.
pub async fn kill_session(sid: i32, grace: std::time::Duration) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    for pid in session_members(sid) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGHUP);
        let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
    }
    let until = tokio::time::Instant::now() + grace;
    loop {
        let left = session_members(sid);
        if left.is_empty() {
            return;
        }
        if tokio::time::Instant::now() >= until {
            for pid in left {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_root_console_drops_to_the_shell_user_with_setpriv() {
        let user = OsUser { name: "nobody".into(), ids: Some((65534, 65534)) };
        let s = Spawn { shell: Path::new("/bin/bash"), user: &user, workdir: Path::new("/tmp"), env: vec![], cols: 80, rows: 24 };
        assert_eq!(argv(&s), ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--", "/bin/bash", "--noprofile", "--norc", "-i"]);
        let me = OsUser { name: "me".into(), ids: None };
        let s = Spawn { shell: Path::new("/bin/sh"), user: &me, workdir: Path::new("/tmp"), env: vec![], cols: 80, rows: 24 };
        assert_eq!(argv(&s), ["/bin/sh", "-i"]);
    }

    #[tokio::test]
    async fn a_shell_runs_in_a_pty_and_its_whole_session_is_killed() {
        let me = OsUser { name: "me".into(), ids: None };
        let dir = std::env::temp_dir();
        let env = vec![("PATH".to_string(), "/usr/bin:/bin".to_string()), ("PS1".to_string(), "$ ".to_string())];
        let mut pty = spawn(Spawn { shell: Path::new("/bin/sh"), user: &me, workdir: &dir, env, cols: 100, rows: 30 }).unwrap();
        // A background job in its own process group must die with the session too.
        pty.writer.write_all(b"sleep 300 & stty size; tty\n").await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let read = async {
            while !String::from_utf8_lossy(&seen).contains("/dev/pts/") {
                match pty.reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), read).await.expect("the shell answers");
        let out = String::from_utf8_lossy(&seen).to_string();
        assert!(out.contains("30 100"), "stty size in the PTY: {out:?}");
        assert!(session_members(pty.pid).len() >= 2, "shell and its sleep share the session");
        kill_session(pty.pid, std::time::Duration::from_millis(500)).await;
        assert!(session_members(pty.pid).is_empty(), "nothing of the session survives");
        // With the shell gone the master's reads end.
        let end = async {
            loop {
                match pty.reader.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), end).await.expect("EOF after the session is killed");
        let _ = pty.child.wait().await;
    }
}
