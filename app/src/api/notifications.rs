//! Server functions of the dashboard's notifications (dismissing one is
//! `api::promotions::dismiss_notification`).
use crate::models::{AppError, ProjectNotification};
use leptos::prelude::*;

/// How many unread notifications the dashboard shows.
pub const DASHBOARD_LIMIT: i64 = 10;

/// Unread notifications of all projects, newest first, at most [`DASHBOARD_LIMIT`].
#[server(prefix = "/api", endpoint = "notifications")]
pub async fn list_notifications() -> Result<Vec<ProjectNotification>, AppError> {
    crate::api::guard(async move {
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ViewPromotions).await?;
        let mut tx = s.tx().await?;
        let list = crate::db::notifications::unread(&mut tx, DASHBOARD_LIMIT).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(list)
    })
    .await
}
