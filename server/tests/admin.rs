//! Admin screens' server functions: members and API tokens, each change audited.
mod common;

use app::models::Role;
use common::{TestApp, PASSWORD};

#[tokio::test]
async fn an_admin_adds_a_member_who_can_then_sign_in() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let form = [
        ("member[email]", "new.dev@example.com"),
        ("member[display_name]", "New Dev"),
        ("member[role]", "developer"),
        ("member[password]", "a-long-password-1"),
    ];
    let res = admin.post(app.url("/api/members/add")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let (_, res) = app.login("new.dev@example.com", "a-long-password-1").await;
    assert_eq!(res.status(), 200);
    let again = admin.post(app.url("/api/members/add")).form(&form).send().await.unwrap();
    assert_eq!(again.status(), 409, "a duplicate email is a conflict, not a crash");
    let bad = [("member[email]", "not-an-email"), ("member[display_name]", ""), ("member[role]", "developer"), ("member[password]", "a-long-password-1")];
    let res = admin.post(app.url("/api/members/add")).form(&bad).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Email"));
    let members: Vec<serde_json::Value> = admin.post(app.url("/api/members")).send().await.unwrap().json().await.unwrap();
    assert_eq!(members.len(), 2);
    assert!(app.audit_actions().await.iter().any(|(a, _, _)| a == "member.added"));
    app.stop().await;
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_but_others_can_change_roles() {
    let app = TestApp::spawn().await;
    let (admin, admin_id, _) = app.logged_in(Role::Admin).await;
    let res = admin.post(app.url("/api/members/role")).form(&[("user_id", admin_id.to_string().as_str()), ("role", "tester")]).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let (dev_id, dev_email) = app.member(Role::Developer).await;
    let res = admin.post(app.url("/api/members/role")).form(&[("user_id", dev_id.to_string().as_str()), ("role", "pm")]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (client, _) = app.login(&dev_email, PASSWORD).await;
    let me: serde_json::Value = client.post(app.url("/api/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "pm");
    let res = admin.post(app.url("/api/members/remove")).form(&[("user_id", dev_id.to_string().as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|(a, _, _)| a).collect();
    assert!(actions.contains(&"member.role_changed".to_string()) && actions.contains(&"member.removed".to_string()), "{actions:?}");
    app.stop().await;
}

#[tokio::test]
async fn api_tokens_are_shown_once_stored_hashed_scoped_and_revocable() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let form = [("token[name]", "CI"), ("token[role]", "developer"), ("token[project]", "erp"), ("token[expires_in_days]", "30")];
    let created: serde_json::Value = admin.post(app.url("/api/tokens/create")).form(&form).send().await.unwrap().json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("oops_"));
    let stored: Vec<String> = sqlx::query_scalar("select token_hash from ops.api_tokens").fetch_all(&app.owner).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token, "only a digest is stored");
    let listed = admin.post(app.url("/api/tokens")).send().await.unwrap().text().await.unwrap();
    assert!(!listed.contains(&token), "the list never shows the secret");

    let client = app.client();
    let who: serde_json::Value = client.get(app.url("/api/v1/whoami")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(who["tenant_id"], app.tenant_id.to_string());
    assert_eq!(who["role"], "developer");
    assert!(who["project_id"].is_string(), "scoped to the project");
    assert_eq!(client.get(app.url("/api/v1/whoami")).bearer_auth("oops_wrong").send().await.unwrap().status(), 401);
    assert_eq!(client.get(app.url("/api/v1/whoami")).send().await.unwrap().status(), 401);

    let id = created["row"]["id"].as_str().unwrap();
    let res = admin.post(app.url("/api/tokens/revoke")).form(&[("id", id)]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(client.get(app.url("/api/v1/whoami")).bearer_auth(&token).send().await.unwrap().status(), 401);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|(a, _, _)| a).collect();
    assert!(actions.contains(&"api_token.created".to_string()) && actions.contains(&"api_token.revoked".to_string()));
    let bad = [("token[name]", ""), ("token[role]", "developer"), ("token[project]", ""), ("token[expires_in_days]", "")];
    assert_eq!(admin.post(app.url("/api/tokens/create")).form(&bad).send().await.unwrap().status(), 422);
    app.stop().await;
}
