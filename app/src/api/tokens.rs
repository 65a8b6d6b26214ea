use crate::models::{ApiTokenRow, AppError, CreatedApiToken, Role};
use leptos::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewToken {
    pub name: String,
    pub role: String,
    /// Empty for a tenant-wide token.
    pub project: String,
    /// Empty for no expiry.
    pub expires_in_days: String,
}

impl NewToken {
    pub fn validate(&self) -> Result<(Role, Option<i32>), AppError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::Invalid("Name: 1 to 100 characters, e.g. “CI on GitHub”.".into()));
        }
        let role = Role::parse(&self.role).ok_or_else(|| AppError::Invalid("Role: choose one of the listed roles.".into()))?;
        let days = match self.expires_in_days.trim() {
            "" => None,
            d => match d.parse::<i32>() {
                Ok(n) if (1..=3650).contains(&n) => Some(n),
                _ => return Err(AppError::Invalid("Expiry: a number of days from 1 to 3650, or empty.".into())),
            },
        };
        Ok((role, days))
    }
}

#[server(prefix = "/api", endpoint = "tokens")]
pub async fn list_tokens() -> Result<Vec<ApiTokenRow>, AppError> {
    crate::api::guard(async move {
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ManageApiTokens).await?;
        let mut tx = s.tx().await?;
        let rows = crate::db::tokens::list(&mut tx).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(rows)
    })
    .await
}

/// Creates a token; the secret is returned this once and only its digest is stored.
#[server(prefix = "/api", endpoint = "tokens/create")]
pub async fn create_token(token: NewToken) -> Result<CreatedApiToken, AppError> {
    crate::api::guard(async move {
        use crate::auth::token;
        use crate::db::tokens;
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ManageApiTokens).await?;
        let (role, expires_in_days) = token.validate()?;
        let mut tx = s.tx().await?;
        let project_id = match token.project.trim() {
            "" => None,
            slug => Some(
                crate::db::projects::find_by_slug(&mut tx, slug)
                    .await
                    .map_err(AppError::internal)?
                    .ok_or_else(|| AppError::Invalid(format!("Project: no project “{slug}”.")))?
                    .id,
            ),
        };
        let secret = token::generate();
        let prefix = token::display_prefix(&secret);
        let digest = token::digest(&secret);
        let new = tokens::NewToken {
            name: token.name.trim(),
            prefix: &prefix,
            token_hash: &digest,
            role,
            project_id,
            created_by: s.user_id(),
            expires_in_days,
        };
        let id = tokens::insert(&mut tx, &new).await.map_err(AppError::internal)?;
        s.audit(&mut tx, "api_token.created", &prefix, serde_json::json!({"token_id": id, "role": role, "project_id": project_id}))
            .await?;
        let row = tokens::get(&mut tx, id).await.map_err(AppError::internal)?.ok_or_else(|| AppError::internal("token vanished"))?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(CreatedApiToken { token: secret, row })
    })
    .await
}

#[server(prefix = "/api", endpoint = "tokens/revoke")]
pub async fn revoke_token(id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ManageApiTokens).await?;
        let mut tx = s.tx().await?;
        if !crate::db::tokens::revoke(&mut tx, id).await.map_err(AppError::internal)? {
            return Err(AppError::NotFound("active token".into()));
        }
        s.audit(&mut tx, "api_token.revoked", &id.to_string(), serde_json::json!({})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(())
    })
    .await
}
