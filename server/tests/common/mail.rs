//! Mail catcher helpers: mailbox credentials through the real server function, and a raw
//! SMTP client that shows every reply (for bad-input cases real clients refuse to send).
use super::TestApp;
use app::models::{Role, Stage};
use base64::Engine;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use uuid::Uuid;

/// An environment of the test project by stage.
pub async fn env_id(app: &TestApp, stage: Stage) -> Uuid {
    sqlx::query_scalar("select id from ops.environments where project_id = $1 and stage = $2")
        .bind(app.project_id)
        .bind(stage)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

/// Calls a server function as `client`; returns (status, JSON body).
pub async fn call(app: &TestApp, client: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let res = client.post(app.url(&format!("/api/{endpoint}"))).header("accept", "application/json").form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// The environment's mailbox as a developer sees it (created on first view): (username, password).
pub async fn credentials(app: &TestApp, stage: Stage) -> (String, String) {
    let (client, _, _) = app.logged_in(Role::Developer).await;
    let env = env_id(app, stage).await;
    let (status, body) = call(app, &client, "mailbox", &[("env_id", &env.to_string())]).await;
    assert_eq!(status, 200, "{body}");
    (body["username"].as_str().unwrap().to_string(), body["password"].as_str().unwrap().to_string())
}

pub async fn count(app: &TestApp, env: Uuid) -> i64 {
    sqlx::query_scalar("select count(*) from ops.mailbox_messages where environment_id = $1").bind(env).fetch_one(&app.owner).await.unwrap()
}

pub async fn stored_raw(app: &TestApp, env: Uuid) -> Vec<Vec<u8>> {
    sqlx::query_scalar("select raw from ops.mailbox_messages where environment_id = $1 order by received_at, id")
        .bind(env)
        .fetch_all(&app.owner)
        .await
        .unwrap()
}

/// A line-level SMTP client.
pub struct Raw {
    r: BufReader<TcpStream>,
}

impl Raw {
    /// Connects and returns the client with the greeting line.
    pub async fn connect(app: &TestApp) -> (Raw, String) {
        let stream = TcpStream::connect(app.smtp_addr.expect("smtp listening")).await.unwrap();
        let mut raw = Raw { r: BufReader::new(stream) };
        let greeting = raw.reply().await;
        (raw, greeting)
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).await.unwrap();
    }

    /// One complete reply (multi-line replies joined by `\n`); empty when the server closed.
    pub async fn reply(&mut self) -> String {
        let mut all = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(15), self.r.read_line(&mut line)).await.expect("reply within 15 s").unwrap_or(0);
            if n == 0 {
                return all.join("\n");
            }
            let line = line.trim_end().to_string();
            let more = line.as_bytes().get(3) == Some(&b'-');
            all.push(line);
            if !more {
                return all.join("\n");
            }
        }
    }

    /// Sends one command line (CRLF added) and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// EHLO + AUTH PLAIN; panics unless both succeed.
    pub async fn login(&mut self, user: &str, pass: &str) {
        assert!(self.cmd("EHLO client.test").await.starts_with("250"));
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
        let r = self.cmd(&format!("AUTH PLAIN {token}")).await;
        assert!(r.starts_with("235"), "{r}");
    }

    /// MAIL, RCPT, DATA and the message (dot-stuffed here); returns the final reply.
    pub async fn mail(&mut self, from: &str, to: &str, message: &[u8]) -> String {
        let r = self.cmd(&format!("MAIL FROM:<{from}>")).await;
        assert!(r.starts_with("250"), "{r}");
        let r = self.cmd(&format!("RCPT TO:<{to}>")).await;
        assert!(r.starts_with("250"), "{r}");
        let r = self.cmd("DATA").await;
        assert!(r.starts_with("354"), "{r}");
        self.send(&dot_stuff(message)).await;
        self.send(b".\r\n").await;
        self.reply().await
    }

    /// True once the server has closed the connection.
    pub async fn closed(&mut self) -> bool {
        let mut buf = String::new();
        matches!(tokio::time::timeout(Duration::from_secs(5), self.r.read_line(&mut buf)).await, Ok(Ok(0)) | Ok(Err(_)))
    }
}

/// Dot-stuffing (RFC 5321 4.5.2); the message must end with CRLF.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out
}

pub fn simple_message(subject: &str) -> Vec<u8> {
    format!("From: App <app@example.com>\r\nTo: ann@example.com\r\nSubject: {subject}\r\nMessage-ID: <{}@test>\r\n\r\nHello.\r\n.starts with a dot\r\n", Uuid::new_v4())
        .into_bytes()
}
