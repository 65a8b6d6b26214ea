//! One LISTEN connection per console process, fanned out to every live tail and grid page.
//! Notifications carry ids only; subscribers read rows under their own tenant claims, so a
//! notification about another tenant reveals nothing but that something happened.
use app::models::BuildState;
use serde::Deserialize;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

pub const LOG_CHANNEL: &str = "ops_run_events";
pub const BUILD_CHANNEL: &str = "ops_builds";
pub const MAIL_CHANNEL: &str = "ops_mail";
pub const PROMOTION_CHANNEL: &str = "ops_promotions";
pub const BACKUP_CHANNEL: &str = "ops_backups";
/// A membership, user, Supabase link or token changed (see `AppState::authz_epoch`).
pub const AUTHZ_CHANNEL: &str = "ops_authz";

#[derive(Debug, Clone, Deserialize)]
pub struct LogNotice {
    #[serde(rename = "t")]
    pub tenant_id: Uuid,
    #[serde(rename = "j")]
    pub job_id: Option<Uuid>,
    #[serde(rename = "e")]
    pub env_id: Option<Uuid>,
    pub id: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BuildNotice {
    #[serde(rename = "t")]
    pub tenant_id: Uuid,
    #[serde(rename = "p")]
    pub project_id: Uuid,
    #[serde(rename = "b")]
    pub build_id: Uuid,
    #[serde(rename = "s")]
    pub state: BuildState,
    #[serde(rename = "c")]
    pub cancel_requested: bool,
}

/// New mail in an inbox (`n` messages in one insert).
#[derive(Debug, Clone, Deserialize)]
pub struct MailNotice {
    #[serde(rename = "t")]
    pub tenant_id: Uuid,
    #[serde(rename = "e")]
    pub environment_id: Uuid,
    pub n: i64,
}

/// A promotion request was created or changed state.
#[derive(Debug, Clone, Deserialize)]
pub struct PromotionNotice {
    #[serde(rename = "t")]
    pub tenant_id: Uuid,
    #[serde(rename = "p")]
    pub project_id: Uuid,
    pub id: Uuid,
    #[serde(rename = "s")]
    pub state: app::models::PromotionState,
}

/// A backup or restore was queued, moved on, or made progress (`k` says which).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct BackupNotice {
    #[serde(rename = "k")]
    pub kind: String,
    #[serde(rename = "t")]
    pub tenant_id: Uuid,
    #[serde(rename = "p")]
    pub project_id: Uuid,
    #[serde(rename = "e")]
    pub environment_id: Option<Uuid>,
    pub id: Uuid,
    #[serde(rename = "s")]
    pub state: String,
}

#[derive(Debug, Clone)]
pub enum Notice {
    Log(LogNotice),
    Build(BuildNotice),
    Mail(MailNotice),
    Promotion(PromotionNotice),
    Backup(BackupNotice),
    /// The listener reconnected: notifications may have been missed, so re-read.
    Resync,
}

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Notice>,
    stop: watch::Receiver<bool>,
}

impl Hub {
    /// Starts listening on `pool` until `shutdown` turns true. Authorization changes bump
    /// `authz_epoch`, and so does a lost connection (a notification may have been missed).
    pub async fn start(pool: PgPool, authz_epoch: Arc<AtomicU64>, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<Hub> {
        let (tx, _) = broadcast::channel(4096);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen_all([LOG_CHANNEL, BUILD_CHANNEL, MAIL_CHANNEL, PROMOTION_CHANNEL, BACKUP_CHANNEL, AUTHZ_CHANNEL]).await?;
        let hub = Hub { tx: tx.clone(), stop: shutdown.clone() };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    got = listener.try_recv() => match got {
                        Ok(Some(n)) if n.channel() == AUTHZ_CHANNEL => { authz_epoch.fetch_add(1, Ordering::AcqRel); }
                        Ok(Some(n)) => {
                            let notice = match n.channel() {
                                LOG_CHANNEL => serde_json::from_str(n.payload()).map(Notice::Log),
                                MAIL_CHANNEL => serde_json::from_str(n.payload()).map(Notice::Mail),
                                PROMOTION_CHANNEL => serde_json::from_str(n.payload()).map(Notice::Promotion),
                                BACKUP_CHANNEL => serde_json::from_str(n.payload()).map(Notice::Backup),
                                _ => serde_json::from_str(n.payload()).map(Notice::Build),
                            };
                            match notice {
                                Ok(notice) => { let _ = tx.send(notice); }
                                Err(e) => tracing::warn!(error = %e, channel = n.channel(), "unreadable notification"),
                            }
                        }
                        // The connection dropped; the next call reconnects.
                        Ok(None) => {
                            authz_epoch.fetch_add(1, Ordering::AcqRel);
                            let _ = tx.send(Notice::Resync);
                        }
                        Err(e) => {
                            authz_epoch.fetch_add(1, Ordering::AcqRel);
                            tracing::warn!(error = %e, "notification listener failed; retrying");
                            let _ = tx.send(Notice::Resync);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        });
        Ok(hub)
    }

    /// Resolves when the console shuts down: live streams end then, so the HTTP server can
    /// drain its connections instead of waiting for browsers to hang up.
    pub async fn stopping(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|s| *s).await;
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }

    /// How many tails and grid pages are listening (for /metrics and tests).
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}
