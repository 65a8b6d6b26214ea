//! Demo data for `odooops serve --demo`: one tenant, one project with three environments and
//! branches, one user per role. Loading twice changes nothing; the passwords are printed
//! each time from `<data dir>/demo-credentials.txt` (mode 0600).
use crate::admin;
use crate::demo_repo;
use crate::config::Config;
use crate::db::Database;
use anyhow::{Context, Result};
use app::models::Role;
use std::io::Write;
use std::path::Path;
use uuid::Uuid;

pub const TENANT: &str = "demo";

pub fn demo_email(role: Role) -> String {
    format!("{}@demo.example.com", role.as_str())
}

/// Loads the demo into `database` (first time) or prints its credentials (every time).
pub async fn load(database: &Database, cfg: &Config) -> Result<()> {
    let owner = &database.owner;
    let creds_path = cfg.data_dir.join("demo-credentials.txt");
    let already: bool = sqlx::query_scalar("select exists (select 1 from ops.tenants where slug = $1)").bind(TENANT).fetch_one(owner).await?;
    if already && creds_path.exists() {
        print_credentials(&creds_path, &cfg.addr)?;
        return Ok(());
    }
    let mut tx = owner.begin().await?;
    let tenant_id = admin::ensure_tenant(&mut tx, TENANT, "Demo Company").await?;
    let project_id = admin::create_project_in(&mut tx, tenant_id, "acme-erp", "Acme ERP", "https://github.com/acme/acme-erp.git").await?;
    admin::create_project_in(&mut tx, tenant_id, "webshop", "Webshop", "https://github.com/acme/webshop.git").await?;
    seed_branches(&mut tx, tenant_id, project_id).await?;
    let mut lines = Vec::new();
    for role in Role::ALL {
        let password = cfg.demo_password.as_ref().map(|s| s.expose().to_string()).unwrap_or_else(app::auth::password::generate);
        let email = demo_email(role);
        let name = format!("Demo {}", role.label());
        admin::upsert_member(&mut tx, tenant_id, &email, &name, role, &password).await?;
        lines.push(format!("{:<10} {:<32} {}", role.as_str(), email, password));
    }
    tx.commit().await?;
    if let Err(e) = crate::demo_mail::seed(owner, tenant_id, project_id).await {
        eprintln!("demo mail not stored: {e:#}");
    }
    if let Err(e) = crate::demo_shell::seed(owner, tenant_id, project_id, &demo_email(Role::Developer)).await {
        eprintln!("demo shell session not stored: {e:#}");
    }
    // Before the builds: the gates after each build read the environment's database.
    if let Err(e) = crate::demo_databases::create(owner, database.owner_url.expose(), project_id).await {
        eprintln!("demo environment databases not ready: {e:#}");
    }
    if let Err(e) = crate::demo_supabase::create(owner, database.owner_url.expose(), tenant_id, project_id, cfg).await {
        eprintln!("demo Supabase project not linked: {e:#}");
    }
    if let Err(e) = crate::demo_databases::create_filestores(owner, &cfg.data_dir.join("odoo"), project_id).await {
        eprintln!("demo file stores not ready: {e:#}");
    }
    // A first backup of production, taken by the backup worker as soon as the console runs.
    let first_backup = sqlx::query(
        "insert into ops.backups (tenant_id, project_id, environment_id, kind, requested_by_email, reason, storage, database_name)
         select e.tenant_id, e.project_id, e.id, 'manual', 'demo', 'the first backup of the demo', p.backup_storage, e.database_name
           from ops.environments e join ops.projects p on p.id = e.project_id
          where e.project_id = $1 and e.stage = 'production' and e.database_name is not null",
    )
    .bind(project_id)
    .execute(owner)
    .await;
    if let Err(e) = first_backup {
        eprintln!("demo backup not queued: {e:#}");
    }
    // A local repository with real commits makes the build grid live on first start,
    // offline: the runner fetches it like any remote.
    match demo_repo::create(&cfg.data_dir.join("demo-repos").join("acme-erp")).await {
        Ok(repo) => {
            if let Err(e) = demo_repo::queue_builds(owner, tenant_id, project_id, &repo).await {
                eprintln!("demo builds not queued: {e:#}");
            }
        }
        Err(e) => eprintln!("demo repository not created (is git installed?): {e:#}"),
    }
    write_private(&creds_path, &lines.join("\n"))?;
    print_credentials(&creds_path, &cfg.addr)
}

async fn seed_branches(tx: &mut sqlx::PgConnection, tenant_id: Uuid, project_id: Uuid) -> Result<()> {
    let branches = [
        ("main", Some("production"), "4f2a9c1e7b"),
        ("staging", Some("staging"), "9be04d2c11"),
        ("dev", Some("development"), "c0ffee1234"),
        ("feature/invoice-layout", None, "1a2b3c4d5e"),
        ("fix/stock-rounding", None, "77aa88bb99"),
    ];
    for (name, env, sha) in branches {
        sqlx::query(
            "insert into ops.branches (tenant_id, project_id, environment_id, name, head_sha)
             values ($1, $2, (select id from ops.environments where project_id = $2 and name = $3), $4, $5)
             on conflict (project_id, name) do nothing",
        )
        .bind(tenant_id)
        .bind(project_id)
        .bind(env)
        .bind(name)
        .bind(sha)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(f, "{content}")?;
    Ok(())
}

fn print_credentials(path: &Path, addr: &str) -> Result<()> {
    let creds = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    println!("\nDemo data ready. Sign in at http://{addr} with one of these (role, email, password):\n");
    for line in creds.lines() {
        println!("  {line}");
    }
    println!("\n(kept in {})\n", path.display());
    Ok(())
}
