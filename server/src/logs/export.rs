//! `GET /api/logs/export.csv`: every line matching the filters, streamed in keyset pages,
//! so memory stays flat however many rows the range holds.
use super::tail::viewer;
use crate::routes::app_error;
use crate::startup::HttpState;
use app::db::logs::{self, Cursor, EventRow};
use app::models::{AppError, Capability, LogQuery};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const PAGE: i64 = 5000;
pub const HEADER: &str = "id,time,level,source,job_id,env_id,message,meta\n";

pub async fn export_csv(State(s): State<HttpState>, Query(q): Query<LogQuery>, headers: HeaderMap) -> Response {
    let session = match viewer(&s, &headers, Capability::ViewBuilds).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let filter = match app::api::logs::parse_filter(&q) {
        Ok(f) => f,
        Err(e) => return app_error(e),
    };
    if let Err(e) = super::tail::check_subjects(&session, &filter).await {
        return app_error(e);
    }
    // The range ends where the visible log ends now; later lines belong to a later export.
    let until = {
        let result = async {
            let mut t = session.tx().await?;
            let c = logs::horizon(&mut t).await.map_err(AppError::internal)?;
            t.commit().await.map_err(AppError::internal)?;
            Ok::<_, AppError>(c)
        }
        .await;
        match result {
            Ok(c) => c,
            Err(e) => return app_error(e),
        }
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from_static(HEADER.as_bytes()))).await.is_err() {
            return;
        }
        let mut cursor = Cursor { tx: 0, id: 0 };
        loop {
            let page = async {
                let mut t = session.tx().await?;
                let rows = logs::after(&mut t, &filter, cursor, Some(until), PAGE).await.map_err(AppError::internal)?;
                t.commit().await.map_err(AppError::internal)?;
                Ok::<_, AppError>(rows)
            }
            .await;
            let rows = match page {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let mut chunk = String::with_capacity(rows.len() * 120);
            for r in &rows {
                csv_row(&mut chunk, r);
            }
            if let Some(last) = rows.last() {
                cursor = last.cursor();
            }
            if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            if (rows.len() as i64) < PAGE {
                return;
            }
        }
    });
    let mut resp = Body::from_stream(ReceiverStream::new(rx)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"odooops-logs.csv\""));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// One RFC 4180 row.
pub fn csv_row(out: &mut String, r: &EventRow) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "{},{},{},{},{},{},",
        r.id,
        r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        r.level.as_str(),
        field(&r.source),
        r.job_id.map(|u| u.to_string()).unwrap_or_default(),
        r.env_id.map(|u| u.to_string()).unwrap_or_default(),
    );
    out.push_str(&field(&r.message));
    out.push(',');
    out.push_str(&field(&r.meta.to_string()));
    out.push('\n');
}

pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_with_separators_quotes_or_newlines_are_quoted() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }
}
