//! What the local API keeps in the console's own tables: the auth configuration and the
//! project's secrets (encrypted; listed by name and digest).
use super::{ApiError, Local, Target};
use crate::supabase::crypto::digest;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

/// What a fresh project's `GET /config/auth` says (a subset of Supabase's fields, same names).
fn default_auth_config() -> serde_json::Value {
    serde_json::json!({
        "site_url": "http://localhost:3000",
        "uri_allow_list": "",
        "disable_signup": false,
        "jwt_exp": 3600,
        "mailer_autoconfirm": false,
        "mailer_secure_email_change_enabled": true,
        "external_email_enabled": true,
        "external_phone_enabled": false,
        "external_anonymous_users_enabled": false,
        "password_min_length": 6,
        "refresh_token_rotation_enabled": true,
        "security_refresh_token_reuse_interval": 10,
        "smtp_admin_email": null,
        "smtp_host": null,
        "smtp_port": null,
        "rate_limit_email_sent": 2,
    })
}

fn merged(stored: Option<serde_json::Value>) -> serde_json::Value {
    let mut config = default_auth_config();
    if let (Some(obj), Some(serde_json::Value::Object(s))) = (config.as_object_mut(), stored) {
        obj.extend(s);
    }
    config
}

pub async fn auth_config(t: Target, State(l): State<Local>) -> Result<Json<serde_json::Value>, ApiError> {
    let mut tx = l.db.tenant_tx(&t.claims).await.map_err(ApiError::internal)?;
    let stored = app::db::supabase::auth_config(&mut tx, t.id).await.map_err(ApiError::internal)?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(Json(merged(stored)))
}

/// `PATCH /config/auth`: the given fields (snake_case names, scalar values) replace theirs.
pub async fn patch_auth_config(t: Target, State(l): State<Local>, body: Result<Json<serde_json::Value>, JsonRejection>) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(patch) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let obj = patch.as_object().ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    for (k, v) in obj {
        let name_ok = !k.is_empty() && k.len() <= 100 && k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err(ApiError::bad_request(format!("{k:?} is not an auth setting name")));
        }
        if v.is_object() || v.is_array() || v.as_str().is_some_and(|s| s.len() > 10_000) {
            return Err(ApiError::bad_request(format!("{k}: a setting is a string, number, boolean or null")));
        }
    }
    let mut tx = l.db.tenant_tx(&t.claims).await.map_err(ApiError::internal)?;
    let stored = app::db::supabase::patch_auth_config(&mut tx, t.id, &serde_json::json!({}), &patch).await.map_err(ApiError::internal)?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(Json(merged(Some(stored))))
}

/// `GET /secrets`: `[{name, value, updated_at}]` where `value` is the sha256 digest.
pub async fn secrets(t: Target, State(l): State<Local>) -> Result<Json<serde_json::Value>, ApiError> {
    let mut tx = l.db.tenant_tx(&t.claims).await.map_err(ApiError::internal)?;
    let list = app::db::supabase::secrets(&mut tx, t.id).await.map_err(ApiError::internal)?;
    tx.commit().await.map_err(ApiError::internal)?;
    let rows: Vec<_> = list.into_iter().map(|s| serde_json::json!({"name": s.name, "value": s.digest, "updated_at": s.updated_at})).collect();
    Ok(Json(serde_json::Value::Array(rows)))
}

#[derive(Debug, Deserialize)]
pub struct NewSecret {
    name: String,
    value: String,
}

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty() && b.len() <= 256 && (b[0].is_ascii_alphabetic() || b[0] == b'_') && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !n.to_ascii_lowercase().starts_with("supabase_")
}

/// `POST /secrets`: `[{name, value}]`, created or replaced; 201 with no body.
pub async fn create_secrets(t: Target, State(l): State<Local>, body: Result<Json<Vec<NewSecret>>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(list) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if list.is_empty() || list.len() > 100 {
        return Err(ApiError::bad_request("send 1 to 100 secrets"));
    }
    for s in &list {
        if !valid_name(&s.name) {
            return Err(ApiError::bad_request(format!("{:?}: a secret name is letters, digits and _, not starting with a digit or SUPABASE_", s.name)));
        }
        if s.value.len() > 24 * 1024 {
            return Err(ApiError::bad_request(format!("{}: a secret value is at most 24 KiB", s.name)));
        }
    }
    let mut tx = l.db.tenant_tx(&t.claims).await.map_err(ApiError::internal)?;
    for s in &list {
        let sealed = l.sb.secrets.seal(&s.value).map_err(ApiError::internal)?;
        app::db::supabase::put_secret(&mut tx, t.id, &s.name, &sealed, &digest(&s.value)).await.map_err(ApiError::internal)?;
    }
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /secrets`: `["NAME", ...]`.
pub async fn delete_secrets(t: Target, State(l): State<Local>, body: Result<Json<Vec<String>>, JsonRejection>) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(names) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if names.is_empty() || names.len() > 100 {
        return Err(ApiError::bad_request("send 1 to 100 secret names"));
    }
    let mut tx = l.db.tenant_tx(&t.claims).await.map_err(ApiError::internal)?;
    app::db::supabase::delete_secrets(&mut tx, t.id, &names).await.map_err(ApiError::internal)?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({})))
}
