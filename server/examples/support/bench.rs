//! What the benchmark programs share: a cluster to run in, a console configuration, machine
//! facts, number formatting and the results section of `spec/odooops/benchmarks.md`.
//! Included with `#[path = "support/bench.rs"] mod bench;` (not an example of its own).
#![allow(dead_code)]
use anyhow::{ensure, Context, Result};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use uuid::Uuid;

pub fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

/// `DATABASE_URL`'s cluster, or a throwaway one started with `.ci/pg-throwaway`.
pub struct Cluster {
    pub url: String,
    pub throwaway: Option<PathBuf>,
}

fn pg_throwaway() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/pg-throwaway")
}

impl Cluster {
    pub fn start() -> Result<Cluster> {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            return Ok(Cluster { url, throwaway: None });
        }
        let dir = std::env::temp_dir().join(format!("odooops-bench-pg-{}", std::process::id()));
        eprintln!("starting a throwaway PostgreSQL in {} …", dir.display());
        let out = std::process::Command::new("bash").arg(pg_throwaway()).arg("start").arg(&dir).output().context("running .ci/pg-throwaway")?;
        ensure!(out.status.success(), "pg-throwaway start failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let url = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("export TEST_DATABASE_URL="))
            .context("pg-throwaway printed no TEST_DATABASE_URL")?
            .to_string();
        Ok(Cluster { url, throwaway: Some(dir) })
    }

    /// Drops the benchmark's database from someone else's cluster, or stops the throwaway one.
    pub async fn finish(&self, db_name: &str) {
        if self.throwaway.is_none() {
            if let Ok(pool) = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&self.url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists \"{db_name}\" with (force)"))).execute(&pool).await;
            }
        }
        if let Some(dir) = &self.throwaway {
            let _ = std::process::Command::new("bash").arg(pg_throwaway()).arg("stop").arg(dir).status();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn with_db(url: &str, db: &str) -> String {
    let (base, rest) = url.rsplit_once('/').expect("a database URL has a path");
    match rest.split_once('?') {
        Some((_, q)) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A console on free ports (web and SMTP) with no build runner, so nothing else writes or
/// listens while we measure.
pub fn config(db_url: &str) -> odooops::config::Config {
    use clap::Parser;
    let mut cli = odooops::config::Cli::parse_from(["odooops"]);
    cli.config.database_url = Some(app::auth::Secret::new(db_url));
    cli.config.app_database_url = None;
    cli.config.addr = "127.0.0.1:0".into();
    cli.config.smtp_addr = "127.0.0.1:0".into();
    cli.config.data_dir = std::env::temp_dir().join(format!("odooops-bench-{}", Uuid::new_v4().simple()));
    cli.config.build_workers = 0;
    cli.config
}

/// The benchmarks' tenant `bench`, its project `shop` (production, staging, development) and
/// a developer `email` with `password`; returns (tenant, project, staging environment).
pub async fn bench_tenant(owner: &PgPool, email: &str, password: &str) -> Result<(Uuid, Uuid, Uuid)> {
    let mut conn = owner.acquire().await?;
    let tenant = odooops::admin::ensure_tenant(&mut conn, "bench", "Bench Corp").await?;
    let project = odooops::admin::create_project_in(&mut conn, tenant, "shop", "Bench Shop", "").await?;
    odooops::admin::upsert_member(&mut conn, tenant, email, "Bench", app::models::Role::Developer, password).await?;
    let env: Uuid = sqlx::query_scalar("select id from ops.environments where project_id = $1 and stage = 'staging'").bind(project).fetch_one(&mut *conn).await?;
    Ok((tenant, project, env))
}

/// Percentile `p` of sorted nanoseconds, in milliseconds.
pub fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

/// Median, minimum and maximum of `v` (NaN for an empty slice).
pub fn spread(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let med = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    (med, s[0], s[n - 1])
}

/// `1234567.8` → `1,234,568`.
pub fn fmt_int(n: f64) -> String {
    let s = format!("{n:.0}");
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && c != '-' && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

pub struct Machine {
    pub load_before: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub mem_gib: f64,
    pub pg_version: String,
    pub settings: Vec<(String, String)>,
    pub superuser: bool,
}

/// The machine and the PostgreSQL `settings` worth printing next to the figures.
pub async fn machine(owner: &PgPool, settings: &[&str]) -> Result<Machine> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok()))
        .unwrap_or(0.0);
    let pg_version: String = sqlx::query_scalar("select version()").fetch_one(owner).await?;
    let mut values = Vec::new();
    for name in settings {
        let v: String = sqlx::query_scalar("select current_setting($1)").bind(name).fetch_one(owner).await?;
        values.push((name.to_string(), v));
    }
    let superuser: bool = sqlx::query_scalar("select rolsuper from pg_roles where rolname = current_user").fetch_one(owner).await?;
    Ok(Machine {
        load_before: loadavg(),
        cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpu_model,
        mem_gib: mem_kib / 1024.0 / 1024.0,
        pg_version,
        settings: values,
        superuser,
    })
}

/// Replaces the part of `path` between the `name` markers with `section` (appending it under
/// `heading` the first time).
pub fn write_md(path: &Path, name: &str, heading: &str, section: &str) -> Result<()> {
    let (begin, end) = (format!("<!-- {name}:begin -->"), format!("<!-- {name}:end -->"));
    let block = format!("{begin}\n{section}{end}\n");
    let text = match std::fs::read_to_string(path) {
        Ok(old) => match (old.find(&begin), old.find(&end)) {
            (Some(a), Some(b)) if b > a => {
                let tail = &old[b + end.len()..];
                format!("{}{}{}", &old[..a], block, tail.strip_prefix('\n').unwrap_or(tail))
            }
            _ => format!("{old}\n## {heading}\n\n{block}"),
        },
        Err(_) => format!("# Benchmarks\n\n## {heading}\n\n{block}"),
    };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The console on a runtime of its own (as in production, and as ttyd runs in a process of
/// its own), so the measuring client never shares its worker threads.
pub struct ServerThread {
    pub addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Result<()>>,
}

impl ServerThread {
    pub fn start(cfg: odooops::config::Config) -> Result<ServerThread> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("console".into()).spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(async move {
                let database = odooops::db::Database::open(&cfg).await.context("opening the benchmark database")?;
                let built = odooops::build(&cfg, &database).await?;
                let (services, services_shutdown, service_tasks) = (built.services.clone(), built.shutdown.clone(), built.tasks);
                let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
                let server = tokio::spawn(odooops::startup::serve(built.listener, built.router, async {
                    let _ = stopped.await;
                }));
                let _ = ready_tx.send(built.addr);
                let _ = stop_rx.await;
                odooops::Console::stop_services(&services_shutdown, service_tasks).await;
                let _ = stop_server.send(());
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
                services.flush().await;
                database.close().await?;
                Ok(())
            })
        })?;
        match ready_rx.recv() {
            Ok(addr) => Ok(ServerThread { addr, stop, thread }),
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                _ => anyhow::bail!("the console did not start"),
            },
        }
    }

    pub fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.thread.join().map_err(|_| anyhow::anyhow!("the console thread panicked"))?
    }
}
