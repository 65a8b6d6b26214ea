//! Plain HTTP endpoints of backups: live progress over SSE and audited downloads.
use super::job;
use crate::logs::hub::Notice;
use crate::logs::tail::viewer;
use crate::routes::app_error;
use crate::startup::HttpState;
use app::models::{AppError, BackupState, Capability, Stage};
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

#[derive(Debug, Deserialize)]
pub struct EventParams {
    pub project: Uuid,
}

/// `GET /api/backups/events?project=`: an event `backup` (data: the notice) each time a
/// backup or restore of the project is queued, moves on or makes progress.
pub async fn events(State(s): State<HttpState>, Query(p): Query<EventParams>, headers: HeaderMap) -> Response {
    let session = match viewer(&s, &headers, Capability::ViewBackups).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let seen = async {
        let mut tx = session.tx().await?;
        let seen: bool = sqlx::query_scalar("select exists (select 1 from ops.projects where id = $1)").bind(p.project).fetch_one(&mut *tx).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok::<_, AppError>(seen)
    }
    .await;
    match seen {
        Ok(true) => {}
        Ok(false) => return app_error(AppError::NotFound("project".into())),
        Err(e) => return app_error(e),
    }
    let tenant = session.claims.tenant_id;
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(32);
    let mut notices = s.services.hub.subscribe();
    let hub = s.services.hub.clone();
    tokio::spawn(async move {
        let _ = tx.send(Ok(Event::default().event("ready").data("ok"))).await;
        loop {
            let data = tokio::select! {
                _ = tx.closed() => return,
                _ = hub.stopping() => return,
                n = notices.recv() => match n {
                    Ok(Notice::Backup(b)) if b.tenant_id == tenant && b.project_id == p.project => serde_json::to_string(&b).unwrap_or_default(),
                    Ok(Notice::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => "{}".to_string(),
                    Ok(_) => continue,
                    Err(_) => return,
                },
            };
            if tx.send(Ok(Event::default().event("backup").data(data))).await.is_err() {
                return;
            }
        }
    });
    let mut r = Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /api/backups/{id}/parts/{db|files|manifest}`: a good backup's part, streamed. The
/// download is audited before the first byte leaves; development backups are not offered.
pub async fn download(State(s): State<HttpState>, Path((id, part)): Path<(Uuid, String)>, headers: HeaderMap) -> Response {
    let session = match viewer(&s, &headers, Capability::DownloadBackup).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(ctx) = s.services.backups.clone() else {
        return app_error(AppError::Conflict("backups are not configured on this console".into()));
    };
    let (name, content_type) = match part.as_str() {
        "db" => (job::DUMP, "application/octet-stream"),
        "files" => (job::FILES, "application/zstd"),
        "manifest" => (job::MANIFEST, "application/json"),
        _ => return app_error(AppError::NotFound("backup part (db, files or manifest)".into())),
    };
    let opened = async {
        let mut tx = session.tx().await?;
        let row: Option<(Uuid, serde_json::Value, String, BackupState, Stage, String, Option<i64>)> = sqlx::query_as(
            "select b.project_id, b.storage, b.location, b.state, e.stage, e.name, b.files_bytes
               from ops.backups b join ops.environments e on e.id = b.environment_id where b.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(AppError::internal)?;
        let Some((project, storage, location, state, stage, env_name, files_bytes)) = row else {
            return Err(AppError::NotFound("backup".into()));
        };
        if state != BackupState::Good {
            return Err(AppError::Conflict(format!("this backup is {state}: only good backups can be downloaded")));
        }
        if stage == Stage::Development {
            return Err(AppError::Forbidden("development backups are not offered for download".into()));
        }
        if part == "files" && files_bytes.is_none() {
            return Err(AppError::NotFound("this backup has no file store".into()));
        }
        let store = job::store_of(&ctx, &mut tx, project, &storage).await.map_err(AppError::internal)?;
        let (size, stream) = store.stream(&format!("{location}/{name}")).await.map_err(AppError::internal)?;
        session.audit(&mut tx, "backup.downloaded", &id.to_string(), serde_json::json!({"environment": env_name, "part": part, "bytes": size})).await?;
        tx.commit().await.map_err(AppError::internal)?;
        Ok((size, stream, env_name))
    }
    .await;
    let (size, stream, env_name) = match opened {
        Ok(x) => x,
        Err(e) => return app_error(e),
    };
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    let file = format!("{env_name}-{}-{name}", &id.simple().to_string()[..8]);
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")).unwrap_or(HeaderValue::from_static("attachment")));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    r
}
