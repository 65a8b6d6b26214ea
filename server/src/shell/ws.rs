//! `GET /api/shell/sessions/{id}/ws`: the terminal over a WebSocket. Same-origin only,
//! authenticated by the login cookie, only for the person who opened the session.
//!
//! Frames: binary both ways is terminal data. Text from the browser is JSON control
//! (`{"type":"resize","cols":..,"rows":..}`, `{"type":"close"}`); text from the server is
//! JSON too (`hello`, `warning`, `closed`, `error`). On attach the server sends `hello`, then
//! the recent output (a reattaching browser gets its scrollback back), then live output.
use super::live::{Frame, LiveSession};
use super::{AttachError, ShellService};
use crate::logs::tail::viewer;
use crate::routes::app_error;
use crate::startup::HttpState;
use app::models::{may_open_shell, AppError, Capability, EndReason};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

/// Largest message a browser may send (a big paste); larger ones close the socket.
const MAX_MESSAGE: usize = 1 << 20;

/// True when the browser's Origin names this console: the Host it connected to, or the
/// configured public URL. A missing Origin (not a browser) is refused too.
pub fn origin_allowed(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return false };
    let origin = origin.trim_end_matches('/');
    let Some(origin_host) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else { return false };
    if origin_host.is_empty() || origin_host.contains('/') {
        return false;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        return true;
    }
    let public = public_url.trim_end_matches('/');
    !public.is_empty() && origin.eq_ignore_ascii_case(public)
}

fn refuse(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": msg}))).into_response()
}

pub async fn attach(State(s): State<HttpState>, Path(id): Path<Uuid>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if !origin_allowed(&headers, &s.services.settings.public_url) {
        return refuse(StatusCode::FORBIDDEN, "this WebSocket must be opened from the console's own pages");
    }
    let session = match viewer(&s, &headers, Capability::OpenShell).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(shell) = s.services.shell.clone() else {
        return app_error(AppError::Conflict("the web shell is not running on this console".into()));
    };
    let target = async {
        let mut tx = session.tx().await?;
        let t = app::db::shell::session_target(&mut tx, id).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok::<_, AppError>(t)
    }
    .await;
    let t = match target {
        Ok(Some(t)) => t,
        Ok(None) => return app_error(AppError::NotFound("shell session".into())),
        Err(e) => return app_error(e),
    };
    if t.user_id != session.user_id() {
        return refuse(StatusCode::FORBIDDEN, "only the person who opened a shell session can attach to it");
    }
    if !may_open_shell(session.role(), t.stage) {
        return refuse(StatusCode::FORBIDDEN, "your role cannot open a shell on this environment");
    }
    let live = match shell.attach(&t, &session.claims).await {
        Ok(l) => l,
        Err(AttachError::Gone(why)) => return refuse(StatusCode::GONE, &why),
        Err(AttachError::Internal(e)) => {
            tracing::error!(session_id = %id, error = %format!("{e:#}"), "shell did not start");
            return app_error(AppError::internal("the shell could not start"));
        }
    };
    ws.max_message_size(MAX_MESSAGE).on_upgrade(move |socket| run(socket, live, shell))
}

async fn run(mut socket: WebSocket, live: Arc<LiveSession>, shell: ShellService) {
    let left = live.deadline.saturating_duration_since(std::time::Instant::now()).as_secs();
    let hello = serde_json::json!({
        "type": "hello", "session": live.id, "environment": live.target.environment_name,
        "stage": live.target.stage, "expires_at": live.target.expires_at, "seconds_left": left,
        "idle_seconds": live.idle.as_secs(),
    });
    let mut ended = live.ended();
    let (recent, mut frames) = live.attach();
    if socket.send(Message::Text(hello.to_string().into())).await.is_err() {
        return;
    }
    if !recent.is_empty() && socket.send(Message::Binary(recent.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Binary(b))) => live.input(&b).await,
                Some(Ok(Message::Text(t))) => {
                    if let Err(e) = control(&live, &shell, t.as_str()).await {
                        let _ = socket.send(Message::Text(serde_json::json!({"type": "error", "error": e}).to_string().into())).await;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return, // detached; the session runs on
                Some(Ok(_)) => {}
            },
            f = frames.recv() => match f {
                Ok(Frame::Output(b)) => if socket.send(Message::Binary(b)).await.is_err() { return },
                Ok(Frame::Control(c)) => if socket.send(Message::Text(c.to_string().into())).await.is_err() { return },
                Err(RecvError::Lagged(n)) => {
                    let note = format!("\r\n\x1b[33m[odooops] {n} output chunks skipped: this browser fell behind.\x1b[0m\r\n");
                    if socket.send(Message::Binary(note.into_bytes().into())).await.is_err() { return }
                }
                Err(RecvError::Closed) => return,
            },
            _ = ended.changed() => {
                // Send what is still queued (the final notice and the `closed` message), then close.
                while let Ok(f) = frames.try_recv() {
                    let m = match f {
                        Frame::Output(b) => Message::Binary(b),
                        Frame::Control(c) => Message::Text(c.to_string().into()),
                    };
                    if socket.send(m).await.is_err() { return }
                }
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}

/// A JSON control message from the browser; an error text for anything malformed.
async fn control(live: &LiveSession, shell: &ShellService, text: &str) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| "control messages are JSON objects".to_string())?;
    match v.get("type").and_then(|t| t.as_str()) {
        Some("resize") => {
            let dim = |k: &str| v.get(k).and_then(|n| n.as_u64()).filter(|n| (2..=1000).contains(n)).map(|n| n as u16);
            let (Some(cols), Some(rows)) = (dim("cols"), dim("rows")) else {
                return Err("resize needs cols and rows from 2 to 1000".into());
            };
            live.resize(cols, rows).await;
            Ok(())
        }
        Some("close") => {
            let (svc, id) = (shell.clone(), live.id);
            tokio::spawn(async move { svc.close(id, EndReason::ClosedByUser).await });
            Ok(())
        }
        Some("ping") => Ok(()),
        _ => Err("unknown control message (expected resize, close or ping)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;
    use axum::http::{header, HeaderMap, HeaderValue};

    fn h(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        if let Some(o) = origin {
            m.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        m.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        m
    }

    #[test]
    fn only_the_consoles_own_origin_may_open_a_shell_socket() {
        assert!(origin_allowed(&h(Some("http://127.0.0.1:3000"), "127.0.0.1:3000"), ""));
        assert!(origin_allowed(&h(Some("https://ops.example.com"), "10.0.0.5:3000"), "https://ops.example.com/"));
        assert!(!origin_allowed(&h(Some("http://evil.example"), "127.0.0.1:3000"), "http://127.0.0.1:3000"));
        assert!(!origin_allowed(&h(None, "127.0.0.1:3000"), ""));
        assert!(!origin_allowed(&h(Some("null"), "127.0.0.1:3000"), ""));
        assert!(!origin_allowed(&h(Some("http://127.0.0.1:3000.evil.example"), "127.0.0.1:3000"), ""));
        assert!(!origin_allowed(&h(Some("http://127.0.0.1:3000/x"), "127.0.0.1:3000"), ""));
    }
}
