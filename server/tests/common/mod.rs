//! Test harness: a real console on port 0 over a fresh database in a real PostgreSQL.
//!
//! `TEST_DATABASE_URL` points at a cluster as its owner (the `.ci/test` script starts a
//! throwaway one and sets it). Each test gets its own database, so tests run in parallel.
#![allow(dead_code)]

pub mod builds;
pub mod mail;
pub mod scan;

use app::models::Role;
use odooops::config::Config;
use odooops::db::Database;
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::oneshot;
use uuid::Uuid;

pub const PASSWORD: &str = "test-password-123";

pub struct TestApp {
    pub base: String,
    pub owner: PgPool,
    pub app_pool: PgPool,
    pub db_url: String,
    pub tenant_id: Uuid,
    pub project_id: Uuid,
    pub data_dir: std::path::PathBuf,
    pub services: odooops::services::Services,
    pub state: app::state::AppState,
    /// The mail catcher's SMTP address.
    pub smtp_addr: Option<std::net::SocketAddr>,
    services_shutdown: tokio::sync::watch::Sender<bool>,
    service_tasks: Vec<tokio::task::JoinHandle<()>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn cluster_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the tests with `bash .ci/test` (it starts a throwaway PostgreSQL), \
         or point it at a cluster as its owner, e.g. postgres://user:pw@127.0.0.1:5432/postgres",
    )
}

pub fn with_db(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a database URL has a path");
    format!("{base}/{db}")
}

/// A fresh, migrated database; returns its owner URL.
pub async fn fresh_database() -> String {
    let name = format!("t_{}", Uuid::new_v4().simple());
    odooops::db::ensure_database(&cluster_url(), &name).await.expect("create test database");
    with_db(&cluster_url(), &name)
}

pub fn config(db_url: &str) -> Config {
    use clap::Parser;
    let mut cli = odooops::config::Cli::parse_from(["odooops"]);
    cli.config.database_url = Some(app::auth::Secret::new(db_url));
    cli.config.addr = "127.0.0.1:0".into();
    cli.config.data_dir = std::env::temp_dir().join(format!("odooops-test-{}", Uuid::new_v4().simple()));
    cli.config.db_pool_size = 6;
    // Builds start at once in tests (no batching window) and one worker is enough.
    cli.config.build_batch_seconds = 0;
    cli.config.build_workers = 1;
    // The scanner would scan each test console's own database at start: only its tests run it.
    cli.config.scanner = false;
    // Every console gets its own SMTP port.
    cli.config.smtp_addr = "127.0.0.1:0".into();
    cli.config
}

impl TestApp {
    /// A console over a fresh database, with tenant `acme` and one project.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_on(&fresh_database().await).await
    }

    /// A console over an existing database (a second process, as it were).
    pub async fn spawn_on(db_url: &str) -> TestApp {
        TestApp::spawn_with(config(db_url)).await
    }

    /// A console with a tweaked configuration (builds: workers, batch window, GitHub API…).
    pub async fn spawn_with(cfg: Config) -> TestApp {
        let db_url = cfg.database_url.as_ref().expect("a database URL").expose().to_string();
        let db_url = db_url.as_str();
        let database = Database::open(&cfg).await.expect("open database");
        let console = odooops::build(&cfg, &database).await.expect("build console");
        let base = format!("http://{}", console.addr);
        let state = console.state.clone();
        let smtp_addr = console.smtp_addr;
        let (services, services_shutdown, service_tasks) = (console.services.clone(), console.shutdown.clone(), console.tasks);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(odooops::startup::serve(console.listener, console.router, async {
            let _ = rx.await;
        }));
        let mut conn = database.owner.acquire().await.expect("owner connection");
        let tenant_id = odooops::admin::ensure_tenant(&mut conn, "acme", "Acme Corp").await.expect("tenant");
        let project_id = odooops::admin::create_project_in(&mut conn, tenant_id, "erp", "Acme ERP", "").await.expect("project");
        drop(conn);
        TestApp {
            base,
            owner: database.owner.clone(),
            app_pool: database.app.clone(),
            db_url: db_url.to_string(),
            tenant_id,
            project_id,
            data_dir: cfg.data_dir.clone(),
            services,
            state,
            smtp_addr,
            services_shutdown,
            service_tasks,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Creates a member of `acme` with `role`; returns (user id, email).
    pub async fn member(&self, role: Role) -> (Uuid, String) {
        self.member_of(self.tenant_id, role).await
    }

    pub async fn member_of(&self, tenant_id: Uuid, role: Role) -> (Uuid, String) {
        let email = format!("{}-{}@example.com", role.as_str(), &Uuid::new_v4().simple().to_string()[..8]);
        let mut conn = self.owner.acquire().await.unwrap();
        let id = odooops::admin::upsert_member(&mut conn, tenant_id, &email, "Test", role, PASSWORD).await.unwrap();
        (id, email)
    }

    /// An HTTP client with its own cookie jar that does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs in through the real login server function; returns the client and the response.
    pub async fn login(&self, email: &str, password: &str) -> (reqwest::Client, reqwest::Response) {
        let client = self.client();
        let res = client
            .post(self.url("/api/login"))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap();
        (client, res)
    }

    pub async fn logged_in(&self, role: Role) -> (reqwest::Client, Uuid, String) {
        let (id, email) = self.member(role).await;
        let (client, res) = self.login(&email, PASSWORD).await;
        assert_eq!(res.status(), 200, "login of {email} failed: {}", res.text().await.unwrap_or_default());
        (client, id, email)
    }

    /// Tells the background services to stop (as a SIGTERM does), without waiting.
    pub fn signal_shutdown(&self) {
        let _ = self.services_shutdown.send(true);
    }

    /// The request-side database handle (the non-owner role, under RLS).
    pub fn services_db(&self) -> app::db::Db {
        app::db::Db::new(self.app_pool.clone())
    }

    /// Audit actions recorded so far (read as owner), oldest first.
    pub async fn audit_actions(&self) -> Vec<(String, Option<Uuid>, String)> {
        sqlx::query_as("select action, tenant_id, actor_email from ops.audit_log order by id").fetch_all(&self.owner).await.unwrap()
    }

    pub async fn stop(mut self) {
        odooops::Console::stop_services(&self.services_shutdown, std::mem::take(&mut self.service_tasks)).await;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        self.services.flush().await;
        // Build workspaces and repository mirrors.
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
