//! `ops.users` and `ops.memberships` as seen from inside a tenant.
use crate::models::{MemberRow, Role};
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn list(conn: &mut PgConnection) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as::<_, MemberRow>(
        "select u.id as user_id, u.email, u.display_name, m.role, m.created_at
           from ops.memberships m join ops.users u on u.id = m.user_id
          order by u.email",
    )
    .fetch_all(conn)
    .await
}

pub async fn role_of(conn: &mut PgConnection, user_id: Uuid) -> Result<Option<Role>, sqlx::Error> {
    sqlx::query_scalar(
        "select m.role from ops.memberships m join ops.users u on u.id = m.user_id
          where m.user_id = $1 and not u.disabled",
    )
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// Inserts a user row. The id is generated here because the new row is not readable back
/// (no membership yet) under RLS.
pub async fn insert_user(
    conn: &mut PgConnection,
    id: Uuid,
    email: &str,
    display_name: &str,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into ops.users (id, email, display_name, password_hash) values ($1, $2, $3, $4)")
        .bind(id)
        .bind(email)
        .bind(display_name)
        .bind(password_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_membership(conn: &mut PgConnection, user_id: Uuid, role: Role) -> Result<(), sqlx::Error> {
    sqlx::query("insert into ops.memberships (tenant_id, user_id, role) values (ops.current_tenant_id(), $1, $2)")
        .bind(user_id)
        .bind(role)
        .execute(conn)
        .await?;
    Ok(())
}

/// Returns false when the user is not a member of the claimed tenant.
pub async fn set_role(conn: &mut PgConnection, user_id: Uuid, role: Role) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("update ops.memberships set role = $2 where user_id = $1")
        .bind(user_id)
        .bind(role)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn remove(conn: &mut PgConnection, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from ops.memberships where user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_admins(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from ops.memberships where role = 'admin'")
        .fetch_one(conn)
        .await
}
