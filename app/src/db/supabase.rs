//! `ops.supabase_projects`, `ops.supabase_secrets`, `ops.supabase_auth_config`: linked
//! Supabase projects and the state of the console's local Management API. Encryption of
//! connection strings and secret values happens on the server before these functions.
use crate::models::supabase::{ProjectRef, SupabaseLink, SupabaseUpstream};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A link to create; the tenant comes from the transaction's claims.
#[derive(Debug, Clone)]
pub struct NewLink<'a> {
    pub project_id: Uuid,
    pub project_ref: &'a ProjectRef,
    pub name: &'a str,
    pub upstream: SupabaseUpstream,
    /// The encrypted backing connection (local projects only).
    pub db_url_enc: Option<&'a str>,
    pub created_by: Option<Uuid>,
}

type LinkRow = (Uuid, Uuid, String, String, Option<String>, DateTime<Utc>);

fn link_of(r: LinkRow) -> Option<SupabaseLink> {
    Some(SupabaseLink {
        id: r.0,
        project_id: r.1,
        project_ref: ProjectRef::parse(&r.2)?,
        name: r.3,
        upstream: SupabaseUpstream::from_column(r.4.as_deref()),
        created_at: r.5,
    })
}

const LINK_COLUMNS: &str = "id, project_id, project_ref, name, upstream, created_at";

pub async fn link(conn: &mut PgConnection, l: &NewLink<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into ops.supabase_projects (tenant_id, project_id, project_ref, name, upstream, db_url_enc, created_by)
         values (ops.current_tenant_id(), $1, $2, $3, $4, $5, $6)
         returning id",
    )
    .bind(l.project_id)
    .bind(l.project_ref.as_str())
    .bind(l.name)
    .bind(l.upstream.column())
    .bind(l.db_url_enc)
    .bind(l.created_by)
    .fetch_one(conn)
    .await
}

/// The links of one console project, by ref.
pub async fn list(conn: &mut PgConnection, project_id: Uuid) -> Result<Vec<SupabaseLink>, sqlx::Error> {
    let rows: Vec<LinkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {LINK_COLUMNS} from ops.supabase_projects where project_id = $1 order by project_ref"
    )))
    .bind(project_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().filter_map(link_of).collect())
}

/// The caller's tenant's link for `project_ref` (RLS hides every other tenant's).
pub async fn find_by_ref(conn: &mut PgConnection, project_ref: &ProjectRef) -> Result<Option<SupabaseLink>, sqlx::Error> {
    let row: Option<LinkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {LINK_COLUMNS} from ops.supabase_projects where project_ref = $1"
    )))
    .bind(project_ref.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(link_of))
}

pub async fn unlink(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from ops.supabase_projects where id = $1").bind(id).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

/// A project served by the local Management API, found by ref across tenants.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LocalTarget {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub db_url_enc: String,
    pub created_at: DateTime<Utc>,
}

pub async fn local_target(conn: &mut PgConnection, project_ref: &ProjectRef) -> Result<Option<LocalTarget>, sqlx::Error> {
    sqlx::query_as("select id, tenant_id, project_id, name, db_url_enc, created_at from ops.supabase_local_target($1)")
        .bind(project_ref.as_str())
        .fetch_optional(conn)
        .await
}

/// A secret as listed: never its value.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecretDigest {
    pub name: String,
    pub digest: String,
    pub updated_at: DateTime<Utc>,
}

pub async fn secrets(conn: &mut PgConnection, supabase_project_id: Uuid) -> Result<Vec<SecretDigest>, sqlx::Error> {
    sqlx::query_as("select name, digest, updated_at from ops.supabase_secrets where supabase_project_id = $1 order by name")
        .bind(supabase_project_id)
        .fetch_all(conn)
        .await
}

/// Creates or replaces a secret. The update names the values again rather than reading
/// `excluded.value_enc`: that would need SELECT on the write-only column.
pub async fn put_secret(conn: &mut PgConnection, supabase_project_id: Uuid, name: &str, value_enc: &str, digest: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into ops.supabase_secrets (tenant_id, supabase_project_id, name, value_enc, digest)
         values (ops.current_tenant_id(), $1, $2, $3, $4)
         on conflict (supabase_project_id, name)
         do update set value_enc = $3, digest = $4, updated_at = now()",
    )
    .bind(supabase_project_id)
    .bind(name)
    .bind(value_enc)
    .bind(digest)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_secrets(conn: &mut PgConnection, supabase_project_id: Uuid, names: &[String]) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("delete from ops.supabase_secrets where supabase_project_id = $1 and name = any($2)")
        .bind(supabase_project_id)
        .bind(names)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// The stored auth configuration (None: never set).
pub async fn auth_config(conn: &mut PgConnection, supabase_project_id: Uuid) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar("select config from ops.supabase_auth_config where supabase_project_id = $1")
        .bind(supabase_project_id)
        .fetch_optional(conn)
        .await
}

/// Merges `patch` (an object) into the stored auth configuration; returns the result.
pub async fn patch_auth_config(conn: &mut PgConnection, supabase_project_id: Uuid, base: &serde_json::Value, patch: &serde_json::Value) -> Result<serde_json::Value, sqlx::Error> {
    sqlx::query_scalar(
        "insert into ops.supabase_auth_config (tenant_id, supabase_project_id, config)
         values (ops.current_tenant_id(), $1, $2 || $3)
         on conflict (supabase_project_id)
         do update set config = ops.supabase_auth_config.config || $3, updated_at = now()
         returning config",
    )
    .bind(supabase_project_id)
    .bind(base)
    .bind(patch)
    .fetch_one(conn)
    .await
}

/// The tenant's own management token as the UI may see it (never the token).
pub async fn token_info(conn: &mut PgConnection) -> Result<Option<crate::models::supabase::TokenInfo>, sqlx::Error> {
    let row: Option<(String, String, DateTime<Utc>)> = sqlx::query_as("select hint, updated_by_email, updated_at from ops.supabase_tokens").fetch_optional(conn).await?;
    Ok(row.map(|(hint, updated_by, updated_at)| crate::models::supabase::TokenInfo { hint, updated_by, updated_at }))
}

/// Sets (or replaces) the caller's tenant's token, already encrypted.
pub async fn put_token(conn: &mut PgConnection, token_enc: &str, hint: &str, by: Uuid, by_email: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into ops.supabase_tokens (tenant_id, token_enc, hint, updated_by, updated_by_email)
         values (ops.current_tenant_id(), $1, $2, $3, $4)
         on conflict (tenant_id) do update set token_enc = $1, hint = $2, updated_by = $3, updated_by_email = $4, updated_at = now()",
    )
    .bind(token_enc)
    .bind(hint)
    .bind(by)
    .bind(by_email)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_token(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from ops.supabase_tokens").execute(conn).await?.rows_affected() > 0)
}

/// Where the proxy sends a ref of the caller's tenant: None when it is not linked.
#[derive(Debug, Clone)]
pub struct Route {
    pub upstream: SupabaseUpstream,
    /// The tenant's own token, encrypted.
    pub token_enc: Option<String>,
    /// The server's configured token may be used (the installation's first tenant).
    pub server_token: bool,
}

/// What the proxy checks, in one statement: the live role of `user_id` in the transaction's
/// tenant (as [`crate::db::members::role_of`]; None: not a member any more) and, with a ref,
/// that tenant's route for it (as [`route`]; None: not linked).
pub async fn grant(conn: &mut PgConnection, user_id: Uuid, project_ref: Option<&ProjectRef>) -> Result<(Option<crate::models::Role>, Option<Route>), sqlx::Error> {
    let row: (Option<crate::models::Role>, bool, Option<String>, Option<String>, Option<bool>) = sqlx::query_as(
        "select (select m.role from ops.memberships m join ops.users u on u.id = m.user_id
                  where m.user_id = $1 and not u.disabled),
                r.linked is not null, r.upstream, r.token_enc, r.server_token
           from (select 1) one
           left join (select true as linked, * from ops.supabase_route($2)) r on $2 is not null",
    )
    .bind(user_id)
    .bind(project_ref.map(|r| r.as_str()))
    .fetch_one(conn)
    .await?;
    let (role, linked, upstream, token_enc, server_token) = row;
    let route = linked.then(|| Route { upstream: SupabaseUpstream::from_column(upstream.as_deref()), token_enc, server_token: server_token.unwrap_or(false) });
    Ok((role, route))
}

pub async fn route(conn: &mut PgConnection, project_ref: &ProjectRef) -> Result<Option<Route>, sqlx::Error> {
    let row: Option<(Option<String>, Option<String>, bool)> =
        sqlx::query_as("select upstream, token_enc, server_token from ops.supabase_route($1)").bind(project_ref.as_str()).fetch_optional(conn).await?;
    Ok(row.map(|(u, token_enc, server_token)| Route { upstream: SupabaseUpstream::from_column(u.as_deref()), token_enc, server_token }))
}
