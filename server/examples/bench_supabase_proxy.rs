//! Supabase proxy benchmark: latency the proxy adds (login check and link lookup under RLS,
//! kept for a few seconds, allow-list, audit row, forwarding) over calling its upstream directly. The upstream is the
//! console's local Management API on a Supabase-like database; both columns call the same
//! endpoint, so the difference is the proxy.
//!
//!     cargo run --release -p odooops --example bench_supabase_proxy
//!
//! Two kinds of runs, direct and proxied alternating in BENCH_ROUNDS (default 6) short runs
//! each, so that drift on a shared machine hits both:
//! - closed loop: `clients` tasks send back to back, no pause (at 50 on a small machine this
//!   measures queueing at saturation: any CPU the proxy spends is paid many times over);
//! - paced: 50 clients share one fixed offered rate, each sending on its own schedule, the same
//!   rate for direct and proxied: what people see when the console is busy but not saturated.
//!   The rates are BENCH_RATE_FRACTION (default "0.5,0.25") of the direct throughput of one
//!   closed-loop client times the CPUs, unless BENCH_RATE (req/s, a list too) says otherwise.
//!
//! Environment: BENCH_REQUESTS (per closed-loop row and path, default 3000),
//! BENCH_PACED_REQUESTS (per paced row and path, default 4000), BENCH_ROUNDS, BENCH_CLIENTS
//! (closed loop, default "1,50"), BENCH_PACED_CLIENTS (default 50, 0 for none), BENCH_RATE,
//! BENCH_RATE_FRACTION, BENCH_PATH (below `v1/projects/{ref}/`, default `config/auth`),
//! BENCH_MD (write the results section into this markdown file), DATABASE_URL (a cluster as
//! its owner; default a throwaway one).
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

/// The latencies (ns, sorted) of one run, its wall time and how far the paced clients fell
/// behind their schedule at worst (ms; 0 for closed loop).
struct Run {
    samples: Vec<u64>,
    secs: f64,
    max_lag_ms: f64,
}

/// One measured run: `clients` tasks sharing `total` requests, back to back (`rate` None) or
/// each on its own schedule so that together they offer `rate` requests per second. A paced
/// client's latency counts from when it sent; one running late (its previous answer came after
/// its next slot) shows as lag.
async fn measure(http: &reqwest::Client, url: &str, headers: &[(&str, String)], clients: usize, total: usize, rate: Option<f64>) -> Result<Run> {
    let per = total.div_ceil(clients);
    let started = tokio::time::Instant::now();
    // One client's interval, and the clients spread evenly over it.
    let interval = rate.map(|r| std::time::Duration::from_secs_f64(clients as f64 / r));
    let first = started + std::time::Duration::from_millis(20);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, headers) = (http.clone(), url.to_string(), headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Vec<_>>());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per);
            let mut max_lag = std::time::Duration::ZERO;
            for k in 0..per {
                if let Some(iv) = interval {
                    let due = first + iv.mul_f64(c as f64 / clients as f64) + iv * k as u32;
                    tokio::time::sleep_until(due).await;
                    max_lag = max_lag.max(tokio::time::Instant::now().saturating_duration_since(due));
                }
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
            Ok::<_, anyhow::Error>((samples, max_lag))
        }));
    }
    let mut all = Vec::new();
    let mut max_lag = std::time::Duration::ZERO;
    for t in tasks {
        let (s, lag) = t.await??;
        all.extend(s);
        max_lag = max_lag.max(lag);
    }
    let secs = started.elapsed().as_secs_f64() - if rate.is_some() { 0.02 } else { 0.0 };
    all.sort_unstable();
    Ok(Run { samples: all, secs, max_lag_ms: max_lag.as_secs_f64() * 1000.0 })
}

/// A comma-separated list of numbers from the environment (empty when unset).
fn list(name: &str) -> Vec<f64> {
    std::env::var(name).unwrap_or_default().split(',').filter_map(|v| v.trim().parse().ok()).collect()
}

/// Target: the proxy adds under 2 ms at p99.
const TARGET_P99_MS: f64 = 2.0;

/// Direct and proxied, alternating in `rounds` runs each (so drift on a shared machine hits
/// both); one table row, the direct throughput and the number of proxied requests.
#[allow(clippy::too_many_arguments)]
async fn compare(http: &reqwest::Client, direct: (&str, &[(&str, String)]), proxied: (&str, &[(&str, String)]), mode: &str, clients: usize, total: usize, rate: Option<f64>, rounds: usize) -> Result<(String, f64, usize)> {
    let (mut d, mut p) = (Vec::new(), Vec::new());
    let (mut dsecs, mut psecs, mut lag) = (0.0, 0.0, 0.0f64);
    for _ in 0..rounds {
        let r = measure(http, direct.0, direct.1, clients, total / rounds, rate).await?;
        d.extend(r.samples);
        dsecs += r.secs;
        lag = lag.max(r.max_lag_ms);
        let r = measure(http, proxied.0, proxied.1, clients, total / rounds, rate).await?;
        p.extend(r.samples);
        psecs += r.secs;
        lag = lag.max(r.max_lag_ms);
    }
    d.sort_unstable();
    p.sort_unstable();
    let (d50, d99, p50, p99) = (pct(&d, 50.0), pct(&d, 99.0), pct(&p, 50.0), pct(&p, 99.0));
    let (drate, prate) = (d.len() as f64 / dsecs, p.len() as f64 / psecs);
    let offered = rate.map(|r| format!("{r:.0}")).unwrap_or_else(|| "as fast as answered".into());
    let met = if p99 - d99 < TARGET_P99_MS { "yes" } else { "**no**" };
    let lag = if rate.is_some() { format!("{lag:.1}") } else { "-".into() };
    let line = format!(
        "| {mode} | {clients} | {offered} | {} | {d50:.2} | {d99:.2} | {p50:.2} | {p99:.2} | {:.2} | {:.2} | {drate:.0} | {prate:.0} | {lag} | {met} |",
        d.len(),
        p50 - d50,
        p99 - d99,
    );
    println!("{line}");
    Ok((line, drate, p.len()))
}

async fn run(cluster: &Cluster, db_name: &str) -> Result<()> {
    let requests = env_num("BENCH_REQUESTS", 3000);
    let rounds = env_num("BENCH_ROUNDS", 6).max(1);
    let clients: Vec<usize> = std::env::var("BENCH_CLIENTS").unwrap_or_else(|_| "1,50".into()).split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let tail = std::env::var("BENCH_PATH").unwrap_or_else(|_| "config/auth".into());
    let paced = env_num("BENCH_PACED_REQUESTS", 4000);
    let paced_clients = env_num("BENCH_PACED_CLIENTS", 50);
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
    println!("upstream    the console's local Management API (same process), {requests} requests per closed-loop row and path, {paced} per paced one, in {rounds} runs each");
    // Warm-up: connections, pools, caches.
    measure(&http, &direct_url, &direct_h, 4, 200, None).await?;
    let mut sent = measure(&http, &proxy_url, &proxy_h, 4, 200, None).await?.samples.len();

    let (direct, proxied) = ((direct_url.as_str(), &direct_h[..]), (proxy_url.as_str(), &proxy_h[..]));
    let mut rows = Vec::new();
    let mut single = None;
    for &c in &clients {
        let (line, drate, n) = compare(&http, direct, proxied, "closed loop", c, requests, None, rounds).await?;
        sent += n;
        if c == 1 {
            single = Some(drate);
        }
        rows.push(line);
    }
    // The paced rates: BENCH_RATE as given, or fractions of one direct client's throughput
    // times the CPUs (the direct path's capacity if it scaled perfectly).
    let mut base = None;
    let mut rates: Vec<(String, f64)> = list("BENCH_RATE").into_iter().map(|r| ("paced".to_string(), r)).collect();
    if rates.is_empty() && paced_clients > 0 {
        let one = match single {
            Some(x) => x,
            None => {
                let (_, drate, n) = compare(&http, direct, proxied, "closed loop", 1, requests, None, rounds).await?;
                sent += n;
                drate
            }
        };
        let b = one * m.cpus.max(1) as f64;
        base = Some(b);
        let fractions = list("BENCH_RATE_FRACTION");
        let fractions = if fractions.is_empty() { vec![0.5, 0.25] } else { fractions };
        rates = fractions.into_iter().map(|f| (format!("paced, {:.0}%", f * 100.0), b * f)).collect();
    }
    if paced_clients > 0 && !rates.is_empty() {
        // Warm the paced clients' connections.
        measure(&http, &direct_url, &direct_h, paced_clients, paced_clients * 2, None).await?;
        sent += measure(&http, &proxy_url, &proxy_h, paced_clients, paced_clients * 2, None).await?.samples.len();
        for (label, r) in &rates {
            let (line, _, n) = compare(&http, direct, proxied, label, paced_clients, paced, Some(*r), rounds).await?;
            sent += n;
            rows.push(line);
        }
    }
    let load_after = loadavg();
    // Counted once the console has stopped (and so written what it still had queued).
    server.stop()?;
    let audited: i64 = sqlx::query_scalar("select count(*) from ops.audit_log where action = 'supabase.proxy'").fetch_one(&owner).await?;
    owner.close().await;
    println!("audit       {audited} rows for {sent} proxied requests");
    ensure!(audited == sent as i64, "{audited} audit rows for {sent} proxied requests");

    let mut section = String::new();
    section.push_str(&format!(
        "Command: `cargo run --release -p odooops --example bench_supabase_proxy` (BENCH_REQUESTS={requests}, BENCH_PACED_REQUESTS={paced}, BENCH_ROUNDS={rounds}).  \nDate: {}\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    ));
    section.push_str(&format!(
        "Machine: {} CPUs ({}), load average before {}, after {}. Endpoint `GET v1/projects/{{ref}}/{tail}` of the local Management API, called directly (bearer token) and through `/api/supabase-proxy` (cookie; login check and link lookup in one statement under RLS, kept for 5 s per login and ref until any membership/link/token change, allow-list, one audit row per request through the batched writer; local links served in-process); client, console and PostgreSQL on one machine, loopback HTTP/1.1 keep-alive. Each row alternates direct and proxied in {rounds} short runs per path, so that drift on this shared machine hits both.\n\n",
        m.cpus, m.cpu_model, m.load_before, load_after
    ));
    section.push_str(
        "*Closed loop*: each client sends its next request as soon as it has the answer. With 50 clients on this machine both paths run at saturation, so the figures are mostly queueing: whatever CPU the proxy spends per request is paid once per request queued ahead. *Paced*: 50 clients share one fixed offered rate, each on its own schedule (one request per 50/rate s, the clients spread evenly), the same rate for direct and proxied",
    );
    match base {
        Some(b) => section.push_str(&format!(
            " (a percentage of {b:.0} req/s: one closed-loop direct client's throughput times {} CPUs, what the direct path would do if it scaled perfectly); latency counts from the moment a request is sent, and *max lag* is how far any client fell behind its schedule (a client only falls behind when an answer takes longer than its interval, i.e. when that path cannot keep up with the rate). ",
            m.cpus
        )),
        None => section.push_str(". "),
    }
    section.push_str("*added* is proxied minus direct at the same percentile; the target is an added p99 under 2 ms.\n\n");
    section.push_str("| run | clients | offered req/s | requests | direct p50 ms | direct p99 ms | proxied p50 ms | proxied p99 ms | added p50 ms | added p99 ms | direct req/s | proxied req/s | max lag ms | added p99 < 2 ms |\n");
    section.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in &rows {
        section.push_str(r);
        section.push('\n');
    }
    section.push_str(&format!("\n{audited} audit rows for {sent} proxied requests (warm-ups included), counted after the console stopped.\n"));
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
