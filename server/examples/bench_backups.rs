//! Backup and restore benchmark: prints figures, asserts no timing.
//!
//! The console's backup engine (`odooops::backups`) against the PostgreSQL tools run by hand,
//! on the same generated Odoo-like database (an `account_move_line` of `BENCH_ROWS` rows made
//! with `generate_series`, its primary key and two indexes, plus `neutralize/sample.sql`, so
//! that neutralization has secrets to remove) and a generated file store (1,000 × 256 KB and
//! 4,000 × 8 KB random files at full size). Every arm runs `BENCH_RUNS` times, the two sides
//! alternating which goes first; the figures are medians with min–max.
//!
//! - A. Backup: `pg_dump -Fc -Z<L> -f file` versus the console's backup with the same flags
//!   (`L` = the project's `backup_compression`, default 1). The console side is what a worker
//!   does after its claim: `worker::claim` (the real `ops.claim_backup_job`), then
//!   `worker::run_job` (heartbeat, `job::run`: dump streamed through sha256 into local
//!   storage with fsync, read back and decoded by `pg_restore`, manifest, `good`, audit; then
//!   the retention pass). The dump, verify and total figures come from the manifest's
//!   timings and from the wall clock around the claim and `run_job`. Production has no data
//!   directory here, so this arm is the database alone. A third side does the console's work
//!   with the shell (`pg_dump … | tee >(sha256sum) > file; sync file`): what streaming and
//!   hashing cost by themselves, whoever does them.
//! - B. Restore: `create database … template template0` + `pg_restore --no-owner
//!   --exit-on-error -d new file` versus the console's restore phase: `restore::run` in
//!   staging mode, from its claim until it leaves the phase "restoring the database" (load the
//!   job, open the store, create the database, stored dump → sha256 → `pg_restore` stdin,
//!   compare the sha256 with the manifest's).
//! - C. File store: `tar -cf - . | zstd -3 -T1` into a file, then `sync` on it, versus
//!   `archive::pack` (tar + zstd level 3 on a blocking thread) into `Store::upload` (sha256,
//!   fsync). Reading back: `zstd -dc | tar -tf -` versus `archive::check`.
//! - R. Reading a stored part: the stored dump through `Store::reader` (what verification,
//!   restores and downloads read with) versus `tokio::fs::File` with 1 MiB reads, both
//!   hashed with sha256 (the file is in the page cache: this is the reader's own cost).
//! - D. Restore to staging end to end: the same `restore::run` runs as in B, of a backup that
//!   holds the file store too, from the claim to the end: restore, file store extracted,
//!   neutralization, switch, the previous staging database and file store dropped. Target:
//!   under 5 minutes.
//!
//! Run: `cargo run --release -p odooops --example bench_backups`
//!
//! Environment:
//! - `DATABASE_URL`: a cluster as its owner or a superuser (the console database and the
//!   environment databases are created there and dropped at the end). Unset: a throwaway
//!   cluster is started with `.ci/pg-throwaway` (which runs PostgreSQL with `fsync=off`).
//! - `BENCH_ROWS` (5,000,000 ≈ 1 GB), `BENCH_RUNS` (3), `BENCH_FILES_PERCENT` (the file store's
//!   size in percent of 1,000 × 256 KB + 4,000 × 8 KB; default: in proportion to
//!   `BENCH_ROWS`, so 100 at 5,000,000 rows), `BENCH_LEVEL` (the project's
//!   `backup_compression`, 0–9; default: the project's default).
//! - `BENCH_MD`: where to write the results section (default `spec/odooops/benchmarks.md`;
//!   `-` for nowhere). Only the part between the `bench_backups:begin/end` markers is replaced.
use anyhow::{bail, ensure, Context, Result};
use app::db::{Db, DbClaims};
use app::models::{BackupKind, RestoreMode, Role, StorageSettings};
use odooops::backups::store::Store;
use odooops::backups::worker::{self, JobKind};
use odooops::backups::{archive, job, restore, BackupContext, Progress};
use odooops::promotions::system_claims;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::Digest;
use sqlx::PgPool;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[path = "support/bench.rs"]
mod bench;
use bench::{config, env_num, fmt_int, loadavg, machine, spread, with_db, write_md, Cluster, Machine};

const PASSWORD: &str = "bench-password-123";
const EMAIL: &str = "bench-admin@example.com";
const WORKER: &str = "bench-backups";
const FULL_ROWS: usize = 5_000_000;
const OVERHEAD_TARGET: f64 = 5.0;
const E2E_TARGET_SECS: f64 = 300.0;
const ZSTD: &str = "/usr/bin/zstd";

struct Opts {
    rows: usize,
    runs: usize,
    files_percent: usize,
    level: Option<i32>,
    md: Option<PathBuf>,
}

impl Opts {
    fn parse() -> Result<Opts> {
        if let Some(a) = std::env::args().nth(1) {
            bail!("unknown argument {a:?} (this program takes none; see the file header for the environment variables)");
        }
        let rows = env_num("BENCH_ROWS", FULL_ROWS).max(1_000);
        let level = match std::env::var("BENCH_LEVEL") {
            Ok(v) => {
                let l: i32 = v.trim().parse().context("BENCH_LEVEL: a number from 0 to 9")?;
                ensure!((0..=9).contains(&l), "BENCH_LEVEL: a number from 0 to 9");
                Some(l)
            }
            Err(_) => None,
        };
        let md = match std::env::var("BENCH_MD") {
            Ok(v) if v == "-" => None,
            Ok(v) => Some(PathBuf::from(v)),
            Err(_) => Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/odooops/benchmarks.md")),
        };
        Ok(Opts {
            rows,
            runs: env_num("BENCH_RUNS", 3).max(1),
            files_percent: env_num("BENCH_FILES_PERCENT", (rows * 100).div_ceil(FULL_ROWS)).max(1),
            level,
            md,
        })
    }

    fn command(&self) -> String {
        let mut env = Vec::new();
        for name in ["BENCH_ROWS", "BENCH_RUNS", "BENCH_FILES_PERCENT", "BENCH_LEVEL"] {
            if let Ok(v) = std::env::var(name) {
                env.push(format!("{name}={v}"));
            }
        }
        env.push("cargo run --release -p odooops --example bench_backups".into());
        env.join(" ")
    }

    /// (count of 256 KB files, count of 8 KB files).
    fn files(&self) -> (usize, usize) {
        ((1_000 * self.files_percent).div_ceil(100), (4_000 * self.files_percent).div_ceil(100))
    }
}

// ---------------------------------------------------------------------------------------
// Tools and databases.

use odooops::neutralize::copy::tool_target;

/// Runs a tool to its end; an error with its stderr when it fails.
async fn run_tool(mut cmd: tokio::process::Command, what: &str) -> Result<()> {
    let out = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true).output().await.with_context(|| format!("starting {what}"))?;
    ensure!(out.status.success(), "{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}

fn pg_tool(bin: &Path, name: &str, password: &Option<String>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin.join(name));
    cmd.env_remove("PGPASSWORD");
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw);
    }
    cmd
}

async fn exec(pool: &PgPool, sql: String) -> Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(pool).await.with_context(|| format!("running {sql}"))?;
    Ok(())
}

async fn pool_for(url: &str, max: u32) -> Result<PgPool> {
    Ok(sqlx::postgres::PgPoolOptions::new().max_connections(max).connect(url).await?)
}

/// `count(*)` and `sum(amount)` of `account_move_line`: the restored copies must match.
async fn fingerprint(cluster_url: &str, db: &str) -> Result<(i64, String)> {
    let pool = pool_for(&with_db(cluster_url, db), 1).await?;
    let row: (i64, String) = sqlx::query_as("select count(*), coalesce(sum(amount), 0)::text from account_move_line").fetch_one(&pool).await?;
    pool.close().await;
    Ok(row)
}

/// Reads `r` to the end in 1 MiB reads into sha256: (bytes, hex digest).
async fn read_hashed(mut r: impl tokio::io::AsyncRead + Unpin) -> Result<(u64, String)> {
    use tokio::io::AsyncReadExt;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok((bytes, hex::encode(hash.finalize())));
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
}

// ---------------------------------------------------------------------------------------
// Data.

struct Generated {
    db_size: i64,
    table_size: i64,
    index_size: i64,
    files: u64,
    file_bytes: u64,
    secs_db: f64,
    secs_files: f64,
}

/// The Odoo-like database: `account_move_line` filled in two sessions, indexes built in two
/// sessions, frozen and analyzed (so no arm pays for hint bits), plus `sample.sql`.
async fn generate_database(cluster_url: &str, owner: &PgPool, db: &str, rows: usize) -> Result<(i64, i64, i64, f64)> {
    let t = Instant::now();
    exec(owner, format!("create database {db} template template0")).await?;
    let pool = pool_for(&with_db(cluster_url, db), 2).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(odooops::neutralize::sample::SAMPLE_SQL)).execute(&pool).await.context("loading sample.sql")?;
    exec(
        &pool,
        "create table account_move_line (
            id bigint not null,
            partner_id integer,
            name text,
            amount numeric(16, 2) not null,
            create_date timestamp not null,
            note text
         )"
        .into(),
    )
    .await?;
    let insert = "insert into account_move_line (id, partner_id, name, amount, create_date, note)
        select g, 1 + (g * 7919) % 20000, md5(g::text) || ' ' || md5((g * 31)::text),
               round(((g * 2654435761) % 10000000)::numeric / 100, 2) - 50000,
               timestamp '2019-01-01' + (g % 3000000) * interval '37 seconds',
               case when g % 3 = 0 then repeat(md5((g * 17)::text), 1 + ((g / 3) % 4)::int) end
          from generate_series($1::int8, $2::int8) g";
    let half = (rows / 2) as i64;
    let (a, b) = tokio::join!(
        sqlx::query(insert).bind(1i64).bind(half).execute(&pool),
        sqlx::query(insert).bind(half + 1).bind(rows as i64).execute(&pool)
    );
    a?;
    b?;
    let idx = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.acquire().await?;
            sqlx::raw_sql("set maintenance_work_mem = '256MB'").execute(&mut *conn).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
            Ok::<_, sqlx::Error>(())
        }
    };
    let (a, b) = tokio::join!(
        async {
            idx("create unique index account_move_line_pkey on account_move_line (id)").await?;
            idx("create index account_move_line_create_date_idx on account_move_line (create_date)").await
        },
        idx("create index account_move_line_partner_id_idx on account_move_line (partner_id)")
    );
    a?;
    b?;
    exec(&pool, "alter table account_move_line add constraint account_move_line_pkey primary key using index account_move_line_pkey".into()).await?;
    exec(&pool, "vacuum (freeze, analyze)".into()).await?;
    let _ = sqlx::raw_sql("checkpoint").execute(&pool).await;
    let sizes: (i64, i64, i64) = sqlx::query_as(
        "select pg_database_size(current_database()), pg_table_size('account_move_line'), pg_indexes_size('account_move_line')",
    )
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    Ok((sizes.0, sizes.1, sizes.2, t.elapsed().as_secs_f64()))
}

/// An Odoo file store: `<2 hex>/<40 hex>` names, incompressible content (attachments are
/// mostly PDFs and images, already compressed).
fn generate_files(dir: &Path, big: usize, small: usize) -> Result<(u64, u64)> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut buf = vec![0u8; 256 * 1024];
    let (mut files, mut bytes) = (0u64, 0u64);
    for i in 0..big + small {
        let size = if i < big { 256 * 1024 } else { 8 * 1024 };
        rng.fill_bytes(&mut buf[..size]);
        let name = hex::encode(sha2::Sha256::digest(format!("attachment-{i}")))[..40].to_string();
        let sub = dir.join(&name[..2]);
        std::fs::create_dir_all(&sub)?;
        std::fs::write(sub.join(&name), &buf[..size])?;
        files += 1;
        bytes += size as u64;
    }
    Ok((files, bytes))
}

// ---------------------------------------------------------------------------------------
// The console's side.

struct Console {
    ctx: BackupContext,
    owner: PgPool,
    tenant: Uuid,
    project: Uuid,
    user: Uuid,
    production: Uuid,
    staging: Uuid,
}

/// A finished backup's row, as the owner reads it.
#[derive(sqlx::FromRow)]
struct BackupDone {
    state: String,
    error: String,
    location: String,
    dump_bytes: Option<i64>,
    dump_sha256: Option<String>,
    files_bytes: Option<i64>,
    toc_entries: Option<i32>,
}

struct BackupRun {
    id: Uuid,
    location: String,
    wall: f64,
    dump: f64,
    files: f64,
    verify: f64,
    bytes: u64,
    sha256: String,
    files_bytes: u64,
    toc: u32,
}

impl Console {
    fn claims(&self) -> DbClaims {
        system_claims(self.tenant)
    }

    /// Queues a manual backup of production and runs it as a worker would after its claim.
    async fn backup(&self) -> Result<BackupRun> {
        let mut tx = self.ctx.db.tenant_tx(&self.claims()).await?;
        let id = app::db::backups::insert(&mut tx, self.project, self.production, BackupKind::Manual, Some(self.user), EMAIL, "benchmark").await?;
        tx.commit().await?;
        let t = Instant::now();
        let claimed = worker::claim(&self.ctx, WORKER).await?;
        ensure!(matches!(claimed, Some((JobKind::Backup, c, _)) if c == id), "the claim returned {claimed:?}, not backup {id}");
        worker::run_job(&self.ctx, WORKER, JobKind::Backup, id, self.tenant, &CancellationToken::new()).await;
        let wall = t.elapsed().as_secs_f64();
        let BackupDone { state, error, location, dump_bytes, dump_sha256: sha256, files_bytes, toc_entries: toc } =
            sqlx::query_as("select state::text as state, error, location, dump_bytes, dump_sha256, files_bytes, toc_entries from ops.backups where id = $1")
                .bind(id)
                .fetch_one(&self.owner)
                .await?;
        ensure!(state == "good", "backup {id} ended {state}: {error}");
        let manifest: job::Manifest = serde_json::from_slice(&std::fs::read(self.ctx.root.join(&location).join(job::MANIFEST)).context("reading the manifest")?)?;
        let ms = |k: &str| manifest.timings_ms.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN) / 1e3;
        Ok(BackupRun {
            id,
            location,
            wall,
            dump: ms("dump"),
            files: ms("files"),
            verify: ms("verify"),
            bytes: dump_bytes.unwrap_or(0) as u64,
            sha256: sha256.unwrap_or_default(),
            files_bytes: files_bytes.unwrap_or(0) as u64,
            toc: toc.unwrap_or(0) as u32,
        })
    }

    /// Restores `backup` into staging (staging mode) as a worker would after its claim, and
    /// times its phases from the progress it publishes.
    async fn restore(&self, backup: Uuid) -> Result<RestoreRun> {
        let claims = self.claims();
        let mut tx = self.ctx.db.tenant_tx(&claims).await?;
        let id = app::db::backups::queue_restore(&mut tx, backup, self.staging, RestoreMode::Staging, self.user, EMAIL, "benchmark").await?;
        tx.commit().await?;
        let progress = Arc::new(Progress::default());
        let t = Instant::now();
        let phases = Arc::new(Mutex::new(Vec::<(f64, String)>::new()));
        let stop = CancellationToken::new();
        let watcher = {
            let (progress, phases, stop) = (progress.clone(), phases.clone(), stop.clone());
            tokio::spawn(async move {
                let mut last = String::new();
                while !stop.is_cancelled() {
                    let p = progress.phase();
                    if p != last {
                        phases.lock().unwrap().push((t.elapsed().as_secs_f64(), p.clone()));
                        last = p;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        let claimed = worker::claim(&self.ctx, WORKER).await?;
        ensure!(matches!(claimed, Some((JobKind::Restore, c, _)) if c == id), "the claim returned {claimed:?}, not restore {id}");
        let cancel = CancellationToken::new();
        let hb = worker::heartbeat(&self.ctx, &claims, "restores", id, WORKER, progress.clone(), cancel.clone());
        let result = restore::run(&self.ctx, &claims, id, WORKER, &progress, &cancel).await;
        hb.abort();
        let wall = t.elapsed().as_secs_f64();
        stop.cancel();
        let _ = watcher.await;
        if let Err(e) = result {
            restore::failed(&self.ctx, &claims, id, &e, false).await;
            return Err(e.context(format!("restore {id}")));
        }
        let (state, new_db): (String, Option<String>) = sqlx::query_as("select state::text, new_database from ops.restores where id = $1").bind(id).fetch_one(&self.owner).await?;
        ensure!(state == "succeeded", "restore {id} ended {state}");
        let phases = phases.lock().unwrap().clone();
        let at = |name: &str| phases.iter().find(|(_, p)| p == name).map(|(s, _)| *s);
        let db_start = at("restoring the database").unwrap_or(0.0);
        let files_start = at("restoring the file store");
        let neutralize_start = at("neutralizing").context("the restore never reached neutralizing")?;
        let db_end = files_start.unwrap_or(neutralize_start);
        Ok(RestoreRun {
            new_db: new_db.context("the restore recorded no new database")?,
            restore_db: db_end,
            before_db: db_start,
            files: files_start.map(|f| neutralize_start - f),
            neutralize_switch: wall - neutralize_start,
            wall,
        })
    }
}

struct RestoreRun {
    new_db: String,
    /// From the claim to the end of the database phase.
    restore_db: f64,
    /// From the claim to the phase "restoring the database" (loading the job, opening the store).
    before_db: f64,
    files: Option<f64>,
    /// Neutralization, the switch, dropping the previous database and file store.
    neutralize_switch: f64,
    wall: f64,
}

// ---------------------------------------------------------------------------------------
// Figures.

#[derive(Default)]
struct Figures {
    a_plain: Vec<f64>,
    a_shell: Vec<f64>,
    a_dump: Vec<f64>,
    a_verify: Vec<f64>,
    a_total: Vec<f64>,
    a_plain_bytes: u64,
    a_console_bytes: u64,
    toc: u32,
    full: Option<BackupRun>,
    b_plain: Vec<f64>,
    b_console: Vec<f64>,
    b_before_db: Vec<f64>,
    d_total: Vec<f64>,
    d_files: Vec<f64>,
    d_neutralize: Vec<f64>,
    r_store: Vec<f64>,
    r_file: Vec<f64>,
    r_bytes: u64,
    c_plain: Vec<f64>,
    c_console: Vec<f64>,
    c_plain_read: Vec<f64>,
    c_console_read: Vec<f64>,
    c_plain_bytes: u64,
    c_console_bytes: u64,
}

fn secs(v: &[f64]) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    let (med, min, max) = spread(v);
    if v.len() == 1 {
        format!("{med:.2} s")
    } else {
        format!("**{med:.2} s** ({min:.2}–{max:.2})")
    }
}

fn median(v: &[f64]) -> f64 {
    spread(v).0
}

fn overhead(console: &[f64], plain: &[f64]) -> Option<f64> {
    (!console.is_empty() && !plain.is_empty()).then(|| 100.0 * (median(console) / median(plain) - 1.0))
}

fn pct_str(p: Option<f64>) -> String {
    p.map(|p| format!("{p:+.1} %")).unwrap_or_else(|| "n/a".into())
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[allow(clippy::too_many_arguments)]
fn report(opts: &Opts, m: &Machine, g: &Generated, f: &Figures, level: i32, pg_dump_version: &str, zstd: bool, started: Instant) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Command: `{}`  ", opts.command());
    let _ = writeln!(s, "Date: {}; {} runs per arm, alternating which side goes first; the whole program took {:.0} s  ", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"), opts.runs, started.elapsed().as_secs_f64());
    let _ = writeln!(s, "Machine: {} CPUs ({}), {:.0} GiB RAM; load average {} before, {} after  ", m.cpus, m.cpu_model, m.mem_gib, m.load_before, loadavg());
    let _ = writeln!(s, "PostgreSQL: {}; {}  ", m.pg_version, pg_dump_version);
    let _ = writeln!(s, "Settings: {}  ", m.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "));
    let _ = writeln!(s, "Compression: `backup_compression` = {level} (`pg_dump -Fc -Z{level}` on both sides); file store archives zstd level 3, one thread  ");
    let _ = writeln!(
        s,
        "Data: `account_move_line` {} rows; database {} (table {}, indexes {}), generated in {:.0} s; file store {} files, {}, written in {:.2} s  ",
        fmt_int(opts.rows as f64),
        mb(g.db_size as u64),
        mb(g.table_size as u64),
        mb(g.index_size as u64),
        g.secs_db,
        fmt_int(g.files as f64),
        mb(g.file_bytes),
        g.secs_files
    );
    if opts.rows < FULL_ROWS {
        let _ = writeln!(s, "**Reduced size**: {} rows instead of {} (≈ 1 GB).  ", fmt_int(opts.rows as f64), fmt_int(FULL_ROWS as f64));
    }
    s.push('\n');
    let _ = writeln!(s, "| Arm | Plain tools | Console | Console vs plain |");
    let _ = writeln!(s, "|---|---:|---:|---:|");
    let _ = writeln!(s, "| A. Backup: dump (plain: `pg_dump -f file`; console: pg_dump → sha256 → store, fsync) | {} | {} | {} |", secs(&f.a_plain), secs(&f.a_dump), pct_str(overhead(&f.a_dump, &f.a_plain)));
    let _ = writeln!(
        s,
        "| A. Backup: dump, streamed by the shell (`pg_dump \\| tee >(sha256sum) > file; sync file`; console as above) | {} | {} | {} |",
        secs(&f.a_shell),
        secs(&f.a_dump),
        pct_str(overhead(&f.a_dump, &f.a_shell))
    );
    let _ = writeln!(s, "| A. Backup: verification (read back, sha256, `pg_restore -f /dev/null` and `--list`) | — | {} | |", secs(&f.a_verify));
    let _ = writeln!(s, "| A. Backup: whole job (claim → good: dump, verification, manifest, audit, retention pass) | {} | {} | {} (verification included) |", secs(&f.a_plain), secs(&f.a_total), pct_str(overhead(&f.a_total, &f.a_plain)));
    let _ = writeln!(s, "| B. Restore: database (create database + `pg_restore`; console: claim → end of \"restoring the database\") | {} | {} | {} |", secs(&f.b_plain), secs(&f.b_console), pct_str(overhead(&f.b_console, &f.b_plain)));
    let _ = writeln!(
        s,
        "| R. Reading the stored dump ({}) with sha256 (plain: `tokio::fs::File`, 1 MiB reads; console: `Store::reader`) | {} | {} | {} |",
        mb(f.r_bytes),
        secs(&f.r_file),
        secs(&f.r_store),
        pct_str(overhead(&f.r_store, &f.r_file))
    );
    let (cp, cc, cpr) = if zstd { (secs(&f.c_plain), secs(&f.c_plain_read), pct_str(overhead(&f.c_console, &f.c_plain))) } else { ("no /usr/bin/zstd".into(), "no /usr/bin/zstd".into(), "n/a".into()) };
    let _ = writeln!(s, "| C. File store: archive (plain: `tar \\| zstd -3 -T1` + `sync`; console: `archive::pack` → `Store::upload`) | {} | {} | {} |", cp, secs(&f.c_console), cpr);
    let _ = writeln!(
        s,
        "| C. File store: read back (plain: `zstd -dc \\| tar -tf -`; console: `archive::check`) | {} | {} | {} |",
        cc,
        secs(&f.c_console_read),
        if zstd { pct_str(overhead(&f.c_console_read, &f.c_plain_read)) } else { "n/a".into() }
    );
    let _ = writeln!(s, "| D. Restore to staging end to end (claim → switched, old database dropped) | — | {} | target < {E2E_TARGET_SECS:.0} s |", secs(&f.d_total));
    s.push('\n');
    let _ = writeln!(
        s,
        "Sizes: dump {} (plain) / {} (console), {} TOC entries; file archive {} (plain) / {} (console).  ",
        mb(f.a_plain_bytes),
        mb(f.a_console_bytes),
        f.toc,
        if zstd { mb(f.c_plain_bytes) } else { "n/a".into() },
        mb(f.c_console_bytes)
    );
    if let Some(full) = &f.full {
        let _ = writeln!(
            s,
            "Backup with the file store (one run, the source of B and D): dump {:.2} s, file store {:.2} s, verification {:.2} s, whole job {:.2} s; parts {} + {}.  ",
            full.dump,
            full.files,
            full.verify,
            full.wall,
            mb(full.bytes),
            mb(full.files_bytes)
        );
    }
    let _ = writeln!(
        s,
        "D in parts (medians): before the database phase {:.2} s, database {:.2} s, file store {:.2} s, neutralization + switch + dropping the previous copy {:.2} s.",
        median(&f.b_before_db),
        median(&f.b_console) - median(&f.b_before_db),
        if f.d_files.is_empty() { 0.0 } else { median(&f.d_files) },
        median(&f.d_neutralize)
    );
    let _ = writeln!(s, "\n### Targets\n");
    let _ = writeln!(s, "| Target | Result | |");
    let _ = writeln!(s, "|---|---:|---|");
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let dump = overhead(&f.a_dump, &f.a_plain).unwrap_or(f64::NAN);
    let rest = overhead(&f.b_console, &f.b_plain).unwrap_or(f64::NAN);
    let e2e = median(&f.d_total);
    let _ = writeln!(s, "| Backup dump phase ≤ {OVERHEAD_TARGET:.0} % over `pg_dump` | {dump:+.1} % | {} |", verdict(dump <= OVERHEAD_TARGET));
    let _ = writeln!(s, "| Restore ≤ {OVERHEAD_TARGET:.0} % over `pg_restore` | {rest:+.1} % | {} |", verdict(rest <= OVERHEAD_TARGET));
    let _ = writeln!(s, "| Restore to staging end to end < {E2E_TARGET_SECS:.0} s | {e2e:.1} s | {} |", verdict(e2e < E2E_TARGET_SECS));
    s
}

// ---------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,sqlx=error".into())).with_writer(std::io::stderr).init();
    let opts = Opts::parse()?;
    let cluster = Cluster::start()?;
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let console_db = format!("bench_{tag}");
    let prefix = format!("bkb_{tag}");
    let work = std::env::temp_dir().join(format!("odooops-bench-backups-{tag}"));
    let result = run(&opts, &cluster, &console_db, &prefix, &work).await;
    if cluster.throwaway.is_none() {
        // Someone else's cluster: drop every database this run made.
        if let Ok(pool) = pool_for(&cluster.url, 1).await {
            let names: Vec<String> = sqlx::query_scalar("select datname from pg_database where starts_with(datname, $1)").bind(&prefix).fetch_all(&pool).await.unwrap_or_default();
            for n in names {
                let _ = exec(&pool, format!("drop database if exists \"{n}\" with (force)")).await;
            }
        }
    }
    cluster.finish(&console_db).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn run(opts: &Opts, cluster: &Cluster, console_db: &str, prefix: &str, work: &Path) -> Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(work)?;
    odooops::db::ensure_database(&cluster.url, console_db).await?;
    let cfg = config(&with_db(&cluster.url, console_db));
    let database = odooops::db::Database::open(&cfg).await.context("opening the console database")?;
    let owner = database.owner.clone();
    let m = machine(&owner, &["shared_buffers", "fsync", "synchronous_commit", "wal_level", "max_wal_size", "maintenance_work_mem"]).await?;
    println!("== OdooOps backup and restore benchmark ==");
    println!("machine     {} CPUs, {}, {:.0} GiB RAM, load average {}", m.cpus, m.cpu_model, m.mem_gib, m.load_before);
    println!("postgresql  {}", m.pg_version);
    println!("settings    {}", m.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "));
    if m.load_before.split_whitespace().next().and_then(|l| l.parse::<f64>().ok()).is_some_and(|l| l >= 1.0) {
        eprintln!("note: the machine is busy (load average {}): figures will be noisy", m.load_before);
    }

    // The console: tenant, project (production, staging, development), an admin.
    let mut conn = owner.acquire().await?;
    let tenant = odooops::admin::ensure_tenant(&mut conn, "bench", "Bench Corp").await?;
    let project = odooops::admin::create_project_in(&mut conn, tenant, "erp", "Bench ERP", "").await?;
    let user = odooops::admin::upsert_member(&mut conn, tenant, EMAIL, "Bench Admin", Role::Admin, PASSWORD).await?;
    let env_id = |name: &'static str| sqlx::query_scalar::<_, Uuid>("select id from ops.environments where project_id = $1 and name = $2").bind(project).bind(name);
    let production = env_id("production").fetch_one(&mut *conn).await?;
    let staging = env_id("staging").fetch_one(&mut *conn).await?;
    if let Some(l) = opts.level {
        sqlx::query("update ops.projects set backup_compression = $2 where id = $1").bind(project).bind(l).execute(&mut *conn).await?;
    }
    let level: i32 = sqlx::query_scalar("select backup_compression from ops.projects where id = $1").bind(project).fetch_one(&mut *conn).await?;
    drop(conn);
    let ctx = BackupContext {
        db: Db::new(database.app.clone()),
        owner_url: Arc::new(database.owner_url.clone()),
        root: work.join("backups"),
        smtp: None,
        default_hour: 2,
        stale: Duration::from_secs(60),
        heartbeat: Duration::from_secs(2),
        workers: 1,
    };
    let console = Console { ctx, owner: owner.clone(), tenant, project, user, production, staging };
    let (_, bin) = job::server_tools(&console.ctx.admin_url()).await?;
    let pg_dump_version = job::tool_version(&bin.join("pg_dump")).await;
    let owner_url = console.ctx.admin_url();

    // The data.
    let source = format!("{prefix}_prd");
    eprintln!("generating {} rows in {source} …", fmt_int(opts.rows as f64));
    let (db_size, table_size, index_size, secs_db) = generate_database(&cluster.url, &owner, &source, opts.rows).await?;
    let source_print = fingerprint(&cluster.url, &source).await?;
    let (big, small) = opts.files();
    let prd_data = work.join("prd-data");
    let filestore = prd_data.join("filestore").join(&source);
    eprintln!("writing a file store of {big} + {small} files …");
    let t = Instant::now();
    let (files, file_bytes) = {
        let dir = filestore.clone();
        tokio::task::spawn_blocking(move || generate_files(&dir, big, small)).await??
    };
    let g = Generated { db_size, table_size, index_size, files, file_bytes, secs_db, secs_files: t.elapsed().as_secs_f64() };
    println!(
        "data        {} rows, database {} (table {}, indexes {}) in {:.1} s; file store {} files, {} in {:.1} s",
        fmt_int(opts.rows as f64),
        mb(db_size as u64),
        mb(table_size as u64),
        mb(index_size as u64),
        g.secs_db,
        fmt_int(files as f64),
        mb(file_bytes),
        g.secs_files
    );
    println!("compression backup_compression = {level}; {pg_dump_version}");
    // Production is the generated database, without a data directory for arm A; staging has
    // an (empty) database to be replaced and a data directory.
    let staging_db = format!("{prefix}_stg");
    exec(&owner, format!("create database {staging_db} template template0")).await?;
    let stg_data = work.join("stg-data");
    std::fs::create_dir_all(stg_data.join("filestore"))?;
    sqlx::query("update ops.environments set database_name = $2, data_dir = null where id = $1").bind(production).bind(&source).execute(&owner).await?;
    sqlx::query("update ops.environments set database_name = $2, data_dir = $3 where id = $1").bind(staging).bind(&staging_db).bind(stg_data.to_string_lossy().as_ref()).execute(&owner).await?;

    let mut f = Figures::default();
    let (url, password) = tool_target(&owner_url, &source)?;
    let plain_dump = work.join("plain.dump");

    // A. Backup.
    println!("\n-- A. backup: pg_dump -Fc -Z{level} -f file vs the console's backup job --");
    let shell_dump = work.join("shell.dump");
    for run in 0..opts.runs {
        let order = match run % 3 {
            0 => [0, 1, 2],
            1 => [1, 2, 0],
            _ => [2, 0, 1],
        };
        for side in order {
            if side == 2 {
                let mut cmd = tokio::process::Command::new("bash");
                cmd.arg("-o")
                    .arg("pipefail")
                    .arg("-c")
                    .arg(r#""$PG_DUMP" --format=custom --compress="$LEVEL" --dbname "$URL" | tee >(sha256sum > /dev/null) > "$OUT" && sync "$OUT""#)
                    .env("PG_DUMP", bin.join("pg_dump"))
                    .env("LEVEL", level.to_string())
                    .env("URL", &url)
                    .env("OUT", &shell_dump)
                    .env_remove("PGPASSWORD");
                if let Some(pw) = &password {
                    cmd.env("PGPASSWORD", pw);
                }
                let t = Instant::now();
                run_tool(cmd, "pg_dump | tee").await?;
                let s = t.elapsed().as_secs_f64();
                let _ = std::fs::remove_file(&shell_dump);
                f.a_shell.push(s);
                println!("run {run} shell    pg_dump | tee >(sha256sum) > file; sync {s:>7.2} s");
            } else if side == 0 {
                let _ = std::fs::remove_file(&plain_dump);
                let mut cmd = pg_tool(&bin, "pg_dump", &password);
                cmd.args(["--format=custom", &format!("--compress={level}"), "--file"]).arg(&plain_dump).arg("--dbname").arg(&url);
                let t = Instant::now();
                run_tool(cmd, "pg_dump").await?;
                let s = t.elapsed().as_secs_f64();
                f.a_plain.push(s);
                f.a_plain_bytes = std::fs::metadata(&plain_dump)?.len();
                println!("run {run} plain    pg_dump {s:>7.2} s  ({})", mb(f.a_plain_bytes));
            } else {
                let b = console.backup().await?;
                println!("run {run} console  dump {:>7.2} s  verify {:>6.2} s  whole job {:>7.2} s  ({})", b.dump, b.verify, b.wall, mb(b.bytes));
                f.a_dump.push(b.dump);
                f.a_verify.push(b.verify);
                f.a_total.push(b.wall);
                f.a_console_bytes = b.bytes;
                f.toc = b.toc;
            }
        }
    }

    // C. File store (before production gets its data directory: nothing else runs meanwhile).
    let zstd = Path::new(ZSTD).is_file();
    println!("\n-- C. file store: tar | zstd -3 -T1 vs archive::pack → Store::upload --");
    if !zstd {
        println!("{ZSTD} is missing: only the console's side runs");
    }
    let store = Store::open(&StorageSettings::Local, "", &console.ctx.root)?;
    let plain_archive = work.join("plain.tar.zst");
    for run in 0..opts.runs {
        for side in if run % 2 == 0 { [0, 1] } else { [1, 0] } {
            if side == 0 && zstd {
                let _ = std::fs::remove_file(&plain_archive);
                let mut cmd = tokio::process::Command::new("bash");
                cmd.arg("-o").arg("pipefail").arg("-c").arg(format!("tar -cf - . | {ZSTD} -3 -T1 -q -o '{0}' && sync '{0}'", plain_archive.display())).current_dir(&filestore);
                let t = Instant::now();
                run_tool(cmd, "tar | zstd").await?;
                let pack = t.elapsed().as_secs_f64();
                f.c_plain_bytes = std::fs::metadata(&plain_archive)?.len();
                let mut cmd = tokio::process::Command::new("bash");
                cmd.arg("-o").arg("pipefail").arg("-c").arg(format!("{ZSTD} -dc -q '{}' | tar -tf - > /dev/null", plain_archive.display()));
                let t = Instant::now();
                run_tool(cmd, "zstd -dc | tar -t").await?;
                let read = t.elapsed().as_secs_f64();
                println!("run {run} plain    archive {pack:>7.2} s  read back {read:>6.2} s  ({})", mb(f.c_plain_bytes));
                f.c_plain.push(pack);
                f.c_plain_read.push(read);
            } else if side == 1 {
                let dir = format!("files-{run}");
                let key = odooops::backups::store::key(&["bench", &dir, job::FILES])?;
                let progress = Arc::new(Progress::default());
                let cancel = CancellationToken::new();
                let t = Instant::now();
                let (mut reader, task) = archive::pack(filestore.clone(), 3, progress.clone(), cancel.clone());
                let uploaded = store.upload(&key, &mut reader, &|_| {}, &cancel).await;
                drop(reader);
                let stats = task.await??;
                let part = uploaded?;
                let pack = t.elapsed().as_secs_f64();
                ensure!(stats.files == files, "the archive holds {} files, not {files}", stats.files);
                let t = Instant::now();
                let (_, r) = store.reader(&key).await?;
                let checked = archive::check(r, None, progress).await?;
                let read = t.elapsed().as_secs_f64();
                ensure!(checked.sha256 == part.sha256 && checked.files == files, "the archive read back does not match");
                println!("run {run} console  archive {pack:>7.2} s  read back {read:>6.2} s  ({})", mb(part.bytes));
                f.c_console.push(pack);
                f.c_console_read.push(read);
                f.c_console_bytes = part.bytes;
                store.delete_prefix(&format!("bench/{dir}")).await?;
            }
        }
    }
    let _ = std::fs::remove_file(&plain_archive);

    // One backup with the file store: the source of B and D.
    sqlx::query("update ops.environments set data_dir = $2 where id = $1").bind(production).bind(prd_data.to_string_lossy().as_ref()).execute(&owner).await?;
    println!("\n-- backup with the file store --");
    let full = console.backup().await?;
    println!("console  dump {:.2} s  files {:.2} s  verify {:.2} s  whole job {:.2} s  ({} + {})", full.dump, full.files, full.verify, full.wall, mb(full.bytes), mb(full.files_bytes));
    let full_id = full.id;
    let stored_dump = format!("{}/{}", full.location, job::DUMP);
    f.full = Some(full);

    // R. Reading a stored part back.
    println!("\n-- R. reading the stored dump: Store::reader vs tokio::fs::File --");
    let stored_path = console.ctx.root.join(&stored_dump);
    for run in 0..opts.runs {
        for side in if run % 2 == 0 { [0, 1] } else { [1, 0] } {
            let t = Instant::now();
            let (bytes, sha) = if side == 0 { read_hashed(tokio::fs::File::open(&stored_path).await?).await? } else { read_hashed(store.reader(&stored_dump).await?.1).await? };
            let s = t.elapsed().as_secs_f64();
            f.r_bytes = bytes;
            let want = f.full.as_ref().map(|b| (b.bytes, b.sha256.clone()));
            ensure!(want == Some((bytes, sha)), "the stored dump read back differs from what the backup recorded");
            println!("run {run} {}  {s:>7.2} s ({})", if side == 0 { "file    " } else { "store   " }, mb(bytes));
            if side == 0 {
                f.r_file.push(s);
            } else {
                f.r_store.push(s);
            }
        }
    }

    // B and D. Restore.
    println!("\n-- B/D. restore: create database + pg_restore file vs restore::run into staging --");
    for run in 0..opts.runs {
        for side in if run % 2 == 0 { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let target = format!("{prefix}_plain{run}");
                let (turl, tpw) = tool_target(&owner_url, &target)?;
                let mut cmd = pg_tool(&bin, "pg_restore", &tpw);
                cmd.args(["--no-owner", "--exit-on-error", "--dbname"]).arg(&turl).arg(&plain_dump);
                let t = Instant::now();
                exec(&owner, format!("create database {target} template template0")).await?;
                run_tool(cmd, "pg_restore").await?;
                let s = t.elapsed().as_secs_f64();
                let print = fingerprint(&cluster.url, &target).await?;
                ensure!(print == source_print, "the plain restore differs from the source: {print:?} vs {source_print:?}");
                exec(&owner, format!("drop database {target} with (force)")).await?;
                println!("run {run} plain    create + pg_restore {s:>7.2} s");
                f.b_plain.push(s);
            } else {
                let r = console.restore(full_id).await?;
                let print = fingerprint(&cluster.url, &r.new_db).await?;
                ensure!(print == source_print, "the console's restore differs from the source: {print:?} vs {source_print:?}");
                let restored = archive::count_files(&stg_data.join("filestore").join(&r.new_db));
                ensure!(restored == files, "the restored file store has {restored} files, not {files}");
                println!(
                    "run {run} console  database {:>7.2} s (of which before it {:.2} s)  file store {:>6.2} s  neutralize + switch {:>6.2} s  end to end {:>7.2} s",
                    r.restore_db,
                    r.before_db,
                    r.files.unwrap_or(0.0),
                    r.neutralize_switch,
                    r.wall
                );
                f.b_console.push(r.restore_db);
                f.b_before_db.push(r.before_db);
                if let Some(x) = r.files {
                    f.d_files.push(x);
                }
                f.d_neutralize.push(r.neutralize_switch);
                f.d_total.push(r.wall);
            }
        }
    }

    let section = report(opts, &m, &g, &f, level, &pg_dump_version, zstd, started);
    println!("\n{section}");
    if let Some(path) = &opts.md {
        write_md(path, "bench_backups", "Backups and restore (latest run)", &section)?;
        eprintln!("wrote {}", path.display());
    }
    database.close().await?;
    Ok(())
}
