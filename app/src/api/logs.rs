//! The log viewer's server functions.
use crate::models::{AppError, LogFacets, LogPage, LogQuery};
use leptos::prelude::*;

/// Validates the viewer's filters (a malformed id, level or cursor is a 422).
#[cfg(feature = "ssr")]
pub fn parse_filter(q: &LogQuery) -> Result<crate::db::logs::Filter, AppError> {
    use crate::models::LogLevel;
    let id = |s: &str, what: &str| -> Result<Option<uuid::Uuid>, AppError> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        uuid::Uuid::parse_str(s).map(Some).map_err(|_| AppError::Invalid(format!("{what} must be an id")))
    };
    let min_level = match q.level.trim() {
        "" => None,
        l => Some(LogLevel::parse(l).ok_or_else(|| AppError::Invalid(format!("unknown level “{l}” (debug, info, warning, error)")))?),
    };
    let source = match q.source.trim() {
        "" => None,
        s if crate::db::logs::valid_source(s) => Some(s.to_string()),
        _ => return Err(AppError::Invalid("unknown source".into())),
    };
    let text = q.q.trim();
    if text.len() > 200 {
        return Err(AppError::Invalid("search text is limited to 200 characters".into()));
    }
    Ok(crate::db::logs::Filter {
        job_id: id(&q.build, "build")?,
        env_id: id(&q.env, "environment")?,
        min_level,
        source,
        text: (!text.is_empty()).then(|| text.replace('\0', "")),
    })
}

/// The newest lines matching the filters (or those before `query.before`), oldest first.
#[server(prefix = "/api", endpoint = "logs")]
pub async fn query_logs(query: LogQuery) -> Result<LogPage, AppError> {
    crate::api::guard(async move {
        use crate::db::logs::{self, Cursor};
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ViewBuilds).await?;
        let filter = parse_filter(&query)?;
        let before = match query.before.trim() {
            "" => None,
            b => Some(Cursor::parse(b).ok_or_else(|| AppError::Invalid("malformed cursor".into()))?),
        };
        let mut tx = s.tx().await?;
        let (mut rows, has_older) = logs::page_before(&mut tx, &filter, before, 500).await.map_err(AppError::internal)?;
        let tail_from = match rows.first() {
            Some(r) => r.cursor(),
            None => logs::horizon(&mut tx).await.map_err(AppError::internal)?,
        };
        tx.commit().await.map_err(AppError::internal)?;
        rows.reverse();
        Ok(LogPage { lines: rows.into_iter().map(Into::into).collect(), tail_from: tail_from.to_string(), has_older })
    })
    .await
}

/// Environments and sources to filter by.
#[server(prefix = "/api", endpoint = "log-facets")]
pub async fn get_log_facets() -> Result<LogFacets, AppError> {
    crate::api::guard(async move {
        use crate::models::Capability;
        let s = crate::auth::require(Capability::ViewBuilds).await?;
        let mut tx = s.tx().await?;
        let projects = crate::db::projects::list(&mut tx).await.map_err(AppError::internal)?;
        let sources = crate::db::logs::recent_sources(&mut tx).await.map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        let environments = projects
            .into_iter()
            .flat_map(|p| p.environments.into_iter().map(move |e| (e.id, format!("{} / {}", p.name, e.name), e.stage.as_str().to_string())))
            .collect();
        Ok(LogFacets { environments, sources })
    })
    .await
}
