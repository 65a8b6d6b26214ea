//! Fetching a project's repository into a per-project mirror and checking out one commit
//! into a per-build workspace. Any URL git accepts works (https, ssh, a local path).
use super::process::{self, Ended, Output};
use std::path::Path;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::watch;

#[derive(Debug, Clone, PartialEq)]
pub enum GitError {
    /// The remote could not be reached or read (retried: it is the machinery's fault).
    Unreachable(String),
    /// The remote answered but has no such commit (the build's fault: not retried).
    MissingCommit(String),
    /// Local trouble: disk, permissions (retried).
    Local(String),
    Cancelled,
}

const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

fn git(dir: Option<&Path>) -> Command {
    let mut c = Command::new("git");
    if let Some(d) = dir {
        c.arg("-C").arg(d);
    }
    // Never wait for a password prompt, never ask about host keys.
    c.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new")
        .env("GIT_ASKPASS", "true")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    c
}

async fn run(cmd: Command, out: &Output, timeout: Duration, cancel: &watch::Receiver<bool>) -> Result<(), Ended> {
    match process::run(cmd, out, timeout, cancel.clone()).await {
        Ended::Exited(0) => Ok(()),
        other => Err(other),
    }
}

/// Quiet check (no log output): does the mirror hold `sha` as a commit?
async fn has_commit(mirror: &Path, sha: &str) -> bool {
    git(Some(mirror))
        .args(["cat-file", "-e", &format!("{sha}^{{commit}}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Brings `sha` of `url` into `workspace` (which must not exist yet).
pub async fn checkout(url: &str, mirror: &Path, workspace: &Path, sha: &str, out: &Output, cancel: &watch::Receiver<bool>) -> Result<(), GitError> {
    let map = |e: Ended, what: &str| match e {
        Ended::Cancelled => GitError::Cancelled,
        Ended::TimedOut => GitError::Unreachable(format!("{what} timed out")),
        Ended::SpawnFailed(e) => GitError::Local(format!("cannot run git: {e}")),
        _ => GitError::Unreachable(format!("{what} failed (see the git lines above)")),
    };
    if !mirror.join("HEAD").exists() {
        tokio::fs::create_dir_all(mirror).await.map_err(|e| GitError::Local(format!("creating the mirror: {e}")))?;
        let mut init = git(None);
        init.args(["init", "--bare", "-q"]).arg(mirror);
        run(init, out, Duration::from_secs(60), cancel).await.map_err(|e| map(e, "git init"))?;
    }
    // The URL may have changed since the last fetch; `remote` is rewritten every time.
    let mut set = git(Some(mirror));
    set.args(["config", "remote.origin.url", url]);
    run(set, out, Duration::from_secs(30), cancel).await.map_err(|e| map(e, "git config"))?;

    if !has_commit(mirror, sha).await {
        out.log.info("git", format!("fetching {}", redact(url))).await;
        let mut fetch = git(Some(mirror));
        fetch.args(["fetch", "--prune", "--force", "--no-tags", "origin", "+refs/heads/*:refs/heads/*", "+refs/pull/*/head:refs/pull/*/head"]);
        run(fetch, out, FETCH_TIMEOUT, cancel).await.map_err(|e| map(e, "git fetch"))?;
    }
    if !has_commit(mirror, sha).await {
        // Not on any branch (a force-pushed-away commit, say): ask for it by id.
        let mut fetch = git(Some(mirror));
        fetch.args(["fetch", "--no-tags", "origin", sha]);
        let _ = run(fetch, out, FETCH_TIMEOUT, cancel).await;
        if !has_commit(mirror, sha).await {
            return Err(GitError::MissingCommit(format!("commit {sha} is not in the repository")));
        }
    }
    if let Some(parent) = workspace.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| GitError::Local(format!("creating the workspace: {e}")))?;
    }
    let mut clone = git(None);
    clone.args(["clone", "-q", "--shared", "--no-checkout"]).arg(mirror).arg(workspace);
    run(clone, out, Duration::from_secs(300), cancel).await.map_err(|e| map(e, "git clone"))?;
    let mut co = git(Some(workspace));
    co.args(["checkout", "-q", "--detach", sha]);
    run(co, out, Duration::from_secs(300), cancel).await.map_err(|e| match e {
        Ended::Cancelled => GitError::Cancelled,
        _ => GitError::Local("git checkout failed".into()),
    })?;
    out.log.info("git", format!("checked out {sha}")).await;
    Ok(())
}

/// A URL fit for a log line: credentials in it are masked.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(super::redact("https://user:tok@github.com/a/b.git"), "https://***@github.com/a/b.git");
        assert_eq!(super::redact("/srv/repos/a.git"), "/srv/repos/a.git");
    }
}
