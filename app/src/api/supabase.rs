//! Server functions of the Supabase panel: a project's links (list; link and unlink for
//! admins, audited) and the panel's header. Everything the panel shows about a Supabase
//! project comes through `/api/supabase-proxy` from the browser, never through these.
use crate::models::supabase::{LinkKind, SupabaseLinks, SupabasePanel};
use crate::models::AppError;
use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
mod ssr {
    pub use crate::auth::require;
    pub use crate::db::supabase as repo;
    pub use crate::models::{AppError, Capability};

    pub fn db(e: sqlx::Error) -> AppError {
        AppError::internal(e)
    }

    pub use crate::api::not_found;

    /// A ref for a local project: 20 random lowercase letters, as Supabase's.
    pub fn random_ref() -> crate::models::supabase::ProjectRef {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let s: String = (0..crate::models::supabase::ProjectRef::LEN).map(|_| rng.gen_range(b'a'..=b'z') as char).collect();
        crate::models::supabase::ProjectRef::parse(&s).unwrap_or_else(|| unreachable!("20 lowercase letters"))
    }

    /// Connects once to the database a local link will serve, so a typo shows now rather than
    /// as an empty panel. The message never carries the password.
    pub async fn reachable(url: &str) -> Result<(), AppError> {
        use sqlx::Connection;
        let scrub = |msg: String| match url.split_once("://").and_then(|(_, rest)| rest.split_once('@')).and_then(|(auth, _)| auth.split_once(':')) {
            Some((_, pw)) if !pw.is_empty() => msg.replace(pw, "***"),
            _ => msg,
        };
        let attempt = async {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::query("select 1").execute(&mut conn).await?;
            conn.close().await
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AppError::Invalid(scrub(format!("could not connect to that database: {e}")))),
            Err(_) => Err(AppError::Invalid("could not connect to that database: no answer within 5 seconds".into())),
        }
    }
}

/// A console project's Supabase links.
#[server(prefix = "/api", endpoint = "supabase-links")]
pub async fn get_supabase_links(slug: String) -> Result<SupabaseLinks, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewDashboard).await?;
        let mut tx = s.tx().await?;
        let project = crate::db::projects::find_by_slug(&mut tx, &slug).await.map_err(db)?.ok_or_else(|| not_found("project"))?;
        let links = repo::list(&mut tx, project.id).await.map_err(db)?;
        let own = repo::token_info(&mut tx).await.map_err(db)?;
        let first: bool = sqlx::query_scalar("select ops.is_console_tenant(ops.current_tenant_id())").fetch_one(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        let token = crate::models::supabase::TokenState { own, server: first && s.state.supabase_server_token };
        Ok(SupabaseLinks { project_slug: project.slug, project_name: project.name, links, can_manage: s.role().allows(Capability::ManageSupabase), token })
    })
    .await
}

/// Links a Supabase project to a console project (admins; audited). Hosted: by its ref, served
/// by the configured Management API. Local: any PostgreSQL, by URL (checked by connecting,
/// stored encrypted), served by the console's own Management API under a generated ref.
#[server(prefix = "/api", endpoint = "supabase-link")]
pub async fn link_supabase(slug: String, kind: LinkKind, project_ref: String, name: String, db_url: String) -> Result<String, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageSupabase).await?;
        let (hosted_ref, name, url) = crate::models::supabase::check_link_form(kind, &project_ref, &name, &db_url).map_err(AppError::Invalid)?;
        let sealed = match &url {
            Some(url) => {
                reachable(url).await?;
                let sealer = s.state.sealer.clone().ok_or_else(|| AppError::internal("no sealer for Supabase connection strings"))?;
                Some(sealer.seal(url).map_err(AppError::internal)?)
            }
            None => None,
        };
        let project_ref = hosted_ref.unwrap_or_else(random_ref);
        let upstream = match kind {
            LinkKind::Hosted => crate::models::supabase::SupabaseUpstream::Default,
            LinkKind::Local => crate::models::supabase::SupabaseUpstream::Local,
        };
        let mut tx = s.tx().await?;
        let project = crate::db::projects::find_by_slug(&mut tx, &slug).await.map_err(db)?.ok_or_else(|| not_found("project"))?;
        let new = repo::NewLink { project_id: project.id, project_ref: &project_ref, name: &name, upstream, db_url_enc: sealed.as_deref(), created_by: Some(s.user_id()) };
        let id = match repo::link(&mut tx, &new).await {
            Ok(id) => id,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(AppError::Conflict(format!("{project_ref} is already linked in this organization")));
            }
            Err(e) => return Err(db(e)),
        };
        s.audit(
            &mut tx,
            "supabase.linked",
            project_ref.as_str(),
            serde_json::json!({"link_id": id, "project": project.slug, "name": name, "upstream": upstream, "database": url.is_some()}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(project_ref.to_string())
    })
    .await
}

/// Removes a link (admins; audited). Its stored secrets and auth settings go with it.
#[server(prefix = "/api", endpoint = "supabase-unlink")]
pub async fn unlink_supabase(id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageSupabase).await?;
        let mut tx = s.tx().await?;
        let links: Vec<(String, String)> = sqlx::query_as("select project_ref, name from ops.supabase_projects where id = $1").bind(id).fetch_all(&mut *tx).await.map_err(db)?;
        let Some((project_ref, name)) = links.into_iter().next() else {
            return Err(not_found("Supabase link"));
        };
        repo::unlink(&mut tx, id).await.map_err(db)?;
        s.audit(&mut tx, "supabase.unlinked", &project_ref, serde_json::json!({"link_id": id, "name": name})).await?;
        tx.commit().await.map_err(db)?;
        s.state.authz_changed();
        Ok(())
    })
    .await
}

/// The panel's header for a linked ref; 404 for a ref the caller's tenant has not linked.
#[server(prefix = "/api", endpoint = "supabase-panel")]
pub async fn get_supabase_panel(project_ref: String) -> Result<SupabasePanel, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewDashboard).await?;
        let r = crate::models::supabase::ProjectRef::parse(project_ref.trim()).ok_or_else(|| not_found("Supabase project"))?;
        let mut tx = s.tx().await?;
        let link = repo::find_by_ref(&mut tx, &r).await.map_err(db)?.ok_or_else(|| not_found("Supabase project"))?;
        let (slug, pname): (String, String) = sqlx::query_as("select slug, name from ops.projects where id = $1").bind(link.project_id).fetch_one(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(SupabasePanel { link, project_slug: slug, project_name: pname, admin: s.role().allows(Capability::ManageSupabase) })
    })
    .await
}

/// Sets the tenant's own Supabase management token (admins; audited without it). It is
/// stored encrypted and only the proxy reads it back.
#[server(prefix = "/api", endpoint = "supabase-token")]
pub async fn set_supabase_token(token: String) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageSupabase).await?;
        let token = crate::models::supabase::check_token(&token).map_err(AppError::Invalid)?;
        let sealer = s.state.sealer.clone().ok_or_else(|| AppError::internal("no sealer for Supabase tokens"))?;
        let sealed = sealer.seal(&token).map_err(AppError::internal)?;
        let hint: String = token.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        let mut tx = s.tx().await?;
        repo::put_token(&mut tx, &sealed, &hint, s.user_id(), &s.email).await.map_err(db)?;
        s.audit(&mut tx, "supabase.token_set", "-", serde_json::json!({"hint": hint})).await?;
        tx.commit().await.map_err(db)?;
        s.state.authz_changed();
        Ok(())
    })
    .await
}

/// Removes the tenant's own token (admins; audited).
#[server(prefix = "/api", endpoint = "supabase-token-remove")]
pub async fn remove_supabase_token() -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageSupabase).await?;
        let mut tx = s.tx().await?;
        if !repo::delete_token(&mut tx).await.map_err(db)? {
            return Err(not_found("Supabase token"));
        }
        s.audit(&mut tx, "supabase.token_removed", "-", serde_json::json!({})).await?;
        tx.commit().await.map_err(db)?;
        s.state.authz_changed();
        Ok(())
    })
    .await
}
