//! Promotions end to end: real builds of a real git repository, the promotion worker's
//! gates and deploys (real processes on loopback ports), approvals through the server
//! functions as each role, rollbacks, and the audit trail.
mod common;

use app::models::Role;
use common::builds::*;
use common::mail::call;
use common::TestApp;
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// Steps with a start command whose page shows the file `version.txt`.
const STEPS: &str = "[[steps]]\nname = \"test\"\nrun = \"echo running tests\"\n\n[start]\nrun = \"python3 -m http.server $PORT --bind 127.0.0.1\"\nhealth_path = \"/version.txt\"\n";

async fn env_id(app: &TestApp, name: &str) -> Uuid {
    sqlx::query_scalar("select id from ops.environments where project_id = $1 and name = $2").bind(app.project_id).bind(name).fetch_one(&app.owner).await.unwrap()
}

async fn env_build(app: &TestApp, env: Uuid) -> Option<Uuid> {
    sqlx::query_scalar("select build_id from ops.environments where id = $1").bind(env).fetch_one(&app.owner).await.unwrap()
}

async fn state(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar("select state::text from ops.promotions where id = $1").bind(id).fetch_one(&app.owner).await.unwrap()
}

async fn wait_state(app: &TestApp, id: Uuid, wanted: &[&str]) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let s = state(app, id).await;
        if wanted.contains(&s.as_str()) {
            return s;
        }
        let error: String = sqlx::query_scalar("select error from ops.promotions where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
        assert!(std::time::Instant::now() < deadline, "promotion still {s} (wanted {wanted:?}); error: {error}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Pushes a commit to `branch` and waits until its build succeeded and the branch's
/// environment (if it runs nothing yet, or is development) points at it.
async fn build_on(app: &TestApp, repo: &Repo, branch: &str, files: &[(&str, &str)], msg: &str) -> Uuid {
    repo.git(&["checkout", "-q", "-B", branch]);
    let sha = repo.commit(files, msg);
    let build = push(app, branch, &sha).await;
    let s = wait_finished(app, build, WAIT).await;
    assert!(s == "success" || s == "warning", "build on {branch}: {s}: {:#?}", log_messages(app, build).await);
    build
}

/// A project whose production runs build #1 of `main` and whose staging runs a newer build.
async fn pipeline(app: &TestApp, staging_files: &[(&str, &str)]) -> (Repo, Uuid, Uuid) {
    let (repo, _) = Repo::with_files(STEPS, &[("version.txt", "v1\n")]);
    configure_project(app, SECRET, &repo.url()).await;
    let main_build = build_on(app, &repo, "main", &[("version.txt", "v1 main\n")], "Release 1").await;
    let prod = env_id(app, "production").await;
    wait_until(app, "select build_id is not null from ops.environments where id = $1", prod, WAIT, "production to take its first build").await;
    let mut files = vec![("version.txt", "v2 staging\n")];
    files.extend_from_slice(staging_files);
    let staging_build = build_on(app, &repo, "staging", &files, "Invoice layout").await;
    let staging = env_id(app, "staging").await;
    wait_until(app, "select build_id is not null from ops.environments where id = $1", staging, WAIT, "staging to take its first build").await;
    (repo, main_build, staging_build)
}

async fn request(app: &TestApp, client: &reqwest::Client, from: &str, to: &str) -> (u16, serde_json::Value) {
    let (src, dst) = (env_id(app, from).await, env_id(app, to).await);
    call(app, client, "promotion-request", &[("source_env", &src.to_string()), ("target_env", &dst.to_string()), ("note", "ship it"), ("refresh_data", "false")]).await
}

fn id_of(body: &serde_json::Value) -> Uuid {
    Uuid::parse_str(body.as_str().expect("an id")).unwrap()
}

async fn instance_page(app: &TestApp, env: Uuid) -> String {
    let port: Option<i32> = sqlx::query_scalar("select instance_port from ops.environments where id = $1 and instance_state = 'running'").bind(env).fetch_one(&app.owner).await.unwrap();
    let port = port.expect("a running instance");
    reqwest::get(format!("http://127.0.0.1:{port}/version.txt")).await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn a_developer_requests_a_pm_approves_and_production_runs_the_new_build() {
    let app = TestApp::spawn().await;
    let (_repo, main_build, staging_build) = pipeline(&app, &[]).await;
    let prod = env_id(&app, "production").await;
    assert_eq!(env_build(&app, prod).await, Some(main_build));

    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (status, body) = request(&app, &dev, "staging", "production").await;
    assert_eq!(status, 200, "{body}");
    let id = id_of(&body);
    assert_eq!(wait_state(&app, id, &["awaiting_approval", "preflight_failed"]).await, "awaiting_approval");

    // The diff: the staging commit is listed; six gates were recorded for the request.
    let (status, detail) = call(&app, &dev, "promotion", &[("id", &id.to_string())]).await;
    assert_eq!(status, 200, "{detail}");
    let subjects: Vec<&str> = detail["commits"].as_array().unwrap().iter().filter_map(|c| c["subject"].as_str()).collect();
    assert!(subjects.contains(&"Invoice layout"), "{subjects:?}");
    assert_eq!(detail["gates"].as_array().unwrap().len(), 6);
    assert_eq!(detail["can_approve"], false, "a developer does not approve");

    // A second request for the same target is refused while this one is open.
    let (status, body) = request(&app, &dev, "staging", "production").await;
    assert_eq!(status, 409, "{body}");

    let (pm, _, _) = app.logged_in(Role::Pm).await;
    let (status, body) = call(&app, &pm, "promotion-approve", &[("id", &id.to_string())]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(wait_state(&app, id, &["promoted", "failed"]).await, "promoted");
    assert_eq!(env_build(&app, prod).await, Some(staging_build));
    assert_eq!(instance_page(&app, prod).await, "v2 staging\n", "production serves the new build");
    let previous: Option<Uuid> = sqlx::query_scalar("select previous_build_id from ops.environments where id = $1").bind(prod).fetch_one(&app.owner).await.unwrap();
    assert_eq!(previous, Some(main_build));

    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    for a in ["promotion.requested", "promotion.preflight_passed", "promotion.approved", "promotion.deployed"] {
        assert!(actions.iter().any(|x| x == a), "{a} missing from {actions:?}");
    }
    let timeline: Vec<String> = sqlx::query_scalar("select state::text from ops.promotion_events where promotion_id = $1 order by id").bind(id).fetch_all(&app.owner).await.unwrap();
    assert_eq!(timeline.first().map(String::as_str), Some("requested"));
    assert_eq!(timeline.last().map(String::as_str), Some("promoted"));

    // Rollback: a new history entry that brings the previous build back.
    let (status, body) = call(&app, &pm, "promotion-rollback", &[("env_id", &prod.to_string()), ("note", "invoices look wrong")]).await;
    assert_eq!(status, 200, "{body}");
    let rb = id_of(&body);
    assert_eq!(wait_state(&app, rb, &["promoted", "failed"]).await, "promoted");
    assert_eq!(env_build(&app, prod).await, Some(main_build));
    assert_eq!(instance_page(&app, prod).await, "v1 main\n");
    assert_eq!(state(&app, id).await, "promoted", "the original promotion is never edited");
    let kinds: Vec<String> = sqlx::query_scalar("select kind::text from ops.promotions where target_env_id = $1 order by number").bind(prod).fetch_all(&app.owner).await.unwrap();
    assert_eq!(kinds, ["promotion", "rollback"]);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.iter().any(|x| x == "promotion.rolled_back"), "{actions:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_requester_cannot_approve_their_own_promotion() {
    let app = TestApp::spawn().await;
    let _p = pipeline(&app, &[]).await;
    let (pm, _, _) = app.logged_in(Role::Pm).await;
    let (status, body) = request(&app, &pm, "staging", "production").await;
    assert_eq!(status, 200, "{body}");
    let id = id_of(&body);
    wait_state(&app, id, &["awaiting_approval"]).await;
    let (status, body) = call(&app, &pm, "promotion-approve", &[("id", &id.to_string())]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("someone else must approve"), "{body}");
    assert_eq!(state(&app, id).await, "awaiting_approval");
    // The database refuses it too, whoever asks.
    let requester: Uuid = sqlx::query_scalar("select requested_by from ops.promotions where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
    let direct = sqlx::query("insert into ops.promotion_approvals (tenant_id, promotion_id, user_id, user_email, decision) values ($1, $2, $3, 'x', 'approve')")
        .bind(app.tenant_id)
        .bind(id)
        .bind(requester)
        .execute(&app.owner)
        .await;
    assert!(direct.is_err(), "self-approval is refused by the database");
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.iter().any(|x| x == "promotion.self_approval_refused"), "{actions:?}");

    // A tester may not approve; a rejection needs a reason, then ends the request.
    let (tester, _, _) = app.logged_in(Role::Tester).await;
    let (status, _) = call(&app, &tester, "promotion-approve", &[("id", &id.to_string())]).await;
    assert_eq!(status, 403);
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let (status, body) = call(&app, &admin, "promotion-reject", &[("id", &id.to_string()), ("reason", "   ")]).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = call(&app, &admin, "promotion-reject", &[("id", &id.to_string()), ("reason", "not during month-end close")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(state(&app, id).await, "rejected");
    let (status, _) = call(&app, &admin, "promotion-approve", &[("id", &id.to_string())]).await;
    assert_eq!(status, 409, "a rejected request stays rejected");
    app.stop().await;
}

#[tokio::test]
async fn a_failing_gate_blocks_the_promotion_and_says_why_until_an_admin_overrides_it() {
    let app = TestApp::spawn().await;
    let docker = "FROM odoo:17\nRUN apt-get update && apt-get install -y wkhtmltopdf\n";
    let (_repo, main_build, staging_build) = pipeline(&app, &[("Dockerfile", docker)]).await;

    // The gates also ran after the staging build (shown on its card).
    let build_gates: Vec<(String, String)> = sqlx::query_as("select gate, status from ops.gate_results where build_id = $1 and promotion_id is null")
        .bind(staging_build)
        .fetch_all(&app.owner)
        .await
        .unwrap();
    assert!(build_gates.contains(&("system_packages".into(), "fail".into())), "{build_gates:?}");

    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (_, body) = request(&app, &dev, "staging", "production").await;
    let id = id_of(&body);
    assert_eq!(wait_state(&app, id, &["awaiting_approval", "preflight_failed"]).await, "preflight_failed");
    let (_, detail) = call(&app, &dev, "promotion", &[("id", &id.to_string())]).await;
    let gate = detail["gates"].as_array().unwrap().iter().find(|g| g["gate"] == "system_packages").unwrap().clone();
    assert_eq!(gate["status"], "fail");
    assert!(gate["evidence"].to_string().contains("Dockerfile"), "evidence points at the file: {gate}");
    assert!(!gate["fix"].as_str().unwrap().is_empty(), "a suggested fix");
    assert!(detail["row"]["error"].as_str().unwrap().contains("failing gate"), "{detail}");

    let (pm, _, _) = app.logged_in(Role::Pm).await;
    let (status, _) = call(&app, &pm, "promotion-approve", &[("id", &id.to_string())]).await;
    assert_eq!(status, 409, "nothing is approved past a failing gate");
    let (status, _) = call(&app, &pm, "promotion-override", &[("id", &id.to_string()), ("reason", "x")]).await;
    assert_eq!(status, 403, "only an admin overrides");
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let (status, _) = call(&app, &admin, "promotion-override", &[("id", &id.to_string()), ("reason", "")]).await;
    assert_eq!(status, 422, "an override needs a written reason");
    let (status, body) = call(&app, &admin, "promotion-override", &[("id", &id.to_string()), ("reason", "wkhtmltopdf is in the base image already")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(state(&app, id).await, "awaiting_approval");
    let overridden: Vec<(String, serde_json::Value)> = sqlx::query_as("select action, details from ops.audit_log where action = 'promotion.gate_overridden'").fetch_all(&app.owner).await.unwrap();
    assert_eq!(overridden.len(), 1);
    assert_eq!(overridden[0].1["reason"], "wkhtmltopdf is in the base image already");
    assert_eq!(env_build(&app, env_id(&app, "production").await).await, Some(main_build), "nothing moved yet");
    app.stop().await;
}

#[tokio::test]
async fn a_deploy_that_does_not_come_up_is_rolled_back_automatically() {
    let app = TestApp::spawn().await;
    // Staging's build starts a server whose health check always fails.
    let broken = "[[steps]]\nname = \"test\"\nrun = \"true\"\n\n[start]\nrun = \"python3 -m http.server $PORT --bind 127.0.0.1\"\nhealth_command = \"exit 7\"\nready_timeout_seconds = 10\n";
    let (_repo, main_build, _) = pipeline(&app, &[(".odooops.toml", broken)]).await;
    let prod = env_id(&app, "production").await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (_, body) = request(&app, &dev, "staging", "production").await;
    let id = id_of(&body);
    wait_state(&app, id, &["awaiting_approval"]).await;
    let (pm, _, _) = app.logged_in(Role::Pm).await;
    call(&app, &pm, "promotion-approve", &[("id", &id.to_string())]).await;
    assert_eq!(wait_state(&app, id, &["promoted", "failed"]).await, "failed");
    let error: String = sqlx::query_scalar("select error from ops.promotions where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
    assert!(error.contains("exited with code 7") && error.contains("Rolled back automatically"), "{error}");
    assert_eq!(env_build(&app, prod).await, Some(main_build), "production still points at its build");
    assert_eq!(instance_page(&app, prod).await, "v1 main\n", "and runs it");
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.iter().any(|x| x == "promotion.auto_rolled_back"), "{actions:?}");
    let notes: i64 = sqlx::query_scalar("select count(*) from ops.notifications where level = 'error'").fetch_one(&app.owner).await.unwrap();
    assert_eq!(notes, 1);
    app.stop().await;
}

#[tokio::test]
async fn builds_move_one_stage_at_a_time_unless_the_policy_allows_skipping_staging() {
    let app = TestApp::spawn().await;
    let (repo, _, _) = pipeline(&app, &[]).await;
    build_on(&app, &repo, "dev", &[("version.txt", "v3 dev\n")], "Work in progress").await;
    let dev_env = env_id(&app, "development").await;
    wait_until(&app, "select build_id is not null from ops.environments where id = $1", dev_env, WAIT, "development to follow its branch").await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (status, body) = request(&app, &dev, "development", "production").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("skip staging"), "{body}");
    let (status, body) = request(&app, &dev, "production", "staging").await;
    assert_eq!(status, 422, "{body}");
    sqlx::query("update ops.projects set allow_dev_to_production = true where id = $1").bind(app.project_id).execute(&app.owner).await.unwrap();
    let (status, body) = request(&app, &dev, "development", "production").await;
    assert_eq!(status, 200, "{body}");
    let (tester, _, _) = app.logged_in(Role::Tester).await;
    let (status, _) = request(&app, &tester, "staging", "production").await;
    assert_eq!(status, 403, "testers do not request promotions");
    app.stop().await;
}

/// Every value of every text-like column of the database, as one string.
async fn all_text(url: &str) -> String {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let cols: Vec<(String, String, String)> = sqlx::query_as(
        "select table_schema::text, table_name::text, column_name::text from information_schema.columns
          where table_schema not in ('pg_catalog', 'information_schema') and data_type in ('text', 'character varying', 'jsonb', 'json')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut all = String::new();
    for (s, t, c) in cols {
        let q = format!("select coalesce(string_agg({c}::text, ' '), '') from {s}.{t}", c = format!("\"{c}\""), s = format!("\"{s}\""), t = format!("\"{t}\""));
        let v: String = sqlx::query_scalar(sqlx::AssertSqlSafe(q)).fetch_one(&pool).await.unwrap();
        all.push_str(&v);
        all.push(' ');
    }
    pool.close().await;
    all
}

#[tokio::test]
async fn promoting_to_staging_can_refresh_its_data_from_production_neutralized() {
    let app = TestApp::spawn().await;
    let (repo, _, _) = pipeline(&app, &[]).await;
    let prod_url = common::fresh_database().await;
    odooops::neutralize::sample::load_sample(&prod_url).await.unwrap();
    let old_staging_url = common::fresh_database().await;
    let name = |u: &str| u.rsplit('/').next().unwrap().to_string();
    let (prod_db, old_staging_db) = (name(&prod_url), name(&old_staging_url));
    for (env, db) in [("production", &prod_db), ("staging", &old_staging_db)] {
        sqlx::query("update ops.environments set database_name = $2 where project_id = $1 and name = $3").bind(app.project_id).bind(db).bind(env).execute(&app.owner).await.unwrap();
    }
    build_on(&app, &repo, "dev", &[("version.txt", "v3 dev\n")], "Work in progress").await;
    let dev_env = env_id(&app, "development").await;
    wait_until(&app, "select build_id is not null from ops.environments where id = $1", dev_env, WAIT, "development to follow its branch").await;

    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let staging = env_id(&app, "staging").await;
    let (status, body) = call(&app, &dev, "promotion-request", &[("source_env", &dev_env.to_string()), ("target_env", &staging.to_string()), ("note", ""), ("refresh_data", "true")]).await;
    assert_eq!(status, 200, "{body}");
    let id = id_of(&body);
    wait_state(&app, id, &["awaiting_approval"]).await;
    let (pm, _, _) = app.logged_in(Role::Pm).await;
    call(&app, &pm, "promotion-approve", &[("id", &id.to_string())]).await;
    assert_eq!(wait_state(&app, id, &["promoted", "failed"]).await, "promoted");

    let new_db: String = sqlx::query_scalar("select database_name from ops.environments where id = $1").bind(staging).fetch_one(&app.owner).await.unwrap();
    assert!(new_db.starts_with(&format!("{old_staging_db}_r")), "{new_db}");
    let copied = all_text(&common::with_db(&common::cluster_url(), &new_db)).await;
    assert!(copied.contains("ir_mail_server") || !copied.is_empty(), "the copy holds the data");
    for secret in odooops::neutralize::sample::SAMPLE_SECRETS {
        assert!(!copied.contains(secret), "{secret} survived the neutralization");
    }
    // Production is untouched: the secrets that sit in its text columns are all still there.
    let original = all_text(&prod_url).await;
    let visible = odooops::neutralize::sample::SAMPLE_SECRETS.iter().filter(|s| original.contains(*s)).count();
    assert!(visible * 2 >= odooops::neutralize::sample::SAMPLE_SECRETS.len(), "only {visible} secrets found in production's text columns");
    let gone: bool = sqlx::query_scalar("select not exists (select 1 from pg_database where datname = $1)").bind(&old_staging_db).fetch_one(&app.owner).await.unwrap();
    assert!(gone, "the previous staging database is dropped after the switch");
    let run: (String, serde_json::Value) = sqlx::query_as("select status, report from ops.neutralize_runs where promotion_id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
    assert_eq!(run.0, "succeeded");
    assert!(run.1["rows_changed"].as_i64().unwrap() > 0, "{}", run.1);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.iter().any(|x| x == "neutralize.succeeded") && actions.iter().any(|x| x == "promotion.data_refreshed"), "{actions:?}");
    let _ = odooops::neutralize::copy::drop_database(&common::cluster_url(), &new_db).await;
    app.stop().await;
}

#[tokio::test]
async fn admins_set_the_approvals_and_gate_thresholds_with_clear_errors() {
    let app = TestApp::spawn().await;
    let form = |approvals: &'static str, warn: &'static str, fail: &'static str, ports: &'static str| {
        vec![("slug", "erp"), ("required_approvals", approvals), ("allowed_extensions", "pg_trgm, unaccent"), ("objects_warn", warn), ("objects_fail", fail), ("cron_max_seconds", "600"), ("smtp_allowed_ports", ports)]
    };
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (status, _) = call(&app, &dev, "promotion-policy", &form("2", "100", "200", "587")).await;
    assert_eq!(status, 403);
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    for (bad, why) in [(form("9", "100", "200", "587"), "between 1 and 5"), (form("2", "300", "200", "587"), "warn"), (form("2", "100", "200", "smtp"), "not a port")] {
        let (status, body) = call(&app, &admin, "promotion-policy", &bad).await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().to_lowercase().contains(why), "{why}: {body}");
    }
    let (status, body) = call(&app, &admin, "promotion-policy", &form("2", "100", "200", "587, 2525")).await;
    assert_eq!(status, 200, "{body}");
    let (approvals, gates): (i32, serde_json::Value) = sqlx::query_as("select required_approvals, gate_settings from ops.projects where id = $1").bind(app.project_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!(approvals, 2);
    assert_eq!(gates["objects_fail"], 200);
    assert_eq!(gates["smtp_allowed_ports"], serde_json::json!([587, 2525]));
    assert_eq!(gates["allowed_extensions"], serde_json::json!(["pg_trgm", "unaccent"]));
    let changed: serde_json::Value = sqlx::query_scalar("select details from ops.audit_log where action = 'promotion.policy_changed'").fetch_one(&app.owner).await.unwrap();
    assert_eq!(changed["before"]["required_approvals"], 1);
    assert_eq!(changed["after"]["required_approvals"], 2);
    app.stop().await;
}
