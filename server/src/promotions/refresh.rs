//! Refreshing staging's data on a promotion: production's database is copied (streamed
//! `pg_dump | pg_restore`) into a new database, neutralized with the project's rules, and
//! only then does staging switch to it; the previous staging database is dropped last.
use super::{audit, PromotionContext};
use crate::logs::sink::LogWriter;
use crate::neutralize::{self, copy, MailTarget};
use anyhow::{bail, Context, Result};
use app::db::promotions::EnvRow;
use app::db::{self, DbClaims};
use app::models::{PromotionState, Stage};
use uuid::Uuid;

/// A fresh name for staging's next database: its current base name plus `_r<6 hex>`.
pub fn next_name(current: Option<&str>, env_id: Uuid) -> String {
    let base = current.map(|c| match c.rfind("_r") {
        Some(i) if c.len() == i + 8 && c[i + 2..].chars().all(|ch| ch.is_ascii_hexdigit()) => c[..i].to_string(),
        _ => c.to_string(),
    });
    let base = base.unwrap_or_else(|| format!("env_{}", &env_id.simple().to_string()[..8]));
    let base: String = base.chars().take(54).collect();
    format!("{base}_r{}", &Uuid::new_v4().simple().to_string()[..6])
}

pub async fn run(ctx: &PromotionContext, claims: &DbClaims, id: Uuid, env: &EnvRow, log: &LogWriter) -> Result<()> {
    if env.stage != Stage::Staging {
        bail!("only staging has its data refreshed");
    }
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let envs = db::promotions::environments(&mut tx, env.project_id).await?;
    let source = envs.iter().find(|e| e.stage == Stage::Production).and_then(|e| e.database_name.clone());
    let Some(source) = source else {
        bail!("production has no database registered to copy staging's data from");
    };
    let mailbox = db::mail::ensure_mailbox(&mut tx, env.id).await?.context("staging's mailbox")?;
    let target = next_name(env.database_name.as_deref(), env.id);
    tx.commit().await?;

    let admin_url = ctx.owner_url.expose().to_string();
    log.info("deploy", format!("copying production's database {source} into {target}")).await;
    let stats = copy::copy_database(&admin_url, &source, &target, |_| {}).await.with_context(|| format!("copying {source}"))?;
    log.info("deploy", format!("copied {} KB in {} ms; neutralizing it", stats.bytes / 1024, stats.duration_ms)).await;
    let (host, port) = match ctx.smtp {
        Some(a) => (a.ip().to_string(), a.port()),
        None => ("127.0.0.1".to_string(), 1025),
    };
    let mail = MailTarget { host, port, username: mailbox.smtp_username.clone(), password: mailbox.smtp_password.clone() };
    let url = crate::db::with_database(&admin_url, &target);
    let run = db::neutralize::NewRun { project_id: env.project_id, environment_id: Some(env.id), promotion_id: Some(id), restore_id: None, actor_email: "console", database_name: &target };
    let actor = neutralize::record::Actor { id: None, email: "console".into(), request_id: String::new() };
    let report = match neutralize::record::run_recorded(&ctx.db, claims, &run, &actor, &url, &mail).await {
        Ok(r) => r,
        Err(e) => {
            let _ = copy::drop_database(&admin_url, &target).await;
            return Err(e.context("neutralizing the copy (staging keeps its database)"));
        }
    };
    let mut tx = ctx.db.tenant_tx(claims).await?;
    // The switch: staging uses the neutralized copy from now on.
    sqlx::query("update ops.environments set database_name = $2 where id = $1").bind(env.id).bind(&target).execute(&mut *tx).await?;
    let msg = format!(
        "staging's data refreshed from production: {target} (neutralized: {} row(s) changed, {} column(s) blanked, {} rule(s) applied or skipped)",
        report.rows_changed,
        report.columns_blanked,
        report.rules.len()
    );
    db::promotions::add_event(&mut tx, id, PromotionState::Promoting, &msg, "console").await?;
    audit(&mut tx, "promotion.data_refreshed", &id.to_string(), serde_json::json!({"environment": env.name, "before": {"database": env.database_name}, "after": {"database": target}, "source": source}))
        .await?;
    tx.commit().await?;
    log.info("deploy", msg).await;
    if let Some(old) = env.database_name.as_deref().filter(|o| *o != target) {
        if let Err(e) = copy::drop_database(&admin_url, old).await {
            log.warning("deploy", format!("the previous staging database {old} could not be dropped: {e}")).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::next_name;
    use uuid::Uuid;

    #[test]
    fn each_refresh_gets_a_new_name_on_the_same_base() {
        let a = next_name(Some("acme_erp_staging"), Uuid::nil());
        assert!(a.starts_with("acme_erp_staging_r") && a.len() == "acme_erp_staging".len() + 8, "{a}");
        let b = next_name(Some(&a), Uuid::nil());
        assert!(b.starts_with("acme_erp_staging_r") && b != a, "{b}");
        assert!(next_name(None, Uuid::nil()).starts_with("env_00000000_r"));
        assert!(next_name(Some(&"x".repeat(63)), Uuid::nil()).len() <= 63);
    }
}
