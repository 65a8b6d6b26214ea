//! The `odooops` server: configuration, database bootstrap, HTTP routes and services.
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

pub mod admin;
pub mod audit_verify;
pub mod backups;
pub mod builds;
pub mod config;
pub mod db;
pub mod gates;
pub mod demo;
pub mod demo_databases;
pub mod demo_mail;
pub mod demo_repo;
pub mod demo_shell;
pub mod demo_supabase;
pub mod logs;
pub mod mail;
pub mod neutralize;
pub mod previews;
pub mod promotions;
pub mod routes;
pub mod runner;
pub mod scan;
pub mod services;
pub mod shell;
pub mod startup;
pub mod supabase;
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
    pub services: services::Services,
    /// Where the mail catcher's SMTP server listens (None when `ODOOOPS_SMTP_ADDR=off`).
    pub smtp_addr: Option<SocketAddr>,
    /// Turning this true stops the runner, the reaper (and its previews) and the hub.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Console {
    /// Stops the background services and waits for them (previews are killed).
    pub async fn stop_services(shutdown: &tokio::sync::watch::Sender<bool>, tasks: Vec<tokio::task::JoinHandle<()>>) {
        let _ = shutdown.send(true);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

/// Builds the app state over an opened database and binds `addr` (port 0 picks one).
pub async fn build(cfg: &config::Config, database: &db::Database) -> Result<Console> {
    let jwt_key = db::jwt_secret(&database.owner, cfg.jwt_secret.clone()).await?;
    let auth = AuthSettings::new(jwt_key, Duration::from_secs(cfg.session_ttl_minutes.max(1) * 60), cfg.secure_cookies);
    let listener = tokio::net::TcpListener::bind(&cfg.addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.addr))?;
    let addr = listener.local_addr()?;
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let app_db = app::db::Db::new(database.app.clone());
    let mail = mail::start(cfg, app_db.clone(), shutdown_rx.clone()).await?;
    let secrets = std::sync::Arc::new(supabase::crypto::SecretBox::load(&database.owner, cfg.supabase_secrets_key.as_ref()).await?);
    let state = AppState {
        db: app_db,
        auth: std::sync::Arc::new(auth),
        leptos_options: startup::leptos_options(&cfg.output_name, &cfg.site_root, addr),
        mail: std::sync::Arc::new(mail.context),
        sealer: Some(secrets.clone()),
        supabase_server_token: cfg.supabase_token.is_some(),
        authz_epoch: std::sync::Arc::default(),
    };
    let hub = logs::hub::Hub::start(state.db.pool().clone(), state.authz_epoch.clone(), shutdown_rx.clone()).await?;
    let previews = previews::PreviewManager::new(state.db.clone(), Duration::from_secs(cfg.preview_idle_minutes.max(1) * 60));
    let settings = builds::BuildSettings {
        batch_window_secs: cfg.build_batch_seconds.max(0),
        public_url: cfg.public_url.clone().unwrap_or_else(|| format!("http://{addr}")).trim_end_matches('/').to_string(),
    };
    let mut services = services::Services::new(state.db.clone(), hub.clone(), previews.clone(), settings);
    services.mail_stats = mail.stats.clone();
    let mut tasks = mail.tasks;
    tasks.push(previews.start_reaper(shutdown_rx.clone()));
    let promotion_ctx = promotions::PromotionContext {
        db: state.db.clone(),
        data_dir: cfg.data_dir.clone(),
        owner_url: std::sync::Arc::new(database.owner_url.clone()),
        instances: promotions::instances::Instances::new(state.db.clone(), cfg.data_dir.clone()),
        smtp: mail.addr,
    };
    tasks.push(promotions::PromotionWorker::new(promotion_ctx.clone(), hub.clone()).start(shutdown_rx.clone()));
    let backup_ctx = backups::BackupContext {
        db: state.db.clone(),
        owner_url: promotion_ctx.owner_url.clone(),
        root: cfg.backup_dir.clone().unwrap_or_else(|| cfg.data_dir.join("backups")),
        smtp: mail.addr,
        default_hour: cfg.backup_default_hour,
        stale: Duration::from_secs(cfg.backup_stale_seconds.max(2)),
        heartbeat: Duration::from_secs(2),
        workers: cfg.backup_workers,
    };
    services.backups = Some(backup_ctx.clone());
    let shell = shell::ShellService::new(
        state.db.clone(),
        shell::ShellConfig {
            shell: cfg.shell.clone(),
            user: shell::pty::resolve_user(&cfg.shell_user),
            data_dir: cfg.data_dir.clone(),
            scrollback_bytes: cfg.shell_scrollback_bytes,
            warn_before: Duration::from_secs(cfg.shell_warn_seconds),
            flush_every: Duration::from_millis(cfg.shell_flush_ms.clamp(1, 5000)),
            sweep_every: Duration::from_secs(10),
        },
        promotion_ctx.instances.clone(),
    );
    services.shell = Some(shell.clone());
    services.supabase = Some(supabase::Supabase::new(cfg, secrets, &state.db)?);
    tasks.push(shell.start(shutdown_rx.clone()));
    tasks.push(backups::scheduler::start(backup_ctx.clone(), shutdown_rx.clone()));
    if cfg.scanner {
        let scan_ctx = scan::worker::ScanContext {
            db: state.db.clone(),
            owner_url: promotion_ctx.owner_url.clone(),
            options: scan::ScanOptions { exposed_schemas: cfg.scan_exposed_schemas.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(), ..Default::default() },
            stale: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            secrets: services.supabase.as_ref().map(|s| s.secrets.clone()),
        };
        tasks.extend(scan::worker::start(scan_ctx, shutdown_rx.clone()));
    }
    for n in 0..backup_ctx.workers {
        tasks.push(backups::worker::BackupWorker::new(backup_ctx.clone(), hub.clone(), n).start(shutdown_rx.clone()));
    }
    if cfg.build_workers > 0 {
        let status = cfg.github_token.clone().map(|t| builds::github::StatusClient::new(&cfg.github_api_url, t));
        let runner = runner::Runner::new(
            state.db.clone(),
            runner::RunnerConfig {
                workers: cfg.build_workers,
                data_dir: cfg.data_dir.clone(),
                stale_after: Duration::from_secs(60),
                max_attempts: cfg.build_max_attempts.max(1),
                heartbeat: Duration::from_secs(2),
            },
            services.settings.clone(),
            hub,
            previews,
            status,
        )
        .with_gates(promotion_ctx);
        tasks.extend(runner.start(shutdown_rx));
    }
    let router = startup::router(state.clone(), telemetry::Metrics::default(), services.clone());
    Ok(Console { state, router, listener, addr, services, smtp_addr: mail.addr, shutdown, tasks })
}
