//! The login service: throttling, verification, the session token and its audit trail.
use super::{jwt, password, RequestMeta};
use crate::db::audit::insert_auth_event;
use crate::models::{AppError, Role};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Lookup {
    user_id: Option<Uuid>,
    password_hash: Option<String>,
    disabled: bool,
    locked_until: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct MembershipChoice {
    tenant_id: Uuid,
    role: Role,
}

/// A successful login: the cookie to set and the session's claims.
#[derive(Debug)]
pub struct LoggedIn {
    pub cookie: String,
    pub claims: jwt::Claims,
}

const WRONG: &str = "Wrong email or password.";

fn locked_error(until: DateTime<Utc>) -> AppError {
    let minutes = ((until - Utc::now()).num_seconds().max(0) + 59) / 60;
    AppError::TooManyRequests(format!(
        "Too many failed sign-ins for this account. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    ))
}

pub async fn login(state: &AppState, email: &str, password_input: &str, meta: &RequestMeta) -> Result<LoggedIn, AppError> {
    let email = email.trim();
    if email.is_empty() || password_input.is_empty() {
        return Err(AppError::Invalid("Enter your email and password.".into()));
    }
    if email.len() > 254 || password_input.len() > 1024 {
        return Err(AppError::Invalid(WRONG.into()));
    }
    let db = &state.db;
    let mut tx = db.anon_tx().await.map_err(AppError::internal)?;
    let found = sqlx::query_as::<_, Lookup>("select * from ops.auth_lookup($1)")
        .bind(email)
        .fetch_one(&mut *tx)
        .await
        .map_err(AppError::internal)?;

    if let Some(until) = found.locked_until {
        insert_auth_event(&mut tx, "auth.login_locked", found.user_id, email, None, json!({"locked_until": until}), &meta.request_id, &meta.ip)
            .await
            .map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        return Err(locked_error(until));
    }

    let password_ok = password::verify(password_input.to_string(), found.password_hash.clone()).await;
    let membership = match (password_ok, found.user_id) {
        (true, Some(uid)) if !found.disabled => sqlx::query_as::<_, MembershipChoice>(
            "select tenant_id, role from ops.auth_memberships($1) limit 1",
        )
        .bind(uid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(AppError::internal)?,
        _ => None,
    };

    let (Some(user_id), Some(m)) = (found.user_id, membership) else {
        let reason = match (found.user_id, password_ok, found.disabled) {
            (None, _, _) => "unknown_email",
            (Some(_), false, _) => "wrong_password",
            (Some(_), true, true) => "disabled",
            (Some(_), true, false) => "no_membership",
        };
        let a = &state.auth;
        let locked: Option<DateTime<Utc>> = sqlx::query_scalar(
            "select ops.auth_record_failure($1, $2, make_interval(secs => $3), make_interval(secs => $4))",
        )
        .bind(email)
        .bind(a.max_failures)
        .bind(a.failure_window.as_secs_f64())
        .bind(a.lock_duration.as_secs_f64())
        .fetch_one(&mut *tx)
        .await
        .map_err(AppError::internal)?;
        let action = if locked.is_some() { "auth.login_locked" } else { "auth.login_failed" };
        insert_auth_event(&mut tx, action, found.user_id, email, None, json!({"reason": reason}), &meta.request_id, &meta.ip)
            .await
            .map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        return Err(match locked {
            Some(until) => locked_error(until),
            None => AppError::Invalid(WRONG.into()),
        });
    };

    sqlx::query("select ops.auth_record_success($1)")
        .bind(email)
        .execute(&mut *tx)
        .await
        .map_err(AppError::internal)?;
    let (token, claims) = jwt::issue(&state.auth, user_id, m.tenant_id, m.role, email).map_err(AppError::internal)?;
    insert_auth_event(&mut tx, "auth.login_succeeded", Some(user_id), email, Some(m.tenant_id), json!({"role": m.role}), &meta.request_id, &meta.ip)
        .await
        .map_err(AppError::internal)?;
    tx.commit().await.map_err(AppError::internal)?;
    Ok(LoggedIn { cookie: jwt::cookie(&state.auth, &token), claims })
}

/// Audits a logout (the cookie is cleared by the caller).
pub async fn logout(state: &AppState, claims: &jwt::Claims, meta: &RequestMeta) -> Result<(), AppError> {
    let mut tx = state.db.anon_tx().await.map_err(AppError::internal)?;
    insert_auth_event(&mut tx, "auth.logout", Some(claims.sub), &claims.email, Some(claims.tenant_id), json!({}), &meta.request_id, &meta.ip)
        .await
        .map_err(AppError::internal)?;
    tx.commit().await.map_err(AppError::internal)
}
