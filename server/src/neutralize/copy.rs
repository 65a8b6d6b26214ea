//! Copying a database on the same server: `pg_dump -Fc` streamed into `pg_restore` through a
//! pipe (never the whole dump in memory), with the PostgreSQL tools of the server's version.
//! Passwords reach the tools through `PGPASSWORD`, never on a command line.
use anyhow::{anyhow, bail, Context, Result};
use app::models::sqlcheck::quote_ident;
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// Reported while the dump streams (about every 4 MiB and once at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress {
    pub bytes: u64,
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyStats {
    /// Size of the custom-format dump that went through the pipe.
    pub bytes: u64,
    pub duration_ms: u64,
}

/// Database names this module creates, drops or renames: lower-case letters, digits, `_`
/// (the rule of `ops.environments.database_name`).
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        bail!("“{name}” is not a valid database name (a-z, 0-9 and _, at most 63 characters)")
    }
}

pub(crate) async fn admin(admin_url: &str) -> Result<PgConnection> {
    PgConnection::connect(admin_url).await.context("connecting to PostgreSQL as its administrator")
}

pub async fn database_exists(conn: &mut PgConnection, name: &str) -> Result<bool> {
    Ok(sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)").bind(name).fetch_one(conn).await?)
}

/// Drops `name` if it exists, disconnecting its sessions first.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    check_name(name)?;
    let mut conn = admin(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop database if exists {} with (force)", quote_ident(name))))
        .execute(&mut conn)
        .await
        .with_context(|| format!("dropping database {name}"))?;
    Ok(())
}

/// Renames `from` to `to` (which must not exist), disconnecting `from`'s sessions first.
/// Two renames swap a fresh copy in: live → live_old, fresh → live.
pub async fn rename_database(admin_url: &str, from: &str, to: &str) -> Result<()> {
    check_name(from)?;
    check_name(to)?;
    let mut conn = admin(admin_url).await?;
    if database_exists(&mut conn, to).await? {
        bail!("database {to} already exists");
    }
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()").bind(from).execute(&mut conn).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("alter database {} rename to {}", quote_ident(from), quote_ident(to))))
        .execute(&mut conn)
        .await
        .with_context(|| format!("renaming database {from} to {to}"))?;
    Ok(())
}

/// The directory with `pg_dump` and `pg_restore` for a server of `major` version: that
/// version's Debian directory, else the oldest newer one, else `PATH`.
pub(crate) fn tools_for(major: u32) -> Result<PathBuf> {
    let has = |dir: &PathBuf| dir.join("pg_dump").is_file() && dir.join("pg_restore").is_file();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_string_lossy().parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(v, bin)| *v >= major && has(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.into_iter().next() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).find(has))
        .ok_or_else(|| anyhow!("pg_dump and pg_restore for PostgreSQL {major} not found: install the Debian package postgresql-client-{major}"))
}

/// The connection URL for a tool: `admin_url` pointed at `db`, without its password.
pub fn tool_target(admin_url: &str, db: &str) -> Result<(String, Option<String>)> {
    let mut url = reqwest::Url::parse(admin_url).context("the administrator URL is not a URL")?;
    let password = url.password().map(percent_decode);
    url.set_password(None).map_err(|_| anyhow!("the administrator URL cannot carry a user"))?;
    url.set_path(&format!("/{db}"));
    Ok((url.to_string(), password))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn tool(bin: &Path, name: &str, password: &Option<String>) -> Command {
    let mut cmd = Command::new(bin.join(name));
    cmd.env_remove("PGPASSWORD").kill_on_drop(true).stderr(Stdio::piped());
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw);
    }
    cmd
}

/// Reads a child's stderr to the end, keeping the last 2 KB (for the error message).
pub(crate) fn stderr_tail(child: &mut Child) -> tokio::task::JoinHandle<String> {
    let stderr = child.stderr.take();
    tokio::spawn(async move {
        let mut all = Vec::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_end(&mut all).await;
        }
        let text = String::from_utf8_lossy(&all).trim().to_string();
        let start = text.char_indices().rev().nth(2000).map(|(i, _)| i).unwrap_or(0);
        text[start..].to_string()
    })
}

/// Creates `target_db` (an error if it exists) as a copy of `source_db`. On any failure the
/// half-made target is dropped.
#[tracing::instrument(skip(admin_url, progress))]
pub async fn copy_database(admin_url: &str, source_db: &str, target_db: &str, progress: impl Fn(CopyProgress)) -> Result<CopyStats> {
    check_name(source_db)?;
    check_name(target_db)?;
    let mut conn = admin(admin_url).await?;
    if !database_exists(&mut conn, source_db).await? {
        bail!("source database {source_db} does not exist");
    }
    if database_exists(&mut conn, target_db).await? {
        bail!("target database {target_db} already exists: drop it first or choose another name");
    }
    let version: String = sqlx::query_scalar("show server_version_num").fetch_one(&mut conn).await?;
    let major = version.trim().parse::<u32>().context("reading the server version")? / 10000;
    let bin = tools_for(major)?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {} template template0", quote_ident(target_db))))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating database {target_db}"))?;
    conn.close().await.ok();
    match stream(admin_url, &bin, source_db, target_db, &progress).await {
        Ok(stats) => Ok(stats),
        Err(e) => {
            if let Err(d) = drop_database(admin_url, target_db).await {
                tracing::error!(error = %d, target_db, "dropping the half-made copy failed");
            }
            Err(e)
        }
    }
}

async fn stream(admin_url: &str, bin: &Path, source_db: &str, target_db: &str, progress: &impl Fn(CopyProgress)) -> Result<CopyStats> {
    let clock = Instant::now();
    let (source_url, password) = tool_target(admin_url, source_db)?;
    let (target_url, _) = tool_target(admin_url, target_db)?;
    let mut dump = tool(bin, "pg_dump", &password)
        .args(["--format=custom", "--no-sync", "--dbname"])
        .arg(&source_url)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .context("starting pg_dump")?;
    let mut restore = tool(bin, "pg_restore", &password)
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&target_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("starting pg_restore")?;
    let (dump_err, restore_err) = (stderr_tail(&mut dump), stderr_tail(&mut restore));
    let mut from = dump.stdout.take().ok_or_else(|| anyhow!("pg_dump has no stdout"))?;
    let mut into = restore.stdin.take().ok_or_else(|| anyhow!("pg_restore has no stdin"))?;
    let piped = pipe(&mut from, &mut into, progress).await;
    // End of input for pg_restore; and if it stopped reading early, pg_dump must not block
    // on a full pipe: closing our end makes it exit.
    drop(into);
    drop(from);
    let dump_status = dump.wait().await?;
    let restore_status = restore.wait().await?;
    let (dump_err, restore_err) = (dump_err.await.unwrap_or_default(), restore_err.await.unwrap_or_default());
    if !dump_status.success() {
        bail!("pg_dump of {source_db} failed ({dump_status}): {dump_err}");
    }
    if !restore_status.success() {
        bail!("pg_restore into {target_db} failed ({restore_status}): {restore_err}");
    }
    let bytes = piped.context("streaming the dump")?;
    progress(CopyProgress { bytes, done: true });
    Ok(CopyStats { bytes, duration_ms: clock.elapsed().as_millis() as u64 })
}

/// Copies until end of input; a closed pipe on the restore side is left to its exit status.
async fn pipe(from: &mut (impl AsyncRead + Unpin), into: &mut tokio::process::ChildStdin, progress: &impl Fn(CopyProgress)) -> Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let (mut bytes, mut reported, mut last) = (0u64, 0u64, Instant::now());
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(bytes);
        }
        into.write_all(&buf[..n]).await?;
        bytes += n as u64;
        if bytes - reported >= 4 << 20 || last.elapsed() > Duration::from_secs(2) {
            progress(CopyProgress { bytes, done: false });
            (reported, last) = (bytes, Instant::now());
        }
    }
}
