use crate::models::{AppError, ProjectDetail, ProjectSummary};
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "projects")]
pub async fn list_projects() -> Result<Vec<ProjectSummary>, AppError> {
    crate::api::guard(async move {
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ViewDashboard).await?;
        let mut tx = s.tx().await?;
        let projects = crate::db::projects::list(&mut tx).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(projects)
    })
    .await
}

#[server(prefix = "/api", endpoint = "project")]
pub async fn get_project(slug: String) -> Result<ProjectDetail, AppError> {
    crate::api::guard(async move {
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ViewDashboard).await?;
        let mut tx = s.tx().await?;
        let project = crate::db::projects::find_by_slug(&mut tx, &slug).await.map_err(AppError::internal)?;
        let Some(project) = project else {
            let e = AppError::NotFound(format!("project “{slug}”"));
            crate::auth::session::set_status(&e);
            return Err(e);
        };
        let branches = crate::db::projects::branches(&mut tx, project.id).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(ProjectDetail { project, branches })
    })
    .await
}
