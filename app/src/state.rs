//! The one state object every handler and server function reaches (server only).
use crate::auth::AuthSettings;
use crate::db::Db;
use crate::models::MailSettings;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub auth: Arc<AuthSettings>,
    pub leptos_options: LeptosOptions,
    pub mail: Arc<MailContext>,
    /// Encrypts what the console stores for linked Supabase projects (connection strings);
    /// the server's AES-256-GCM box. None only in states built without it.
    pub sealer: Option<Arc<dyn Sealer>>,
    /// ODOOOPS_SUPABASE_TOKEN is set (it serves the installation's first tenant).
    pub supabase_server_token: bool,
    /// Bumped whenever a membership, a user, a Supabase link or a tenant's Supabase token
    /// changes (by this process at once, by others through `ops_authz` notifications):
    /// what the Supabase proxy kept from its checks is stale from then on.
    pub authz_epoch: Arc<AtomicU64>,
}

impl AppState {
    /// Marks every kept authorization as stale (after the change has been committed).
    pub fn authz_changed(&self) {
        self.authz_epoch.fetch_add(1, Ordering::AcqRel);
    }

    pub fn authz_epoch(&self) -> u64 {
        self.authz_epoch.load(Ordering::Acquire)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// A real SMTP relay (implemented by the server with `lettre`).
pub trait MailRelay: Send + Sync {
    /// Sends `raw` unchanged to `to`; the answer is the relay's reply text.
    fn send(&self, from: String, to: Vec<String>, raw: Vec<u8>) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'static>>;
}

/// Encrypts a value for storage (implemented by the server's `supabase::crypto::SecretBox`).
pub trait Sealer: Send + Sync {
    fn seal(&self, plain: &str) -> Result<String, String>;
}

/// What server functions of the mail catcher need beyond the database.
#[derive(Clone, Default)]
pub struct MailContext {
    pub settings: MailSettings,
    pub relay: Option<Arc<dyn MailRelay>>,
}
