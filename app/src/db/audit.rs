//! `ops.audit_log`: append-only, one row per privileged action.
use crate::models::AuditRow;
use sqlx::PgConnection;
use uuid::Uuid;

/// One audit record. The tenant comes from the transaction's claims.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor_id: Option<Uuid>,
    pub actor_email: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub details: serde_json::Value,
    pub request_id: &'a str,
    pub ip: &'a str,
}

pub async fn insert(conn: &mut PgConnection, e: &AuditEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into ops.audit_log (tenant_id, actor_id, actor_email, action, target, details, request_id, ip)
         values (ops.current_tenant_id(), $1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.actor_id)
    .bind(e.actor_email)
    .bind(e.action)
    .bind(e.target)
    .bind(&e.details)
    .bind(e.request_id)
    .bind(e.ip)
    .execute(conn)
    .await?;
    Ok(())
}

/// Several records of the transaction's tenant in one statement, in the order given. The
/// chain trigger still fires per row (each row links to the one before it); the tenant's
/// chain head is locked once, for the whole transaction, and the tenant is read from the
/// claims once (a subquery), not per row.
pub async fn insert_many(conn: &mut PgConnection, entries: &[AuditEntry<'_>]) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let actor_ids: Vec<Option<Uuid>> = entries.iter().map(|e| e.actor_id).collect();
    let emails: Vec<&str> = entries.iter().map(|e| e.actor_email).collect();
    let actions: Vec<&str> = entries.iter().map(|e| e.action).collect();
    let targets: Vec<&str> = entries.iter().map(|e| e.target).collect();
    let details: Vec<&serde_json::Value> = entries.iter().map(|e| &e.details).collect();
    let request_ids: Vec<&str> = entries.iter().map(|e| e.request_id).collect();
    let ips: Vec<&str> = entries.iter().map(|e| e.ip).collect();
    sqlx::query(
        "insert into ops.audit_log (tenant_id, actor_id, actor_email, action, target, details, request_id, ip)
         select (select ops.current_tenant_id()), r.actor_id, r.actor_email, r.action, r.target, r.details, r.request_id, r.ip
           from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[])
                with ordinality as r (actor_id, actor_email, action, target, details, request_id, ip, n)
          order by r.n",
    )
    .bind(actor_ids)
    .bind(emails)
    .bind(actions)
    .bind(targets)
    .bind(details)
    .bind(request_ids)
    .bind(ips)
    .execute(conn)
    .await?;
    Ok(())
}

/// Login and logout happen outside a tenant claim; a definer function records them.
#[allow(clippy::too_many_arguments)]
pub async fn insert_auth_event(
    conn: &mut PgConnection,
    action: &str,
    user_id: Option<Uuid>,
    email: &str,
    tenant_id: Option<Uuid>,
    details: serde_json::Value,
    request_id: &str,
    ip: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("select ops.audit_auth_event($1, $2, $3, $4, $5, $6, $7)")
        .bind(action)
        .bind(user_id)
        .bind(email)
        .bind(tenant_id)
        .bind(details)
        .bind(request_id)
        .bind(ip)
        .execute(conn)
        .await?;
    Ok(())
}

/// Newest first, keyset-paged by id; `action_prefix` filters e.g. "auth.".
pub async fn list(
    conn: &mut PgConnection,
    before_id: Option<i64>,
    action_prefix: &str,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as::<_, AuditRow>(
        "select id, actor_email, action, target, details, request_id, ip, created_at
           from ops.audit_log
          where ($1::bigint is null or id < $1)
            and ($2 = '' or action like replace(replace($2, '%', '\\%'), '_', '\\_') || '%')
          order by id desc
          limit $3",
    )
    .bind(before_id)
    .bind(action_prefix)
    .bind(limit)
    .fetch_all(conn)
    .await
}
