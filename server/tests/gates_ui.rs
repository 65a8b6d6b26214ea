//! Gates and notifications as the screens get them: the `build-gates` server function after a
//! real build, the worst status on the grid's cards, the live build event when gate results
//! arrive, and the dashboard's notifications with Dismiss.
mod common;

use app::db::DbClaims;
use app::models::{GateId, GateResult, GateStatus, Role};
use common::builds::*;
use common::mail::call;
use common::TestApp;
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// A Dockerfile the system-packages gate refuses.
const DOCKERFILE: &str = "FROM odoo:17.0\nRUN apt-get update && apt-get install -y wkhtmltopdf\n";

async fn gates_count(app: &TestApp, build: Uuid) -> i64 {
    sqlx::query_scalar("select count(*) from ops.gate_results where build_id = $1").bind(build).fetch_one(&app.owner).await.unwrap()
}

/// A successful build of a commit with `files`, its gates in.
async fn built_with(app: &TestApp, files: &[(&str, &str)]) -> Uuid {
    let (repo, sha) = Repo::with_files(STEPS_OK, files);
    configure_project(app, SECRET, &repo.url()).await;
    let build = push(app, "main", &sha).await;
    let state = wait_finished(app, build, WAIT).await;
    assert!(state == "success" || state == "warning", "build: {state}: {:#?}", log_messages(app, build).await);
    wait_until(app, "select count(*) = 6 from ops.gate_results where build_id = $1", build, WAIT, "the gates after the build").await;
    build
}

#[tokio::test]
async fn a_tester_reads_the_six_gates_of_a_finished_build_and_the_grid_shows_the_worst() {
    let app = TestApp::spawn().await;
    let build = built_with(&app, &[("Dockerfile", DOCKERFILE), ("requirements.txt", "lxml\n")]).await;
    let (tester, _, _) = app.logged_in(Role::Tester).await;

    let (status, body) = call(&app, &tester, "build-gates", &[("id", &build.to_string())]).await;
    assert_eq!(status, 200, "{body}");
    let gates: Vec<GateResult> = serde_json::from_value(body).unwrap();
    assert_eq!(gates.iter().map(|g| g.gate).collect::<Vec<_>>(), GateId::ALL, "six gates, in their order");
    let packages = gates.iter().find(|g| g.gate == GateId::SystemPackages).unwrap();
    assert_eq!(packages.status, GateStatus::Fail, "{packages:#?}");
    assert!(packages.summary.contains("wkhtmltopdf"), "{}", packages.summary);
    assert!(!packages.fix.is_empty() && !packages.explanation.is_empty());
    assert!(
        packages.evidence.iter().any(|e| e.location.starts_with("Dockerfile") && e.found.contains("apt-get install -y wkhtmltopdf")),
        "the Dockerfile line is the evidence: {:#?}",
        packages.evidence
    );

    // The card on the grid carries the worst status.
    let (status, grid) = call(&app, &tester, "build-grid", &[("slug", "erp")]).await;
    assert_eq!(status, 200, "{grid}");
    let card = grid["rows"].as_array().unwrap().iter().flat_map(|r| r["builds"].as_array().unwrap()).find(|b| b["id"] == build.to_string()).unwrap();
    assert_eq!(card["gates"], "fail", "{card}");
    app.stop().await;
}

#[tokio::test]
async fn builds_without_gates_answer_an_empty_list_and_unknown_ones_404() {
    let app = TestApp::spawn().await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    // A build that fails (no repository to check out): no gates.
    configure_project(&app, SECRET, "").await;
    let build = push(&app, "main", &random_sha()).await;
    wait_finished(&app, build, WAIT).await;
    let (status, body) = call(&app, &dev, "build-gates", &[("id", &build.to_string())]).await;
    assert_eq!((status, body), (200, serde_json::json!([])));
    let (status, grid) = call(&app, &dev, "build-grid", &[("slug", "erp")]).await;
    assert_eq!(status, 200);
    assert_eq!(grid["rows"][0]["builds"][0]["gates"], "", "no chip without gates: {grid}");

    let (status, _) = call(&app, &dev, "build-gates", &[("id", &Uuid::new_v4().to_string())]).await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, &dev, "build-gates", &[("id", "not-a-build")]).await;
    assert!((400..500).contains(&status), "a malformed id is refused: {status}");
    let (status, _) = call(&app, &app.client(), "build-gates", &[("id", &build.to_string())]).await;
    assert_eq!(status, 401);

    // Another tenant's build is not found.
    let mut conn = app.owner.acquire().await.unwrap();
    let tenant = odooops::admin::ensure_tenant(&mut conn, "globex", "Globex").await.unwrap();
    drop(conn);
    let (_, outsider) = app.member_of(tenant, Role::Admin).await;
    let (client, _) = app.login(&outsider, common::PASSWORD).await;
    let (status, _) = call(&app, &client, "build-gates", &[("id", &build.to_string())]).await;
    assert_eq!(status, 404, "RLS hides the other tenant's build");
    app.stop().await;
}

#[tokio::test]
async fn gate_results_arriving_send_a_build_event_to_open_pages() {
    let app = TestApp::spawn().await;
    let build = built_with(&app, &[]).await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let res = dev.get(app.url(&format!("/api/builds/events?project={}", app.project_id))).send().await.unwrap();
    let mut events = SseReader::new(res);
    assert_eq!(events.next(Duration::from_secs(10)).await.unwrap().event, "ready");
    let quiet = events.next(Duration::from_millis(1500)).await;
    assert!(quiet.is_none(), "nothing happens to the finished build meanwhile: {quiet:?}");

    // The gates run again for the finished build (as the runner records them).
    let claims = DbClaims { sub: Uuid::nil(), tenant_id: app.tenant_id, role: Role::Admin };
    let mut tx = app.services_db().tenant_tx(&claims).await.unwrap();
    let results: Vec<GateResult> = GateId::ALL.iter().map(|g| GateResult::new(*g, GateStatus::Warn, "checked again", "", "", vec![])).collect();
    app::db::promotions::insert_gate_results(&mut tx, app.project_id, build, None, None, &results).await.unwrap();
    tx.commit().await.unwrap();
    let ev = events.next(Duration::from_secs(10)).await.expect("a build event after the gate results");
    assert_eq!(ev.event, "build");
    assert_eq!(gates_count(&app, build).await, 12);

    // The page's reload sees the newest run only.
    let (_, body) = call(&app, &dev, "build-gates", &[("id", &build.to_string())]).await;
    let gates: Vec<GateResult> = serde_json::from_value(body).unwrap();
    assert_eq!(gates.len(), 6);
    assert!(gates.iter().all(|g| g.summary == "checked again"), "{gates:#?}");
    app.stop().await;
}

async fn notify(app: &TestApp, env: Option<&str>, level: &str, title: &str, minutes_ago: i32) {
    sqlx::query(
        "insert into ops.notifications (tenant_id, project_id, environment_id, level, title, body, created_at)
         values ($1, $2, (select id from ops.environments where project_id = $2 and name = $3), $4, $5, 'details', now() - make_interval(mins => $6))",
    )
    .bind(app.tenant_id)
    .bind(app.project_id)
    .bind(env)
    .bind(level)
    .bind(title)
    .bind(minutes_ago)
    .execute(&app.owner)
    .await
    .unwrap();
}

fn titles(body: &serde_json::Value) -> Vec<String> {
    body.as_array().unwrap().iter().map(|n| n["notification"]["title"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_dashboard_lists_unread_notifications_newest_first_and_dismiss_hides_one() {
    let app = TestApp::spawn().await;
    let (tester, _, _) = app.logged_in(Role::Tester).await;
    let (status, body) = call(&app, &tester, "notifications", &[]).await;
    assert_eq!((status, body), (200, serde_json::json!([])), "nothing to read yet");

    notify(&app, Some("staging"), "warning", "Scheduled job “Mail queue” on staging was disabled", 5).await;
    notify(&app, Some("production"), "error", "Deploy of build #7 to production failed and was rolled back", 1).await;
    notify(&app, None, "info", "Old news", 60).await;
    let (status, body) = call(&app, &tester, "notifications", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(titles(&body), ["Deploy of build #7 to production failed and was rolled back", "Scheduled job “Mail queue” on staging was disabled", "Old news"]);
    let first = &body[0];
    assert_eq!((first["project_slug"].as_str(), first["project_name"].as_str()), (Some("erp"), Some("Acme ERP")));
    assert_eq!(first["notification"]["environment"], "production");
    assert_eq!(first["notification"]["level"], "error");
    assert_eq!(body[2]["notification"]["environment"], serde_json::Value::Null);

    // Dismissed, it is gone for everyone in the tenant.
    let id = first["notification"]["id"].as_i64().unwrap().to_string();
    let (status, _) = call(&app, &tester, "notification-dismiss", &[("id", &id)]).await;
    assert_eq!(status, 200);
    let (pm, _, _) = app.logged_in(Role::Pm).await;
    let (_, body) = call(&app, &pm, "notifications", &[]).await;
    assert_eq!(titles(&body), ["Scheduled job “Mail queue” on staging was disabled", "Old news"]);

    // At most ten, the newest.
    for i in 0..12 {
        notify(&app, Some("development"), "info", &format!("Note {i}"), -i - 1).await;
    }
    let (_, body) = call(&app, &pm, "notifications", &[]).await;
    assert_eq!(titles(&body), (0..10).rev().map(|i| format!("Note {}", i + 2)).collect::<Vec<_>>());
    let (status, _) = call(&app, &app.client(), "notifications", &[]).await;
    assert_eq!(status, 401);
    app.stop().await;
}
