//! Mail catcher benchmark: prints figures, asserts no timing.
//!
//! 1. Throughput: a real console on port 0 with its embedded SMTP server; 1, 10 and 50
//!    concurrent SMTP clients (plain tokio TCP, no TLS, no PIPELINING: each command waits for
//!    its reply) authenticate with a staging mailbox's credentials and send ~10 KB MIME
//!    messages over one connection each. Messages per second = messages / (first MAIL → last
//!    `250`); the server answers `250` only after the message is committed (parsed, inserted
//!    under RLS with the NOTIFY trigger, transaction committed). After each run the stored rows
//!    are checked as the owner: count, total size, parse status and one message byte for byte;
//!    a mismatch is an error (exit code 1), not a timing verdict.
//! 2. Delay to the viewer: a signed-in developer holds `/api/mail/events?env=…` open and, on
//!    each `mail` event, reloads the inbox through the `mail-messages` server function, as the
//!    UI does. Messages go out one at a time, first isolated (one every 400 ms, so each gets its
//!    own event), then as a steady stream (one every 20 ms). Measured from the final `.` of
//!    DATA to the event and to the reload that lists the message. The SSE handler waits 150 ms
//!    to coalesce bursts; that wait is included.
//!
//! Run: `cargo run --release -p odooops --example bench_smtp [-- --messages N]`
//!
//! Environment:
//! - `DATABASE_URL`: a cluster as its owner or a superuser (a fresh database is created in it
//!   and dropped at the end). Unset: a throwaway cluster is started with `.ci/pg-throwaway`
//!   (which runs PostgreSQL with `fsync=off`; for figures with `fsync=on`, point `DATABASE_URL`
//!   at a cluster that has it).
//! - `BENCH_CLIENTS` (`1,10,50`), `BENCH_MESSAGES` (10,000: messages per run with several
//!   clients; `--messages` sets it too), `BENCH_MESSAGES_1` (2,000: the one-client run),
//!   `BENCH_MESSAGE_BYTES` (10,240), `BENCH_E2E_ISOLATED` (50), `BENCH_E2E_ISOLATED_MS` (400),
//!   `BENCH_E2E_MESSAGES` (200), `BENCH_E2E_PERIOD_MS` (20).
//! - `BENCH_SETUP_SQL`: SQL run as the owner after the migrations, to try a schema or setting
//!   change without editing them (e.g. `alter table ops.mailbox_messages alter raw set compression lz4`).
//! - `BENCH_MD`: where to write the results section (default `spec/odooops/benchmarks.md`;
//!   `-` for nowhere). Only the part between the `bench_smtp:begin/end` markers is replaced.
use anyhow::{bail, ensure, Context, Result};
use app::models::{MailboxInfo, MessagePage};
use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use uuid::Uuid;

#[path = "support/bench.rs"]
mod bench;
use bench::{config, env_num, fmt_int, loadavg, machine, pct, with_db, write_md, Cluster, Machine};

const PASSWORD: &str = "bench-password-123";
const RATE_TARGET: f64 = 1_000.0;
const BOUNDARY: &str = "=_bench_7f3a9c_alt";

struct Opts {
    clients: Vec<usize>,
    messages: usize,
    messages_1: usize,
    size: usize,
    isolated: usize,
    isolated_period: Duration,
    steady: usize,
    steady_period: Duration,
    setup_sql: Option<String>,
    md: Option<PathBuf>,
}


impl Opts {
    fn parse() -> Result<Opts> {
        let mut messages = env_num("BENCH_MESSAGES", 10_000);
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--messages" | "-n" => messages = args.next().context("--messages needs a number")?.replace('_', "").parse().context("--messages")?,
                other => bail!("unknown argument {other:?} (use --messages N; see the file header for the environment variables)"),
            }
        }
        let clients = std::env::var("BENCH_CLIENTS").unwrap_or_else(|_| "1,10,50".into());
        let clients = clients.split(',').map(|c| c.trim().parse::<usize>().with_context(|| format!("BENCH_CLIENTS: {c:?}"))).collect::<Result<Vec<_>>>()?;
        ensure!(clients.iter().all(|&c| c > 0), "BENCH_CLIENTS: client counts must be positive");
        let md = match std::env::var("BENCH_MD") {
            Ok(v) if v == "-" => None,
            Ok(v) => Some(PathBuf::from(v)),
            Err(_) => Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/odooops/benchmarks.md")),
        };
        Ok(Opts {
            clients,
            messages: messages.max(1),
            messages_1: env_num("BENCH_MESSAGES_1", 2_000).max(1),
            size: env_num("BENCH_MESSAGE_BYTES", 10_240).max(2_048),
            isolated: env_num("BENCH_E2E_ISOLATED", 50),
            isolated_period: Duration::from_millis(env_num("BENCH_E2E_ISOLATED_MS", 400) as u64),
            steady: env_num("BENCH_E2E_MESSAGES", 200),
            steady_period: Duration::from_millis(env_num("BENCH_E2E_PERIOD_MS", 20) as u64),
            setup_sql: std::env::var("BENCH_SETUP_SQL").ok().filter(|s| !s.trim().is_empty()),
            md,
        })
    }

    fn run_size(&self, clients: usize) -> usize {
        if clients == 1 {
            self.messages_1
        } else {
            self.messages.max(clients)
        }
    }
}

// ---------------------------------------------------------------------------------------
// The cluster and the console's configuration (as in bench_logs).






// ---------------------------------------------------------------------------------------
// Messages: an order confirmation as an ERP sends it: multipart/alternative, text and HTML
// in quoted-printable, UTF-8, CRLF, lines under 78 characters, a few lines starting with a
// dot (so dot-stuffing is exercised). A pool of bodies; headers are made per message.

const WORDS: &[&str] = &[
    "order", "invoice", "delivery", "payment", "customer", "quotation", "confirmed", "shipped", "warehouse", "product",
    "quantity", "price", "total", "tax", "discount", "reference", "your", "our", "the", "of", "for", "with", "and",
    "to", "is", "will", "be", "on", "by", "please", "find", "attached", "thank", "you", "regards", "team", "sales",
    "account", "portal", "link", "view", "online", "questions", "contact", "us", "reply", "this", "email", "terms",
    "conditions", "expected", "date", "carrier", "tracking", "number", "address", "street", "city", "country",
    "déjà", "reçu", "commande", "livraison", "Müller", "Straße", "größe", "año", "señor", "€", "naïve", "café",
];

fn sentence(rng: &mut StdRng) -> String {
    let n = rng.gen_range(8..=20);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        let w = WORDS[rng.gen_range(0..WORDS.len())];
        if i == 0 {
            let mut c = w.chars();
            s.extend(c.next().into_iter().flat_map(char::to_uppercase));
            s.push_str(c.as_str());
        } else {
            s.push_str(w);
        }
        if rng.gen_range(0..12) == 0 {
            let _ = write!(s, " {}", rng.gen_range(1..100_000));
        }
    }
    s.push('.');
    s
}

/// Quoted-printable (RFC 2045): `\n` in `text` becomes a hard CRLF; lines stay ≤ 76 characters.
fn qp(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 11 / 10);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut col = 0;
        let bytes = line.as_bytes();
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let enc = if (b == b' ' || b == b'\t') && last || b == b'=' || !(32..=126).contains(&b) && b != b'\t' {
                format!("={b:02X}")
            } else {
                (b as char).to_string()
            };
            if col + enc.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            out.push_str(&enc);
            col += enc.len();
        }
    }
    out
}

fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut at_line_start = true;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out
}

struct Body {
    /// The MIME body as stored (after the headers' blank line).
    raw: Vec<u8>,
    /// The same, dot-stuffed, followed by the end-of-data line.
    wire: Vec<u8>,
}

fn make_body(rng: &mut StdRng, target: usize) -> Body {
    let mut text = String::from("Dear customer,\n\n");
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n<div style=\"margin:0px;padding:0px;font-size:13px;font-family:Arial,sans-serif;color:#454748;\">\n",
    );
    let mut paragraph = 0;
    // Text ~35 %, HTML ~65 % of the body (markup, inline styles and `=3D` make it the larger part).
    while qp(&text).len() < target * 35 / 100 {
        let p: Vec<String> = (0..rng.gen_range(2..5)).map(|_| sentence(rng)).collect();
        // Plain text wrapped at 72 columns, as mail libraries do.
        let mut col = 0;
        for w in p.join(" ").split(' ') {
            if col > 0 && col + 1 + w.len() > 72 {
                text.push('\n');
                col = 0;
            } else if col > 0 {
                text.push(' ');
                col += 1;
            }
            text.push_str(w);
            col += w.len();
        }
        text.push_str("\n\n");
        let _ = writeln!(html, "<p style=\"margin:0px 0px 9px 0px;line-height:1.5;\">{}</p>", p.join(" "));
        paragraph += 1;
        if paragraph == 2 {
            // Lines that start with a dot, one of them alone on its line.
            text.push_str(".\n...and the order lines follow.\n.hidden-looking line\n\n");
        }
    }
    text.push_str("-- \nBench Shop · Sales team\n");
    let _ = writeln!(html, "<table style=\"width:100%;border-collapse:collapse;\" cellpadding=\"4\">");
    let mut line = 0;
    // MIME part headers and boundaries: about 300 bytes.
    while qp(&text).len() + qp(&html).len() + 300 < target {
        line += 1;
        let name = format!("{} {}", WORDS[rng.gen_range(0..WORDS.len())], WORDS[rng.gen_range(0..WORDS.len())]);
        let _ = writeln!(
            html,
            "<tr style=\"border-bottom:1px solid #dee2e6;\"><td style=\"padding:4px 8px;\">[{:05}] {name}</td><td style=\"text-align:right;\">{}</td><td style=\"text-align:right;\">{}.{:02} €</td></tr>",
            rng.gen_range(1..99_999),
            rng.gen_range(1..20),
            rng.gen_range(1..2_000),
            rng.gen_range(0..100)
        );
        if line > 500 {
            break;
        }
    }
    html.push_str("</table>\n<p style=\"margin:0px;\">Bench Shop · <a href=\"https://shop.bench.example/my/orders\" style=\"color:#875A7B;\">Your orders</a></p>\n</div></body></html>\n");
    let mut raw = String::new();
    let _ = write!(
        raw,
        "This is a multi-part message in MIME format.\r\n\r\n--{BOUNDARY}\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n--{BOUNDARY}\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n--{BOUNDARY}--\r\n",
        qp(&text),
        qp(&html)
    );
    let raw = raw.into_bytes();
    debug_assert!(raw.split(|&b| b == b'\n').all(|l| l.len() < 998));
    let mut wire = dot_stuff(&raw);
    wire.extend_from_slice(b".\r\n");
    Body { raw, wire }
}

struct Mail {
    /// What the server must store, byte for byte.
    raw_len: usize,
    /// What goes on the wire after `354`.
    wire: Vec<u8>,
    from: &'static str,
    to: String,
}

fn headers(tag: &str, seq: usize) -> String {
    format!(
        "Date: {}\r\nFrom: \"Bench Shop\" <noreply@shop.bench.example>\r\nReply-To: \"Bench Shop Sales\" <sales@shop.bench.example>\r\nTo: \"Customer {seq}\" <customer{seq}@example.com>\r\nSubject: =?utf-8?q?Commande_confirm=C3=A9e?= S{seq:05} [{tag}]\r\nMessage-ID: <{tag}.{}@shop.bench.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"{BOUNDARY}\"\r\nX-Odoo-Objects: sale.order-{seq}\r\nX-Mailer: bench_smtp\r\n\r\n",
        chrono::Utc::now().to_rfc2822(),
        Uuid::new_v4().simple()
    )
}

fn compose(body: &Body, tag: &str, seq: usize) -> Mail {
    let h = headers(tag, seq);
    let mut wire = Vec::with_capacity(h.len() + body.wire.len());
    wire.extend_from_slice(h.as_bytes());
    wire.extend_from_slice(&body.wire);
    Mail { raw_len: h.len() + body.raw.len(), wire, from: "noreply@shop.bench.example", to: format!("customer{seq}@example.com") }
}

fn raw_of(body: &Body, mail: &Mail) -> Vec<u8> {
    let head = mail.wire.len() - body.wire.len();
    let mut raw = mail.wire[..head].to_vec();
    raw.extend_from_slice(&body.raw);
    raw
}

// ---------------------------------------------------------------------------------------
// A small SMTP client: one command, one reply (no PIPELINING).

struct SmtpClient {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    line: String,
}

impl SmtpClient {
    async fn connect(addr: SocketAddr, user: &str, pass: &str) -> Result<SmtpClient> {
        let stream = TcpStream::connect(addr).await.context("connecting to the SMTP server")?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut c = SmtpClient { r: BufReader::new(r), w, line: String::new() };
        c.expect(220, "greeting").await?;
        c.cmd("EHLO bench-client.example", 250).await?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
        c.cmd(&format!("AUTH PLAIN {token}"), 235).await?;
        Ok(c)
    }

    async fn reply(&mut self) -> Result<(u16, String)> {
        let mut text = String::new();
        loop {
            self.line.clear();
            ensure!(self.r.read_line(&mut self.line).await? > 0, "the server closed the connection");
            let l = self.line.trim_end();
            let code: u16 = l.get(..3).and_then(|c| c.parse().ok()).with_context(|| format!("malformed reply {l:?}"))?;
            text.push_str(l);
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
            text.push('\n');
        }
    }

    async fn expect(&mut self, code: u16, what: &str) -> Result<()> {
        let (got, text) = self.reply().await?;
        ensure!(got == code, "{what}: expected {code}, got {text:?}");
        Ok(())
    }

    async fn cmd(&mut self, line: &str, code: u16) -> Result<()> {
        self.w.write_all(format!("{line}\r\n").as_bytes()).await?;
        self.expect(code, line.split(' ').next().unwrap_or(line)).await
    }

    /// MAIL, RCPT, DATA, the message: returns when the final `.` was written and when its
    /// `250` came back.
    async fn send(&mut self, m: &Mail) -> Result<(Instant, Instant)> {
        self.cmd(&format!("MAIL FROM:<{}> SIZE={}", m.from, m.raw_len), 250).await?;
        self.cmd(&format!("RCPT TO:<{}>", m.to), 250).await?;
        self.cmd("DATA", 354).await?;
        self.w.write_all(&m.wire).await?;
        let dot = Instant::now();
        self.expect(250, "end of DATA").await?;
        Ok((dot, Instant::now()))
    }

    async fn quit(mut self) -> Result<()> {
        self.cmd("QUIT", 221).await
    }
}

// ---------------------------------------------------------------------------------------
// CPU accounting: the machine (/proc/stat) and this process (server + clients).

#[derive(Clone, Copy)]
struct Cpu {
    busy: u64,
    total: u64,
    ours: u64,
    pg: u64,
}

/// utime + stime of a process (all its threads), in clock ticks.
fn proc_ticks(stat: &str) -> (u64, u64) {
    // Fields after the command name `(…)`: ppid is the 2nd, utime and stime the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<u64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    (f.get(1).copied().unwrap_or(0), f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0))
}

/// CPU ticks of the throwaway cluster: its postmaster and every process it started. Backends
/// that exit during a run take their share with them (the pools keep theirs open).
fn pg_ticks(postmaster: Option<u32>) -> u64 {
    let Some(pm) = postmaster else { return 0 };
    let mut sum = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let (ppid, ticks) = proc_ticks(&stat);
        if pid == pm || ppid as u32 == pm {
            sum += ticks;
        }
    }
    sum
}

fn cpu_now(postmaster: Option<u32>) -> Cpu {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    let (_, ours) = proc_ticks(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default());
    Cpu { busy: total.saturating_sub(idle), total, ours, pg: pg_ticks(postmaster) }
}

/// Machine busy, this process and PostgreSQL, each in % of all cores (`None`: not known).
fn cpu_use(a: Cpu, b: Cpu, pg_known: bool) -> CpuUse {
    let total = (b.total - a.total).max(1) as f64;
    let share = |x: u64, y: u64| 100.0 * y.saturating_sub(x) as f64 / total;
    CpuUse { busy: share(a.busy, b.busy), ours: share(a.ours, b.ours), pg: pg_known.then(|| share(a.pg, b.pg)) }
}

#[derive(Clone, Copy, Default)]
struct CpuUse {
    busy: f64,
    ours: f64,
    pg: Option<f64>,
}

impl CpuUse {
    fn pg_str(&self) -> String {
        self.pg.map(|p| format!("{p:.0}%")).unwrap_or_else(|| "n/a".into())
    }
}

/// The throwaway cluster's postmaster (its CPU can be attributed); `None` for `DATABASE_URL`.
fn postmaster_pid(cluster: &Cluster) -> Option<u32> {
    let dir = cluster.throwaway.as_ref()?;
    std::fs::read_to_string(dir.join("data/postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
}

// ---------------------------------------------------------------------------------------
// Throughput runs.

struct Creds {
    addr: SocketAddr,
    user: String,
    pass: String,
}

struct RunResult {
    clients: usize,
    messages: usize,
    bytes: u64,
    secs: f64,
    /// Final `.` → `250`.
    data_ns: Vec<u64>,
    /// `MAIL` → `250` after DATA (the whole transaction).
    txn_ns: Vec<u64>,
    cpu: CpuUse,
}

impl RunResult {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.secs
    }
}

async fn run_clients(creds: &Creds, bodies: &Arc<Vec<Body>>, clients: usize, total: usize, run: usize, postmaster: Option<u32>) -> Result<(RunResult, String, Vec<u8>)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let n = total / clients + usize::from(c < total % clients);
        let (addr, user, pass) = (creds.addr, creds.user.clone(), creds.pass.clone());
        let (bodies, barrier) = (bodies.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let client = SmtpClient::connect(addr, &user, &pass).await;
            barrier.wait().await;
            let mut client = client.with_context(|| format!("client {c}"))?;
            let (mut data_ns, mut txn_ns, mut bytes) = (Vec::with_capacity(n), Vec::with_capacity(n), 0u64);
            let mut sample = None;
            for k in 0..n {
                let seq = c * 1_000_000 + k;
                let tag = format!("r{run}-c{c}-m{k}");
                let body = &bodies[(c * 7 + k) % bodies.len()];
                let mail = compose(body, &tag, seq);
                let t0 = Instant::now();
                let (dot, ok) = client.send(&mail).await.with_context(|| format!("client {c}, message {k}"))?;
                data_ns.push((ok - dot).as_nanos() as u64);
                txn_ns.push((ok - t0).as_nanos() as u64);
                bytes += mail.raw_len as u64;
                if c == 0 && k == 0 {
                    sample = Some((tag, raw_of(body, &mail)));
                }
            }
            let end = Instant::now();
            client.quit().await?;
            Ok::<_, anyhow::Error>((data_ns, txn_ns, bytes, end, sample))
        }));
    }
    barrier.wait().await;
    let (start, cpu0) = (Instant::now(), cpu_now(postmaster));
    let mut r = RunResult { clients, messages: total, bytes: 0, secs: 0.0, data_ns: Vec::new(), txn_ns: Vec::new(), cpu: CpuUse::default() };
    let mut last = start;
    let mut sample = None;
    for t in tasks {
        let (d, x, b, end, s) = t.await??;
        r.data_ns.extend(d);
        r.txn_ns.extend(x);
        r.bytes += b;
        last = last.max(end);
        sample = sample.or(s);
    }
    r.cpu = cpu_use(cpu0, cpu_now(postmaster), postmaster.is_some());
    r.secs = (last - start).as_secs_f64();
    r.data_ns.sort_unstable();
    r.txn_ns.sort_unstable();
    let (tag, raw) = sample.context("no message was sent")?;
    Ok((r, tag, raw))
}

/// The correctness check: every accepted message is stored once, intact and parsed.
async fn verify(owner: &PgPool, env: Uuid, r: &RunResult, tag: &str, raw: &[u8]) -> Result<()> {
    let (rows, distinct, bytes, parsed): (i64, i64, i64, i64) = sqlx::query_as(
        "select count(*), count(distinct subject), coalesce(sum(size), 0)::int8,
                count(*) filter (where parse_error is null and text_body <> '' and html_body <> '')
           from ops.mailbox_messages where environment_id = $1",
    )
    .bind(env)
    .fetch_one(owner)
    .await?;
    let stored: Option<Vec<u8>> = sqlx::query_scalar("select raw from ops.mailbox_messages where environment_id = $1 and position($2 in subject) > 0")
        .bind(env)
        .bind(format!("[{tag}]"))
        .fetch_optional(owner)
        .await?;
    let mut errors = Vec::new();
    if rows != r.messages as i64 || distinct != r.messages as i64 {
        errors.push(format!("{rows} rows ({distinct} distinct subjects) stored, {} messages accepted", r.messages));
    }
    if bytes != r.bytes as i64 {
        errors.push(format!("{bytes} bytes stored, {} sent", r.bytes));
    }
    if parsed != rows {
        errors.push(format!("only {parsed} of {rows} rows parsed with a text and an HTML body"));
    }
    if stored.as_deref() != Some(raw) {
        errors.push(format!("message [{tag}] is not stored byte for byte ({:?} bytes stored, {} sent)", stored.map(|s| s.len()), raw.len()));
    }
    if !errors.is_empty() {
        eprintln!("\n!!!!!!!! ERROR: the store does not hold what the server accepted ({} clients):", r.clients);
        for e in &errors {
            eprintln!("!!!!!!!!   {e}");
        }
        bail!("stored rows do not match the accepted messages: {}", errors.join("; "));
    }
    println!("  check: {rows} rows stored = {} accepted, {bytes} bytes, all parsed, [{tag}] byte-identical", r.messages);
    Ok(())
}

async fn clear_inbox(owner: &PgPool, env: Uuid, superuser: bool) -> Result<()> {
    sqlx::query("delete from ops.mailbox_messages where environment_id = $1").bind(env).execute(owner).await?;
    sqlx::query("vacuum ops.mailbox_messages").execute(owner).await?;
    if superuser {
        sqlx::query("checkpoint").execute(owner).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Delay to the viewer.

#[derive(Default)]
struct Seen {
    /// When each `mail` event arrived.
    events: Vec<Instant>,
    /// When each message (by its number) was first listed by a reload.
    visible: Vec<Option<Instant>>,
    /// How long each reload (`mail-messages` call) took.
    reload_ns: Vec<u64>,
    error: Option<String>,
}

async fn sse_reader(mut res: reqwest::Response, seen: Arc<Mutex<Seen>>, wake: Arc<tokio::sync::Notify>, ready: tokio::sync::oneshot::Sender<()>) {
    let mut ready = Some(ready);
    let (mut buf, mut event) = (Vec::<u8>::new(), String::new());
    loop {
        let chunk = res.chunk().await;
        let now = Instant::now();
        let bytes = match chunk {
            Ok(Some(b)) => b,
            Ok(None) => {
                seen.lock().unwrap().error = Some("the event stream ended".into());
                return;
            }
            Err(e) => {
                seen.lock().unwrap().error = Some(e.to_string());
                return;
            }
        };
        buf.extend_from_slice(&bytes);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_string();
            } else if line.is_empty() {
                match event.as_str() {
                    "ready" => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    "mail" => {
                        seen.lock().unwrap().events.push(now);
                        wake.notify_one();
                    }
                    _ => {}
                }
                event.clear();
            }
        }
    }
}

/// Reloads the inbox's first page on every wake-up, as the UI does on a `mail` event.
async fn viewer(client: reqwest::Client, url: String, env: Uuid, prefix: String, seen: Arc<Mutex<Seen>>, wake: Arc<tokio::sync::Notify>) {
    loop {
        wake.notified().await;
        let t0 = Instant::now();
        let env = env.to_string();
        let page = async {
            let res = client.post(&url).form(&[("env_id", env.as_str()), ("q", ""), ("offset", "0")]).send().await?;
            ensure!(res.status() == 200, "mail-messages answered {}", res.status());
            Ok::<_, anyhow::Error>(res.json::<MessagePage>().await?)
        }
        .await;
        let t1 = Instant::now();
        let mut s = seen.lock().unwrap();
        s.reload_ns.push((t1 - t0).as_nanos() as u64);
        match page {
            Ok(page) => {
                for item in page.items {
                    let n = item.subject.split_once(&prefix).and_then(|(_, r)| r.split(']').next()).and_then(|n| n.parse::<usize>().ok());
                    if let Some(slot) = n.and_then(|n| s.visible.get_mut(n)) {
                        slot.get_or_insert(t1);
                    }
                }
            }
            Err(e) => s.error = Some(e.to_string()),
        }
    }
}

struct E2e {
    name: &'static str,
    messages: usize,
    period: Duration,
    events: usize,
    ack_ns: Vec<u64>,
    /// Final `.` → the first `mail` event after it (isolated messages only).
    event_ns: Vec<u64>,
    visible_ns: Vec<u64>,
    reload_ns: Vec<u64>,
    missing: usize,
}

#[allow(clippy::too_many_arguments)]
async fn run_e2e(base: &str, creds: &Creds, env: Uuid, email: &str, bodies: &[Body], name: &'static str, n: usize, period: Duration) -> Result<E2e> {
    let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
    let login = client.post(format!("{base}/api/login")).form(&[("email", email), ("password", PASSWORD)]).send().await?;
    ensure!(login.status() == 200, "login failed: {} {}", login.status(), login.text().await.unwrap_or_default());
    let res = client.get(format!("{base}/api/mail/events?env={env}")).header("accept", "text/event-stream").send().await?;
    ensure!(res.status() == 200, "the mail event stream was refused: {}", res.status());
    let prefix = format!("[e2e-{name}-");
    let seen = Arc::new(Mutex::new(Seen { visible: vec![None; n], ..Seen::default() }));
    let wake = Arc::new(tokio::sync::Notify::new());
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(sse_reader(res, seen.clone(), wake.clone(), ready_tx));
    let view = tokio::spawn(viewer(client, format!("{base}/api/mail-messages"), env, prefix.clone(), seen.clone(), wake));
    tokio::time::timeout(Duration::from_secs(10), ready_rx).await.context("no `ready` event within 10 s")??;

    let mut smtp = SmtpClient::connect(creds.addr, &creds.user, &creds.pass).await?;
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        interval.tick().await;
        let mail = compose(&bodies[i % bodies.len()], &format!("e2e-{name}-{i}"), i);
        sent.push(smtp.send(&mail).await.with_context(|| format!("{name} message {i}"))?);
    }
    smtp.quit().await?;
    let t = Instant::now();
    while seen.lock().unwrap().visible.iter().any(Option::is_none) && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reader.abort();
    view.abort();
    let s = seen.lock().unwrap();
    if let Some(e) = &s.error {
        bail!("viewer ({name}): {e}");
    }
    let mut r = E2e { name, messages: n, period, events: s.events.len(), ack_ns: Vec::new(), event_ns: Vec::new(), visible_ns: Vec::new(), reload_ns: s.reload_ns.clone(), missing: 0 };
    for (i, (dot, ack)) in sent.iter().enumerate() {
        r.ack_ns.push((*ack - *dot).as_nanos() as u64);
        if name == "isolated" {
            if let Some(ev) = s.events.iter().find(|e| *e > dot) {
                r.event_ns.push((*ev - *dot).as_nanos() as u64);
            }
        }
        match s.visible[i] {
            Some(v) => r.visible_ns.push(v.saturating_duration_since(*dot).as_nanos() as u64),
            None => r.missing += 1,
        }
    }
    for v in [&mut r.ack_ns, &mut r.event_ns, &mut r.visible_ns, &mut r.reload_ns] {
        v.sort_unstable();
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------






fn report(opts: &Opts, m: &Machine, pool: u32, runs: &[RunResult], e2e: &[E2e]) -> String {
    let mut s = String::new();
    let avg_size = runs.iter().map(|r| r.bytes as f64).sum::<f64>() / runs.iter().map(|r| r.messages as f64).sum::<f64>();
    let clients: Vec<String> = opts.clients.iter().map(|c| c.to_string()).collect();
    let _ = writeln!(
        s,
        "Command: `cargo run --release -p odooops --example bench_smtp` ({} clients; {} messages per run, {} with one client)  ",
        clients.join(", "),
        fmt_int(opts.messages as f64),
        fmt_int(opts.messages_1 as f64)
    );
    let _ = writeln!(s, "Date: {}  ", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(s, "Machine: {} CPUs ({}), {:.0} GiB RAM; load average {} before, {} after  ", m.cpus, m.cpu_model, m.mem_gib, m.load_before, loadavg());
    let _ = writeln!(s, "PostgreSQL: {}  ", m.pg_version);
    let _ = writeln!(s, "Settings: {}; app pool {pool} connections, 4 store writers  ", m.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "));
    if let Some(sql) = &opts.setup_sql {
        let _ = writeln!(s, "Setup SQL (`BENCH_SETUP_SQL`): `{}`  ", sql.replace('`', "'"));
    }
    let _ = writeln!(s, "Messages: {} bytes on average (multipart/alternative, text + HTML, quoted-printable, dot-stuffed lines)\n", fmt_int(avg_size));
    let _ = writeln!(s, "### Throughput: accepted and stored\n");
    let _ = writeln!(s, "Each client: one connection, EHLO + AUTH PLAIN once, then MAIL / RCPT / DATA per message, one command at a time (no PIPELINING), QUIT at the end. Time: first MAIL to last `250`. CPU: share of all cores during the run: the whole machine (other work on it included), this process (SMTP server, web server and the clients) and PostgreSQL (the throwaway cluster's processes).\n");
    let _ = writeln!(s, "| SMTP clients | Messages | Seconds | Messages/s | MB/s | `.` → `250` p50 | p99 | MAIL → `250` p99 | CPU: machine | this process | PostgreSQL |");
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in runs {
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | **{}** | {:.1} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0}% | {:.0}% | {} |",
            r.clients,
            fmt_int(r.messages as f64),
            r.secs,
            fmt_int(r.rate()),
            r.bytes as f64 / r.secs / 1e6,
            pct(&r.data_ns, 50.0),
            pct(&r.data_ns, 99.0),
            pct(&r.txn_ns, 99.0),
            r.cpu.busy,
            r.cpu.ours,
            r.cpu.pg_str()
        );
    }
    let _ = writeln!(s, "\nAfter every run the inbox held exactly the accepted messages: row count, distinct subjects, total size and parse status checked, one message compared byte for byte.\n");
    let _ = writeln!(s, "### Delay to the viewer\n");
    let _ = writeln!(s, "A signed-in developer holds `/api/mail/events?env=…` open and reloads the inbox (`mail-messages`, first page) on every `mail` event, as the UI does. Measured from writing the final `.` of DATA. The SSE handler waits 150 ms after a notification to coalesce bursts: that wait is included.\n");
    let _ = writeln!(s, "| Messages | Measure | p50 | p95 | p99 | max |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    let row = |v: &[u64]| format!("{:.1} ms | {:.1} ms | **{:.1} ms** | {:.1} ms", pct(v, 50.0), pct(v, 95.0), pct(v, 99.0), pct(v, 100.0));
    for e in e2e {
        let what = format!("{} {}, one every {} ms", e.messages, e.name, e.period.as_millis());
        let _ = writeln!(s, "| {what} | `.` → `250` | {} |", row(&e.ack_ns));
        if !e.event_ns.is_empty() {
            let _ = writeln!(s, "| {what} | `.` → `mail` event | {} |", row(&e.event_ns));
        }
        let _ = writeln!(s, "| {what} | `.` → listed by the reload | {} |", row(&e.visible_ns));
        let _ = writeln!(s, "| {what} | reload (`mail-messages` call) | {} |", row(&e.reload_ns));
    }
    for e in e2e {
        let _ = writeln!(s, "\n{}: {} `mail` events for {} messages; {} messages never listed.", e.name, e.events, e.messages, e.missing);
    }
    let _ = writeln!(s, "\n### Target\n");
    let _ = writeln!(s, "| Target | Result | |");
    let _ = writeln!(s, "|---|---:|---|");
    for r in runs.iter().filter(|r| r.clients > 1) {
        let ok = r.rate() >= RATE_TARGET;
        let _ = writeln!(s, "| ≥ {} messages/s with {} clients | {} | {} |", fmt_int(RATE_TARGET), r.clients, fmt_int(r.rate()), if ok { "PASS" } else { "FAIL" });
    }
    let _ = writeln!(
        s,
        "\nReference, not measured here: Mailpit's README states \"approximately 70-100 emails per second depending on CPU, network speed & email size\" (early versions, with in-memory storage, said 300-600); the issue quotes 200-300. It was not run side by side: this machine has no Debian package for it, no Go toolchain and no Docker daemon."
    );
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
    let cfg = config(&with_db(&cluster.url, db_name));
    let database = odooops::db::Database::open(&cfg).await.context("opening the benchmark database")?;
    let owner = database.owner.clone();
    if let Some(sql) = &opts.setup_sql {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&owner).await.context("BENCH_SETUP_SQL")?;
    }
    let m = machine(&owner, &["fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers"]).await?;
    let postmaster = postmaster_pid(cluster);
    println!("== OdooOps mail catcher benchmark ==");
    println!("machine     {} CPUs, {}, {:.0} GiB RAM, load average {}", m.cpus, m.cpu_model, m.mem_gib, m.load_before);
    println!("postgresql  {}", m.pg_version);
    println!("settings    {}", m.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "));

    let console = odooops::build(&cfg, &database).await?;
    let base = format!("http://{}", console.addr);
    let smtp_addr = console.smtp_addr.context("the console started no SMTP server")?;
    let (services_shutdown, service_tasks) = (console.shutdown.clone(), console.tasks);
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(odooops::startup::serve(console.listener, console.router, async {
        let _ = stopped.await;
    }));
    println!("console     http {base}, smtp {smtp_addr}, app pool {} connections", cfg.db_pool_size);

    // Tenant, project (production, staging, development), a developer, staging's mailbox.
    let email = "bench@example.com";
    let (_, _, env) = bench::bench_tenant(&owner, email, PASSWORD).await?;
    let http = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
    let login = http.post(format!("{base}/api/login")).form(&[("email", email), ("password", PASSWORD)]).send().await?;
    ensure!(login.status() == 200, "login failed: {}", login.status());
    let res = http.post(format!("{base}/api/mailbox")).form(&[("env_id", env.to_string())]).send().await?;
    ensure!(res.status() == 200, "mailbox: {} {}", res.status(), res.text().await.unwrap_or_default());
    let mailbox: MailboxInfo = res.json().await?;
    let creds = Creds { addr: smtp_addr, user: mailbox.username.clone(), pass: mailbox.password.clone().context("a developer sees the mailbox password")? };
    // Retention keeps 1,000 messages by default and prunes once a minute: lift it so a run's rows stay.
    sqlx::query("update ops.mailboxes set max_messages = 100000 where environment_id = $1").bind(env).execute(&owner).await?;
    println!("mailbox     {} (staging), retention lifted to 100,000 messages", creds.user);

    let mut rng = StdRng::seed_from_u64(42);
    let sample_headers = headers("r0-c00-m0000", 1_000_000).len();
    let bodies: Arc<Vec<Body>> = Arc::new((0..32).map(|_| make_body(&mut rng, opts.size.saturating_sub(sample_headers))).collect());
    let avg_size = bodies.iter().map(|b| (b.raw.len() + sample_headers) as f64).sum::<f64>() / bodies.len() as f64;
    println!("messages    {} bytes on average ({} body variants)", fmt_int(avg_size), bodies.len());

    println!("\n-- throughput (one connection per client, no PIPELINING) --");
    let mut runs = Vec::new();
    for (i, &clients) in opts.clients.iter().enumerate() {
        clear_inbox(&owner, env, m.superuser).await?;
        let total = opts.run_size(clients);
        let (r, tag, raw) = run_clients(&creds, &bodies, clients, total, i, postmaster).await?;
        println!(
            "{clients:>3} clients {:>7} messages {:>7.2} s {:>8} msg/s  {:>5.1} MB/s  `.`→250 p50 {:.1} ms p99 {:.1} ms max {:.1} ms  cpu {:.0}% (this process {:.0}%, postgres {})",
            fmt_int(total as f64),
            r.secs,
            fmt_int(r.rate()),
            r.bytes as f64 / r.secs / 1e6,
            pct(&r.data_ns, 50.0),
            pct(&r.data_ns, 99.0),
            pct(&r.data_ns, 100.0),
            r.cpu.busy,
            r.cpu.ours,
            r.cpu.pg_str()
        );
        verify(&owner, env, &r, &tag, &raw).await?;
        runs.push(r);
    }

    println!("\n-- delay to the viewer --");
    let mut e2e = Vec::new();
    for (name, n, period) in [("isolated", opts.isolated, opts.isolated_period), ("steady", opts.steady, opts.steady_period)] {
        if n == 0 {
            continue;
        }
        clear_inbox(&owner, env, m.superuser).await?;
        let e = run_e2e(&base, &creds, env, email, &bodies, name, n, period).await?;
        let event = if e.event_ns.is_empty() { String::new() } else { format!(" | `.`→event p50 {:.1} p99 {:.1} ms", pct(&e.event_ns, 50.0), pct(&e.event_ns, 99.0)) };
        println!(
            "{name:<9} {n} messages every {} ms: `.`→250 p50 {:.1} ms{event} | `.`→listed p50 {:.1} p99 {:.1} max {:.1} ms | reload p50 {:.1} ms | {} events, {} never listed",
            period.as_millis(),
            pct(&e.ack_ns, 50.0),
            pct(&e.visible_ns, 50.0),
            pct(&e.visible_ns, 99.0),
            pct(&e.visible_ns, 100.0),
            pct(&e.reload_ns, 50.0),
            e.events,
            e.missing
        );
        if e.missing > 0 {
            eprintln!("\n!!!!!!!! ERROR: {} of {} messages were never listed by the viewer", e.missing, n);
            bail!("the viewer never listed {} messages", e.missing);
        }
        e2e.push(e);
    }

    odooops::Console::stop_services(&services_shutdown, service_tasks).await;
    let _ = stop_server.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;

    let section = report(opts, &m, cfg.db_pool_size, &runs, &e2e);
    println!("\n{section}");
    if let Some(path) = &opts.md {
        write_md(path, "bench_smtp", "Mail catcher: SMTP throughput and delay to the viewer", &section)?;
        eprintln!("wrote {}", path.display());
    }
    database.close().await?;
    Ok(())
}
