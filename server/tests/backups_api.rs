//! The backups server functions over HTTP, as each role: manual backups and their daily
//! limit, restores (the production one guarded by the typed project name, its refusals
//! audited), schedules and storage settings (the S3 secret is write-only). The backup engine
//! itself is tested in `backups.rs`; here rows that stand for its work are written directly.
mod common;

use app::models::{Role, Stage};
use common::mail::{call, env_id};
use common::TestApp;
use uuid::Uuid;

/// Gives every environment a database name (a backup needs one).
async fn with_databases(app: &TestApp) {
    sqlx::query("update ops.environments set database_name = 'erp_' || name where project_id = $1").bind(app.project_id).execute(&app.owner).await.unwrap();
}

/// A backup row the engine would have written and verified.
async fn good_backup(app: &TestApp, env: Uuid) -> Uuid {
    sqlx::query_scalar(
        "insert into ops.backups (tenant_id, project_id, environment_id, kind, state, storage, database_name, dump_bytes, dump_sha256,
                                  manifest_sha256, toc_entries, started_at, finished_at, verified_at)
         select tenant_id, project_id, id, 'manual', 'good', '{\"kind\":\"local\"}', database_name, 4096, repeat('a', 64),
                repeat('b', 64), 42, now() - interval '2 minutes', now() - interval '1 minute', now()
           from ops.environments where id = $1
         returning id",
    )
    .bind(env)
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

async fn actions(app: &TestApp) -> Vec<String> {
    app.audit_actions().await.into_iter().map(|a| a.0).collect()
}

async fn count(app: &TestApp, action: &str) -> usize {
    actions(app).await.iter().filter(|a| *a == action).count()
}

async fn restore(app: &TestApp, client: &reqwest::Client, backup: Uuid, target: Uuid, mode: &str, confirm: &str, reason: &str) -> (u16, serde_json::Value) {
    let (b, t) = (backup.to_string(), target.to_string());
    call(app, client, "restore-request", &[("backup_id", &b), ("target_env", &t), ("mode", mode), ("confirm", confirm), ("reason", reason)]).await
}

async fn call_json(app: &TestApp, client: &reqwest::Client, endpoint: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let res = client.post(app.url(&format!("/api/{endpoint}"))).header("accept", "application/json").json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

#[tokio::test]
async fn a_manual_backup_is_queued_listed_and_audited() {
    let app = TestApp::spawn().await;
    with_databases(&app).await;
    let staging = env_id(&app, Stage::Staging).await;
    let (admin, _, email) = app.logged_in(Role::Admin).await;
    let (status, body) = call(&app, &admin, "backup-create", &[("env_id", &staging.to_string()), ("reason", "before the upgrade")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["already_open"], false);
    let id = Uuid::parse_str(body["id"].as_str().unwrap()).unwrap();
    let (kind, by, reason): (String, String, String) =
        sqlx::query_as("select kind::text, requested_by_email, reason from ops.backups where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
    assert_eq!((kind.as_str(), by.as_str(), reason.as_str()), ("manual", email.as_str(), "before the upgrade"));
    assert!(actions(&app).await.iter().any(|a| a == "backup.requested"));

    // The overview lists it and counts it against the day's five.
    let (status, o) = call(&app, &admin, "backups", &[("slug", "erp")]).await;
    assert_eq!(status, 200, "{o}");
    assert!(o["backups"].as_array().unwrap().iter().any(|b| b["id"] == id.to_string()), "{o}");
    let env = o["environments"].as_array().unwrap().iter().find(|e| e["id"] == staging.to_string()).unwrap().clone();
    assert_eq!(env["manual_last_day"], 1);
    assert_eq!(o["can"]["backup"], true);
    assert_eq!(o["can"]["restore_production"], false, "admins do not restore production");

    // An environment without a database has nothing to back up.
    let dev = env_id(&app, Stage::Development).await;
    sqlx::query("update ops.environments set database_name = null where id = $1").bind(dev).execute(&app.owner).await.unwrap();
    let (status, body) = call(&app, &admin, "backup-create", &[("env_id", &dev.to_string())]).await;
    assert_eq!(status, 422, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_sixth_manual_backup_in_24_hours_is_refused_with_429_and_the_next_possible_time() {
    let app = TestApp::spawn().await;
    with_databases(&app).await;
    let staging = env_id(&app, Stage::Staging).await;
    // Five earlier manual backups today, the oldest 20 hours ago.
    for hours in [20, 10, 5, 2, 1] {
        sqlx::query(
            "insert into ops.backups (tenant_id, project_id, environment_id, kind, state, queued_at, finished_at, error)
             select tenant_id, project_id, id, 'manual', 'failed', now() - make_interval(hours => $2), now() - make_interval(hours => $2), 'test'
               from ops.environments where id = $1",
        )
        .bind(staging)
        .bind(hours)
        .execute(&app.owner)
        .await
        .unwrap();
    }
    let (sysadmin, _, _) = app.logged_in(Role::Sysadmin).await;
    let (status, body) = call(&app, &sysadmin, "backup-create", &[("env_id", &staging.to_string())]).await;
    assert_eq!(status, 429, "{body}");
    let next: String = sqlx::query_scalar("select to_char((min(queued_at) + interval '24 hours') at time zone 'UTC', 'YYYY-MM-DD HH24:MI') from ops.backups where environment_id = $1")
        .bind(staging)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let text = body.to_string();
    assert!(text.contains(&format!("5 manual backups in 24 hours: next possible at {next} UTC")), "{text}");
    assert_eq!(count(&app, "backup.requested").await, 0);
    // Another environment has its own five.
    let production = env_id(&app, Stage::Production).await;
    let (status, body) = call(&app, &sysadmin, "backup-create", &[("env_id", &production.to_string())]).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_production_restore_without_the_typed_project_name_is_refused_and_audited() {
    let app = TestApp::spawn().await;
    with_databases(&app).await;
    let production = env_id(&app, Stage::Production).await;
    let backup = good_backup(&app, production).await;
    let (sysadmin, _, _) = app.logged_in(Role::Sysadmin).await;

    let (status, body) = restore(&app, &sysadmin, backup, production, "production", "", "bad import").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("type the project name “Acme ERP” to confirm"), "{body}");
    assert_eq!(count(&app, "restore.production_refused").await, 1, "the refusal is kept although the request failed");

    let (status, body) = restore(&app, &sysadmin, backup, production, "production", "acme erp", "bad import").await;
    assert_eq!(status, 422, "a wrong name (case matters): {body}");
    let (status, body) = restore(&app, &sysadmin, backup, production, "production", "  Acme ERP  ", "   ").await;
    assert_eq!(status, 422, "no reason: {body}");
    assert!(body.to_string().contains("needs a reason"), "{body}");
    assert_eq!(count(&app, "restore.production_refused").await, 3);
    let details: Vec<serde_json::Value> = sqlx::query_scalar("select details from ops.audit_log where action = 'restore.production_refused' order by id")
        .fetch_all(&app.owner)
        .await
        .unwrap();
    assert_eq!(details[1]["typed"], "acme erp");
    assert_eq!(details[1]["target"], "production");
    let open: i64 = sqlx::query_scalar("select count(*) from ops.restores").fetch_one(&app.owner).await.unwrap();
    assert_eq!(open, 0, "nothing was queued");

    // Typed right (surrounding spaces do not matter), with a reason: queued and audited.
    let (status, body) = restore(&app, &sysadmin, backup, production, "production", "  Acme ERP ", "a faulty import corrupted invoices").await;
    assert_eq!(status, 200, "{body}");
    let id = Uuid::parse_str(body.as_str().unwrap()).unwrap();
    let (mode, reason): (String, String) = sqlx::query_as("select mode::text, reason from ops.restores where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
    assert_eq!((mode.as_str(), reason.as_str()), ("production", "a faulty import corrupted invoices"));
    let requested: serde_json::Value = sqlx::query_scalar("select details from ops.audit_log where action = 'restore.production_requested'").fetch_one(&app.owner).await.unwrap();
    assert_eq!(requested["reason"], "a faulty import corrupted invoices");
    assert_eq!(requested["backup_id"], backup.to_string());
    app.stop().await;
}

#[tokio::test]
async fn developers_and_testers_can_neither_back_up_nor_restore() {
    let app = TestApp::spawn().await;
    with_databases(&app).await;
    let (production, staging) = (env_id(&app, Stage::Production).await, env_id(&app, Stage::Staging).await);
    let backup = good_backup(&app, production).await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (status, o) = call(&app, &dev, "backups", &[("slug", "erp")]).await;
    assert_eq!(status, 200, "developers see backups: {o}");
    assert_eq!(o["can"], serde_json::json!({"backup": false, "restore_staging": false, "restore_production": false, "download": false, "manage": false}));
    let (status, _) = call(&app, &dev, "backup-create", &[("env_id", &staging.to_string())]).await;
    assert_eq!(status, 403);
    let (status, _) = restore(&app, &dev, backup, staging, "staging", "", "").await;
    assert_eq!(status, 403);

    let (tester, _, _) = app.logged_in(Role::Tester).await;
    for (endpoint, form) in [("backups", vec![("slug", "erp".to_string())]), ("backup-create", vec![("env_id", staging.to_string())])] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = call(&app, &tester, endpoint, &form).await;
        assert_eq!(status, 403, "{endpoint}: {body}");
    }
    let (status, _) = restore(&app, &tester, backup, staging, "staging", "", "").await;
    assert_eq!(status, 403);
    let queued: i64 = sqlx::query_scalar("select (select count(*) from ops.restores) + (select count(*) from ops.backups where kind = 'manual' and state = 'pending')")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(queued, 0);
    app.stop().await;
}

#[tokio::test]
async fn an_admin_restores_into_staging_but_not_into_production() {
    let app = TestApp::spawn().await;
    with_databases(&app).await;
    let (production, staging) = (env_id(&app, Stage::Production).await, env_id(&app, Stage::Staging).await);
    let backup = good_backup(&app, production).await;
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let (status, body) = restore(&app, &admin, backup, production, "production", "Acme ERP", "because").await;
    assert_eq!(status, 403, "{body}");
    // The staging mode checks the target's stage.
    let (status, body) = restore(&app, &admin, backup, production, "staging", "", "").await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = restore(&app, &admin, backup, staging, "staging", "", "try the new layout").await;
    assert_eq!(status, 200, "{body}");
    assert!(actions(&app).await.iter().any(|a| a == "restore.staging_requested"));
    // Only good backups are restored.
    let failed: Uuid = sqlx::query_scalar(
        "insert into ops.backups (tenant_id, project_id, environment_id, kind, state, error) select tenant_id, project_id, id, 'manual', 'failed', 'x'
           from ops.environments where id = $1 returning id",
    )
    .bind(production)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    let (status, body) = restore(&app, &admin, failed, staging, "staging", "", "").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("only good backups"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_target_with_an_open_restore_is_a_conflict_and_a_switching_restore_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    with_databases(&app).await;
    let (production, staging) = (env_id(&app, Stage::Production).await, env_id(&app, Stage::Staging).await);
    let backup = good_backup(&app, production).await;
    // A restore in its switch (no heartbeat: no worker takes it over).
    let switching: Uuid = sqlx::query_scalar(
        "insert into ops.restores (tenant_id, project_id, backup_id, target_environment_id, mode, state, started_at)
         select tenant_id, project_id, $1, $2, 'staging', 'switching', now() from ops.backups where id = $1 returning id",
    )
    .bind(backup)
    .bind(staging)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    let (sysadmin, _, _) = app.logged_in(Role::Sysadmin).await;
    let (status, body) = restore(&app, &sysadmin, backup, staging, "staging", "", "").await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("already has a restore in progress"), "{body}");
    let (status, body) = call(&app, &sysadmin, "restore-cancel", &[("id", &switching.to_string())]).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("can no longer be cancelled"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_schedule_with_a_bad_cron_or_time_zone_is_refused_with_a_clear_message() {
    let app = TestApp::spawn().await;
    let production = env_id(&app, Stage::Production).await;
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    let save = |cron: &'static str, tz: &'static str, daily: &'static str| {
        let (admin, app) = (&admin, &app);
        async move {
            let env = production.to_string();
            call(app, admin, "backup-schedule-save", &[("env_id", &env), ("cron", cron), ("time_zone", tz), ("enabled", "true"), ("keep_daily", daily), ("keep_weekly", "4"), ("keep_monthly", "3")])
                .await
        }
    };
    let (status, body) = save("61 2 * * *", "Europe/Brussels", "7").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("schedule:"), "{body}");
    let (status, body) = save("0 2 * * *", "Mars/Olympus", "7").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("Mars/Olympus"), "{body}");
    let (status, body) = save("0 2 * * *", "Europe/Brussels", "0").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("daily backups to keep"), "{body}");
    assert_eq!(count(&app, "backup.schedule_changed").await, 0);

    let (status, body) = save("30 22 * * 1-5", "Europe/Brussels", "10").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cron"], "30 22 * * 1-5");
    assert!(body["next_run_at"].is_string(), "{body}");
    let details: serde_json::Value = sqlx::query_scalar("select details from ops.audit_log where action = 'backup.schedule_changed'").fetch_one(&app.owner).await.unwrap();
    assert_eq!(details["after"]["keep_daily"], 10);
    let (_, o) = call(&app, &admin, "backups", &[("slug", "erp")]).await;
    let env = o["environments"].as_array().unwrap().iter().find(|e| e["id"] == production.to_string()).unwrap().clone();
    assert!(env["schedule_text"].as_str().unwrap().contains("Europe/Brussels"), "{env}");

    // Developers cannot change it.
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (status, _) = call(&app, &dev, "backup-schedule-save", &[("env_id", &production.to_string()), ("cron", "0 1 * * *"), ("time_zone", "UTC"), ("enabled", "true"), ("keep_daily", "7"), ("keep_weekly", "4"), ("keep_monthly", "3")]).await;
    assert_eq!(status, 403);
    app.stop().await;
}

#[tokio::test]
async fn the_s3_secret_is_write_only_never_returned_nor_audited() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = app.logged_in(Role::Admin).await;
    const SECRET: &str = "wJalrXUtnFEMI-very-secret-key";
    let s3 = serde_json::json!({"kind": "s3", "bucket": "odoo-backups", "prefix": "acme", "endpoint": "http://127.0.0.1:9000",
                                "region": "us-east-1", "allow_http": true, "access_key_id": "AKIATEST"});
    // An access key id without a secret is refused; so are bad buckets and levels.
    let (status, body) = call_json(&app, &admin, "backup-storage-save", serde_json::json!({"slug": "erp", "storage": s3, "compression": 1, "time_zone": "UTC"})).await;
    assert_eq!(status, 422, "{body}");
    let mut bad = s3.clone();
    bad["bucket"] = "Bad_Bucket".into();
    let (status, body) = call_json(&app, &admin, "backup-storage-save", serde_json::json!({"slug": "erp", "storage": bad, "secret": SECRET, "compression": 1, "time_zone": "UTC"})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("bucket"), "{body}");
    let (status, _) = call_json(&app, &admin, "backup-storage-save", serde_json::json!({"slug": "erp", "storage": s3, "secret": SECRET, "compression": 12, "time_zone": "UTC"})).await;
    assert_eq!(status, 422);

    let (status, body) =
        call_json(&app, &admin, "backup-storage-save", serde_json::json!({"slug": "erp", "storage": s3, "secret": SECRET, "compression": 6, "time_zone": "Europe/Brussels"})).await;
    assert_eq!(status, 200, "{body}");
    let stored: String = sqlx::query_scalar("select backup_s3_secret from ops.projects where id = $1").bind(app.project_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!(stored, SECRET);
    let (status, o) = call(&app, &admin, "backups", &[("slug", "erp")]).await;
    assert_eq!(status, 200);
    assert!(!o.to_string().contains(SECRET), "the overview never carries the secret");
    assert_eq!(o["s3_secret_set"], true);
    assert_eq!(o["storage"]["bucket"], "odoo-backups");
    assert_eq!(o["compression"], 6);
    assert_eq!(o["time_zone"], "Europe/Brussels");

    // Saved again without a secret: the stored one is kept.
    let (status, _) = call_json(&app, &admin, "backup-storage-save", serde_json::json!({"slug": "erp", "storage": s3, "compression": 6, "time_zone": "Europe/Brussels"})).await;
    assert_eq!(status, 200);
    let stored: String = sqlx::query_scalar("select backup_s3_secret from ops.projects where id = $1").bind(app.project_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!(stored, SECRET);
    let audits: Vec<String> = sqlx::query_scalar("select details::text from ops.audit_log where action = 'backup.storage_changed' order by id").fetch_all(&app.owner).await.unwrap();
    assert_eq!(audits.len(), 2);
    assert!(audits.iter().all(|d| !d.contains(SECRET)), "{audits:?}");
    let changed: Vec<bool> = audits.iter().map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap()["secret_changed"].as_bool().unwrap()).collect();
    assert_eq!(changed, [true, false]);
    app.stop().await;
}

#[tokio::test]
async fn a_data_directory_must_be_an_absolute_path() {
    let app = TestApp::spawn().await;
    let staging = env_id(&app, Stage::Staging).await;
    let (sysadmin, _, _) = app.logged_in(Role::Sysadmin).await;
    for bad in ["var/lib/odoo", "/var/lib/../etc"] {
        let (status, body) = call(&app, &sysadmin, "environment-data-dir-save", &[("env_id", &staging.to_string()), ("data_dir", bad)]).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, body) = call(&app, &sysadmin, "environment-data-dir-save", &[("env_id", &staging.to_string()), ("data_dir", " /var/lib/odoo-staging ")]).await;
    assert_eq!(status, 200, "{body}");
    let dir: Option<String> = sqlx::query_scalar("select data_dir from ops.environments where id = $1").bind(staging).fetch_one(&app.owner).await.unwrap();
    assert_eq!(dir.as_deref(), Some("/var/lib/odoo-staging"));
    let details: serde_json::Value = sqlx::query_scalar("select details from ops.audit_log where action = 'backup.data_dir_changed'").fetch_one(&app.owner).await.unwrap();
    assert_eq!(details["after"], "/var/lib/odoo-staging");
    app.stop().await;
}
