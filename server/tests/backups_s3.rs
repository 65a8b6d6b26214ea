//! Backups to S3-compatible storage against a real local S3 server (moto, started by
//! `.ci/moto`; `TEST_S3_ENDPOINT` is its URL): a manual backup of a real database and file
//! store is verified and readable from the bucket, restores into staging with the same rows
//! and files, an unreachable object store fails the backup with a readable error, and the S3
//! secret key shows up in no backup row and no audit entry.
mod common;

use app::models::{BackupKind, RestoreMode, Role, StorageSettings};
use common::{cluster_url, with_db, TestApp};
use odooops::backups::job::{Manifest, DUMP, FILES, MANIFEST};
use odooops::backups::store::Store;
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

/// The S3 secret key: distinctive, so that a leak is found by a plain text search (moto
/// checks no signatures, any value is accepted).
const SECRET: &str = "s3-Secret-Key-e81c4f0d9a27";

/// Rows per table of the database that is backed up.
const TABLES: &[(&str, i64)] = &[("partners", 1500), ("invoice_lines", 6000), ("notes", 300)];

/// moto's URL, or None (skipped) outside CI; in CI a missing server is an error.
fn endpoint() -> Option<String> {
    match std::env::var("TEST_S3_ENDPOINT") {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().trim_end_matches('/').to_string()),
        _ if std::env::var_os("CI").is_some() => panic!(
            "TEST_S3_ENDPOINT is not set, and CI is: the S3 backup tests need moto \
             (`bash .ci/test` starts it; by hand: eval \"$(bash .ci/moto start /tmp/moto)\")"
        ),
        _ => {
            println!("skipped: TEST_S3_ENDPOINT not set");
            None
        }
    }
}

fn short() -> String {
    Uuid::new_v4().simple().to_string()[..10].to_string()
}

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("odooops-s3-{what}-{}", short()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A new bucket on the S3 server (moto accepts an unsigned PUT).
async fn create_bucket(endpoint: &str) -> String {
    let bucket = format!("odooops-test-{}", short());
    let res = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.expect("the S3 server answers");
    assert!(res.status().is_success(), "creating bucket {bucket}: {} {}", res.status(), res.text().await.unwrap_or_default());
    bucket
}

fn settings(bucket: &str, endpoint: &str) -> StorageSettings {
    StorageSettings::S3 {
        bucket: bucket.into(),
        prefix: String::new(),
        endpoint: endpoint.into(),
        region: "us-east-1".into(),
        allow_http: true,
        access_key_id: "test".into(),
    }
}

/// Points the project's backups at the bucket, with the secret key set (as the owner).
async fn use_s3(app: &TestApp, storage: &StorageSettings) {
    sqlx::query("update ops.projects set backup_storage = $2, backup_s3_secret = $3 where id = $1")
        .bind(app.project_id)
        .bind(serde_json::to_value(storage).unwrap())
        .bind(SECRET)
        .execute(&app.owner)
        .await
        .unwrap();
}

async fn env_id(app: &TestApp, name: &str) -> Uuid {
    sqlx::query_scalar("select id from ops.environments where project_id = $1 and name = $2").bind(app.project_id).bind(name).fetch_one(&app.owner).await.unwrap()
}

async fn set_env(app: &TestApp, env: Uuid, database: &str, data_dir: &Path) {
    sqlx::query("update ops.environments set database_name = $2, data_dir = $3 where id = $1")
        .bind(env)
        .bind(database)
        .bind(data_dir.to_string_lossy().as_ref())
        .execute(&app.owner)
        .await
        .unwrap();
}

async fn connect(db: &str) -> PgConnection {
    PgConnection::connect(&with_db(&cluster_url(), db)).await.unwrap()
}

/// A small real database on the test cluster: a few related tables with an index and rows.
async fn production_database() -> String {
    let name = format!("t_s3_{}", short());
    odooops::db::ensure_database(&cluster_url(), &name).await.unwrap();
    let mut conn = connect(&name).await;
    sqlx::raw_sql(
        "create table partners (id serial primary key, name text not null, email text, created timestamptz default now());
         insert into partners (name, email) select 'Partner ' || g, 'p' || g || '@example.com' from generate_series(1, 1500) g;
         create table invoice_lines (id bigserial primary key, partner_id int not null references partners (id),
                                     amount numeric(12, 2) not null, label text);
         insert into invoice_lines (partner_id, amount, label)
           select 1 + (g % 1500), (g * 7 % 10000) / 100.0, md5(g::text) from generate_series(1, 6000) g;
         create index invoice_lines_partner_idx on invoice_lines (partner_id);
         create table notes (id int primary key, body text);
         insert into notes select g, repeat(md5(g::text), 20) from generate_series(1, 300) g;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.ok();
    name
}

async fn row_counts(db: &str) -> Vec<(String, i64)> {
    let mut conn = connect(db).await;
    let mut out = Vec::new();
    for (table, _) in TABLES {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}"))).fetch_one(&mut conn).await.unwrap();
        out.push((table.to_string(), n));
    }
    conn.close().await.ok();
    out
}

/// Pseudo-random bytes that do not compress (xorshift), so the archive is as big as the files.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// An Odoo-like file store under `<data_dir>/filestore/<db>`: hashed sub-directories, small
/// attachments and one 18 MiB file (the archive then needs two 16 MiB upload parts).
/// Returns each file's relative path and sha256.
fn file_store(data_dir: &Path, db: &str) -> BTreeMap<String, String> {
    let root = data_dir.join("filestore").join(db);
    let files: Vec<(String, Vec<u8>)> = vec![
        ("0a/0a1b2c3d4e5f".into(), b"hello attachment\n".to_vec()),
        ("0a/0a9988776655".into(), noise(40_000, 7)),
        ("7f/7f00112233aa".into(), "invoice PDF stand-in ".repeat(500).into_bytes()),
        ("c3/c3deadbeef01".into(), noise(18 << 20, 42)),
        ("checklist/empty".into(), Vec::new()),
    ];
    let mut out = BTreeMap::new();
    for (rel, data) in files {
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &data).unwrap();
        out.insert(rel, hex::encode(Sha256::digest(&data)));
    }
    out
}

/// Every file under `dir`, relative path → sha256.
fn files_in(dir: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            (rel, hex::encode(Sha256::digest(std::fs::read(e.path()).unwrap())))
        })
        .collect()
}

/// Queues a manual backup of `env` as the console's worker would find it.
async fn queue_backup(app: &TestApp, env: Uuid, user: Uuid, email: &str) -> Uuid {
    let ctx = app.services.backups.as_ref().expect("the console runs backup workers");
    let mut tx = ctx.db.tenant_tx(&odooops::promotions::system_claims(app.tenant_id)).await.unwrap();
    let id = app::db::backups::insert(&mut tx, app.project_id, env, BackupKind::Manual, Some(user), email, "S3 test").await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// Waits until the backup has ended; returns (state, error).
async fn wait_backup(app: &TestApp, id: Uuid, within: Duration) -> (String, String) {
    let deadline = Instant::now() + within;
    loop {
        let (state, phase, error): (String, String, String) =
            sqlx::query_as("select state::text, phase, error from ops.backups where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
        if ["good", "failed", "cancelled", "deleted"].contains(&state.as_str()) {
            return (state, error);
        }
        assert!(Instant::now() < deadline, "backup {id} still {state} ({phase}) after {within:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_restore(app: &TestApp, id: Uuid, within: Duration) -> (String, String) {
    let deadline = Instant::now() + within;
    loop {
        let (state, phase, error): (String, String, String) =
            sqlx::query_as("select state::text, phase, error from ops.restores where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
        if ["succeeded", "failed", "cancelled"].contains(&state.as_str()) {
            return (state, error);
        }
        assert!(Instant::now() < deadline, "restore {id} still {state} ({phase}) after {within:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn read_all(store: &Store, key: &str) -> Vec<u8> {
    let (size, mut reader) = store.reader(key).await.unwrap_or_else(|e| panic!("reading {key}: {e:#}"));
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.unwrap();
    assert_eq!(size, out.len() as u64, "{key}: size announced and bytes read");
    out
}

/// The secret key is in no backup or restore row and no audit entry (whole rows, as text).
async fn assert_secret_nowhere(app: &TestApp) {
    let like = format!("%{SECRET}%");
    for (what, sql) in [
        ("ops.backups.storage", "select count(*) from ops.backups where storage::text like $1"),
        ("an ops.backups row", "select count(*) from ops.backups b where row_to_json(b)::text like $1"),
        ("an ops.restores row", "select count(*) from ops.restores r where row_to_json(r)::text like $1"),
        ("ops.audit_log details", "select count(*) from ops.audit_log where details::text like $1"),
        ("an ops.audit_log row", "select count(*) from ops.audit_log a where row_to_json(a)::text like $1"),
        ("ops.notifications", "select count(*) from ops.notifications n where row_to_json(n)::text like $1"),
    ] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(&like).fetch_one(&app.owner).await.unwrap();
        assert_eq!(n, 0, "the S3 secret key appears in {what}");
    }
}

#[tokio::test]
async fn a_backup_to_s3_is_verified_in_the_bucket_and_restores_into_staging() {
    let Some(endpoint) = endpoint() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let bucket = create_bucket(&endpoint).await;
    let storage = settings(&bucket, &endpoint);
    use_s3(&app, &storage).await;

    let prod_db = production_database().await;
    let prod_dir = temp_dir("prod");
    let files = file_store(&prod_dir, &prod_db);
    let prod = env_id(&app, "production").await;
    set_env(&app, prod, &prod_db, &prod_dir).await;
    let staging_db = format!("t_s3_{}", short());
    odooops::db::ensure_database(&cluster_url(), &staging_db).await.unwrap();
    let staging_dir = temp_dir("staging");
    let staging = env_id(&app, "staging").await;
    set_env(&app, staging, &staging_db, &staging_dir).await;
    let counts = row_counts(&prod_db).await;
    assert_eq!(counts.iter().map(|(_, n)| *n).collect::<Vec<_>>(), TABLES.iter().map(|(_, n)| *n).collect::<Vec<_>>());

    let (admin_id, admin_email) = app.member(Role::Admin).await;
    let id = queue_backup(&app, prod, admin_id, &admin_email).await;
    let t = Instant::now();
    let (state, error) = wait_backup(&app, id, Duration::from_secs(60)).await;
    assert_eq!(state, "good", "the backup to S3 failed: {error}");
    println!("backup to S3 good in {:?}", t.elapsed());

    // The row: where the parts are and what they hash to.
    let (location, dump_sha256, dump_bytes, files_sha256, files_bytes, files_count, manifest_sha256, row_storage): (
        String,
        String,
        i64,
        String,
        i64,
        i64,
        String,
        serde_json::Value,
    ) = sqlx::query_as(
        "select location, dump_sha256, dump_bytes, files_sha256, files_bytes, files_count, manifest_sha256, storage from ops.backups where id = $1",
    )
    .bind(id)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(location, format!("erp/production/{id}"));
    assert_eq!(serde_json::from_value::<StorageSettings>(row_storage).unwrap(), storage, "the row keeps the storage it was written to");
    assert_eq!(files_count, files.len() as i64);
    assert!(files_bytes > 18 << 20, "the archive holds the 18 MiB file ({files_bytes} bytes)");

    // The bucket, read with the same settings and secret: three objects, matching the row.
    let store = Store::open(&storage, SECRET, &std::env::temp_dir()).unwrap();
    assert!(!store.is_local());
    assert_eq!(store.backup_dirs().await.unwrap(), vec![location.clone()], "one backup directory in the bucket");
    for part in [DUMP, FILES, MANIFEST] {
        assert!(store.exists(&format!("{location}/{part}")).await.unwrap(), "{part} is in the bucket");
    }
    let dump = read_all(&store, &format!("{location}/{DUMP}")).await;
    assert_eq!(dump.len() as i64, dump_bytes);
    assert_eq!(hex::encode(Sha256::digest(&dump)), dump_sha256, "the stored dump is the one the row describes");
    assert!(dump.starts_with(b"PGDMP"), "a custom-format dump");
    let archive = read_all(&store, &format!("{location}/{FILES}")).await;
    assert_eq!((archive.len() as i64, hex::encode(Sha256::digest(&archive))), (files_bytes, files_sha256.clone()));
    let manifest_bytes = store.read_small(&format!("{location}/{MANIFEST}")).await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&manifest_bytes)), manifest_sha256);
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes).expect("the manifest parses");
    assert_eq!((manifest.backup_id, manifest.project.as_str(), manifest.environment.as_str()), (id, "erp", "production"));
    assert_eq!((manifest.kind.as_str(), manifest.database.as_str()), ("manual", prod_db.as_str()));
    let parts: Vec<(&str, u64, &str)> = manifest.parts.iter().map(|p| (p.name.as_str(), p.bytes, p.sha256.as_str())).collect();
    assert_eq!(parts, vec![(DUMP, dump_bytes as u64, dump_sha256.as_str()), (FILES, files_bytes as u64, files_sha256.as_str())]);
    assert_eq!(manifest.parts[1].files, Some(files.len() as u64));
    assert!(manifest.parts[0].toc_entries.unwrap_or(0) >= TABLES.len() as u32, "{:?}", manifest.parts[0]);

    // Restore into staging: same rows, same files, staging switched and neutralized.
    let t = Instant::now();
    let restore_id = {
        let ctx = app.services.backups.as_ref().unwrap();
        let mut tx = ctx.db.tenant_tx(&odooops::promotions::system_claims(app.tenant_id)).await.unwrap();
        let rid = app::db::backups::queue_restore(&mut tx, id, staging, RestoreMode::Staging, admin_id, &admin_email, "S3 restore test").await.unwrap();
        tx.commit().await.unwrap();
        rid
    };
    let (state, error) = wait_restore(&app, restore_id, Duration::from_secs(90)).await;
    assert_eq!(state, "succeeded", "the restore from S3 failed: {error}");
    println!("restore from S3 succeeded in {:?}", t.elapsed());
    let new_db: String = sqlx::query_scalar("select database_name from ops.environments where id = $1").bind(staging).fetch_one(&app.owner).await.unwrap();
    assert_ne!(new_db, staging_db, "staging switched to the restored database");
    assert_eq!(row_counts(&new_db).await, counts, "the restored database has production's rows");
    let restored_files = files_in(&staging_dir.join("filestore").join(&new_db));
    assert_eq!(restored_files, files, "the restored file store has production's files");
    // The previous database is dropped just after the switch commits.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let dropped: bool = sqlx::query_scalar("select previous_dropped_at is not null from ops.restores where id = $1").bind(restore_id).fetch_one(&app.owner).await.unwrap();
        if dropped {
            break;
        }
        assert!(Instant::now() < deadline, "staging's previous database was not dropped after the switch");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (previous, gone): (Option<String>, bool) =
        sqlx::query_as("select previous_database, not exists (select 1 from pg_database where datname = $2) from ops.restores where id = $1")
            .bind(restore_id)
            .bind(&staging_db)
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(previous.as_deref(), Some(staging_db.as_str()));
    assert!(gone, "staging's previous database is dropped after the switch");
    let neutralized: String = sqlx::query_scalar("select status from ops.neutralize_runs where restore_id = $1").bind(restore_id).fetch_one(&app.owner).await.unwrap();
    assert_eq!(neutralized, "succeeded");
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.iter().any(|a| a == "backup.succeeded") && actions.iter().any(|a| a == "restore.succeeded"), "{actions:?}");
    assert_secret_nowhere(&app).await;

    for db in [&prod_db, &new_db] {
        let _ = odooops::neutralize::copy::drop_database(&cluster_url(), db).await;
    }
    let _ = std::fs::remove_dir_all(&prod_dir);
    let _ = std::fs::remove_dir_all(&staging_dir);
    app.stop().await;
    println!("S3 backup and restore test: {:?}", started.elapsed());
}

#[tokio::test]
async fn an_unreachable_object_store_fails_the_backup_with_a_readable_error() {
    let Some(endpoint) = endpoint() else { return };
    let app = TestApp::spawn().await;
    // A port nothing listens on: every request is refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let bucket = create_bucket(&endpoint).await;
    use_s3(&app, &settings(&bucket, &format!("http://127.0.0.1:{closed}"))).await;
    let prod_db = production_database().await;
    let prod_dir = temp_dir("prod");
    file_store(&prod_dir, &prod_db);
    let prod = env_id(&app, "production").await;
    set_env(&app, prod, &prod_db, &prod_dir).await;

    let (admin_id, admin_email) = app.member(Role::Admin).await;
    let id = queue_backup(&app, prod, admin_id, &admin_email).await;
    let t = Instant::now();
    // object_store retries refused connections (10 times, random backoff up to 15 s) before
    // it gives up, once for the upload and once for the cleanup listing: 5 to 15 s here.
    let (state, error) = wait_backup(&app, id, Duration::from_secs(120)).await;
    println!("unreachable store: {state} after {:?}: {error}", t.elapsed());
    assert_eq!(state, "failed", "{error}");
    assert!(error.contains(DUMP) && error.contains(&format!("127.0.0.1:{closed}")), "the error names the part and the endpoint: {error}");
    assert!(error.to_lowercase().contains("connect"), "the error says the store could not be reached: {error}");
    assert!(error.len() < 4000 && !error.contains(SECRET), "{error}");
    let good: i64 = sqlx::query_scalar("select count(*) from ops.backups where environment_id = $1 and state = 'good'").bind(prod).fetch_one(&app.owner).await.unwrap();
    assert_eq!(good, 0, "nothing is good");
    let last_good: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select last_good_backup_at from ops.environments where id = $1").bind(prod).fetch_one(&app.owner).await.unwrap();
    assert_eq!(last_good, None);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.iter().any(|a| a == "backup.failed") && !actions.iter().any(|a| a == "backup.succeeded"), "{actions:?}");
    // Nothing reached the real bucket either.
    let listed = Store::open(&settings(&bucket, &endpoint), SECRET, &std::env::temp_dir()).unwrap().backup_dirs().await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    assert_secret_nowhere(&app).await;

    let _ = odooops::neutralize::copy::drop_database(&cluster_url(), &prod_db).await;
    let _ = std::fs::remove_dir_all(&prod_dir);
    app.stop().await;
}
