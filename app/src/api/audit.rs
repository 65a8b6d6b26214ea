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

/// Walks the caller's tenant chain and reports the first broken link; the check itself is
/// audited (`audit.verified`) with its result.
#[server(prefix = "/api", endpoint = "audit-verify")]
pub async fn verify_audit_chain() -> Result<crate::models::ChainReport, AppError> {
    crate::api::guard(async move {
        use crate::db::audit_chain;
        use crate::models::Capability;
        let s = crate::auth::require(Capability::VerifyAudit).await?;
        let mut tx = s.tx().await?;
        let head = audit_chain::head_of_current_tenant(&mut tx).await.map_err(AppError::internal)?;
        let report = audit_chain::verify(&mut tx, s.claims.tenant_id, head).await.map_err(AppError::internal)?;
        let details = serde_json::json!({
            "intact": report.is_intact(),
            "rows_checked": report.rows_checked,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
            "first_break": report.first_break,
        });
        // Written last: the audit insert holds the chain head until the commit.
        s.audit(&mut tx, "audit.verified", "audit_log", details).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(report)
    })
    .await
}
