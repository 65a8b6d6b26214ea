use crate::models::{AppError, SessionUser};
use leptos::prelude::*;

/// Only a local path may follow a login (no open redirects).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.starts_with("/login") => n.to_string(),
        _ => "/".to_string(),
    }
}

#[server(prefix = "/api", endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use crate::auth::session::{app_state, request_headers, set_cookie, set_status};
    use crate::auth::RequestMeta;
    let state = app_state()?;
    let meta = RequestMeta::from_headers(&request_headers().await?);
    match crate::auth::login::login(&state, &email, &password, &meta).await {
        Ok(done) => {
            set_cookie(&done.cookie);
            leptos_axum::redirect(&safe_next(next.as_deref()));
            Ok(())
        }
        Err(e) => {
            set_status(&e);
            Err(e)
        }
    }
}

#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::auth::session::{app_state, request_headers, set_cookie};
    use crate::auth::{jwt, RequestMeta};
    let state = app_state()?;
    let headers = request_headers().await?;
    let claims = headers
        .get(axum::http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(jwt::from_cookie_header)
        .and_then(|t| jwt::verify(&state.auth, t));
    set_cookie(&jwt::clear_cookie(&state.auth));
    if let Some(claims) = claims {
        crate::auth::login::logout(&state, &claims, &RequestMeta::from_headers(&headers)).await?;
    }
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in user, or `None` when there is no valid session.
#[server(prefix = "/api", endpoint = "me")]
pub async fn current_user() -> Result<Option<SessionUser>, AppError> {
    let s = match crate::auth::session::load_session().await {
        Ok(s) => s,
        Err(AppError::Unauthorized) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut tx = s.tx().await?;
    let (display_name, tenant_name): (String, String) = sqlx::query_as(
        "select u.display_name, t.name from ops.users u, ops.tenants t
          where u.id = $1 and t.id = ops.current_tenant_id()",
    )
    .bind(s.user_id())
    .fetch_one(&mut *tx)
    .await
    .map_err(AppError::internal)?;
    tx.commit().await.map_err(AppError::internal)?;
    Ok(Some(SessionUser {
        user_id: s.user_id(),
        email: s.email.clone(),
        display_name,
        tenant_id: s.claims.tenant_id,
        tenant_name,
        role: s.role(),
    }))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_follow_a_login() {
        assert_eq!(safe_next(Some("/projects/acme")), "/projects/acme");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
