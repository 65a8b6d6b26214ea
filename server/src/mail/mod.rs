//! The mail catcher: an SMTP server that stores what development and staging environments
//! send, per environment, and never stores production mail.
pub mod http;
pub mod relay;
pub mod smtp;
pub mod store;

use crate::config::Config;
use anyhow::{anyhow, Context, Result};
use app::db::mail::NewMessage;
use app::db::Db;
use app::models::{MailSettings, Stage};
use app::state::{MailContext, MailRelay};
use sha2::{Digest, Sha256};
use smtp::{MailTarget, SmtpLimits};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use uuid::Uuid;

/// A message on its way to the store, with the tenant its credentials belong to.
#[derive(Debug)]
pub struct Delivery {
    pub tenant_id: Uuid,
    pub message: NewMessage,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct MailStats {
    pub sessions_open: AtomicI64,
    pub sessions: AtomicU64,
    /// Connections turned away because the session cap was reached.
    pub sessions_refused: AtomicU64,
    pub stored: AtomicU64,
    pub relayed: AtomicU64,
    /// Messages answered with a 4xx/5xx after DATA (size, bare LF, storage or relay failure).
    pub rejected: AtomicU64,
    pub auth_failures: AtomicU64,
}

impl MailStats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What every SMTP session shares.
pub struct MailService {
    pub limits: SmtpLimits,
    pub stats: Arc<MailStats>,
    pub tls: Option<TlsAcceptor>,
    pub relay: Option<Arc<relay::LettreRelay>>,
    pub store: store::Store,
    db: Db,
}

impl MailService {
    /// The mailbox these credentials open, if the password matches (compared in constant time).
    pub async fn login(&self, user: &str, pass: &str) -> Result<Option<MailTarget>, sqlx::Error> {
        if user.is_empty() || user.len() > 200 || pass.len() > 500 {
            return Ok(None);
        }
        let mut tx = self.db.anon_tx().await?;
        let row: Option<(Uuid, Uuid, Stage, String, String, String)> =
            sqlx::query_as("select tenant_id, environment_id, stage, smtp_password, environment_name, project_slug from ops.mail_login($1)")
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.and_then(|(tenant_id, environment_id, stage, password, environment_name, project_slug)| {
            same_secret(&password, pass).then_some(MailTarget { tenant_id, environment_id, stage, environment_name, project_slug })
        }))
    }

    /// Hands production mail to the real relay (it is never stored).
    pub async fn relay_production(&self, from: &str, to: &[String], raw: Vec<u8>) -> Result<String, String> {
        let Some(relay) = &self.relay else { return Err("no relay configured".into()) };
        relay.send(from.to_string(), to.to_vec(), raw).await
    }
}

fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// The running catcher: where it listens and what the web side needs to know about it.
pub struct Started {
    pub addr: Option<SocketAddr>,
    pub stats: Arc<MailStats>,
    pub context: MailContext,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts the SMTP listener, the store writers and the retention pruner (unless
/// `smtp_addr` is `off`; the web side then still shows captured mail).
pub async fn start(cfg: &Config, db: Db, shutdown: watch::Receiver<bool>) -> Result<Started> {
    let relay = match &cfg.mail_relay_url {
        Some(url) => Some(Arc::new(relay::LettreRelay::from_url(url.expose())?)),
        None => None,
    };
    let release_allow: Vec<String> =
        cfg.mail_release_allow.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect();
    let mut tasks = vec![start_pruner(db.clone(), shutdown.clone())];
    let off = cfg.smtp_addr.trim().eq_ignore_ascii_case("off") || cfg.smtp_addr.trim().is_empty();
    let tls = tls_acceptor(cfg)?;
    let mut settings = MailSettings {
        smtp_host: String::new(),
        smtp_port: 0,
        starttls: tls.is_some(),
        relay_configured: relay.is_some(),
        release_allow,
    };
    let relay_dyn: Option<Arc<dyn MailRelay>> = relay.clone().map(|r| r as Arc<dyn MailRelay>);
    if off {
        return Ok(Started { addr: None, stats: Arc::default(), context: MailContext { settings, relay: relay_dyn }, tasks });
    }
    let listener = tokio::net::TcpListener::bind(cfg.smtp_addr.trim())
        .await
        .map_err(|e| anyhow!("cannot listen for SMTP on {}: {e} (set ODOOOPS_SMTP_ADDR, or `off`)", cfg.smtp_addr))?;
    let addr = listener.local_addr()?;
    let hostname = cfg.smtp_hostname.clone().unwrap_or_else(|| match addr.ip() {
        ip if ip.is_unspecified() => "localhost".to_string(),
        ip => ip.to_string(),
    });
    settings.smtp_host = hostname.clone();
    settings.smtp_port = addr.port();
    let (store, writer_tasks) = store::Store::start(db.clone(), 4, shutdown.clone());
    tasks.extend(writer_tasks);
    let stats = Arc::new(MailStats::default());
    let svc = Arc::new(MailService {
        stats: stats.clone(),
        limits: SmtpLimits { hostname, max_size: cfg.smtp_max_size.max(1024), timeout: Duration::from_secs(cfg.smtp_timeout_seconds.max(1)) },
        tls,
        relay,
        store,
        db,
    });
    tasks.push(tokio::spawn(accept_loop(listener, svc, cfg.smtp_max_sessions.max(1), shutdown)));
    tracing::info!(%addr, "mail catcher listening for SMTP");
    Ok(Started { addr: Some(addr), stats, context: MailContext { settings, relay: relay_dyn }, tasks })
}

async fn accept_loop(listener: tokio::net::TcpListener, svc: Arc<MailService>, max_sessions: usize, mut shutdown: watch::Receiver<bool>) {
    let sessions = Arc::new(Semaphore::new(max_sessions));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (mut stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "smtp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match sessions.clone().try_acquire_owned() {
            Ok(permit) => {
                let svc = svc.clone();
                MailStats::bump(&svc.stats.sessions);
                svc.stats.sessions_open.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    smtp::serve_connection(svc.clone(), stream, peer).await;
                    svc.stats.sessions_open.fetch_sub(1, Ordering::Relaxed);
                    drop(permit);
                });
            }
            Err(_) => {
                MailStats::bump(&svc.stats.sessions_refused);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        let _ = stream.write_all(b"421 4.3.2 Too many connections, try again later\r\n").await;
                        let _ = stream.shutdown().await;
                    })
                    .await;
                });
            }
        }
    }
}

fn tls_acceptor(cfg: &Config) -> Result<Option<TlsAcceptor>> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = match (&cfg.smtp_tls_cert, &cfg.smtp_tls_key) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => return Ok(None),
        _ => return Err(anyhow!("ODOOOPS_SMTP_TLS_CERT and ODOOOPS_SMTP_TLS_KEY go together")),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the SMTP certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad PEM in {}", cert.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("no certificate found in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("cannot read the SMTP private key {}", key.display()))?;
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the SMTP certificate and key do not match")?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// Applies every mailbox's retention once a minute (any console may do it; it is idempotent).
fn start_pruner(db: Db, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match prune(&db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "mail retention applied"),
                Err(e) => tracing::warn!(error = %e, "mail retention failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}

/// One retention pass over every mailbox; returns how many messages went.
pub async fn prune(db: &Db) -> Result<i64, sqlx::Error> {
    let mut tx = db.anon_tx().await?;
    let n: i64 = sqlx::query_scalar("select ops.mail_prune()").fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(n)
}
