//! Supabase proxy benchmark: latency the proxy adds (login check, link lookup under RLS,
//! allow-list, audit row, forwarding) over calling its upstream directly. The upstream is the
//! console's local Management API on a Supabase-like database; both columns call the same
//! endpoint, so the difference is the proxy.
//!
//!     cargo run --release -p odooops --example bench_supabase_proxy
//!
//! Environment: BENCH_REQUESTS (per run, default 2000), BENCH_CLIENTS (default "1,50"),
//! BENCH_PATH (below `v1/projects/{ref}/`, default `config/auth`), BENCH_MD (write the
//! results section into this markdown file), DATABASE_URL (a cluster as its owner; default a
//! throwaway one).
#[path = "support/bench.rs"]
mod bench;

use anyhow::{ensure, Context, Result};
use bench::{config, env_num, loadavg, machine, pct, with_db, write_md, Cluster, ServerThread};
use std::time::Instant;
use uuid::Uuid;

const PASSWORD: &str = "bench-password-123";
const REF: &str = "benchbenchbenchbench";
const BACKING: &str = "
create schema if not exists auth;
create table if not exists auth.users (id uuid primary key default gen_random_uuid(), email text, created_at timestamptz default now());
create schema if not exists storage;
create table if not exists storage.buckets (id text primary key, name text not null unique, owner uuid, public boolean default false,
  created_at timestamptz default now(), updated_at timestamptz default now(), file_size_limit bigint, allowed_mime_types text[]);
insert into storage.buckets (id, name, public) values ('avatars', 'avatars', true), ('invoices', 'invoices', false) on conflict do nothing;
";

/// One measured run: `clients` tasks sharing `total` requests.
async fn measure(http: &reqwest::Client, url: &str, headers: &[(&str, String)], clients: usize, total: usize) -> Result<(Vec<u64>, f64)> {
    let per = total.div_ceil(clients);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, headers) = (http.clone(), url.to_string(), headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Vec<_>>());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per);
            for _ in 0..per {
                let mut req = http.get(&url);
                for (k, v) in &headers {
                    req = req.header(k, v);
                }
                let t = Instant::now();
                let res = req.send().await?;
                let status = res.status();
                let _ = res.bytes().await?;
                samples.push(t.elapsed().as_nanos() as u64);
                ensure!(status.is_success(), "{url}: {status}");
            }
            Ok::<_, anyhow::Error>(samples)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    Ok((all, secs))
}

async fn run(cluster: &Cluster, db_name: &str) -> Result<()> {
    let requests = env_num("BENCH_REQUESTS", 2000);
    let clients: Vec<usize> = std::env::var("BENCH_CLIENTS").unwrap_or_else(|_| "1,50".into()).split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let tail = std::env::var("BENCH_PATH").unwrap_or_else(|_| "config/auth".into());
    odooops::db::ensure_database(&cluster.url, db_name).await?;
    let backing_name = format!("{db_name}_backing");
    odooops::db::ensure_database(&cluster.url, &backing_name).await?;
    let backing_url = with_db(&cluster.url, &backing_name);
    let backing = sqlx::PgPool::connect(&backing_url).await?;
    sqlx::raw_sql(BACKING).execute(&backing).await?;
    backing.close().await;

    let token = format!("bench_{}", Uuid::new_v4().simple());
    let mut cfg = config(&with_db(&cluster.url, db_name));
    cfg.supabase_local_token = Some(app::auth::Secret::new(token.clone()));
    let key = "ab".repeat(32);
    cfg.supabase_secrets_key = Some(app::auth::Secret::new(key.clone()));
    let server = ServerThread::start(cfg)?;
    let base = format!("http://{}", server.addr);
    let owner = sqlx::PgPool::connect(&with_db(&cluster.url, db_name)).await?;
    let m = machine(&owner, &["fsync", "synchronous_commit"]).await?;
    let email = "bench-supabase@example.com";
    let (tenant, project, _) = bench::bench_tenant(&owner, email, PASSWORD).await?;
    let mut kb = [0u8; 32];
    kb.copy_from_slice(&hex::decode(&key)?);
    let sealed = odooops::supabase::crypto::SecretBox::new(&kb).seal(&backing_url)?;
    sqlx::query("insert into ops.supabase_projects (tenant_id, project_id, project_ref, name, upstream, db_url_enc) values ($1, $2, $3, 'Bench', 'local', $4) on conflict do nothing")
        .bind(tenant)
        .bind(project)
        .bind(REF)
        .bind(sealed)
        .execute(&owner)
        .await?;

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(100).tcp_nodelay(true).build()?;
    let res = http.post(format!("{base}/api/login")).form(&[("email", email), ("password", PASSWORD)]).send().await?;
    ensure!(res.status() == 200, "login: {}", res.status());
    let cookie = res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|v| v.starts_with("odooops_session=")).context("no session cookie")?.split(';').next().unwrap_or_default().to_string();

    let direct_url = format!("{base}/local-supabase/v1/projects/{REF}/{tail}");
    let proxy_url = format!("{base}/api/supabase-proxy/v1/projects/{REF}/{tail}");
    let direct_h = [("authorization", format!("Bearer {token}"))];
    let proxy_h = [("cookie", cookie)];
    println!("== OdooOps Supabase proxy benchmark: GET v1/projects/{{ref}}/{tail} ==");
    println!("machine     {} CPUs, {}, {:.0} GiB RAM, load average {}", m.cpus, m.cpu_model, m.mem_gib, m.load_before);
    println!("upstream    the console's local Management API (same process), {requests} requests per run");
    // Warm-up: connections, pools, caches.
    measure(&http, &direct_url, &direct_h, 4, 200).await?;
    measure(&http, &proxy_url, &proxy_h, 4, 200).await?;

    let mut rows = Vec::new();
    for &c in &clients {
        // Direct and proxied alternate, twice, so drift on a shared machine hits both.
        let (mut direct, mut proxied) = (Vec::new(), Vec::new());
        let (mut dsecs, mut psecs) = (0.0, 0.0);
        for _ in 0..2 {
            let (s, t) = measure(&http, &direct_url, &direct_h, c, requests / 2).await?;
            direct.extend(s);
            dsecs += t;
            let (s, t) = measure(&http, &proxy_url, &proxy_h, c, requests / 2).await?;
            proxied.extend(s);
            psecs += t;
        }
        direct.sort_unstable();
        proxied.sort_unstable();
        let (d50, d99, p50, p99) = (pct(&direct, 50.0), pct(&direct, 99.0), pct(&proxied, 50.0), pct(&proxied, 99.0));
        let line = format!(
            "| {c} | {} | {d50:.2} | {d99:.2} | {p50:.2} | {p99:.2} | {:.2} | {:.2} | {:.0} | {:.0} |",
            direct.len(),
            p50 - d50,
            p99 - d99,
            direct.len() as f64 / dsecs,
            proxied.len() as f64 / psecs
        );
        println!("{line}");
        rows.push(line);
    }
    let audited: i64 = sqlx::query_scalar("select count(*) from ops.audit_log where action = 'supabase.proxy'").fetch_one(&owner).await?;
    println!("audit       {audited} proxied requests recorded");
    let load_after = loadavg();
    owner.close().await;
    server.stop()?;

    let mut section = String::new();
    section.push_str(&format!("Command: `cargo run --release -p odooops --example bench_supabase_proxy` (BENCH_REQUESTS={requests}).\n\n"));
    section.push_str(&format!(
        "Machine: {} CPUs ({}), load average before {}, after {}. Endpoint `GET v1/projects/{{ref}}/{tail}` of the local Management API, called directly (bearer token) and through `/api/supabase-proxy` (cookie; login check, link lookup under RLS, allow-list, one audit row per request); client, console and PostgreSQL on one machine, loopback HTTP/1.1 keep-alive. Runs alternate direct/proxied twice per row.\n\n",
        m.cpus, m.cpu_model, m.load_before, load_after
    ));
    section.push_str("| clients | requests | direct p50 ms | direct p99 ms | proxied p50 ms | proxied p99 ms | added p50 ms | added p99 ms | direct req/s | proxied req/s |\n");
    section.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &rows {
        section.push_str(r);
        section.push('\n');
    }
    section.push_str(&format!("\n{audited} audit rows written for the proxied requests (warm-up included).\n"));
    println!("\n{section}");
    if let Ok(path) = std::env::var("BENCH_MD") {
        write_md(std::path::Path::new(&path), "bench_supabase_proxy", "Supabase proxy: latency added over the upstream", &section)?;
        eprintln!("wrote {path}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,sqlx=error".into())).with_writer(std::io::stderr).init();
    let cluster = Cluster::start()?;
    let db_name = format!("bench_{}", Uuid::new_v4().simple());
    let result = run(&cluster, &db_name).await;
    if cluster.throwaway.is_none() {
        if let Ok(pool) = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&cluster.url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists \"{db_name}_backing\" with (force)"))).execute(&pool).await;
        }
    }
    cluster.finish(&db_name).await;
    result
}
