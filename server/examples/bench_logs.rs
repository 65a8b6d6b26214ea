//! Log pipeline benchmark: prints figures, asserts nothing.
//!
//! 1. Ingest throughput into `ops.run_events` through the real ingest path
//!    (`odooops::logs::sink::ingest` on the app pool under tenant claims: RLS, every index, the
//!    foreign keys and the statement-level NOTIFY trigger), then through `LogSink` with
//!    concurrent producers, side by side with a raw `COPY` of the same rows into the same
//!    table and a `COPY` into an unlogged, index-free copy of it (the absolute ceiling).
//! 2. Live-tail latency: a real console on port 0, 20 signed-in SSE clients on
//!    `/api/logs/tail?build=…`, lines inserted at a steady rate through `ingest`; the latency
//!    of each (tail, line) pair is the client's receive time minus the send time embedded in
//!    the message.
//!
//! Run: `cargo run --release -p odooops --example bench_logs [-- --lines N]`
//!
//! Environment:
//! - `DATABASE_URL`: a cluster as its owner or a superuser (a fresh database is created in it
//!   and dropped at the end). Unset: a throwaway cluster is started with `.ci/pg-throwaway`.
//! - `BENCH_LINES` (default 1,000,000), `BENCH_TAILS` (20), `BENCH_TAIL_BATCHES` (200),
//!   `BENCH_TAIL_BATCH_LINES` (50), `BENCH_TAIL_PERIOD_MS` (20), `BENCH_PRODUCERS` (4),
//!   `BENCH_SKIP_SINK=1` (only the direct `ingest` run of the ingest path).
//! - `BENCH_SETUP_SQL`: SQL run as the owner after the migrations, to try a schema or setting
//!   change without editing them (e.g. `alter index ops.run_events_search_idx set (…)`).
//! - `BENCH_MD`: where to write the results section (default `spec/odooops/benchmarks.md`;
//!   `-` for nowhere). Only the part between the `bench_logs:begin/end` markers is replaced.
use anyhow::{bail, ensure, Context, Result};
use app::db::logs::NewEvent;
use app::db::{Db, DbClaims};
use app::models::{LogLevel, LogLine, Role};
use odooops::logs::sink::{ingest, LogSink, BATCH_LINES};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

#[path = "support/bench.rs"]
mod bench;
use bench::{config, env_num, fmt_int, loadavg, machine, pct, with_db, write_md, Cluster, Machine};

const PASSWORD: &str = "bench-password-123";
const INGEST_TARGET: f64 = 50_000.0;
const P99_TARGET_MS: f64 = 250.0;

struct Opts {
    lines: usize,
    tails: usize,
    tail_batches: usize,
    tail_batch_lines: usize,
    tail_period: Duration,
    producers: usize,
    skip_sink: bool,
    setup_sql: Option<String>,
    md: Option<PathBuf>,
}


impl Opts {
    fn parse() -> Result<Opts> {
        let mut lines = env_num("BENCH_LINES", 1_000_000);
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--lines" | "-n" => lines = args.next().context("--lines needs a number")?.replace('_', "").parse().context("--lines")?,
                other => bail!("unknown argument {other:?} (use --lines N; see the file header for the environment variables)"),
            }
        }
        let md = match std::env::var("BENCH_MD") {
            Ok(v) if v == "-" => None,
            Ok(v) => Some(PathBuf::from(v)),
            Err(_) => Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/odooops/benchmarks.md")),
        };
        Ok(Opts {
            lines: lines.max(1),
            tails: env_num("BENCH_TAILS", 20).max(1),
            tail_batches: env_num("BENCH_TAIL_BATCHES", 200).max(1),
            tail_batch_lines: env_num("BENCH_TAIL_BATCH_LINES", 50).max(1),
            tail_period: Duration::from_millis(env_num("BENCH_TAIL_PERIOD_MS", 20) as u64),
            producers: env_num("BENCH_PRODUCERS", 4).max(1),
            skip_sink: std::env::var("BENCH_SKIP_SINK").is_ok_and(|v| v == "1"),
            setup_sql: std::env::var("BENCH_SETUP_SQL").ok().filter(|s| !s.trim().is_empty()),
            md,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The cluster: DATABASE_URL, or a throwaway one from .ci/pg-throwaway.





// ---------------------------------------------------------------------------------------
// Realistic log lines: 80-120 bytes, Odoo/pip/test vocabulary plus a long tail of rarer
// words, numbers, hashes and paths, so the full-text GIN index sees many distinct keys.

struct Words {
    common: Vec<&'static str>,
    rare: Vec<String>,
}

const COMMON: &[&str] = &[
    "odoo", "modules", "loading", "module", "installing", "upgrading", "registry", "database", "request", "werkzeug",
    "server", "worker", "cron", "job", "queue", "invoice", "partner", "sale", "order", "stock", "picking", "account",
    "move", "line", "tax", "report", "view", "field", "model", "compute", "depends", "constraint", "deprecated",
    "test", "passed", "failed", "ran", "seconds", "queries", "cache", "miss", "hit", "asset", "bundle", "compiled",
    "translation", "loaded", "http", "GET", "POST", "status", "user", "session", "login", "pip", "install",
    "requirement", "already", "satisfied", "downloading", "wheel", "building", "collected", "packages", "python",
    "version", "postgresql", "connection", "pool", "timeout", "retry", "commit", "rollback", "transaction", "lock",
    "index", "created", "updated", "deleted", "records", "batch", "the", "of", "in", "for", "with", "from", "to",
    "and", "not", "is", "on", "at", "by", "after", "before", "during", "while", "skipping", "starting", "done",
    "finished", "took", "ms", "rows", "inherit", "xml", "data", "demo", "security", "access", "rules", "group",
    "company", "currency", "journal", "payment", "product", "template", "variant", "warehouse", "location", "quant",
    "website", "portal", "mail", "message", "thread", "follower", "activity", "calendar", "event", "hr", "employee",
];

impl Words {
    fn new(rng: &mut StdRng) -> Words {
        const SYL: &[&str] = &[
            "ka", "lo", "mi", "ne", "ra", "tu", "sel", "dor", "vin", "pa", "que", "str", "ix", "on", "al", "ber", "cor",
            "den", "fi", "gra", "hol", "jin", "ku", "lan", "mor", "nu", "ost", "pri", "ros", "sa", "te", "ul", "ve", "wy",
        ];
        let rare = (0..20_000)
            .map(|_| {
                let n = rng.gen_range(2..=4);
                (0..n).map(|_| SYL[rng.gen_range(0..SYL.len())]).collect::<String>()
            })
            .collect();
        Words { common: COMMON.to_vec(), rare }
    }

    /// A message of about `target` bytes (never less).
    fn message(&self, rng: &mut StdRng, prefix: &str, target: usize) -> String {
        let mut s = String::with_capacity(target + 24);
        s.push_str(prefix);
        while s.len() < target {
            if !s.is_empty() {
                s.push(' ');
            }
            match rng.gen_range(0..100) {
                0..=54 => s.push_str(self.common[rng.gen_range(0..self.common.len())]),
                // Zipf-ish: a few rare words are frequent, most appear a handful of times.
                55..=79 => {
                    let i = (rng.gen::<f64>().powi(3) * self.rare.len() as f64) as usize;
                    s.push_str(&self.rare[i.min(self.rare.len() - 1)]);
                }
                80..=87 => {
                    let _ = write!(s, "{}", rng.gen_range(0..100_000u32));
                }
                88..=93 => {
                    let _ = write!(s, "{:010x}", rng.gen::<u64>() & 0xff_ffff_ffff);
                }
                _ => {
                    let m = self.common[rng.gen_range(0..self.common.len())];
                    let _ = write!(s, "addons/{m}/models/{m}_{}.py:{}", self.rare[rng.gen_range(0..200)], rng.gen_range(1..2000));
                }
            }
        }
        s
    }
}

const SOURCES: &[&str] = &["build", "odoo.modules.loading", "odoo.addons.base", "odoo.tests", "pip", "runner"];

fn random_level(rng: &mut StdRng) -> LogLevel {
    match rng.gen_range(0..100) {
        0..=14 => LogLevel::Debug,
        15..=84 => LogLevel::Info,
        85..=94 => LogLevel::Warning,
        _ => LogLevel::Error,
    }
}

fn make_events(words: &Words, rng: &mut StdRng, n: usize) -> Vec<NewEvent> {
    let start = chrono::Utc::now();
    (0..n)
        .map(|i| {
            let target = rng.gen_range(80..=120);
            NewEvent {
                level: random_level(rng),
                source: SOURCES[rng.gen_range(0..SOURCES.len())].to_string(),
                message: words.message(rng, "", target),
                meta: serde_json::Value::Null,
                at: start + chrono::Duration::microseconds(i as i64 * 10),
            }
        })
        .collect()
}

/// COPY text format of `events` for (tenant_id, job_id, level, source, message, meta, created_at).
fn copy_text(events: &[NewEvent], tenant: Uuid, job: Uuid) -> Vec<u8> {
    let mut out = String::with_capacity(events.len() * 200);
    for e in events {
        let msg = app::db::logs::clean_message(&e.message);
        let mut esc = String::with_capacity(msg.len());
        for c in msg.chars() {
            match c {
                '\\' => esc.push_str("\\\\"),
                '\t' => esc.push_str("\\t"),
                '\n' => esc.push_str("\\n"),
                '\r' => esc.push_str("\\r"),
                c => esc.push(c),
            }
        }
        let _ = writeln!(
            out,
            "{tenant}\t{job}\t{}\t{}\t{esc}\t{{}}\t{}",
            e.level.as_str(),
            e.source,
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
    }
    out.into_bytes()
}

// ---------------------------------------------------------------------------------------
// Ingest runs.

struct IngestResult {
    name: String,
    what: String,
    lines: u64,
    secs: f64,
}

impl IngestResult {
    fn rate(&self) -> f64 {
        self.lines as f64 / self.secs
    }
}

async fn reset(owner: &PgPool, superuser: bool) -> Result<()> {
    sqlx::query("truncate ops.run_events restart identity").execute(owner).await?;
    sqlx::query("truncate public.bench_run_events_bare restart identity").execute(owner).await?;
    if superuser {
        // Dirty pages of the previous run are not written during the next one.
        sqlx::query("checkpoint").execute(owner).await?;
    }
    Ok(())
}

async fn count(owner: &PgPool, table: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}"))).fetch_one(owner).await?)
}

async fn check_count(owner: &PgPool, table: &str, want: usize) -> Result<()> {
    let got = count(owner, table).await?;
    ensure!(got == want as i64, "{table}: {got} rows after the run, expected {want}");
    Ok(())
}

async fn run_ingest_direct(db: &Db, claims: &DbClaims, job: Uuid, events: &[NewEvent]) -> Result<f64> {
    let t = Instant::now();
    for chunk in events.chunks(BATCH_LINES) {
        ingest(db, claims, Some(job), None, chunk).await?;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// `producers` tasks share one `LogSink` (one build), or with `per_build` each has its own
/// sink and build: (seconds, lines the sinks report written).
async fn run_sinks(db: &Db, claims: &DbClaims, jobs: &[Uuid], events: Arc<Vec<NewEvent>>, producers: usize, per_build: bool) -> Result<(f64, u64)> {
    let t = Instant::now();
    let sinks: Vec<LogSink> = if per_build {
        jobs[..producers].iter().map(|j| LogSink::start(db.clone(), claims.clone(), Some(*j), None)).collect()
    } else {
        vec![LogSink::start(db.clone(), claims.clone(), Some(jobs[0]), None)]
    };
    let mut tasks = Vec::new();
    for p in 0..producers {
        let writer = sinks[if per_build { p } else { 0 }].writer();
        let events = events.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = p;
            while i < events.len() {
                let e = &events[i];
                writer.write(e.level, &e.source, e.message.clone(), serde_json::Value::Null).await;
                i += producers;
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let mut written = 0;
    for sink in sinks {
        let stats = sink.close().await;
        ensure!(stats.failed_writes == 0, "the sink failed to write {} lines (see the log)", stats.failed_writes);
        written += stats.lines;
    }
    Ok((t.elapsed().as_secs_f64(), written))
}

async fn run_copy(owner: &PgPool, table: &str, data: &[u8]) -> Result<(f64, u64)> {
    let mut conn = owner.acquire().await?;
    let t = Instant::now();
    let stmt = format!("copy {table} (tenant_id, job_id, level, source, message, meta, created_at) from stdin");
    let mut copy = conn.copy_in_raw(&stmt).await?;
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    let rows = copy.finish().await?;
    Ok((t.elapsed().as_secs_f64(), rows))
}

// ---------------------------------------------------------------------------------------
// Live-tail latency.

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos() as u64
}

#[derive(Default)]
struct TailResult {
    latencies_ns: Vec<u64>,
    received: usize,
    duplicates: usize,
    missing: usize,
    out_of_order: usize,
    foreign: usize,
    error: Option<String>,
}

fn field(msg: &str, key: &str) -> Option<u64> {
    let at = msg.find(key)? + key.len();
    let rest = &msg[at..];
    rest[..rest.find(' ').unwrap_or(rest.len())].parse().ok()
}

/// Reads one SSE stream until every expected line came or `stop` turns true.
async fn tail_client(mut res: reqwest::Response, expected: usize, mut stop: tokio::sync::watch::Receiver<bool>) -> TailResult {
    let mut r = TailResult::default();
    let mut seen = vec![false; expected];
    let mut last_seq: Option<u64> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut unique = 0;
    'read: loop {
        let chunk = tokio::select! {
            c = res.chunk() => c,
            _ = stop.changed() => break,
        };
        let now = now_ns();
        let bytes = match chunk {
            Ok(Some(b)) => b,
            Ok(None) => {
                r.error = Some("stream ended".into());
                break;
            }
            Err(e) => {
                r.error = Some(e.to_string());
                break;
            }
        };
        buf.extend_from_slice(&bytes);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim_end_matches(['\n', '\r']).strip_prefix("data:") else { continue };
            let Ok(l) = serde_json::from_str::<LogLine>(data.trim_start()) else { continue };
            let (Some(seq), Some(ts)) = (field(&l.message, "seq="), field(&l.message, "ts=")) else {
                r.foreign += 1;
                continue;
            };
            r.received += 1;
            r.latencies_ns.push(now.saturating_sub(ts));
            if last_seq.is_some_and(|p| seq < p) {
                r.out_of_order += 1;
            }
            last_seq = Some(seq);
            match seen.get_mut(seq as usize) {
                Some(s) if *s => r.duplicates += 1,
                Some(s) => {
                    *s = true;
                    unique += 1;
                }
                None => r.foreign += 1,
            }
            if unique == expected {
                break 'read;
            }
        }
    }
    r.missing = expected - unique;
    r
}

struct TailBench {
    tails: usize,
    sent: usize,
    batches: usize,
    batch_lines: usize,
    period: Duration,
    send_secs: f64,
    insert_ns: Vec<u64>,
    results: Vec<TailResult>,
    all_ns: Vec<u64>,
}

async fn run_tail_bench(cfg: &odooops::config::Config, database: &odooops::db::Database, claims: &DbClaims, job: Uuid, email: &str, opts: &Opts, words: &Words) -> Result<TailBench> {
    let console = odooops::build(cfg, database).await?;
    let base = format!("http://{}", console.addr);
    let db = console.state.db.clone();
    let hub = console.services.hub.clone();
    let (services_shutdown, service_tasks) = (console.shutdown.clone(), console.tasks);
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(odooops::startup::serve(console.listener, console.router, async {
        let _ = stopped.await;
    }));

    let expected = opts.tail_batches * opts.tail_batch_lines;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tails = Vec::new();
    for i in 0..opts.tails {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let login = client.post(format!("{base}/api/login")).form(&[("email", email), ("password", PASSWORD)]).send().await?;
        ensure!(login.status() == 200, "login {i} failed: {} {}", login.status(), login.text().await.unwrap_or_default());
        let res = client.get(format!("{base}/api/logs/tail?build={job}")).header("accept", "text/event-stream").send().await?;
        ensure!(res.status() == 200, "tail {i} refused: {} {}", res.status(), res.text().await.unwrap_or_default());
        tails.push(tokio::spawn(tail_client(res, expected, stop_rx.clone())));
    }
    // Every tail has subscribed to the hub (it does so before answering) and read its backlog.
    let t = Instant::now();
    while hub.subscribers() < opts.tails {
        ensure!(t.elapsed() < Duration::from_secs(10), "only {} of {} tails subscribed", hub.subscribers(), opts.tails);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut rng = StdRng::seed_from_u64(7);
    let mut interval = tokio::time::interval(opts.tail_period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut insert_ns = Vec::with_capacity(opts.tail_batches);
    let started = Instant::now();
    for b in 0..opts.tail_batches {
        interval.tick().await;
        let ts = now_ns();
        let batch: Vec<NewEvent> = (0..opts.tail_batch_lines)
            .map(|i| {
                let seq = b * opts.tail_batch_lines + i;
                let target = rng.gen_range(80..=120);
                NewEvent {
                    level: random_level(&mut rng),
                    source: "runner".into(),
                    message: words.message(&mut rng, &format!("seq={seq} ts={ts}"), target),
                    meta: serde_json::Value::Null,
                    at: chrono::Utc::now(),
                }
            })
            .collect();
        let t0 = Instant::now();
        ingest(&db, claims, Some(job), None, &batch).await?;
        insert_ns.push(t0.elapsed().as_nanos() as u64);
    }
    let send_secs = started.elapsed().as_secs_f64();
    // Let the stragglers arrive (the tail's fallback poll is 1 s).
    let t = Instant::now();
    while tails.iter().any(|t| !t.is_finished()) && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let mut results = Vec::new();
    for t in tails {
        results.push(t.await?);
    }
    odooops::Console::stop_services(&services_shutdown, service_tasks).await;
    let _ = stop_server.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;

    let mut all_ns: Vec<u64> = results.iter().flat_map(|r| r.latencies_ns.iter().copied()).collect();
    all_ns.sort_unstable();
    insert_ns.sort_unstable();
    Ok(TailBench {
        tails: opts.tails,
        sent: expected,
        batches: opts.tail_batches,
        batch_lines: opts.tail_batch_lines,
        period: opts.tail_period,
        send_secs,
        insert_ns,
        results,
        all_ns,
    })
}


// ---------------------------------------------------------------------------------------





fn report(opts: &Opts, m: &Machine, ingest: &[IngestResult], tail: &TailBench, table_mb: &[(String, f64)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Command: `cargo run --release -p odooops --example bench_logs` ({} lines)  ", fmt_int(opts.lines as f64));
    let _ = writeln!(s, "Date: {}  ", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(s, "Machine: {} CPUs ({}), {:.0} GiB RAM; load average {} before, {} after  ", m.cpus, m.cpu_model, m.mem_gib, m.load_before, loadavg());
    let _ = writeln!(s, "PostgreSQL: {}  ", m.pg_version);
    let _ = writeln!(
        s,
        "Settings: {}  ",
        m.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    );
    if let Some(sql) = &opts.setup_sql {
        let _ = writeln!(s, "Setup SQL (`BENCH_SETUP_SQL`): `{}`  ", sql.replace('`', "'"));
    }
    s.push('\n');
    let copy_rate = ingest.iter().find(|r| r.name.starts_with("COPY into ops.run_events")).map(|r| r.rate());
    let _ = writeln!(s, "### Ingest into ops.run_events\n");
    let _ = writeln!(s, "| Path | What it includes | Lines | Seconds | Lines/s | vs COPY |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    for r in ingest {
        let vs = copy_rate.map(|c| format!("{:.0}%", 100.0 * r.rate() / c)).unwrap_or_default();
        let _ = writeln!(s, "| {} | {} | {} | {:.2} | **{}** | {} |", r.name, r.what, fmt_int(r.lines as f64), r.secs, fmt_int(r.rate()), vs);
    }
    if !table_mb.is_empty() {
        let _ = writeln!(
            s,
            "\nSize after a run of {} lines: {}.",
            fmt_int(opts.lines as f64),
            table_mb.iter().map(|(k, v)| format!("{k} {v:.0} MB")).collect::<Vec<_>>().join(", ")
        );
    }
    let _ = writeln!(s, "\n### Live tail: insert → SSE client\n");
    let _ = writeln!(
        s,
        "{} concurrent tails on `/api/logs/tail?build=…`; {} batches of {} lines every {} ms through `ingest` ({} lines in {:.1} s, {} lines/s); {} (tail, line) samples.\n",
        tail.tails,
        tail.batches,
        tail.batch_lines,
        tail.period.as_millis(),
        fmt_int(tail.sent as f64),
        tail.send_secs,
        fmt_int(tail.sent as f64 / tail.send_secs),
        fmt_int(tail.all_ns.len() as f64)
    );
    let _ = writeln!(s, "| Measure | p50 | p95 | p99 | max |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    let row = |v: &[u64]| format!("{:.1} ms | {:.1} ms | **{:.1} ms** | {:.1} ms", pct(v, 50.0), pct(v, 95.0), pct(v, 99.0), pct(v, 100.0));
    let _ = writeln!(s, "| Insert → client (all tails) | {} |", row(&tail.all_ns));
    let _ = writeln!(s, "| `ingest` call (insert + commit) | {} |", row(&tail.insert_ns));
    let recv: Vec<usize> = tail.results.iter().map(|r| r.received).collect();
    let dups: usize = tail.results.iter().map(|r| r.duplicates).sum();
    let missing: usize = tail.results.iter().map(|r| r.missing).sum();
    let ooo: usize = tail.results.iter().map(|r| r.out_of_order).sum();
    let errors: Vec<String> = tail.results.iter().enumerate().filter_map(|(i, r)| r.error.as_ref().map(|e| format!("tail {i}: {e}"))).collect();
    let _ = writeln!(
        s,
        "\nDelivery: lines received per tail min {} / max {} (sent {}); duplicates {}, missing {}, out of order {}{}.",
        recv.iter().min().unwrap_or(&0),
        recv.iter().max().unwrap_or(&0),
        tail.sent,
        dups,
        missing,
        ooo,
        if errors.is_empty() { String::new() } else { format!("; errors: {}", errors.join("; ")) }
    );
    let ingest_rate = ingest.first().map(|r| r.rate()).unwrap_or(0.0);
    let p99 = pct(&tail.all_ns, 99.0);
    let delivered = dups == 0 && missing == 0;
    let _ = writeln!(s, "\n### Targets\n");
    let _ = writeln!(s, "| Target | Result | |");
    let _ = writeln!(s, "|---|---:|---|");
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let _ = writeln!(s, "| Ingest path ≥ {} lines/s | {} lines/s | {} |", fmt_int(INGEST_TARGET), fmt_int(ingest_rate), verdict(ingest_rate >= INGEST_TARGET));
    let _ = writeln!(s, "| Tail p99 < {P99_TARGET_MS:.0} ms ({} tails) | {:.1} ms | {} |", tail.tails, p99, verdict(p99 < P99_TARGET_MS));
    let _ = writeln!(s, "| Every tail gets every line once | {} | {} |", if delivered { "yes" } else { "no" }, verdict(delivered));
    s
}


// ---------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,sqlx=error".into())).with_writer(std::io::stderr).init();
    let opts = Opts::parse()?;
    let cluster = Cluster::start()?;
    let db_name = format!("bench_{}", Uuid::new_v4().simple());
    let result = run(&opts, &cluster, &db_name).await;
    cluster.finish(&db_name).await;
    result
}

async fn run(opts: &Opts, cluster: &Cluster, db_name: &str) -> Result<()> {
    odooops::db::ensure_database(&cluster.url, db_name).await?;
    let db_url = with_db(&cluster.url, db_name);
    let cfg = config(&db_url);
    let database = odooops::db::Database::open(&cfg).await.context("opening the benchmark database")?;
    let owner = database.owner.clone();
    if let Some(sql) = &opts.setup_sql {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&owner).await.context("BENCH_SETUP_SQL")?;
    }
    let m = machine(&owner, &["shared_buffers", "fsync", "synchronous_commit", "wal_level", "max_wal_size", "gin_pending_list_limit", "work_mem"]).await?;
    println!("== OdooOps log pipeline benchmark ==");
    println!("machine     {} CPUs, {}, {:.0} GiB RAM, load average {}", m.cpus, m.cpu_model, m.mem_gib, m.load_before);
    println!("postgresql  {}", m.pg_version);
    println!("settings    {}", m.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "));
    println!("app pool    {} connections; BATCH_LINES = {BATCH_LINES}", cfg.db_pool_size);

    // Tenant, project, branch, a few builds (jobs), and a member to sign in as.
    let mut conn = owner.acquire().await?;
    let tenant = odooops::admin::ensure_tenant(&mut conn, "bench", "Bench Corp").await?;
    let project = odooops::admin::create_project_in(&mut conn, tenant, "erp", "Bench ERP", "").await?;
    let user = odooops::admin::upsert_member(&mut conn, tenant, "bench@example.com", "Bench", Role::Developer, PASSWORD).await?;
    let branch: Uuid = sqlx::query_scalar("insert into ops.branches (tenant_id, project_id, name) values ($1, $2, 'main') returning id")
        .bind(tenant)
        .bind(project)
        .fetch_one(&mut *conn)
        .await?;
    let mut jobs = Vec::new();
    for n in 1..=opts.producers.max(2) as i64 {
        let id: Uuid = sqlx::query_scalar(
            "insert into ops.builds (tenant_id, project_id, branch_id, number, sha, trigger, state)
             values ($1, $2, $3, $4, 'abcdef1234567', 'manual', 'running') returning id",
        )
        .bind(tenant)
        .bind(project)
        .bind(branch)
        .bind(n)
        .fetch_one(&mut *conn)
        .await?;
        jobs.push(id);
    }
    sqlx::query("create unlogged table public.bench_run_events_bare (like ops.run_events including defaults including identity)").execute(&mut *conn).await?;
    drop(conn);
    let claims = DbClaims { sub: user, tenant_id: tenant, role: Role::Developer };
    let db = Db::new(database.app.clone());

    eprintln!("generating {} lines …", fmt_int(opts.lines as f64));
    let mut rng = StdRng::seed_from_u64(42);
    let words = Words::new(&mut rng);
    let events = Arc::new(make_events(&words, &mut rng, opts.lines));
    let avg = events.iter().map(|e| e.message.len()).sum::<usize>() as f64 / events.len() as f64;
    println!("lines       {} (messages {avg:.0} bytes on average, levels mixed, {} sources)", fmt_int(opts.lines as f64), SOURCES.len());

    // RLS is forced on the table, so COPY FROM needs a role that bypasses it.
    let unforce = !m.superuser;
    let n = opts.lines;
    let mut results = Vec::new();
    let mut sizes = Vec::new();

    println!("\n-- ingest --");
    reset(&owner, m.superuser).await?;
    let secs = run_ingest_direct(&db, &claims, jobs[0], &events).await?;
    check_count(&owner, "ops.run_events", n).await?;
    for (label, rel) in [("table", "ops.run_events"), ("indexes", "ops.run_events")] {
        let sql = if label == "table" { "select pg_table_size($1::regclass)" } else { "select pg_indexes_size($1::regclass)" };
        let bytes: i64 = sqlx::query_scalar(sql).bind(rel).fetch_one(&owner).await?;
        sizes.push((label.to_string(), bytes as f64 / 1e6));
    }
    let gin: i64 = sqlx::query_scalar(
        "select coalesce(sum(pg_relation_size(i.indexrelid)), 0)::int8 from pg_index i
           join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam
          where i.indrelid = 'ops.run_events'::regclass and a.amname = 'gin'",
    )
    .fetch_one(&owner)
    .await?;
    sizes.push(("of which the GIN index".into(), gin as f64 / 1e6));
    results.push(IngestResult {
        name: "Ingest path: `ingest()`".into(),
        what: format!("app role + claims, RLS, unnest, 4 indexes + GIN, FKs, NOTIFY; {BATCH_LINES} lines/statement, 1 connection"),
        lines: n as u64,
        secs,
    });
    println!("{:<44} {:>10.0} lines/s", results.last().unwrap().name, results.last().unwrap().rate());

    if !opts.skip_sink {
        reset(&owner, m.superuser).await?;
        let (secs, written) = run_sinks(&db, &claims, &jobs, events.clone(), opts.producers, false).await?;
        check_count(&owner, "ops.run_events", n).await?;
        results.push(IngestResult {
            name: format!("Ingest path: `LogSink`, {} producers → 1 sink", opts.producers),
            what: "as above, lines through the sink's channel and batching (one build)".into(),
            lines: written,
            secs,
        });
        println!("{:<44} {:>10.0} lines/s", results.last().unwrap().name, results.last().unwrap().rate());

        reset(&owner, m.superuser).await?;
        let (secs, written) = run_sinks(&db, &claims, &jobs, events.clone(), opts.producers, true).await?;
        check_count(&owner, "ops.run_events", n).await?;
        results.push(IngestResult {
            name: format!("Ingest path: {} `LogSink`s in parallel", opts.producers),
            what: format!("{} builds logging at once, one producer and one connection each", opts.producers),
            lines: written,
            secs,
        });
        println!("{:<44} {:>10.0} lines/s", results.last().unwrap().name, results.last().unwrap().rate());
    }

    let data = copy_text(&events, tenant, jobs[0]);
    reset(&owner, m.superuser).await?;
    if unforce {
        sqlx::query("alter table ops.run_events no force row level security").execute(&owner).await?;
    }
    let copied = run_copy(&owner, "ops.run_events", &data).await;
    if unforce {
        sqlx::query("alter table ops.run_events force row level security").execute(&owner).await?;
    }
    let (secs, rows) = copied?;
    check_count(&owner, "ops.run_events", n).await?;
    results.push(IngestResult {
        name: "COPY into ops.run_events".into(),
        what: "owner, one COPY statement: same indexes, FKs and NOTIFY trigger; no RLS, no unnest".into(),
        lines: rows,
        secs,
    });
    println!("{:<44} {:>10.0} lines/s", results.last().unwrap().name, results.last().unwrap().rate());

    reset(&owner, m.superuser).await?;
    let (secs, rows) = run_copy(&owner, "public.bench_run_events_bare", &data).await?;
    check_count(&owner, "public.bench_run_events_bare", n).await?;
    results.push(IngestResult {
        name: "COPY into an unlogged, index-free copy".into(),
        what: "the ceiling: no WAL, no index, no FK, no trigger".into(),
        lines: rows,
        secs,
    });
    println!("{:<44} {:>10.0} lines/s", results.last().unwrap().name, results.last().unwrap().rate());
    drop(data);
    // The COPY's rows stay during the tail benchmark: the tenant has a long history, and the
    // tailed build (another one) starts empty.
    sqlx::query("truncate public.bench_run_events_bare").execute(&owner).await?;
    sqlx::query("analyze ops.run_events").execute(&owner).await?;

    println!("\n-- live tail: {} tails, {} batches × {} lines every {} ms --", opts.tails, opts.tail_batches, opts.tail_batch_lines, opts.tail_period.as_millis());
    let tail = run_tail_bench(&cfg, &database, &claims, jobs[1], "bench@example.com", opts, &words).await?;
    println!(
        "insert → client   p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} samples)",
        pct(&tail.all_ns, 50.0),
        pct(&tail.all_ns, 95.0),
        pct(&tail.all_ns, 99.0),
        pct(&tail.all_ns, 100.0),
        tail.all_ns.len()
    );
    println!(
        "ingest() call     p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        pct(&tail.insert_ns, 50.0),
        pct(&tail.insert_ns, 95.0),
        pct(&tail.insert_ns, 99.0),
        pct(&tail.insert_ns, 100.0)
    );
    for (i, r) in tail.results.iter().enumerate() {
        let mut v = r.latencies_ns.clone();
        v.sort_unstable();
        println!(
            "tail {i:>2}: received {:>6}/{} dup {} missing {} out-of-order {} foreign {} p50 {:.1} ms p99 {:.1} ms{}",
            r.received,
            tail.sent,
            r.duplicates,
            r.missing,
            r.out_of_order,
            r.foreign,
            pct(&v, 50.0),
            pct(&v, 99.0),
            r.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }

    let section = report(opts, &m, &results, &tail, &sizes);
    println!("\n{section}");
    if let Some(path) = &opts.md {
        write_md(path, "bench_logs", "Log pipeline (latest run)", &section)?;
        eprintln!("wrote {}", path.display());
    }
    database.close().await?;
    Ok(())
}
