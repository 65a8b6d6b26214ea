//! The Supabase proxy and the local Management API on a real PostgreSQL: a backing database
//! with Supabase-like schemas (auth.users, storage.buckets, supabase_migrations), linked to
//! the tenant, reached through a counting stand-in upstream that forwards to the console's
//! local API, so every request that gets past the proxy's checks is counted.
mod common;

use app::models::Role;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use common::TestApp;
use odooops::supabase::allow::RULES;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const BACKING: &str = "
create schema auth;
create table auth.users (id uuid primary key default gen_random_uuid(), email text, created_at timestamptz not null default now(), last_sign_in_at timestamptz);
insert into auth.users (email, created_at) values ('ada@example.com', now() - interval '2 days'), ('bob@example.com', now() - interval '1 day'), ('cy@example.com', now());
create schema storage;
create table storage.buckets (id text primary key, name text not null unique, owner uuid, public boolean default false,
  created_at timestamptz default now(), updated_at timestamptz default now(), file_size_limit bigint, allowed_mime_types text[]);
insert into storage.buckets (id, name, public, file_size_limit) values ('avatars', 'avatars', true, 1048576), ('invoices', 'invoices', false, null);
create schema supabase_migrations;
create table supabase_migrations.schema_migrations (version text primary key, statements text[], name text);
insert into supabase_migrations.schema_migrations values ('20240101000000', '{}', 'init'), ('20240202000000', '{}', 'notes');
create table public.notes (id serial primary key, body text not null);
insert into public.notes (body) values ('first'), ('second');
create table public.no_key (x int);
";

// ---------------------------------------------------------------- log capture

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct LogWriter(Arc<Mutex<Vec<u8>>>);
impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test process, at debug level, as the console writes them.
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = buf.clone();
        let sub = odooops::telemetry::logging::json_subscriber(tracing_subscriber::EnvFilter::new("debug"), move || LogWriter(w.clone()));
        let _ = tracing::subscriber::set_global_default(sub);
        buf
    })
    .clone()
}

// ---------------------------------------------------------------- the stand-in upstream

#[derive(Clone, Default)]
struct Upstream {
    hits: Arc<AtomicUsize>,
    target: Arc<OnceLock<String>>,
    seen_auth: Arc<Mutex<Vec<String>>>,
    seen_host: Arc<Mutex<Vec<String>>>,
    seen_cookie: Arc<AtomicUsize>,
    http: reqwest::Client,
}

/// Counts, remembers what it was sent, answers 429 for `?force_status=429`, and otherwise
/// forwards to the console's local Management API.
async fn upstream(State(u): State<Upstream>, req: Request) -> Response {
    u.hits.fetch_add(1, Ordering::SeqCst);
    let h = req.headers();
    u.seen_auth.lock().unwrap().push(h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string());
    u.seen_host.lock().unwrap().push(h.get("host").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string());
    if h.contains_key("cookie") {
        u.seen_cookie.fetch_add(1, Ordering::SeqCst);
    }
    let pq = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    if pq.contains("force_status=429") {
        return (axum::http::StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7"), ("set-cookie", "up=1")], "{\"message\":\"slow down\"}").into_response();
    }
    let url = format!("{}{pq}", u.target.get().unwrap());
    let mut out = u.http.request(req.method().clone(), url);
    for name in ["authorization", "content-type", "accept"] {
        if let Some(v) = req.headers().get(name) {
            out = out.header(name, v);
        }
    }
    let body = axum::body::to_bytes(req.into_body(), 4 << 20).await.unwrap();
    let res = out.body(body).send().await.unwrap();
    let status = res.status();
    let ct = res.headers().get("content-type").cloned();
    let bytes = res.bytes().await.unwrap();
    let mut r = Response::builder().status(status.as_u16());
    if let Some(ct) = ct {
        r = r.header("content-type", ct);
    }
    r.body(Body::from(bytes)).unwrap()
}

async fn start_upstream() -> (Upstream, String) {
    let u = Upstream::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(upstream).with_state(u.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (u, format!("http://{addr}"))
}

// ---------------------------------------------------------------- fixture

struct Fx {
    app: TestApp,
    up: Upstream,
    token: String,
    backing_url: String,
    /// Linked to acme, backed by the Supabase-like database.
    linked: String,
    /// Linked to acme with the `local` upstream (straight to the console's local API).
    local: String,
    /// Linked to another tenant.
    foreign: String,
    logs: Arc<Mutex<Vec<u8>>>,
}

fn random_ref() -> String {
    Uuid::new_v4().simple().to_string().bytes().take(20).map(|b| (b'a' + b % 26) as char).collect()
}

async fn link(app: &TestApp, tenant: Uuid, project: Uuid, r: &str, upstream: Option<&str>, db_url: &str) {
    let sealed = app.services.supabase.as_ref().unwrap().secrets.seal(db_url).unwrap();
    sqlx::query("insert into ops.supabase_projects (tenant_id, project_id, project_ref, name, upstream, db_url_enc) values ($1, $2, $3, $4, $5, $6)")
        .bind(tenant)
        .bind(project)
        .bind(r)
        .bind(format!("Supabase {r}"))
        .bind(upstream)
        .bind(sealed)
        .execute(&app.owner)
        .await
        .unwrap();
}

async fn backing_database() -> String {
    let name = format!("sb_{}", Uuid::new_v4().simple());
    odooops::db::ensure_database(&common::cluster_url(), &name).await.unwrap();
    let url = common::with_db(&common::cluster_url(), &name);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(BACKING).execute(&pool).await.unwrap();
    pool.close().await;
    url
}

async fn fixture() -> Fx {
    fixture_with(|_| {}).await
}

async fn fixture_with(tweak: impl FnOnce(&mut odooops::config::Config)) -> Fx {
    let logs = capture_logs();
    let (up, up_url) = start_upstream().await;
    let token = format!("sbp_{}", Uuid::new_v4().simple());
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.build_workers = 0;
    cfg.supabase_api_url = up_url;
    cfg.supabase_token = Some(app::auth::Secret::new(token.clone()));
    cfg.supabase_local_token = Some(app::auth::Secret::new(token.clone()));
    tweak(&mut cfg);
    let app = TestApp::spawn_with(cfg).await;
    let _ = up.target.set(format!("{}/local-supabase", app.base));
    let backing_url = backing_database().await;
    let (linked, local, foreign) = (random_ref(), random_ref(), random_ref());
    link(&app, app.tenant_id, app.project_id, &linked, None, &backing_url).await;
    link(&app, app.tenant_id, app.project_id, &local, Some("local"), &backing_url).await;
    let mut conn = app.owner.acquire().await.unwrap();
    let other = odooops::admin::ensure_tenant(&mut conn, "globex", "Globex").await.unwrap();
    let other_project = odooops::admin::create_project_in(&mut conn, other, "web", "Globex Web", "").await.unwrap();
    drop(conn);
    link(&app, other, other_project, &foreign, None, &backing_url).await;
    Fx { app, up, token, backing_url, linked, local, foreign, logs }
}

impl Fx {
    fn url(&self, path: &str) -> String {
        self.app.url(&format!("/api/supabase-proxy/{path}"))
    }

    async fn call(&self, c: &reqwest::Client, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, String) {
        let mut req = c.request(method.parse().unwrap(), self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = format!("{:?}", res.headers());
        let text = res.text().await.unwrap();
        assert!(!headers.contains(&self.token) && !text.contains(&self.token), "the token reached a browser: {headers} {text}");
        assert!(!text.contains(&self.backing_url), "the backing connection reached a browser");
        (status, text)
    }

    async fn proxy_audit_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from ops.audit_log where action = 'supabase.proxy'").fetch_one(&self.app.owner).await.unwrap()
    }

    /// Waits until the proxy's audit writer has written what it was handed.
    async fn flush_audit(&self) {
        self.app.services.supabase.as_ref().unwrap().audit.flush().await;
    }

    /// Waits for `n` audit rows (forwarded requests hand theirs over once their body is sent,
    /// a moment after the client has it), then makes sure no more arrive.
    async fn expect_audit_rows(&self, n: i64) {
        for _ in 0..100 {
            self.flush_audit().await;
            if self.proxy_audit_count().await >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.flush_audit().await;
        assert_eq!(self.proxy_audit_count().await, n, "one audit row per proxied request");
    }

    fn hits(&self) -> usize {
        self.up.hits.load(Ordering::SeqCst)
    }

    /// The session cookie of a fresh member with `role`.
    async fn cookie(&self, role: Role) -> String {
        let (_, email) = self.app.member(role).await;
        let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = c.post(self.app.url("/api/login")).form(&[("email", email.as_str()), ("password", common::PASSWORD)]).send().await.unwrap();
        let set = res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|v| v.starts_with("odooops_session=")).unwrap().to_string();
        set.split(';').next().unwrap().to_string()
    }

    /// A request written byte for byte (no client-side path normalization); the status.
    async fn raw(&self, request_line: &str, host: &str, cookie: &str) -> u16 {
        let addr = self.app.base.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("{request_line} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains(&self.token));
        text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
    }
}

/// A request for each allowed route, with a body where it takes one.
fn route_requests(r: &str) -> Vec<(&'static str, String, Option<serde_json::Value>)> {
    RULES
        .iter()
        .map(|rule| {
            let path = if rule.tail.is_empty() { format!("v1/projects/{r}") } else { format!("v1/projects/{r}/{}", rule.tail) };
            let body = match (rule.method, rule.tail) {
                ("POST", "database/query") => Some(serde_json::json!({"query": "select 1 as one"})),
                ("PATCH", _) => Some(serde_json::json!({"site_url": "https://app.example.com"})),
                ("POST", "secrets") => Some(serde_json::json!([{"name": "STRIPE_KEY", "value": "sk_test_123"}])),
                ("DELETE", _) => Some(serde_json::json!(["STRIPE_KEY"])),
                _ => None,
            };
            (rule.method, path, body)
        })
        .collect()
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn an_unlinked_or_other_tenants_project_ref_gets_403_on_every_route_and_reaches_no_upstream() {
    let fx = fixture().await;
    let (admin, _, _) = fx.app.logged_in(Role::Admin).await;
    let mut n = 0;
    for r in [random_ref(), fx.foreign.clone()] {
        for (method, path, body) in route_requests(&r) {
            let (status, text) = fx.call(&admin, method, &path, body).await;
            assert_eq!(status, 403, "{method} {path}: {text}");
            n += 1;
        }
    }
    assert_eq!(fx.hits(), 0, "nothing reached the upstream");
    fx.expect_audit_rows(n).await;
    fx.app.stop().await;
}

#[tokio::test]
async fn paths_outside_the_allow_list_get_403_and_reach_no_upstream() {
    let fx = fixture().await;
    let (admin, _, _) = fx.app.logged_in(Role::Admin).await;
    let r = &fx.linked;
    let cases = [
        ("GET", format!("v1/projects/{r}/api-keys")),
        ("DELETE", format!("v1/projects/{r}")),
        ("POST", format!("v1/projects/{r}/database/migrations")),
        ("GET", format!("v1/projects/{r}/database/query")),
        ("GET", "v1/organizations".to_string()),
        ("GET", "v1/projects".to_string()),
        ("PUT", format!("v1/projects/{r}/secrets")),
    ];
    for (method, path) in &cases {
        let (status, text) = fx.call(&admin, method, path, None).await;
        assert_eq!(status, 403, "{method} {path}: {text}");
    }
    assert_eq!(fx.hits(), 0);
    fx.expect_audit_rows(cases.len() as i64).await;
    fx.app.stop().await;
}

#[tokio::test]
async fn traversal_and_host_switch_attempts_are_rejected() {
    let fx = fixture().await;
    let cookie = fx.cookie(Role::Admin).await;
    let r = &fx.linked;
    let host = fx.app.base.trim_start_matches("http://").to_string();
    for path in [
        format!("v1/projects/{r}/../../../v1/organizations"),
        format!("v1/projects/{r}/%2e%2e/%2e%2e/v1/organizations"),
        format!("v1/projects/{r}%2fsecrets"),
        format!("v1/projects/{r}/%252e%252e/secrets"),
        format!("v1/projects/{r}/..%5csecrets"),
        format!("/evil.example.com/v1/projects/{r}"),
        format!("http://evil.example.com/v1/projects/{r}"),
        format!("v1/projects/{r}//secrets"),
        format!("v1/projects/{r}/./secrets"),
        format!("user@evil.example.com/v1/projects/{r}"),
    ] {
        let status = fx.raw(&format!("GET /api/supabase-proxy/{path}"), &host, &cookie).await;
        assert_eq!(status, 400, "{path}");
    }
    assert_eq!(fx.hits(), 0, "nothing reached the upstream");
    // A request that names another host (Host header, absolute-form target) still goes to
    // the configured upstream only.
    let path = format!("/api/supabase-proxy/v1/projects/{r}/storage/buckets");
    assert_eq!(fx.raw(&format!("GET {path}"), "evil.example.com", &cookie).await, 200);
    assert_eq!(fx.raw(&format!("GET http://evil.example.com{path}"), "evil.example.com", &cookie).await, 200);
    let hosts = fx.up.seen_host.lock().unwrap().clone();
    assert_eq!(hosts.len(), 2);
    assert!(hosts.iter().all(|h| !h.contains("evil")), "{hosts:?}");
    fx.app.stop().await;
}

#[tokio::test]
async fn the_token_appears_in_no_response_log_line_or_audit_row() {
    let fx = fixture().await;
    let (admin, _, _) = fx.app.logged_in(Role::Admin).await;
    let (dev, _, _) = fx.app.logged_in(Role::Developer).await;
    let mut n = 0;
    for client in [&admin, &dev] {
        for r in [&fx.linked, &fx.local, &fx.foreign] {
            for (method, path, body) in route_requests(r) {
                fx.call(client, method, &path, body).await; // asserts the response is clean
                n += 1;
            }
        }
        fx.call(client, "GET", &format!("v1/projects/{}/analytics/endpoints/logs.all?force_status=429", fx.linked), None).await;
        n += 1;
    }
    fx.expect_audit_rows(n).await;
    // It was used, server side.
    let auths = fx.up.seen_auth.lock().unwrap().clone();
    assert!(!auths.is_empty() && auths.iter().all(|a| a == &format!("Bearer {}", fx.token)), "{auths:?}");
    assert_eq!(fx.up.seen_cookie.load(Ordering::SeqCst), 0, "browser cookies never go upstream");
    let rows: Vec<String> = sqlx::query_scalar("select concat_ws(' ', action, target, actor_email, details::text, request_id, ip) from ops.audit_log")
        .fetch_all(&fx.app.owner)
        .await
        .unwrap();
    assert!(rows.iter().all(|r| !r.contains(&fx.token)), "the token is in an audit row");
    let logs = String::from_utf8_lossy(&fx.logs.lock().unwrap()).to_string();
    assert!(!logs.is_empty(), "logs were captured");
    assert!(!logs.contains(&fx.token), "the token is in a log line");
    fx.app.stop().await;
}

#[tokio::test]
async fn each_proxied_request_leaves_exactly_one_audit_row_with_its_figures() {
    let fx = fixture().await;
    let (dev, _, email) = fx.app.logged_in(Role::Developer).await;
    let r = &fx.linked;
    fx.call(&dev, "GET", &format!("v1/projects/{r}/storage/buckets"), None).await;
    fx.call(&dev, "POST", &format!("v1/projects/{r}/database/query"), Some(serde_json::json!({"query": "select email from auth.users"}))).await;
    fx.call(&dev, "GET", &format!("v1/projects/{r}/api-keys"), None).await;
    fx.call(&dev, "GET", "v1/projects/../x", None).await; // reqwest resolves the `..`: v1/x, refused (403)
    // The local upstream (called in-process): its figures too, bytes_out as received.
    let res = dev.get(fx.url(&format!("v1/projects/{}/storage/buckets", fx.local))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let length = res.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let received = res.bytes().await.unwrap().len() as u64;
    assert_eq!(length, Some(received), "the local API's length is passed on");
    fx.expect_audit_rows(5).await;
    let rows: Vec<(String, String, serde_json::Value, Option<Uuid>)> =
        sqlx::query_as("select actor_email, target, details, tenant_id from ops.audit_log where action = 'supabase.proxy' order by id").fetch_all(&fx.app.owner).await.unwrap();
    let first = rows.iter().find(|r| r.2["path"].as_str().is_some_and(|p| p.ends_with("storage/buckets"))).unwrap();
    assert_eq!(first.0, email);
    assert_eq!(first.1, *r);
    assert_eq!(first.3, Some(fx.app.tenant_id));
    let d = &first.2;
    assert_eq!((d["method"].as_str(), d["status"].as_u64(), d["outcome"].as_str()), (Some("GET"), Some(200), Some("forwarded")));
    assert!(d["latency_ms"].as_f64().unwrap() > 0.0 && d["bytes_out"].as_u64().unwrap() > 10, "{d}");
    let query = rows.iter().find(|r| r.2["path"].as_str().is_some_and(|p| p.ends_with("database/query"))).unwrap();
    assert!(query.2["bytes_in"].as_u64().unwrap() > 0);
    assert!(!query.2.to_string().contains("auth.users"), "no bodies in the audit");
    let refused = rows.iter().find(|r| r.2["path"].as_str().is_some_and(|p| p.ends_with("api-keys"))).unwrap();
    assert_eq!((refused.2["status"].as_u64(), refused.2["outcome"].as_str()), (Some(403), Some("refused")));
    let local = rows.iter().find(|r| r.1 == fx.local).unwrap();
    assert_eq!((local.2["status"].as_u64(), local.2["outcome"].as_str(), local.2["bytes_out"].as_u64()), (Some(200), Some("forwarded"), Some(received)));
    assert!(local.2["reason"].is_null(), "{}", local.2);
    fx.app.stop().await;
}

#[tokio::test]
async fn the_local_api_serves_real_data_for_every_section_of_the_panel() {
    let fx = fixture().await;
    let (dev, _, _) = fx.app.logged_in(Role::Developer).await;
    let (admin, _, _) = fx.app.logged_in(Role::Admin).await;
    for r in [&fx.linked, &fx.local] {
        let p = |tail: &str| if tail.is_empty() { format!("v1/projects/{r}") } else { format!("v1/projects/{r}/{tail}") };
        let json = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();

        let (s, t) = fx.call(&dev, "GET", &p(""), None).await;
        assert_eq!(s, 200, "{t}");
        let info = json(&t);
        assert_eq!(info["ref"], r.as_str());
        assert_eq!(info["database"]["host"], "127.0.0.1");

        let (s, t) = fx.call(&dev, "POST", &p("database/query"), Some(serde_json::json!({"query": "select email, created_at is not null as dated, 1::int8 as n from auth.users order by email"}))).await;
        assert_eq!(s, 201, "{t}");
        let rows = json(&t);
        assert_eq!(rows.as_array().unwrap().len(), 3);
        assert_eq!(rows[0], serde_json::json!({"email": "ada@example.com", "dated": true, "n": 1}));
        assert!(t.find("\"email\"").unwrap() < t.find("\"dated\"").unwrap(), "columns keep their order");

        let (s, t) = fx.call(&dev, "GET", &p("database/migrations"), None).await;
        assert_eq!((s, json(&t)), (200, serde_json::json!([{"version": "20240101000000", "name": "init"}, {"version": "20240202000000", "name": "notes"}])));

        let (s, t) = fx.call(&dev, "GET", &p("storage/buckets"), None).await;
        assert_eq!(s, 200);
        let b = json(&t);
        assert_eq!(b.as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect::<Vec<_>>(), ["avatars", "invoices"]);
        assert_eq!((b[0]["public"].as_bool(), b[0]["file_size_limit"].as_i64()), (Some(true), Some(1048576)));

        let (s, t) = fx.call(&dev, "GET", &p("config/auth"), None).await;
        assert_eq!(s, 200);
        assert_eq!(json(&t)["jwt_exp"], 3600);
        let (s, t) = fx.call(&admin, "PATCH", &p("config/auth"), Some(serde_json::json!({"site_url": "https://app.example.com", "disable_signup": true}))).await;
        assert_eq!(s, 200, "{t}");
        let (_, t) = fx.call(&dev, "GET", &p("config/auth"), None).await;
        let cfg = json(&t);
        assert_eq!((cfg["site_url"].as_str(), cfg["disable_signup"].as_bool(), cfg["jwt_exp"].as_i64()), (Some("https://app.example.com"), Some(true), Some(3600)));

        let (s, t) = fx.call(&admin, "POST", &p("secrets"), Some(serde_json::json!([{"name": "STRIPE_KEY", "value": "sk_live_very_secret"}]))).await;
        assert_eq!(s, 201, "{t}");
        let (s, t) = fx.call(&dev, "GET", &p("secrets"), None).await;
        assert_eq!(s, 200);
        assert!(!t.contains("sk_live_very_secret"), "a secret value came back");
        let list = json(&t);
        assert_eq!(list[0]["name"], "STRIPE_KEY");
        assert_eq!(list[0]["value"], odooops::supabase::crypto::digest("sk_live_very_secret"));
        let (s, _) = fx.call(&admin, "DELETE", &p("secrets"), Some(serde_json::json!(["STRIPE_KEY"]))).await;
        assert_eq!(s, 200);
        assert_eq!(json(&fx.call(&dev, "GET", &p("secrets"), None).await.1), serde_json::json!([]));

        tokio::time::sleep(Duration::from_millis(300)).await; // the earlier requests' audit rows
        fx.flush_audit().await;
        let (s, t) = fx.call(&dev, "GET", &p("analytics/endpoints/logs.all"), None).await;
        assert_eq!(s, 200, "{t}");
        let logs = json(&t);
        assert!(logs["error"].is_null());
        assert!(logs["result"].as_array().unwrap().iter().any(|l| l["path"].as_str().is_some_and(|p| p.ends_with("storage/buckets"))), "{logs}");
        let (s, t) = fx.call(&dev, "GET", &p("analytics/endpoints/logs.all?source=postgres_logs"), None).await;
        assert_eq!(s, 200, "{t}");
        assert!(json(&t)["result"].is_array());

        for (tail, category) in [("advisors/security", "SECURITY"), ("advisors/performance", "PERFORMANCE")] {
            let (s, t) = fx.call(&dev, "GET", &p(tail), None).await;
            assert_eq!(s, 200, "{t}");
            let lints = json(&t)["lints"].as_array().cloned().unwrap();
            assert!(lints.iter().all(|l| l["categories"].as_array().unwrap().iter().any(|c| c == category)), "{t}");
            if category == "PERFORMANCE" {
                assert!(lints.iter().any(|l| l["name"] == "no_primary_key" && l["cache_key"].as_str().unwrap().contains("no_key")), "{t}");
            }
        }
    }
    fx.app.stop().await;
}

#[tokio::test]
async fn a_write_query_through_the_read_only_editor_fails_with_a_clear_400() {
    let fx = fixture().await;
    let (admin, _, _) = fx.app.logged_in(Role::Admin).await;
    let (dev, _, _) = fx.app.logged_in(Role::Developer).await;
    let path = format!("v1/projects/{}/database/query", fx.linked);
    for client in [&dev, &admin] {
        for (q, says) in [
            ("insert into public.notes (body) values ('sneaky')", "read-only"),
            ("commit; delete from public.notes", "one statement"),
            ("set transaction read write", "read-write"),
        ] {
            let (s, t) = fx.call(client, "POST", &path, Some(serde_json::json!({"query": q, "read_only": true}))).await;
            assert_eq!(s, 400, "{q}: {t}");
            assert!(t.contains(says), "{q}: {t}");
        }
        let (s, t) = fx.call(client, "POST", &path, Some(serde_json::json!({"query": "delete from public.notes"}))).await;
        assert_eq!(s, 400, "no read_only flag means read-only: {t}");
    }
    let (_, t) = fx.call(&dev, "POST", &path, Some(serde_json::json!({"query": "select count(*) as n from public.notes"}))).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&t).unwrap(), serde_json::json!([{"n": 2}]));
    fx.app.stop().await;
}

#[tokio::test]
async fn a_non_admin_write_gets_403_and_an_admin_write_goes_through() {
    let fx = fixture().await;
    let (dev, _, _) = fx.app.logged_in(Role::Developer).await;
    let (admin, _, _) = fx.app.logged_in(Role::Admin).await;
    let r = &fx.linked;
    let write = serde_json::json!({"query": "insert into public.notes (body) values ('by admin'); select count(*) as n from public.notes", "read_only": false});
    for (method, path, body) in [
        ("POST", format!("v1/projects/{r}/database/query"), Some(write.clone())),
        ("PATCH", format!("v1/projects/{r}/config/auth"), Some(serde_json::json!({"disable_signup": true}))),
        ("POST", format!("v1/projects/{r}/secrets"), Some(serde_json::json!([{"name": "X", "value": "y"}]))),
        ("DELETE", format!("v1/projects/{r}/secrets"), Some(serde_json::json!(["X"]))),
    ] {
        let (s, t) = fx.call(&dev, method, &path, body).await;
        assert_eq!(s, 403, "{method} {path}: {t}");
    }
    assert_eq!(fx.hits(), 0);
    let (s, t) = fx.call(&admin, "POST", &format!("v1/projects/{r}/database/query"), Some(write)).await;
    assert_eq!((s, t.as_str()), (201, r#"[{"n":3}]"#));
    fx.app.stop().await;
}

#[tokio::test]
async fn upstream_statuses_pass_through_and_failures_are_502_with_a_clear_error() {
    // An upstream that hangs up at once, or answers nothing for three seconds.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                if String::from_utf8_lossy(&buf[..n]).contains("sleep") {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
            });
        }
    });
    let fx = fixture_with(|c| {
        c.supabase_api_url = bad;
        c.supabase_timeout_ms = 700;
    })
    .await;
    let (dev, _, _) = fx.app.logged_in(Role::Developer).await;
    let r = &fx.linked;
    let (s, t) = fx.call(&dev, "GET", &format!("v1/projects/{r}/storage/buckets"), None).await;
    assert_eq!((s, t.as_str()), (502, r#"{"error":"upstream unreachable"}"#));
    let (s, t) = fx.call(&dev, "GET", &format!("v1/projects/{r}/storage/buckets?sleep=1"), None).await;
    assert_eq!((s, t.as_str()), (502, r#"{"error":"upstream timed out"}"#));
    // The local upstream still works in this console; a body over 1 MiB is refused.
    let (s, _) = fx.call(&dev, "GET", &format!("v1/projects/{}/storage/buckets", fx.local), None).await;
    assert_eq!(s, 200);
    let big = "x".repeat(1 << 21);
    let (s, _) = fx.call(&dev, "POST", &format!("v1/projects/{}/database/query", fx.local), Some(serde_json::json!({"query": big}))).await;
    assert_eq!(s, 413);
    fx.expect_audit_rows(4).await;
    fx.app.stop().await;

    // Through the counting upstream: a 429 stays a 429, with its retry-after and no cookie.
    let fx = fixture().await;
    let (dev, _, _) = fx.app.logged_in(Role::Developer).await;
    let res = dev.get(fx.url(&format!("v1/projects/{}/analytics/endpoints/logs.all?force_status=429", fx.linked))).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers().get("retry-after").unwrap(), "7");
    assert!(res.headers().get("set-cookie").is_none(), "upstream cookies stay upstream");
    fx.app.stop().await;
}

#[tokio::test]
async fn the_proxy_needs_a_login_and_the_local_api_its_token() {
    let fx = fixture().await;
    let anon = fx.app.client();
    let res = anon.get(fx.url(&format!("v1/projects/{}/storage/buckets", fx.linked))).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let local = fx.app.url(&format!("/local-supabase/v1/projects/{}/storage/buckets", fx.linked));
    assert_eq!(anon.get(&local).send().await.unwrap().status(), 401);
    assert_eq!(anon.get(&local).bearer_auth("wrong").send().await.unwrap().status(), 401);
    assert_eq!(anon.get(&local).bearer_auth(&fx.token).send().await.unwrap().status(), 200);
    assert_eq!(fx.hits(), 0);
    fx.expect_audit_rows(0).await;
    fx.app.stop().await;
}

/// Polls the proxy until it answers `want` (at most 2 s), returning what it answered last.
async fn answers(fx: &Fx, c: &reqwest::Client, path: &str, want: u16) -> u16 {
    let mut last = 0;
    for _ in 0..40 {
        last = fx.call(c, "GET", path, None).await.0;
        if last == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test]
async fn kept_grants_end_with_any_change_to_memberships_links_or_tokens_even_one_made_in_sql() {
    let fx = fixture().await;
    let sb = fx.app.services.supabase.clone().unwrap();
    let (dev, user_id, _) = fx.app.logged_in(Role::Developer).await;
    let (admin, _, _) = fx.app.logged_in(Role::Admin).await;
    let path = format!("v1/projects/{}/storage/buckets", fx.local);
    assert_eq!(fx.call(&dev, "GET", &path, None).await.0, 200);
    assert_eq!(fx.call(&admin, "GET", &path, None).await.0, 200);
    assert_eq!(sb.grants.len(), 2, "one grant per login and ref");
    // Kept: the next requests read nothing (a lookup would see the role change below).
    let epoch = fx.app.state.authz_epoch();
    assert_eq!(fx.call(&dev, "GET", &path, None).await.0, 200);
    assert_eq!(fx.app.state.authz_epoch(), epoch);

    // A membership removed by hand in SQL: its notification ends every kept grant, in time
    // for the next request (polled: the notification arrives a moment after the commit).
    sqlx::query("delete from ops.memberships where user_id = $1").bind(user_id).execute(&fx.app.owner).await.unwrap();
    assert_eq!(answers(&fx, &dev, &path, 401).await, 401, "a removed member is refused");
    assert!(fx.app.state.authz_epoch() > epoch);
    assert_eq!(fx.call(&admin, "GET", &path, None).await.0, 200, "others keep working");

    // Unlinking in SQL: 403 for everyone.
    sqlx::query("delete from ops.supabase_projects where project_ref = $1").bind(&fx.local).execute(&fx.app.owner).await.unwrap();
    assert_eq!(answers(&fx, &admin, &path, 403).await, 403, "an unlinked project is refused");

    // A role change through the console: in effect on the very next request (no polling).
    let (pm, pm_id, _) = fx.app.logged_in(Role::Pm).await;
    let query = format!("v1/projects/{}/database/query", fx.linked);
    let write = serde_json::json!({"query": "select 1", "read_only": false});
    assert_eq!(fx.call(&pm, "GET", &format!("v1/projects/{}/storage/buckets", fx.linked), None).await.0, 200);
    assert_eq!(fx.call(&pm, "POST", &query, Some(write.clone())).await.0, 403, "a PM may not write");
    let (s, body) = server_fn(&fx.app, &admin, "members/role", &[("user_id", &pm_id.to_string()), ("role", "admin")]).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = fx.call(&pm, "POST", &query, Some(write)).await;
    assert!((200..300).contains(&s), "the new admin role is used at once: {s} {body}");
    fx.app.stop().await;
}

#[tokio::test]
async fn concurrent_requests_of_two_tenants_each_leave_one_row_none_lost_at_shutdown_and_the_chains_hold() {
    let fx = fixture().await;
    let (acme, _, _) = fx.app.logged_in(Role::Developer).await;
    let globex_id: Uuid = sqlx::query_scalar("select id from ops.tenants where slug = 'globex'").fetch_one(&fx.app.owner).await.unwrap();
    let (_, email) = fx.app.member_of(globex_id, Role::Admin).await;
    let (globex, res) = fx.app.login(&email, common::PASSWORD).await;
    assert_eq!(res.status(), 200);
    // Its own token (the one the test upstream accepts): the server's is only for Acme.
    assert_eq!(server_fn(&fx.app, &globex, "supabase-token", &[("token", &fx.token)]).await.0, 200);
    let mut calls = Vec::new();
    for i in 0..60 {
        let (client, path, want) = match i % 3 {
            0 => (acme.clone(), format!("v1/projects/{}/storage/buckets", fx.local), 200),
            1 => (acme.clone(), format!("v1/projects/{}/config/auth", random_ref()), 403),
            _ => (globex.clone(), format!("v1/projects/{}/storage/buckets", fx.foreign), 200),
        };
        let url = fx.url(&path);
        calls.push(tokio::spawn(async move {
            let res = client.get(url).send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            assert_eq!(status, want, "{i}: {body}");
        }));
    }
    for c in calls {
        c.await.unwrap();
    }
    // No waiting here: stopping the console writes whatever is still queued.
    let Fx { app, .. } = fx;
    let (owner, tenant_id) = (app.owner.clone(), app.tenant_id);
    app.stop().await;
    let counts: Vec<(Uuid, String, i64)> =
        sqlx::query_as("select tenant_id, details->>'outcome', count(*) from ops.audit_log where action = 'supabase.proxy' group by 1, 2 order by 1, 2").fetch_all(&owner).await.unwrap();
    let mut want = vec![(tenant_id, "forwarded".to_string(), 20), (tenant_id, "refused".to_string(), 20), (globex_id, "forwarded".to_string(), 20)];
    want.sort();
    assert_eq!(counts, want);
    for t in [tenant_id, globex_id] {
        let report = odooops::audit_verify::verify_one(&owner, t).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
    }
}

/// Calls a server function with a form; (status, JSON or text body).
async fn server_fn(app: &TestApp, c: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let res = c.post(app.url(&format!("/api/{endpoint}"))).header("accept", "application/json").form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

#[tokio::test]
async fn admins_link_and_unlink_projects_checked_encrypted_and_audited() {
    let fx = fixture().await;
    let app = &fx.app;
    let slug: String = sqlx::query_scalar("select slug from ops.projects where id = $1").bind(app.project_id).fetch_one(&app.owner).await.unwrap();
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let form = |kind: &'static str, r: &'static str, url: String| vec![("slug", slug.clone()), ("kind", kind.to_string()), ("project_ref", r.to_string()), ("name", "Shop database".to_string()), ("db_url", url)];
    let send = |c: reqwest::Client, f: Vec<(&'static str, String)>| async move {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        server_fn(app, &c, "supabase-link", &pairs).await
    };

    // Developers cannot link; bad forms get a clear 422; an unreachable database is refused
    // without echoing its password.
    assert_eq!(send(dev.clone(), form("hosted", "abcdefghijklmnopqrst", String::new())).await.0, 403);
    let (s, body) = send(admin.clone(), form("hosted", "abc", String::new())).await;
    assert_eq!(s, 422, "{body}");
    assert!(body.to_string().contains("20 lowercase letters"), "{body}");
    let wrong = fx.backing_url.replacen("://owner:", "://owner:wrongpassword", 1);
    assert_ne!(wrong, fx.backing_url, "the cluster URL names the owner");
    let (s, body) = send(admin.clone(), form("local", "", wrong)).await;
    assert_eq!(s, 422, "{body}");
    assert!(body.to_string().contains("could not connect"), "{body}");
    assert!(!body.to_string().contains("wrongpassword"), "the password came back: {body}");

    // A local link: a generated ref, the URL stored encrypted, audited without it.
    let (s, body) = send(admin.clone(), form("local", "", fx.backing_url.clone())).await;
    assert_eq!(s, 200, "{body}");
    let new_ref = body.as_str().unwrap().to_string();
    assert!(app::models::supabase::ProjectRef::parse(&new_ref).is_some(), "{new_ref}");
    let (upstream, enc): (Option<String>, String) =
        sqlx::query_as("select upstream, db_url_enc from ops.supabase_projects where project_ref = $1").bind(&new_ref).fetch_one(&app.owner).await.unwrap();
    assert_eq!(upstream.as_deref(), Some("local"));
    assert!(enc.starts_with("v1:") && !enc.contains("postgres"), "stored encrypted");
    let audit: Vec<(String, serde_json::Value)> =
        sqlx::query_as("select action, details from ops.audit_log where target = $1 and action like 'supabase.%linked'").bind(&new_ref).fetch_all(&app.owner).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "supabase.linked");
    assert!(!audit[0].1.to_string().contains(&fx.backing_url) && !audit[0].1.to_string().contains("postgres://"), "{:?}", audit[0].1);

    // It works through the proxy at once, and everyone in the tenant sees it listed.
    let (s, buckets) = fx.call(&admin, "GET", &format!("v1/projects/{new_ref}/storage/buckets"), None).await;
    assert_eq!(s, 200, "{buckets}");
    assert!(buckets.contains("avatars"), "{buckets}");
    let (s, links) = server_fn(app, &dev, "supabase-links", &[("slug", &slug)]).await;
    assert_eq!(s, 200, "{links}");
    assert!(links["links"].as_array().unwrap().iter().any(|l| l["project_ref"] == new_ref.as_str()), "{links}");
    assert_eq!(links["can_manage"], false);
    assert!(!links.to_string().contains("postgres://"));

    // Linking the same hosted ref twice is a conflict.
    let hosted = form("hosted", "hostedhostedhostedab", String::new());
    assert_eq!(send(admin.clone(), hosted.clone()).await.0, 200);
    assert_eq!(send(admin.clone(), hosted).await.0, 409);

    // Unlinking: developers cannot, another tenant's link is not found, ours goes, audited,
    // and the proxy refuses the ref from then on.
    let id: Uuid = sqlx::query_scalar("select id from ops.supabase_projects where project_ref = $1").bind(&new_ref).fetch_one(&app.owner).await.unwrap();
    let foreign: Uuid = sqlx::query_scalar("select id from ops.supabase_projects where project_ref = $1").bind(&fx.foreign).fetch_one(&app.owner).await.unwrap();
    assert_eq!(server_fn(app, &dev, "supabase-unlink", &[("id", &id.to_string())]).await.0, 403);
    assert_eq!(server_fn(app, &admin, "supabase-unlink", &[("id", &foreign.to_string())]).await.0, 404);
    let (s, body) = server_fn(app, &admin, "supabase-unlink", &[("id", &id.to_string())]).await;
    assert_eq!(s, 200, "{body}");
    let unlinked: i64 = sqlx::query_scalar("select count(*) from ops.audit_log where target = $1 and action = 'supabase.unlinked'").bind(&new_ref).fetch_one(&app.owner).await.unwrap();
    assert_eq!(unlinked, 1);
    assert_eq!(fx.call(&admin, "GET", &format!("v1/projects/{new_ref}/storage/buckets"), None).await.0, 403);
    let still: i64 = sqlx::query_scalar("select count(*) from ops.supabase_projects where project_ref = $1").bind(&fx.foreign).fetch_one(&app.owner).await.unwrap();
    assert_eq!(still, 1, "the other tenant's link is untouched");
}

#[tokio::test]
async fn a_second_tenant_needs_its_own_token_which_is_stored_encrypted_and_sent_upstream() {
    let fx = fixture().await;
    let app = &fx.app;
    // Globex (not the installation's first tenant) linked fx.foreign; the server's token is not
    // for it.
    let globex: Uuid = sqlx::query_scalar("select tenant_id from ops.supabase_projects where project_ref = $1").bind(&fx.foreign).fetch_one(&app.owner).await.unwrap();
    let (_, email) = app.member_of(globex, Role::Admin).await;
    let (admin, res) = app.login(&email, common::PASSWORD).await;
    assert_eq!(res.status(), 200);
    let path = format!("v1/projects/{}/config/auth", fx.foreign);
    let hits = fx.hits();
    let (s, body) = fx.call(&admin, "GET", &path, None).await;
    assert_eq!((s, fx.hits()), (502, hits), "{body}");
    assert!(body.contains("no Supabase management token is configured for this organization"), "{body}");

    // Its admin sets one: stored encrypted, unreadable by the app role, audited without it.
    let own = format!("sbp_globex_{}", Uuid::new_v4().simple());
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    assert_eq!(server_fn(app, &dev, "supabase-token", &[("token", "sbp_developer_token")]).await.0, 403);
    assert_eq!(server_fn(app, &admin, "supabase-token", &[("token", "short")]).await.0, 422);
    let (s, body) = server_fn(app, &admin, "supabase-token", &[("token", &own)]).await;
    assert_eq!(s, 200, "{body}");
    let enc: String = sqlx::query_scalar("select token_enc from ops.supabase_tokens where tenant_id = $1").bind(globex).fetch_one(&app.owner).await.unwrap();
    assert!(enc.starts_with("v1:") && !enc.contains(&own));
    let mut conn = app.app_pool.acquire().await.unwrap();
    let denied = sqlx::query("select token_enc from ops.supabase_tokens").execute(&mut *conn).await;
    assert!(denied.is_err(), "the app role reads no token ciphertext");
    drop(conn);
    let audit: Vec<serde_json::Value> = sqlx::query_scalar("select to_jsonb(a) from ops.audit_log a where tenant_id = $1").bind(globex).fetch_all(&app.owner).await.unwrap();
    assert!(audit.iter().any(|a| a["action"] == "supabase.token_set"));
    assert!(audit.iter().all(|a| !a.to_string().contains(&own)), "the token is in the audit log");

    // The proxy now sends it, and only to that tenant's requests.
    let (s, _) = fx.call(&admin, "GET", &path, None).await;
    assert_eq!(fx.hits(), hits + 1);
    assert_eq!(fx.up.seen_auth.lock().unwrap().last().unwrap(), &format!("Bearer {own}"));
    // (the stand-in upstream hands it to the local API, which wants its own token)
    assert_eq!(s, 401);
    let (acme_admin, _, _) = app.logged_in(Role::Admin).await;
    fx.call(&acme_admin, "GET", &format!("v1/projects/{}/config/auth", fx.linked), None).await;
    assert_eq!(fx.up.seen_auth.lock().unwrap().last().unwrap(), &format!("Bearer {}", fx.token), "acme still uses the server's token");
    let (s, links) = server_fn(app, &admin, "supabase-links", &[("slug", "web")]).await;
    assert_eq!(s, 200, "{links}");
    assert_eq!(links["token"]["own"]["hint"], own[own.len() - 4..]);
    assert_eq!(links["token"]["server"], false);

    // Removed: back to 502, nothing upstream.
    assert_eq!(server_fn(app, &admin, "supabase-token-remove", &[]).await.0, 200);
    assert_eq!(server_fn(app, &admin, "supabase-token-remove", &[]).await.0, 404);
    let hits = fx.hits();
    assert_eq!(fx.call(&admin, "GET", &path, None).await.0, 502);
    assert_eq!(fx.hits(), hits);
    assert!(!String::from_utf8_lossy(&fx.logs.lock().unwrap()).contains(&own), "the token is in the log");
}
