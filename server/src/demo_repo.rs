//! The demo's git repository: a few branches with `.odooops.toml` steps (one that warns, one
//! that fails) and a `start` command serving a page, so demo builds run for real, offline.
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

async fn commit(dir: &Path, branch: &str, warn: bool, fail: bool, message: &str) -> Result<String> {
    git(dir, &["checkout", "-q", "-B", branch]).await?;
    tokio::fs::write(dir.join(".odooops.toml"), STEPS).await?;
    tokio::fs::write(dir.join("run-tests.sh"), tests_script(warn, fail)).await?;
    let page = format!("<!doctype html><title>Acme ERP · {branch}</title><h1>Acme ERP preview</h1><p>Branch <b>{branch}</b></p>\n");
    tokio::fs::write(dir.join("index.html"), page).await?;
    git(dir, &["add", "-A"]).await?;
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]).await?;
    git(dir, &["rev-parse", "HEAD"]).await
}

/// Creates (or reuses) the repository at `path`.
pub async fn create(path: &Path) -> Result<DemoRepo> {
    let fresh = !path.join(".git").exists();
    if fresh {
        tokio::fs::create_dir_all(path).await?;
        git(path, &["init", "-q", "-b", "main"]).await?;
        commit(path, "main", false, false, "Initial import of the Acme ERP modules").await?;
    }
    let mut heads = Vec::new();
    for (branch, warn, fail, message) in [
        ("main", false, false, "sale: round invoice totals per line"),
        ("staging", true, false, "stock: new picking report (deprecated field still used)"),
        ("dev", false, false, "account: faster reconciliation"),
        ("feature/invoice-layout", false, true, "invoice layout: wider product column"),
    ] {
        let sha = if fresh {
            git(path, &["checkout", "-q", "main"]).await?;
            commit(path, branch, warn, fail, message).await?
        } else {
            git(path, &["rev-parse", branch]).await?
        };
        heads.push((branch.to_string(), sha, message.to_string()));
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
