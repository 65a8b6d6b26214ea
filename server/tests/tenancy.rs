//! Tenant isolation is enforced by PostgreSQL (RLS), not by the Rust code's `where` clauses.
mod common;

use app::db::{set_claims, DbClaims};
use app::models::Role;
use common::TestApp;
use uuid::Uuid;

async fn other_tenant(app: &TestApp) -> Uuid {
    let mut conn = app.owner.acquire().await.unwrap();
    let t = odooops::admin::ensure_tenant(&mut conn, "globex", "Globex").await.unwrap();
    odooops::admin::create_project_in(&mut conn, t, "secret-project", "Globex Secret", "").await.unwrap();
    t
}

fn claims(tenant_id: Uuid) -> DbClaims {
    DbClaims { sub: Uuid::new_v4(), tenant_id, role: Role::Admin }
}

#[tokio::test]
async fn another_tenants_rows_are_invisible_even_without_a_where() {
    let app = TestApp::spawn().await;
    let globex = other_tenant(&app).await;
    let mut tx = app.app_pool.begin().await.unwrap();
    set_claims(&mut tx, &claims(app.tenant_id)).await.unwrap();
    let slugs: Vec<String> = sqlx::query_scalar("select slug from ops.projects order by slug").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(slugs, vec!["erp".to_string()]);
    let envs: i64 = sqlx::query_scalar("select count(*) from ops.environments").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(envs, 3, "only acme's three environments");
    let tenants: Vec<Uuid> = sqlx::query_scalar("select id from ops.tenants").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(tenants, vec![app.tenant_id]);
    let hidden: i64 = sqlx::query_scalar("select count(*) from ops.projects where tenant_id = $1").bind(globex).fetch_one(&mut *tx).await.unwrap();
    assert_eq!(hidden, 0);
    tx.rollback().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn writing_into_another_tenant_fails() {
    let app = TestApp::spawn().await;
    let globex = other_tenant(&app).await;
    let mut tx = app.app_pool.begin().await.unwrap();
    set_claims(&mut tx, &claims(app.tenant_id)).await.unwrap();
    let insert = sqlx::query("insert into ops.projects (tenant_id, slug, name) values ($1, 'planted', 'Planted')")
        .bind(globex)
        .execute(&mut *tx)
        .await;
    let err = insert.expect_err("insert into another tenant must fail").to_string();
    assert!(err.contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();

    let mut tx = app.app_pool.begin().await.unwrap();
    set_claims(&mut tx, &claims(app.tenant_id)).await.unwrap();
    let updated = sqlx::query("update ops.projects set name = 'pwned'").execute(&mut *tx).await.unwrap();
    assert_eq!(updated.rows_affected(), 1, "only acme's own project is reachable");
    // Moving an own row into another tenant is refused too.
    let moved = sqlx::query("update ops.projects set tenant_id = $1").bind(globex).execute(&mut *tx).await;
    assert!(moved.is_err());
    tx.rollback().await.unwrap();

    let name: String = sqlx::query_scalar("select name from ops.projects where tenant_id = $1").bind(globex).fetch_one(&app.owner).await.unwrap();
    assert_eq!(name, "Globex Secret");
    app.stop().await;
}

#[tokio::test]
async fn without_claims_nothing_is_visible() {
    let app = TestApp::spawn().await;
    let mut conn = app.app_pool.acquire().await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from ops.projects").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(n, 0);
    let garbage = sqlx::query("select set_config('request.jwt.claims', 'not json', false)").execute(&mut *conn).await;
    assert!(garbage.is_ok());
    let n: i64 = sqlx::query_scalar("select count(*) from ops.users").fetch_one(&mut *conn).await.unwrap_or(0);
    assert_eq!(n, 0, "malformed claims see nothing");
    app.stop().await;
}

#[tokio::test]
async fn the_request_role_is_not_the_owner_and_cannot_rewrite_the_audit_log() {
    let app = TestApp::spawn().await;
    let (role, bypass): (String, bool) = sqlx::query_as("select current_user::text, rolbypassrls or rolsuper from pg_roles where rolname = current_user")
        .fetch_one(&app.app_pool)
        .await
        .unwrap();
    assert_eq!(role, "odooops_app");
    assert!(!bypass);
    let mut tx = app.app_pool.begin().await.unwrap();
    set_claims(&mut tx, &claims(app.tenant_id)).await.unwrap();
    sqlx::query("insert into ops.audit_log (tenant_id, action) values ($1, 'test.appended')").bind(app.tenant_id).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    for stmt in ["update ops.audit_log set action = 'test.rewritten'", "delete from ops.audit_log"] {
        let mut tx = app.app_pool.begin().await.unwrap();
        set_claims(&mut tx, &claims(app.tenant_id)).await.unwrap();
        let err = sqlx::query(stmt).execute(&mut *tx).await.expect_err(stmt).to_string();
        assert!(err.contains("permission denied"), "{stmt}: {err}");
    }
    // Not even the owner can edit a record.
    let err = sqlx::query("update ops.audit_log set action = 'test.rewritten'").execute(&app.owner).await.expect_err("owner update").to_string();
    assert!(err.contains("append-only"), "{err}");
    let actions: Vec<String> = sqlx::query_scalar("select action from ops.audit_log where action like 'test.%'").fetch_all(&app.owner).await.unwrap();
    assert_eq!(actions, vec!["test.appended".to_string()]);
    app.stop().await;
}

#[tokio::test]
async fn a_project_has_at_most_one_production_environment() {
    let app = TestApp::spawn().await;
    let err = sqlx::query(
        "insert into ops.environments (tenant_id, project_id, name, stage)
         select tenant_id, id, 'prod2', 'production' from ops.projects where slug = 'erp'",
    )
    .execute(&app.owner)
    .await
    .expect_err("second production")
    .to_string();
    assert!(err.contains("environments_one_production_per_project"), "{err}");
    app.stop().await;
}

#[tokio::test]
async fn a_row_cannot_point_at_another_tenants_project() {
    let app = TestApp::spawn().await;
    let globex = other_tenant(&app).await;
    let globex_project: Uuid = sqlx::query_scalar("select id from ops.projects where tenant_id = $1").bind(globex).fetch_one(&app.owner).await.unwrap();
    let mut tx = app.app_pool.begin().await.unwrap();
    set_claims(&mut tx, &claims(app.tenant_id)).await.unwrap();
    let err = sqlx::query("insert into ops.environments (tenant_id, project_id, name, stage) values ($1, $2, 'sneaky', 'development')")
        .bind(app.tenant_id)
        .bind(globex_project)
        .execute(&mut *tx)
        .await
        .expect_err("a foreign-tenant reference must fail")
        .to_string();
    assert!(err.contains("foreign key"), "{err}");
    app.stop().await;
}

#[tokio::test]
async fn password_hashes_are_not_readable_by_requests() {
    let app = TestApp::spawn().await;
    let (user_id, _) = app.member(Role::Admin).await;
    let mut tx = app.app_pool.begin().await.unwrap();
    set_claims(&mut tx, &DbClaims { sub: user_id, tenant_id: app.tenant_id, role: Role::Admin }).await.unwrap();
    let email: String = sqlx::query_scalar("select email from ops.users where id = $1").bind(user_id).fetch_one(&mut *tx).await.unwrap();
    assert!(email.ends_with("@example.com"));
    let err = sqlx::query("select password_hash from ops.users").fetch_all(&mut *tx).await.expect_err("hash hidden").to_string();
    assert!(err.contains("permission denied"), "{err}");
    app.stop().await;
}

#[tokio::test]
async fn claims_do_not_carry_over_to_the_next_transaction() {
    let app = TestApp::spawn().await;
    let mut conn = app.app_pool.acquire().await.unwrap();
    let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
    set_claims(&mut tx, &claims(app.tenant_id)).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from ops.projects").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(seen, 1);
    tx.commit().await.unwrap();
    let after: i64 = sqlx::query_scalar("select count(*) from ops.projects").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(after, 0, "the same pooled connection sees nothing once the transaction ended");
    app.stop().await;
}
