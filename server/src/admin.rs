//! Owner-side administration used by the CLI and the demo loader (not subject to RLS).
//! Every change is audited with the actor `cli`.
use anyhow::{bail, Context, Result};
use app::models::Role;
use sqlx::PgPool;
use uuid::Uuid;

fn password_from(env_name: Option<&str>) -> Result<(String, bool)> {
    match env_name {
        Some(name) => {
            let pw = std::env::var(name).with_context(|| format!("environment variable {name} is not set"))?;
            app::models::validate_password(&pw).map_err(|e| anyhow::anyhow!("password: {e}"))?;
            Ok((pw, false))
        }
        None => Ok((app::auth::password::generate(), true)),
    }
}

async fn audit(tx: &mut sqlx::PgConnection, tenant_id: Option<Uuid>, action: &str, target: &str, details: serde_json::Value) -> Result<()> {
    sqlx::query("insert into ops.audit_log (tenant_id, actor_email, action, target, details) values ($1, 'cli', $2, $3, $4)")
        .bind(tenant_id)
        .bind(action)
        .bind(target)
        .bind(details)
        .execute(tx)
        .await?;
    Ok(())
}

/// The tenant with this slug, created (named after the slug) if missing.
pub async fn ensure_tenant(tx: &mut sqlx::PgConnection, slug: &str, name: &str) -> Result<Uuid> {
    let id: Uuid = sqlx::query_scalar(
        "insert into ops.tenants (slug, name) values ($1, $2)
         on conflict (slug) do update set slug = excluded.slug returning id",
    )
    .bind(slug)
    .bind(name)
    .fetch_one(tx)
    .await
    .with_context(|| format!("tenant slug {slug:?}: use 2-63 lowercase letters, digits and dashes"))?;
    Ok(id)
}

/// Creates (or updates the password of) a user and sets their role in the tenant.
pub async fn upsert_member(tx: &mut sqlx::PgConnection, tenant_id: Uuid, email: &str, name: &str, role: Role, password: &str) -> Result<Uuid> {
    let hash = app::auth::password::hash(password.to_string()).await.map_err(|e| anyhow::anyhow!(e))?;
    let user_id: Uuid = sqlx::query_scalar(
        "insert into ops.users (email, display_name, password_hash) values ($1, $2, $3)
         on conflict (lower(email)) do update set password_hash = excluded.password_hash returning id",
    )
    .bind(email)
    .bind(name)
    .bind(hash)
    .fetch_one(&mut *tx)
    .await
    .with_context(|| format!("creating user {email}"))?;
    sqlx::query(
        "insert into ops.memberships (tenant_id, user_id, role) values ($1, $2, $3)
         on conflict (tenant_id, user_id) do update set role = excluded.role",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(role)
    .execute(&mut *tx)
    .await?;
    audit(tx, Some(tenant_id), "member.added", email, serde_json::json!({"user_id": user_id, "role": role})).await?;
    Ok(user_id)
}

pub async fn create_user(owner: &PgPool, tenant: &str, email: &str, name: &str, role: &str, password_env: Option<&str>) -> Result<()> {
    let Some(role) = Role::parse(role) else { bail!("unknown role {role:?}: use admin, sysadmin, developer, tester or pm") };
    let (password, generated) = password_from(password_env)?;
    let mut tx = owner.begin().await?;
    let tenant_id = ensure_tenant(&mut tx, tenant, tenant).await?;
    upsert_member(&mut tx, tenant_id, email.trim(), name, role, &password).await?;
    tx.commit().await?;
    println!("user {email} is {role} in tenant {tenant}");
    if generated {
        println!("password: {password}");
    }
    Ok(())
}

pub async fn set_password(owner: &PgPool, email: &str, password_env: Option<&str>) -> Result<()> {
    let (password, generated) = password_from(password_env)?;
    let hash = app::auth::password::hash(password.clone()).await.map_err(|e| anyhow::anyhow!(e))?;
    let mut tx = owner.begin().await?;
    let updated = sqlx::query("update ops.users set password_hash = $2 where lower(email) = lower($1)")
        .bind(email)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    if updated.rows_affected() == 0 {
        bail!("no user with email {email}");
    }
    audit(&mut tx, None, "user.password_reset", email, serde_json::json!({})).await?;
    tx.commit().await?;
    println!("password of {email} changed");
    if generated {
        println!("password: {password}");
    }
    Ok(())
}

/// A project with production, staging and development environments.
pub async fn create_project_in(tx: &mut sqlx::PgConnection, tenant_id: Uuid, slug: &str, name: &str, repo: &str) -> Result<Uuid> {
    let project_id: Uuid = sqlx::query_scalar(
        "insert into ops.projects (tenant_id, slug, name, repo_url) values ($1, $2, $3, $4)
         on conflict (tenant_id, slug) do update set name = excluded.name returning id",
    )
    .bind(tenant_id)
    .bind(slug)
    .bind(name)
    .bind(repo)
    .fetch_one(&mut *tx)
    .await
    .with_context(|| format!("project slug {slug:?}: use 2-63 lowercase letters, digits and dashes"))?;
    for (env, stage, branch) in [("production", "production", "main"), ("staging", "staging", "staging"), ("development", "development", "dev")] {
        sqlx::query(
            "insert into ops.environments (tenant_id, project_id, name, stage, branch_name)
             values ($1, $2, $3, $4::ops.stage, $5) on conflict (project_id, name) do nothing",
        )
        .bind(tenant_id)
        .bind(project_id)
        .bind(env)
        .bind(stage)
        .bind(branch)
        .execute(&mut *tx)
        .await?;
    }
    audit(tx, Some(tenant_id), "project.created", slug, serde_json::json!({"project_id": project_id})).await?;
    Ok(project_id)
}

pub async fn create_project(owner: &PgPool, tenant: &str, slug: &str, name: &str, repo: &str) -> Result<()> {
    let mut tx = owner.begin().await?;
    let tenant_id: Option<Uuid> = sqlx::query_scalar("select id from ops.tenants where slug = $1").bind(tenant).fetch_optional(&mut *tx).await?;
    let Some(tenant_id) = tenant_id else { bail!("no tenant {tenant:?}; create one with `odooops user create --tenant {tenant} ...`") };
    create_project_in(&mut tx, tenant_id, slug, name, repo).await?;
    tx.commit().await?;
    println!("project {slug} created with production, staging and development environments");
    Ok(())
}
