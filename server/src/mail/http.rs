//! Plain HTTP endpoints of the mail viewer: raw .eml download, the HTML body for the
//! sandboxed frame, attachment downloads, and live inbox updates over SSE.
use crate::logs::hub::Notice;
use crate::logs::tail::viewer;
use crate::routes::app_error;
use crate::startup::HttpState;
use app::models::{AppError, Capability};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

/// Loads a message's environment, subject and raw bytes under the viewer's tenant.
async fn load_raw(s: &HttpState, headers: &HeaderMap, id: Uuid) -> Result<(Uuid, String, Vec<u8>), Response> {
    let session = viewer(s, headers, Capability::ViewMail).await?;
    let found = async {
        let mut tx = session.tx().await?;
        let row = app::db::mail::raw(&mut tx, id).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        row.ok_or_else(|| AppError::NotFound("message".into()))
    }
    .await;
    found.map_err(app_error)
}

/// A file name made of safe characters only (for Content-Disposition).
fn file_name(stem: &str, fallback: &str, ext: &str) -> String {
    let cleaned: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let cleaned: String = cleaned.chars().take(80).collect();
    let stem = if cleaned.trim_matches('.').is_empty() { fallback.to_string() } else { cleaned };
    if ext.is_empty() || stem.to_ascii_lowercase().ends_with(&format!(".{ext}")) {
        stem
    } else {
        format!("{stem}.{ext}")
    }
}

fn download(bytes: Vec<u8>, content_type: &str, name: &str) -> Response {
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    r
}

/// `GET /api/mail/messages/{id}/raw`: the message exactly as the client sent it.
pub async fn raw(State(s): State<HttpState>, Path(id): Path<Uuid>, headers: HeaderMap) -> Response {
    match load_raw(&s, &headers, id).await {
        Ok((_, subject, raw)) => download(raw, "message/rfc822", &file_name(&subject, &id.to_string(), "eml")),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
pub struct HtmlParams {
    #[serde(default)]
    pub remote: Option<String>,
}

/// The CSP of a mail's HTML: nothing runs, nothing is fetched (unless remote content was
/// asked for, and then only images, styles and fonts), and the document is sandboxed even
/// when opened on its own.
pub fn html_csp(remote: bool) -> String {
    let net = if remote { " https: http:" } else { "" };
    format!(
        "default-src 'none'; img-src data:{net}; style-src 'unsafe-inline'{net}; font-src data:{net}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
    )
}

/// `GET /api/mail/messages/{id}/html[?remote=1]`: the HTML body for the sandboxed frame,
/// with embedded (`cid:`) images inlined.
pub async fn html(State(s): State<HttpState>, Path(id): Path<Uuid>, Query(p): Query<HtmlParams>, headers: HeaderMap) -> Response {
    let (_, _, raw) = match load_raw(&s, &headers, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(html) = tokio::task::spawn_blocking(move || app::mailparse::html_with_inline_images(&raw)).await.ok().flatten() else {
        return app_error(AppError::NotFound("an HTML part in this message".into()));
    };
    let remote = p.remote.as_deref().is_some_and(|v| v == "1" || v == "true");
    let mut r = Response::new(Body::from(html));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(&html_csp(remote)).expect("static CSP"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    r
}

/// `GET /api/mail/messages/{id}/attachments/{index}`: one attachment, always as a download.
pub async fn attachment(State(s): State<HttpState>, Path((id, index)): Path<(Uuid, u32)>, headers: HeaderMap) -> Response {
    let (_, _, raw) = match load_raw(&s, &headers, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match tokio::task::spawn_blocking(move || app::mailparse::attachment(&raw, index)).await.ok().flatten() {
        Some((meta, bytes)) => {
            let ext = meta.filename.rsplit_once('.').map(|(_, e)| e.to_string()).unwrap_or_default();
            let stem = meta.filename.rsplit_once('.').map(|(s, _)| s.to_string()).unwrap_or(meta.filename.clone());
            download(bytes, &meta.content_type, &file_name(&stem, &format!("attachment-{}", index + 1), &file_name(&ext, "", "")))
        }
        None => app_error(AppError::NotFound("attachment".into())),
    }
}

#[derive(Debug, Deserialize)]
pub struct EventParams {
    pub env: Uuid,
}

/// `GET /api/mail/events?env=…`: `ready` once, then `mail` whenever that inbox gets mail.
pub async fn events(State(s): State<HttpState>, Query(p): Query<EventParams>, headers: HeaderMap) -> Response {
    let session = match viewer(&s, &headers, Capability::ViewMail).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // Refuse an environment the viewer cannot see rather than stream silence.
    let seen = async {
        let mut tx = session.tx().await?;
        let seen: bool = sqlx::query_scalar("select exists (select 1 from ops.environments where id = $1)")
            .bind(p.env)
            .fetch_one(&mut *tx)
            .await
            .map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok::<_, AppError>(seen)
    }
    .await;
    match seen {
        Ok(true) => {}
        Ok(false) => return app_error(AppError::NotFound("environment".into())),
        Err(e) => return app_error(e),
    }
    let tenant = session.claims.tenant_id;
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(16);
    let mut notices = s.services.hub.subscribe();
    let hub = s.services.hub.clone();
    tokio::spawn(async move {
        let _ = tx.send(Ok(Event::default().event("ready").data("ok"))).await;
        loop {
            let changed = tokio::select! {
                _ = tx.closed() => return,
                _ = hub.stopping() => return,
                n = notices.recv() => match n {
                    Ok(Notice::Mail(m)) => m.tenant_id == tenant && m.environment_id == p.env,
                    Ok(Notice::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Ok(_) => false,
                    Err(_) => return,
                },
            };
            if changed {
                // The first mail is announced at once; a burst behind it becomes one more event.
                if tx.send(Ok(Event::default().event("mail").data("new"))).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
                let mut more = false;
                while let Ok(n) = notices.try_recv() {
                    more |= matches!(n, Notice::Mail(m) if m.tenant_id == tenant && m.environment_id == p.env);
                }
                if more && tx.send(Ok(Event::default().event("mail").data("new"))).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut r = Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_name("Your invoice: #42 / Nov", "x", "eml"), "Your_invoice_42_Nov.eml");
        assert_eq!(file_name("../../etc/passwd", "x", "eml"), ".._.._etc_passwd.eml");
        assert_eq!(file_name("", "abc", "eml"), "abc.eml");
        assert_eq!(file_name("report.pdf", "x", "pdf"), "report.pdf");
    }

    #[test]
    fn the_html_policy_blocks_scripts_and_remote_loads_by_default() {
        let csp = html_csp(false);
        assert!(csp.contains("default-src 'none'") && csp.ends_with("sandbox") && !csp.contains("http"));
        assert!(!csp.contains("script-src"));
        assert!(html_csp(true).contains("img-src data: https: http:"));
    }
}
