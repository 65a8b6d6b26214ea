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

/// Gives each environment of `project_id` that has a database an Odoo data directory under
/// `odoo_root` with a small file store (attachments as Odoo lays them out: `<2 hex>/<sha1>`),
/// so backups and restores carry files in the demo.
pub async fn create_filestores(owner: &PgPool, odoo_root: &std::path::Path, project_id: Uuid) -> Result<()> {
    use sha2::{Digest, Sha256};
    let envs: Vec<(Uuid, String, String)> =
        sqlx::query_as("select id, name, database_name from ops.environments where project_id = $1 and database_name is not null and data_dir is null")
            .bind(project_id)
            .fetch_all(owner)
            .await?;
    for (env_id, env_name, database) in envs {
        let data_dir = odoo_root.join(&env_name);
        let store = data_dir.join("filestore").join(&database);
        for i in 0..40u32 {
            // Invoices, product images, mail attachments: a few KB to 200 KB each.
            let size = 2_000 + (i as usize * 5_003) % 200_000;
            let body: Vec<u8> = (0..size).map(|k| ((k as u32).wrapping_mul(2654435761).wrapping_add(i) >> 13) as u8).collect();
            let name = hex::encode(Sha256::digest(&body))[..40].to_string();
            let dir = store.join(&name[..2]);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::write(dir.join(&name), &body)?;
        }
        sqlx::query("update ops.environments set data_dir = $2 where id = $1").bind(env_id).bind(data_dir.to_string_lossy().as_ref()).execute(owner).await?;
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
