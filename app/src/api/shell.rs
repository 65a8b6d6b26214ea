//! Server functions of the web shell: SSH keys, opening sessions, the sessions list and the
//! tenant's time limits. The terminal itself runs over the WebSocket in `server/src/shell`.
use crate::models::{AppError, SessionFilter, ShellOverview, ShellSessionRow, ShellSettingsForm, SshKeyRow};
use leptos::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewSshKey {
    /// Empty: the key's own comment, else its type.
    pub name: String,
    pub public_key: String,
}

#[server(prefix = "/api", endpoint = "ssh-keys")]
pub async fn list_ssh_keys() -> Result<Vec<SshKeyRow>, AppError> {
    crate::api::guard(async move {
        let s = crate::auth::require(crate::models::Capability::ManageOwnSshKeys).await?;
        let mut tx = s.tx().await?;
        let rows = crate::db::shell::list_keys(&mut tx).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(rows)
    })
    .await
}

#[server(prefix = "/api", endpoint = "ssh-keys/add")]
pub async fn add_ssh_key(key: NewSshKey) -> Result<SshKeyRow, AppError> {
    crate::api::guard(async move {
        use crate::db::shell;
        let s = crate::auth::require(crate::models::Capability::ManageOwnSshKeys).await?;
        let parsed = crate::auth::ssh_key::parse(&key.public_key).map_err(AppError::Invalid)?;
        let name = match key.name.trim() {
            "" if !parsed.comment.trim().is_empty() => parsed.comment.trim().to_string(),
            "" => parsed.algorithm.clone(),
            n => n.to_string(),
        };
        if name.chars().count() > 100 {
            return Err(AppError::Invalid("Name: at most 100 characters.".into()));
        }
        let mut tx = s.tx().await?;
        let new = shell::NewKey { name: &name, algorithm: &parsed.algorithm, bits: parsed.bits, fingerprint: &parsed.fingerprint, public_key: &parsed.openssh };
        let Some(id) = shell::insert_key(&mut tx, &new).await.map_err(AppError::internal)? else {
            return Err(AppError::Conflict(format!("Key: {} is already registered in this workspace.", parsed.fingerprint)));
        };
        s.audit(&mut tx, "ssh_key.added", &parsed.fingerprint, serde_json::json!({"key_id": id, "name": name, "algorithm": parsed.algorithm, "bits": parsed.bits}))
            .await?;
        let row = shell::list_keys(&mut tx).await.map_err(AppError::internal)?.into_iter().find(|k| k.id == id).ok_or_else(|| AppError::internal("key vanished"))?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(row)
    })
    .await
}

#[server(prefix = "/api", endpoint = "ssh-keys/remove")]
pub async fn remove_ssh_key(id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        let s = crate::auth::require(crate::models::Capability::ManageOwnSshKeys).await?;
        let mut tx = s.tx().await?;
        let Some((name, fingerprint)) = crate::db::shell::delete_key(&mut tx, id).await.map_err(AppError::internal)? else {
            return Err(AppError::NotFound("SSH key".into()));
        };
        s.audit(&mut tx, "ssh_key.removed", &fingerprint, serde_json::json!({"key_id": id, "name": name})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(())
    })
    .await
}

/// The shell page: where the caller may open shells, the limits, and the sessions they see.
#[server(prefix = "/api", endpoint = "shell")]
pub async fn load_shell(filter: SessionFilter) -> Result<ShellOverview, AppError> {
    crate::api::guard(async move {
        use crate::models::{may_open_shell, Capability, ShellTarget};
        let s = crate::auth::require(Capability::ViewShellSessions).await?;
        let mut tx = s.tx().await?;
        let settings = crate::db::shell::settings(&mut tx).await.map_err(AppError::internal)?;
        let projects = crate::db::projects::list(&mut tx).await.map_err(AppError::internal)?;
        let role = s.role();
        let targets = projects
            .iter()
            .flat_map(|p| {
                p.environments.iter().map(move |e| ShellTarget {
                    environment_id: e.id,
                    project_slug: p.slug.clone(),
                    project_name: p.name.clone(),
                    environment_name: e.name.clone(),
                    stage: e.stage,
                    allowed: may_open_shell(role, e.stage),
                })
            })
            .collect();
        let sessions = crate::db::shell::list_sessions(&mut tx, &filter, 200).await.map_err(AppError::internal)?;
        let mine_open = crate::db::shell::my_open_sessions(&mut tx).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(ShellOverview { settings, targets, sessions, mine_open, can_manage: s.role().allows(Capability::ManageShellSettings) })
    })
    .await
}

#[server(prefix = "/api", endpoint = "shell/session")]
pub async fn shell_session(id: Uuid) -> Result<ShellSessionRow, AppError> {
    crate::api::guard(async move {
        let s = crate::auth::require(crate::models::Capability::ViewShellSessions).await?;
        let mut tx = s.tx().await?;
        let row = crate::db::shell::get_session(&mut tx, id).await.map_err(AppError::internal)?.ok_or_else(|| AppError::NotFound("shell session".into()))?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(row)
    })
    .await
}

/// Opens a session (the PTY starts when the browser attaches). Production needs sysadmin;
/// a refusal is audited.
#[server(prefix = "/api", endpoint = "shell/open")]
pub async fn open_shell(environment_id: Uuid, ttl_minutes: String) -> Result<ShellSessionRow, AppError> {
    crate::api::guard(async move {
        use crate::db::shell;
        use crate::models::{may_open_shell, parse_ttl_minutes, Capability};
        let s = crate::auth::require(Capability::OpenShell).await?;
        let mut tx = s.tx().await?;
        let env: Option<(Uuid, String, crate::models::Stage)> =
            sqlx::query_as("select project_id, name, stage from ops.environments where id = $1").bind(environment_id).fetch_optional(&mut *tx).await.map_err(AppError::internal)?;
        let Some((project_id, env_name, stage)) = env else {
            return Err(AppError::NotFound("environment".into()));
        };
        if !may_open_shell(s.role(), stage) {
            s.audit(&mut tx, "shell.open_refused", &env_name, serde_json::json!({"environment_id": environment_id, "stage": stage, "role": s.role()})).await?;
            tx.commit().await.map_err(AppError::internal)?;
            return Err(AppError::Forbidden(format!("the {} role cannot open a shell on {}; production needs a sysadmin", s.role().label(), stage.as_str())));
        }
        let settings = shell::settings(&mut tx).await.map_err(AppError::internal)?;
        let minutes = parse_ttl_minutes(&ttl_minutes, &settings).map_err(AppError::Invalid)?;
        let new = shell::NewSession {
            project_id,
            environment_id,
            environment_name: &env_name,
            stage,
            user_email: &s.email,
            ttl_seconds: minutes * 60,
            idle_seconds: settings.idle_minutes * 60,
        };
        let id = shell::insert_session(&mut tx, &new).await.map_err(AppError::internal)?;
        s.audit(
            &mut tx,
            "shell.session_started",
            &id.to_string(),
            serde_json::json!({"environment_id": environment_id, "environment": env_name, "stage": stage, "ttl_minutes": minutes, "idle_minutes": settings.idle_minutes}),
        )
        .await?;
        let row = shell::get_session(&mut tx, id).await.map_err(AppError::internal)?.ok_or_else(|| AppError::internal("session vanished"))?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(row)
    })
    .await
}

#[server(prefix = "/api", endpoint = "shell/settings")]
pub async fn save_shell_settings(settings: ShellSettingsForm) -> Result<(), AppError> {
    crate::api::guard(async move {
        let s = crate::auth::require(crate::models::Capability::ManageShellSettings).await?;
        let new = settings.validate().map_err(AppError::Invalid)?;
        let mut tx = s.tx().await?;
        let before = crate::db::shell::save_settings(&mut tx, &new).await.map_err(AppError::internal)?;
        s.audit(&mut tx, "shell.settings_changed", "shell", serde_json::json!({"before": before, "after": new})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(())
    })
    .await
}
