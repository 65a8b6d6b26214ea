//! The signed-in caller of a server function, with its live role and request metadata.
use super::jwt;
use crate::db::{self, audit::AuditEntry, DbClaims};
use crate::models::{AppError, Capability, Role};
use crate::state::AppState;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// Who is asking and from where; recorded with every audit event.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: String,
    pub ip: String,
}

impl RequestMeta {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        RequestMeta {
            request_id: get("x-request-id"),
            ip: get("x-odooops-peer"),
        }
    }
}

pub struct Session {
    pub state: AppState,
    pub claims: DbClaims,
    pub email: String,
    pub meta: RequestMeta,
}

impl Session {
    pub async fn tx(&self) -> Result<Transaction<'static, Postgres>, AppError> {
        self.state.db.tenant_tx(&self.claims).await.map_err(AppError::internal)
    }

    pub fn role(&self) -> Role {
        self.claims.role
    }

    pub fn user_id(&self) -> Uuid {
        self.claims.sub
    }

    /// Appends an audit record inside the caller's transaction, so the action and its record
    /// commit or roll back together.
    pub async fn audit(
        &self,
        conn: &mut sqlx::PgConnection,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), AppError> {
        let entry = AuditEntry {
            actor_id: Some(self.claims.sub),
            actor_email: &self.email,
            action,
            target,
            details,
            request_id: &self.meta.request_id,
            ip: &self.meta.ip,
        };
        db::audit::insert(conn, &entry).await.map_err(AppError::internal)
    }
}

pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::internal("AppState missing from context"))
}

/// Sets the HTTP status of the response being built (server functions and SSR alike).
pub fn set_status(err: &AppError) {
    if let Some(opts) = use_context::<ResponseOptions>() {
        opts.set_status(StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    }
}

pub fn set_cookie(value: &str) {
    if let (Some(opts), Ok(v)) = (use_context::<ResponseOptions>(), HeaderValue::from_str(value)) {
        opts.append_header(header::SET_COOKIE, v);
    }
}

pub async fn request_headers() -> Result<HeaderMap, AppError> {
    leptos_axum::extract::<HeaderMap>().await.map_err(AppError::internal)
}

/// The caller's session, or `Unauthorized`. The role is read from the database on every
/// call, so a changed or removed membership takes effect at once. A token past half its
/// lifetime is re-issued (sliding expiry).
pub async fn session() -> Result<Session, AppError> {
    let result = load_session().await;
    if let Err(e) = &result {
        set_status(e);
    }
    result
}

pub(crate) async fn load_session() -> Result<Session, AppError> {
    let state = app_state()?;
    let headers = request_headers().await?;
    let (session, refreshed) = from_headers(&state, &headers).await?;
    if let Some(cookie) = refreshed {
        set_cookie(&cookie);
    }
    Ok(session)
}

/// The session of a plain HTTP request (SSE, CSV export, preview proxy), with a re-issued
/// cookie when the token is past half its lifetime. The role is read live from the database.
pub async fn from_headers(state: &AppState, headers: &HeaderMap) -> Result<(Session, Option<String>), AppError> {
    let claims = cookie_claims(state, headers)?;
    let mut db_claims = DbClaims { sub: claims.sub, tenant_id: claims.tenant_id, role: claims.role };
    let mut tx = state.db.tenant_tx(&db_claims).await.map_err(AppError::internal)?;
    let live_role = db::members::role_of(&mut tx, claims.sub).await.map_err(AppError::internal)?;
    tx.commit().await.map_err(AppError::internal)?;
    db_claims.role = live_role.ok_or(AppError::Unauthorized)?;

    let mut refreshed = None;
    let age = chrono::Utc::now().timestamp() - claims.iat;
    if age > state.auth.session_ttl.as_secs() as i64 / 2 {
        if let Ok((fresh, _)) = jwt::issue(&state.auth, claims.sub, claims.tenant_id, db_claims.role, &claims.email) {
            refreshed = Some(jwt::cookie(&state.auth, &fresh));
        }
    }
    let session = Session { state: state.clone(), claims: db_claims, email: claims.email, meta: RequestMeta::from_headers(headers) };
    Ok((session, refreshed))
}

/// The login cookie's verified claims, before any database check: the role in them may be
/// stale, so a caller reads the live one (as [`from_headers`] does) before trusting it.
pub fn cookie_claims(state: &AppState, headers: &HeaderMap) -> Result<jwt::Claims, AppError> {
    let token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(jwt::from_cookie_header)
        .ok_or(AppError::Unauthorized)?;
    jwt::verify(&state.auth, token).ok_or(AppError::Unauthorized)
}

impl Session {
    /// `Forbidden` unless the role allows `cap` (for plain HTTP handlers; refusals are audited).
    pub async fn check(&self, cap: Capability) -> Result<(), AppError> {
        if self.role().allows(cap) {
            return Ok(());
        }
        let mut tx = self.tx().await?;
        self.audit(&mut tx, "access.denied", describe(cap), serde_json::json!({"role": self.role()})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Err(AppError::Forbidden(format!("the {} role cannot {}", self.role().label(), describe(cap))))
    }
}

/// The caller's session if their role allows `cap`; else `Forbidden` (HTTP 403).
pub async fn require(cap: Capability) -> Result<Session, AppError> {
    let s = session().await?;
    if s.role().allows(cap) {
        Ok(s)
    } else {
        let e = AppError::Forbidden(format!("the {} role cannot {}", s.role().label(), describe(cap)));
        set_status(&e);
        // Refusals are audited too: repeated probing of admin screens shows up in the log.
        let mut tx = s.tx().await?;
        s.audit(&mut tx, "access.denied", describe(cap), serde_json::json!({"role": s.role()})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Err(e)
    }
}

fn describe(cap: Capability) -> &'static str {
    match cap {
        Capability::ViewDashboard => "view the dashboard",
        Capability::ManageMembers => "manage members",
        Capability::ManageApiTokens => "manage API tokens",
        Capability::ViewAudit => "read the audit log",
        Capability::ViewBuilds => "view builds",
        Capability::OperateBuilds => "cancel or rebuild builds",
        Capability::ViewDeliveries => "view webhook deliveries",
        Capability::ManageBuildSettings => "change build settings",
        Capability::ViewMail => "read captured mail",
        Capability::ManageMail => "manage mailboxes",
        Capability::ReleaseMail => "release captured mail",
        Capability::ViewPromotions => "view promotions",
        Capability::RequestPromotion => "request promotions",
        Capability::ApprovePromotion => "approve or reject promotions",
        Capability::OverrideGate => "override a failing gate",
        Capability::Rollback => "roll an environment back",
        Capability::ManagePromotionSettings => "change promotion settings",
        Capability::VerifyAudit => "verify the audit chain",
        Capability::ViewBackups => "view backups",
        Capability::RunBackup => "take or cancel backups",
        Capability::RestoreStaging => "restore a backup into staging",
        Capability::RestoreProduction => "restore a backup into production (sysadmins only)",
        Capability::DownloadBackup => "download backups",
        Capability::ManageBackups => "change backup schedules and storage",
        Capability::OpenShell => "open a web shell",
        Capability::ViewShellSessions => "see shell sessions",
        Capability::ManageShellSettings => "change shell time limits",
        Capability::ManageOwnSshKeys => "manage SSH keys",
        Capability::ViewScans => "view database scans",
        Capability::RunScan => "start a database scan",
        Capability::SuppressFinding => "suppress a finding (admins only)",
        Capability::ApplyFixPlan => "apply a fix plan (sysadmins only)",
        Capability::ManageScanSettings => "change the scan schedule",
        Capability::ManageSupabase => "link Supabase projects and change their settings (admins only)",
    }
}
