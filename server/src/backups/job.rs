//! One backup: dump, file store, verification, manifest, then (and only then) `good`.
use super::store::{self, PartInfo, Store};
use super::{archive, audit, BackupContext, Progress};
use crate::neutralize::copy;
use anyhow::{anyhow, bail, Context, Result};
use app::db::DbClaims;
use app::models::{BackupKind, Stage, StorageSettings};
use serde::{Deserialize, Serialize};
use sqlx::Connection;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const DUMP: &str = "db.dump";
pub const FILES: &str = "files.tar.zst";
pub const MANIFEST: &str = "manifest.json";

/// What a backup needs to know about itself.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BackupInfo {
    pub id: Uuid,
    pub project_id: Uuid,
    pub environment_id: Uuid,
    pub kind: BackupKind,
    pub storage: serde_json::Value,
    pub location: String,
    pub project_slug: String,
    pub compression: i32,
    pub environment_name: String,
    pub stage: Stage,
    pub database_name: Option<String>,
    pub data_dir: Option<String>,
    pub requested_by_email: String,
    pub schedule_id: Option<Uuid>,
    pub attempt: i32,
    pub scheduled_for: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn info(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<BackupInfo, sqlx::Error> {
    sqlx::query_as(
        "select b.id, b.project_id, b.environment_id, b.kind, b.storage, b.location, p.slug as project_slug,
                p.backup_compression as compression, e.name as environment_name, e.stage, e.database_name, e.data_dir,
                b.requested_by_email, b.schedule_id, b.attempt, b.scheduled_for
           from ops.backups b join ops.projects p on p.id = b.project_id join ops.environments e on e.id = b.environment_id
          where b.id = $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Opens the storage a backup row points at (its settings when it was queued).
pub async fn store_of(ctx: &BackupContext, conn: &mut sqlx::PgConnection, project_id: Uuid, storage: &serde_json::Value) -> Result<Store> {
    let settings: StorageSettings = serde_json::from_value(storage.clone()).context("the backup's storage settings are unreadable")?;
    let secret: String = match settings {
        StorageSettings::Local => String::new(),
        _ => sqlx::query_scalar("select coalesce(ops.backup_s3_secret($1), '')").bind(project_id).fetch_one(conn).await?,
    };
    Store::open(&settings, &secret, &ctx.root)
}

/// The manifest written last, next to the parts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub backup_id: Uuid,
    pub project: String,
    pub environment: String,
    pub kind: String,
    pub database: String,
    pub server_version: String,
    pub pg_dump_version: String,
    pub compression: i32,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: chrono::DateTime<chrono::Utc>,
    pub timings_ms: serde_json::Value,
    pub parts: Vec<ManifestPart>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestPart {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toc_entries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
}

/// The server's version number and the directory of matching client tools.
pub async fn server_tools(admin_url: &str) -> Result<(String, PathBuf)> {
    let mut conn = copy::admin(admin_url).await?;
    let version: String = sqlx::query_scalar("show server_version").fetch_one(&mut conn).await?;
    let num: String = sqlx::query_scalar("show server_version_num").fetch_one(&mut conn).await?;
    conn.close().await.ok();
    let major = num.trim().parse::<u32>().context("reading the server version")? / 10000;
    Ok((version, copy::tools_for(major)?))
}

/// Runs backup `id` (already claimed: state `running`). Returns the manifest's sha256.
pub async fn run(ctx: &BackupContext, claims: &DbClaims, id: Uuid, progress: &Arc<Progress>, cancel: &CancellationToken) -> Result<()> {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let info = info(&mut tx, id).await?;
    let store = store_of(ctx, &mut tx, info.project_id, &info.storage).await?;
    let Some(database) = info.database_name.clone() else {
        bail!("environment {} has no database registered", info.environment_name);
    };
    let location = store::key(&[&info.project_slug, &info.environment_name, &id.to_string()])?;
    // Recorded first: whatever happens next, cleanup knows where to look.
    sqlx::query("update ops.backups set location = $2, database_name = $3, phase = 'preparing' where id = $1")
        .bind(id)
        .bind(&location)
        .bind(&database)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    let admin_url = ctx.admin_url();
    let (server_version, bin) = server_tools(&admin_url).await?;
    let mut conn = copy::admin(&admin_url).await?;
    let size: Option<i64> = sqlx::query_scalar("select pg_database_size(datname) from pg_database where datname = $1").bind(&database).fetch_optional(&mut conn).await?;
    conn.close().await.ok();
    let Some(size) = size else {
        bail!("database {database} does not exist");
    };
    let expected = expected_dump_bytes(ctx, claims, info.environment_id, size, info.compression).await?;
    progress.set_expected(Some(expected));
    let filestore = info.data_dir.as_ref().map(|d| PathBuf::from(d).join("filestore").join(&database)).filter(|p| p.is_dir());
    let files_total = match &filestore {
        Some(dir) => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || archive::count_files(&dir)).await? as i64
        }
        None => 0,
    };
    if store.is_local() {
        check_free_space(&ctx.root, expected)?;
    }
    {
        let mut tx = ctx.db.tenant_tx(claims).await?;
        sqlx::query("update ops.backups set db_size_bytes = $2, bytes_expected = $3, files_total = $4, pg_version = $5 where id = $1")
            .bind(id)
            .bind(size)
            .bind(expected)
            .bind(filestore.as_ref().map(|_| files_total))
            .bind(&server_version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    progress.files_total.store(if filestore.is_some() { files_total } else { -1 }, std::sync::atomic::Ordering::Relaxed);

    // 1. The database, streamed from pg_dump into storage.
    progress.set_phase(&format!("dumping database {database}"));
    let t = Instant::now();
    let dump = dump_into(&store, &format!("{location}/{DUMP}"), &admin_url, &bin, &database, info.compression, progress, cancel).await?;
    let dump_ms = t.elapsed().as_millis() as u64;
    let pg_dump_version = tool_version(&bin.join("pg_dump")).await;

    // 2. The file store.
    let t = Instant::now();
    let files = match &filestore {
        Some(dir) => {
            progress.set_phase("archiving the file store");
            let (mut reader, task) = archive::pack(dir.clone(), 3, progress.clone(), cancel.clone());
            let uploaded = store.upload(&format!("{location}/{FILES}"), &mut reader, &|_| {}, cancel).await;
            drop(reader);
            let stats = task.await.map_err(|e| anyhow!("the archiver stopped: {e}"))?;
            let part = uploaded?;
            Some((part, stats?))
        }
        None => None,
    };
    let files_ms = t.elapsed().as_millis() as u64;

    // 3. Read everything back.
    {
        let mut tx = ctx.db.tenant_tx(claims).await?;
        sqlx::query("update ops.backups set state = 'verifying', phase = 'verifying the dump', dump_bytes = $2, dump_sha256 = $3 where id = $1 and state = 'running'")
            .bind(id)
            .bind(dump.bytes as i64)
            .bind(&dump.sha256)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    progress.set_phase("verifying the dump");
    let t = Instant::now();
    let toc = verify_dump(&store, &format!("{location}/{DUMP}"), &dump, &bin, progress, cancel).await?;
    if let Some((part, stats)) = &files {
        progress.set_phase("verifying the file archive");
        let (_, reader) = store.reader(&format!("{location}/{FILES}")).await?;
        let checked = archive::check(reader, None, progress.clone()).await.context("reading the file archive back")?;
        if checked.sha256 != part.sha256 || checked.bytes != part.bytes || checked.files != stats.files {
            bail!("the stored file archive does not match what was written ({} files, {} bytes read back)", checked.files, checked.bytes);
        }
    }
    let verify_ms = t.elapsed().as_millis() as u64;

    // 4. The manifest, last.
    let mut parts = vec![ManifestPart { name: DUMP.into(), bytes: dump.bytes, sha256: dump.sha256.clone(), toc_entries: Some(toc), files: None, skipped: None }];
    if let Some((part, stats)) = &files {
        parts.push(ManifestPart { name: FILES.into(), bytes: part.bytes, sha256: part.sha256.clone(), toc_entries: None, files: Some(stats.files), skipped: Some(stats.skipped) });
    }
    let manifest = Manifest {
        format: "odooops-backup/1".into(),
        backup_id: id,
        project: info.project_slug.clone(),
        environment: info.environment_name.clone(),
        kind: info.kind.as_str().into(),
        database: database.clone(),
        server_version,
        pg_dump_version,
        compression: info.compression,
        started_at: started,
        finished_at: chrono::Utc::now(),
        timings_ms: serde_json::json!({"dump": dump_ms, "files": files_ms, "verify": verify_ms, "total": clock.elapsed().as_millis() as u64}),
        parts,
    };
    let written = store.put_small(&format!("{location}/{MANIFEST}"), serde_json::to_vec_pretty(&manifest)?).await?;

    // 5. Good, in one transaction with the environment's last good backup and the audit.
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let (files_part, files_stats) = files.map(|(p, s)| (Some(p), Some(s))).unwrap_or((None, None));
    let done = sqlx::query(
        "update ops.backups set state = 'good', phase = '', finished_at = now(), verified_at = now(), manifest_sha256 = $2,
                toc_entries = $3, files_bytes = $4, files_sha256 = $5, files_count = $6, bytes_done = $7, error = ''
          where id = $1 and state = 'verifying'",
    )
    .bind(id)
    .bind(&written.sha256)
    .bind(toc as i32)
    .bind(files_part.as_ref().map(|p| p.bytes as i64))
    .bind(files_part.as_ref().map(|p| p.sha256.clone()))
    .bind(files_stats.map(|s| s.files as i64))
    .bind(dump.bytes as i64)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        bail!("the backup was taken over or cancelled before it could be marked good");
    }
    sqlx::query("update ops.environments set last_good_backup_at = now() where id = $1").bind(info.environment_id).execute(&mut *tx).await?;
    audit(
        &mut tx,
        "backup.succeeded",
        &id.to_string(),
        serde_json::json!({
            "environment": info.environment_name, "kind": info.kind.as_str(), "requested_by": info.requested_by_email,
            "database": database, "dump_bytes": dump.bytes, "dump_sha256": dump.sha256,
            "files": files_stats.map(|s| s.files), "duration_ms": clock.elapsed().as_millis() as u64,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The dump's size, guessed from the last good backup's ratio (dump / database), else a
/// third of the database.
async fn expected_dump_bytes(ctx: &BackupContext, claims: &DbClaims, env_id: Uuid, db_size: i64, compression: i32) -> Result<i64> {
    let mut tx = ctx.db.tenant_tx(claims).await?;
    let last: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
        "select dump_bytes, db_size_bytes from ops.backups where environment_id = $1 and state = 'good' order by finished_at desc limit 1",
    )
    .bind(env_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(match last {
        Some((Some(dump), Some(size))) if size > 0 => ((dump as f64) * (db_size as f64 / size as f64)) as i64,
        _ if compression == 0 => db_size * 2 / 3,
        _ => db_size / 3,
    }
    .max(1))
}

fn check_free_space(root: &std::path::Path, expected: i64) -> Result<()> {
    std::fs::create_dir_all(root)?;
    let st = nix::sys::statvfs::statvfs(root).context("reading free disk space")?;
    let free = st.blocks_available() as u128 * st.fragment_size() as u128;
    let needed = (expected.max(0) as u128) * 12 / 10;
    if free < needed {
        bail!(
            "not enough disk space in {}: about {} needed, {} free",
            root.display(),
            app::models::human_bytes(needed as i64),
            app::models::human_bytes(free.min(i64::MAX as u128) as i64)
        );
    }
    Ok(())
}

pub async fn tool_version(path: &std::path::Path) -> String {
    match tokio::process::Command::new(path).arg("--version").output().await {
        Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Err(_) => String::new(),
    }
}

/// `pg_dump -Fc` of `database` streamed into `key`.
#[allow(clippy::too_many_arguments)]
pub async fn dump_into(store: &Store, key: &str, admin_url: &str, bin: &std::path::Path, database: &str, level: i32, progress: &Progress, cancel: &CancellationToken) -> Result<PartInfo> {
    let (url, password) = copy::tool_target(admin_url, database)?;
    let mut child = copy::tool(bin, "pg_dump", &password)
        .args(["--format=custom", &format!("--compress={}", level.clamp(0, 9)), "--dbname"])
        .arg(&url)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting pg_dump")?;
    let err = copy::stderr_tail(&mut child);
    let mut out = child.stdout.take().ok_or_else(|| anyhow!("pg_dump has no stdout"))?;
    widen_pipe(&out);
    let uploaded = store.upload(key, &mut out, &|n| progress.set_done(n), cancel).await;
    drop(out);
    if uploaded.is_err() {
        kill_group(&child);
    }
    let status = child.wait().await?;
    let err = err.await.unwrap_or_default();
    let part = uploaded?;
    if !status.success() {
        // The upload completed with whatever pg_dump wrote: it must not stay.
        let _ = store.delete_prefix(key.rsplit_once('/').map(|(d, _)| d).unwrap_or(key)).await;
        bail!("pg_dump of {database} failed ({status}): {err}");
    }
    Ok(part)
}

/// A 1 MiB pipe instead of Linux's 64 KiB: fewer wake-ups between the tool and us (the
/// benchmark measured the default pipe as most of the streaming overhead). Best effort.
pub fn widen_pipe(fd: &impl std::os::fd::AsFd) {
    #[cfg(target_os = "linux")]
    {
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
    }
}

/// Stops a tool and everything it started (SIGTERM to its process group, SIGKILL on drop).
pub fn kill_group(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
    }
}

/// Reads the stored dump back: sha256 and size must match what was written, `pg_restore`
/// must decode every block (`-f /dev/null`; `--list` alone passes a truncated dump) and list
/// its table of contents. Returns the number of TOC entries.
pub async fn verify_dump(store: &Store, key: &str, written: &PartInfo, bin: &std::path::Path, progress: &Progress, cancel: &CancellationToken) -> Result<u32> {
    let (size, mut reader) = store.reader(key).await?;
    if size != written.bytes {
        bail!("the stored dump has {size} bytes, {} were written", written.bytes);
    }
    let mut decode = tokio::process::Command::new(bin.join("pg_restore"))
        .args(["--file=/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting pg_restore")?;
    let mut list = tokio::process::Command::new(bin.join("pg_restore"))
        .args(["--list"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting pg_restore --list")?;
    let decode_err = copy::stderr_tail(&mut decode);
    let list_err = copy::stderr_tail(&mut list);
    let mut list_out = list.stdout.take().ok_or_else(|| anyhow!("pg_restore has no stdout"))?;
    let listing = tokio::spawn(async move {
        let mut s = String::new();
        let _ = list_out.read_to_string(&mut s).await;
        s
    });
    let mut decode_in = decode.stdin.take();
    let mut list_in = list.stdin.take();
    let mut hash = sha2::Sha256::new();
    use sha2::Digest;
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    progress.set_done(0);
    let fed: Result<()> = async {
        loop {
            let n = tokio::select! {
                biased;
                _ = cancel.cancelled() => bail!(store::Cancelled),
                n = reader.read(&mut buf) => n?,
            };
            if n == 0 {
                return Ok(());
            }
            hash.update(&buf[..n]);
            bytes += n as u64;
            progress.set_done(bytes);
            if let Some(w) = decode_in.as_mut() {
                if w.write_all(&buf[..n]).await.is_err() {
                    // It stopped reading: its exit status says why.
                    decode_in = None;
                }
            }
            if let Some(w) = list_in.as_mut() {
                if w.write_all(&buf[..n]).await.is_err() {
                    // --list reads only the table of contents and leaves.
                    list_in = None;
                }
            }
        }
    }
    .await;
    drop(decode_in);
    drop(list_in);
    fed?;
    let decoded = decode.wait().await?;
    let listed = list.wait().await?;
    let (decode_err, list_err) = (decode_err.await.unwrap_or_default(), list_err.await.unwrap_or_default());
    let listing = listing.await.unwrap_or_default();
    let sha = hex::encode(hash.finalize());
    if bytes != written.bytes || sha != written.sha256 {
        bail!("the stored dump does not match what was written (sha256 {sha}, {bytes} bytes)");
    }
    if !decoded.success() {
        bail!("pg_restore could not read the dump back ({decoded}): {decode_err}");
    }
    if !listed.success() {
        bail!("pg_restore --list failed ({listed}): {list_err}");
    }
    let entries = listing.lines().filter(|l| !l.trim().is_empty() && !l.starts_with(';')).count() as u32;
    Ok(entries)
}
