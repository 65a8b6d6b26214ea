//! Backups and restores on a real PostgreSQL with real `pg_dump`/`pg_restore`: a scheduled
//! backup is taken, verified and listed; a staging restore reproduces the user tables with
//! secrets neutralized; a production restore takes a safety backup first; a console killed
//! mid-backup leaves nothing good and its leftovers are cleaned; retention over a year.
mod common;

use app::models::{BackupKind, BackupState, RestoreMode, Role, Stage};
use chrono::{DateTime, TimeZone, Utc};
use common::builds::wait_until;
use common::{cluster_url, with_db, TestApp};
use odooops::backups::{job, scheduler, BackupContext};
use odooops::neutralize::sample::{load_sample, SAMPLE_SECRETS};
use odooops::promotions::system_claims;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(90);

fn ctx(app: &TestApp) -> BackupContext {
    app.services.backups.clone().expect("the console runs backups")
}

/// A database on the test cluster with the Odoo-like sample and `rows` invoice lines.
async fn source_db(rows: i64) -> (String, String) {
    let name = format!("t_bk_{}", &Uuid::new_v4().simple().to_string()[..12]);
    let mut admin = PgConnection::connect(&cluster_url()).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}"))).execute(&mut admin).await.unwrap();
    let url = with_db(&cluster_url(), &name);
    load_sample(&url).await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "create table account_move_line (id bigint primary key, partner_id int, name text, amount numeric(12,2), create_date timestamptz);
         insert into account_move_line select g, g % 997, md5(g::text) || ' ' || md5((g * 7)::text), (g % 100000) / 100.0,
                '2026-01-01'::timestamptz + g * interval '1 second' from generate_series(1, {rows}) g;
         create index on account_move_line (partner_id);"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    (name, url)
}

/// An Odoo data directory with a file store for `database`: a few files in two levels.
fn data_dir_with_files(database: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("odooops-bk-data-{}", Uuid::new_v4().simple()));
    let fs = dir.join("filestore").join(database);
    for (i, sub) in ["0a", "0b", "ff"].iter().enumerate() {
        std::fs::create_dir_all(fs.join(sub)).unwrap();
        for j in 0..4 {
            let body: Vec<u8> = (0..(5_000 * (i + j + 1))).map(|k| ((k * 31 + i * 7 + j) % 251) as u8).collect();
            std::fs::write(fs.join(sub).join(format!("{:040x}", i * 10 + j)), body).unwrap();
        }
    }
    dir
}

/// Every file under `dir` with its content, by relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

async fn env_id(app: &TestApp, stage: Stage) -> Uuid {
    sqlx::query_scalar("select id from ops.environments where project_id = $1 and stage = $2").bind(app.project_id).bind(stage).fetch_one(&app.owner).await.unwrap()
}

async fn set_env(app: &TestApp, env: Uuid, database: &str, data_dir: Option<&Path>) {
    sqlx::query("update ops.environments set database_name = $2, data_dir = $3 where id = $1")
        .bind(env)
        .bind(database)
        .bind(data_dir.map(|d| d.to_string_lossy().into_owned()))
        .execute(&app.owner)
        .await
        .unwrap();
}

/// Row count and an order-independent checksum of every user table.
async fn table_sums(url: &str) -> BTreeMap<String, (i64, String)> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar("select quote_ident(schemaname) || '.' || quote_ident(tablename) from pg_tables where schemaname not in ('pg_catalog', 'information_schema') order by 1")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let row: (i64, Option<String>) = sqlx::query_as(sqlx::AssertSqlSafe(format!("select count(*), md5(string_agg(x::text, '|' order by x::text)) from {t} x")))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        out.insert(t, (row.0, row.1.unwrap_or_default()));
    }
    out
}

/// Every row of every user table as text.
async fn all_text(url: &str) -> String {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar("select quote_ident(schemaname) || '.' || quote_ident(tablename) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let mut out = String::new();
    for t in tables {
        let rows: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select string_agg(x::text, ' ') from {t} x"))).fetch_one(&mut conn).await.unwrap();
        out.push_str(&rows.unwrap_or_default());
    }
    out
}

async fn state_of(app: &TestApp, id: Uuid) -> (BackupState, String) {
    sqlx::query_as("select state, error from ops.backups where id = $1").bind(id).fetch_one(&app.owner).await.unwrap()
}

async fn wait_backup(app: &TestApp, id: Uuid) -> BackupState {
    let until = std::time::Instant::now() + WAIT;
    loop {
        let (state, error) = state_of(app, id).await;
        if !state.is_open() {
            assert_eq!(state, BackupState::Good, "backup ended {state}: {error}");
            return state;
        }
        assert!(std::time::Instant::now() < until, "backup still {state} after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn queue_backup(app: &TestApp, env: Uuid) -> Uuid {
    let mut tx = app.services_db().tenant_tx(&system_claims(app.tenant_id)).await.unwrap();
    let id = app::db::backups::insert(&mut tx, app.project_id, env, BackupKind::Manual, None, "tester@example.com", "test").await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn wait_restore(app: &TestApp, id: Uuid) -> (String, String) {
    let until = std::time::Instant::now() + WAIT;
    loop {
        let (state, error): (String, String) = sqlx::query_as("select state::text, error from ops.restores where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
        if ["succeeded", "failed", "cancelled"].contains(&state.as_str()) {
            return (state, error);
        }
        assert!(std::time::Instant::now() < until, "restore still {state} after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_scheduled_backup_runs_is_verified_and_listed() {
    let app = TestApp::spawn().await;
    let (db, _) = source_db(20_000).await;
    let data = data_dir_with_files(&db);
    let prod = env_id(&app, Stage::Production).await;
    set_env(&app, prod, &db, Some(&data)).await;
    let ctx = ctx(&app);
    // Production gets its default schedule (daily at 02:00) from the scheduler.
    scheduler::tick(&ctx, Utc::now()).await.unwrap();
    let (cron, enabled, next): (String, bool, Option<DateTime<Utc>>) =
        sqlx::query_as("select cron, enabled, next_run_at from ops.backup_schedules where environment_id = $1").bind(prod).fetch_one(&app.owner).await.unwrap();
    assert_eq!((cron.as_str(), enabled), ("0 2 * * *", true));
    assert!(next.is_some_and(|n| n > Utc::now()), "the next run is in the future: {next:?}");
    // Its slot comes due.
    let slot = Utc::now() - chrono::Duration::minutes(1);
    sqlx::query("update ops.backup_schedules set next_run_at = $2 where environment_id = $1").bind(prod).bind(slot).execute(&app.owner).await.unwrap();
    assert_eq!(scheduler::tick(&ctx, Utc::now()).await.unwrap(), 1);
    assert_eq!(scheduler::tick(&ctx, Utc::now()).await.unwrap(), 0, "a slot is queued once");
    let id: Uuid = sqlx::query_scalar("select id from ops.backups where environment_id = $1 and kind = 'scheduled'").bind(prod).fetch_one(&app.owner).await.unwrap();
    wait_backup(&app, id).await;

    // Listed (through the request-side repository, under RLS) with what was verified.
    let mut tx = app.services_db().tenant_tx(&system_claims(app.tenant_id)).await.unwrap();
    let list = app::db::backups::list(&mut tx, app.project_id, None, false, 50).await.unwrap();
    tx.commit().await.unwrap();
    let row = list.iter().find(|b| b.id == id).expect("the backup is listed");
    assert_eq!((row.kind, row.state, row.scheduled_for.map(|s| s.timestamp())), (BackupKind::Scheduled, BackupState::Good, Some(slot.timestamp())));
    assert!(row.toc_entries.unwrap_or(0) > 5, "the TOC was read: {:?}", row.toc_entries);
    assert_eq!(row.files_count, Some(12));
    assert!(row.verified_at.is_some() && row.dump_bytes.unwrap_or(0) > 0);

    // The parts on disk are what the row says.
    let dir = ctx.root.join("erp").join("production").join(id.to_string());
    let dump = std::fs::read(dir.join(job::DUMP)).unwrap();
    use sha2::Digest;
    assert_eq!(Some(hex::encode(sha2::Sha256::digest(&dump))), row.dump_sha256);
    let manifest: job::Manifest = serde_json::from_slice(&std::fs::read(dir.join(job::MANIFEST)).unwrap()).unwrap();
    assert_eq!((manifest.backup_id, manifest.database.as_str(), manifest.parts.len()), (id, db.as_str(), 2));
    assert_eq!(manifest.parts[0].bytes, dump.len() as u64);
    assert_eq!(manifest.parts[1].files, Some(12));
    let last_good: Option<DateTime<Utc>> = sqlx::query_scalar("select last_good_backup_at from ops.environments where id = $1").bind(prod).fetch_one(&app.owner).await.unwrap();
    assert!(last_good.is_some());
    assert!(app.audit_actions().await.iter().any(|(a, _, _)| a == "backup.succeeded"));
    let _ = std::fs::remove_dir_all(&data);
    app.stop().await;
}

#[tokio::test]
async fn a_staging_restore_reproduces_the_user_tables_with_secrets_neutralized() {
    let app = TestApp::spawn().await;
    let (prod_db, prod_url) = source_db(5_000).await;
    let prod_data = data_dir_with_files(&prod_db);
    let (staging_db, _) = source_db(10).await;
    let staging_data = std::env::temp_dir().join(format!("odooops-bk-staging-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(staging_data.join("filestore").join(&staging_db)).unwrap();
    let (prod, staging) = (env_id(&app, Stage::Production).await, env_id(&app, Stage::Staging).await);
    set_env(&app, prod, &prod_db, Some(&prod_data)).await;
    set_env(&app, staging, &staging_db, Some(&staging_data)).await;
    let backup = queue_backup(&app, prod).await;
    wait_backup(&app, backup).await;
    let before = table_sums(&prod_url).await;

    let (user, email) = app.member(Role::Sysadmin).await;
    let mut tx = app.services_db().tenant_tx(&system_claims(app.tenant_id)).await.unwrap();
    let restore = app::db::backups::queue_restore(&mut tx, backup, staging, RestoreMode::Staging, user, &email, "").await.unwrap();
    tx.commit().await.unwrap();
    let (state, error) = wait_restore(&app, restore).await;
    assert_eq!(state, "succeeded", "{error}");

    // The previous database is dropped just after the switch.
    wait_until(&app, "select previous_dropped_at is not null from ops.restores where id = $1", restore, WAIT, "staging's old database to be dropped").await;
    let new_db: String = sqlx::query_scalar("select database_name from ops.environments where id = $1").bind(staging).fetch_one(&app.owner).await.unwrap();
    assert_ne!(new_db, staging_db);
    let after = table_sums(&with_db(&cluster_url(), &new_db)).await;
    // Same tables; every table the neutralization did not touch has the same rows, exactly.
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    let report: serde_json::Value = sqlx::query_scalar("select report from ops.neutralize_runs where restore_id = $1").bind(restore).fetch_one(&app.owner).await.unwrap();
    let touched: Vec<String> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rows"].as_i64().unwrap_or(0) > 0)
        .map(|r| r["detail"].as_str().unwrap_or_default().to_string())
        .collect();
    let changed: Vec<&String> = before.iter().filter(|(t, v)| after[*t] != **v).map(|(t, _)| t).collect();
    assert!(!changed.is_empty(), "neutralization changed something");
    for t in &changed {
        let bare = t.trim_start_matches("public.");
        assert!(touched.iter().any(|d| d.contains(bare)), "{t} differs but no neutralization rule touched it: {touched:?}");
    }
    assert_eq!(after["public.account_move_line"], before["public.account_move_line"]);
    // No planted secret survived, in any column of any table.
    let everything = all_text(&with_db(&cluster_url(), &new_db)).await;
    for secret in SAMPLE_SECRETS {
        assert!(!everything.contains(secret), "secret {secret} survived the restore");
    }
    assert!(all_text(&prod_url).await.contains(SAMPLE_SECRETS[0]), "the source still has them (the check can see secrets)");
    let runs: i64 = sqlx::query_scalar("select count(*) from ops.neutralize_runs where restore_id = $1 and status = 'succeeded'").bind(restore).fetch_one(&app.owner).await.unwrap();
    assert_eq!(runs, 1);
    // The file store came along under the new name; the old database and files are gone.
    assert_eq!(files(&staging_data.join("filestore").join(&new_db)), files(&prod_data.join("filestore").join(&prod_db)));
    assert!(!staging_data.join("filestore").join(&staging_db).exists());
    let mut admin = PgConnection::connect(&cluster_url()).await.unwrap();
    let old_exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)").bind(&staging_db).fetch_one(&mut admin).await.unwrap();
    assert!(!old_exists, "staging's previous database is dropped after the switch");
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"restore.succeeded".to_string()) && actions.contains(&"neutralize.succeeded".to_string()), "{actions:?}");
    let _ = std::fs::remove_dir_all(&prod_data);
    let _ = std::fs::remove_dir_all(&staging_data);
    app.stop().await;
}

#[tokio::test]
async fn a_production_restore_takes_a_safety_backup_and_keeps_the_old_database() {
    let app = TestApp::spawn().await;
    let (prod_db, prod_url) = source_db(3_000).await;
    let prod = env_id(&app, Stage::Production).await;
    set_env(&app, prod, &prod_db, None).await;
    let backup = queue_backup(&app, prod).await;
    wait_backup(&app, backup).await;
    let at_backup = table_sums(&prod_url).await;
    // Production moves on after the backup...
    let mut conn = PgConnection::connect(&prod_url).await.unwrap();
    sqlx::query("delete from account_move_line where id <= 1000").execute(&mut conn).await.unwrap();
    drop(conn);

    let (user, email) = app.member(Role::Sysadmin).await;
    let mut tx = app.services_db().tenant_tx(&system_claims(app.tenant_id)).await.unwrap();
    let restore = app::db::backups::queue_restore(&mut tx, backup, prod, RestoreMode::Production, user, &email, "bad data import at 10:02").await.unwrap();
    tx.commit().await.unwrap();
    let (state, error) = wait_restore(&app, restore).await;
    assert_eq!(state, "succeeded", "{error}");

    // ...and is back to the backup, exactly (no neutralization in production).
    let new_db: String = sqlx::query_scalar("select database_name from ops.environments where id = $1").bind(prod).fetch_one(&app.owner).await.unwrap();
    assert_eq!(table_sums(&with_db(&cluster_url(), &new_db)).await, at_backup);
    let (safety, previous): (Option<Uuid>, Option<String>) = sqlx::query_as("select safety_backup_id, previous_database from ops.restores where id = $1").bind(restore).fetch_one(&app.owner).await.unwrap();
    assert_eq!(previous.as_deref(), Some(prod_db.as_str()));
    let safety = safety.expect("a safety backup was taken");
    let (kind, state, pinned): (BackupKind, BackupState, Option<DateTime<Utc>>) =
        sqlx::query_as("select kind, state, pinned_until from ops.backups where id = $1").bind(safety).fetch_one(&app.owner).await.unwrap();
    assert_eq!((kind, state), (BackupKind::Safety, BackupState::Good));
    assert!(pinned.is_some_and(|p| p > Utc::now() + chrono::Duration::days(29)));
    // The old database is kept, with the rows deleted after the backup.
    let old = table_sums(&prod_url).await;
    assert_eq!(old["public.account_move_line"].0, 2_000);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"restore.production_switched".to_string()), "{actions:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_console_killed_mid_backup_leaves_nothing_good_and_the_next_one_cleans_up() {
    // The console under test runs no backup worker: a separate `odooops serve` process does.
    let db_url = common::fresh_database().await;
    let mut cfg = common::config(&db_url);
    cfg.backup_workers = 0;
    let root = std::env::temp_dir().join(format!("odooops-bk-root-{}", Uuid::new_v4().simple()));
    cfg.backup_dir = Some(root.clone());
    let app = TestApp::spawn_with(cfg).await;
    let (db, _) = source_db(600_000).await;
    let prod = env_id(&app, Stage::Production).await;
    set_env(&app, prod, &db, None).await;
    // The slowest compression, so the dump is still streaming when the process dies.
    sqlx::query("update ops.projects set backup_compression = 9 where id = $1").bind(app.project_id).execute(&app.owner).await.unwrap();
    let id = queue_backup(&app, prod).await;

    let child_dir = std::env::temp_dir().join(format!("odooops-bk-child-{}", Uuid::new_v4().simple()));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_odooops"))
        .arg("serve")
        .env("DATABASE_URL", &db_url)
        .env("ODOOOPS_DATA_DIR", &child_dir)
        .env("ODOOOPS_BACKUP_DIR", &root)
        .env("ODOOOPS_BACKUP_WORKERS", "1")
        .env("ODOOOPS_BUILD_WORKERS", "0")
        .env("ODOOOPS_SMTP_ADDR", "off")
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("ODOOOPS_LOG_FORMAT", "text")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start odooops serve");
    // Kill it once the dump is on its way into storage.
    let dir = root.join("erp").join("production").join(id.to_string());
    let until = std::time::Instant::now() + WAIT;
    loop {
        let (state, _) = state_of(&app, id).await;
        let writing = dir.is_dir() && std::fs::read_dir(&dir).map(|d| d.count() > 0).unwrap_or(false);
        if state == BackupState::Running && writing {
            break;
        }
        assert!(state.is_open(), "the backup ended ({state}) before the process could be killed: make the database bigger");
        assert!(std::time::Instant::now() < until, "the child console never started the backup");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    // Never good: the row still says running, there is no manifest.
    let (state, _) = state_of(&app, id).await;
    assert_eq!(state, BackupState::Running);
    assert!(!dir.join(job::MANIFEST).exists());
    let mut tx = app.services_db().tenant_tx(&system_claims(app.tenant_id)).await.unwrap();
    let good = app::db::backups::list(&mut tx, app.project_id, None, false, 50).await.unwrap().into_iter().filter(|b| b.state == BackupState::Good).count();
    tx.commit().await.unwrap();
    assert_eq!(good, 0);

    // The next console takes the stale job over: failed, its files removed, audited.
    let mut cfg = common::config(&db_url);
    cfg.backup_dir = Some(root.clone());
    cfg.backup_stale_seconds = 2;
    let next = TestApp::spawn_with(cfg).await;
    wait_until(&next, "select state = 'failed' from ops.backups where id = $1", id, WAIT, "the interrupted backup to be failed").await;
    wait_until(&next, "select exists (select 1 from ops.audit_log where action = 'backup.interrupted' and target = $1::text)", id, WAIT, "the cleanup to be audited").await;
    let (_, error) = state_of(&next, id).await;
    assert!(error.contains("interrupted"), "{error}");
    assert!(!dir.exists(), "the partial backup's directory is removed");
    let left: Vec<_> = walkdir::WalkDir::new(&root).into_iter().flatten().filter(|e| e.file_type().is_file()).map(|e| e.path().to_path_buf()).collect();
    assert!(left.is_empty(), "no partial files remain: {left:?}");
    next.stop().await;
    app.stop().await;
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&child_dir);
}

#[tokio::test]
async fn retention_keeps_exactly_the_expected_set_over_a_simulated_year() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.backup_workers = 0;
    let app = TestApp::spawn_with(cfg).await;
    let prod = env_id(&app, Stage::Production).await;
    let ctx = ctx(&app);
    sqlx::query(
        "insert into ops.backup_schedules (tenant_id, project_id, environment_id, cron, time_zone, keep_daily, keep_weekly, keep_monthly)
         values ($1, $2, $3, '0 2 * * *', 'UTC', 7, 4, 3) on conflict (environment_id) do update set keep_daily = 7, keep_weekly = 4, keep_monthly = 3, time_zone = 'UTC'",
    )
    .bind(app.tenant_id)
    .bind(app.project_id)
    .bind(prod)
    .execute(&app.owner)
    .await
    .unwrap();
    let claims = system_claims(app.tenant_id);
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap();
    // A safety backup from the spring, pinned: kept whatever the policy says.
    let pinned: Uuid = sqlx::query_scalar(
        "insert into ops.backups (tenant_id, project_id, environment_id, kind, state, dump_sha256, manifest_sha256, verified_at, finished_at, pinned_until)
         values ($1, $2, $3, 'safety', 'good', repeat('a', 64), repeat('b', 64), $4, $4, now() + interval '1 day') returning id",
    )
    .bind(app.tenant_id)
    .bind(app.project_id)
    .bind(prod)
    .bind(Utc.with_ymd_and_hms(2026, 4, 15, 12, 0, 0).unwrap())
    .fetch_one(&app.owner)
    .await
    .unwrap();
    for day in 0..365 {
        let at = start + chrono::Duration::days(day);
        let id: Uuid = sqlx::query_scalar(
            "insert into ops.backups (tenant_id, project_id, environment_id, kind, state, dump_sha256, manifest_sha256, verified_at, finished_at)
             values ($1, $2, $3, 'scheduled', 'good', repeat('a', 64), repeat('b', 64), $4, $4) returning id",
        )
        .bind(app.tenant_id)
        .bind(app.project_id)
        .bind(prod)
        .bind(at)
        .fetch_one(&app.owner)
        .await
        .unwrap();
        scheduler::prune_after(&ctx, &claims, id).await.unwrap();
    }
    let kept: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as("select id, finished_at from ops.backups where environment_id = $1 and state = 'good' order by finished_at")
        .bind(prod)
        .fetch_all(&app.owner)
        .await
        .unwrap();
    let days: Vec<String> = kept.iter().filter(|(id, _)| *id != pinned).map(|(_, at)| at.format("%m-%d").to_string()).collect();
    assert_eq!(days, ["10-31", "11-30", "12-13", "12-20", "12-25", "12-26", "12-27", "12-28", "12-29", "12-30", "12-31"]);
    assert!(kept.iter().any(|(id, _)| *id == pinned), "the pinned safety backup is kept");
    let deleted: i64 = sqlx::query_scalar("select count(*) from ops.backups where environment_id = $1 and state = 'deleted' and deleted_at is not null").bind(prod).fetch_one(&app.owner).await.unwrap();
    assert_eq!(deleted, 365 - 11);
    app.stop().await;
}

#[tokio::test]
async fn a_running_backup_can_be_cancelled_and_leaves_nothing() {
    let app = TestApp::spawn().await;
    let (db, _) = source_db(600_000).await;
    let prod = env_id(&app, Stage::Production).await;
    set_env(&app, prod, &db, None).await;
    sqlx::query("update ops.projects set backup_compression = 9 where id = $1").bind(app.project_id).execute(&app.owner).await.unwrap();
    let id = queue_backup(&app, prod).await;
    wait_until(&app, "select state = 'running' and location <> '' from ops.backups where id = $1", id, WAIT, "the backup to start").await;
    let mut tx = app.services_db().tenant_tx(&system_claims(app.tenant_id)).await.unwrap();
    assert!(app::db::backups::cancel(&mut tx, id).await.unwrap());
    tx.commit().await.unwrap();
    wait_until(&app, "select state = 'cancelled' from ops.backups where id = $1", id, WAIT, "the backup to stop").await;
    let dir = ctx(&app).root.join("erp").join("production").join(id.to_string());
    assert!(!dir.exists(), "a cancelled backup's parts are removed");
    let pg_dumps = common::builds::pgrep(&format!("pg_dump.*{db}"));
    assert!(pg_dumps.is_empty(), "pg_dump was stopped: {pg_dumps:?}");
    assert!(app.audit_actions().await.iter().any(|(a, _, _)| a == "backup.cancelled"));
    // A cancelled or finished backup cannot be cancelled again.
    let mut tx = app.services_db().tenant_tx(&system_claims(app.tenant_id)).await.unwrap();
    assert!(!app::db::backups::cancel(&mut tx, id).await.unwrap());
    tx.commit().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn verification_refuses_a_truncated_or_altered_dump() {
    use odooops::backups::store::{Store, PartInfo};
    use odooops::backups::Progress;
    use tokio_util::sync::CancellationToken;
    let (db, _) = source_db(20_000).await;
    let root = std::env::temp_dir().join(format!("odooops-bk-verify-{}", Uuid::new_v4().simple()));
    let store = Store::open(&app::models::StorageSettings::Local, "", &root).unwrap();
    let (_, bin) = job::server_tools(&cluster_url()).await.unwrap();
    let progress = Progress::default();
    let cancel = CancellationToken::new();
    let part = job::dump_into(&store, "p/e/b/db.dump", &cluster_url(), &bin, &db, 1, &progress, &cancel).await.unwrap();
    let toc = job::verify_dump(&store, "p/e/b/db.dump", &part, &bin, &progress, &cancel).await.unwrap();
    assert!(toc > 5, "{toc}");
    let path = root.join("p/e/b/db.dump");
    let bytes = std::fs::read(&path).unwrap();
    // Cut to 60 %: `pg_restore --list` alone would still pass (it reads only the TOC).
    std::fs::write(&path, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let cut = std::fs::read(&path).unwrap();
    use sha2::Digest;
    let claimed = PartInfo { bytes: cut.len() as u64, sha256: hex::encode(sha2::Sha256::digest(&cut)) };
    let err = job::verify_dump(&store, "p/e/b/db.dump", &claimed, &bin, &progress, &cancel).await.unwrap_err();
    assert!(format!("{err:#}").contains("could not read the dump back"), "{err:#}");
    // A stored part that differs from what was written is caught by its checksum.
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0xff;
    std::fs::write(&path, &flipped).unwrap();
    let err = job::verify_dump(&store, "p/e/b/db.dump", &part, &bin, &progress, &cancel).await.unwrap_err();
    assert!(format!("{err:#}").contains("does not match"), "{err:#}");
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn the_s3_secret_is_readable_only_inside_its_own_tenant() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.backup_workers = 0;
    let app = TestApp::spawn_with(cfg).await;
    sqlx::query("update ops.projects set backup_s3_secret = 'wJalrXUtnFEMI-secret' where id = $1").bind(app.project_id).execute(&app.owner).await.unwrap();
    let read = |tenant: Uuid| {
        let db = app.services_db();
        let project = app.project_id;
        async move {
            let mut tx = db.tenant_tx(&system_claims(tenant)).await.unwrap();
            let secret: Option<String> = sqlx::query_scalar("select ops.backup_s3_secret($1)").bind(project).fetch_one(&mut *tx).await.unwrap();
            // The column itself is not readable by the request role at all.
            let direct = sqlx::query("select backup_s3_secret from ops.projects").execute(&mut *tx).await;
            assert!(direct.is_err(), "the secret column is write-only");
            secret
        }
    };
    assert_eq!(read(app.tenant_id).await.as_deref(), Some("wJalrXUtnFEMI-secret"));
    assert_eq!(read(Uuid::new_v4()).await, None, "another tenant gets nothing");
    app.stop().await;
}
