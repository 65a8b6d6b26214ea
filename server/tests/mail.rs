//! Mail catcher: real SMTP clients (`lettre`, Python's `smtplib`, a raw line client) against
//! the console's SMTP server, the stored rows in PostgreSQL, and the viewer's endpoints.
mod common;

use app::models::{Role, Stage};
use common::mail::{call, count, credentials, env_id, simple_message, stored_raw, Raw};
use common::{config, fresh_database, TestApp};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

fn lettre_transport(app: &TestApp, user: &str, pass: &str) -> AsyncSmtpTransport<Tokio1Executor> {
    let addr = app.smtp_addr.unwrap();
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .credentials(Credentials::new(user.into(), pass.into()))
        .timeout(Some(Duration::from_secs(20)))
        .build()
}

fn rich_message() -> Message {
    Message::builder()
        .from("Acme Shop <shop@example.com>".parse().unwrap())
        .to("Jörg Müller <joerg@example.com>".parse().unwrap())
        .cc("accounting@example.com".parse().unwrap())
        .subject("Rechnung Nr. 42 – Überweisung fällig ✓")
        .multipart(
            MultiPart::mixed()
                .multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain("Guten Tag,\nIhre Rechnung über 120,00 € liegt bei.\n.a line starting with a dot\n".to_string()))
                        .singlepart(SinglePart::html("<h1>Rechnung</h1><p>Über <b>120,00 €</b></p>".to_string())),
                )
                .singlepart(Attachment::new("rechnung-42.pdf".into()).body(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n".to_vec(), ContentType::parse("application/pdf").unwrap())),
        )
        .unwrap()
}

/// lettre always ends DATA with `\r\n.\r\n`; the CRLF belongs to the last line of the data
/// (RFC 5321 4.1.1.4), so what it put on the wire is the message plus that line end.
fn lettre_wire(message: &Message) -> Vec<u8> {
    let mut sent = message.formatted();
    sent.extend_from_slice(b"\r\n");
    sent
}

#[tokio::test]
async fn lettre_mail_with_utf8_html_and_attachment_is_stored_byte_for_byte() {
    let app = TestApp::spawn().await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let staging = env_id(&app, Stage::Staging).await;
    let message = rich_message();
    let reply = lettre_transport(&app, &user, &pass).send(message.clone()).await.expect("lettre delivers");
    assert!(reply.is_positive());
    assert_eq!(stored_raw(&app, staging).await, vec![lettre_wire(&message)]);

    let (subject, from, to, cc, text, html, attachments, parse_error, env_to): (String, String, String, String, String, String, serde_json::Value, Option<String>, Vec<String>) =
        sqlx::query_as("select subject, header_from, header_to, header_cc, text_body, html_body, attachments, parse_error, envelope_to from ops.mailbox_messages")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(subject, "Rechnung Nr. 42 – Überweisung fällig ✓");
    assert_eq!((from.as_str(), to.as_str(), cc.as_str()), ("Acme Shop <shop@example.com>", "Jörg Müller <joerg@example.com>", "accounting@example.com"));
    assert!(text.contains("120,00 €") && text.contains(".a line starting with a dot"), "{text}");
    assert!(html.contains("<b>120,00 €</b>"), "{html}");
    assert_eq!(attachments[0]["filename"], "rechnung-42.pdf");
    assert_eq!(attachments[0]["content_type"], "application/pdf");
    assert_eq!(parse_error, None);
    // lettre puts To and Cc on the envelope.
    assert_eq!(env_to, vec!["joerg@example.com".to_string(), "accounting@example.com".to_string()]);
    // Nothing landed anywhere else.
    assert_eq!(count(&app, env_id(&app, Stage::Development).await).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn python_smtplib_mail_is_stored_byte_for_byte() {
    let app = TestApp::spawn().await;
    let (user, pass) = credentials(&app, Stage::Development).await;
    let dev = env_id(&app, Stage::Development).await;
    let port = app.smtp_addr.unwrap().port();
    let script = r#"
import smtplib, sys, base64
from email.message import EmailMessage
from email import policy
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
m = EmailMessage(policy=policy.SMTP)
m["From"] = "Odoo <odoo@example.com>"
m["To"] = "Client <client@example.com>"
m["Subject"] = "Votre devis S00042 — prêt ✔"
m.set_content("Bonjour,\nvotre devis est prêt.\n.point\n")
m.add_alternative("<p>Bonjour, <i>votre devis</i> est prêt.</p><img src=\"https://tracker.example/p.gif\">", subtype="html")
m.add_attachment(bytes(range(256)) * 40, maintype="application", subtype="octet-stream", filename="données.bin")
raw = m.as_bytes()
with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
    s.ehlo("python.test")
    s.login(user, password)
    s.sendmail("odoo@example.com", ["client@example.com", "bcc@example.com"], raw)
sys.stdout.write(base64.b64encode(raw).decode())
"#;
    let out = tokio::process::Command::new("python3").args(["-c", script, &port.to_string(), &user, &pass]).output().await.expect("python3 runs");
    assert!(out.status.success(), "smtplib failed: {}", String::from_utf8_lossy(&out.stderr));
    use base64::Engine;
    let sent = base64::engine::general_purpose::STANDARD.decode(&out.stdout).unwrap();
    assert_eq!(stored_raw(&app, dev).await, vec![sent]);
    let (subject, env_to, attachments): (String, Vec<String>, serde_json::Value) =
        sqlx::query_as("select subject, envelope_to, attachments from ops.mailbox_messages").fetch_one(&app.owner).await.unwrap();
    assert_eq!(subject, "Votre devis S00042 — prêt ✔");
    assert_eq!(env_to, vec!["client@example.com".to_string(), "bcc@example.com".to_string()]);
    assert_eq!(attachments[0]["filename"], "données.bin");
    assert_eq!(attachments[0]["size"], 256 * 40);
    app.stop().await;
}

#[tokio::test]
async fn production_credentials_capture_nothing() {
    let app = TestApp::spawn().await;
    let (user, pass) = credentials(&app, Stage::Production).await;
    let production = env_id(&app, Stage::Production).await;
    let err = lettre_transport(&app, &user, &pass).send(rich_message()).await.expect_err("production mail is refused");
    assert!(err.to_string().contains("never captured"), "{err}");
    let (mut c, _) = Raw::connect(&app).await;
    assert!(c.cmd("EHLO raw.test").await.starts_with("250"));
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
    let r = c.cmd(&format!("AUTH PLAIN {token}")).await;
    assert!(r.starts_with("535 5.7.1 Production mail is never captured"), "{r}");
    // Without authentication there is no way to send anything at all.
    assert!(c.cmd("MAIL FROM:<a@example.com>").await.starts_with("530"));
    let rows: i64 = sqlx::query_scalar("select count(*) from ops.mailbox_messages").fetch_one(&app.owner).await.unwrap();
    assert_eq!(rows, 0);
    assert_eq!(count(&app, production).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn production_mail_goes_through_the_relay_and_is_not_stored() {
    // The "real relay" is a second console's catcher: what it receives is what we relayed.
    let relay = TestApp::spawn().await;
    let (relay_user, relay_pass) = credentials(&relay, Stage::Staging).await;
    let relay_inbox = env_id(&relay, Stage::Staging).await;
    let mut cfg = config(&fresh_database().await);
    let r = relay.smtp_addr.unwrap();
    cfg.mail_relay_url = Some(app::auth::Secret::new(format!("smtp://{relay_user}:{relay_pass}@{}:{}", r.ip(), r.port())));
    let app = TestApp::spawn_with(cfg).await;
    let (user, pass) = credentials(&app, Stage::Production).await;
    let message = rich_message();
    lettre_transport(&app, &user, &pass).send(message.clone()).await.expect("production mail is relayed");
    let rows: i64 = sqlx::query_scalar("select count(*) from ops.mailbox_messages").fetch_one(&app.owner).await.unwrap();
    assert_eq!(rows, 0, "production mail is never stored");
    assert_eq!(stored_raw(&relay, relay_inbox).await, vec![lettre_wire(&message)], "the relay got it unchanged");
    app.stop().await;
    relay.stop().await;
}

#[tokio::test]
async fn starttls_upgrades_the_session_and_lettre_can_require_it() {
    let dir = tempdir();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let mut cfg = config(&fresh_database().await);
    cfg.smtp_tls_cert = Some(dir.join("cert.pem"));
    cfg.smtp_tls_key = Some(dir.join("key.pem"));
    let app = TestApp::spawn_with(cfg).await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let staging = env_id(&app, Stage::Staging).await;

    let (mut c, _) = Raw::connect(&app).await;
    assert!(c.cmd("EHLO raw.test").await.contains("250-STARTTLS"));
    assert!(c.cmd("STARTTLS now").await.starts_with("501"));

    let addr = app.smtp_addr.unwrap();
    let tls = TlsParameters::builder("localhost".into()).dangerous_accept_invalid_certs(true).build_rustls().unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(addr.port())
        .tls(Tls::Required(tls))
        .credentials(Credentials::new(user, pass))
        .build();
    let message = rich_message();
    transport.send(message.clone()).await.expect("delivered over STARTTLS");
    let (raw, tls_used): (Vec<u8>, bool) = sqlx::query_as("select raw, tls from ops.mailbox_messages where environment_id = $1").bind(staging).fetch_one(&app.owner).await.unwrap();
    assert_eq!(raw, lettre_wire(&message));
    assert!(tls_used);
    app.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("odooops-mailtest-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn malformed_commands_get_their_reply_codes_and_the_server_keeps_serving() {
    let app = TestApp::spawn().await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let staging = env_id(&app, Stage::Staging).await;
    let (mut c, greeting) = Raw::connect(&app).await;
    assert!(greeting.starts_with("220 ") && greeting.contains("ESMTP"), "{greeting}");

    let cases: Vec<(&[u8], &str)> = vec![
        (b"MAIL FROM:<a@example.com>\r\n", "503 5.5.1 Send EHLO first"),
        (b"FOO bar\r\n", "500 5.5.1"),
        (b"\r\n", "500 5.5.2"),
        (b"NOOP\n", "500 5.5.2 Bare LF"),
        (b"EHLO\r\n", "501 5.5.4"),
        (b"EHLO raw.test\r\n", "250"),
        (b"MAIL FROM:<a@example.com>\r\n", "530 5.7.0 Authentication required"),
        (b"AUTH CRAM-MD5\r\n", "504 5.5.4"),
        (b"AUTH PLAIN !!!notbase64\r\n", "501 5.5.2"),
        (b"VRFY ann\r\n", "252"),
        (b"NOOP\r\n", "250"),
    ];
    for (input, expected) in &cases {
        c.send(input).await;
        let r = c.reply().await;
        assert!(r.starts_with(expected), "{:?} → {r:?}, expected {expected}", String::from_utf8_lossy(input));
    }
    // (A fresh session: ten errors in one session end it, tested below.)
    let (mut c, _) = Raw::connect(&app).await;
    for (input, expected) in [
        (&b"RCPT TO:<b@example.com>\r\n"[..], "503 5.5.1 Need MAIL"),
        (b"DATA\r\n", "503 5.5.1 Need MAIL"),
        (b"BDAT 10 LAST\r\n", "502 5.5.1"),
        (b"NOOP\r\n", "250"),
    ] {
        c.send(input).await;
        let r = c.reply().await;
        assert!(r.starts_with(expected), "{:?} → {r:?}, expected {expected}", String::from_utf8_lossy(input));
    }
    // A line far beyond the command limit is consumed and refused, and the session goes on.
    let mut long = vec![b'X'; 10_000];
    long.extend_from_slice(b"\r\n");
    c.send(&long).await;
    assert!(c.reply().await.starts_with("500 5.5.2 Line too long"));
    assert!(c.cmd("NOOP").await.starts_with("250"));

    // Authenticated now: bad paths, unknown parameters, non-ASCII without SMTPUTF8.
    let (mut c, _) = Raw::connect(&app).await;
    c.login(&user, &pass).await;
    assert!(c.cmd("AUTH PLAIN AGFiYwBkZWY=").await.starts_with("503"), "no second AUTH");
    for (cmd, expected) in [
        ("MAIL FROM:a@example.com", "501 5.1.7"),
        ("MAIL FROM:<a@example.com> FROB=1", "555 5.5.4"),
        ("MAIL FROM:<jörg@example.com>", "553 5.6.7"),
        ("MAIL TO:<a@example.com>", "501 5.5.4"),
        ("MAIL FROM:<jörg@example.com> SMTPUTF8 BODY=8BITMIME", "250"),
        ("MAIL FROM:<again@example.com>", "503 5.5.1 Nested"),
        ("RCPT TO:<no-at-sign>", "501 5.1.3"),
        ("RCPT TO:<müller@example.com>", "250"),
        ("DATA now", "501 5.5.4"),
        ("RSET", "250"),
        ("DATA", "503"),
    ] {
        let r = c.cmd(cmd).await;
        assert!(r.starts_with(expected), "{cmd} → {r:?}, expected {expected}");
    }
    // Still serving: a good message goes through on the same session.
    assert!(c.mail("a@example.com", "b@example.com", &simple_message("after the noise")).await.starts_with("250 2.0.0 Ok"));
    assert_eq!(count(&app, staging).await, 1);
    assert!(c.cmd("QUIT").await.starts_with("221"));
    assert!(c.closed().await);
    app.stop().await;
}

#[tokio::test]
async fn bad_credentials_too_many_errors_and_cancelled_auth_end_politely() {
    let app = TestApp::spawn().await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let (mut c, _) = Raw::connect(&app).await;
    assert!(c.cmd("EHLO raw.test").await.starts_with("250"));
    // AUTH LOGIN, step by step, cancelled with `*`.
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6");
    assert!(c.cmd("*").await.starts_with("501 5.7.0"));
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // Wrong password twice, then the right one via LOGIN.
    for _ in 0..2 {
        let r = c.cmd(&format!("AUTH PLAIN {}", b64(&format!("\0{user}\0wrong-password")))).await;
        assert!(r.starts_with("535 5.7.8"), "{r}");
    }
    assert_eq!(c.cmd(&format!("AUTH LOGIN {}", b64(&user))).await, "334 UGFzc3dvcmQ6");
    assert!(c.cmd(&b64(&pass)).await.starts_with("235"));

    // A third failure on a new session closes it.
    let (mut c, _) = Raw::connect(&app).await;
    assert!(c.cmd("EHLO raw.test").await.starts_with("250"));
    for i in 0..3 {
        let r = c.cmd(&format!("AUTH PLAIN {}", b64(&format!("\0{user}\0nope-{i}")))).await;
        assert!(r.starts_with("535"), "{r}");
    }
    assert!(c.reply().await.starts_with("421 4.7.0 Too many failed authentications"));
    assert!(c.closed().await);

    // Ten errors in a row: the session is closed with 421.
    let (mut c, _) = Raw::connect(&app).await;
    for _ in 0..9 {
        assert!(c.cmd("JUNK").await.starts_with("500"));
    }
    assert!(c.cmd("JUNK").await.starts_with("500"));
    let last = c.reply().await;
    assert!(last.starts_with("421 4.7.0 Too many errors"), "{last}");
    assert!(c.closed().await);
    // The server itself is fine.
    let (mut c, _) = Raw::connect(&app).await;
    c.login(&user, &pass).await;
    app.stop().await;
}

#[tokio::test]
async fn data_errors_size_limit_bare_lf_recipients_and_unparseable_mail() {
    let mut cfg = config(&fresh_database().await);
    cfg.smtp_max_size = 4096;
    let app = TestApp::spawn_with(cfg).await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let staging = env_id(&app, Stage::Staging).await;
    let (mut c, _) = Raw::connect(&app).await;
    c.login(&user, &pass).await;

    // SIZE declared too big: refused before any data.
    assert!(c.cmd("MAIL FROM:<a@example.com> SIZE=5000").await.starts_with("552 5.3.4"));
    // Over the limit without declaring it: read to the end, then 552, nothing stored.
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..100 {
        big.extend_from_slice(&[b'y'; 78]);
        big.extend_from_slice(b"\r\n");
    }
    assert!(c.mail("a@example.com", "b@example.com", &big).await.starts_with("552 5.3.4"));
    // One line longer than the whole limit, same answer.
    let mut long_line = b"Subject: long\r\n\r\n".to_vec();
    long_line.extend(std::iter::repeat_n(b'z', 9000));
    long_line.extend_from_slice(b"\r\n");
    assert!(c.mail("a@example.com", "b@example.com", &long_line).await.starts_with("552 5.3.4"));
    // Bare LF inside the message: refused (no smuggling ambiguity), nothing stored.
    assert!(c.mail("a@example.com", "b@example.com", b"Subject: lf\r\n\r\nline one\nline two\r\n").await.starts_with("550 5.5.2"));
    // `\n.\n` does not end the data; only CRLF.CRLF does.
    let r = c.cmd("MAIL FROM:<a@example.com>").await;
    assert!(r.starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@example.com>").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(b"Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<x@example.com>\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("550 5.5.2"));
    assert_eq!(count(&app, staging).await, 0);

    // 100 recipients are fine, the 101st is deferred with 452.
    assert!(c.cmd("MAIL FROM:<a@example.com>").await.starts_with("250"));
    for i in 0..100 {
        assert!(c.cmd(&format!("RCPT TO:<r{i}@example.com>")).await.starts_with("250"));
    }
    assert!(c.cmd("RCPT TO:<r100@example.com>").await.starts_with("452 4.5.3"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(&common::mail::dot_stuff(&simple_message("to a crowd"))).await;
    c.send(b".\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    let n: i32 = sqlx::query_scalar("select cardinality(envelope_to) from ops.mailbox_messages").fetch_one(&app.owner).await.unwrap();
    assert_eq!(n, 100);

    // Not MIME at all: kept raw and flagged.
    let garbage = b"\x00\x01\x02 this is not a mail\r\n".to_vec();
    assert!(c.mail("a@example.com", "b@example.com", &garbage).await.starts_with("250"));
    let (raw, parse_error): (Vec<u8>, Option<String>) =
        sqlx::query_as("select raw, parse_error from ops.mailbox_messages where parse_error is not null").fetch_one(&app.owner).await.unwrap();
    assert_eq!(raw, garbage);
    assert!(parse_error.is_some());
    app.stop().await;
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let app = TestApp::spawn().await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let staging = env_id(&app, Stage::Staging).await;
    let (mut c, _) = Raw::connect(&app).await;
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
    c.send(format!("EHLO p.test\r\nAUTH PLAIN {token}\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n").as_bytes()).await;
    let mut replies = Vec::new();
    for _ in 0..6 {
        replies.push(c.reply().await);
    }
    let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
    assert_eq!(codes, vec!["250", "235", "250", "250", "250", "354"], "{replies:?}");
    c.send(&simple_message("pipelined")).await;
    c.send(b".\r\nQUIT\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    assert!(c.reply().await.starts_with("221"));
    assert_eq!(count(&app, staging).await, 1);
    let metrics = app.client().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("odooops_smtp_messages_stored 1"), "{metrics}");
    assert!(metrics.contains("odooops_smtp_sessions 1"), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn stalled_clients_time_out_and_a_connection_flood_is_capped() {
    let mut cfg = config(&fresh_database().await);
    cfg.smtp_timeout_seconds = 1;
    cfg.smtp_max_sessions = 2;
    let app = TestApp::spawn_with(cfg).await;
    let (mut a, _) = Raw::connect(&app).await;
    let (_b, _) = Raw::connect(&app).await;
    // The third concurrent connection is turned away.
    let (mut c, greeting) = Raw::connect(&app).await;
    assert!(greeting.starts_with("421 4.3.2"), "{greeting}");
    assert!(c.closed().await);
    // A stalled client gets 421 and its slot comes back.
    let r = a.reply().await;
    assert!(r.starts_with("421 4.4.2") && r.contains("timeout"), "{r}");
    assert!(a.closed().await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut d, greeting) = Raw::connect(&app).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    assert!(d.cmd("NOOP").await.starts_with("250"));
    // Stalling in the middle of DATA ends the same way, and nothing is stored.
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let (mut e, _) = Raw::connect(&app).await;
    e.login(&user, &pass).await;
    assert!(e.cmd("MAIL FROM:<a@example.com>").await.starts_with("250"));
    assert!(e.cmd("RCPT TO:<b@example.com>").await.starts_with("250"));
    assert!(e.cmd("DATA").await.starts_with("354"));
    e.send(b"Subject: half a mess").await;
    assert!(e.reply().await.starts_with("421 4.4.2"));
    let rows: i64 = sqlx::query_scalar("select count(*) from ops.mailbox_messages").fetch_one(&app.owner).await.unwrap();
    assert_eq!(rows, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_disconnects_mid_message_leaves_nothing() {
    let app = TestApp::spawn().await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    {
        let (mut c, _) = Raw::connect(&app).await;
        c.login(&user, &pass).await;
        assert!(c.cmd("MAIL FROM:<a@example.com>").await.starts_with("250"));
        assert!(c.cmd("RCPT TO:<b@example.com>").await.starts_with("250"));
        assert!(c.cmd("DATA").await.starts_with("354"));
        c.send(b"Subject: cut\r\n\r\nhalf").await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows: i64 = sqlx::query_scalar("select count(*) from ops.mailbox_messages").fetch_one(&app.owner).await.unwrap();
    assert_eq!(rows, 0);
    let (mut c, _) = Raw::connect(&app).await;
    c.login(&user, &pass).await;
    app.stop().await;
}

#[tokio::test]
async fn rotating_the_password_locks_out_the_old_one_and_is_audited() {
    let app = TestApp::spawn().await;
    let (user, old) = credentials(&app, Stage::Staging).await;
    let staging = env_id(&app, Stage::Staging).await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (tester, _, _) = app.logged_in(Role::Tester).await;
    // Testers read the inbox but do not see the password, and cannot rotate it.
    let (status, body) = call(&app, &tester, "mailbox", &[("env_id", &staging.to_string())]).await;
    assert_eq!(status, 200);
    assert!(body["password"].is_null() && body["username"] == user.as_str());
    let (status, _) = call(&app, &tester, "mail-rotate", &[("env_id", &staging.to_string())]).await;
    assert_eq!(status, 403);
    let (status, _) = call(&app, &dev, "mail-rotate", &[("env_id", &staging.to_string())]).await;
    assert_eq!(status, 200);
    let (_, body) = call(&app, &dev, "mailbox", &[("env_id", &staging.to_string())]).await;
    let new = body["password"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let (mut c, _) = Raw::connect(&app).await;
    assert!(c.cmd("EHLO r.test").await.starts_with("250"));
    use base64::Engine;
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    assert!(c.cmd(&format!("AUTH PLAIN {}", b64(format!("\0{user}\0{old}")))).await.starts_with("535"));
    assert!(c.cmd(&format!("AUTH PLAIN {}", b64(format!("\0{user}\0{new}")))).await.starts_with("235"));
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"mail.mailbox_created".to_string()) && actions.contains(&"mail.credentials_rotated".to_string()), "{actions:?}");
    assert!(actions.contains(&"access.denied".to_string()));
    app.stop().await;
}

#[tokio::test]
async fn viewer_endpoints_serve_raw_html_and_attachments_safely_and_only_to_the_tenant() {
    let app = TestApp::spawn().await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let staging = env_id(&app, Stage::Staging).await;
    let message = rich_message();
    lettre_transport(&app, &user, &pass).send(message.clone()).await.unwrap();
    let (tester, _, _) = app.logged_in(Role::Tester).await;
    let (status, page) = call(&app, &tester, "mail-messages", &[("env_id", &staging.to_string()), ("q", "überweisung"), ("offset", "0")]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1);
    let id = page["items"][0]["id"].as_str().unwrap().to_string();
    let (_, none) = call(&app, &tester, "mail-messages", &[("env_id", &staging.to_string()), ("q", "100%_nothing"), ("offset", "0")]).await;
    assert_eq!(none["total"], 0);

    let (status, detail) = call(&app, &tester, "mail-message", &[("id", &id)]).await;
    assert_eq!(status, 200);
    assert_eq!(detail["has_html"], true);
    assert!(detail["headers"].as_array().unwrap().iter().any(|h| h[0] == "Subject"));
    assert_eq!(detail["can_manage"], false);

    let raw = tester.get(app.url(&format!("/api/mail/messages/{id}/raw"))).send().await.unwrap();
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.headers()["content-type"], "message/rfc822");
    assert!(raw.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"Rechnung_Nr._42"));
    assert_eq!(raw.bytes().await.unwrap().to_vec(), lettre_wire(&message));

    let html = tester.get(app.url(&format!("/api/mail/messages/{id}/html"))).send().await.unwrap();
    assert_eq!(html.status(), 200);
    let csp = html.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'none'") && csp.contains("sandbox") && !csp.contains("http"), "{csp}");
    assert!(html.text().await.unwrap().contains("<b>120,00 €</b>"));
    let remote = tester.get(app.url(&format!("/api/mail/messages/{id}/html?remote=1"))).send().await.unwrap();
    assert!(remote.headers()["content-security-policy"].to_str().unwrap().contains("img-src data: https: http:"));

    let att = tester.get(app.url(&format!("/api/mail/messages/{id}/attachments/0"))).send().await.unwrap();
    assert_eq!(att.status(), 200);
    assert_eq!(att.headers()["content-disposition"], "attachment; filename=\"rechnung-42.pdf\"");
    assert_eq!(att.bytes().await.unwrap().as_ref(), b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n");
    assert_eq!(tester.get(app.url(&format!("/api/mail/messages/{id}/attachments/9"))).send().await.unwrap().status(), 404);

    // Signed out: nothing. Another tenant: not found, as if it did not exist.
    assert_eq!(app.client().get(app.url(&format!("/api/mail/messages/{id}/raw"))).send().await.unwrap().status(), 401);
    let mut conn = app.owner.acquire().await.unwrap();
    let other = odooops::admin::ensure_tenant(&mut conn, "globex", "Globex").await.unwrap();
    drop(conn);
    let (_, email) = app.member_of(other, Role::Admin).await;
    let (outsider, _) = app.login(&email, common::PASSWORD).await;
    assert_eq!(outsider.get(app.url(&format!("/api/mail/messages/{id}/raw"))).send().await.unwrap().status(), 404);
    assert_eq!(outsider.get(app.url(&format!("/api/mail/events?env={staging}"))).send().await.unwrap().status(), 404);
    let (status, _) = call(&app, &outsider, "mail-message", &[("id", &id)]).await;
    assert_eq!(status, 404);
    let (status, body) = call(&app, &outsider, "mail-messages", &[("env_id", &staging.to_string()), ("q", ""), ("offset", "0")]).await;
    assert_eq!((status, body["total"].as_i64()), (200, Some(0)));

    // Testers cannot delete; developers can, and it is audited.
    let (status, _) = call(&app, &tester, "mail-delete", &[("id", &id)]).await;
    assert_eq!(status, 403);
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    let (status, _) = call(&app, &dev, "mail-delete", &[("id", &id)]).await;
    assert_eq!(status, 200);
    assert_eq!(count(&app, staging).await, 0);
    let (status, _) = call(&app, &dev, "mail-delete", &[("id", &id)]).await;
    assert_eq!(status, 404);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"mail.deleted".to_string()));
    app.stop().await;
}

#[tokio::test]
async fn new_mail_is_announced_live_to_the_inbox() {
    use tokio_stream::StreamExt;
    let app = TestApp::spawn().await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let staging = env_id(&app, Stage::Staging).await;
    let (tester, _, _) = app.logged_in(Role::Tester).await;
    let res = tester.get(app.url(&format!("/api/mail/events?env={staging}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: ready") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Mail for another inbox does not wake this one.
    let (dev_user, dev_pass) = credentials(&app, Stage::Development).await;
    let (mut c, _) = Raw::connect(&app).await;
    c.login(&dev_user, &dev_pass).await;
    assert!(c.mail("a@example.com", "b@example.com", &simple_message("elsewhere")).await.starts_with("250"));
    assert!(tokio::time::timeout(Duration::from_millis(700), stream.next()).await.is_err(), "no event for another inbox");
    let (mut c, _) = Raw::connect(&app).await;
    c.login(&user, &pass).await;
    assert!(c.mail("a@example.com", "b@example.com", &simple_message("live")).await.starts_with("250"));
    let mut seen = String::new();
    while !seen.contains("event: mail") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("a mail event").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // On shutdown the stream ends, so an open inbox tab does not hold up the HTTP drain.
    app.signal_shutdown();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the event stream ends when the console stops");
    app.stop().await;
}

#[tokio::test]
async fn retention_keeps_the_newest_and_drops_the_old_and_clear_empties_the_inbox() {
    let app = TestApp::spawn().await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let staging = env_id(&app, Stage::Staging).await;
    let (dev, _, _) = app.logged_in(Role::Developer).await;
    for (max, days, expected) in [("0", "14", 422), ("abc", "14", 422), ("5", "400", 422), ("2", "7", 200)] {
        let (status, body) = call(&app, &dev, "mail-retention", &[("env_id", &staging.to_string()), ("max_messages", max), ("max_age_days", days)]).await;
        assert_eq!(status, expected, "{max}/{days}: {body}");
    }
    let (mut c, _) = Raw::connect(&app).await;
    c.login(&user, &pass).await;
    for i in 0..4 {
        assert!(c.mail("a@example.com", "b@example.com", &simple_message(&format!("m{i}"))).await.starts_with("250"));
    }
    // One message pretends to be old.
    sqlx::query("update ops.mailbox_messages set received_at = now() - interval '30 days' where subject = 'm3'").execute(&app.owner).await.unwrap();
    let removed = odooops::mail::prune(&app.services_db()).await.unwrap();
    assert_eq!(removed, 2, "one too old, one over the count");
    let left: Vec<String> = sqlx::query_scalar("select subject from ops.mailbox_messages order by subject").fetch_all(&app.owner).await.unwrap();
    assert_eq!(left, vec!["m1".to_string(), "m2".to_string()]);
    assert_eq!(odooops::mail::prune(&app.services_db()).await.unwrap(), 0, "pruning again changes nothing");

    let (status, n) = call(&app, &dev, "mail-clear", &[("env_id", &staging.to_string())]).await;
    assert_eq!((status, n.as_i64()), (200, Some(2)));
    assert_eq!(count(&app, staging).await, 0);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"mail.retention_changed".to_string()) && actions.contains(&"mail.cleared".to_string()));
    app.stop().await;
}

#[tokio::test]
async fn release_forwards_only_to_allow_listed_addresses_and_is_audited() {
    let relay = TestApp::spawn().await;
    let (relay_user, relay_pass) = credentials(&relay, Stage::Development).await;
    let relay_inbox = env_id(&relay, Stage::Development).await;
    let mut cfg = config(&fresh_database().await);
    let r = relay.smtp_addr.unwrap();
    cfg.mail_relay_url = Some(app::auth::Secret::new(format!("smtp://{relay_user}:{relay_pass}@{}:{}", r.ip(), r.port())));
    cfg.mail_release_allow = "qa@example.com, @test.example".into();
    let app = TestApp::spawn_with(cfg).await;
    let (user, pass) = credentials(&app, Stage::Staging).await;
    let staging = env_id(&app, Stage::Staging).await;
    let message = rich_message();
    lettre_transport(&app, &user, &pass).send(message.clone()).await.unwrap();
    let id: uuid::Uuid = sqlx::query_scalar("select id from ops.mailbox_messages where environment_id = $1").bind(staging).fetch_one(&app.owner).await.unwrap();

    let (tester, _, _) = app.logged_in(Role::Tester).await;
    let (status, body) = call(&app, &tester, "mail-release", &[("id", &id.to_string()), ("to", "ceo@customer.example")]).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(&app, &tester, "mail-release", &[("id", &id.to_string()), ("to", "not an address")]).await;
    assert_eq!(status, 422);
    assert_eq!(count(&relay, relay_inbox).await, 0);
    let (status, body) = call(&app, &tester, "mail-release", &[("id", &id.to_string()), ("to", "anyone@test.example")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.as_str().unwrap().starts_with("250"), "{body}");
    assert_eq!(stored_raw(&relay, relay_inbox).await, vec![lettre_wire(&message)]);
    let env_to: Vec<String> = sqlx::query_scalar("select envelope_to from ops.mailbox_messages").fetch_one(&relay.owner).await.unwrap();
    assert_eq!(env_to, vec!["anyone@test.example".to_string()]);
    let (pm, _, _) = app.logged_in(Role::Pm).await;
    let (status, _) = call(&app, &pm, "mail-release", &[("id", &id.to_string()), ("to", "qa@example.com")]).await;
    assert_eq!(status, 403);
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"mail.release_refused".to_string()) && actions.contains(&"mail.released".to_string()), "{actions:?}");
    app.stop().await;
    relay.stop().await;
}
