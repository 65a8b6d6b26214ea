//! `/api/supabase-proxy/{*path}`: the guarded, audited forwarder (rules in the module doc of
//! `supabase`).
use super::allow::{self, Access};
use super::Supabase;
use crate::logs::tail::viewer;
use crate::startup::HttpState;
use app::auth::session::{RequestMeta, Session};
use app::db::DbClaims;
use app::models::supabase::{ProjectRef, SupabaseUpstream};
use app::models::{Capability, Role};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

pub const PREFIX: &str = "/api/supabase-proxy/";
/// Largest request body forwarded.
pub const MAX_BODY: usize = 1 << 20;

const REQUEST_HEADERS: &[HeaderName] = &[header::ACCEPT, header::CONTENT_TYPE];
const RESPONSE_HEADERS: &[HeaderName] =
    &[header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_ENCODING, header::CACHE_CONTROL, header::ETAG, header::LAST_MODIFIED, header::RETRY_AFTER];

/// What one audit row says about one request.
struct Record {
    db: app::db::Db,
    claims: DbClaims,
    email: String,
    meta: RequestMeta,
    target: String,
    method: String,
    path: String,
    started: Instant,
    bytes_in: usize,
}

impl Record {
    async fn write(self, status: u16, latency_ms: f64, bytes_out: u64, outcome: &str, reason: Option<&str>) {
        let details = serde_json::json!({
            "method": self.method, "path": self.path, "status": status, "latency_ms": (latency_ms * 1000.0).round() / 1000.0,
            "bytes_in": self.bytes_in, "bytes_out": bytes_out, "outcome": outcome, "reason": reason,
        });
        let entry = app::db::audit::AuditEntry {
            actor_id: Some(self.claims.sub),
            actor_email: &self.email,
            action: "supabase.proxy",
            target: &self.target,
            details,
            request_id: &self.meta.request_id,
            ip: &self.meta.ip,
        };
        let done = async {
            let mut tx = self.db.tenant_tx(&self.claims).await?;
            app::db::audit::insert(&mut tx, &entry).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, project_ref = %self.target, "could not record a Supabase proxy request");
        }
    }

    fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// A refusal or an upstream error: recorded before the answer goes out.
    async fn answer(self, status: StatusCode, message: &str, outcome: &str) -> Response {
        let body = serde_json::json!({"error": message}).to_string();
        let ms = self.elapsed_ms();
        self.write(status.as_u16(), ms, body.len() as u64, outcome, Some(message)).await;
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

pub async fn forward(State(s): State<HttpState>, req: Request) -> Response {
    let started = Instant::now();
    let session = match viewer(&s, req.headers(), Capability::ViewDashboard).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(sb) = s.services.supabase.clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"error": "the Supabase proxy is not running"}))).into_response();
    };
    let (parts, body) = req.into_parts();
    let raw = parts.uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let mut record = Record {
        db: s.app.db.clone(),
        claims: session.claims.clone(),
        email: session.email.clone(),
        meta: session.meta.clone(),
        target: "-".into(),
        method: parts.method.to_string(),
        path: raw.chars().take(300).collect(),
        started,
        bytes_in: 0,
    };
    let segments = match allow::normalize(raw) {
        Ok(s) => s,
        Err(e) => return record.answer(StatusCode::BAD_REQUEST, &e.to_string(), "refused").await,
    };
    let Some(project_ref) = allow::project_ref(&segments) else {
        return record.answer(StatusCode::FORBIDDEN, "only v1/projects/{ref}/... paths of linked projects are allowed", "refused").await;
    };
    record.target = project_ref.to_string();
    let upstream = match linked(&session, &project_ref).await {
        Ok(Some(u)) => u,
        Ok(None) => return record.answer(StatusCode::FORBIDDEN, "this Supabase project is not linked to your tenant", "refused").await,
        Err(e) => {
            tracing::error!(error = %e, "Supabase link lookup failed");
            return record.answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error", "refused").await;
        }
    };
    let Some(rule) = allow::rule(&parts.method, &segments) else {
        return record.answer(StatusCode::FORBIDDEN, "this method and path are not on the Supabase proxy's allow-list", "refused").await;
    };
    let admin = session.role() == Role::Admin;
    if rule.access == Access::Admin && !admin {
        return record.answer(StatusCode::FORBIDDEN, "only admins may change Supabase settings", "refused").await;
    }
    let too_big = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > MAX_BODY);
    let body = match (too_big, axum::body::to_bytes(body, MAX_BODY).await) {
        (false, Ok(b)) => b,
        _ => return record.answer(StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than 1 MiB", "refused").await,
    };
    record.bytes_in = body.len();
    let body = if rule.access == Access::Query {
        match query_body(&body, admin) {
            Ok(b) => b,
            Err((status, why)) => return record.answer(status, why, "refused").await,
        }
    } else {
        body
    };
    send(&sb, upstream, &parts.method, &segments.join("/"), parts.uri.query(), &parts.headers, body, record).await
}

/// Where the caller's tenant's link for `project_ref` goes, and with which token; None when
/// it is not linked.
async fn linked(session: &Session, project_ref: &ProjectRef) -> Result<Option<app::db::supabase::Route>, app::models::AppError> {
    let mut tx = session.tx().await?;
    let route = app::db::supabase::route(&mut tx, project_ref).await.map_err(app::models::AppError::internal)?;
    tx.commit().await.map_err(app::models::AppError::internal)?;
    Ok(route)
}

/// The bearer token for a route: the local API's own; for the Management API the tenant's
/// token, or the server's for the installation's first tenant.
fn token_for(sb: &Supabase, route: &app::db::supabase::Route) -> Option<app::auth::Secret> {
    match route.upstream {
        SupabaseUpstream::Local => sb.local_token.clone(),
        SupabaseUpstream::Default => match &route.token_enc {
            Some(enc) => match sb.secrets.open(enc) {
                Ok(t) => Some(app::auth::Secret::new(t)),
                Err(e) => {
                    tracing::error!(error = %e, "a tenant's Supabase token does not open with this console's key");
                    None
                }
            },
            None if route.server_token => sb.token.clone(),
            None => None,
        },
    }
}

/// The body of `database/query` as it goes upstream: `read_only` made explicit (true unless
/// the caller said false, which needs an admin).
fn query_body(body: &[u8], admin: bool) -> Result<Bytes, (StatusCode, &'static str)> {
    let mut v: serde_json::Value = serde_json::from_slice(body).map_err(|_| (StatusCode::BAD_REQUEST, "the body must be JSON: {\"query\": \"...\"}"))?;
    let obj = v.as_object_mut().ok_or((StatusCode::BAD_REQUEST, "the body must be a JSON object"))?;
    if !obj.get("query").is_some_and(|q| q.is_string()) {
        return Err((StatusCode::BAD_REQUEST, "the body needs a \"query\" string"));
    }
    let read_only = match obj.get("read_only") {
        None | Some(serde_json::Value::Null) => true,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(_) => return Err((StatusCode::BAD_REQUEST, "\"read_only\" must be a boolean")),
    };
    if !read_only && !admin {
        return Err((StatusCode::FORBIDDEN, "only admins may run queries that are not read-only"));
    }
    obj.insert("read_only".into(), serde_json::Value::Bool(read_only));
    Ok(Bytes::from(v.to_string()))
}

#[allow(clippy::too_many_arguments)]
async fn send(sb: &Supabase, route: app::db::supabase::Route, method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap, body: Bytes, record: Record) -> Response {
    let base = match route.upstream {
        SupabaseUpstream::Default => &sb.api_url,
        SupabaseUpstream::Local => &sb.local_url,
    };
    let Some(token) = token_for(sb, &route) else {
        return record.answer(StatusCode::BAD_GATEWAY, "no Supabase management token is configured for this organization", "upstream_error").await;
    };
    let mut url = format!("{base}/{path}");
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    let mut req = sb.http.request(method.clone(), url).bearer_auth(token.expose());
    for name in REQUEST_HEADERS {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v);
        }
    }
    if !body.is_empty() {
        req = req.body(body);
    }
    let res = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let why = if e.is_timeout() { "upstream timed out" } else { "upstream unreachable" };
            // reqwest's error names the URL, never the headers: no token in the log.
            tracing::warn!(project_ref = %record.target, error = %e.without_url(), "{why}");
            return record.answer(StatusCode::BAD_GATEWAY, why, "upstream_error").await;
        }
    };
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = Response::builder().status(status);
    for (name, value) in res.headers() {
        let keep = RESPONSE_HEADERS.iter().any(|h| h == name) || name.as_str().starts_with("x-ratelimit-");
        if keep {
            if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
                out = out.header(name.as_str(), v);
            }
        }
    }
    let latency = record.elapsed_ms();
    let expected = res.content_length();
    let counted = Counted { inner: Box::pin(res.bytes_stream()), bytes: 0, expected, status: status.as_u16(), latency, record: Some(record) };
    out.body(Body::from_stream(counted)).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// The upstream body on its way to the browser, counted; its audit row is written when it
/// ends (or is dropped because the browser went away).
struct Counted {
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    bytes: u64,
    /// The upstream's content-length: reaching it is the end, even if not polled again.
    expected: Option<u64>,
    status: u16,
    latency: f64,
    record: Option<Record>,
}

impl Stream for Counted {
    type Item = reqwest::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.poll_next_unpin(cx);
        match &next {
            Poll::Ready(Some(Ok(b))) => self.bytes += b.len() as u64,
            Poll::Ready(None) => self.finish(None),
            Poll::Ready(Some(Err(_))) => self.finish(Some("the upstream response broke off")),
            Poll::Pending => {}
        }
        next
    }
}

impl Counted {
    fn finish(&mut self, reason: Option<&'static str>) {
        if let Some(r) = self.record.take() {
            let (status, latency, bytes) = (self.status, self.latency, self.bytes);
            tokio::spawn(r.write(status, latency, bytes, "forwarded", reason));
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.record.is_some() {
            let whole = self.expected == Some(self.bytes);
            self.finish((!whole).then_some("the client went away before the end of the response"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_without_read_only_goes_upstream_read_only() {
        let b = query_body(br#"{"query":"select 1"}"#, false).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["read_only"], true);
        assert_eq!(query_body(br#"{"query":"delete from t","read_only":false}"#, false).unwrap_err().0, StatusCode::FORBIDDEN);
        assert!(query_body(br#"{"query":"delete from t","read_only":false}"#, true).is_ok());
        assert_eq!(query_body(b"not json", true).unwrap_err().0, StatusCode::BAD_REQUEST);
    }
}
