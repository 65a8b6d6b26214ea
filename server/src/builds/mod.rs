//! Builds coming in: GitHub webhooks, the external-CI API, and commit statuses going out.
pub mod ci_api;
pub mod github;
pub mod webhook;

/// Build settings shared by the webhook, the CI API and the runner.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// Commits for one branch arriving within this many seconds become one build.
    pub batch_window_secs: i64,
    /// Base URL people reach the console at (for links in commit statuses).
    pub public_url: String,
}
