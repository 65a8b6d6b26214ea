//! The promotion worker: requests are rows in `ops.promotions`; any console claims the next
//! one that needs work (`ops.claim_promotion`, skip locked), runs its preflight gates or its
//! deploy under the request's tenant, and records every step (state, timeline, audit).
pub mod deploy;
pub mod instances;
pub mod preflight;
pub mod refresh;

use crate::logs::hub::{Hub, Notice};
use app::db::{self, Db, DbClaims};
use app::models::{GateSettings, PromotionState, Role};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// What the worker needs; shared with the runner (gates after each build).
#[derive(Clone)]
pub struct PromotionContext {
    pub db: Db,
    pub data_dir: PathBuf,
    /// The console's owner URL: environment databases live on the same server.
    pub owner_url: Arc<app::auth::Secret>,
    pub instances: instances::Instances,
    /// Where neutralized staging copies send their mail (the console's catcher).
    pub smtp: Option<std::net::SocketAddr>,
}

impl PromotionContext {
    /// The URL of an environment's database.
    pub fn env_db_url(&self, database_name: Option<&str>) -> Option<String> {
        database_name.map(|n| crate::db::with_database(self.owner_url.expose(), n))
    }
}

/// Claims for work done on behalf of a tenant by the console itself.
pub fn system_claims(tenant_id: Uuid) -> DbClaims {
    DbClaims { sub: Uuid::nil(), tenant_id, role: Role::Admin }
}

/// An audit row written by the console (no person behind it; the request's actor is in
/// the row of the request itself).
pub async fn audit(conn: &mut sqlx::PgConnection, action: &str, target: &str, details: serde_json::Value) -> Result<(), sqlx::Error> {
    db::audit::insert(conn, &db::audit::AuditEntry { actor_id: None, actor_email: "console", action, target, details, request_id: "", ip: "" }).await
}

/// A project's gate thresholds (defaults for anything it does not set).
pub async fn gate_settings(conn: &mut sqlx::PgConnection, project_id: Uuid) -> Result<GateSettings, sqlx::Error> {
    Ok(db::promotions::policy(conn, project_id).await?.2)
}

impl PromotionContext {
    /// The thresholds a run uses: the project's, plus the console's own mail catcher port,
    /// where neutralization points a copy's outgoing mail servers (it is not an outside relay).
    pub async fn gate_settings(&self, conn: &mut sqlx::PgConnection, project_id: Uuid) -> Result<GateSettings, sqlx::Error> {
        let mut s = gate_settings(conn, project_id).await?;
        if let Some(addr) = self.smtp {
            let port = i32::from(addr.port());
            if !s.smtp_allowed_ports.contains(&port) {
                s.smtp_allowed_ports.push(port);
            }
        }
        Ok(s)
    }
}

/// After a good build: the gates against its files and its environment's database (shown
/// on the build card), and a development environment moves to it.
pub async fn after_build(ctx: &PromotionContext, claims: &DbClaims, job: &app::db::builds::BuildJob, workspace: &std::path::Path) -> anyhow::Result<()> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let env = match job.env_id {
        Some(e) => db::promotions::environment(&mut tx, e).await?,
        None => None,
    };
    let settings = ctx.gate_settings(&mut tx, job.project_id).await?;
    tx.commit().await?;
    let url = ctx.env_db_url(env.as_ref().and_then(|e| e.database_name.as_deref()));
    let report = crate::gates::run_all(&crate::gates::GateInput { workspace: Some(workspace), database_url: url.as_deref(), settings: &settings }).await;
    let mut tx = ctx.db.tenant_tx(claims).await?;
    db::promotions::insert_gate_results(&mut tx, job.project_id, job.id, None, job.env_id, &report.results).await?;
    if let Some(env) = &env {
        deploy::notify_disabled_jobs(&mut tx, job.project_id, env.id, &env.name, &report.disabled_jobs).await?;
        db::promotions::follow_branch(&mut tx, env.id, job.id).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub struct PromotionWorker {
    ctx: PromotionContext,
    hub: Hub,
    name: String,
}

impl PromotionWorker {
    pub fn new(ctx: PromotionContext, hub: Hub) -> PromotionWorker {
        let name = format!("pid-{}-{}", std::process::id(), &Uuid::new_v4().simple().to_string()[..6]);
        PromotionWorker { ctx, hub, name }
    }

    /// Runs until `shutdown`; then stops the environments' instances of this console.
    pub fn start(self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut notices = self.hub.subscribe();
            loop {
                if *shutdown.borrow() {
                    break;
                }
                match self.claim().await {
                    Ok(Some((id, tenant, state))) => {
                        self.work(id, tenant, state).await;
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "could not claim a promotion"),
                }
                let wake = async {
                    loop {
                        match notices.recv().await {
                            Ok(Notice::Promotion(n)) if matches!(n.state, PromotionState::Requested | PromotionState::Approved) => return,
                            Ok(_) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                            Err(_) => std::future::pending::<()>().await,
                        }
                    }
                };
                tokio::select! {
                    _ = shutdown.changed() => {}
                    _ = wake => {}
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
            deploy::stop_instances(&self.ctx).await;
        })
    }

    async fn claim(&self) -> Result<Option<(Uuid, Uuid, PromotionState)>, sqlx::Error> {
        sqlx::query_as("select promotion_id, tenant_id, state from ops.claim_promotion($1, '60 seconds'::interval)")
            .bind(&self.name)
            .fetch_optional(self.ctx.db.pool())
            .await
    }

    #[tracing::instrument(skip(self), fields(promotion_id = %id))]
    async fn work(&self, id: Uuid, tenant: Uuid, state: PromotionState) {
        let claims = system_claims(tenant);
        let hb = {
            let (db, claims, name) = (self.ctx.db.clone(), claims.clone(), self.name.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    if let Ok(mut tx) = db.tenant_tx(&claims).await {
                        let _ = db::promotions::heartbeat(&mut tx, id, &name).await;
                        let _ = tx.commit().await;
                    }
                }
            })
        };
        let result = match state {
            PromotionState::PreflightRunning => preflight::run(&self.ctx, &claims, id).await,
            _ => deploy::run(&self.ctx, &claims, id, &self.name).await,
        };
        hb.abort();
        if let Err(e) = result {
            tracing::error!(error = %format!("{e:#}"), "promotion step failed");
            let failed = async {
                let mut tx = self.ctx.db.tenant_tx(&claims).await?;
                let msg = format!("the console could not finish this step: {e}");
                if db::promotions::transition(&mut tx, id, PromotionState::Failed, Some(&msg)).await? {
                    db::promotions::add_event(&mut tx, id, PromotionState::Failed, &msg, "console").await?;
                    audit(&mut tx, "promotion.failed", &id.to_string(), serde_json::json!({"error": msg})).await?;
                }
                tx.commit().await
            }
            .await;
            if let Err(e) = failed {
                tracing::error!(error = %e, "could not record a failed promotion");
            }
        }
    }
}
