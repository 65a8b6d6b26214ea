//! `GET /api/shell/sessions/{id}/cast`: a transcript as asciicast v2 (one JSON header line,
//! then `[seconds, "o"|"i"|"r", data]` per chunk), which standard players replay. Exports
//! are audited: a transcript holds everything typed.
use crate::logs::tail::viewer;
use crate::routes::app_error;
use crate::startup::HttpState;
use app::db::shell::ExecEvent;
use app::models::{AppError, Capability, ExecDirection, ShellSessionRow};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

/// Decodes a byte stream that may split UTF-8 sequences across chunks; invalid bytes become
/// U+FFFD, exactly as a terminal would show them.
#[derive(Default)]
pub struct Utf8Carry {
    tail: Vec<u8>,
}

impl Utf8Carry {
    pub fn push(&mut self, data: &[u8]) -> String {
        let mut buf = std::mem::take(&mut self.tail);
        buf.extend_from_slice(data);
        // Keep an incomplete sequence at the very end for the next chunk.
        let keep = incomplete_suffix(&buf);
        self.tail = buf.split_off(buf.len() - keep);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Length of a trailing, not yet complete (but so far valid) UTF-8 sequence.
fn incomplete_suffix(b: &[u8]) -> usize {
    for back in 1..=3.min(b.len()) {
        let c = b[b.len() - back];
        if c & 0xC0 == 0x80 {
            continue; // continuation byte: look further back
        }
        let need = match c {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if need > back { back } else { 0 };
    }
    0
}

pub fn header_line(s: &ShellSessionRow) -> String {
    serde_json::json!({
        "version": 2,
        "width": 80,
        "height": 24,
        "timestamp": s.started_at.unwrap_or(s.created_at).timestamp(),
        "title": format!("{} · {} · {}", s.project_slug, s.environment_name, s.user_email),
        "env": {"TERM": "xterm-256color"},
    })
    .to_string()
}

/// The event lines of a batch of chunks.
pub fn event_lines(events: &[ExecEvent], out: &mut Utf8Carry, inp: &mut Utf8Carry) -> String {
    let mut text = String::new();
    for e in events {
        let t = e.offset_us as f64 / 1e6;
        let (code, data) = match e.direction {
            ExecDirection::Output => ("o", out.push(&e.data)),
            ExecDirection::Input => ("i", inp.push(&e.data)),
            ExecDirection::Resize => ("r", String::from_utf8_lossy(&e.data).into_owned()),
        };
        if data.is_empty() {
            continue;
        }
        text.push_str(&serde_json::json!([(t * 1e6).round() / 1e6, code, data]).to_string());
        text.push('\n');
    }
    text
}

pub async fn export(State(s): State<HttpState>, Path(id): Path<Uuid>, headers: HeaderMap) -> Response {
    let session = match viewer(&s, &headers, Capability::ViewShellSessions).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let row = async {
        let mut tx = session.tx().await?;
        let row = app::db::shell::get_session(&mut tx, id).await.map_err(AppError::internal)?.ok_or_else(|| AppError::NotFound("shell session".into()))?;
        session.audit(&mut tx, "shell.transcript_exported", &id.to_string(), serde_json::json!({"environment": row.environment_name, "user": row.user_email})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok::<_, AppError>(row)
    }
    .await;
    let row = match row {
        Ok(r) => r,
        Err(e) => return app_error(e),
    };
    let (tx, rx) = mpsc::channel::<Result<String, Infallible>>(4);
    tokio::spawn(async move {
        if tx.send(Ok(format!("{}\n", header_line(&row)))).await.is_err() {
            return;
        }
        let (mut out, mut inp) = (Utf8Carry::default(), Utf8Carry::default());
        let mut after = -1i64;
        loop {
            let page = async {
                let mut db = session.tx().await?;
                let ev = app::db::shell::events(&mut db, id, after, 2000).await.map_err(AppError::internal)?;
                db.commit().await.map_err(AppError::internal)?;
                Ok::<_, AppError>(ev)
            }
            .await;
            let Ok(events) = page else { return };
            let Some(last) = events.last() else { return };
            after = last.seq;
            if tx.send(Ok(event_lines(&events, &mut out, &mut inp))).await.is_err() {
                return;
            }
        }
    });
    let name = format!("shell-{}-{}.cast", row_name_safe(&id), "transcript");
    let mut r = Body::from_stream(ReceiverStream::new(rx)).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-asciicast"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn row_name_safe(id: &Uuid) -> String {
    id.simple().to_string()[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_chunks_is_joined_and_bad_bytes_are_replaced() {
        let mut c = Utf8Carry::default();
        let euro = "€".as_bytes(); // e2 82 ac
        assert_eq!(c.push(&[b'a', euro[0]]), "a");
        assert_eq!(c.push(&euro[1..2]), "");
        assert_eq!(c.push(&[euro[2], b'b']), "€b");
        assert_eq!(c.push(&[0xff, b'c']), "\u{fffd}c");
    }

    #[test]
    fn events_become_asciicast_lines_in_order() {
        let ev = |seq, direction, offset_us, data: &[u8]| ExecEvent { seq, direction, offset_us, data: data.to_vec() };
        let events = vec![
            ev(0, ExecDirection::Resize, 1_000, b"120x40"),
            ev(1, ExecDirection::Input, 1_500_000, b"ls\r"),
            ev(2, ExecDirection::Output, 1_600_000, b"ls\r\nfile\r\n"),
        ];
        let text = event_lines(&events, &mut Utf8Carry::default(), &mut Utf8Carry::default());
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0], serde_json::json!([0.001, "r", "120x40"]));
        assert_eq!(lines[1], serde_json::json!([1.5, "i", "ls\r"]));
        assert_eq!(lines[2], serde_json::json!([1.6, "o", "ls\r\nfile\r\n"]));
    }
}
