//! Sign-in, sessions, role checks and bad input, over real HTTP.
mod common;

use app::models::Role;
use common::{TestApp, PASSWORD};

#[tokio::test]
async fn login_sets_an_http_only_strict_cookie_and_is_audited() {
    let app = TestApp::spawn().await;
    let (_, email) = app.member(Role::Developer).await;
    let (client, res) = app.login(&email, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers().get("set-cookie").expect("a session cookie").to_str().unwrap().to_string();
    assert!(cookie.starts_with("odooops_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "no Secure flag without TLS: {cookie}");
    let me: serde_json::Value = client.post(app.url("/api/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["email"], email);
    assert_eq!(me["role"], "developer");
    let audit = app.audit_actions().await;
    assert!(audit.iter().any(|(a, t, who)| a == "auth.login_succeeded" && *t == Some(app.tenant_id) && *who == email), "{audit:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_gets_a_clear_error_and_is_audited() {
    let app = TestApp::spawn().await;
    let (_, email) = app.member(Role::Pm).await;
    let (_, res) = app.login(&email, "wrong-password-1").await;
    assert_eq!(res.status(), 422);
    assert!(res.headers().get("set-cookie").is_none());
    let body = res.text().await.unwrap();
    assert!(body.contains("Wrong email or password"), "{body}");
    let (_, res) = app.login("nobody@example.com", "whatever-password").await;
    assert!(res.text().await.unwrap().contains("Wrong email or password"), "unknown emails get the same answer");
    let failed: Vec<_> = app.audit_actions().await.into_iter().filter(|(a, _, _)| a == "auth.login_failed").collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    app.stop().await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_a_while() {
    let app = TestApp::spawn().await;
    let (_, email) = app.member(Role::Developer).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.login(&email, "wrong-password-1").await.1.status().as_u16());
    }
    assert_eq!(statuses, vec![422, 422, 422, 422, 429]);
    let (_, res) = app.login(&email, PASSWORD).await;
    assert_eq!(res.status(), 429, "even the right password waits out the lock");
    assert!(res.text().await.unwrap().contains("Try again in"));
    let locked = app.audit_actions().await.into_iter().filter(|(a, _, _)| a == "auth.login_locked").count();
    assert_eq!(locked, 2);
    app.stop().await;
}

#[tokio::test]
async fn logout_clears_the_cookie_and_is_audited() {
    let app = TestApp::spawn().await;
    let (client, _, email) = app.logged_in(Role::Tester).await;
    let res = client.post(app.url("/api/logout")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    let me = client.post(app.url("/api/me")).send().await.unwrap().text().await.unwrap();
    assert_eq!(me, "null", "no session after logout");
    assert!(app.audit_actions().await.iter().any(|(a, _, who)| a == "auth.logout" && *who == email));
    app.stop().await;
}

#[tokio::test]
async fn pages_send_anonymous_visitors_to_login_and_back() {
    let app = TestApp::spawn().await;
    let res = app.client().get(app.url("/audit?action=auth.")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/login?next=/audit%3Faction%3Dauth.");
    let res = app.client().get(app.url("/login")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("data-testid=\"login-form\""));
    app.stop().await;
}

#[tokio::test]
async fn roles_are_checked_on_the_server_for_pages_and_server_functions() {
    let app = TestApp::spawn().await;
    let (tester, _, _) = app.logged_in(Role::Tester).await;
    let res = tester.get(app.url("/admin/members")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("data-testid=\"forbidden\""));
    for path in ["/api/members", "/api/tokens", "/api/audit"] {
        let res = tester.post(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 403, "{path}");
        assert!(res.text().await.unwrap().contains("Forbidden"), "{path}");
    }
    let denied: Vec<String> = sqlx::query_scalar("select target from ops.audit_log where action = 'access.denied' and tenant_id = $1")
        .bind(app.tenant_id)
        .fetch_all(&app.owner)
        .await
        .unwrap();
    for what in ["manage members", "manage API tokens", "read the audit log"] {
        assert!(denied.iter().any(|t| t == what), "the refusal to {what} is audited: {denied:?}");
    }
    let (sysadmin, _, _) = app.logged_in(Role::Sysadmin).await;
    assert_eq!(sysadmin.post(app.url("/api/audit")).send().await.unwrap().status(), 200);
    assert_eq!(sysadmin.post(app.url("/api/members")).send().await.unwrap().status(), 403);
    for role in Role::ALL {
        let (client, _, _) = app.logged_in(role).await;
        let projects: serde_json::Value = client.post(app.url("/api/projects")).send().await.unwrap().json().await.unwrap();
        assert_eq!(projects[0]["slug"], "erp", "{role}");
        assert_eq!(projects[0]["environments"].as_array().unwrap().len(), 3, "{role}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_removed_member_loses_access_at_once() {
    let app = TestApp::spawn().await;
    let (client, user_id, _) = app.logged_in(Role::Developer).await;
    assert_eq!(client.post(app.url("/api/projects")).send().await.unwrap().status(), 200);
    sqlx::query("delete from ops.memberships where user_id = $1").bind(user_id).execute(&app.owner).await.unwrap();
    assert_eq!(client.post(app.url("/api/projects")).send().await.unwrap().status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_forged_or_foreign_session_cookie_is_refused() {
    let app = TestApp::spawn().await;
    let forged = "odooops_session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    let res = app.client().post(app.url("/api/projects")).header("cookie", forged).send().await.unwrap();
    assert_eq!(res.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn malformed_input_gets_a_clear_error_and_the_server_stays_up() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let cases: [(&str, &str); 4] = [
        ("/api/login", "%%%garbage"),
        ("/api/login", ""),
        ("/api/login", "email=a@b.c"),
        ("/api/login", "email=x&password=y&next=https://evil.example"),
    ];
    for (path, body) in cases {
        let res = client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!((400..500).contains(&status), "{path} {body:?} -> {status}");
    }
    let huge = "a".repeat(100_000);
    let res = client.post(app.url("/api/login")).form(&[("email", huge.as_str()), ("password", "x")]).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    app.stop().await;
}
