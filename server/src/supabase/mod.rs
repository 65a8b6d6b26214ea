//! Supabase projects linked to console projects (issue 9): a guarded proxy to the Supabase
//! Management API, and a local implementation of the part of that API the panel uses.
//!
//! # The proxy: `/api/supabase-proxy/{*path}` (any method)
//!
//! Checked in this order, each refusal a JSON `{"error": "..."}`:
//! 1. the login cookie names a member (else **401**, not audited: there is nobody to record);
//!    the live role and the link of step 3 are read in one statement under the tenant's RLS
//!    and, when both are there, kept for up to 5 s per login and ref; any change to
//!    memberships, users, links or tokens ends every kept answer (see [`grants`]), so a
//!    removed member or an unlinked project is refused on the next request;
//! 2. the raw path is clean: no percent-encoding at all, no `\`, no empty, `.` or `..`
//!    segments (so no `//`), no `:` or `@` (scheme, host, absolute URL), no control
//!    characters, only `[A-Za-z0-9._-]` in segments (else **400**);
//! 3. it has the form `v1/projects/{ref}/...` and `{ref}` is a Supabase project linked to the
//!    caller's tenant, read under the tenant's RLS (else **403**, and nothing goes upstream);
//! 4. method and path are in [`allow::RULES`] (else **403**);
//! 5. writes need the admin role (else **403**); `database/query` needs it only when the body
//!    says `"read_only": false`. A query body without `read_only` is forwarded with
//!    `"read_only": true` added, so Supabase's API enforces it too.
//! 6. the request body is at most 1 MiB (else **413**).
//!
//! Forwarded to `ODOOOPS_SUPABASE_API_URL` (default `https://api.supabase.com`) with
//! `Authorization: Bearer $ODOOOPS_SUPABASE_TOKEN`; links whose `upstream` is `local` go to the
//! console's own local API below with `ODOOOPS_SUPABASE_LOCAL_TOKEN`, called in-process (the
//! same router, token check and handlers, without a second HTTP exchange over loopback; the
//! same timeout, no connect timeout). The query string is
//! passed on unchanged. Only `accept` and `content-type` go upstream from the browser (never
//! its cookies or authorization); only `content-type`, `content-length`, `content-encoding`,
//! `cache-control`, `etag`, `last-modified`, `retry-after` and `x-ratelimit-*` come back. The
//! upstream's status is passed through as it is (a 429 stays a 429, so the panel can say
//! "upstream returned 429"); the body is streamed. When the upstream cannot be reached the
//! answer is **502** `{"error": "upstream unreachable"}`, or `{"error": "upstream timed out"}`
//! after `ODOOOPS_SUPABASE_CONNECT_TIMEOUT_MS` / `ODOOOPS_SUPABASE_TIMEOUT_MS`; **502**
//! `{"error": "no Supabase management token is configured for this organization"}` when
//! there is no token. The token is the tenant's own (`ops.supabase_tokens`, encrypted, set by
//! its admins), else `ODOOOPS_SUPABASE_TOKEN` for the installation's first tenant only: a ref
//! is not a secret, so one server-wide token must not serve every tenant.
//!
//! Every request after login leaves exactly one `ops.audit_log` row, action
//! `supabase.proxy`, target the ref (or `-`), details `{method, path, status, latency_ms,
//! bytes_in, bytes_out, outcome, reason?}` with `outcome` one of `forwarded`, `refused`,
//! `upstream_error`. Forwarded requests are recorded when the response body has been sent
//! (or the client went away), so `bytes_out` is what was actually streamed. Never bodies,
//! query strings or tokens.
//!
//! The rows are written by one background writer ([`audit`]): a refusal's or an upstream
//! error's row is committed before its answer goes out; a forwarded request's row is handed
//! over when its body ends and committed within [`audit::LINGER`] (20 ms) plus the write.
//! Rows arriving together go in together, one transaction and one multi-row insert per
//! tenant, so a tenant's audit chain head is locked once per batch instead of once per
//! request; `created_at` is the batch's transaction time. At shutdown the console writes what
//! is still queued once its HTTP server has drained (`Services::flush`); a crash can lose the
//! forwarded requests' rows of that last moment. A batch the database refuses is retried up
//! to 4 times when none of it can have been committed, then logged as lost (tenant and row
//! count, never contents).
//!
//! # Allowed routes (paths below `/api/supabase-proxy/v1/projects/{ref}`) and their shapes
//!
//! The shapes are Supabase's Management API v1; the local API answers with the same.
//!
//! | method | path | who | request | response |
//! |---|---|---|---|---|
//! | GET | `` (the project) | member | | `{id, ref, organization_id, name, region, created_at, status, database: {host, version, postgres_engine, release_channel}}` |
//! | POST | `/database/query` | member read-only; admin with `read_only: false` | `{"query": "select ...", "read_only": true}` | `[{column: value, ...}, ...]` (rows of the last statement, columns in order; numbers, booleans and json as JSON, everything else as text); errors 400 `{"message": "..."}` |
//! | GET | `/database/migrations` | member | | `[{"version": "20240101000000", "name": "init"}]` (empty without `supabase_migrations.schema_migrations`) |
//! | GET | `/storage/buckets` | member | | `[{id, name, owner, public, created_at, updated_at, file_size_limit, allowed_mime_types}]` |
//! | GET | `/config/auth` | member | | `{site_url, disable_signup, jwt_exp, mailer_autoconfirm, external_email_enabled, ...}` |
//! | PATCH | `/config/auth` | admin | `{"site_url": "...", "disable_signup": true}` (scalar values) | the whole config, as GET |
//! | GET | `/secrets` | member | | `[{"name": "STRIPE_KEY", "value": "<sha256 hex of the value>", "updated_at": "..."}]` (values are never returned; `value` is the digest, as Supabase does) |
//! | POST | `/secrets` | admin | `[{"name": "STRIPE_KEY", "value": "sk_..."}]` | 201, empty body |
//! | DELETE | `/secrets` | admin | `["STRIPE_KEY"]` | 200 `{}` |
//! | GET | `/analytics/endpoints/logs.all?iso_timestamp_start=&iso_timestamp_end=&source=` | member | | `{"result": [{id, timestamp, event_message, ...}], "error": null}` |
//! | GET | `/advisors/security`, `/advisors/performance` | member | | `{"lints": [{name, title, level, facing, categories, description, detail, remediation, metadata, cache_key}]}` |
//!
//! Auth users and the schema browser have no Management API endpoint (Supabase has none
//! either); the panel reads them through `database/query` in read-only mode, e.g.
//! `select id, email, created_at, last_sign_in_at from auth.users order by created_at desc
//! limit 100` and `select date_trunc('day', created_at)::date as day, count(*) from auth.users
//! group by 1 order by 1` for the sign-ups chart; tables with row estimates from
//! `pg_class.reltuples`, columns from `information_schema.columns`, policies from `pg_policies`.
//!
//! # The local Management API: `/local-supabase/v1/projects/{ref}/...`
//!
//! Mounted in the console's own listener, authenticated by `Authorization: Bearer
//! $ODOOOPS_SUPABASE_LOCAL_TOKEN` (when unset, a random token generated at start-up, known
//! only to this console's proxy; 401 when wrong), serving the routes
//! above for links that have a registered PostgreSQL connection (stored encrypted). Logs:
//! `source=edge_logs` (the default) lists this project's proxied requests from the audit log;
//! `source=postgres_logs` lists the backing database's sessions (`pg_stat_activity`). The
//! `sql` parameter of Supabase's logs endpoint is accepted and ignored.
pub mod allow;
pub mod audit;
pub mod crypto;
pub mod grants;
pub mod local;
pub mod proxy;

use app::auth::Secret;
use std::sync::Arc;
use std::time::Duration;

/// Where the proxy goes and with what, built once at start-up.
#[derive(Clone)]
pub struct Supabase {
    pub api_url: String,
    pub token: Option<Secret>,
    pub local_token: Option<Secret>,
    /// How long an upstream may take to answer (`ODOOOPS_SUPABASE_TIMEOUT_MS`).
    pub timeout: Duration,
    pub http: reqwest::Client,
    pub secrets: Arc<crypto::SecretBox>,
    pub query_timeout: Duration,
    pub pools: local::Pools,
    /// Where the proxy's audit rows go (see [`audit`]).
    pub audit: audit::AuditWriter,
    /// What the proxy's checks found, kept for a few seconds (see [`grants`]).
    pub grants: Arc<grants::Grants>,
}

impl std::fmt::Debug for Supabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supabase").field("api_url", &self.api_url).finish_non_exhaustive()
    }
}

impl Supabase {
    /// Starts the audit writer on the current runtime.
    pub fn new(cfg: &crate::config::Config, secrets: Arc<crypto::SecretBox>, db: &app::db::Db) -> anyhow::Result<Supabase> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(cfg.supabase_connect_timeout_ms.max(1)))
            .timeout(Duration::from_millis(cfg.supabase_timeout_ms.max(1)))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .no_proxy()
            .build()?;
        Ok(Supabase {
            api_url: cfg.supabase_api_url.trim_end_matches('/').to_string(),
            token: cfg.supabase_token.clone(),
            // Unset: a random token for this process, so local links work through the proxy
            // and nobody else can call the local API.
            local_token: Some(cfg.supabase_local_token.clone().unwrap_or_else(|| Secret::new(crypto::random_token()))),
            timeout: Duration::from_millis(cfg.supabase_timeout_ms.max(1)),
            http,
            secrets,
            query_timeout: Duration::from_millis(cfg.supabase_query_timeout_ms.max(1)),
            pools: local::Pools::default(),
            audit: audit::AuditWriter::start(db.clone()),
            grants: Arc::default(),
        })
    }
}
