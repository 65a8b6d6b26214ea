//! Configuration: one struct, parsed once from flags and environment variables
//! (every variable is documented in `.env.example`).
use app::auth::Secret;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "odooops", version, about = "OdooOps Console: operations console for Odoo-style apps on PostgreSQL")]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web console (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage console users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Scan any PostgreSQL database for security and performance risks (no console needed).
    Scan(crate::scan::cli::ScanArgs),
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Load demo data (a tenant, a project with three environments, one user per role).
    #[arg(long, env = "ODOOOPS_DEMO")]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and give them a role in a tenant (created if missing).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        /// admin, sysadmin, developer, tester or pm
        #[arg(long)]
        role: String,
        /// Tenant slug, e.g. `acme`.
        #[arg(long)]
        tenant: String,
        /// Read the password from this environment variable instead of generating one.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Set a new password for an existing user (a generated one is printed).
    SetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_env: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project with production, staging and development environments.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        repo: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the audit hash chains; print each chain's head hash and its first broken link.
    /// Exits non-zero when a chain is broken.
    Verify {
        /// Tenant slug; without it every tenant and the records without a tenant are checked.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL URL of an existing server (owner role). Without it, a private cluster is started.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub database_url: Option<Secret>,
    /// Separate login for request work (must be a member-free, non-owner role). Without it the
    /// owner connection switches to `odooops_app` with `set role`.
    #[arg(long, env = "ODOOOPS_APP_DATABASE_URL", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub app_database_url: Option<Secret>,
    /// Where the console keeps its state (embedded cluster, demo credentials).
    #[arg(long, env = "ODOOOPS_DATA_DIR", default_value = "./.odooops", global = true)]
    pub data_dir: PathBuf,
    /// Port of the embedded cluster (default: a free loopback port).
    #[arg(long, env = "ODOOOPS_PG_PORT", global = true)]
    pub pg_port: Option<u16>,
    /// Address the web console listens on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000", global = true)]
    pub addr: String,
    /// Directory with the built site (`/pkg` JS, WASM and CSS).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site", global = true)]
    pub site_root: String,
    #[arg(long, env = "LEPTOS_OUTPUT_NAME", default_value = "odooops", global = true)]
    pub output_name: String,
    /// HS256 key for session tokens. Without it, one is generated once and kept in the database.
    #[arg(long, env = "ODOOOPS_JWT_SECRET", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: Option<Secret>,
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "ODOOOPS_SESSION_TTL_MINUTES", default_value_t = 30, global = true)]
    pub session_ttl_minutes: u64,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    #[arg(long, env = "ODOOOPS_SECURE_COOKIES", global = true)]
    pub secure_cookies: bool,
    /// Size of the request connection pool.
    #[arg(long, env = "ODOOOPS_DB_POOL_SIZE", default_value_t = 10, global = true)]
    pub db_pool_size: u32,
    /// `json` (default) or `text`.
    #[arg(long, env = "ODOOOPS_LOG_FORMAT", default_value = "json", global = true)]
    pub log_format: String,
    /// tracing filter, e.g. `info,sqlx=warn`.
    #[arg(long, env = "RUST_LOG", default_value = "info,sqlx=warn", global = true)]
    pub log_filter: String,
    /// Concurrent builds this console runs (0: run none, only serve the UI and API).
    #[arg(long, env = "ODOOOPS_BUILD_WORKERS", default_value_t = 2, global = true)]
    pub build_workers: usize,
    /// Commits to one branch arriving within this many seconds become one build (newest wins).
    #[arg(long, env = "ODOOOPS_BUILD_BATCH_SECONDS", default_value_t = 10, global = true)]
    pub build_batch_seconds: i64,
    /// Attempts for a build that keeps failing for infrastructure reasons (git unreachable, disk).
    #[arg(long, env = "ODOOOPS_BUILD_MAX_ATTEMPTS", default_value_t = 3, global = true)]
    pub build_max_attempts: i32,
    /// Minutes a preview may sit unused before it is stopped.
    #[arg(long, env = "ODOOOPS_PREVIEW_IDLE_MINUTES", default_value_t = 30, global = true)]
    pub preview_idle_minutes: u64,
    /// Base URL people use to reach the console (links in commit statuses). Default: http://<addr>.
    #[arg(long, env = "ODOOOPS_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// GitHub token for posting commit statuses (none: statuses are not posted).
    #[arg(long, env = "ODOOOPS_GITHUB_TOKEN", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub github_token: Option<Secret>,
    /// GitHub API base URL (a GitHub Enterprise server, or a local stand-in for tests).
    #[arg(long, env = "ODOOOPS_GITHUB_API_URL", default_value = "https://api.github.com", global = true)]
    pub github_api_url: String,
    /// Address of the mail catcher's SMTP server (`off` to run none; port 0 picks one).
    #[arg(long, env = "ODOOOPS_SMTP_ADDR", default_value = "127.0.0.1:1025", global = true)]
    pub smtp_addr: String,
    /// Host name the SMTP server greets with and apps are told to use (default: the listen host).
    #[arg(long, env = "ODOOOPS_SMTP_HOSTNAME", global = true)]
    pub smtp_hostname: Option<String>,
    /// Largest message accepted, in bytes (SIZE); larger ones get 552.
    #[arg(long, env = "ODOOOPS_SMTP_MAX_SIZE", default_value_t = 25 * 1024 * 1024, global = true)]
    pub smtp_max_size: usize,
    /// Concurrent SMTP sessions; more connections are turned away with 421.
    #[arg(long, env = "ODOOOPS_SMTP_MAX_SESSIONS", default_value_t = 500, global = true)]
    pub smtp_max_sessions: usize,
    /// Seconds an SMTP client may stay silent before the session ends with 421.
    #[arg(long, env = "ODOOOPS_SMTP_TIMEOUT_SECONDS", default_value_t = 300, global = true)]
    pub smtp_timeout_seconds: u64,
    /// PEM certificate chain for STARTTLS (with ODOOOPS_SMTP_TLS_KEY); without it no STARTTLS.
    #[arg(long, env = "ODOOOPS_SMTP_TLS_CERT", global = true)]
    pub smtp_tls_cert: Option<PathBuf>,
    /// PEM private key for STARTTLS.
    #[arg(long, env = "ODOOOPS_SMTP_TLS_KEY", global = true)]
    pub smtp_tls_key: Option<PathBuf>,
    /// Real SMTP relay (`smtp://user:pass@host:587?tls=required`, `smtps://…`): releases captured
    /// mail, and carries production mail (which is then never stored).
    #[arg(long, env = "ODOOOPS_MAIL_RELAY_URL", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub mail_relay_url: Option<Secret>,
    /// Comma-separated addresses (`qa@example.com`) or domains (`@example.com`) mail may be released to.
    #[arg(long, env = "ODOOOPS_MAIL_RELEASE_ALLOW", default_value = "", global = true)]
    pub mail_release_allow: String,
    /// Fixed password for demo users (tests); generated when absent.
    #[arg(long, env = "ODOOOPS_DEMO_PASSWORD", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub demo_password: Option<Secret>,
    /// Where backups go for projects with local storage (default: `<data dir>/backups`).
    #[arg(long, env = "ODOOOPS_BACKUP_DIR", global = true)]
    pub backup_dir: Option<PathBuf>,
    /// The web shell's program (run as `<shell> -i`; bash gets `--noprofile --norc`).
    #[arg(long, env = "ODOOOPS_SHELL", default_value = "/bin/bash", global = true)]
    pub shell: PathBuf,
    /// The unprivileged OS user web shells run as when the console runs as root ("" or "-":
    /// as the console's own user). Ignored when the console is not root.
    #[arg(long, env = "ODOOOPS_SHELL_USER", default_value = "nobody", global = true)]
    pub shell_user: String,
    /// Bytes of recent terminal output replayed to a browser that reattaches.
    #[arg(long, env = "ODOOOPS_SHELL_SCROLLBACK_BYTES", default_value_t = 256 * 1024, global = true)]
    pub shell_scrollback_bytes: usize,
    /// How long transcript chunks wait to be written together (milliseconds). Longer means
    /// fewer transactions; everything is flushed when a session ends either way.
    #[arg(long, env = "ODOOOPS_SHELL_FLUSH_MS", default_value_t = 250, global = true)]
    pub shell_flush_ms: u64,
    /// Seconds before the time limit (and the idle timeout) at which the terminal is warned.
    #[arg(long, env = "ODOOOPS_SHELL_WARN_SECONDS", default_value_t = 60, global = true)]
    pub shell_warn_seconds: u64,
    /// Backups and restores this console runs at once (0: none; other consoles may).
    #[arg(long, env = "ODOOOPS_BACKUP_WORKERS", default_value_t = 1, global = true)]
    pub backup_workers: usize,
    /// Production's default schedule: daily at this hour (0-23) in the project's time zone.
    #[arg(long, env = "ODOOOPS_BACKUP_DEFAULT_HOUR", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..24), global = true)]
    pub backup_default_hour: u32,
    /// A backup or restore whose console has been silent this long is failed and cleaned up.
    #[arg(long, env = "ODOOOPS_BACKUP_STALE_SECONDS", default_value_t = 60, global = true)]
    pub backup_stale_seconds: u64,
    /// Whether this console runs the database scanner (its job worker and nightly scheduler).
    /// Off: scans queued here wait for a console that runs it.
    #[arg(long, env = "ODOOOPS_SCANNER", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub scanner: bool,
    /// Schemas the scanner treats as exposed through an API (PostgREST); comma-separated.
    #[arg(long, env = "ODOOOPS_SCAN_EXPOSED_SCHEMAS", default_value = "public", value_delimiter = ',', global = true)]
    pub scan_exposed_schemas: Vec<String>,
    /// Supabase Management API the proxy forwards to (`/api/supabase-proxy/v1/...`).
    #[arg(long, env = "ODOOOPS_SUPABASE_API_URL", default_value = "https://api.supabase.com", global = true)]
    pub supabase_api_url: String,
    /// Supabase management token (a personal access token) sent upstream as a bearer token;
    /// never sent to a browser or logged. Without it, links to Supabase's API get 502.
    #[arg(long, env = "ODOOOPS_SUPABASE_TOKEN", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub supabase_token: Option<Secret>,
    /// Bearer token of the local Management API (`/local-supabase/v1/...`); without it the
    /// local API is off. The proxy uses it for links whose upstream is `local`.
    #[arg(long, env = "ODOOOPS_SUPABASE_LOCAL_TOKEN", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub supabase_local_token: Option<Secret>,
    /// 64 hex characters: the AES-256 key for stored Supabase connection strings and secrets.
    /// Without it, one is generated once and kept in the database (owner-only).
    #[arg(long, env = "ODOOOPS_SUPABASE_SECRETS_KEY", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub supabase_secrets_key: Option<Secret>,
    /// Milliseconds the proxy waits to connect to the upstream.
    #[arg(long, env = "ODOOOPS_SUPABASE_CONNECT_TIMEOUT_MS", default_value_t = 5_000, global = true)]
    pub supabase_connect_timeout_ms: u64,
    /// Milliseconds a proxied request may take in all (connect, upstream work, response body).
    #[arg(long, env = "ODOOOPS_SUPABASE_TIMEOUT_MS", default_value_t = 30_000, global = true)]
    pub supabase_timeout_ms: u64,
    /// statement_timeout of the local API's queries, in milliseconds.
    #[arg(long, env = "ODOOOPS_SUPABASE_QUERY_TIMEOUT_MS", default_value_t = 15_000, global = true)]
    pub supabase_query_timeout_ms: u64,
}

/// Secrets are parsed straight into [`Secret`], so printing the config never shows them.
fn parse_secret(s: &str) -> Result<Secret, String> {
    Ok(Secret::new(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_the_config_masks_secrets() {
        let cli = Cli::parse_from(["odooops", "--database-url", "postgres://u:pw-123@h/db", "--jwt-secret", "k".repeat(40).as_str()]);
        let shown = format!("{:?}", cli.config);
        assert!(!shown.contains("pw-123") && !shown.contains(&"k".repeat(40)), "{shown}");
        assert_eq!(cli.config.database_url.as_ref().map(|s| s.expose()), Some("postgres://u:pw-123@h/db"));
    }
}
