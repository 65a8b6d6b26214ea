//! Long-running services of one console process and the handles routes need.
use crate::builds::BuildSettings;
use crate::logs::hub::Hub;
use crate::previews::PreviewManager;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;

#[derive(Clone)]
pub struct Services {
    pub hub: Hub,
    pub previews: PreviewManager,
    pub settings: Arc<BuildSettings>,
    /// Client for proxying to previews (no redirects followed: they go back to the browser).
    pub http: reqwest::Client,
    /// The mail catcher's counters (zero when it does not run).
    pub mail_stats: Arc<crate::mail::MailStats>,
    /// Backups (downloads open the project's storage).
    pub backups: Option<crate::backups::BackupContext>,
    /// Web shell sessions of this console.
    pub shell: Option<crate::shell::ShellService>,
    /// The Supabase proxy's upstream, tokens and the local Management API's pools.
    pub supabase: Option<crate::supabase::Supabase>,
    touched: Arc<Mutex<HashMap<Uuid, Instant>>>,
    db: app::db::Db,
}

impl Services {
    pub fn new(db: app::db::Db, hub: Hub, previews: PreviewManager, settings: BuildSettings) -> Services {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap_or_default();
        Services { hub, previews, settings: Arc::new(settings), http, mail_stats: Arc::default(), backups: None, shell: None, supabase: None, touched: Arc::default(), db }
    }

    /// Writes what request handlers left queued (the Supabase proxy's audit rows). Run once
    /// the HTTP server has drained, before the pools close, so a normal shutdown loses none.
    pub async fn flush(&self) {
        if let Some(sb) = &self.supabase {
            sb.audit.flush().await;
        }
    }

    /// Records that a preview was used (at most every 15 s per preview), for the idle timeout.
    pub async fn touch_preview(&self, tenant_id: Uuid, preview_id: Uuid) {
        {
            let mut t = self.touched.lock().await;
            if t.get(&preview_id).is_some_and(|at| at.elapsed() < Duration::from_secs(15)) {
                return;
            }
            t.insert(preview_id, Instant::now());
        }
        let claims = app::db::DbClaims { sub: Uuid::nil(), tenant_id, role: app::models::Role::Admin };
        let done = async {
            let mut tx = self.db.tenant_tx(&claims).await?;
            app::db::previews::touch(&mut tx, preview_id).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "could not record preview use");
        }
    }
}
