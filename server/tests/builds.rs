//! Builds end to end: GitHub deliveries in, the embedded runner, previews, the external-CI
//! API and commit statuses out, all over real HTTP against a real console.
mod common;

use app::models::Role;
use common::builds::*;
use common::TestApp;
use std::time::Duration;
use uuid::Uuid;

const BUILD_TIMEOUT: Duration = Duration::from_secs(60);

async fn count_builds(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from ops.builds").fetch_one(&app.owner).await.unwrap()
}

#[tokio::test]
async fn a_signed_push_builds_the_commit_logs_every_step_and_shows_on_the_grid() {
    let app = TestApp::spawn().await;
    let (repo, sha) = Repo::with_steps(STEPS_OK);
    configure_project(&app, SECRET, &repo.url()).await;

    let guid = Uuid::new_v4().to_string();
    let (status, body) = deliver(&app, "push", &guid, push_payload("main", &sha, "Add the invoice layout")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "accepted");
    let build_id = Uuid::parse_str(body["build_id"].as_str().unwrap()).unwrap();

    assert_eq!(wait_finished(&app, build_id, BUILD_TIMEOUT).await, "success", "{:#?}", log_messages(&app, build_id).await);
    let (failure, author, message): (Option<String>, String, String) =
        sqlx::query_as("select failure::text, author, message from ops.builds where id = $1").bind(build_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!((failure, author.as_str(), message.as_str()), (None, "ann", "Add the invoice layout"));

    // Step output is in the log, labelled with its step.
    let lines: Vec<(String, String, String, serde_json::Value)> =
        sqlx::query_as("select level::text, source, message, meta from ops.run_events where job_id = $1 order by tx, id")
            .bind(build_id)
            .fetch_all(&app.owner)
            .await
            .unwrap();
    let step_of = |text: &str| lines.iter().find(|(_, _, m, _)| m == text).map(|(l, s, _, meta)| (l.clone(), s.clone(), meta["step"].clone()));
    assert_eq!(step_of("installing"), Some(("info".into(), "build".into(), "install".into())), "{lines:#?}");
    assert_eq!(step_of("done"), Some(("info".into(), "build".into(), "install".into())));
    assert_eq!(step_of("running tests"), Some(("info".into(), "build".into(), "test".into())));
    assert!(!lines.iter().any(|(_, _, m, _)| m.contains("just a note")), "output sent to /dev/null is not logged");
    assert!(lines.iter().any(|(_, s, m, _)| s == "runner" && m.contains("finished: success")), "{lines:#?}");
    let installing = lines.iter().position(|(_, _, m, _)| m == "installing").unwrap();
    let testing = lines.iter().position(|(_, _, m, _)| m == "running tests").unwrap();
    assert!(installing < testing, "steps are logged in order");

    // The delivery says what it caused.
    let (outcome, delivered_build, sig_ok): (String, Option<Uuid>, bool) =
        sqlx::query_as("select outcome::text, build_id, signature_ok from ops.webhook_deliveries where delivery_guid = $1")
            .bind(&guid)
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!((outcome.as_str(), delivered_build, sig_ok), ("accepted", Some(build_id), true));

    // The grid, as a developer's browser asks for it.
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let res = dev.post(app.url("/api/build-grid")).form(&[("slug", "erp")]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let grid: serde_json::Value = res.json().await.unwrap();
    assert_eq!(grid["project_slug"], "erp");
    assert_eq!(grid["can_operate"], true);
    let rows = grid["rows"].as_array().unwrap();
    let main = rows.iter().find(|r| r["branch_name"] == "main").expect("a row for main");
    assert_eq!(main["archived"], false);
    let card = &main["builds"][0];
    assert_eq!(card["id"], build_id.to_string());
    assert_eq!(card["sha"], sha);
    assert_eq!(card["state"], "success");
    assert_eq!(card["number"], 1);
    assert_eq!(card["has_start"], true);

    // The build page's server function agrees.
    let detail: serde_json::Value = dev.post(app.url("/api/build")).form(&[("id", build_id.to_string())]).send().await.unwrap().json().await.unwrap();
    assert_eq!(detail["build"]["state"], "success");
    assert_eq!(detail["project_slug"], "erp");
    app.stop().await;
}

#[tokio::test]
async fn a_successful_build_with_a_start_step_gets_a_preview_that_members_and_share_links_can_open() {
    let app = TestApp::spawn().await;
    let (repo, sha) = Repo::with_files(STEPS_ECHO_APP, &[("serve.py", ECHO_APP)]);
    configure_project(&app, SECRET, &repo.url()).await;
    let build_id = push(&app, "main", &sha).await;
    assert_eq!(wait_finished(&app, build_id, BUILD_TIMEOUT).await, "success");
    wait_until(&app, "select state = 'running' from ops.previews where build_id = $1", build_id, Duration::from_secs(30), "the preview to run").await;
    let slug: String = sqlx::query_scalar("select br.preview_slug from ops.builds b join ops.branches br on br.id = b.branch_id where b.id = $1")
        .bind(build_id)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let path = format!("/preview/{slug}/");

    // A member of the tenant sees the app through the console.
    let (dev, res) = {
        let (_, email) = app.member(Role::Developer).await;
        app.login(&email, common::PASSWORD).await
    };
    let session_cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let res = dev.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-odooops-preview"], slug.as_str());
    assert!(res.text().await.unwrap().contains(MARKER));
    let res = app.client().get(app.url(&format!("/preview/{slug}"))).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["location"].to_str().unwrap()), (308, path.as_str()), "the bare path gets its slash");

    // The console's cookies never reach the app; the app's own do, with the prefix it lives under.
    let res = app
        .client()
        .get(app.url(&format!("{path}echo?x=1")))
        .header("cookie", format!("{session_cookie}; theme=dark"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let echo = res.text().await.unwrap();
    assert_eq!(echo, format!("cookie=[theme=dark] prefix=[/preview/{slug}] path=[/echo?x=1]"));
    // Redirects to absolute paths stay inside the preview.
    let res = dev.get(app.url(&format!("{path}away"))).send().await.unwrap();
    assert_eq!(res.headers()["location"], format!("/preview/{slug}/index.html").as_str());

    // Anyone else is sent to sign in, and back.
    let res = app.client().get(app.url(&path)).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let to = res.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/login?next=") && to.contains(&slug), "{to}");

    // A share link opens it without a session: it becomes a cookie for this preview only.
    let res = dev.post(app.url("/api/preview-share")).form(&[("build_id", build_id.to_string()), ("hours", "1".into())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let link: serde_json::Value = res.json().await.unwrap();
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{path}?share=")), "{url}");
    let guest = app.client();
    let res = guest.get(app.url(&url)).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains(&format!("Path=/preview/{slug}/")) && cookie.contains("HttpOnly"), "{cookie}");
    let to = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(to, path, "the token is dropped from the address");
    let res = guest.get(app.url(&to)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains(MARKER));
    let echo = guest.get(app.url(&format!("{path}echo"))).send().await.unwrap().text().await.unwrap();
    assert!(echo.starts_with("cookie=[]"), "the share cookie is the console's, not the app's: {echo}");
    // The share cookie opens nothing else.
    assert!(guest.post(app.url("/api/build-grid")).form(&[("slug", "erp")]).send().await.unwrap().status().is_client_error());

    // A forged or expired share token is refused.
    let res = app.client().get(app.url(&format!("{path}?share=9999999999.deadbeef"))).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let owner = app.owner.clone();
    app.stop().await;
    let (state, port): (String, i32) = sqlx::query_as("select state::text, port from ops.previews where build_id = $1").bind(build_id).fetch_one(&owner).await.unwrap();
    assert_eq!(state, "stopped", "stopping the console stops its previews");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port as u16)).await.is_err(), "the app's process is gone");
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_refused_recorded_and_builds_nothing() {
    let app = TestApp::spawn().await;
    configure_project(&app, SECRET, "/nonexistent").await;
    let sha = random_sha();
    let body = push_payload("main", &sha, "forged");

    let forged = odooops::builds::github::sign("not-the-secret", &body);
    let res = deliver_raw(&app, app.project_id, "push", "guid-forged", body.clone(), Some(forged)).await;
    assert_eq!(res.status(), 401);
    let err: serde_json::Value = res.json().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("signature"), "{err}");

    let res = deliver_raw(&app, app.project_id, "push", "guid-unsigned", body.clone(), None).await;
    assert_eq!(res.status(), 401);

    // The right secret over another body does not verify either.
    let sig = odooops::builds::github::sign(SECRET, b"{}");
    assert_eq!(deliver_raw(&app, app.project_id, "push", "guid-swapped", body.clone(), Some(sig)).await.status(), 401);

    assert_eq!(count_builds(&app).await, 0, "nothing was queued");
    let rows: Vec<(String, bool, String, Option<Uuid>)> =
        sqlx::query_as("select delivery_guid, signature_ok, outcome::text, build_id from ops.webhook_deliveries order by id")
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (guid, ok, outcome, build) in &rows {
        assert!(!ok && outcome == "rejected" && build.is_none(), "{guid}: {rows:?}");
    }

    // A forged delivery does not burn its GUID: the real one with the same GUID still builds.
    let sig = odooops::builds::github::sign(SECRET, &body);
    let res = deliver_raw(&app, app.project_id, "push", "guid-forged", body, Some(sig)).await;
    assert_eq!(res.status(), 202);
    assert_eq!(count_builds(&app).await, 1);

    // Unknown projects are not found, whatever the signature.
    let res = deliver_raw(&app, Uuid::new_v4(), "push", "guid-x", b"{}".to_vec(), Some(odooops::builds::github::sign(SECRET, b"{}"))).await;
    assert_eq!(res.status(), 404);
    let res = app.client().post(app.url("/api/webhooks/github/not-a-uuid")).body("{}").send().await.unwrap();
    assert_eq!(res.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_project_without_a_webhook_secret_refuses_every_delivery() {
    let app = TestApp::spawn().await;
    let body = push_payload("main", &random_sha(), "x");
    let sig = odooops::builds::github::sign("", &body);
    let res = deliver_raw(&app, app.project_id, "push", "g1", body, Some(sig)).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("no webhook secret"));
    assert_eq!(count_builds(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_redelivery_is_answered_as_a_duplicate_and_builds_nothing_new() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.build_workers = 0; // nothing needs to run
    let app = TestApp::spawn_with(cfg).await;
    configure_project(&app, SECRET, "/nonexistent").await;
    let sha = random_sha();
    let guid = Uuid::new_v4().to_string();
    let (status, first) = deliver(&app, "push", &guid, push_payload("main", &sha, "once")).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = deliver(&app, "push", &guid, push_payload("main", &sha, "once")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(count_builds(&app).await, 1);
    let (n, redeliveries, build): (i64, i32, Option<Uuid>) =
        sqlx::query_as("select count(*) over (), redeliveries, build_id from ops.webhook_deliveries where delivery_guid = $1")
            .bind(&guid)
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!((n, redeliveries), (1, 1));
    assert_eq!(build.map(|b| b.to_string()), first["build_id"].as_str().map(str::to_string));

    // A new delivery of a commit that already has a build is recorded but builds nothing.
    let (status, same_commit) = deliver(&app, "push", &Uuid::new_v4().to_string(), push_payload("main", &sha, "once")).await;
    assert_eq!(status, 200, "{same_commit}");
    assert_eq!(same_commit["status"], "ignored");
    assert_eq!(count_builds(&app).await, 1);

    // A ping is recorded and ignored.
    let (status, ping) = deliver(&app, "ping", &Uuid::new_v4().to_string(), br#"{"zen":"Keep it simple."}"#.to_vec()).await;
    assert_eq!((status, ping["status"].as_str()), (200, Some("ignored")));
    app.stop().await;
}

#[tokio::test]
async fn a_failing_step_fails_the_build_names_the_step_and_keeps_its_output() {
    let app = TestApp::spawn().await;
    let steps = "[[steps]]\nname = \"install\"\nrun = \"echo installing\"\n\n[[steps]]\nname = \"test\"\nrun = \"echo about to fail; echo boom >&2; exit 3\"\n\n[[steps]]\nname = \"never\"\nrun = \"echo should not run\"\n";
    let (repo, sha) = Repo::with_steps(steps);
    configure_project(&app, SECRET, &repo.url()).await;
    let build_id = push(&app, "main", &sha).await;
    assert_eq!(wait_finished(&app, build_id, BUILD_TIMEOUT).await, "failed");
    let (failure, failed_step, error): (Option<String>, Option<String>, String) =
        sqlx::query_as("select failure::text, failed_step, error from ops.builds where id = $1").bind(build_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!(failure.as_deref(), Some("build"));
    assert_eq!(failed_step.as_deref(), Some("test"));
    assert!(error.contains("code 3"), "{error}");

    let lines: Vec<(String, String, String, serde_json::Value)> =
        sqlx::query_as("select level::text, source, message, meta from ops.run_events where job_id = $1 order by tx, id")
            .bind(build_id)
            .fetch_all(&app.owner)
            .await
            .unwrap();
    let boom = lines.iter().find(|(_, _, m, _)| m == "boom").expect("the step's stderr is logged");
    assert_eq!((boom.1.as_str(), boom.3["step"].as_str(), boom.3["stream"].as_str()), ("build", Some("test"), Some("stderr")));
    assert!(lines.iter().any(|(_, _, m, meta)| m == "about to fail" && meta["step"] == "test"));
    assert!(
        lines.iter().any(|(l, s, m, _)| l == "error" && s == "runner" && m.contains("test") && m.contains("exit code 3")),
        "an error line from the runner names the step: {lines:#?}"
    );
    assert!(!lines.iter().any(|(_, _, m, _)| m == "should not run"), "later steps are skipped");
    assert_eq!(sqlx::query_scalar::<_, i64>("select count(*) from ops.previews").fetch_one(&app.owner).await.unwrap(), 0, "no preview for a failed build");
    app.stop().await;
}

#[tokio::test]
async fn a_step_that_times_out_is_killed_with_everything_it_started() {
    let app = TestApp::spawn().await;
    // A unique duration marks this test's processes (GNU sleep takes fractions).
    let marker = format!("sleep 301.{}", rand_digits());
    let steps = format!("[[steps]]\nname = \"hang\"\nrun = \"{marker} & {marker}\"\ntimeout_seconds = 2\n");
    let (repo, sha) = Repo::with_steps(&steps);
    configure_project(&app, SECRET, &repo.url()).await;
    let started = std::time::Instant::now();
    let build_id = push(&app, "main", &sha).await;
    wait_until(&app, "select state = 'running' from ops.builds where id = $1", build_id, Duration::from_secs(30), "the build to start").await;
    assert_eq!(wait_finished(&app, build_id, Duration::from_secs(30)).await, "failed");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    let (failure, step): (Option<String>, Option<String>) =
        sqlx::query_as("select failure::text, failed_step from ops.builds where id = $1").bind(build_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!((failure.as_deref(), step.as_deref()), (Some("timeout"), Some("hang")));
    let left = pgrep(&marker);
    assert!(left.is_empty(), "processes of the timed-out step survived: {left:?}");
    let log = log_messages(&app, build_id).await;
    assert!(log.iter().any(|m| m.contains("timed out")), "{log:#?}");
    app.stop().await;
}

#[tokio::test]
async fn a_process_that_escapes_its_step_does_not_keep_the_build_running() {
    let app = TestApp::spawn().await;
    // `setsid` leaves the step's process group but keeps its output pipes open.
    let marker = format!("sleep 29.{}", rand_digits());
    let steps = format!("[[steps]]\nname = \"daemon\"\nrun = \"setsid {marker} & sleep 0.5; echo started\"\n");
    let (repo, sha) = Repo::with_steps(&steps);
    configure_project(&app, SECRET, &repo.url()).await;
    let build_id = push(&app, "main", &sha).await;
    let state = wait_finished(&app, build_id, Duration::from_secs(20)).await;
    assert_eq!(state, "success");
    assert!(log_messages(&app, build_id).await.iter().any(|m| m == "started"));
    assert!(!pgrep(&marker).is_empty(), "the escaped process was still running (else this test proves nothing)");
    for pid in pgrep(&marker) {
        let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
    }
    app.stop().await;
}

fn rand_digits() -> String {
    Uuid::new_v4().as_u128().to_string()[..6].to_string()
}

#[tokio::test]
async fn a_malformed_or_oversized_delivery_is_refused_and_the_server_stays_healthy() {
    let app = TestApp::spawn().await;
    configure_project(&app, SECRET, "/nonexistent").await;
    let (status, body) = deliver(&app, "push", "guid-malformed", b"{\"ref\": \"refs/heads/main\", \"after\": ".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "rejected");
    let (status, body) = deliver(&app, "push", "guid-wrong-shape", br#"{"ref": 42}"#.to_vec()).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = deliver(&app, "push", "guid-bad-sha", push_payload("main", "not-a-sha; rm -rf /", "x")).await;
    assert_eq!(status, 400);
    let (status, _) = deliver(&app, "push", "guid-bad-branch", push_payload("bad..branch", &random_sha(), "x")).await;
    assert_eq!(status, 400);
    let outcomes: Vec<(String, String, bool)> =
        sqlx::query_as("select delivery_guid, outcome::text, signature_ok from ops.webhook_deliveries order by id").fetch_all(&app.owner).await.unwrap();
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes.iter().all(|(_, o, ok)| o == "rejected" && *ok), "{outcomes:?}");
    assert_eq!(count_builds(&app).await, 0);

    // Missing GitHub headers with a valid signature.
    let body = push_payload("main", &random_sha(), "x");
    let res = app
        .client()
        .post(app.url(&format!("/api/webhooks/github/{}", app.project_id)))
        .header("X-Hub-Signature-256", odooops::builds::github::sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // Over 25 MB.
    let huge = vec![b' '; 25 * 1024 * 1024 + 1];
    let sig = odooops::builds::github::sign(SECRET, &huge);
    let res = deliver_raw(&app, app.project_id, "push", "guid-huge", huge, Some(sig)).await;
    assert_eq!(res.status(), 413);
    assert_eq!(count_builds(&app).await, 0);
    assert_eq!(app.client().get(app.url("/healthz")).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_branch_archives_it_and_cancels_its_queued_builds() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.build_workers = 0; // builds stay queued
    let app = TestApp::spawn_with(cfg).await;
    configure_project(&app, SECRET, "/nonexistent").await;
    let build_id = push(&app, "feature/doomed", &random_sha()).await;
    let other = push(&app, "main", &random_sha()).await;
    assert_eq!(build_state(&app, build_id).await, "pending");

    let (status, body) = deliver(&app, "push", &Uuid::new_v4().to_string(), delete_payload("feature/doomed")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("archived"), "{body}");
    let archived: bool = sqlx::query_scalar("select archived_at is not null from ops.branches where name = 'feature/doomed'").fetch_one(&app.owner).await.unwrap();
    assert!(archived);
    let (state, failure): (String, Option<String>) =
        sqlx::query_as("select state::text, failure::text from ops.builds where id = $1").bind(build_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!((state.as_str(), failure.as_deref()), ("cancelled", Some("cancelled")));
    assert_eq!(build_state(&app, other).await, "pending", "other branches are untouched");

    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let grid: serde_json::Value = dev.post(app.url("/api/build-grid")).form(&[("slug", "erp")]).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = grid["rows"].as_array().unwrap().iter().map(|r| r["branch_name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["main"], "archived branches leave the grid");

    // Deleting a branch that was never built is harmless.
    let (status, body) = deliver(&app, "push", &Uuid::new_v4().to_string(), delete_payload("never-built")).await;
    assert_eq!(status, 200, "{body}");

    // Pushing to the branch again brings it back.
    push(&app, "feature/doomed", &random_sha()).await;
    let archived: bool = sqlx::query_scalar("select archived_at is not null from ops.branches where name = 'feature/doomed'").fetch_one(&app.owner).await.unwrap();
    assert!(!archived);
    app.stop().await;
}

#[tokio::test]
async fn an_external_ci_reports_a_build_with_its_logs_and_outcome_through_the_api() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.build_workers = 0;
    let app = TestApp::spawn_with(cfg).await;
    let token = api_token(&app, Role::Developer, "erp").await;
    let client = app.client();
    let sha = random_sha();
    let res = client
        .post(app.url("/api/v1/builds"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"project": "erp", "branch": "ci-branch", "sha": sha, "message": "from CI", "author": "bot"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created["url"].as_str().unwrap().ends_with(&format!("/builds/{id}")));
    let build_id = Uuid::parse_str(&id).unwrap();
    assert_eq!(build_state(&app, build_id).await, "running");

    let res = client
        .post(app.url(&format!("/api/v1/builds/{id}/logs")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"lines": [{"message": "compiling"}, {"message": "error: nope", "level": "error"}, {"message": "warning: guessed"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["accepted"], 3);
    let lines: Vec<(String, String, String)> =
        sqlx::query_as("select level::text, source, message from ops.run_events where job_id = $1 order by tx, id").bind(build_id).fetch_all(&app.owner).await.unwrap();
    assert_eq!(
        lines,
        vec![
            ("info".into(), "ci".into(), "compiling".into()),
            ("error".into(), "ci".into(), "error: nope".into()),
            ("warning".into(), "ci".into(), "warning: guessed".into()),
        ]
    );

    let res = client.post(app.url(&format!("/api/v1/builds/{id}/status"))).bearer_auth(&token).json(&serde_json::json!({"state": "failed", "error": "tests failed"})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (state, failure, runner): (String, Option<String>, String) =
        sqlx::query_as("select state::text, failure::text, runner::text from ops.builds where id = $1").bind(build_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!((state.as_str(), failure.as_deref(), runner.as_str()), ("failed", Some("build"), "external"));
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|(a, _, _)| a).collect();
    assert!(actions.contains(&"build.reported".to_string()) && actions.contains(&"build.state_reported".to_string()), "{actions:?}");

    // A finished build takes no more lines or states.
    let res = client.post(app.url(&format!("/api/v1/builds/{id}/status"))).bearer_auth(&token).json(&serde_json::json!({"state": "success"})).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let res = client.post(app.url(&format!("/api/v1/builds/{id}/logs"))).bearer_auth(&token).json(&serde_json::json!({"lines": [{"message": "late"}]})).send().await.unwrap();
    assert_eq!(res.status(), 409);

    // Bad input gets a 4xx with a JSON error, never a 500.
    let id2 = ci_build(&app, &token, "ci-branch").await;
    let cases: Vec<(String, &str, &str)> = vec![
        ("/api/v1/builds".into(), "application/json", "{garbage"),
        ("/api/v1/builds".into(), "application/json", r#"{"project":"erp","branch":"x","sha":"zzz"}"#),
        ("/api/v1/builds".into(), "application/json", r#"{"project":"erp","branch":"a..b","sha":"abcdef1"}"#),
        ("/api/v1/builds".into(), "application/json", r#"{"project":"nope","branch":"x","sha":"abcdef1"}"#),
        ("/api/v1/builds".into(), "application/json", r#"{"branch":"x","sha":"abcdef1","extra":1}"#),
        ("/api/v1/builds".into(), "text/plain", r#"{"project":"erp","branch":"x","sha":"abcdef1"}"#),
        (format!("/api/v1/builds/{id2}/logs"), "application/json", "[1,2"),
        (format!("/api/v1/builds/{id2}/logs"), "application/json", r#"{"lines":[{"message":"x","level":"loud"}]}"#),
        (format!("/api/v1/builds/{id2}/logs"), "application/json", r#"{"lines":[{"message":"x","source":"Bad Source"}]}"#),
        (format!("/api/v1/builds/{id2}/logs"), "application/json", r#"{"lines":[{"message":"x","meta":[1]}]}"#),
        (format!("/api/v1/builds/{id2}/status"), "application/json", r#"{"state":"exploded"}"#),
        (format!("/api/v1/builds/{id2}/status"), "application/json", "null"),
        ("/api/v1/builds/not-a-uuid/status".into(), "application/json", r#"{"state":"success"}"#),
        (format!("/api/v1/builds/{}/logs", Uuid::new_v4()), "application/json", r#"{"lines":[]}"#),
    ];
    for (path, ctype, body) in &cases {
        let res = client.post(app.url(path)).bearer_auth(&token).header("content-type", *ctype).body(body.to_string()).send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert!((400..500).contains(&status), "{path} {body} -> {status} {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path} {body}: not JSON: {text}"));
        assert!(v["error"].is_string(), "{path} {body}: {v}");
    }
    assert_eq!(build_state(&app, id2).await, "running", "nothing above changed the build");
    // Over the 32 MB limit of the logs route.
    let big = serde_json::json!({"lines": (0..9000).map(|i| serde_json::json!({"message": format!("{i} {}", "x".repeat(4000))})).collect::<Vec<_>>()});
    let res = client.post(app.url(&format!("/api/v1/builds/{id2}/logs"))).bearer_auth(&token).json(&big).send().await.unwrap();
    assert_eq!(res.status(), 413, "a body that is too large says so");
    assert!(res.json::<serde_json::Value>().await.unwrap()["error"].is_string());

    // Roles and credentials are checked.
    let tester = api_token(&app, Role::Tester, "").await;
    let res = client.post(app.url("/api/v1/builds")).bearer_auth(&tester).json(&serde_json::json!({"project": "erp", "branch": "x", "sha": random_sha()})).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = client.post(app.url(&format!("/api/v1/builds/{id2}/logs"))).bearer_auth(&tester).json(&serde_json::json!({"lines": []})).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = client.post(app.url("/api/v1/builds")).json(&serde_json::json!({"project": "erp", "branch": "x", "sha": random_sha()})).send().await.unwrap();
    assert_eq!(res.status(), 401);

    // Embedded builds are the runner's: the API cannot set their state.
    configure_project(&app, SECRET, "/nonexistent").await;
    let embedded = push(&app, "main", &random_sha()).await;
    let res = client.post(app.url(&format!("/api/v1/builds/{embedded}/status"))).bearer_auth(&token).json(&serde_json::json!({"state": "success"})).send().await.unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(build_state(&app, embedded).await, "pending");
    app.stop().await;
}

#[tokio::test]
async fn members_of_another_tenant_cannot_see_a_build() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.build_workers = 0;
    let app = TestApp::spawn_with(cfg).await;
    configure_project(&app, SECRET, "/nonexistent").await;
    let build_id = push(&app, "main", &random_sha()).await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let res = dev.post(app.url("/api/build")).form(&[("id", build_id.to_string())]).send().await.unwrap();
    assert_eq!(res.status(), 200, "visible at home");

    let globex = {
        let mut conn = app.owner.acquire().await.unwrap();
        let t = odooops::admin::ensure_tenant(&mut conn, "globex", "Globex").await.unwrap();
        odooops::admin::create_project_in(&mut conn, t, "erp", "Globex ERP", "").await.unwrap();
        t
    };
    let (_, email) = app.member_of(globex, Role::Admin).await;
    let (outsider, res) = app.login(&email, common::PASSWORD).await;
    assert_eq!(res.status(), 200);
    let res = outsider.post(app.url("/api/build")).form(&[("id", build_id.to_string())]).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let grid: serde_json::Value = outsider.post(app.url("/api/build-grid")).form(&[("slug", "erp")]).send().await.unwrap().json().await.unwrap();
    assert_eq!(grid["rows"].as_array().unwrap().len(), 0, "globex's own erp has no builds: {grid}");
    for path in ["/api/build-cancel", "/api/build-rebuild"] {
        let res = outsider.post(app.url(path)).form(&[("id", build_id.to_string())]).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let res = outsider.post(app.url("/api/preview-share")).form(&[("build_id", build_id.to_string()), ("hours", "1".into())]).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = outsider.get(app.url(&format!("/api/logs/tail?build={build_id}"))).send().await.unwrap();
    assert_eq!(res.status(), 404, "no tail of another tenant's build");
    let slug: String = sqlx::query_scalar("select preview_slug from ops.branches where name = 'main' and tenant_id = $1").bind(app.tenant_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!(outsider.get(app.url(&format!("/preview/{slug}/"))).send().await.unwrap().status(), 404, "nor its preview");
    assert_eq!(dev.get(app.url(&format!("/preview/{slug}/"))).send().await.unwrap().status(), 503, "at home: not running yet");
    let res = outsider.get(app.url(&format!("/api/logs/export.csv?build={build_id}"))).send().await.unwrap();
    assert_eq!(res.status(), 404, "no export of another tenant's build");
    assert_eq!(build_state(&app, build_id).await, "pending");

    // A webhook for globex's project is verified with globex's secret, not acme's.
    let globex_project: Uuid = sqlx::query_scalar("select id from ops.projects where tenant_id = $1").bind(globex).fetch_one(&app.owner).await.unwrap();
    let body = push_payload("main", &random_sha(), "x");
    let sig = odooops::builds::github::sign(SECRET, &body);
    assert_eq!(deliver_raw(&app, globex_project, "push", "g-globex", body, Some(sig)).await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn github_gets_a_pending_then_a_success_commit_status() {
    use axum::extract::{Path, State};
    use axum::routing::post;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<(String, String, serde_json::Value, String)>>>;
    let seen: Seen = Arc::default();
    async fn record(State(seen): State<Seen>, Path((owner, repo, sha)): Path<(String, String, String)>, headers: axum::http::HeaderMap, body: axum::Json<serde_json::Value>) -> axum::http::StatusCode {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        seen.lock().unwrap().push((format!("{owner}/{repo}"), sha, body.0, auth));
        axum::http::StatusCode::CREATED
    }
    let github = axum::Router::new().route("/repos/{owner}/{repo}/statuses/{sha}", post(record)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, github).await });

    let mut cfg = common::config(&common::fresh_database().await);
    cfg.github_token = Some(app::auth::Secret::new("t"));
    cfg.github_api_url = api;
    let app = TestApp::spawn_with(cfg).await;
    let (repo, sha) = Repo::with_steps("[[steps]]\nname = \"test\"\nrun = \"echo ok\"\n");
    configure_project(&app, SECRET, &repo.url()).await;
    let build_id = push(&app, "main", &sha).await;
    assert_eq!(wait_finished(&app, build_id, BUILD_TIMEOUT).await, "success");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let states: Vec<&str> = seen.iter().map(|(_, _, b, _)| b["state"].as_str().unwrap()).collect();
    assert_eq!(states, vec!["pending", "success"], "{seen:#?}");
    for (repo_name, s, body, auth) in &seen {
        assert_eq!((repo_name.as_str(), s.as_str(), auth.as_str()), ("acme/erp", sha.as_str(), "Bearer t"));
        assert_eq!(body["context"], "odooops/build");
        assert!(body["target_url"].as_str().unwrap().contains(&build_id.to_string()), "{body}");
    }
    app.stop().await;
    server.abort();
}

#[tokio::test]
async fn cancelling_a_running_build_stops_its_processes() {
    let app = TestApp::spawn().await;
    let marker = format!("sleep 300.{}", rand_digits());
    let steps = format!("[[steps]]\nname = \"long\"\nrun = \"echo working; {marker}\"\n");
    let (repo, sha) = Repo::with_steps(&steps);
    configure_project(&app, SECRET, &repo.url()).await;
    let build_id = push(&app, "main", &sha).await;
    wait_until(&app, "select exists (select 1 from ops.run_events where job_id = $1 and message = 'working')", build_id, Duration::from_secs(30), "the step to start").await;
    assert!(!pgrep(&marker).is_empty());

    let (tester, _, _) = app.logged_in(Role::Tester).await;
    assert_eq!(tester.post(app.url("/api/build-cancel")).form(&[("id", build_id.to_string())]).send().await.unwrap().status(), 403, "testers do not operate builds");
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let res = dev.post(app.url("/api/build-cancel")).form(&[("id", build_id.to_string())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(wait_finished(&app, build_id, Duration::from_secs(15)).await, "cancelled");
    assert!(pgrep(&marker).is_empty(), "the step's processes were killed");
    let failure: Option<String> = sqlx::query_scalar("select failure::text from ops.builds where id = $1").bind(build_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!(failure.as_deref(), Some("cancelled"));
    let res = dev.post(app.url("/api/build-cancel")).form(&[("id", build_id.to_string())]).send().await.unwrap();
    assert_eq!(res.status(), 409, "a finished build cannot be cancelled again");
    assert!(app.audit_actions().await.iter().any(|(a, _, _)| a == "build.cancelled"));

    // A rebuild queues the same commit again, and it runs.
    let res = dev.post(app.url("/api/build-rebuild")).form(&[("id", build_id.to_string())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let again: Uuid = res.json().await.unwrap();
    assert_ne!(again, build_id);
    let (trigger, rebuilt_sha): (String, String) = sqlx::query_as("select trigger::text, sha from ops.builds where id = $1").bind(again).fetch_one(&app.owner).await.unwrap();
    assert_eq!((trigger.as_str(), rebuilt_sha.as_str()), ("manual", sha.as_str()));
    wait_until(&app, "select exists (select 1 from ops.run_events where job_id = $1 and message = 'working')", again, Duration::from_secs(30), "the rebuild to start").await;
    dev.post(app.url("/api/build-cancel")).form(&[("id", again.to_string())]).send().await.unwrap();
    assert_eq!(wait_finished(&app, again, Duration::from_secs(15)).await, "cancelled");
    app.stop().await;
}

#[tokio::test]
async fn a_newer_push_supersedes_the_queued_build_of_its_branch() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.build_workers = 0;
    let app = TestApp::spawn_with(cfg).await;
    configure_project(&app, SECRET, "/nonexistent").await;
    let first = push(&app, "main", &random_sha()).await;
    let other_branch = push(&app, "feature/x", &random_sha()).await;
    let second_sha = random_sha();
    let second = push(&app, "main", &second_sha).await;
    let (state, superseded_by, error): (String, Option<Uuid>, String) =
        sqlx::query_as("select state::text, superseded_by, error from ops.builds where id = $1").bind(first).fetch_one(&app.owner).await.unwrap();
    assert_eq!((state.as_str(), superseded_by), ("cancelled", Some(second)));
    assert!(error.contains(&second_sha[..8]), "{error}");
    assert_eq!(build_state(&app, second).await, "pending");
    assert_eq!(build_state(&app, other_branch).await, "pending");
    let numbers: Vec<i64> = sqlx::query_scalar("select number from ops.builds order by number").fetch_all(&app.owner).await.unwrap();
    assert_eq!(numbers, vec![1, 2, 3], "builds are numbered per project");
    app.stop().await;
}

#[tokio::test]
async fn pull_requests_build_their_head_and_closing_one_cancels_its_queued_builds() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.build_workers = 0;
    let app = TestApp::spawn_with(cfg).await;
    configure_project(&app, SECRET, "/nonexistent").await;
    let sha = random_sha();
    let pr = |action: &str| {
        serde_json::to_vec(&serde_json::json!({
            "action": action, "number": 42,
            "pull_request": {"title": "Invoice layout", "head": {"ref": "feature/invoice", "sha": sha}, "user": {"login": "bob"}},
            "repository": {"full_name": "acme/erp"},
        }))
        .unwrap()
    };
    let (status, body) = deliver(&app, "pull_request", &Uuid::new_v4().to_string(), pr("opened")).await;
    assert_eq!(status, 202, "{body}");
    let build_id = Uuid::parse_str(body["build_id"].as_str().unwrap()).unwrap();
    let (trigger, pr_number, author, message): (String, Option<i32>, String, String) =
        sqlx::query_as("select trigger::text, pr_number, author, message from ops.builds where id = $1").bind(build_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!((trigger.as_str(), pr_number, author.as_str(), message.as_str()), ("pull_request", Some(42), "bob", "Invoice layout"));
    let (status, body) = deliver(&app, "pull_request", &Uuid::new_v4().to_string(), pr("labeled")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    let (status, body) = deliver(&app, "pull_request", &Uuid::new_v4().to_string(), pr("closed")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(build_state(&app, build_id).await, "cancelled");
    let branch_pr: Option<i32> = sqlx::query_scalar("select pr_number from ops.branches where name = 'feature/invoice'").fetch_one(&app.owner).await.unwrap();
    assert_eq!(branch_pr, Some(42));
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_repository_is_retried_then_fails_as_infrastructure() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.build_max_attempts = 2;
    let app = TestApp::spawn_with(cfg).await;
    let missing = std::env::temp_dir().join(format!("odooops-no-such-repo-{}", Uuid::new_v4().simple()));
    configure_project(&app, SECRET, &missing.to_string_lossy()).await;
    let build_id = push(&app, "main", &random_sha()).await;
    assert_eq!(wait_finished(&app, build_id, Duration::from_secs(30)).await, "failed");
    let (failure, attempt): (Option<String>, i32) = sqlx::query_as("select failure::text, attempt from ops.builds where id = $1").bind(build_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!((failure.as_deref(), attempt), (Some("infrastructure"), 1), "one retry, then given up");
    let log = log_messages(&app, build_id).await;
    assert!(log.iter().any(|m| m.contains("retrying in")), "{log:#?}");
    app.stop().await;
}

#[tokio::test]
async fn a_commit_missing_from_the_repository_or_without_steps_fails_the_build() {
    let app = TestApp::spawn().await;
    let repo = Repo::new();
    let no_steps = repo.commit(&[("README.md", "nothing to build\n")], "no steps");
    configure_project(&app, SECRET, &repo.url()).await;

    let missing = push(&app, "main", &random_sha()).await;
    assert_eq!(wait_finished(&app, missing, BUILD_TIMEOUT).await, "failed");
    let (failure, step, error): (Option<String>, Option<String>, String) =
        sqlx::query_as("select failure::text, failed_step, error from ops.builds where id = $1").bind(missing).fetch_one(&app.owner).await.unwrap();
    assert_eq!((failure.as_deref(), step.as_deref()), (Some("build"), Some("checkout")), "{error}");

    let without = push(&app, "main", &no_steps).await;
    assert_eq!(wait_finished(&app, without, BUILD_TIMEOUT).await, "failed");
    let error: String = sqlx::query_scalar("select error from ops.builds where id = $1").bind(without).fetch_one(&app.owner).await.unwrap();
    assert!(error.contains(".odooops.toml"), "{error}");

    // The project's default steps apply when the repository has none.
    sqlx::query("update ops.projects set default_steps = $1 where id = $2")
        .bind("[[steps]]\nname = \"lint\"\nrun = \"echo 'WARNING: style' ; echo linted\"\n")
        .bind(app.project_id)
        .execute(&app.owner)
        .await
        .unwrap();
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let res = dev.post(app.url("/api/build-rebuild")).form(&[("id", without.to_string())]).send().await.unwrap();
    let rebuilt: Uuid = res.json().await.unwrap();
    assert_eq!(wait_finished(&app, rebuilt, BUILD_TIMEOUT).await, "warning", "a warning line makes a passing build a warning");
    let log = log_messages(&app, rebuilt).await;
    assert!(log.iter().any(|m| m == "linted") && log.iter().any(|m| m.contains("default steps")), "{log:#?}");
    app.stop().await;
}

#[tokio::test]
async fn the_grid_is_told_when_a_build_changes() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.build_workers = 0;
    let app = TestApp::spawn_with(cfg).await;
    configure_project(&app, SECRET, "/nonexistent").await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let res = dev.get(app.url(&format!("/api/builds/events?project={}", app.project_id))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut events = SseReader::new(res);
    assert_eq!(events.next(Duration::from_secs(10)).await.unwrap().event, "ready");
    push(&app, "main", &random_sha()).await;
    assert_eq!(events.next(Duration::from_secs(10)).await.unwrap().event, "build");
    assert_eq!(app.client().get(app.url(&format!("/api/builds/events?project={}", app.project_id))).send().await.unwrap().status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn the_project_preview_limit_stops_the_oldest_preview_and_its_process() {
    let app = TestApp::spawn().await;
    let (repo, sha) = Repo::with_files(STEPS_ECHO_APP, &[("serve.py", ECHO_APP)]);
    configure_project(&app, SECRET, &repo.url()).await;
    sqlx::query("update ops.projects set preview_limit = 1 where id = $1").bind(app.project_id).execute(&app.owner).await.unwrap();
    let first = push(&app, "main", &sha).await;
    wait_until(&app, "select state = 'running' from ops.previews where build_id = $1", first, Duration::from_secs(60), "the first preview").await;
    let first_port: i32 = sqlx::query_scalar("select port from ops.previews where build_id = $1").bind(first).fetch_one(&app.owner).await.unwrap();

    repo.git(&["checkout", "-q", "-b", "feature/two"]);
    let sha2 = repo.commit(&[("two.txt", "two\n")], "second branch");
    let second = push(&app, "feature/two", &sha2).await;
    wait_until(&app, "select state = 'running' from ops.previews where build_id = $1", second, Duration::from_secs(60), "the second preview").await;
    let (state, reason): (String, String) = sqlx::query_as("select state::text, stop_reason from ops.previews where build_id = $1").bind(first).fetch_one(&app.owner).await.unwrap();
    assert_eq!(state, "stopped");
    assert!(reason.contains("limit"), "{reason}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", first_port as u16)).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "the stopped preview's process still answers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The stopped preview says so instead of proxying.
    let slug: String = sqlx::query_scalar("select preview_slug from ops.branches where name = 'main'").fetch_one(&app.owner).await.unwrap();
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let res = dev.get(app.url(&format!("/preview/{slug}/"))).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("not running"));
    app.stop().await;
}
