//! Building the router and running the HTTP server with one shutdown signal.
use crate::routes;
use crate::telemetry::{self, Metrics};
use anyhow::{Context, Result};
use app::state::AppState;
use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;
use std::future::Future;
use tokio::net::TcpListener;

pub fn leptos_options(output_name: &str, site_root: &str, addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(output_name.to_string())
        .site_root(site_root.to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// State shared by the plain (non-Leptos) routes.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub metrics: Metrics,
    pub services: crate::services::Services,
    /// The local Management API's router (when the Supabase proxy runs), which the proxy
    /// calls in-process for the links this console serves itself.
    pub local_api: Option<Router>,
}

pub fn router(state: AppState, metrics: Metrics, services: crate::services::Services) -> Router {
    let routes = generate_route_list(app::App);
    let ctx_state = state.clone();
    let context = move || provide_context(ctx_state.clone());
    let local_supabase = services.supabase.clone().map(|sb| crate::supabase::local::router(state.db.clone(), sb));
    let http = HttpState { app: state.clone(), metrics: metrics.clone(), services, local_api: local_supabase.clone() };
    let plain = Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .route("/api/v1/whoami", get(routes::machine::whoami))
        .route("/api/v1/builds", post(crate::builds::ci_api::create))
        // Up to MAX_LINES_PER_CALL lines of up to 16 KiB each would exceed any small limit;
        // 32 MB keeps a full batch of ordinary lines well inside.
        .route("/api/v1/builds/{id}/logs", post(crate::builds::ci_api::append_logs).layer(DefaultBodyLimit::max(32 * 1024 * 1024)))
        .route("/api/v1/builds/{id}/status", post(crate::builds::ci_api::set_status))
        .route(
            "/api/webhooks/github/{project}",
            post(crate::builds::webhook::github_webhook).layer(DefaultBodyLimit::max(crate::builds::webhook::MAX_BODY)),
        )
        .route("/api/logs/tail", get(crate::logs::tail::log_tail))
        .route("/api/logs/export.csv", get(crate::logs::export::export_csv))
        .route("/api/builds/events", get(crate::logs::tail::build_events))
        .route("/api/mail/events", get(crate::mail::http::events))
        .route("/api/backups/events", get(crate::backups::http::events))
        .route("/api/backups/{id}/parts/{part}", get(crate::backups::http::download))
        .route("/api/mail/messages/{id}/raw", get(crate::mail::http::raw))
        .route("/api/mail/messages/{id}/html", get(crate::mail::http::html))
        .route("/api/mail/messages/{id}/attachments/{index}", get(crate::mail::http::attachment))
        .route("/api/shell/sessions/{id}/ws", get(crate::shell::ws::attach))
        .route("/api/shell/sessions/{id}/cast", get(crate::shell::cast::export))
        // The limit is the proxy's own (413 with a JSON error), a little above axum's check.
        .route(
            "/api/supabase-proxy/{*path}",
            any(crate::supabase::proxy::forward).layer(DefaultBodyLimit::max(crate::supabase::proxy::MAX_BODY + 1024)),
        )
        .route("/preview/{slug}", any(crate::previews::proxy::root))
        .route("/preview/{slug}/", any(crate::previews::proxy::index))
        .route("/preview/{slug}/{*rest}", any(crate::previews::proxy::path))
        .with_state(http);
    let plain = match local_supabase {
        Some(local) => plain.merge(local),
        None => plain,
    };
    Router::new()
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = state.leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(context, app::shell))
        .with_state(state)
        .merge(plain)
        .layer(middleware::from_fn_with_state(metrics, telemetry::track))
        .layer(middleware::from_fn(peer_header))
}

/// Records the TCP peer in a header the app trusts (any client-sent value is replaced).
async fn peer_header(mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_default();
    match HeaderValue::from_str(&peer) {
        Ok(v) => req.headers_mut().insert("x-odooops-peer", v),
        Err(_) => req.headers_mut().remove("x-odooops-peer"),
    };
    next.run(req).await
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains connections.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown requested");
}
