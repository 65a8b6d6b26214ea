//! The `odooops` server: configuration, database bootstrap, HTTP routes and services.
#![forbid(unsafe_code)]

pub mod admin;
pub mod config;
pub mod db;
pub mod demo;
pub mod routes;
pub mod startup;
pub mod telemetry;

use anyhow::Result;
use app::auth::AuthSettings;
use app::state::AppState;
use std::net::SocketAddr;
use std::time::Duration;

/// A console bound to a listener, ready to serve: what `serve` runs and what tests start.
pub struct Console {
    pub state: AppState,
    pub router: axum::Router,
    pub listener: tokio::net::TcpListener,
    pub addr: SocketAddr,
}

/// Builds the app state over an opened database and binds `addr` (port 0 picks one).
pub async fn build(cfg: &config::Config, database: &db::Database) -> Result<Console> {
    let jwt_key = db::jwt_secret(&database.owner, cfg.jwt_secret.clone()).await?;
    let auth = AuthSettings::new(jwt_key, Duration::from_secs(cfg.session_ttl_minutes.max(1) * 60), cfg.secure_cookies);
    let listener = tokio::net::TcpListener::bind(&cfg.addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.addr))?;
    let addr = listener.local_addr()?;
    let state = AppState {
        db: app::db::Db::new(database.app.clone()),
        auth: std::sync::Arc::new(auth),
        leptos_options: startup::leptos_options(&cfg.output_name, &cfg.site_root, addr),
    };
    let router = startup::router(state.clone(), telemetry::Metrics::default());
    Ok(Console { state, router, listener, addr })
}
