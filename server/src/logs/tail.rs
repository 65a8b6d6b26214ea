//! Live tails over Server-Sent Events: log lines (resumable by `Last-Event-ID`) and build
//! state changes for the grid. Each stream is fed by the process's notification hub and
//! reads rows under the viewer's tenant claims; a one-second poll covers missed notices.
use super::hub::Notice;
use crate::routes::app_error;
use crate::startup::HttpState;
use app::auth::session::{from_headers, Session};
use app::db::logs::{self, Cursor, Filter};
use app::models::{Capability, LogLine, LogQuery};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

const PAGE: i64 = 500;
const POLL: Duration = Duration::from_secs(1);
const RECHECK_MEMBERSHIP: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
pub struct TailParams {
    #[serde(flatten)]
    pub query: LogQuery,
    #[serde(default)]
    pub after: String,
}

/// Signs the viewer in from the cookie and checks `cap`; the error is a ready response.
pub async fn viewer(s: &HttpState, headers: &HeaderMap, cap: Capability) -> Result<Session, Response> {
    let (session, _) = from_headers(&s.app, headers).await.map_err(app_error)?;
    session.check(cap).await.map_err(app_error)?;
    Ok(session)
}

/// A 404 when the filter names a build or environment the viewer cannot see (another
/// tenant's, or none at all), so a tail or an export of it is refused rather than empty.
pub async fn check_subjects(session: &Session, f: &Filter) -> Result<(), app::models::AppError> {
    use app::models::AppError;
    let mut tx = session.tx().await?;
    if let Some(id) = f.job_id {
        let seen: bool = sqlx::query_scalar("select exists (select 1 from ops.builds where id = $1)").bind(id).fetch_one(&mut *tx).await.map_err(AppError::internal)?;
        if !seen {
            return Err(AppError::NotFound("build".into()));
        }
    }
    if let Some(id) = f.env_id {
        let seen: bool = sqlx::query_scalar("select exists (select 1 from ops.environments where id = $1)").bind(id).fetch_one(&mut *tx).await.map_err(AppError::internal)?;
        if !seen {
            return Err(AppError::NotFound("environment".into()));
        }
    }
    tx.commit().await.map_err(AppError::internal)
}

/// `GET /api/logs/tail?build=…&level=…&after=tx:id`: the matching lines after the cursor, then
/// new ones as they commit.
pub async fn log_tail(State(s): State<HttpState>, Query(p): Query<TailParams>, headers: HeaderMap) -> Response {
    let session = match viewer(&s, &headers, Capability::ViewBuilds).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let filter = match app::api::logs::parse_filter(&p.query) {
        Ok(f) => f,
        Err(e) => return app_error(e),
    };
    if let Err(e) = check_subjects(&session, &filter).await {
        return app_error(e);
    }
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(Cursor::parse);
    let start = match resume.or_else(|| Cursor::parse(&p.after)) {
        Some(c) => c,
        None => match horizon(&session).await {
            Ok(c) => c,
            Err(e) => return app_error(e),
        },
    };
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(256);
    let notices = s.services.hub.subscribe();
    tokio::spawn(pump_lines(session, filter, start, tx, notices, s.services.hub.clone()));
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

async fn horizon(session: &Session) -> Result<Cursor, app::models::AppError> {
    let mut tx = session.tx().await?;
    let c = logs::horizon(&mut tx).await.map_err(app::models::AppError::internal)?;
    tx.commit().await.map_err(app::models::AppError::internal)?;
    Ok(c)
}

fn relevant(n: &Notice, tenant: Uuid, f: &Filter) -> bool {
    match n {
        Notice::Log(l) => l.tenant_id == tenant && f.job_id.is_none_or(|j| l.job_id == Some(j)) && f.env_id.is_none_or(|e| l.env_id == Some(e)),
        Notice::Resync => true,
        Notice::Build(_) | Notice::Mail(_) | Notice::Promotion(_) | Notice::Backup(_) => false,
    }
}

async fn pump_lines(
    session: Session,
    filter: Filter,
    mut cursor: Cursor,
    tx: mpsc::Sender<Result<Event, Infallible>>,
    mut notices: tokio::sync::broadcast::Receiver<Notice>,
    hub: super::hub::Hub,
) {
    let tenant = session.claims.tenant_id;
    let mut checked = Instant::now();
    loop {
        // Everything visible past the cursor, page by page.
        loop {
            let rows = async {
                let mut t = session.tx().await?;
                let rows = logs::after(&mut t, &filter, cursor, None, PAGE).await.map_err(app::models::AppError::internal)?;
                t.commit().await.map_err(app::models::AppError::internal)?;
                Ok::<_, app::models::AppError>(rows)
            }
            .await;
            let rows = match rows {
                Ok(r) => r,
                Err(_) => break, // logged with an id; try again after the next wake-up
            };
            let n = rows.len() as i64;
            for r in rows {
                cursor = r.cursor();
                let line = LogLine::from(r);
                let Ok(ev) = Event::default().id(line.cursor.clone()).event("line").json_data(&line) else { continue };
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
            if n < PAGE {
                break;
            }
        }
        if checked.elapsed() > RECHECK_MEMBERSHIP {
            checked = Instant::now();
            if !still_member(&session).await {
                let _ = tx.send(Ok(Event::default().event("ended").data("session ended"))).await;
                return;
            }
        }
        let wait = async {
            loop {
                match notices.recv().await {
                    Ok(n) if relevant(&n, tenant, &filter) => return,
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        tokio::select! {
            _ = tx.closed() => return,
            _ = hub.stopping() => return,
            _ = wait => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

async fn still_member(session: &Session) -> bool {
    let Ok(mut t) = session.tx().await else { return true };
    let role = app::db::members::role_of(&mut t, session.claims.sub).await;
    let _ = t.commit().await;
    !matches!(role, Ok(None))
}

#[derive(Debug, Deserialize)]
pub struct BuildEventParams {
    pub project: Uuid,
}

/// `GET /api/builds/events?project=…`: one `build` event per state change in the project
/// (coalesced over 200 ms), so the grid refreshes without reloading.
pub async fn build_events(State(s): State<HttpState>, Query(p): Query<BuildEventParams>, headers: HeaderMap) -> Response {
    let session = match viewer(&s, &headers, Capability::ViewBuilds).await {
        Ok(v) => v,
        Err(r) => return r,
    };
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
                    Ok(Notice::Build(b)) => b.tenant_id == tenant && b.project_id == p.project,
                    Ok(Notice::Promotion(n)) => n.tenant_id == tenant && n.project_id == p.project,
                    Ok(Notice::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Ok(Notice::Log(_) | Notice::Mail(_) | Notice::Backup(_)) => false,
                    Err(_) => return,
                },
            };
            if changed {
                tokio::time::sleep(Duration::from_millis(200)).await;
                while let Ok(n) = notices.try_recv() {
                    let _ = n;
                }
                if tx.send(Ok(Event::default().event("build").data("changed"))).await.is_err() {
                    return;
                }
            }
        }
    });
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}
