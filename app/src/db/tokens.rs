//! `ops.api_tokens`: machine tokens, stored as sha256 digests.
use crate::models::{ApiTokenRow, Role};
use sqlx::PgConnection;
use uuid::Uuid;

/// Tokens of the claimed tenant (or the one with `id`), active first, newest first.
async fn fetch(conn: &mut PgConnection, id: Option<Uuid>) -> Result<Vec<ApiTokenRow>, sqlx::Error> {
    sqlx::query_as::<_, ApiTokenRow>(
        "select t.id, t.name, t.prefix, t.role, p.slug as project_slug, u.email as created_by_email,
                t.expires_at, t.last_used_at, t.revoked_at, t.created_at
           from ops.api_tokens t
           left join ops.projects p on p.id = t.project_id
           left join ops.users u on u.id = t.created_by
          where $1::uuid is null or t.id = $1
          order by t.revoked_at nulls first, t.created_at desc",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

pub async fn list(conn: &mut PgConnection) -> Result<Vec<ApiTokenRow>, sqlx::Error> {
    fetch(conn, None).await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<ApiTokenRow>, sqlx::Error> {
    Ok(fetch(conn, Some(id)).await?.into_iter().next())
}

pub struct NewToken<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub token_hash: &'a str,
    pub role: Role,
    pub project_id: Option<Uuid>,
    pub created_by: Uuid,
    pub expires_in_days: Option<i32>,
}

pub async fn insert(conn: &mut PgConnection, t: &NewToken<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into ops.api_tokens (tenant_id, project_id, created_by, name, prefix, token_hash, role, expires_at)
         values (ops.current_tenant_id(), $1, $2, $3, $4, $5, $6,
                 case when $7::int is null then null else now() + make_interval(days => $7::int) end)
         returning id",
    )
    .bind(t.project_id)
    .bind(t.created_by)
    .bind(t.name)
    .bind(t.prefix)
    .bind(t.token_hash)
    .bind(t.role)
    .bind(t.expires_in_days)
    .fetch_one(conn)
    .await
}

/// Returns false if the token does not exist in this tenant or was already revoked.
pub async fn revoke(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("update ops.api_tokens set revoked_at = now() where id = $1 and revoked_at is null")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What a presented token resolves to (through a definer function: no tenant is claimed yet).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenScope {
    pub token_id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Option<Uuid>,
    pub role: Role,
    pub name: String,
}

pub async fn resolve(conn: &mut PgConnection, token_hash: &str) -> Result<Option<TokenScope>, sqlx::Error> {
    sqlx::query_as::<_, TokenScope>("select * from ops.auth_api_token($1)")
        .bind(token_hash)
        .fetch_optional(conn)
        .await
}
