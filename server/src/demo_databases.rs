//! The demo's environment databases: one per environment of the demo project, on the
//! console's own PostgreSQL server (`acme_erp_production`, `acme_erp_staging`,
//! `acme_erp_development`), each holding the Odoo-like sample with its real-looking secrets.
//! Staging is in the state of a copy taken from production without neutralization: the
//! demo's neutralization is what scrubs it. The gates read these databases after each build.
use anyhow::{Context, Result};
use sqlx::PgPool;
use uuid::Uuid;

/// `acme-erp` + `staging` -> `acme_erp_staging`.
pub fn database_name(project_slug: &str, environment: &str) -> String {
    let clean = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect::<String>();
    format!("{}_{}", clean(project_slug), clean(environment))
}

/// Creates (or reuses) a database per environment of `project_id` on the server of
/// `server_url`, loads the sample into it and records it as the environment's
/// `database_name`. When the server refuses to create a database (no CREATEDB right), this
/// logs a warning and leaves `database_name` empty: the demo runs without them.
pub async fn create(owner: &PgPool, server_url: &str, project_id: Uuid) -> Result<()> {
    let envs: Vec<(Uuid, String, String)> = sqlx::query_as(
        "select e.id, e.name, p.slug from ops.environments e join ops.projects p on p.id = e.project_id
          where e.project_id = $1 order by e.name",
    )
    .bind(project_id)
    .fetch_all(owner)
    .await?;
    for (env_id, env_name, slug) in envs {
        let name = database_name(&slug, &env_name);
        if let Err(e) = crate::db::ensure_database(server_url, &name).await {
            tracing::warn!(database = %name, error = %format!("{e:#}"),
                "the demo's environment databases were not created (the database owner needs CREATEDB); gates will skip their database checks");
            return Ok(());
        }
        crate::neutralize::sample::load_sample(&crate::db::with_database(server_url, &name))
            .await
            .with_context(|| format!("loading the sample into {name}"))?;
        sqlx::query("update ops.environments set database_name = $2 where id = $1")
            .bind(env_id)
            .bind(&name)
            .execute(owner)
            .await
            .with_context(|| format!("recording {name} as the database of {env_name}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_name_is_made_of_the_project_and_the_environment() {
        assert_eq!(super::database_name("acme-erp", "production"), "acme_erp_production");
        assert_eq!(super::database_name("Web-Shop", "QA 2"), "web_shop_qa_2");
    }
}
