//! Opening the database: the embedded cluster or `DATABASE_URL`, migrations, the two pools.
pub mod embedded;

use crate::config::Config;
use anyhow::{Context, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// The console's databases: `owner` runs migrations and the CLI; `app` runs every request
/// as the non-owner role `odooops_app`, so row-level security applies.
pub struct Database {
    pub owner: PgPool,
    pub app: PgPool,
    pub embedded: Option<embedded::EmbeddedPg>,
    /// The owner's URL: environments' databases live on the same server (`with_database`).
    pub owner_url: app::auth::Secret,
}

pub const APP_ROLE: &str = "odooops_app";
const DB_NAME: &str = "odooops";

impl Database {
    pub async fn open(cfg: &Config) -> Result<Database> {
        let (owner_url, embedded) = match &cfg.database_url {
            Some(url) => (url.expose().to_string(), None),
            None => {
                let pg = embedded::EmbeddedPg::start(embedded::EmbeddedOptions { data_dir: cfg.data_dir.join("pg"), port: cfg.pg_port })
                    .await
                    .context("starting the embedded PostgreSQL")?;
                ensure_database(&pg.url("postgres"), DB_NAME).await?;
                (pg.url(DB_NAME), Some(pg))
            }
        };
        let owner = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&owner_url)
            .await
            .context("connecting to PostgreSQL (owner)")?;
        migrate(&owner).await?;
        let app_url = cfg.app_database_url.as_ref().map(|s| s.expose().to_string());
        let app = app_pool(app_url.as_deref().unwrap_or(&owner_url), app_url.is_none(), cfg.db_pool_size).await?;
        Ok(Database { owner, app, embedded, owner_url: app::auth::Secret::new(owner_url) })
    }

    /// Closes the pools and stops the embedded cluster, if any.
    pub async fn close(self) -> Result<()> {
        self.app.close().await;
        self.owner.close().await;
        if let Some(pg) = self.embedded {
            pg.stop().await?;
        }
        Ok(())
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[authority_start..].find('/').map(|i| i + authority_start).unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub async fn migrate(owner: &PgPool) -> Result<()> {
    sqlx::migrate!("../migrations").run(owner).await.context("applying migrations")
}

/// The request pool. With `switch_role`, each new connection does `set role odooops_app`
/// before it is used, and is checked to really be that role.
pub async fn app_pool(url: &str, switch_role: bool, size: u32) -> Result<PgPool> {
    let opts = PgConnectOptions::from_str(url).context("parsing the database URL")?.application_name("odooops");
    let pool = PgPoolOptions::new()
        .max_connections(size.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if switch_role {
                    conn.execute("set role odooops_app").await?;
                }
                Ok(())
            })
        })
        .connect_with(opts)
        .await
        .context("connecting to PostgreSQL (app role)")?;
    let (role, bypass): (String, bool) =
        sqlx::query_as("select current_user::text, rolbypassrls or rolsuper from pg_roles where rolname = current_user")
            .fetch_one(&pool)
            .await
            .context("checking the request role")?;
    anyhow::ensure!(!bypass, "the request role {role} bypasses row-level security; use a role without SUPERUSER/BYPASSRLS");
    let owns: bool = sqlx::query_scalar("select exists (select 1 from pg_tables where schemaname = 'ops' and tableowner = current_user)")
        .fetch_one(&pool)
        .await
        .context("checking the request role")?;
    anyhow::ensure!(!owns, "the request role {role} owns the ops tables, so row-level security would not bind it; use a separate login");
    Ok(pool)
}

/// Creates `name` on the server at `admin_url` if it does not exist.
pub async fn ensure_database(admin_url: &str, name: &str) -> Result<()> {
    let pool = PgPoolOptions::new().max_connections(1).connect(admin_url).await.context("connecting to the maintenance database")?;
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(&pool)
        .await?;
    if !exists {
        anyhow::ensure!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad database name {name}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database \"{name}\""))).execute(&pool).await.with_context(|| format!("creating database {name}"))?;
    }
    pool.close().await;
    Ok(())
}

/// The session-signing key: from config, else generated once and kept in `ops.server_secrets`
/// so every console process on this database shares it.
pub async fn jwt_secret(owner: &PgPool, configured: Option<app::auth::Secret>) -> Result<app::auth::Secret> {
    if let Some(s) = configured {
        anyhow::ensure!(s.expose().len() >= 32, "ODOOOPS_JWT_SECRET must be at least 32 characters");
        return Ok(s);
    }
    use rand::distributions::{Alphanumeric, DistString};
    let fresh = Alphanumeric.sample_string(&mut rand::thread_rng(), 64);
    sqlx::query("insert into ops.server_secrets (name, value) values ('jwt_hs256', $1) on conflict (name) do nothing")
        .bind(fresh)
        .execute(owner)
        .await?;
    let value: String = sqlx::query_scalar("select value from ops.server_secrets where name = 'jwt_hs256'").fetch_one(owner).await?;
    Ok(app::auth::Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_database_name_is_swapped_and_the_rest_kept() {
        assert_eq!(with_database("postgres://u:p@h:5432/odooops", "env_a"), "postgres://u:p@h:5432/env_a");
        assert_eq!(with_database("postgres://u:p@h:5432/odooops?sslmode=disable", "x"), "postgres://u:p@h:5432/x?sslmode=disable");
        assert_eq!(with_database("postgres://u:p@h:5432", "x"), "postgres://u:p@h:5432/x");
    }
}
