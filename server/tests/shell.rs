//! Web shell: real sessions over a real WebSocket to a real PTY, their transcripts in
//! `ops.exec_events`, TTL, idle timeout, reattach, roles, and SSH keys.
mod common;

use common::mail::{call, env_id};
use common::TestApp;
use app::models::{Role, Stage};
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A signed-in member: an HTTP client for server functions and the cookie for WebSockets.
struct Member {
    id: Uuid,
    role: Role,
    client: reqwest::Client,
    cookie: String,
}

async fn member(app: &TestApp, role: Role) -> Member {
    let (id, email) = app.member(role).await;
    let (client, res) = app.login(&email, common::PASSWORD).await;
    assert_eq!(res.status(), 200);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    assert!(!cookie.is_empty());
    Member { id, role, client, cookie }
}

async fn open(app: &TestApp, m: &Member, stage: Stage) -> (u16, serde_json::Value) {
    let env = env_id(app, stage).await.to_string();
    call(app, &m.client, "shell/open", &[("environment_id", &env), ("ttl_minutes", "")]).await
}

async fn open_ok(app: &TestApp, m: &Member, stage: Stage) -> Uuid {
    let (status, body) = open(app, m, stage).await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

fn ws_url(app: &TestApp, id: Uuid) -> String {
    format!("{}/api/shell/sessions/{id}/ws", app.base.replace("http://", "ws://"))
}

/// Connects; Err carries the HTTP status of a refused upgrade.
async fn connect_with(app: &TestApp, id: Uuid, cookie: Option<&str>, origin: Option<&str>) -> Result<Ws, u16> {
    let mut req = ws_url(app, id).into_client_request().unwrap();
    if let Some(c) = cookie {
        req.headers_mut().insert("cookie", HeaderValue::from_str(c).unwrap());
    }
    if let Some(o) = origin {
        req.headers_mut().insert("origin", HeaderValue::from_str(o).unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("websocket: {e}"),
    }
}

async fn connect(app: &TestApp, id: Uuid, m: &Member) -> Ws {
    connect_with(app, id, Some(&m.cookie), Some(&app.base)).await.expect("attach")
}

/// What the server sent until `pred` holds on the terminal output (or the text frames).
struct Seen {
    output: Vec<u8>,
    controls: Vec<serde_json::Value>,
}

impl Seen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).to_string()
    }
}

async fn read_until(ws: &mut Ws, within: Duration, pred: impl Fn(&Seen) -> bool) -> Seen {
    let mut seen = Seen { output: vec![], controls: vec![] };
    let until = tokio::time::Instant::now() + within;
    while !pred(&seen) {
        match tokio::time::timeout_at(until, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => seen.output.extend_from_slice(&b),
            Ok(Some(Ok(Message::Text(t)))) => seen.controls.push(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => break,
            Err(_) => panic!("timed out; output so far: {:?}; controls: {:?}", seen.text(), seen.controls),
        }
    }
    seen
}

fn has_control(seen: &Seen, kind: &str) -> Option<serde_json::Value> {
    seen.controls.iter().find(|c| c["type"] == kind).cloned()
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::Binary(text.as_bytes().to_vec().into())).await.unwrap();
}

async fn wait_closed(app: &TestApp, id: Uuid, within: Duration) -> String {
    let until = tokio::time::Instant::now() + within;
    loop {
        let r: Option<String> = sqlx::query_scalar("select end_reason::text from ops.exec_sessions where id = $1 and state = 'closed'")
            .bind(id)
            .fetch_one(&app.owner)
            .await
            .unwrap();
        if let Some(r) = r {
            return r;
        }
        assert!(tokio::time::Instant::now() < until, "session {id} not closed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn transcript(app: &TestApp, id: Uuid) -> Vec<(i64, String, i64, Vec<u8>)> {
    sqlx::query_as("select seq, direction::text, offset_us, data from ops.exec_events where session_id = $1 order by seq")
        .bind(id)
        .fetch_all(&app.owner)
        .await
        .unwrap()
}

fn joined(events: &[(i64, String, i64, Vec<u8>)], dir: &str) -> Vec<u8> {
    events.iter().filter(|e| e.1 == dir).flat_map(|e| e.3.clone()).collect()
}

#[tokio::test]
async fn a_developer_runs_commands_resizes_and_every_byte_is_kept_in_order() {
    let app = TestApp::spawn().await;
    let dev = member(&app, Role::Developer).await;
    let id = open_ok(&app, &dev, Stage::Staging).await;
    let mut ws = connect(&app, id, &dev).await;
    let hello = read_until(&mut ws, Duration::from_secs(10), |s| has_control(s, "hello").is_some()).await;
    let hello = has_control(&hello, "hello").unwrap();
    assert_eq!(hello["environment"], "staging");
    assert!(hello["seconds_left"].as_u64().unwrap() > 14 * 60, "default TTL 15 min: {hello}");

    let mut typed = String::new();
    let cmd = "echo hello-$((6*7)); echo \"$ODOOOPS_ENVIRONMENT/$ODOOOPS_STAGE\"; id -un; pwd\r";
    typed.push_str(cmd);
    send(&mut ws, cmd).await;
    let seen = read_until(&mut ws, Duration::from_secs(10), |s| s.text().contains("hello-42") && s.text().contains("staging/staging")).await;
    // The environment of the console (its database URL, secrets) is not passed on.
    let typed2 = "echo db=${DATABASE_URL:-none}\r";
    typed.push_str(typed2);
    send(&mut ws, typed2).await;
    let seen2 = read_until(&mut ws, Duration::from_secs(10), |s| s.text().contains("db=none")).await;
    let expected_user = if nix::unistd::geteuid().is_root() { "nobody".to_string() } else { whoami() };
    assert!(seen.text().contains(&expected_user) || seen2.text().contains(&expected_user), "runs as {expected_user}: {}", seen.text());

    // Resize, then a malformed control message: an error reply, and the shell goes on.
    ws.send(Message::Text(r#"{"type":"resize","cols":120,"rows":40}"#.into())).await.unwrap();
    ws.send(Message::Text("not json".into())).await.unwrap();
    ws.send(Message::Text(r#"{"type":"resize","cols":0}"#.into())).await.unwrap();
    let errs = read_until(&mut ws, Duration::from_secs(5), |s| s.controls.iter().filter(|c| c["type"] == "error").count() >= 2).await;
    assert!(errs.controls.iter().any(|c| c["error"].as_str().unwrap_or_default().contains("JSON")));
    let size = "stty size\r";
    typed.push_str(size);
    send(&mut ws, size).await;
    read_until(&mut ws, Duration::from_secs(10), |s| s.text().contains("40 120")).await;

    let exit = "exit 3\r";
    typed.push_str(exit);
    send(&mut ws, exit).await;
    let end = read_until(&mut ws, Duration::from_secs(10), |s| has_control(s, "closed").is_some()).await;
    assert_eq!(has_control(&end, "closed").unwrap()["reason"], "exited");
    assert_eq!(wait_closed(&app, id, Duration::from_secs(5)).await, "exited");

    let events = transcript(&app, id).await;
    let seqs: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(seqs, (0..events.len() as i64).collect::<Vec<_>>(), "gapless, in order");
    assert!(events.windows(2).all(|w| w[0].2 <= w[1].2), "offsets never go back");
    assert_eq!(String::from_utf8(joined(&events, "input")).unwrap(), typed, "every typed byte, in order");
    let out = String::from_utf8_lossy(&joined(&events, "output")).to_string();
    assert!(out.contains("hello-42") && out.contains("40 120"), "{out}");
    assert!(events.iter().any(|e| e.1 == "resize" && e.3 == b"120x40"));
    let (bytes_in, exit_code, os_user): (i64, Option<i32>, String) =
        sqlx::query_as("select bytes_in, exit_code, os_user from ops.exec_sessions where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
    assert_eq!(bytes_in as usize, typed.len());
    assert_eq!(exit_code, Some(3));
    assert_eq!(os_user, expected_user);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"shell.session_started".to_string()) && actions.contains(&"shell.session_ended".to_string()), "{actions:?}");

    // The transcript exports as asciicast v2.
    let res = dev.client.get(app.url(&format!("/api/shell/sessions/{id}/cast"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cast = res.text().await.unwrap();
    let mut lines = cast.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert!(header["width"].as_u64().unwrap() > 0 && header["height"].as_u64().unwrap() > 0);
    let mut replayed = String::new();
    let mut last = 0.0;
    for l in lines {
        let ev: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        let t = ev[0].as_f64().unwrap();
        assert!(t >= last);
        last = t;
        assert!(["o", "i", "r"].contains(&ev[1].as_str().unwrap()));
        if ev[1] == "o" {
            replayed.push_str(ev[2].as_str().unwrap());
        }
    }
    assert!(replayed.contains("hello-42"));
    // An ended session cannot be reopened.
    assert_eq!(connect_with(&app, id, Some(&dev.cookie), Some(&app.base)).await.err(), Some(410));
    app.stop().await;
}

fn whoami() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid()).unwrap().unwrap().name
}

#[tokio::test]
async fn the_server_closes_a_session_at_its_ttl_after_a_warning_whatever_the_client_does() {
    let mut cfg = common::config(&common::fresh_database().await);
    cfg.shell_warn_seconds = 2;
    let app = TestApp::spawn_with(cfg).await;
    let dev = member(&app, Role::Developer).await;
    let id = open_ok(&app, &dev, Stage::Development).await;
    sqlx::query("update ops.exec_sessions set expires_at = now() + interval '4 seconds' where id = $1").bind(id).execute(&app.owner).await.unwrap();
    let mut ws = connect(&app, id, &dev).await;
    // The client keeps typing; the server ends it anyway.
    send(&mut ws, "sleep 4242\r").await;
    let seen = read_until(&mut ws, Duration::from_secs(10), |s| has_control(s, "closed").is_some()).await;
    let warning = has_control(&seen, "warning").expect("a warning first");
    assert_eq!(warning["kind"], "ttl");
    assert!(seen.text().contains("This session closes in"), "warning shown in the terminal: {}", seen.text());
    assert_eq!(has_control(&seen, "closed").unwrap()["reason"], "ttl");
    assert_eq!(wait_closed(&app, id, Duration::from_secs(5)).await, "ttl");
    assert!(common::builds::pgrep("sleep 4242").is_empty(), "the PTY's processes are gone");
    assert_eq!(connect_with(&app, id, Some(&dev.cookie), Some(&app.base)).await.err(), Some(410), "expired sessions cannot be reopened");
    app.stop().await;
}

#[tokio::test]
async fn an_idle_session_is_closed_early() {
    let app = TestApp::spawn().await;
    let dev = member(&app, Role::Developer).await;
    let id = open_ok(&app, &dev, Stage::Development).await;
    sqlx::query("update ops.exec_sessions set idle_seconds = 2 where id = $1").bind(id).execute(&app.owner).await.unwrap();
    let mut ws = connect(&app, id, &dev).await;
    let seen = read_until(&mut ws, Duration::from_secs(10), |s| has_control(s, "closed").is_some()).await;
    assert_eq!(has_control(&seen, "closed").unwrap()["reason"], "idle");
    assert_eq!(wait_closed(&app, id, Duration::from_secs(5)).await, "idle");
    app.stop().await;
}

#[tokio::test]
async fn a_dropped_connection_reattaches_to_the_same_shell_with_its_scrollback() {
    let app = TestApp::spawn().await;
    let dev = member(&app, Role::Developer).await;
    let id = open_ok(&app, &dev, Stage::Staging).await;
    let mut ws = connect(&app, id, &dev).await;
    send(&mut ws, "echo marker-$((40+2)) pid=$$\r").await;
    let first = read_until(&mut ws, Duration::from_secs(10), |s| s.text().contains("marker-42 pid=")).await;
    let pid = first.text().split("marker-42 pid=").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    drop(ws); // no close frame: the connection just goes away

    let mut ws = connect(&app, id, &dev).await;
    let again = read_until(&mut ws, Duration::from_secs(10), |s| s.text().contains("marker-42 pid=")).await;
    assert!(has_control(&again, "hello").is_some());
    send(&mut ws, "echo same=$$\r").await;
    read_until(&mut ws, Duration::from_secs(10), |s| s.text().contains(&format!("same={pid}"))).await;
    app.stop().await;
}

#[tokio::test]
async fn a_console_shutdown_closes_sessions_and_flushes_every_byte() {
    let app = TestApp::spawn().await;
    let dev = member(&app, Role::Developer).await;
    let id = open_ok(&app, &dev, Stage::Staging).await;
    let mut ws = connect(&app, id, &dev).await;
    let mut typed = String::new();
    for i in 0..50 {
        let line = format!("echo line-{i}\r");
        typed.push_str(&line);
        send(&mut ws, &line).await;
    }
    read_until(&mut ws, Duration::from_secs(10), |s| s.text().contains("line-49\r\n")).await;
    let owner = app.owner.clone();
    app.stop().await;
    let (state, reason): (String, Option<String>) =
        sqlx::query_as("select state::text, end_reason::text from ops.exec_sessions where id = $1").bind(id).fetch_one(&owner).await.unwrap();
    assert_eq!((state.as_str(), reason.as_deref()), ("closed", Some("server_shutdown")));
    let input: Vec<Vec<u8>> = sqlx::query_scalar("select data from ops.exec_events where session_id = $1 and direction = 'input' order by seq").bind(id).fetch_all(&owner).await.unwrap();
    assert_eq!(String::from_utf8(input.concat()).unwrap(), typed);
}

#[tokio::test]
async fn roles_origin_and_ownership_decide_who_gets_a_shell() {
    let app = TestApp::spawn().await;
    let tester = member(&app, Role::Tester).await;
    let (status, _) = open(&app, &tester, Stage::Development).await;
    assert_eq!(status, 403, "testers cannot open shells");
    let dev = member(&app, Role::Developer).await;
    let (status, body) = open(&app, &dev, Stage::Production).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("sysadmin"), "{body}");
    let refused: i64 = sqlx::query_scalar("select count(*) from ops.audit_log where action = 'shell.open_refused'").fetch_one(&app.owner).await.unwrap();
    assert_eq!(refused, 1);
    let sys = member(&app, Role::Sysadmin).await;
    let prod = open_ok(&app, &sys, Stage::Production).await;

    // Someone else's session, a foreign origin, no origin, no cookie.
    assert_eq!(connect_with(&app, prod, Some(&dev.cookie), Some(&app.base)).await.err(), Some(404), "a developer does not even see it (RLS)");
    let admin = member(&app, Role::Admin).await;
    assert_eq!(connect_with(&app, prod, Some(&admin.cookie), Some(&app.base)).await.err(), Some(403), "even admins cannot attach to another's shell");
    assert_eq!(connect_with(&app, prod, Some(&sys.cookie), Some("http://evil.example")).await.err(), Some(403));
    assert_eq!(connect_with(&app, prod, Some(&sys.cookie), None).await.err(), Some(403));
    assert_eq!(connect_with(&app, prod, None, Some(&app.base)).await.err(), Some(401));
    assert_eq!(connect_with(&app, Uuid::new_v4(), Some(&sys.cookie), Some(&app.base)).await.err(), Some(404));
    let mut ws = connect(&app, prod, &sys).await;
    send(&mut ws, "echo prod-ok\r").await;
    read_until(&mut ws, Duration::from_secs(10), |s| s.text().contains("prod-ok\r\n")).await;

    // Sessions and transcripts: a developer sees only their own (RLS), admins all.
    let dev_session = open_ok(&app, &dev, Stage::Staging).await;
    let (status, body) = call(&app, &dev.client, "shell", &[("filter[environment]", ""), ("filter[user]", ""), ("filter[state]", "")]).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![dev_session.to_string().as_str()]);
    let res = dev.client.get(app.url(&format!("/api/shell/sessions/{prod}/cast"))).send().await.unwrap();
    assert_eq!(res.status(), 404, "another's transcript is invisible to a developer");
    let (status, body) = call(&app, &admin.client, "shell", &[("filter[environment]", ""), ("filter[user]", ""), ("filter[state]", "open")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["sessions"].as_array().unwrap().len(), 2);
    // TTL above the tenant's limit.
    let env = env_id(&app, Stage::Staging).await.to_string();
    let (status, body) = call(&app, &dev.client, "shell/open", &[("environment_id", &env), ("ttl_minutes", "31")]).await;
    assert_eq!(status, 422, "{body}");
    app.stop().await;
}

// Public keys made with ssh-keygen (see app/src/auth/ssh_key.rs).
const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICGIX4SudnbXp5tX81lTA1Vlc9XTimzcz9s7cG6G6WTg me@laptop";
const RSA1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDcJDIvtlA8P+HJPICujDdQoqQMrhQf5lEmqTWDlDBYUpWWBqm0V1L/bDd0fet1GNXK9kdH5QvO/mlHRr5cT3DOcmKpsbvq0gDvHAX/Fm+ljc7S5ZVizO2XuKwb86FzGNgbvVeUpMHTbB9cybzmDou0QKK27ZcXGGOcUFZYt+U3ZQ== me@laptop";

#[tokio::test]
async fn users_add_list_and_remove_their_own_ssh_keys_with_clear_errors() {
    let app = TestApp::spawn().await;
    let tester = member(&app, Role::Tester).await;
    let (status, body) = call(&app, &tester.client, "ssh-keys/add", &[("key[name]", ""), ("key[public_key]", ED25519)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fingerprint"], "SHA256:b7licMHsHYkcxekffUt2YiQOz3pnNM/MPPvfHo7fVeY");
    assert_eq!(body["name"], "me@laptop");
    let key_id = body["id"].as_str().unwrap().to_string();
    let (status, body) = call(&app, &tester.client, "ssh-keys/add", &[("key[name]", "again"), ("key[public_key]", ED25519)]).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("already registered"));
    let (status, body) = call(&app, &tester.client, "ssh-keys/add", &[("key[name]", ""), ("key[public_key]", RSA1024)]).await;
    assert_eq!(status, 422);
    assert!(body.to_string().contains("2048"), "{body}");
    let (status, _) = call(&app, &tester.client, "ssh-keys/add", &[("key[name]", ""), ("key[public_key]", "ssh-ed25519 AAAA garbage")]).await;
    assert_eq!(status, 422);

    // Another member neither sees nor removes it.
    let other = member(&app, Role::Admin).await;
    let (_, list) = call(&app, &other.client, "ssh-keys", &[]).await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    let (status, _) = call(&app, &other.client, "ssh-keys/remove", &[("id", &key_id)]).await;
    assert_eq!(status, 404);
    let (_, list) = call(&app, &tester.client, "ssh-keys", &[]).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, _) = call(&app, &tester.client, "ssh-keys/remove", &[("id", &key_id)]).await;
    assert_eq!(status, 200);
    let (_, list) = call(&app, &tester.client, "ssh-keys", &[]).await;
    assert!(list.as_array().unwrap().is_empty());
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"ssh_key.added".to_string()) && actions.contains(&"ssh_key.removed".to_string()), "{actions:?}");
    app.stop().await;
}

#[tokio::test]
async fn only_the_openers_console_appends_to_a_transcript_and_nobody_inserts_directly() {
    use app::db::shell::{append_events, ExecEvent};
    use app::db::DbClaims;
    use app::models::ExecDirection;
    let app = TestApp::spawn().await;
    let dev = member(&app, Role::Developer).await;
    let admin = member(&app, Role::Admin).await;
    let id = open_ok(&app, &dev, Stage::Staging).await;
    let claims = |m: &Member| DbClaims { sub: m.id, tenant_id: app.tenant_id, role: m.role };
    let event = |seq: i64, data: &[u8]| ExecEvent { seq, direction: ExecDirection::Output, offset_us: 5, data: data.to_vec() };

    // The opener's claims: appended, with the session's counters.
    let mut tx = app.services_db().tenant_tx(&claims(&dev)).await.unwrap();
    append_events(&mut tx, id, &[event(0, b"hello"), event(1, b"!")]).await.unwrap();
    tx.commit().await.unwrap();
    let (bytes_out, events): (i64, i64) = sqlx::query_as("select bytes_out, events from ops.exec_sessions where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
    assert_eq!((bytes_out, events), (6, 2));

    // An admin of the same tenant may read transcripts but not write into someone else's.
    let mut tx = app.services_db().tenant_tx(&claims(&admin)).await.unwrap();
    let err = append_events(&mut tx, id, &[event(2, b"forged")]).await.unwrap_err();
    assert!(err.to_string().contains("not your shell session"), "{err}");
    drop(tx);
    // Nobody inserts rows directly, not even into their own session.
    let mut tx = app.services_db().tenant_tx(&claims(&dev)).await.unwrap();
    let err = sqlx::query("insert into ops.exec_events (tenant_id, session_id, seq, direction, offset_us, data) values ($1, $2, 9, 'output', 1, 'x')")
        .bind(app.tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    drop(tx);
    let rows: Vec<Vec<u8>> = sqlx::query_scalar("select data from ops.exec_events where session_id = $1 order by seq").bind(id).fetch_all(&app.owner).await.unwrap();
    assert_eq!(rows, vec![b"hello".to_vec(), b"!".to_vec()], "nothing forged got in");
}

#[tokio::test]
async fn one_writer_keeps_every_sessions_transcript_whole_in_order_and_in_its_own_tenant() {
    use app::db::DbClaims;
    use app::models::ExecDirection;
    use odooops::shell::transcript::Transcripts;
    let app = TestApp::spawn().await;
    let mut conn = app.owner.acquire().await.unwrap();
    let globex = odooops::admin::ensure_tenant(&mut conn, "globex", "Globex").await.unwrap();
    let globex_project = odooops::admin::create_project_in(&mut conn, globex, "erp", "Globex ERP", "").await.unwrap();
    drop(conn);
    // Two developers in each tenant, each with a session of their own.
    let mut sessions = Vec::new();
    for (tenant, project) in [(app.tenant_id, app.project_id), (globex, globex_project), (app.tenant_id, app.project_id), (globex, globex_project)] {
        let (user, email) = app.member_of(tenant, Role::Developer).await;
        let id: Uuid = sqlx::query_scalar(
            "insert into ops.exec_sessions (tenant_id, project_id, environment_id, environment_name, stage, user_id, user_email, ttl_seconds, idle_seconds, expires_at)
             select $1, $2, e.id, e.name, e.stage, $3, $4, 600, 600, now() + interval '10 minutes' from ops.environments e where e.project_id = $2 and e.stage = 'staging'
             returning id",
        )
        .bind(tenant)
        .bind(project)
        .bind(user)
        .bind(&email)
        .fetch_one(&app.owner)
        .await
        .unwrap();
        sessions.push((id, DbClaims { sub: user, tenant_id: tenant, role: Role::Developer }));
    }
    // A recorder whose claims are not the session's owner's: its rows are refused, and the
    // others sharing its flush are not held back.
    let (forged_id, _) = sessions[1].clone();
    let forged_claims = sessions[0].1.clone();
    let transcripts = Transcripts::new(app.services_db(), Duration::from_millis(20));
    let started = std::time::Instant::now();
    let recorders: Vec<_> = sessions.iter().map(|(id, c)| std::sync::Arc::new(transcripts.open(c.clone(), *id, started))).collect();
    let forged = transcripts.open(forged_claims, forged_id, started);
    forged.record(ExecDirection::Output, b"forged").await;
    // Every session types and gets output at once, over several flush windows; big chunks split.
    let tasks: Vec<_> = recorders
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let r = r.clone();
            tokio::spawn(async move {
                for i in 0..300 {
                    r.record(ExecDirection::Input, format!("{n}:{i};").as_bytes()).await;
                    r.record(ExecDirection::Output, format!("out {n}:{i}\r\n").as_bytes()).await;
                    if i % 100 == 0 {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                }
                r.record(ExecDirection::Output, &vec![b'x'; 70_000]).await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for r in &recorders {
        assert_eq!(r.close().await, 0);
    }
    assert_eq!(forged.close().await, 1, "the forged chunk is reported lost");
    for (n, (id, claims)) in sessions.iter().enumerate() {
        let rows = transcript(&app, *id).await;
        assert_eq!(rows.len(), 600 + 3, "session {n}: every chunk is a row");
        assert!(rows.iter().enumerate().all(|(i, r)| r.0 == i as i64), "session {n}: seq runs 0.. without gaps");
        assert!(rows.windows(2).all(|w| w[0].2 <= w[1].2), "session {n}: offsets never go back");
        let want_in: String = (0..300).map(|i| format!("{n}:{i};")).collect();
        let want_out: String = (0..300).map(|i| format!("out {n}:{i}\r\n")).collect::<String>() + &"x".repeat(70_000);
        assert_eq!(String::from_utf8(joined(&rows, "input")).unwrap(), want_in, "session {n}: input in order");
        assert_eq!(String::from_utf8(joined(&rows, "output")).unwrap(), want_out, "session {n}: output in order, no forged bytes");
        let tenants: Vec<Uuid> = sqlx::query_scalar("select distinct tenant_id from ops.exec_events where session_id = $1").bind(id).fetch_all(&app.owner).await.unwrap();
        assert_eq!(tenants, vec![claims.tenant_id], "session {n}: rows in its own tenant");
        let (events, bytes_in): (i64, i64) = sqlx::query_as("select events, bytes_in from ops.exec_sessions where id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
        assert_eq!((events, bytes_in), (603, want_in.len() as i64), "session {n}: counters");
    }
    app.stop().await;
}
