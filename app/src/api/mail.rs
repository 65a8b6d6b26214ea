//! Server functions of the mail catcher: inboxes, messages, mailbox settings and release.
use crate::models::{AppError, MailOverview, MailboxInfo, MessageDetail, MessagePage};
use leptos::prelude::*;
use uuid::Uuid;

/// Messages per inbox page.
pub const PAGE_SIZE: i64 = 50;

#[cfg(feature = "ssr")]
mod ssr {
    pub use crate::auth::require;
    pub use crate::models::Capability;
    use crate::models::AppError;

    pub fn db(e: sqlx::Error) -> AppError {
        AppError::internal(e)
    }

    pub use crate::api::not_found;
}

#[server(prefix = "/api", endpoint = "mail-overview")]
pub async fn get_mail_overview(slug: String) -> Result<MailOverview, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewMail).await?;
        let mut tx = s.tx().await?;
        let p = crate::db::projects::find_by_slug(&mut tx, &slug).await.map_err(db)?.ok_or_else(|| not_found(&format!("project “{slug}”")))?;
        let inboxes = crate::db::mail::inboxes(&mut tx, p.id).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(MailOverview { project_id: p.id, project_slug: p.slug, project_name: p.name, inboxes })
    })
    .await
}

/// The environment's mailbox, created with fresh credentials on first use.
#[server(prefix = "/api", endpoint = "mailbox")]
pub async fn get_mailbox(env_id: Uuid) -> Result<MailboxInfo, AppError> {
    crate::api::guard(async move {
        use crate::models::Stage;
        use ssr::*;
        let s = require(Capability::ViewMail).await?;
        let mut tx = s.tx().await?;
        let existed = crate::db::mail::mailbox(&mut tx, env_id).await.map_err(db)?.is_some();
        let m = crate::db::mail::ensure_mailbox(&mut tx, env_id).await.map_err(db)?.ok_or_else(|| not_found("environment"))?;
        if !existed {
            s.audit(&mut tx, "mail.mailbox_created", &env_id.to_string(), serde_json::json!({"username": m.smtp_username})).await?;
        }
        tx.commit().await.map_err(db)?;
        let settings = &s.state.mail.settings;
        let can_manage = s.role().allows(Capability::ManageMail);
        Ok(MailboxInfo {
            environment_id: m.environment_id,
            environment_name: m.environment_name,
            stage: m.stage,
            project_slug: m.project_slug,
            project_name: m.project_name,
            captured: m.stage != Stage::Production,
            smtp_host: settings.smtp_host.clone(),
            smtp_port: settings.smtp_port,
            starttls: settings.starttls,
            username: m.smtp_username,
            password: can_manage.then_some(m.smtp_password),
            max_messages: m.max_messages,
            max_age_days: m.max_age_days,
            message_count: m.message_count,
            rotated_at: m.rotated_at,
            can_manage,
            can_release: s.role().allows(Capability::ReleaseMail) && settings.relay_configured,
            relay_configured: settings.relay_configured,
            release_allow: settings.release_allow.clone(),
        })
    })
    .await
}

#[server(prefix = "/api", endpoint = "mail-messages")]
pub async fn get_messages(env_id: Uuid, q: String, offset: i64) -> Result<MessagePage, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        if q.len() > 500 {
            return Err(AppError::Invalid("the search is too long (500 characters at most)".into()));
        }
        let s = require(Capability::ViewMail).await?;
        let mut tx = s.tx().await?;
        let page = crate::db::mail::list(&mut tx, env_id, &q, offset, PAGE_SIZE).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(page)
    })
    .await
}

#[server(prefix = "/api", endpoint = "mail-message")]
pub async fn get_message(id: Uuid) -> Result<MessageDetail, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ViewMail).await?;
        let mut tx = s.tx().await?;
        let m = crate::db::mail::message(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("message"))?;
        tx.commit().await.map_err(db)?;
        let headers = crate::mailparse::headers(&m.raw);
        Ok(MessageDetail {
            id: m.id,
            environment_id: m.environment_id,
            received_at: m.received_at,
            envelope_from: m.envelope_from,
            envelope_to: m.envelope_to,
            from: m.header_from,
            to: m.header_to,
            cc: m.header_cc,
            subject: m.subject,
            sent_at: m.sent_at,
            message_id: m.message_id,
            size: m.size,
            text_body: m.text_body,
            has_html: !m.html_body.is_empty(),
            html_has_remote: crate::mailparse::has_remote_content(&m.html_body),
            attachments: m.attachments.0,
            headers,
            parse_error: m.parse_error,
            tls: m.tls,
            client_addr: m.client_addr,
            helo: m.helo,
            can_manage: s.role().allows(Capability::ManageMail),
            can_release: s.role().allows(Capability::ReleaseMail) && s.state.mail.settings.relay_configured,
        })
    })
    .await
}

#[server(prefix = "/api", endpoint = "mail-delete")]
pub async fn delete_message(id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageMail).await?;
        let mut tx = s.tx().await?;
        let env = crate::db::mail::delete(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("message"))?;
        s.audit(&mut tx, "mail.deleted", &id.to_string(), serde_json::json!({"environment_id": env})).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

/// Deletes every message of an inbox; returns how many.
#[server(prefix = "/api", endpoint = "mail-clear")]
pub async fn clear_inbox(env_id: Uuid) -> Result<u64, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageMail).await?;
        let mut tx = s.tx().await?;
        crate::db::mail::mailbox(&mut tx, env_id).await.map_err(db)?.ok_or_else(|| not_found("mailbox"))?;
        let n = crate::db::mail::clear(&mut tx, env_id).await.map_err(db)?;
        s.audit(&mut tx, "mail.cleared", &env_id.to_string(), serde_json::json!({"deleted": n})).await?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    })
    .await
}

/// New SMTP password for the environment (the old one stops working at once).
#[server(prefix = "/api", endpoint = "mail-rotate")]
pub async fn rotate_mail_credentials(env_id: Uuid) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageMail).await?;
        let mut tx = s.tx().await?;
        if !crate::db::mail::rotate(&mut tx, env_id).await.map_err(db)? {
            return Err(not_found("mailbox"));
        }
        s.audit(&mut tx, "mail.credentials_rotated", &env_id.to_string(), serde_json::json!({})).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

#[server(prefix = "/api", endpoint = "mail-retention")]
pub async fn set_mail_retention(env_id: Uuid, max_messages: String, max_age_days: String) -> Result<(), AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ManageMail).await?;
        let max_messages: i32 = max_messages
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| AppError::Invalid("Keep at most: a whole number from 1 to 100000 messages.".into()))?;
        let max_age_days: i32 = max_age_days
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=365).contains(n))
            .ok_or_else(|| AppError::Invalid("Keep for: a whole number from 1 to 365 days.".into()))?;
        let mut tx = s.tx().await?;
        let before = crate::db::mail::mailbox(&mut tx, env_id).await.map_err(db)?.ok_or_else(|| not_found("mailbox"))?;
        crate::db::mail::set_retention(&mut tx, env_id, max_messages, max_age_days).await.map_err(db)?;
        s.audit(
            &mut tx,
            "mail.retention_changed",
            &env_id.to_string(),
            serde_json::json!({"before": {"max_messages": before.max_messages, "max_age_days": before.max_age_days},
                               "after": {"max_messages": max_messages, "max_age_days": max_age_days}}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    })
    .await
}

/// Forwards a captured message, unchanged, to an allow-listed address through the relay.
#[server(prefix = "/api", endpoint = "mail-release")]
pub async fn release_message(id: Uuid, to: String) -> Result<String, AppError> {
    crate::api::guard(async move {
        use ssr::*;
        let s = require(Capability::ReleaseMail).await?;
        let to = to.trim().to_string();
        let Some(relay) = s.state.mail.relay.clone() else {
            return Err(AppError::Conflict("no relay is configured (ODOOOPS_MAIL_RELAY_URL), so mail cannot be released".into()));
        };
        if to.is_empty() || to.len() > 320 || !to.contains('@') || to.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') {
            return Err(AppError::Invalid("Release to: enter one e-mail address.".into()));
        }
        if !s.state.mail.settings.release_allowed(&to) {
            let mut tx = s.tx().await?;
            s.audit(&mut tx, "mail.release_refused", &id.to_string(), serde_json::json!({"to": to, "reason": "not on the allow-list"})).await?;
            tx.commit().await.map_err(db)?;
            return Err(AppError::Forbidden(format!("{to} is not on the release allow-list (ODOOOPS_MAIL_RELEASE_ALLOW)")));
        }
        let mut tx = s.tx().await?;
        let m = crate::db::mail::message(&mut tx, id).await.map_err(db)?.ok_or_else(|| not_found("message"))?;
        tx.commit().await.map_err(db)?;
        let outcome = relay.send(m.envelope_from.clone(), vec![to.clone()], m.raw).await;
        let mut tx = s.tx().await?;
        let details = match &outcome {
            Ok(reply) => serde_json::json!({"to": to, "environment_id": m.environment_id, "subject": m.subject, "relay_reply": reply}),
            Err(e) => serde_json::json!({"to": to, "environment_id": m.environment_id, "subject": m.subject, "error": e}),
        };
        let action = if outcome.is_ok() { "mail.released" } else { "mail.release_failed" };
        s.audit(&mut tx, action, &id.to_string(), details).await?;
        tx.commit().await.map_err(db)?;
        outcome.map_err(|e| AppError::Conflict(format!("the relay refused the message: {e}")))
    })
    .await
}
