//! Per-request middleware: request ids, a tracing span, metrics and one access-log line.
//!
//! Install with `Router::layer(axum::middleware::from_fn_with_state(metrics, track))`.
//! `Router::layer` wraps each route after routing, so `MatchedPath` is available and the
//! route template (e.g. `/api/projects/{id}`) becomes the `route` label; requests that reach
//! no route (the fallback, or a service wrapped around the whole router) are labelled `unmatched`.

use std::time::Instant;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

use super::metrics::Metrics;

/// Header carrying the request id in both directions.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Id of the current request, stored in the request extensions by [`track`].
/// Usable as an extractor in handlers (or via `Extension<RequestId>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(pub String);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<RequestId>().cloned().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "request id middleware not installed",
        ))
    }
}

/// A client-supplied request id is accepted only if it is 1..=64 chars of `[A-Za-z0-9_-]`.
pub fn is_valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Returns the incoming id if valid, otherwise a fresh UUID v4.
pub fn request_id_from(header: Option<&HeaderValue>) -> String {
    header
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_valid_request_id(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Paths whose access log lines are emitted at debug level (probes, scraping, static assets).
pub fn is_quiet_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/pkg/")
}

/// Bounded method label: unknown/extension methods collapse to `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Middleware for `axum::middleware::from_fn_with_state(metrics, track)`.
pub async fn track(State(metrics): State<Metrics>, mut req: Request, next: Next) -> Response {
    let id = request_id_from(req.headers().get(&REQUEST_ID_HEADER));
    req.extensions_mut().insert(RequestId(id.clone()));
    // Downstream code (server functions) reads the id from the header, so replace whatever
    // the client sent with the validated one.
    if let Ok(value) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);

    async move {
        let started = Instant::now();
        let mut response = next.run(req).await;
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        metrics.observe_request(method_label(&method), &route, status, elapsed.as_secs_f64());
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        let latency_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        if is_quiet_path(&path) {
            tracing::debug!(status, latency_ms, "request completed");
        } else {
            tracing::info!(status, latency_ms, "request completed");
        }
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt as _;

    fn app(metrics: Metrics) -> Router {
        Router::new()
            .route("/items/{id}", get(|rid: RequestId| async move { rid.0 }))
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(metrics, track))
    }

    async fn call(app: Router, uri: &str, id: Option<&str>) -> (StatusCode, String, String) {
        let mut req = Request::builder().uri(uri);
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let header = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let status = res.status();
        let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (status, header, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn request_id_validation() {
        assert!(is_valid_request_id("abc-DEF_123"));
        assert!(is_valid_request_id(&"a".repeat(64)));
        assert!(!is_valid_request_id(&"a".repeat(65)));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("has space"));
        assert!(!is_valid_request_id("ünï"));
        let fresh = request_id_from(Some(&HeaderValue::from_static("bad id!")));
        assert!(uuid::Uuid::parse_str(&fresh).is_ok());
        assert_eq!(
            request_id_from(Some(&HeaderValue::from_static("ok-1"))),
            "ok-1"
        );
        assert!(
            is_quiet_path("/pkg/app.wasm") && is_quiet_path("/metrics") && !is_quiet_path("/api")
        );
    }

    #[tokio::test]
    async fn middleware_sets_ids_and_records_route_templates() {
        let metrics = Metrics::default();
        let (status, header, body) =
            call(app(metrics.clone()), "/items/42", Some("client-id-1")).await;
        assert_eq!(
            (status, header.as_str(), body.as_str()),
            (StatusCode::OK, "client-id-1", "client-id-1")
        );

        let (_, header, body) = call(app(metrics.clone()), "/items/7", Some("bad id!")).await;
        assert!(uuid::Uuid::parse_str(&header).is_ok());
        assert_eq!(
            header, body,
            "handler sees the same id as the response header"
        );

        let (status, header, _) = call(app(metrics.clone()), "/no/such/path", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(uuid::Uuid::parse_str(&header).is_ok());
        call(app(metrics.clone()), "/healthz", None).await;

        let text = metrics.render();
        assert!(
            text.contains(
                r#"odooops_http_requests_total{method="GET",route="/items/{id}",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"odooops_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"route="/healthz",status="200"} 1"#),
            "{text}"
        );
        assert!(!text.contains("/items/42") && !text.contains("/no/such/path"));
    }
}
