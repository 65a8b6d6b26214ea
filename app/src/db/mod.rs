//! Repository functions, one file per table family. Each takes a `&mut PgConnection` so the
//! caller picks the transaction; tenant isolation comes from the claims set on that
//! transaction (see [`Db::tenant_tx`]) and the RLS policies in `migrations/`.
pub mod audit;
pub mod audit_chain;
pub mod backups;
pub mod builds;
pub mod deliveries;
pub mod logs;
pub mod mail;
pub mod members;
pub mod neutralize;
pub mod notifications;
pub mod previews;
pub mod projects;
pub mod promotions;
pub mod scanner;
pub mod shell;
pub mod supabase;
pub mod tokens;

use crate::models::Role;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// The claims a transaction runs under; serialized into `request.jwt.claims`.
#[derive(Debug, Clone, Serialize)]
pub struct DbClaims {
    pub sub: Uuid,
    pub tenant_id: Uuid,
    pub role: Role,
}

/// The application pool. Its connections run as the non-owner role `odooops_app`, so every
/// query is subject to row-level security.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
}

impl Db {
    pub fn new(pool: PgPool) -> Self {
        Db { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction whose queries see only `claims.tenant_id`'s rows.
    pub async fn tenant_tx(&self, claims: &DbClaims) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        set_claims(&mut tx, claims).await?;
        Ok(tx)
    }

    /// As [`Db::tenant_tx`], with `BEGIN` and the claims in one round trip instead of two: a
    /// simple query of two statements with the claims as a literal, for hot paths (the
    /// Supabase proxy's checks and audit writer). The claims serialize to uuids, a role name
    /// and JSON punctuation; anything else is refused rather than quoted.
    pub async fn tenant_tx_one_trip(&self, claims: &DbClaims) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let json = serde_json::to_string(claims).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        if !json.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '{' | '}' | '"' | ':' | ',' | '-' | '_')) {
            return Err(sqlx::Error::Encode("unexpected characters in the claims".into()));
        }
        self.pool.begin_with(sqlx::AssertSqlSafe(format!("begin; select set_config('request.jwt.claims', '{json}', true)"))).await
    }

    /// A transaction without a tenant: RLS hides every tenant row; only the
    /// SECURITY DEFINER auth functions are useful here.
    pub async fn anon_tx(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

/// Sets the claims for the rest of the current transaction only (`is_local = true`), so a
/// pooled connection never carries one request's tenant into the next.
pub async fn set_claims(conn: &mut sqlx::PgConnection, claims: &DbClaims) -> Result<(), sqlx::Error> {
    let json = serde_json::to_string(claims).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("select set_config('request.jwt.claims', $1, true)")
        .bind(json)
        .execute(conn)
        .await?;
    Ok(())
}

/// Maps a unique-constraint violation to `Some(constraint name)`.
pub fn unique_violation(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Some(db.constraint().unwrap_or_default().to_string())
        }
        _ => None,
    }
}
