//! Helpers for build tests: a local git repository, signed GitHub deliveries, API tokens,
//! waiting for builds, and reading Server-Sent Events and CSV.
#![allow(dead_code)]

use super::TestApp;
use app::models::Role;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const SECRET: &str = "webhook-secret-for-tests";
pub const MARKER: &str = "odooops-preview-marker-7f3a";

/// Steps with output, a harmless warning that never reaches stdout, and a start command.
pub const STEPS_OK: &str = r#"[[steps]]
name = "install"
run = "echo installing; echo 'WARNING: just a note' >/dev/null; echo done"

[[steps]]
name = "test"
run = "echo running tests"

[start]
run = "python3 -m http.server $PORT --bind 127.0.0.1"
"#;

/// A tiny app for previews: files from the checkout, `/echo` answers with what the proxy
/// forwarded, `/away` redirects to an absolute path.
pub const ECHO_APP: &str = r#"import http.server, os

class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/away"):
            self.send_response(302)
            self.send_header("Location", "/index.html")
            self.end_headers()
            return
        if self.path.startswith("/echo"):
            body = "cookie=[{}] prefix=[{}] path=[{}]".format(
                self.headers.get("Cookie", ""), self.headers.get("X-Forwarded-Prefix", ""), self.path).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        return super().do_GET()

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

pub const STEPS_ECHO_APP: &str = "[[steps]]\nname = \"test\"\nrun = \"echo running tests\"\n\n[start]\nrun = \"python3 serve.py\"\n";

/// A git repository in a fresh temporary directory (removed on drop).
pub struct Repo {
    pub dir: PathBuf,
}

impl Repo {
    pub fn new() -> Repo {
        let dir = std::env::temp_dir().join(format!("odooops-repo-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = Repo { dir };
        r.git(&["init", "-q", "-b", "main"]);
        r.git(&["config", "user.name", "Ann Example"]);
        r.git(&["config", "user.email", "ann@example.com"]);
        r.git(&["config", "commit.gpgsign", "false"]);
        r
    }

    /// A repository whose `main` holds `.odooops.toml` = `steps` and an index.html with [`MARKER`].
    pub fn with_steps(steps: &str) -> (Repo, String) {
        let r = Repo::new();
        let index = format!("<!doctype html><html><body><h1>{MARKER}</h1></body></html>\n");
        let sha = r.commit(&[(".odooops.toml", steps), ("index.html", &index)], "first commit");
        (r, sha)
    }

    /// Like [`Repo::with_steps`], with more files in the first commit.
    pub fn with_files(steps: &str, files: &[(&str, &str)]) -> (Repo, String) {
        let r = Repo::new();
        let index = format!("<!doctype html><html><body><h1>{MARKER}</h1></body></html>\n");
        let mut all = vec![(".odooops.toml", steps), ("index.html", index.as_str())];
        all.extend_from_slice(files);
        let sha = r.commit(&all, "first commit");
        (r, sha)
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &self.dir)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes `files`, commits them on the current branch and returns the new commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (name, text) in files {
            let path = self.dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(path, text).unwrap();
            self.git(&["add", name]);
        }
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn url(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sets the project's webhook secret and repository URL, as the owner.
pub async fn configure_project(app: &TestApp, secret: &str, repo_url: &str) {
    sqlx::query("update ops.projects set webhook_secret = $1, repo_url = $2 where id = $3")
        .bind(secret)
        .bind(repo_url)
        .bind(app.project_id)
        .execute(&app.owner)
        .await
        .unwrap();
}

/// A push event as GitHub sends it.
pub fn push_payload(branch: &str, sha: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "ref": format!("refs/heads/{branch}"),
        "after": sha,
        "deleted": false,
        "head_commit": {"id": sha, "message": message, "author": {"name": "Ann", "username": "ann"}},
        "repository": {"full_name": "acme/erp"},
    }))
    .unwrap()
}

pub fn delete_payload(branch: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "ref": format!("refs/heads/{branch}"),
        "after": "0000000000000000000000000000000000000000",
        "deleted": true,
        "head_commit": null,
        "repository": {"full_name": "acme/erp"},
    }))
    .unwrap()
}

/// POSTs `body` to the project's webhook with GitHub's headers; `signature` None sends none.
pub async fn deliver_raw(app: &TestApp, project_id: Uuid, event: &str, guid: &str, body: Vec<u8>, signature: Option<String>) -> reqwest::Response {
    let mut req = app
        .client()
        .post(app.url(&format!("/api/webhooks/github/{project_id}")))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", guid)
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/test");
    if let Some(sig) = signature {
        req = req.header("X-Hub-Signature-256", sig);
    }
    req.body(body).send().await.unwrap()
}

/// A correctly signed delivery; returns the status and the JSON answer.
pub async fn deliver(app: &TestApp, event: &str, guid: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let sig = odooops::builds::github::sign(SECRET, &body);
    let res = deliver_raw(app, app.project_id, event, guid, body, Some(sig)).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "raw": text })))
}

/// Pushes `sha` of `branch`; returns the id of the build it queued.
pub async fn push(app: &TestApp, branch: &str, sha: &str) -> Uuid {
    let guid = Uuid::new_v4().to_string();
    let (status, body) = deliver(app, "push", &guid, push_payload(branch, sha, "a commit")).await;
    assert_eq!(status, 202, "push accepted: {body}");
    body["build_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()).expect("a build id")
}

pub async fn build_state(app: &TestApp, build_id: Uuid) -> String {
    sqlx::query_scalar("select state::text from ops.builds where id = $1").bind(build_id).fetch_one(&app.owner).await.unwrap()
}

/// Waits until the build has finished (any final state) and returns that state.
pub async fn wait_finished(app: &TestApp, build_id: Uuid, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let state = build_state(app, build_id).await;
        if ["success", "warning", "failed", "cancelled"].contains(&state.as_str()) {
            return state;
        }
        if Instant::now() > deadline {
            let log = log_messages(app, build_id).await.join("\n");
            panic!("build {build_id} still {state} after {within:?}; log so far:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `sql` (one uuid parameter, returning a boolean) holds.
pub async fn wait_until(app: &TestApp, sql: &str, id: Uuid, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    loop {
        let ok: Option<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).bind(id).fetch_optional(&app.owner).await.unwrap();
        if ok == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The build's log messages in reading order.
pub async fn log_messages(app: &TestApp, build_id: Uuid) -> Vec<String> {
    sqlx::query_scalar("select message from ops.run_events where job_id = $1 order by tx, id").bind(build_id).fetch_all(&app.owner).await.unwrap()
}

/// Creates an API token through the admin screen's server function; returns the secret.
pub async fn api_token(app: &TestApp, role: Role, project: &str) -> String {
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let name = format!("ci-{}", &Uuid::new_v4().simple().to_string()[..6]);
    let form = [("token[name]", name.as_str()), ("token[role]", role.as_str()), ("token[project]", project), ("token[expires_in_days]", "30")];
    let res = admin.post(app.url("/api/tokens/create")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200, "token created");
    let created: serde_json::Value = res.json().await.unwrap();
    created["token"].as_str().expect("the token is shown once").to_string()
}

/// Creates an external build through the CI API; returns its id.
pub async fn ci_build(app: &TestApp, token: &str, branch: &str) -> Uuid {
    let sha = random_sha();
    let res = app
        .client()
        .post(app.url("/api/v1/builds"))
        .bearer_auth(token)
        .json(&serde_json::json!({"project": "erp", "branch": branch, "sha": sha}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: serde_json::Value = res.json().await.unwrap();
    Uuid::parse_str(v["id"].as_str().unwrap()).unwrap()
}

/// Appends lines through the CI API (`(message, level)`; level None lets the server guess).
pub async fn ci_log(app: &TestApp, token: &str, build_id: Uuid, lines: &[(&str, Option<&str>)]) {
    let lines: Vec<serde_json::Value> = lines
        .iter()
        .map(|(m, l)| match l {
            Some(l) => serde_json::json!({"message": m, "level": l}),
            None => serde_json::json!({"message": m}),
        })
        .collect();
    let res = app
        .client()
        .post(app.url(&format!("/api/v1/builds/{build_id}/logs")))
        .bearer_auth(token)
        .json(&serde_json::json!({ "lines": lines }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap_or_default());
}

pub fn random_sha() -> String {
    format!("{}{}", Uuid::new_v4().simple(), &Uuid::new_v4().simple().to_string()[..8])
}

/// Waits until every committed log line of the cluster is past the readers' horizon
/// (lines are shown once no older transaction is still running anywhere).
pub async fn wait_visible(app: &TestApp, build_id: Uuid) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok: bool = sqlx::query_scalar(
            "select coalesce(max(tx) < pg_snapshot_xmin(pg_current_snapshot()), true) from ops.run_events where job_id = $1",
        )
        .bind(build_id)
        .fetch_one(&app.owner)
        .await
        .unwrap();
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "log lines never became visible");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Server-Sent Events.

#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Reads events from a streaming response, chunk by chunk.
pub struct SseReader {
    res: reqwest::Response,
    buf: String,
}

impl SseReader {
    pub fn new(res: reqwest::Response) -> SseReader {
        SseReader { res, buf: String::new() }
    }

    /// The next event (comments and keep-alives skipped), or None at the end or after `within`.
    pub async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..pos + 2).collect();
                let mut ev = SseEvent { event: "message".into(), ..Default::default() };
                let mut data = Vec::new();
                let mut any = false;
                for line in block.lines() {
                    let (field, value) = match line.split_once(':') {
                        Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                        None => (line, ""),
                    };
                    match field {
                        "" => {}
                        "id" => {
                            ev.id = Some(value.to_string());
                            any = true;
                        }
                        "event" => {
                            ev.event = value.to_string();
                            any = true;
                        }
                        "data" => {
                            data.push(value.to_string());
                            any = true;
                        }
                        _ => {}
                    }
                }
                if any {
                    ev.data = data.join("\n");
                    return Some(ev);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk()).await.ok()?.ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }

    /// The next `line` event's id and message.
    pub async fn next_line(&mut self, within: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let ev = self.next(left).await?;
            if ev.event == "line" {
                let v: serde_json::Value = serde_json::from_str(&ev.data).expect("a line event carries JSON");
                return Some((ev.id.expect("a line event has an id"), v["message"].as_str().unwrap().to_string()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// CSV (RFC 4180).

pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Process ids whose command line contains `pattern`.
pub fn pgrep(pattern: &str) -> Vec<u32> {
    let out = Command::new("pgrep").arg("-f").arg(pattern).output().expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect()
}

pub fn remove_dir(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
}
