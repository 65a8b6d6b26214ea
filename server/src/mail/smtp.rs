//! The SMTP server: ESMTP with SIZE, PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES,
//! AUTH PLAIN/LOGIN and optional STARTTLS (RFC 5321, 1870, 2920, 6152, 6531, 4954, 3207).
//!
//! A client authenticates with an environment's mailbox credentials; that decides where
//! its mail goes: stored for development and staging, relayed (or refused) for production.
//! Every malformed input gets a reply code and the session carries on, or ends with a 421
//! when continuing makes no sense (timeout, too many errors).
use super::{Delivery, MailService, MailStats};
use app::db::mail::NewMessage;
use app::models::Stage;
use base64::Engine;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use uuid::Uuid;

/// Longest command line (RFC 5321 says 512; AUTH PLAIN with long credentials needs more).
pub const MAX_COMMAND_LINE: usize = 2048;
/// RCPT commands per message (RFC 5321 asks servers to accept at least 100).
pub const MAX_RECIPIENTS: usize = 100;
/// Unknown or malformed commands a session may send before it is closed.
const MAX_ERRORS: u32 = 10;
const MAX_AUTH_FAILURES: u32 = 3;

/// Session limits and identity (from the console configuration).
#[derive(Debug, Clone)]
pub struct SmtpLimits {
    pub hostname: String,
    pub max_size: usize,
    pub timeout: Duration,
}

/// Where an authenticated session's mail goes.
#[derive(Debug, Clone)]
pub struct MailTarget {
    pub tenant_id: Uuid,
    pub environment_id: Uuid,
    pub stage: Stage,
    pub environment_name: String,
    pub project_slug: String,
}

/// How a pass over one stream ended.
enum Ended<S> {
    Closed,
    /// The client asked for TLS: the raw stream to wrap, and what carries over.
    StartTls(S, Carry),
}

/// What survives a STARTTLS (nothing of the SMTP state does, per RFC 3207).
struct Carry {
    errors: u32,
}

#[derive(Default)]
struct Txn {
    from: Option<String>,
    to: Vec<String>,
    utf8: bool,
}

struct Session {
    svc: Arc<MailService>,
    peer: SocketAddr,
    tls: bool,
    helo: Option<String>,
    auth: Option<MailTarget>,
    txn: Txn,
    errors: u32,
    auth_failures: u32,
}

enum Line {
    Ok(Vec<u8>),
    TooLong,
    Eof,
}

/// Reads one line (through LF) of at most `limit` bytes; a longer line is consumed and
/// reported as `TooLong` without being kept.
async fn read_line<R: AsyncRead + Unpin>(r: &mut BufReader<R>, limit: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if line.is_empty() && !too_long { Line::Eof } else if too_long { Line::TooLong } else { Line::Ok(line) });
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long {
            if line.len() + take > limit {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(&buf[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Ok(line) });
        }
    }
}

/// Serves one accepted connection until QUIT, EOF, timeout or a fatal error.
pub async fn serve_connection<S>(svc: Arc<MailService>, stream: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let greeting = format!("220 {} ESMTP OdooOps mail catcher ready\r\n", svc.limits.hostname);
    let mut session = Session { svc: svc.clone(), peer, tls: false, helo: None, auth: None, txn: Txn::default(), errors: 0, auth_failures: 0 };
    match session.run(stream, Some(greeting)).await {
        Ok(Ended::Closed) => {}
        Ok(Ended::StartTls(raw, carry)) => {
            let Some(acceptor) = svc.tls.clone() else { return };
            match tokio::time::timeout(svc.limits.timeout, acceptor.accept(raw)).await {
                Ok(Ok(tls_stream)) => {
                    let mut session = Session { svc, peer, tls: true, helo: None, auth: None, txn: Txn::default(), errors: carry.errors, auth_failures: 0 };
                    if let Err(e) = session.run(tls_stream, None).await {
                        tracing::debug!(error = %e, %peer, "smtp session ended with an I/O error");
                    }
                }
                Ok(Err(e)) => tracing::info!(error = %e, %peer, "smtp TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "smtp TLS handshake timed out"),
            }
        }
        Err(e) => tracing::debug!(error = %e, %peer, "smtp session ended with an I/O error"),
    }
}

impl Session {
    async fn run<S>(&mut self, stream: S, greeting: Option<String>) -> std::io::Result<Ended<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut r = BufReader::with_capacity(16 * 1024, stream);
        let mut out: Vec<u8> = Vec::with_capacity(512);
        if let Some(g) = greeting {
            r.get_mut().write_all(g.as_bytes()).await?;
        }
        loop {
            // Replies to pipelined commands go out together once the client's batch is read.
            if !out.is_empty() && r.buffer().is_empty() {
                r.get_mut().write_all(&out).await?;
                r.get_mut().flush().await?;
                out.clear();
            }
            let line = match tokio::time::timeout(self.svc.limits.timeout, read_line(&mut r, MAX_COMMAND_LINE)).await {
                Err(_) => {
                    out.extend_from_slice(format!("421 4.4.2 {} Error: timeout exceeded\r\n", self.svc.limits.hostname).as_bytes());
                    return self.finish(&mut r, &out).await;
                }
                Ok(line) => line?,
            };
            let line = match line {
                Line::Eof => return Ok(Ended::Closed),
                Line::TooLong => {
                    self.reply_error(&mut out, "500 5.5.2 Line too long");
                    if self.errors >= MAX_ERRORS {
                        return self.too_many_errors(&mut r, &mut out).await;
                    }
                    continue;
                }
                Line::Ok(l) => l,
            };
            if !line.ends_with(b"\r\n") {
                // Bare LF (or a last line without any end): refused, so no other server
                // can disagree with us about where a command ends.
                self.reply_error(&mut out, "500 5.5.2 Bare LF received: commands must end with CRLF");
                if self.errors >= MAX_ERRORS {
                    return self.too_many_errors(&mut r, &mut out).await;
                }
                continue;
            }
            let text = match std::str::from_utf8(&line[..line.len() - 2]) {
                Ok(t) => t.to_string(),
                Err(_) => {
                    self.reply_error(&mut out, "500 5.5.2 Command is not valid UTF-8");
                    continue;
                }
            };
            let (verb, arg) = match text.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
                None => (text.trim().to_ascii_uppercase(), String::new()),
            };
            match verb.as_str() {
                "EHLO" | "HELO" => self.hello(&mut out, &verb, &arg),
                "STARTTLS" => {
                    if self.svc.tls.is_none() {
                        self.reply_error(&mut out, "502 5.5.1 STARTTLS is not offered here");
                    } else if self.tls {
                        self.reply_error(&mut out, "503 5.5.1 TLS is already active");
                    } else if !arg.is_empty() {
                        self.reply_error(&mut out, "501 5.5.4 STARTTLS takes no arguments");
                    } else {
                        out.extend_from_slice(b"220 2.0.0 Ready to start TLS\r\n");
                        r.get_mut().write_all(&out).await?;
                        r.get_mut().flush().await?;
                        // Anything the client pipelined after STARTTLS is dropped (RFC 3207 §5,
                        // the STARTTLS command-injection defence).
                        return Ok(Ended::StartTls(r.into_inner(), Carry { errors: self.errors }));
                    }
                }
                "AUTH" => {
                    self.auth(&mut r, &mut out, &arg).await?;
                    if self.auth_failures >= MAX_AUTH_FAILURES {
                        out.extend_from_slice(b"421 4.7.0 Too many failed authentications, closing\r\n");
                        return self.finish(&mut r, &out).await;
                    }
                }
                "MAIL" => self.mail(&mut out, &arg),
                "RCPT" => self.rcpt(&mut out, &arg),
                "DATA" => {
                    if !arg.is_empty() {
                        self.reply_error(&mut out, "501 5.5.4 DATA takes no arguments");
                    } else if self.txn.from.is_none() {
                        self.reply_error(&mut out, "503 5.5.1 Need MAIL command first");
                    } else if self.txn.to.is_empty() {
                        self.reply_error(&mut out, "503 5.5.1 Need RCPT command first");
                    } else {
                        out.extend_from_slice(b"354 End data with <CR><LF>.<CR><LF>\r\n");
                        r.get_mut().write_all(&out).await?;
                        r.get_mut().flush().await?;
                        out.clear();
                        match self.data(&mut r).await? {
                            Some(reply) => {
                                let stats = &self.svc.stats;
                                MailStats::bump(match (reply.starts_with("250"), reply.contains("relayed")) {
                                    (true, true) => &stats.relayed,
                                    (true, false) => &stats.stored,
                                    _ => &stats.rejected,
                                });
                                out.extend_from_slice(reply.as_bytes());
                            }
                            None => return Ok(Ended::Closed),
                        }
                        self.txn = Txn::default();
                    }
                }
                "BDAT" => self.reply_error(&mut out, "502 5.5.1 CHUNKING is not offered; use DATA"),
                "RSET" => {
                    self.txn = Txn::default();
                    out.extend_from_slice(b"250 2.0.0 Ok\r\n");
                }
                "NOOP" => out.extend_from_slice(b"250 2.0.0 Ok\r\n"),
                "VRFY" => out.extend_from_slice(b"252 2.5.0 Cannot verify users; send mail and it will be captured\r\n"),
                "HELP" => out.extend_from_slice(b"214 2.0.0 Commands: EHLO HELO AUTH MAIL RCPT DATA RSET NOOP QUIT STARTTLS\r\n"),
                "QUIT" => {
                    out.extend_from_slice(format!("221 2.0.0 {} Bye\r\n", self.svc.limits.hostname).as_bytes());
                    return self.finish(&mut r, &out).await;
                }
                "" => self.reply_error(&mut out, "500 5.5.2 Syntax error: empty command"),
                _ => self.reply_error(&mut out, "500 5.5.1 Command unrecognized"),
            }
            if self.errors >= MAX_ERRORS {
                return self.too_many_errors(&mut r, &mut out).await;
            }
        }
    }

    fn reply_error(&mut self, out: &mut Vec<u8>, reply: &str) {
        self.errors += 1;
        out.extend_from_slice(reply.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    async fn too_many_errors<S: AsyncRead + AsyncWrite + Unpin>(&mut self, r: &mut BufReader<S>, out: &mut Vec<u8>) -> std::io::Result<Ended<S>> {
        out.extend_from_slice(b"421 4.7.0 Too many errors, closing connection\r\n");
        self.finish(r, out).await
    }

    async fn finish<S: AsyncRead + AsyncWrite + Unpin>(&mut self, r: &mut BufReader<S>, out: &[u8]) -> std::io::Result<Ended<S>> {
        r.get_mut().write_all(out).await?;
        r.get_mut().flush().await?;
        let _ = r.get_mut().shutdown().await;
        Ok(Ended::Closed)
    }

    fn hello(&mut self, out: &mut Vec<u8>, verb: &str, arg: &str) {
        let name = arg.split_whitespace().next().unwrap_or_default();
        if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control()) {
            self.reply_error(out, &format!("501 5.5.4 Syntax: {verb} hostname"));
            return;
        }
        self.helo = Some(name.to_string());
        self.txn = Txn::default();
        let host = &self.svc.limits.hostname;
        if verb == "HELO" {
            out.extend_from_slice(format!("250 {host}\r\n").as_bytes());
            return;
        }
        let mut lines = vec![
            format!("{host} greets {name}"),
            format!("SIZE {}", self.svc.limits.max_size),
            "PIPELINING".to_string(),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if self.svc.tls.is_some() && !self.tls {
            lines.push("STARTTLS".into());
        }
        if self.auth.is_none() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        let last = lines.len() - 1;
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.extend_from_slice(format!("250{sep}{l}\r\n").as_bytes());
        }
    }

    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(&mut self, r: &mut BufReader<S>, out: &mut Vec<u8>, arg: &str) -> std::io::Result<()> {
        if self.helo.is_none() {
            self.reply_error(out, "503 5.5.1 Send EHLO first");
            return Ok(());
        }
        if self.auth.is_some() {
            self.reply_error(out, "503 5.5.1 Already authenticated");
            return Ok(());
        }
        if self.txn.from.is_some() {
            self.reply_error(out, "503 5.5.1 AUTH is not allowed during a mail transaction");
            return Ok(());
        }
        let mut parts = arg.split_whitespace();
        let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
        let initial = parts.next().map(str::to_string);
        let b64 = base64::engine::general_purpose::STANDARD;
        let (user, pass) = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(i) => i,
                    None => match self.challenge(r, out, "334 ").await? {
                        Some(x) => x,
                        None => return Ok(()),
                    },
                };
                let Some(decoded) = decode(&b64, &response) else {
                    self.reply_error(out, "501 5.5.2 Cannot decode the AUTH PLAIN response (base64)");
                    return Ok(());
                };
                let mut fields = decoded.split(|&b| b == 0);
                let (_authz, user, pass) = (fields.next(), fields.next(), fields.next());
                match (user, pass, fields.next()) {
                    (Some(u), Some(p), None) => (String::from_utf8_lossy(u).into_owned(), String::from_utf8_lossy(p).into_owned()),
                    _ => {
                        self.reply_error(out, "501 5.5.2 AUTH PLAIN expects authzid NUL user NUL password");
                        return Ok(());
                    }
                }
            }
            "LOGIN" => {
                let user_b64 = match initial {
                    Some(i) => i,
                    None => match self.challenge(r, out, "334 VXNlcm5hbWU6").await? {
                        Some(x) => x,
                        None => return Ok(()),
                    },
                };
                let Some(user) = decode(&b64, &user_b64) else {
                    self.reply_error(out, "501 5.5.2 Cannot decode the user name (base64)");
                    return Ok(());
                };
                let pass_b64 = match self.challenge(r, out, "334 UGFzc3dvcmQ6").await? {
                    Some(x) => x,
                    None => return Ok(()),
                };
                let Some(pass) = decode(&b64, &pass_b64) else {
                    self.reply_error(out, "501 5.5.2 Cannot decode the password (base64)");
                    return Ok(());
                };
                (String::from_utf8_lossy(&user).into_owned(), String::from_utf8_lossy(&pass).into_owned())
            }
            "" => {
                self.reply_error(out, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
                return Ok(());
            }
            _ => {
                self.reply_error(out, "504 5.5.4 Unrecognized authentication mechanism; use PLAIN or LOGIN");
                return Ok(());
            }
        };
        match self.svc.login(&user, &pass).await {
            Ok(Some(target)) if target.stage == Stage::Production && self.svc.relay.is_none() => {
                self.auth_failures += 1;
                MailStats::bump(&self.svc.stats.auth_failures);
                out.extend_from_slice(
                    b"535 5.7.1 Production mail is never captured: these are a production environment's credentials and no relay is configured\r\n",
                );
            }
            Ok(Some(target)) => {
                self.auth = Some(target);
                out.extend_from_slice(b"235 2.7.0 Authentication successful\r\n");
            }
            Ok(None) => {
                self.auth_failures += 1;
                MailStats::bump(&self.svc.stats.auth_failures);
                out.extend_from_slice(b"535 5.7.8 Authentication credentials invalid\r\n");
            }
            Err(e) => {
                tracing::warn!(error = %e, "smtp login lookup failed");
                out.extend_from_slice(b"454 4.7.0 Temporary authentication failure, try again later\r\n");
            }
        }
        Ok(())
    }

    /// Sends a 334 challenge and reads the answer; `None` when the client cancelled
    /// (`*`), sent something unreadable, or went away (replies are already queued).
    async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(&mut self, r: &mut BufReader<S>, out: &mut Vec<u8>, prompt: &str) -> std::io::Result<Option<String>> {
        out.extend_from_slice(prompt.as_bytes());
        out.extend_from_slice(b"\r\n");
        r.get_mut().write_all(out).await?;
        r.get_mut().flush().await?;
        out.clear();
        let line = match tokio::time::timeout(self.svc.limits.timeout, read_line(r, MAX_COMMAND_LINE)).await {
            Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "auth timeout")),
            Ok(l) => l?,
        };
        let line = match line {
            Line::Eof => return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof during auth")),
            Line::TooLong => {
                self.reply_error(out, "500 5.5.2 Line too long");
                return Ok(None);
            }
            Line::Ok(l) => l,
        };
        let text = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string();
        if text == "*" {
            self.reply_error(out, "501 5.7.0 Authentication cancelled");
            return Ok(None);
        }
        Ok(Some(text))
    }

    fn mail(&mut self, out: &mut Vec<u8>, arg: &str) {
        if self.helo.is_none() {
            self.reply_error(out, "503 5.5.1 Send EHLO first");
            return;
        }
        if self.auth.is_none() {
            self.reply_error(out, "530 5.7.0 Authentication required: use the environment's SMTP credentials");
            return;
        }
        if self.txn.from.is_some() {
            self.reply_error(out, "503 5.5.1 Nested MAIL command");
            return;
        }
        let Some(rest) = strip_prefix_ci(arg, "FROM:") else {
            self.reply_error(out, "501 5.5.4 Syntax: MAIL FROM:<address>");
            return;
        };
        let Some((addr, params)) = split_path(rest) else {
            self.reply_error(out, "501 5.1.7 Bad sender address syntax");
            return;
        };
        let mut utf8 = false;
        for p in params.split_whitespace() {
            let (k, v) = p.split_once('=').map(|(k, v)| (k.to_ascii_uppercase(), Some(v))).unwrap_or((p.to_ascii_uppercase(), None));
            match (k.as_str(), v) {
                ("SIZE", Some(v)) => match v.parse::<u64>() {
                    Ok(n) if n > self.svc.limits.max_size as u64 => {
                        self.reply_error(out, &format!("552 5.3.4 Message size exceeds fixed maximum message size ({} bytes)", self.svc.limits.max_size));
                        return;
                    }
                    Ok(_) => {}
                    Err(_) => {
                        self.reply_error(out, "501 5.5.4 SIZE needs a number");
                        return;
                    }
                },
                ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") || v.eq_ignore_ascii_case("7BIT") => {}
                ("SMTPUTF8", None) => utf8 = true,
                ("AUTH", Some(_)) => {}
                _ => {
                    self.reply_error(out, &format!("555 5.5.4 Unsupported MAIL parameter {k}"));
                    return;
                }
            }
        }
        if !addr.is_ascii() && !utf8 {
            self.reply_error(out, "553 5.6.7 Non-ASCII sender address needs the SMTPUTF8 parameter");
            return;
        }
        if !addr.is_empty() && !valid_address(&addr) {
            self.reply_error(out, "501 5.1.7 Bad sender address syntax");
            return;
        }
        self.txn = Txn { from: Some(addr), to: Vec::new(), utf8 };
        out.extend_from_slice(b"250 2.1.0 Ok\r\n");
    }

    fn rcpt(&mut self, out: &mut Vec<u8>, arg: &str) {
        if self.txn.from.is_none() {
            self.reply_error(out, "503 5.5.1 Need MAIL command first");
            return;
        }
        let Some(rest) = strip_prefix_ci(arg, "TO:") else {
            self.reply_error(out, "501 5.5.4 Syntax: RCPT TO:<address>");
            return;
        };
        let Some((addr, params)) = split_path(rest) else {
            self.reply_error(out, "501 5.1.3 Bad recipient address syntax");
            return;
        };
        if !params.trim().is_empty() {
            self.reply_error(out, "555 5.5.4 RCPT parameters are not supported");
            return;
        }
        if !addr.is_ascii() && !self.txn.utf8 {
            self.reply_error(out, "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8 on MAIL");
            return;
        }
        if addr.is_empty() || !(valid_address(&addr) || addr.eq_ignore_ascii_case("postmaster")) {
            self.reply_error(out, "501 5.1.3 Bad recipient address syntax");
            return;
        }
        if self.txn.to.len() >= MAX_RECIPIENTS {
            // Not counted as an error: clients are meant to send the rest in another message.
            out.extend_from_slice(format!("452 4.5.3 Too many recipients ({MAX_RECIPIENTS} per message)\r\n").as_bytes());
            return;
        }
        self.txn.to.push(addr);
        out.extend_from_slice(b"250 2.1.5 Ok\r\n");
    }

    /// Reads the message after 354 and answers it. `None`: the client went away mid-message
    /// (nothing is stored).
    async fn data<S: AsyncRead + AsyncWrite + Unpin>(&mut self, r: &mut BufReader<S>) -> std::io::Result<Option<String>> {
        let max = self.svc.limits.max_size;
        let mut raw: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut too_big = false;
        let mut bare_lf = false;
        loop {
            // A data line may be as long as the whole size limit; past it we only count.
            let line = match tokio::time::timeout(self.svc.limits.timeout, read_line(r, max + 3)).await {
                Err(_) => {
                    let msg = format!("421 4.4.2 {} Error: timeout exceeded during DATA\r\n", self.svc.limits.hostname);
                    r.get_mut().write_all(msg.as_bytes()).await?;
                    let _ = r.get_mut().shutdown().await;
                    return Ok(None);
                }
                Ok(l) => l?,
            };
            let line = match line {
                Line::Eof => return Ok(None),
                Line::TooLong => {
                    too_big = true;
                    continue;
                }
                Line::Ok(l) => l,
            };
            if line == b".\r\n" {
                break;
            }
            if !line.ends_with(b"\r\n") {
                if line.ends_with(b"\n") {
                    bare_lf = true;
                } else {
                    // EOF inside a line: the client went away.
                    return Ok(None);
                }
            }
            let content = if line.first() == Some(&b'.') { &line[1..] } else { &line[..] };
            if too_big || raw.len() + content.len() > max {
                too_big = true;
                raw.clear();
                continue;
            }
            raw.extend_from_slice(content);
        }
        if too_big {
            return Ok(Some(format!("552 5.3.4 Message size exceeds fixed maximum message size ({max} bytes)\r\n")));
        }
        if bare_lf {
            return Ok(Some("550 5.5.2 Message contains bare LF line endings; lines must end with CRLF\r\n".into()));
        }
        let Some(target) = self.auth.clone() else {
            return Ok(Some("530 5.7.0 Authentication required\r\n".into()));
        };
        let from = self.txn.from.clone().unwrap_or_default();
        let to = std::mem::take(&mut self.txn.to);
        if target.stage == Stage::Production {
            return Ok(Some(match self.svc.relay_production(&from, &to, raw).await {
                Ok(reply) => format!("250 2.0.0 Ok: relayed ({reply})\r\n"),
                Err(e) => {
                    tracing::warn!(error = %e, "production mail relay failed");
                    "451 4.4.0 The relay did not accept the message; try again later\r\n".to_string()
                }
            }));
        }
        let parsed = if raw.len() > 1024 * 1024 {
            let bytes = raw.clone();
            tokio::task::spawn_blocking(move || app::mailparse::parse(&bytes)).await.unwrap_or_default()
        } else {
            app::mailparse::parse(&raw)
        };
        let message = NewMessage {
            environment_id: target.environment_id,
            envelope_from: from,
            envelope_to: to,
            raw,
            parsed,
            client_addr: self.peer.ip().to_string(),
            helo: self.helo.clone().unwrap_or_default().chars().take(1000).collect(),
            tls: self.tls,
        };
        Ok(Some(match self.svc.store.deliver(Delivery { tenant_id: target.tenant_id, message }).await {
            Ok(id) => format!("250 2.0.0 Ok: queued as {id}\r\n"),
            Err(e) => {
                tracing::warn!(error = %e, "storing captured mail failed");
                "451 4.3.0 Temporary storage failure, try again later\r\n".to_string()
            }
        }))
    }
}

fn decode(engine: &base64::engine::GeneralPurpose, s: &str) -> Option<Vec<u8>> {
    engine.decode(s.trim()).ok()
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| s[prefix.len()..].trim_start())
}

/// `<addr> params` → (addr without a source route, params). Accepts `<>`.
fn split_path(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    let mut addr = &rest[..end];
    // Obsolete source routes (`@a,@b:user@c`) are ignored, as RFC 5321 asks.
    if addr.starts_with('@') {
        addr = addr.split_once(':').map(|(_, a)| a)?;
    }
    Some((addr.to_string(), &rest[end + 1..]))
}

/// `local@domain` with no spaces or control characters, at most 254 bytes.
fn valid_address(addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else { return false };
    !local.is_empty()
        && !domain.is_empty()
        && addr.len() <= 254
        && !addr.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_addresses_parse_like_rfc_5321_says() {
        assert_eq!(split_path("<a@b.c> SIZE=10").map(|(a, p)| (a, p.trim().to_string())), Some(("a@b.c".into(), "SIZE=10".into())));
        assert_eq!(split_path(" <>").map(|(a, _)| a), Some(String::new()));
        assert_eq!(split_path("<@relay.example:u@d.example>").map(|(a, _)| a), Some("u@d.example".into()));
        assert_eq!(split_path("a@b.c"), None);
        assert!(valid_address("ann@example.com"));
        assert!(valid_address("jörg@bücher.example"));
        assert!(!valid_address("no-at"));
        assert!(!valid_address("a b@c.d"));
        assert!(!valid_address("@c.d"));
        assert_eq!(strip_prefix_ci("from:<x@y>", "FROM:"), Some("<x@y>"));
        assert_eq!(strip_prefix_ci("fr", "FROM:"), None);
    }
}
