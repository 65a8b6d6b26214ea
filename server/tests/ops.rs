//! Probes, metrics, request ids, and two console processes sharing one database.
mod common;

use app::models::Role;
use common::TestApp;

#[tokio::test]
async fn probes_and_metrics_answer() {
    let app = TestApp::spawn().await;
    let c = app.client();
    assert_eq!(c.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let ready: serde_json::Value = c.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["database"], "ok");
    c.get(app.url("/login")).header("accept", "text/html").send().await.unwrap();
    let metrics = c.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("odooops_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 1"), "{metrics}");
    assert!(metrics.contains("odooops_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("odooops_db_pool_connections"));
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_and_recorded_in_the_audit_log() {
    let app = TestApp::spawn().await;
    let (_, email) = app.member(Role::Pm).await;
    let res = app
        .client()
        .post(app.url("/api/login"))
        .header("x-request-id", "trace-abc-123")
        .form(&[("email", email.as_str()), ("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc-123");
    let rid: String = sqlx::query_scalar("select request_id from ops.audit_log where action = 'auth.login_succeeded'").fetch_one(&app.owner).await.unwrap();
    assert_eq!(rid, "trace-abc-123");
    let res = app.client().get(app.url("/healthz")).header("x-request-id", "bad id with spaces").send().await.unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id with spaces");
    app.stop().await;
}

#[tokio::test]
async fn two_console_processes_on_one_database_share_sessions() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(&a.db_url).await;
    let (client, _, email) = a.logged_in(Role::Developer).await;
    let me: serde_json::Value = client.post(b.url("/api/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["email"], email, "a session from process A works on process B");
    a.stop().await;
    b.stop().await;
}
