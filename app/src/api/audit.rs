use crate::models::{AppError, AuditPage};
use leptos::prelude::*;

pub const AUDIT_PAGE_SIZE: i64 = 50;

/// One page of the tenant's audit log, newest first, before `before` (an id).
#[server(prefix = "/api", endpoint = "audit")]
pub async fn list_audit(before: Option<i64>, action: Option<String>) -> Result<AuditPage, AppError> {
    crate::api::guard(async move {
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ViewAudit).await?;
        let prefix = action.unwrap_or_default();
        if prefix.len() > 64 || !prefix.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_') {
            return Err(AppError::Invalid("The action filter takes lowercase letters, dots and underscores.".into()));
        }
        let mut tx = s.tx().await?;
        let mut rows = crate::db::audit::list(&mut tx, before, &prefix, AUDIT_PAGE_SIZE + 1)
            .await
            .map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        let has_more = rows.len() as i64 > AUDIT_PAGE_SIZE;
        rows.truncate(AUDIT_PAGE_SIZE as usize);
        Ok(AuditPage { rows, has_more })
    })
    .await
}
