use crate::models::{AppError, MemberRow, Role};
use leptos::prelude::*;
use uuid::Uuid;

/// A new member as typed into the form.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewMember {
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub password: String,
}

impl NewMember {
    /// Checks every field and says which one is wrong.
    pub fn validate(&self) -> Result<Role, AppError> {
        let email = self.email.trim();
        let at = email.find('@');
        if email.len() > 254 || at.is_none_or(|i| i == 0 || i == email.len() - 1) || email.contains(char::is_whitespace) {
            return Err(AppError::Invalid("Email: enter an address like name@example.com.".into()));
        }
        if self.display_name.trim().chars().count() > 200 {
            return Err(AppError::Invalid("Name: 200 characters at most.".into()));
        }
        crate::models::validate_password(&self.password).map_err(|e| AppError::Invalid(format!("Password: {e}")))?;
        Role::parse(&self.role).ok_or_else(|| AppError::Invalid("Role: choose one of the listed roles.".into()))
    }
}

#[server(prefix = "/api", endpoint = "members")]
pub async fn list_members() -> Result<Vec<MemberRow>, AppError> {
    crate::api::guard(async move {
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ManageMembers).await?;
        let mut tx = s.tx().await?;
        let rows = crate::db::members::list(&mut tx).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(rows)
    })
    .await
}

#[server(prefix = "/api", endpoint = "members/add")]
pub async fn add_member(member: NewMember) -> Result<(), AppError> {
    crate::api::guard(async move {
        use crate::db::{members, unique_violation};
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ManageMembers).await?;
        let role = member.validate()?;
        let email = member.email.trim().to_string();
        let hash = crate::auth::password::hash(member.password.clone()).await.map_err(AppError::internal)?;
        let mut tx = s.tx().await?;
        let id = Uuid::new_v4();
        if let Err(e) = members::insert_user(&mut tx, id, &email, member.display_name.trim(), &hash).await {
            return Err(match unique_violation(&e) {
                Some(_) => AppError::Conflict(format!("An account for {email} already exists.")),
                None => AppError::internal(e),
            });
        }
        members::insert_membership(&mut tx, id, role).await.map_err(AppError::internal)?;
        s.audit(&mut tx, "member.added", &email, serde_json::json!({"user_id": id, "role": role})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok(())
    })
    .await
}

#[server(prefix = "/api", endpoint = "members/role")]
pub async fn set_member_role(user_id: Uuid, role: String) -> Result<(), AppError> {
    crate::api::guard(async move {
        use crate::db::members;
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ManageMembers).await?;
        let role = Role::parse(&role).ok_or_else(|| AppError::Invalid("Role: choose one of the listed roles.".into()))?;
        let mut tx = s.tx().await?;
        let before = members::role_of(&mut tx, user_id).await.map_err(AppError::internal)?;
        let Some(before) = before else {
            return Err(AppError::NotFound("member".into()));
        };
        if before == Role::Admin && role != Role::Admin && members::count_admins(&mut tx).await.map_err(AppError::internal)? <= 1 {
            return Err(AppError::Conflict("The last admin cannot lose the admin role.".into()));
        }
        members::set_role(&mut tx, user_id, role).await.map_err(AppError::internal)?;
        s.audit(&mut tx, "member.role_changed", &user_id.to_string(), serde_json::json!({"from": before, "to": role})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        s.state.authz_changed();
        Ok(())
    })
    .await
}

#[server(prefix = "/api", endpoint = "members/remove")]
pub async fn remove_member(user_id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        use crate::db::members;
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ManageMembers).await?;
        if user_id == s.user_id() {
            return Err(AppError::Conflict("You cannot remove yourself.".into()));
        }
        let mut tx = s.tx().await?;
        let before = members::role_of(&mut tx, user_id).await.map_err(AppError::internal)?;
        let Some(before) = before else {
            return Err(AppError::NotFound("member".into()));
        };
        if before == Role::Admin && members::count_admins(&mut tx).await.map_err(AppError::internal)? <= 1 {
            return Err(AppError::Conflict("The last admin cannot be removed.".into()));
        }
        members::remove(&mut tx, user_id).await.map_err(AppError::internal)?;
        s.audit(&mut tx, "member.removed", &user_id.to_string(), serde_json::json!({"role": before})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        s.state.authz_changed();
        Ok(())
    })
    .await
}
