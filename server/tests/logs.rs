//! Build logs over HTTP: the CSV export and the live tail (Server-Sent Events, resumable).
mod common;

use app::models::Role;
use common::builds::*;
use common::TestApp;
use std::time::Duration;

async fn console_without_runner() -> TestApp {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.build_workers = 0;
    TestApp::spawn_with(cfg).await
}

#[tokio::test]
async fn the_csv_export_holds_exactly_the_filtered_lines_quoted_as_rfc_4180() {
    let app = console_without_runner().await;
    let token = api_token(&app, Role::Developer, "erp").await;
    let build_id = ci_build(&app, &token, "main").await;
    let other_build = ci_build(&app, &token, "other").await;
    let tricky = [
        ("plain line", Some("info")),
        ("a, b, and c", Some("info")),
        ("she said \"hi\"", Some("warning")),
        ("two\nlines", Some("error")),
        ("debug noise", Some("debug")),
        ("trailing comma,", None),
        ("\"quoted\",\"fields\"", Some("info")),
        ("ünïcödé ✓", Some("info")),
    ];
    ci_log(&app, &token, build_id, &tricky).await;
    ci_log(&app, &token, build_id, &[("second batch", None), ("more debug", Some("debug"))]).await;
    ci_log(&app, &token, other_build, &[("another build's line", None)]).await;
    wait_visible(&app, build_id).await;

    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let res = dev.get(app.url(&format!("/api/logs/export.csv?build={build_id}&level=info"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let text = res.text().await.unwrap();
    let rows = parse_csv(&text);
    assert_eq!(rows[0], vec!["id", "time", "level", "source", "job_id", "env_id", "message", "meta"]);
    let data = &rows[1..];
    assert!(data.iter().all(|r| r.len() == 8), "every row has 8 fields: {data:#?}");

    let expected: Vec<(i64, String, String)> =
        sqlx::query_as("select id, level::text, message from ops.run_events where job_id = $1 and level >= 'info' order by tx, id")
            .bind(build_id)
            .fetch_all(&app.owner)
            .await
            .unwrap();
    let got: Vec<(i64, String, String)> = data.iter().map(|r| (r[0].parse().unwrap(), r[2].clone(), r[6].clone())).collect();
    assert_eq!(got, expected);
    assert_eq!(got.len(), 8, "10 lines, 2 of them debug");
    assert!(got.iter().any(|(_, l, m)| l == "error" && m == "two\nlines"));
    assert!(got.iter().any(|(_, _, m)| m == "\"quoted\",\"fields\""));
    assert!(data.iter().all(|r| r[4] == build_id.to_string() && r[3] == "ci"));

    // Without a level filter the debug lines come too; a text search narrows it.
    let all = parse_csv(&dev.get(app.url(&format!("/api/logs/export.csv?build={build_id}"))).send().await.unwrap().text().await.unwrap());
    assert_eq!(all.len() - 1, 10);
    let found = parse_csv(&dev.get(app.url(&format!("/api/logs/export.csv?build={build_id}&q=batch"))).send().await.unwrap().text().await.unwrap());
    assert_eq!(found.len() - 1, 1);
    assert_eq!(found[1][6], "second batch");

    // Bad filters are a 422 with an explanation; no session is a 401.
    for q in ["level=bogus", "build=not-an-id", "source=Bad%20Source"] {
        let res = dev.get(app.url(&format!("/api/logs/export.csv?{q}"))).send().await.unwrap();
        assert_eq!(res.status(), 422, "{q}");
        assert!(res.text().await.unwrap().contains("error"), "{q}");
    }
    assert_eq!(app.client().get(app.url(&format!("/api/logs/export.csv?build={build_id}"))).send().await.unwrap().status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn the_live_tail_streams_new_lines_and_resumes_without_gap_or_duplicate() {
    let app = console_without_runner().await;
    let token = api_token(&app, Role::Developer, "erp").await;
    let build_id = ci_build(&app, &token, "main").await;
    ci_log(&app, &token, build_id, &[("before the tail", None)]).await;
    wait_visible(&app, build_id).await;

    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let res = dev.get(app.url(&format!("/api/logs/tail?build={build_id}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut tail = SseReader::new(res);

    // Lines arrive as they are written, in order, one batch at a time.
    let mut seen: Vec<(String, String)> = Vec::new();
    for batch in 0..3 {
        let lines: Vec<String> = (0..4).map(|i| format!("line {batch}-{i}")).collect();
        let refs: Vec<(&str, Option<&str>)> = lines.iter().map(|l| (l.as_str(), None)).collect();
        ci_log(&app, &token, build_id, &refs).await;
        for _ in 0..4 {
            seen.push(tail.next_line(Duration::from_secs(15)).await.expect("a live line"));
        }
    }
    let messages: Vec<&str> = seen.iter().map(|(_, m)| m.as_str()).collect();
    let expected: Vec<String> = (0..3).flat_map(|b| (0..4).map(move |i| format!("line {b}-{i}"))).collect();
    assert_eq!(messages, expected, "the tail starts at the present and misses nothing");
    drop(tail);

    // While nobody listens, more lines are written; a reconnect picks up right after the last one seen.
    let last_id = seen.last().unwrap().0.clone();
    let more: Vec<String> = (0..30).map(|i| format!("while away {i}")).collect();
    for chunk in more.chunks(10) {
        let refs: Vec<(&str, Option<&str>)> = chunk.iter().map(|l| (l.as_str(), None)).collect();
        ci_log(&app, &token, build_id, &refs).await;
    }
    let res = dev.get(app.url(&format!("/api/logs/tail?build={build_id}"))).header("Last-Event-ID", &last_id).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut tail = SseReader::new(res);
    let mut resumed = Vec::new();
    for _ in 0..30 {
        resumed.push(tail.next_line(Duration::from_secs(15)).await.expect("a resumed line").1);
    }
    assert_eq!(resumed, more, "no gap, no duplicate after a reconnect");
    ci_log(&app, &token, build_id, &[("after the reconnect", None)]).await;
    assert_eq!(tail.next_line(Duration::from_secs(15)).await.unwrap().1, "after the reconnect");
    assert!(tail.next_line(Duration::from_millis(1500)).await.is_none(), "nothing is sent twice");

    // Filters apply to the tail too: errors only.
    let res = dev.get(app.url(&format!("/api/logs/tail?build={build_id}&level=error"))).send().await.unwrap();
    let mut errors = SseReader::new(res);
    ci_log(&app, &token, build_id, &[("just info", None), ("error: it broke", None)]).await;
    assert_eq!(errors.next_line(Duration::from_secs(15)).await.unwrap().1, "error: it broke");

    // No session, no tail; a bad filter is a 422.
    assert_eq!(app.client().get(app.url(&format!("/api/logs/tail?build={build_id}"))).send().await.unwrap().status(), 401);
    assert_eq!(dev.get(app.url("/api/logs/tail?level=loud")).send().await.unwrap().status(), 422);
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_tail_never_shows_this_tenants_lines() {
    let app = console_without_runner().await;
    let token = api_token(&app, Role::Developer, "erp").await;
    let build_id = ci_build(&app, &token, "main").await;
    let globex = {
        let mut conn = app.owner.acquire().await.unwrap();
        odooops::admin::ensure_tenant(&mut conn, "globex", "Globex").await.unwrap()
    };
    let (_, email) = app.member_of(globex, Role::Admin).await;
    let (outsider, res) = app.login(&email, common::PASSWORD).await;
    assert_eq!(res.status(), 200);

    // Asking for the build by id is refused; an unfiltered tail of their own tenant stays empty.
    assert_eq!(outsider.get(app.url(&format!("/api/logs/tail?build={build_id}"))).send().await.unwrap().status(), 404);
    let res = outsider.get(app.url("/api/logs/tail")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut theirs = SseReader::new(res);
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let mut ours = SseReader::new(dev.get(app.url("/api/logs/tail")).send().await.unwrap());
    ci_log(&app, &token, build_id, &[("acme secret line", None)]).await;
    assert_eq!(ours.next_line(Duration::from_secs(15)).await.unwrap().1, "acme secret line");
    assert!(theirs.next_line(Duration::from_secs(2)).await.is_none(), "globex sees nothing of acme's log");
    let csv = outsider.get(app.url("/api/logs/export.csv")).send().await.unwrap().text().await.unwrap();
    assert!(!csv.contains("acme secret line"));
    assert_eq!(parse_csv(&csv).len(), 1, "only the header");
    app.stop().await;
}
