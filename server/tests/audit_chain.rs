//! The audit log's hash chain: every inserter is chained, concurrent writers leave no gap,
//! and edits, deletions and forged hashes are caught by the library, the CLI and the page's
//! server function.
mod common;

use app::db::audit::{insert, insert_many, AuditEntry};
use app::db::audit_chain::{link_hash, NO_TENANT_CHAIN, PAGE_QUERY};
use app::db::DbClaims;
use app::models::Role;
use common::TestApp;
use odooops::audit_verify::verify_one;
use uuid::Uuid;

/// Appends one row through the request role, as `Session::audit` does.
async fn app_insert(app: &TestApp, action: &str, n: usize) {
    let claims = DbClaims { sub: Uuid::new_v4(), tenant_id: app.tenant_id, role: Role::Admin };
    let mut tx = app.services_db().tenant_tx(&claims).await.unwrap();
    let details = serde_json::json!({"n": n});
    let entry = AuditEntry { actor_id: None, actor_email: "app@example.com", action, target: "t", details, request_id: "rid", ip: "127.0.0.1" };
    insert(&mut tx, &entry).await.unwrap();
    tx.commit().await.unwrap();
}

/// Runs `sql` as the owner with the append-only trigger off, as an attacker would.
async fn tamper(app: &TestApp, sql: &'static str, id: i64) {
    let mut tx = app.owner.begin().await.unwrap();
    sqlx::query("alter table ops.audit_log disable trigger audit_log_append_only").execute(&mut *tx).await.unwrap();
    let done = sqlx::query(sql).bind(id).execute(&mut *tx).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
    sqlx::query("alter table ops.audit_log enable trigger audit_log_append_only").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// Ids of the tenant's rows in chain order.
async fn chain_ids(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("select id from ops.audit_log where tenant_id = $1 order by seq").bind(app.tenant_id).fetch_all(&app.owner).await.unwrap()
}

#[tokio::test]
async fn rows_from_the_request_role_the_owner_and_the_login_function_are_all_chained() {
    let app = TestApp::spawn().await;
    app.logged_in(Role::Admin).await; // member.added by the owner (CLI path), auth.login_succeeded by the definer fn
    app_insert(&app, "test.from_app", 1).await;
    let (_, res) = app.login("nobody@example.com", "wrong-password-1").await; // no tenant: the nil chain
    assert_eq!(res.status(), 422);

    let rows: Vec<(String, i64)> = sqlx::query_as("select action, seq from ops.audit_log where tenant_id = $1 order by seq")
        .bind(app.tenant_id)
        .fetch_all(&app.owner)
        .await
        .unwrap();
    let actions: Vec<&str> = rows.iter().map(|(a, _)| a.as_str()).collect();
    for wanted in ["project.created", "member.added", "auth.login_succeeded", "test.from_app"] {
        assert!(actions.contains(&wanted), "{wanted} missing from {actions:?}");
    }
    let seqs: Vec<i64> = rows.iter().map(|(_, s)| *s).collect();
    assert_eq!(seqs, (1..=rows.len() as i64).collect::<Vec<_>>());

    let report = verify_one(&app.owner, app.tenant_id).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.rows_checked, rows.len() as u64);
    let stored: Vec<u8> = sqlx::query_scalar("select hash from ops.audit_log where tenant_id = $1 order by seq desc limit 1")
        .bind(app.tenant_id)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(report.head_hash, hex::encode(stored));

    let nil = verify_one(&app.owner, NO_TENANT_CHAIN).await.unwrap();
    assert!(nil.is_intact() && nil.rows_checked >= 1, "{nil:?}");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_writers_of_one_tenant_leave_a_gapless_chain() {
    let app = TestApp::spawn().await;
    let before = chain_ids(&app).await.len();
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let db = app.services_db();
            let tenant_id = app.tenant_id;
            tokio::spawn(async move {
                for i in 0..25 {
                    let claims = DbClaims { sub: Uuid::new_v4(), tenant_id, role: Role::Admin };
                    let mut tx = db.tenant_tx(&claims).await.unwrap();
                    let entry = AuditEntry { actor_id: None, actor_email: "", action: "test.concurrent", target: "", details: serde_json::json!({"w": w, "i": i}), request_id: "", ip: "" };
                    insert(&mut tx, &entry).await.unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let seqs: Vec<i64> = sqlx::query_scalar("select seq from ops.audit_log where tenant_id = $1 order by seq").bind(app.tenant_id).fetch_all(&app.owner).await.unwrap();
    assert_eq!(seqs.len(), before + 150);
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let report = verify_one(&app.owner, app.tenant_id).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.rows_checked, report.head_seq), (seqs.len() as u64, seqs.len() as i64));
    app.stop().await;
}

#[tokio::test]
async fn many_rows_in_one_transaction_and_one_statement_are_chained_in_order() {
    let app = TestApp::spawn().await;
    let mut tx = app.owner.begin().await.unwrap();
    sqlx::query("insert into ops.audit_log (tenant_id, action, details) select $1, 'test.bulk', jsonb_build_object('i', g) from generate_series(1, 300) g")
        .bind(app.tenant_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    for i in 0..200 {
        sqlx::query("insert into ops.audit_log (tenant_id, action, details) values ($1, 'test.loop', $2)").bind(app.tenant_id).bind(serde_json::json!({"i": i})).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let report = verify_one(&app.owner, app.tenant_id).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    let rows = chain_ids(&app).await.len();
    assert_eq!((report.rows_checked as usize, report.head_seq), (rows, rows as i64), "the head moved to the newest row at commit");
    // A rolled-back transaction leaves neither rows nor a moved head behind.
    let mut tx = app.owner.begin().await.unwrap();
    sqlx::query("insert into ops.audit_log (tenant_id, action) values ($1, 'test.rolled_back')").bind(app.tenant_id).execute(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    app_insert(&app, "test.after_rollback", 1).await;
    let report = verify_one(&app.owner, app.tenant_id).await.unwrap();
    assert!(report.is_intact() && report.head_seq == rows as i64 + 1, "{report:?}");
    app.stop().await;
}

#[tokio::test]
async fn batches_from_the_request_role_keep_their_order_beside_single_row_writers() {
    let app = TestApp::spawn().await;
    let before = chain_ids(&app).await.len();
    let single = {
        let db = app.services_db();
        let tenant_id = app.tenant_id;
        tokio::spawn(async move {
            for i in 0..40 {
                let claims = DbClaims { sub: Uuid::new_v4(), tenant_id, role: Role::Developer };
                let mut tx = db.tenant_tx(&claims).await.unwrap();
                let entry = AuditEntry { actor_id: None, actor_email: "", action: "test.single", target: "", details: serde_json::json!({"i": i}), request_id: "", ip: "" };
                insert(&mut tx, &entry).await.unwrap();
                tx.commit().await.unwrap();
            }
        })
    };
    let claims = DbClaims { sub: Uuid::new_v4(), tenant_id: app.tenant_id, role: Role::Developer };
    for b in 0..8 {
        let details: Vec<serde_json::Value> = (0..25).map(|i| serde_json::json!({"b": b, "i": i})).collect();
        let entries: Vec<AuditEntry<'_>> = details
            .iter()
            .map(|d| AuditEntry { actor_id: None, actor_email: "batch@example.com", action: "test.batch", target: "t", details: d.clone(), request_id: "rid", ip: "127.0.0.1" })
            .collect();
        let mut tx = app.services_db().tenant_tx(&claims).await.unwrap();
        insert_many(&mut tx, &entries).await.unwrap();
        tx.commit().await.unwrap();
    }
    single.await.unwrap();
    let batch: Vec<(i64, i64, i64)> = sqlx::query_as(
        "select seq, (details->>'b')::bigint, (details->>'i')::bigint from ops.audit_log where tenant_id = $1 and action = 'test.batch' order by seq",
    )
    .bind(app.tenant_id)
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(batch.len(), 200);
    let order: Vec<(i64, i64)> = batch.iter().map(|r| (r.1, r.2)).collect();
    assert_eq!(order, (0..8).flat_map(|b| (0..25).map(move |i| (b, i))).collect::<Vec<_>>(), "rows in the order given");
    for w in batch.chunks(25) {
        assert_eq!(w[24].0 - w[0].0, 24, "one batch is one unbroken run of the chain");
    }
    let seqs: Vec<i64> = sqlx::query_scalar("select seq from ops.audit_log where tenant_id = $1 order by seq").bind(app.tenant_id).fetch_all(&app.owner).await.unwrap();
    assert_eq!(seqs.len(), before + 240);
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let report = verify_one(&app.owner, app.tenant_id).await.unwrap();
    assert!(report.is_intact() && report.head_seq == seqs.len() as i64, "{report:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_request_roles_walk_reads_pages_through_the_chain_index() {
    let app = TestApp::spawn().await;
    let claims = DbClaims { sub: Uuid::new_v4(), tenant_id: app.tenant_id, role: Role::Admin };
    let mut tx = app.services_db().tenant_tx(&claims).await.unwrap();
    // Without it a table this small is read whole whatever the indexes.
    sqlx::query("set local enable_seqscan = off").execute(&mut *tx).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("explain {PAGE_QUERY}")))
        .bind(app.tenant_id)
        .bind(0_i64)
        .bind(i64::MAX)
        .bind(2000_i64)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("audit_log_chain_key_seq_idx") && !plan.contains("Sort"), "under RLS the page query must use the index:\n{plan}");
    app.stop().await;
}

#[tokio::test]
async fn an_owner_edit_of_one_row_is_reported_at_that_row() {
    let app = TestApp::spawn().await;
    for n in 0..5 {
        app_insert(&app, "test.row", n).await;
    }
    assert!(verify_one(&app.owner, app.tenant_id).await.unwrap().is_intact());
    let ids = chain_ids(&app).await;
    let victim = ids[ids.len() - 3];
    tamper(&app, "update ops.audit_log set details = '{\"n\": 99}' where id = $1", victim).await;

    let report = verify_one(&app.owner, app.tenant_id).await.unwrap();
    let b = report.first_break.expect("the edit is found");
    assert_eq!(b.audit_id, Some(victim));
    assert_eq!(b.action.as_deref(), Some("test.row"));
    assert!(b.reason.contains("edited"), "{}", b.reason);
    assert_eq!(report.rows_checked as usize, ids.len() - 2, "the walk stops at the first break");
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_row_is_reported_at_the_row_after_it() {
    let app = TestApp::spawn().await;
    for n in 0..4 {
        app_insert(&app, "test.row", n).await;
    }
    let ids = chain_ids(&app).await;
    let (gone, next) = (ids[ids.len() - 2], ids[ids.len() - 1]);
    tamper(&app, "delete from ops.audit_log where id = $1", gone).await;
    let b = verify_one(&app.owner, app.tenant_id).await.unwrap().first_break.expect("the deletion is found");
    assert_eq!(b.audit_id, Some(next));
    assert!(b.reason.contains("link broken") && b.reason.contains("deleted"), "{}", b.reason);

    // Deleting the newest row leaves the head ahead of the log.
    tamper(&app, "delete from ops.audit_log where id = $1", next).await;
    let b = verify_one(&app.owner, app.tenant_id).await.unwrap().first_break.expect("the tail deletion is found");
    assert_eq!(b.audit_id, None);
    assert!(b.reason.contains("newest rows are missing"), "{}", b.reason);
    app.stop().await;
}

#[tokio::test]
async fn forged_seq_and_hash_values_are_overwritten() {
    let app = TestApp::spawn().await;
    let forged = vec![0xab_u8; 32];
    let (seq, hash, prev): (i64, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "insert into ops.audit_log (tenant_id, action, seq, prev_hash, hash) values ($1, 'test.forged', 999, $2, $2)
         returning seq, hash, prev_hash",
    )
    .bind(app.tenant_id)
    .bind(&forged)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(seq, chain_ids(&app).await.len() as i64);
    assert_ne!(hash, forged);
    assert_ne!(prev, forged);
    assert!(verify_one(&app.owner, app.tenant_id).await.unwrap().is_intact());
    app.stop().await;
}

#[tokio::test]
async fn the_canonical_text_and_hash_of_a_row_are_stable() {
    let app = TestApp::spawn().await;
    // A fixed row value pins the format: changing it would orphan every stored hash.
    let fixed = "select ops.audit_canonical(row(7, '11111111-2222-3333-4444-555555555555', null, 'a@example.com', 'member.added',
                   'b@example.com', '{\"role\": \"pm\", \"q\": \"\\\"x\\\"\"}', 'req-1', '10.0.0.1',
                   '2026-01-02 03:04:05.123456+00', 3, null, null, null)::ops.audit_log)";
    let mut conn = app.owner.acquire().await.unwrap();
    let utc: String = sqlx::query_scalar(fixed).fetch_one(&mut *conn).await.unwrap();
    sqlx::query("set timezone = 'Asia/Tokyo'").execute(&mut *conn).await.unwrap();
    let tokyo: String = sqlx::query_scalar(fixed).fetch_one(&mut *conn).await.unwrap();
    assert_eq!(utc, tokyo, "the session time zone does not matter");
    assert_eq!(
        utc,
        r#"["audit.v1", 7, "11111111-2222-3333-4444-555555555555", null, "a@example.com", "member.added", "b@example.com", {"q": "\"x\"", "role": "pm"}, "req-1", "10.0.0.1", "2026-01-02T03:04:05.123456Z", 3]"#
    );
    // Rust and PostgreSQL agree on the hash, and a stored row hashes the same every time.
    let sql_hash: Vec<u8> = sqlx::query_scalar("select sha256(decode(repeat('00', 32), 'hex') || convert_to($1, 'UTF8'))").bind(&utc).fetch_one(&mut *conn).await.unwrap();
    assert_eq!(sql_hash, link_hash(&[0; 32], &utc).to_vec());
    let (prev, canonical, stored): (Vec<u8>, String, Vec<u8>) =
        sqlx::query_as("select prev_hash, ops.audit_canonical(a), hash from ops.audit_log a where tenant_id = $1 order by seq limit 1")
            .bind(app.tenant_id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(link_hash(&prev, &canonical).to_vec(), stored);
    drop(conn);
    app.stop().await;
}

/// `odooops audit verify` as an operator runs it; returns (exit code, stdout + stderr).
async fn cli(app: &TestApp, args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_odooops"))
        .args(["audit", "verify"])
        .args(args)
        .env("DATABASE_URL", &app.db_url)
        .env("ODOOOPS_LOG_FORMAT", "text")
        .env("ODOOOPS_DATA_DIR", &app.data_dir)
        .output()
        .await
        .expect("run odooops");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn the_cli_exits_zero_on_a_clean_log_and_non_zero_after_tampering() {
    let app = TestApp::spawn().await;
    app_insert(&app, "test.row", 1).await;
    app_insert(&app, "test.row", 2).await;
    let (code, out) = cli(&app, &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tenant acme:") && out.contains("records without a tenant:") && out.contains(": OK"), "{out}");
    let head: Vec<u8> = sqlx::query_scalar("select hash from ops.audit_chain_heads where chain_key = $1").bind(app.tenant_id).fetch_one(&app.owner).await.unwrap();
    assert!(out.contains(&hex::encode(head)), "the head hash is printed: {out}");

    let victim = chain_ids(&app).await[1];
    tamper(&app, "update ops.audit_log set target = 'someone else' where id = $1", victim).await;
    let (code, out) = cli(&app, &["--tenant", "acme"]).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("BROKEN at seq 2") && out.contains(&format!("audit id {victim}")) && out.contains("edited"), "{out}");

    let (code, out) = cli(&app, &["--tenant", "no-such-tenant"]).await;
    assert_ne!(code, 0);
    assert!(out.contains("no tenant \"no-such-tenant\""), "{out}");
    app.stop().await;
}

#[tokio::test]
async fn admins_verify_through_the_server_function_and_others_get_403() {
    let app = TestApp::spawn().await;
    for role in [Role::Tester, Role::Developer, Role::Sysadmin] {
        let (client, _, _) = app.logged_in(role).await;
        let res = client.post(app.url("/api/audit-verify")).send().await.unwrap();
        assert_eq!(res.status(), 403, "{role:?}");
    }
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let res = admin.post(app.url("/api/audit-verify")).header("accept", "application/json").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let report: serde_json::Value = res.json().await.unwrap();
    assert_eq!(report["first_break"], serde_json::Value::Null, "{report}");
    assert!(report["rows_checked"].as_u64().unwrap() > 3, "{report}");
    assert_eq!(report["head_hash"].as_str().unwrap().len(), 64);
    let details: serde_json::Value = sqlx::query_scalar("select details from ops.audit_log where action = 'audit.verified' and tenant_id = $1")
        .bind(app.tenant_id)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(details["intact"], true);

    let victim = chain_ids(&app).await[2];
    tamper(&app, "update ops.audit_log set actor_email = 'ghost@example.com' where id = $1", victim).await;
    let report: serde_json::Value = admin.post(app.url("/api/audit-verify")).send().await.unwrap().json().await.unwrap();
    assert_eq!(report["first_break"]["audit_id"], victim, "{report}");
    assert_eq!(report["first_break"]["seq"], 3, "{report}");
    app.stop().await;
}
