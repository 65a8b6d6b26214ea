//! The demo's git repository: a few branches with `.odooops.toml` steps (one that warns, one
//! that fails) and a `start` command serving a page, so demo builds run for real, offline.
//! The `dev` branch's newest commit adds a Dockerfile that installs an OS package, so the
//! system-packages gate fails on development builds (and on development → staging), while
//! `main` and `staging` stay clean and staging → production passes.
use anyhow::{Context, Result};
use app::db::builds::{self, NewBuild};
use app::db::DbClaims;
use app::models::{BuildRunner, BuildTrigger, Role};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use uuid::Uuid;

pub struct DemoRepo {
    pub path: PathBuf,
    /// (branch, head sha, message)
    pub heads: Vec<(String, String, String)>,
}

const STEPS: &str = r#"# OdooOps build steps (see the console's docs)
[[steps]]
name = "install"
run = "echo 'Installing modules: base, sale, stock, account'; sleep 1; echo 'INFO modules loaded: 4'"
timeout_seconds = 120

[[steps]]
name = "test"
run = "sh ./run-tests.sh"
timeout_seconds = 300

[start]
run = "python3 -m http.server $PORT --bind 127.0.0.1"
ready_timeout_seconds = 30
"#;

fn tests_script(warn: bool, fail: bool) -> String {
    let mut s = String::from("#!/bin/sh\necho 'Running 42 tests for sale, stock, account'\nfor i in 1 2 3 4 5; do echo \"test_invoice_$i ... ok\"; sleep 0.3; done\n");
    if warn {
        s.push_str("echo 'WARNING odoo.fields: Field sale.order.note is deprecated'\n");
    }
    if fail {
        s.push_str("echo 'ERROR test_stock_rounding: expected 10.0, got 9.99' >&2\necho 'FAILED (failures=1)'\nexit 1\n");
    } else {
        s.push_str("echo 'Ran 42 tests: OK'\n");
    }
    s
}

async fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Demo Developer")
        .env("GIT_AUTHOR_EMAIL", "developer@demo.example.com")
        .env("GIT_COMMITTER_NAME", "Demo Developer")
        .env("GIT_COMMITTER_EMAIL", "developer@demo.example.com")
        .output()
        .await
        .context("running git")?;
    anyhow::ensure!(out.status.success(), "git {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A Dockerfile that works on a laptop and not on the platform (an `apt-get install`).
const DOCKERFILE: &str = "FROM odoo:17.0\n\nUSER root\n# PDF invoices need wkhtmltopdf\nRUN apt-get update && apt-get install -y wkhtmltopdf\nUSER odoo\n\nCOPY . /mnt/extra-addons\n";

/// One commit on `branch` (created from the current HEAD if missing) with the steps and a
/// page, plus `extra` files (name, content).
async fn commit(dir: &Path, branch: &str, warn: bool, fail: bool, message: &str, extra: &[(&str, &str)]) -> Result<String> {
    git(dir, &["checkout", "-q", "-B", branch]).await?;
    for (name, content) in extra {
        tokio::fs::write(dir.join(name), content).await?;
    }
    tokio::fs::write(dir.join(".odooops.toml"), STEPS).await?;
    tokio::fs::write(dir.join("run-tests.sh"), tests_script(warn, fail)).await?;
    let page = format!("<!doctype html><title>Acme ERP · {branch}</title><h1>Acme ERP preview</h1><p>Branch <b>{branch}</b></p>\n");
    tokio::fs::write(dir.join("index.html"), page).await?;
    git(dir, &["add", "-A"]).await?;
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]).await?;
    git(dir, &["rev-parse", "HEAD"]).await
}

/// A demo branch: its step behaviour and its commits on top of `main`, oldest first, each a
/// message and extra files. The newest is what the demo builds.
struct Branch {
    name: &'static str,
    warn: bool,
    fail: bool,
    commits: &'static [(&'static str, &'static [(&'static str, &'static str)])],
}

const BRANCHES: [Branch; 4] = [
    Branch { name: "main", warn: false, fail: false, commits: &[("sale: round invoice totals per line", &[])] },
    Branch { name: "staging", warn: true, fail: false, commits: &[("stock: new picking report (deprecated field still used)", &[])] },
    Branch {
        name: "dev",
        warn: false,
        fail: false,
        commits: &[("account: faster reconciliation", &[]), ("reports: PDF invoices through wkhtmltopdf (Dockerfile)", &[("Dockerfile", DOCKERFILE)])],
    },
    Branch { name: "feature/invoice-layout", warn: false, fail: true, commits: &[("invoice layout: wider product column", &[])] },
];

/// Creates (or reuses) the repository at `path`.
pub async fn create(path: &Path) -> Result<DemoRepo> {
    let fresh = !path.join(".git").exists();
    if fresh {
        tokio::fs::create_dir_all(path).await?;
        git(path, &["init", "-q", "-b", "main"]).await?;
        commit(path, "main", false, false, "Initial import of the Acme ERP modules", &[]).await?;
    }
    let mut heads = Vec::new();
    for b in &BRANCHES {
        if fresh {
            git(path, &["checkout", "-q", "main"]).await?;
            for (message, extra) in b.commits {
                commit(path, b.name, b.warn, b.fail, message, extra).await?;
            }
        }
        let sha = git(path, &["rev-parse", b.name]).await?;
        let message = git(path, &["log", "-1", "--format=%s", b.name]).await?;
        heads.push((b.name.to_string(), sha, message));
    }
    Ok(DemoRepo { path: path.to_path_buf(), heads })
}

/// Points the demo project at the repository and queues one build per branch.
pub async fn queue_builds(owner: &PgPool, tenant_id: Uuid, project_id: Uuid, repo: &DemoRepo) -> Result<()> {
    let mut tx = owner.begin().await?;
    app::db::set_claims(&mut tx, &DbClaims { sub: Uuid::nil(), tenant_id, role: Role::Admin }).await?;
    sqlx::query("update ops.projects set repo_url = $2, webhook_secret = $3 where id = $1")
        .bind(project_id)
        .bind(repo.path.to_string_lossy().to_string())
        .bind(app::auth::token::random_hex(24))
        .execute(&mut *tx)
        .await?;
    for (branch, sha, message) in &repo.heads {
        let new = NewBuild {
            project_id,
            branch,
            sha,
            message,
            author: "demo-developer",
            trigger: BuildTrigger::Push,
            runner: BuildRunner::Embedded,
            pr_number: None,
            requested_by: None,
            delivery_guid: None,
            repo_full_name: "",
            batch_window_secs: 0,
            force: false,
        };
        let slug = builds::preview_slug("acme-erp", branch);
        builds::enqueue(&mut tx, &new, &slug).await?;
    }
    tx.commit().await?;
    Ok(())
}
