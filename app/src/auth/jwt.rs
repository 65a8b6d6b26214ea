//! Session tokens: HS256 JWTs carried in an HttpOnly cookie.
use super::{AuthSettings, SESSION_COOKIE};
use crate::models::Role;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub tenant_id: Uuid,
    /// The role at issue time; the server re-reads the live role on every request.
    pub role: Role,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
}

pub fn issue(settings: &AuthSettings, sub: Uuid, tenant_id: Uuid, role: Role, email: &str) -> Result<(String, Claims), String> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub,
        tenant_id,
        role,
        email: email.to_string(),
        iat: now,
        exp: now + settings.session_ttl.as_secs() as i64,
    };
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(settings.jwt_key.expose().as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    Ok((token, claims))
}

/// Checks signature and expiry (no leeway: an expired session is over).
pub fn verify(settings: &AuthSettings, token: &str) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    decode::<Claims>(token, &DecodingKey::from_secret(settings.jwt_key.expose().as_bytes()), &validation)
        .ok()
        .map(|d| d.claims)
}

/// `Set-Cookie` value carrying a session token.
pub fn cookie(settings: &AuthSettings, token: &str) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        settings.session_ttl.as_secs(),
        if settings.secure_cookies { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(settings: &AuthSettings) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if settings.secure_cookies { "; Secure" } else { "" }
    )
}

/// The session token from a `Cookie` header, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Secret;
    use std::time::Duration;

    fn settings(key: &str) -> AuthSettings {
        AuthSettings::new(Secret::new(key), Duration::from_secs(600), false)
    }

    #[test]
    fn a_token_round_trips_and_a_foreign_key_is_refused() {
        let s = settings("k1-0123456789abcdef0123456789abcdef");
        let (token, claims) = issue(&s, Uuid::new_v4(), Uuid::new_v4(), Role::Pm, "pm@example.com").unwrap();
        assert_eq!(verify(&s, &token), Some(claims));
        assert_eq!(verify(&settings("another-key-0123456789abcdef012345"), &token), None);
        assert_eq!(verify(&s, "garbage"), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let c = cookie(&settings("k"), "abc");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert_eq!(from_cookie_header("a=1; odooops_session=abc; b=2"), Some("abc"));
        assert_eq!(from_cookie_header("odooops_session="), None);
    }
}
