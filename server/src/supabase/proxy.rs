//! `/api/supabase-proxy/{*path}`: the guarded, audited forwarder (rules in the module doc of
//! `supabase`).
use super::allow::{self, Access};
use super::audit::{AuditWriter, ProxyRow};
use super::Supabase;
use crate::routes::app_error;
use crate::startup::HttpState;
use app::auth::session::{cookie_claims, RequestMeta, Session};
use app::auth::Secret;
use app::db::supabase::Route;
use app::db::DbClaims;
use app::models::supabase::{ProjectRef, SupabaseUpstream};
use app::models::{AppError, Capability, Role};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, TryStreamExt};
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
    audit: AuditWriter,
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
    fn row(self, status: u16, latency_ms: f64, bytes_out: u64, outcome: &str, reason: Option<&str>) -> (AuditWriter, ProxyRow) {
        let details = serde_json::json!({
            "method": self.method, "path": self.path, "status": status, "latency_ms": (latency_ms * 1000.0).round() / 1000.0,
            "bytes_in": self.bytes_in, "bytes_out": bytes_out, "outcome": outcome, "reason": reason,
        });
        let row = ProxyRow { claims: self.claims, actor_email: self.email, target: self.target, details, request_id: self.meta.request_id, ip: self.meta.ip };
        (self.audit, row)
    }

    fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// A refusal or an upstream error: recorded (committed) before the answer goes out.
    async fn answer(self, status: StatusCode, message: &str, outcome: &str) -> Response {
        let body = serde_json::json!({"error": message}).to_string();
        let ms = self.elapsed_ms();
        let (audit, row) = self.row(status.as_u16(), ms, body.len() as u64, outcome, Some(message));
        audit.record(row, true).await;
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

pub async fn forward(State(s): State<HttpState>, req: Request) -> Response {
    let started = Instant::now();
    let token = match cookie_claims(&s.app, req.headers()) {
        Ok(c) => c,
        Err(e) => return app_error(e),
    };
    let Some(sb) = s.services.supabase.clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"error": "the Supabase proxy is not running"}))).into_response();
    };
    let (parts, body) = req.into_parts();
    let raw = parts.uri.path().strip_prefix(PREFIX).unwrap_or_default();
    // The path is read before the database so that the link lookup shares the login check's
    // statement; its refusals still come after the login check, in the documented order.
    let segments = allow::normalize(raw);
    let project_ref = segments.as_ref().ok().and_then(|s| allow::project_ref(s));
    let claims = DbClaims { sub: token.sub, tenant_id: token.tenant_id, role: token.role };
    let (claims, route) = match granted(&s, &sb, claims, project_ref.as_ref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let session = Session { state: s.app.clone(), claims, email: token.email, meta: RequestMeta::from_headers(&parts.headers) };
    if let Err(e) = session.check(Capability::ViewDashboard).await {
        return app_error(e);
    }
    let mut record = Record {
        audit: sb.audit.clone(),
        claims: session.claims.clone(),
        email: session.email.clone(),
        meta: session.meta.clone(),
        target: "-".into(),
        method: parts.method.to_string(),
        path: raw.chars().take(300).collect(),
        started,
        bytes_in: 0,
    };
    let segments = match segments {
        Ok(s) => s,
        Err(e) => return record.answer(StatusCode::BAD_REQUEST, &e.to_string(), "refused").await,
    };
    let Some(project_ref) = project_ref else {
        return record.answer(StatusCode::FORBIDDEN, "only v1/projects/{ref}/... paths of linked projects are allowed", "refused").await;
    };
    record.target = project_ref.to_string();
    let Some(route) = route else {
        return record.answer(StatusCode::FORBIDDEN, "this Supabase project is not linked to your tenant", "refused").await;
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
    send(&s, &sb, route, &parts.method, &segments.join("/"), parts.uri.query(), &parts.headers, body, record).await
}

/// The login check and the link lookup: the claims with the login's live role (401 when it
/// is no member any more, as on every plain HTTP route), and the tenant's route for
/// `project_ref` (None: not linked). Both come from one statement of one transaction under
/// the tenant's claims, so RLS decides; a positive answer is kept for a few seconds (see
/// [`super::grants`]) and then costs no database round trip.
async fn granted(s: &HttpState, sb: &Supabase, mut claims: DbClaims, project_ref: Option<&ProjectRef>) -> Result<(DbClaims, Option<Route>), Response> {
    let epoch = s.app.authz_epoch();
    if let Some(r) = project_ref {
        if let Some((role, route)) = sb.grants.get(claims.sub, claims.tenant_id, r.as_str(), epoch) {
            claims.role = role;
            return Ok((claims, Some(route)));
        }
    }
    let internal = |e: sqlx::Error| app_error(AppError::internal(e));
    let mut tx = s.app.db.tenant_tx_one_trip(&claims).await.map_err(internal)?;
    let (role, route) = app::db::supabase::grant(&mut tx, claims.sub, project_ref).await.map_err(internal)?;
    // Only read: dropped, not committed (the rollback goes out with the connection's return).
    drop(tx);
    claims.role = role.ok_or_else(|| app_error(AppError::Unauthorized))?;
    if let (Some(r), Some(route)) = (project_ref, &route) {
        sb.grants.put(claims.sub, claims.tenant_id, r.as_str(), epoch, claims.role, route.clone());
    }
    Ok((claims, route))
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

/// An upstream's answer, before its body is passed on.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    /// The body's length when known in advance.
    length: Option<u64>,
    body: Pin<Box<dyn Stream<Item = Result<Bytes, axum::BoxError>> + Send>>,
}

#[allow(clippy::too_many_arguments)]
async fn send(s: &HttpState, sb: &Supabase, route: Route, method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap, body: Bytes, record: Record) -> Response {
    let Some(token) = token_for(sb, &route) else {
        return record.answer(StatusCode::BAD_GATEWAY, "no Supabase management token is configured for this organization", "upstream_error").await;
    };
    let token = &token;
    let upstream = route.upstream;
    let answered = match (upstream, &s.local_api) {
        (SupabaseUpstream::Default, _) => remote(sb, token, method, path, query, headers, body, &record.target).await,
        (SupabaseUpstream::Local, Some(api)) => in_process(api, sb, token, method, path, query, headers, body).await,
        // A router built without the local API (the proxy's own router always has it).
        (SupabaseUpstream::Local, None) => Err("upstream unreachable"),
    };
    let res = match answered {
        Ok(a) => a,
        Err(why) => return record.answer(StatusCode::BAD_GATEWAY, why, "upstream_error").await,
    };
    let mut out = Response::builder().status(res.status);
    for (name, value) in &res.headers {
        let keep = RESPONSE_HEADERS.iter().any(|h| h == name) || name.as_str().starts_with("x-ratelimit-");
        if keep {
            if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
                out = out.header(name.as_str(), v);
            }
        }
    }
    if let (Some(n), false) = (res.length, res.headers.contains_key(header::CONTENT_LENGTH)) {
        out = out.header(header::CONTENT_LENGTH, n);
    }
    let latency = record.elapsed_ms();
    let counted = Counted { inner: res.body, bytes: 0, expected: res.length, status: res.status.as_u16(), latency, record: Some(record) };
    out.body(Body::from_stream(counted)).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// Supabase's Management API (or whatever `ODOOOPS_SUPABASE_API_URL` names), over HTTP.
#[allow(clippy::too_many_arguments)]
async fn remote(sb: &Supabase, token: &Secret, method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap, body: Bytes, project_ref: &str) -> Result<Answer, &'static str> {
    let mut url = format!("{}/{path}", sb.api_url);
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
            tracing::warn!(project_ref = %project_ref, error = %e.without_url(), "{why}");
            return Err(why);
        }
    };
    Ok(Answer {
        status: StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        headers: res.headers().clone(),
        length: res.content_length(),
        body: Box::pin(res.bytes_stream().map_err(axum::BoxError::from)),
    })
}

/// This console's own local Management API, called in-process: the same router, extractor
/// and handlers an HTTP caller reaches at `/local-supabase`, bearer token included, without
/// a second HTTP exchange over loopback. Bounded by `ODOOOPS_SUPABASE_TIMEOUT_MS` as a
/// remote call is.
#[allow(clippy::too_many_arguments)]
async fn in_process(api: &axum::Router, sb: &Supabase, token: &Secret, method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap, body: Bytes) -> Result<Answer, &'static str> {
    use tower::Service;
    let mut uri = format!("{}/{path}", super::local::MOUNT);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        uri.push('?');
        uri.push_str(q);
    }
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| "upstream unreachable")?;
    bearer.set_sensitive(true);
    let mut req = Request::builder().method(method.clone()).uri(uri).header(header::AUTHORIZATION, bearer);
    for name in REQUEST_HEADERS {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v);
        }
    }
    let req = req.body(Body::from(body)).map_err(|_| "upstream unreachable")?;
    let mut api = api.clone();
    let res = match tokio::time::timeout(sb.timeout, api.call(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(never)) => match never {},
        Err(_) => return Err("upstream timed out"),
    };
    let (parts, body) = res.into_parts();
    Ok(Answer { status: parts.status, headers: parts.headers, length: body.size_hint().exact(), body: Box::pin(body.into_data_stream().map_err(axum::BoxError::from)) })
}

/// The upstream body on its way to the browser, counted; its audit row is written when it
/// ends (or is dropped because the browser went away).
struct Counted {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, axum::BoxError>> + Send>>,
    bytes: u64,
    /// The body's length when known: reaching it is the end, even if not polled again.
    expected: Option<u64>,
    status: u16,
    latency: f64,
    record: Option<Record>,
}

impl Stream for Counted {
    type Item = Result<Bytes, axum::BoxError>;

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
            let (audit, row) = r.row(self.status, self.latency, self.bytes, "forwarded", reason);
            audit.submit(row);
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
