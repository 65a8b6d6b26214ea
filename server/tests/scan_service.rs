//! The scanner in the console: "Scan now" through the server functions, the worker scanning
//! an environment's real database, the register (filters, suppression by admins only,
//! audited), fix plans applied by a sysadmin in one transaction and followed by a re-scan,
//! drift, the inventory, the nightly schedule, and tenants kept apart.
mod common;

use app::models::{Role, Stage};
use common::mail::{call, env_id};
use common::TestApp;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// A database with an unindexed foreign key (0001) and a function with a mutable search
/// path (0011), both with safe fixes, and a table without a primary key (0004, no fix).
const SHAPE: &str = "
    create table public.customers (id bigint primary key, name text);
    create table public.orders (id bigint primary key, customer_id bigint references public.customers (id));
    create table public.import_rows (payload text);
    create function public.order_total(p_order bigint) returns bigint language sql as 'select p_order';
";

async fn console_with_scanner() -> TestApp {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.scanner = true;
    TestApp::spawn_with(cfg).await
}

/// Gives staging a real database shaped like [`SHAPE`]; returns the target key.
async fn staging_database(app: &TestApp) -> String {
    let name = format!("scan_{}", Uuid::new_v4().simple());
    odooops::db::ensure_database(&common::cluster_url(), &name).await.unwrap();
    let url = common::with_db(&common::cluster_url(), &name);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(SHAPE).execute(&pool).await.unwrap();
    pool.close().await;
    let staging = env_id(app, Stage::Staging).await;
    sqlx::query("update ops.environments set database_name = $2 where id = $1").bind(staging).bind(&name).execute(&app.owner).await.unwrap();
    format!("environment:{staging}")
}

async fn call_json(app: &TestApp, client: &reqwest::Client, endpoint: &str, body: Value) -> (u16, Value) {
    let res = client.post(app.url(&format!("/api/{endpoint}"))).header("accept", "application/json").json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn register(app: &TestApp, client: &reqwest::Client, filter: Value) -> Value {
    let (status, body) = call_json(app, client, "scanner", json!({"filter": filter})).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until the target has no open job and has been scanned at least `scans` times.
async fn settled(app: &TestApp, target: &str, scans: i64) {
    for _ in 0..300 {
        let open: i64 = sqlx::query_scalar("select count(*) from ops.scan_jobs where target_key = $1 and state in ('queued', 'running')").bind(target).fetch_one(&app.owner).await.unwrap();
        let done: i64 = sqlx::query_scalar("select count(*) from ops.inventory_scans where target_key = $1 and status <> 'running'").bind(target).fetch_one(&app.owner).await.unwrap();
        if open == 0 && done >= scans {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the scans of {target} did not finish in 30 s");
}

fn finding<'a>(body: &'a Value, lint: &str) -> Option<&'a Value> {
    body["findings"].as_array().unwrap().iter().find(|f| f["name"] == lint)
}

async fn audits(app: &TestApp, action: &str) -> Vec<Value> {
    sqlx::query_scalar("select details from ops.audit_log where action = $1 order by id").bind(action).fetch_all(&app.owner).await.unwrap()
}

#[tokio::test]
async fn scan_now_fills_the_register_and_a_sysadmins_fix_plan_resolves_what_it_patches() {
    let app = console_with_scanner().await;
    let target = staging_database(&app).await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;

    // Scan now (audited); a second click while it runs finds the same job.
    let (status, job) = call(&app, &dev, "scan-now", &[("target_key", &target)]).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["kind"], "scan");
    settled(&app, &target, 1).await;
    assert!(audits(&app, "scan.requested").await.iter().any(|d| d["target"] == target.as_str()));

    let body = register(&app, &dev, json!({"target": target})).await;
    let t = body["targets"].as_array().unwrap().iter().find(|t| t["key"] == target.as_str()).expect("staging is a target");
    assert_eq!(t["last_scan"]["status"], "succeeded", "{t}");
    let score_before = t["last_scan"]["score"].as_i64().unwrap();
    assert!(score_before < 100);
    let fk = finding(&body, "unindexed_foreign_keys").expect("the unindexed foreign key is found");
    assert!(fk["fix_sql"].as_str().unwrap().contains("create index if not exists"));
    let search_path = finding(&body, "function_search_path_mutable").expect("the mutable search path is found");
    let no_pk = finding(&body, "no_primary_key").expect("the table without a primary key is found").clone();
    assert!(no_pk["fix_sql"].is_null(), "no automatic fix for a missing primary key");
    // Filters: by level and by text.
    let warns = register(&app, &dev, json!({"target": target, "level": "WARN"})).await;
    assert!(warns["findings"].as_array().unwrap().iter().all(|f| f["level"] == "WARN"));
    let by_text = register(&app, &dev, json!({"q": "import_rows"})).await;
    assert!(by_text["findings"].as_array().unwrap().iter().all(|f| f["detail"].as_str().unwrap().contains("import_rows")), "{by_text}");
    assert!(!by_text["findings"].as_array().unwrap().is_empty());

    // Suppression: admins only, with a reason and a future date; audited; out of the open list.
    let id = no_pk["id"].as_str().unwrap().to_string();
    let (status, _) = call(&app, &dev, "finding-suppress", &[("id", &id), ("reason", "staging import table"), ("until", "2099-01-01")]).await;
    assert_eq!(status, 403, "a developer cannot suppress");
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let until = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).format("%Y-%m-%d").to_string();
    let (status, body) = call(&app, &admin, "finding-suppress", &[("id", &id), ("reason", "x"), ("until", &until)]).await;
    assert_eq!(status, 422, "a reason is required: {body}");
    let (status, body) = call(&app, &admin, "finding-suppress", &[("id", &id), ("reason", "staging import table, dropped in January"), ("until", &until)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "suppressed");
    assert_eq!(audits(&app, "scan.finding_suppressed").await.len(), 1);
    let open = register(&app, &dev, json!({"target": target})).await;
    assert!(finding(&open, "no_primary_key").is_none(), "a suppressed finding leaves the open list");
    let suppressed = register(&app, &dev, json!({"target": target, "status": "suppressed"})).await;
    assert_eq!(finding(&suppressed, "no_primary_key").unwrap()["suppressed_reason"], "staging import table, dropped in January");

    // Fix plans: the patches are listed; only a sysadmin applies them.
    let (status, plans) = call(&app, &dev, "fix-plans", &[("target_key", &target)]).await;
    assert_eq!(status, 200, "{plans}");
    let available: Vec<&str> = plans["available"].as_array().unwrap().iter().map(|s| s["finding_id"].as_str().unwrap()).collect();
    assert!(available.contains(&fk["id"].as_str().unwrap()) && available.contains(&search_path["id"].as_str().unwrap()), "{plans}");
    for role in [Role::Developer, Role::Admin] {
        let (c, _, _) = app.logged_in(role).await;
        let (status, _) = call(&app, &c, "fix-plan-apply", &[("target_key", &target), ("steps", "all")]).await;
        assert_eq!(status, 403, "{role} cannot apply a fix plan");
    }
    let (sys, _, _) = app.logged_in(Role::Sysadmin).await;
    let (status, plan) = call(&app, &sys, "fix-plan-apply", &[("target_key", &target), ("steps", "all")]).await;
    assert_eq!(status, 200, "{plan}");
    settled(&app, &target, 2).await;
    let (_, plans) = call(&app, &sys, "fix-plans", &[("target_key", &target)]).await;
    let applied = &plans["plans"][0];
    assert_eq!(applied["status"], "applied", "{applied}");
    assert!(applied["rescan"]["counts"]["resolved"].as_i64().unwrap() >= 2, "{applied}");
    assert!(plans["available"].as_array().unwrap().is_empty(), "nothing left to patch: {plans}");
    let after = register(&app, &dev, json!({"target": target, "status": "resolved"})).await;
    assert!(finding(&after, "unindexed_foreign_keys").is_some() && finding(&after, "function_search_path_mutable").is_some(), "{after}");
    let score_after = after["targets"].as_array().unwrap().iter().find(|t| t["key"] == target.as_str()).unwrap()["last_scan"]["score"].as_i64().unwrap();
    assert!(score_after > score_before, "the score rises: {score_before} -> {score_after}");
    let audit = audits(&app, "scan.plan_applied").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["steps"], 2);
    assert_eq!(audits(&app, "scan.plan_apply_requested").await.len(), 1);

    // Drift of the re-scan: the two fixed; new only the index just created, not used yet
    // (splinter's unused_index says so too).
    let rescan = applied["rescan"]["id"].as_str().unwrap();
    let (status, drift) = call(&app, &dev, "scan-drift", &[("scan_id", rescan)]).await;
    assert_eq!(status, 200, "{drift}");
    let fixed: Vec<&str> = drift["fixed"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(fixed.contains(&"unindexed_foreign_keys") && fixed.contains(&"function_search_path_mutable"), "{drift}");
    assert!(drift["new"].as_array().unwrap().iter().all(|f| f["name"] == "unused_index" && f["detail"].as_str().unwrap().contains("orders_customer_id")), "{drift}");
    // Not-applicable lints are listed with their reason.
    assert!(drift["lints"].as_array().unwrap().iter().any(|l| l["status"] == "not_applicable" && l["reason"].as_str().is_some_and(|r| !r.is_empty())));

    // History and inventory.
    let (status, history) = call(&app, &dev, "scan-history", &[("target_key", &target)]).await;
    assert_eq!(status, 200);
    assert_eq!(history["scans"].as_array().unwrap().len(), 2);
    let (status, inv) = call(&app, &dev, "scan-inventory", &[("target_key", &target), ("schema", "public")]).await;
    assert_eq!(status, 200, "{inv}");
    let objects: Vec<&str> = inv["objects"].as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap()).collect();
    assert!(objects.contains(&"public.orders") && objects.contains(&"public.order_total(p_order bigint)"), "{objects:?}");
    assert!(objects.iter().any(|k| k.starts_with("public.orders_customer_id")), "the index the plan created is in the inventory: {objects:?}");
    assert!(inv["findings"].as_array().unwrap().iter().any(|f| f["name"] == "no_primary_key"), "the schema's findings, suppressed included");
    app.stop().await;
}

#[tokio::test]
async fn a_plan_whose_patch_fails_changes_nothing_and_says_which_step() {
    let app = console_with_scanner().await;
    let target = staging_database(&app).await;
    let (sys, _, _) = app.logged_in(Role::Sysadmin).await;
    let (status, _) = call(&app, &sys, "scan-now", &[("target_key", &target)]).await;
    assert_eq!(status, 200);
    settled(&app, &target, 1).await;
    // The second patch (the index; patches run by level, then lint name) will fail: the
    // first must be rolled back with it.
    sqlx::query("update ops.risk_findings set fix_sql = 'alter table public.no_such_table enable row level security;' where target_key = $1 and name = 'unindexed_foreign_keys'")
        .bind(&target)
        .execute(&app.owner)
        .await
        .unwrap();
    let (status, plan) = call(&app, &sys, "fix-plan-apply", &[("target_key", &target), ("steps", "all")]).await;
    assert_eq!(status, 200, "{plan}");
    settled(&app, &target, 1).await;
    let (status, error): (String, Option<String>) = sqlx::query_as("select status::text, error from ops.remediation_plans where id = $1::uuid")
        .bind(plan["id"].as_str().unwrap())
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(status, "failed");
    let error = error.unwrap();
    assert!(error.contains("step 2 of 2") && error.contains("nothing was changed") && error.contains("no_such_table"), "{error}");
    let db: String = sqlx::query_scalar("select database_name from ops.environments where id = $1::uuid").bind(target.trim_start_matches("environment:")).fetch_one(&app.owner).await.unwrap();
    let pool = sqlx::PgPool::connect(&common::with_db(&common::cluster_url(), &db)).await.unwrap();
    let config: Option<Vec<String>> = sqlx::query_scalar("select proconfig from pg_proc where proname = 'order_total'").fetch_one(&pool).await.unwrap();
    assert_eq!(config, None, "the first patch (search_path) was rolled back with the failing one");
    pool.close().await;
    assert_eq!(audits(&app, "scan.plan_failed").await.len(), 1);
    // The console's own database never gets a plan.
    let (status, body) = call(&app, &sys, "fix-plan-apply", &[("target_key", "console"), ("steps", "all")]).await;
    assert_eq!(status, 403, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_nightly_slot_is_queued_once_and_another_tenant_sees_no_target() {
    let app = TestApp::spawn().await;
    let target = staging_database(&app).await;
    let ctx = odooops::scan::worker::ScanContext {
        db: app.services_db(),
        owner_url: std::sync::Arc::new(app::auth::Secret::new(app.db_url.clone())),
        options: Default::default(),
        stale: Duration::from_secs(60),
        poll: Duration::from_secs(1),
        secrets: None,
    };
    let three = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 4, 3, 5, 0).unwrap();
    let first = odooops::scan::worker::tick(&ctx, three).await.unwrap();
    assert_eq!(first, 2, "staging and the console's own database (acme is the installation's first tenant)");
    assert_eq!(odooops::scan::worker::tick(&ctx, three).await.unwrap(), 0, "the same slot twice (a second console) queues nothing");
    let nightly: i64 = sqlx::query_scalar("select count(*) from ops.scan_jobs where target_key = $1 and source = 'nightly' and slot is not null").bind(&target).fetch_one(&app.owner).await.unwrap();
    assert_eq!(nightly, 1);

    // Another tenant: its admin sees neither acme's databases nor the console's own.
    let mut conn = app.owner.acquire().await.unwrap();
    let globex = odooops::admin::ensure_tenant(&mut conn, "globex", "Globex").await.unwrap();
    drop(conn);
    let (_, email) = app.member_of(globex, Role::Admin).await;
    let (other, _) = app.login(&email, common::PASSWORD).await;
    let body = register(&app, &other, json!({})).await;
    assert_eq!(body["targets"], json!([]), "{body}");
    let (status, _) = call(&app, &other, "scan-now", &[("target_key", &target)]).await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, &other, "scan-now", &[("target_key", "console")]).await;
    assert_eq!(status, 404);

    // The schedule: admins change it (validated, audited).
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let (status, _) = call(&app, &admin, "scan-schedule-save", &[("cron", "every night")]).await;
    assert_eq!(status, 422);
    let (status, body) = call(&app, &admin, "scan-schedule-save", &[("cron", "30 1 * * *"), ("enabled", "on")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(audits(&app, "scan.schedule_changed").await.len(), 1);
    let after = register(&app, &admin, json!({})).await;
    assert_eq!(after["schedule"]["cron"], "30 1 * * *");
    app.stop().await;
}

#[tokio::test]
async fn a_linked_supabase_project_is_scanned_through_its_registered_connection() {
    let app = console_with_scanner().await;
    let name = format!("sb_{}", Uuid::new_v4().simple());
    odooops::db::ensure_database(&common::cluster_url(), &name).await.unwrap();
    let url = common::with_db(&common::cluster_url(), &name);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(SHAPE).execute(&pool).await.unwrap();
    pool.close().await;
    let sealed = app.services.supabase.as_ref().unwrap().secrets.seal(&url).unwrap();
    sqlx::query("insert into ops.supabase_projects (tenant_id, project_id, project_ref, name, upstream, db_url_enc) values ($1, $2, 'abcdefghijklmnopqrst', 'Shop backend', 'local', $3)")
        .bind(app.tenant_id)
        .bind(app.project_id)
        .bind(sealed)
        .execute(&app.owner)
        .await
        .unwrap();
    let target = "supabase:abcdefghijklmnopqrst";
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (status, body) = call(&app, &dev, "scan-now", &[("target_key", target)]).await;
    assert_eq!(status, 200, "{body}");
    settled(&app, target, 1).await;
    let body = register(&app, &dev, json!({"target": target})).await;
    let t = body["targets"].as_array().unwrap().iter().find(|t| t["key"] == target).expect("the link is a target");
    assert_eq!(t["name"], "Acme ERP / Shop backend");
    assert_eq!(t["last_scan"]["status"], "succeeded", "{t}");
    assert!(finding(&body, "unindexed_foreign_keys").is_some(), "{body}");
    // The connection string (with its password) is stored nowhere in the scan.
    let password = url.split(':').nth(2).and_then(|x| x.split('@').next()).unwrap().to_string();
    let leaked: i64 = sqlx::query_scalar("select count(*) from ops.inventory_scans where target_key = $1 and (coalesce(error, '') || lints::text || target_name) like '%' || $2 || '%'")
        .bind(target)
        .bind(&password)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(leaked, 0);
    app.stop().await;
}
