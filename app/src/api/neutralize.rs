//! Server functions of the neutralization rules: everyone reads them and the recent runs;
//! admins edit, toggle, add and delete them (audited with before and after).
use crate::models::{AppError, NeutralizeOverview, NeutralizeRule, RuleForm};
use leptos::prelude::*;
use uuid::Uuid;

/// Runs shown on the page.
pub const RECENT_RUNS: i64 = 20;

#[cfg(feature = "ssr")]
mod ssr {
    pub use crate::auth::require;
    pub use crate::models::Capability;
    use crate::auth::session::Session;
    use crate::models::{AppError, NeutralizeRule, RuleForm, RuleKind, ValidRule};

    pub fn db(e: sqlx::Error) -> AppError {
        if crate::db::unique_violation(&e).is_some() {
            return AppError::Conflict("Name: another rule of this project already has that name.".into());
        }
        AppError::internal(e)
    }

    pub use crate::api::not_found;

    /// The form's own checks, then the regex as PostgreSQL (which runs it) understands it.
    pub async fn validate(s: &Session, form: &RuleForm) -> Result<ValidRule, AppError> {
        let rule = form.validate().map_err(AppError::Invalid)?;
        if rule.kind == RuleKind::ColumnPattern {
            let checked = sqlx::query("select '' ~* $1").bind(&rule.column_pattern).execute(s.state.db.pool()).await;
            if let Err(e) = checked {
                let Some(d) = e.as_database_error().filter(|d| d.code().as_deref() == Some("2201B")) else {
                    return Err(AppError::internal(e));
                };
                let why = d.message().trim_start_matches("invalid regular expression: ");
                return Err(AppError::Invalid(format!("Column pattern: not a valid regular expression ({why}).")));
            }
        }
        Ok(rule)
    }

    pub fn json(rule: &NeutralizeRule) -> serde_json::Value {
        serde_json::to_value(rule).unwrap_or_default()
    }
}

#[server(prefix = "/api", endpoint = "neutralize-overview")]
pub async fn get_neutralization(slug: String) -> Result<NeutralizeOverview, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewPromotions).await?;
        let mut tx = s.tx().await?;
        let p = crate::db::projects::find_by_slug(&mut tx, &slug).await.map_err(db)?.ok_or_else(|| not_found(&format!("project “{slug}”")))?;
        let rules = crate::db::neutralize::rules(&mut tx, p.id).await.map_err(db)?;
        let runs = crate::db::neutralize::runs(&mut tx, p.id, RECENT_RUNS).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(NeutralizeOverview {
            project_id: p.id,
            project_slug: p.slug,
            project_name: p.name,
            rules,
            runs,
            can_manage: s.role().allows(Capability::ManagePromotionSettings),
        })
    })
    .await
}

#[server(prefix = "/api", endpoint = "neutralize-rule-add")]
pub async fn add_rule(slug: String, rule: RuleForm) -> Result<NeutralizeRule, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManagePromotionSettings).await?;
        let valid = validate(&s, &rule).await?;
        let mut tx = s.tx().await?;
        let p = crate::db::projects::find_by_slug(&mut tx, &slug).await.map_err(db)?.ok_or_else(|| not_found(&format!("project “{slug}”")))?;
        let added = crate::db::neutralize::insert_rule(&mut tx, p.id, &valid).await.map_err(db)?;
        s.audit(&mut tx, "neutralize.rule_added", &added.id.to_string(), serde_json::json!({"project": p.slug, "after": json(&added)})).await?;
        tx.commit().await.map_err(db)?;
        Ok(added)
    })
    .await
}

#[server(prefix = "/api", endpoint = "neutralize-rule-edit")]
pub async fn edit_rule(id: Uuid, rule: RuleForm) -> Result<NeutralizeRule, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManagePromotionSettings).await?;
        let valid = validate(&s, &rule).await?;
        let mut tx = s.tx().await?;
        let (_, before) = crate::db::neutralize::rule(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("rule"))?;
        let after = crate::db::neutralize::update_rule(&mut tx, id, &valid).await.map_err(db)?.ok_or_else(|| not_found("rule"))?;
        s.audit(&mut tx, "neutralize.rule_changed", &id.to_string(), serde_json::json!({"before": json(&before), "after": json(&after)})).await?;
        tx.commit().await.map_err(db)?;
        Ok(after)
    })
    .await
}

/// Turns a rule on or off (built-in rules too).
#[server(prefix = "/api", endpoint = "neutralize-rule-toggle")]
pub async fn toggle_rule(id: Uuid, enabled: bool) -> Result<NeutralizeRule, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManagePromotionSettings).await?;
        let mut tx = s.tx().await?;
        let (_, before) = crate::db::neutralize::rule(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("rule"))?;
        let after = crate::db::neutralize::set_enabled(&mut tx, id, enabled).await.map_err(db)?.ok_or_else(|| not_found("rule"))?;
        s.audit(
            &mut tx,
            "neutralize.rule_changed",
            &id.to_string(),
            serde_json::json!({"name": after.name, "before": {"enabled": before.enabled}, "after": {"enabled": after.enabled}}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(after)
    })
    .await
}

/// Deletes a rule someone added. Built-in rules can only be disabled.
#[server(prefix = "/api", endpoint = "neutralize-rule-delete")]
pub async fn delete_rule(id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManagePromotionSettings).await?;
        let mut tx = s.tx().await?;
        let (_, before) = crate::db::neutralize::rule(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("rule"))?;
        if before.builtin {
            return Err(AppError::Conflict(format!("“{}” is a built-in rule: disable it instead of deleting it.", before.name)));
        }
        crate::db::neutralize::delete_rule(&mut tx, id).await.map_err(db)?;
        s.audit(&mut tx, "neutralize.rule_deleted", &id.to_string(), serde_json::json!({"before": json(&before)})).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}
