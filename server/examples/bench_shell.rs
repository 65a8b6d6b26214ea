//! Web shell benchmark: keystroke echo round trip (send one byte over the WebSocket, wait for
//! its echo from the PTY) through the console, side by side with ttyd running the same shell.
//!
//!     cargo run --release -p odooops --example bench_shell
//!
//! Environment: BENCH_KEYS (keystrokes per session, default 400), BENCH_SESSIONS (default
//! "1,20"), BENCH_TTYD (the ttyd binary; default `ttyd` on PATH, skipped when missing),
//! BENCH_MD (write the results section into this markdown file), DATABASE_URL (a cluster
//! as its owner; default a throwaway one).
#[path = "support/bench.rs"]
mod bench;

use anyhow::{bail, ensure, Context, Result};
use bench::{config, env_num, loadavg, machine, pct, with_db, write_md, Cluster, ServerThread};
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const PASSWORD: &str = "bench-password-123";
type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How a server frames terminal data.
#[derive(Clone, Copy)]
enum Proto {
    /// Ours: binary frames are raw terminal bytes.
    Console,
    /// ttyd: binary frames start with a command byte ('0' = input / output).
    Ttyd,
}

impl Proto {
    fn input(self, data: &[u8]) -> Message {
        match self {
            Proto::Console => Message::Binary(data.to_vec().into()),
            Proto::Ttyd => {
                let mut v = vec![b'0'];
                v.extend_from_slice(data);
                Message::Binary(v.into())
            }
        }
    }

    fn output(self, m: &Message) -> Option<Vec<u8>> {
        match (self, m) {
            (Proto::Console, Message::Binary(b)) => Some(b.to_vec()),
            (Proto::Ttyd, Message::Binary(b)) if b.first() == Some(&b'0') => Some(b[1..].to_vec()),
            _ => None,
        }
    }
}

async fn next_output(ws: &mut Ws, proto: Proto, within: Duration) -> Result<Vec<u8>> {
    loop {
        match tokio::time::timeout(within, ws.next()).await {
            Ok(Some(Ok(m))) => {
                if let Some(b) = proto.output(&m) {
                    return Ok(b);
                }
            }
            Ok(Some(Err(e))) => bail!("websocket: {e}"),
            Ok(None) => bail!("websocket closed"),
            Err(_) => bail!("no output within {within:?}"),
        }
    }
}

/// Reads until `needle` has been seen (or the quiet period passes with nothing new).
async fn drain_until(ws: &mut Ws, proto: Proto, needle: &[u8], within: Duration) -> Result<()> {
    let mut seen = Vec::new();
    let until = Instant::now() + within;
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let left = until.saturating_duration_since(Instant::now());
        ensure!(!left.is_zero(), "did not see {:?}", String::from_utf8_lossy(needle));
        seen.extend(next_output(ws, proto, left).await?);
    }
    Ok(())
}

/// One session's closed loop: type a letter, wait for it to come back, repeat. Every 60
/// letters the line is cleared (Ctrl-U) outside the measurement.
async fn echo_loop(mut ws: Ws, proto: Proto, keys: usize) -> Result<Vec<u64>> {
    // A marker proves the shell is ready before timing starts.
    ws.send(proto.input(b"echo ready-$((1+1))\r")).await?;
    drain_until(&mut ws, proto, b"ready-2", Duration::from_secs(20)).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut samples = Vec::with_capacity(keys);
    for i in 0..keys {
        if i > 0 && i % 60 == 0 {
            ws.send(proto.input(b"\x15")).await?;
            // Readline redraws the line; let it settle.
            let quiet = Instant::now() + Duration::from_millis(30);
            while let Ok(Some(_)) = tokio::time::timeout(quiet.saturating_duration_since(Instant::now()), ws.next()).await {}
        }
        let c = b'a' + (i % 26) as u8;
        let t = Instant::now();
        ws.send(proto.input(&[c])).await?;
        loop {
            let out = next_output(&mut ws, proto, Duration::from_secs(10)).await?;
            if out.contains(&c) {
                break;
            }
        }
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let _ = ws.close(None).await;
    Ok(samples)
}

struct Run {
    target: &'static str,
    sessions: usize,
    samples: Vec<u64>,
    secs: f64,
}

impl Run {
    fn line(&self) -> String {
        let mut s = self.samples.clone();
        s.sort_unstable();
        format!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.0} |",
            self.target,
            self.sessions,
            s.len(),
            pct(&s, 50.0),
            pct(&s, 99.0),
            pct(&s, 100.0),
            s.len() as f64 / self.secs
        )
    }
}

async fn run_sessions(target: &'static str, proto: Proto, sockets: Vec<Ws>, keys: usize) -> Result<Run> {
    let n = sockets.len();
    let t = Instant::now();
    let tasks: Vec<_> = sockets.into_iter().map(|ws| tokio::spawn(echo_loop(ws, proto, keys))).collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await??);
    }
    Ok(Run { target, sessions: n, samples, secs: t.elapsed().as_secs_f64() })
}

struct Console {
    base: String,
    http: reqwest::Client,
    cookie: String,
    env: Uuid,
}

impl Console {
    async fn open(&self) -> Result<Ws> {
        let res = self.http.post(format!("{}/api/shell/open", self.base)).header("cookie", &self.cookie).form(&[("environment_id", self.env.to_string()), ("ttl_minutes", "30".into())]).send().await?;
        ensure!(res.status() == 200, "open: {} {}", res.status(), res.text().await.unwrap_or_default());
        let row: serde_json::Value = res.json().await?;
        let id = row["id"].as_str().context("session id")?;
        let mut req = format!("{}/api/shell/sessions/{id}/ws", self.base.replace("http://", "ws://")).into_client_request()?;
        req.headers_mut().insert("cookie", HeaderValue::from_str(&self.cookie)?);
        req.headers_mut().insert("origin", HeaderValue::from_str(&self.base)?);
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(ws)
    }
}

async fn ttyd_socket(port: u16) -> Result<Ws> {
    let mut req = format!("ws://127.0.0.1:{port}/ws").into_client_request()?;
    req.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("tty"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    ws.send(Message::Binary(br#"{"AuthToken":"","columns":80,"rows":24}"#.to_vec().into())).await?;
    Ok(ws)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,sqlx=error".into())).with_writer(std::io::stderr).init();
    let cluster = Cluster::start()?;
    let db_name = format!("bench_{}", Uuid::new_v4().simple());
    let result = run(&cluster, &db_name).await;
    cluster.finish(&db_name).await;
    result
}

async fn run(cluster: &Cluster, db_name: &str) -> Result<()> {
    let keys = env_num("BENCH_KEYS", 400);
    let sessions: Vec<usize> = std::env::var("BENCH_SESSIONS").unwrap_or_else(|_| "1,20".into()).split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let ttyd = std::env::var("BENCH_TTYD").unwrap_or_else(|_| "ttyd".into());
    odooops::db::ensure_database(&cluster.url, db_name).await?;
    let mut cfg = config(&with_db(&cluster.url, db_name));
    cfg.backup_workers = 0;
    let shell = cfg.shell.clone();
    let server = ServerThread::start(cfg)?;
    let owner = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&with_db(&cluster.url, db_name)).await?;
    let m = machine(&owner, &["fsync", "synchronous_commit"]).await?;
    println!("== OdooOps web shell benchmark: keystroke echo round trip ==");
    println!("machine     {} CPUs, {}, {:.0} GiB RAM, load average {}", m.cpus, m.cpu_model, m.mem_gib, m.load_before);
    println!("shell       {} --noprofile --norc -i, {keys} keystrokes per session", shell.display());
    let base = format!("http://{}", server.addr);
    let email = "bench@example.com";
    let (_, _, env) = bench::bench_tenant(&owner, email, PASSWORD).await?;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let login = http.post(format!("{base}/api/login")).form(&[("email", email), ("password", PASSWORD)]).send().await?;
    ensure!(login.status() == 200, "login failed: {}", login.status());
    let cookie = login.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or_default().to_string()).collect::<Vec<_>>().join("; ");
    let console = Console { base: base.clone(), http, cookie, env };
    println!("console     {base} (transcripts written to ops.exec_events as usual)");

    // ttyd on the same shell, writable, on loopback.
    let ttyd_port = free_port()?;
    let ttyd_child = tokio::process::Command::new(&ttyd)
        .args(["-p", &ttyd_port.to_string(), "-i", "127.0.0.1", "-W"])
        .arg(&shell)
        .args(["--noprofile", "--norc", "-i"])
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("TERM", "xterm-256color")
        .env("HOME", std::env::temp_dir())
        .env("PS1", "\\u@ttyd:\\w\\$ ")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let ttyd_version = std::process::Command::new(&ttyd).arg("--version").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    let mut ttyd_child = match ttyd_child {
        Ok(c) => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            println!("reference   {ttyd_version} on 127.0.0.1:{ttyd_port}");
            Some(c)
        }
        Err(e) => {
            println!("reference   ttyd not run ({ttyd}: {e}); set BENCH_TTYD to its path");
            None
        }
    };

    let mut runs = Vec::new();
    for &n in &sessions {
        let mut sockets = Vec::new();
        for _ in 0..n {
            sockets.push(console.open().await?);
        }
        let r = run_sessions("console", Proto::Console, sockets, keys).await?;
        println!("{}", r.line());
        runs.push(r);
        if ttyd_child.is_some() {
            let mut sockets = Vec::new();
            for _ in 0..n {
                sockets.push(ttyd_socket(ttyd_port).await?);
            }
            let r = run_sessions("ttyd", Proto::Ttyd, sockets, keys).await?;
            println!("{}", r.line());
            runs.push(r);
        }
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from ops.exec_events where direction = 'input'").fetch_one(&owner).await?;
    println!("transcript  {stored} input events stored");
    if let Some(c) = ttyd_child.as_mut() {
        let _ = c.kill().await;
    }
    owner.close().await;
    server.stop()?;

    let mut section = String::new();
    section.push_str("Command: `cargo run --release -p odooops --example bench_shell` (BENCH_TTYD pointing at a ttyd built from source, see below).\n\n");
    section.push_str(&format!(
        "Machine: {} CPUs ({}), load average before {}, after {}. Shell `{} --noprofile --norc -i` in both; {keys} keystrokes per session, \
         each sent once the previous one's echo arrived; loopback WebSocket.\n\n",
        m.cpus,
        m.cpu_model,
        m.load_before,
        loadavg(),
        shell.display()
    ));
    section.push_str("| server | sessions | keystrokes | p50 ms | p99 ms | max ms | echoes/s |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for r in &runs {
        section.push_str(&r.line());
        section.push('\n');
    }
    section.push_str(&format!("\nReference: {}.\n", if ttyd_version.is_empty() { "ttyd was not available".to_string() } else { ttyd_version }));
    println!("\n{section}");
    if let Ok(path) = std::env::var("BENCH_MD") {
        write_md(std::path::Path::new(&path), "bench_shell", "Web shell: keystroke echo round trip", &section)?;
        eprintln!("wrote {path}");
    }
    Ok(())
}
