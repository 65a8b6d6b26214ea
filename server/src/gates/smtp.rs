//! Gate 5: outgoing mail port. `smtp_port` in Odoo configuration and `.env` files, and the
//! active outgoing mail servers in the environment database (`ir_mail_server`), must use an
//! allowed port (465 or 587 by default).
use super::envdb::EnvDb;
use super::workspace::{blank_comments, comment_style, is_config_file};
use super::{plural, Ctx, Source, Tally, Words};
use app::models::{Evidence, GateId, GateResult, GateStatus};
use regex::Regex;
use std::sync::LazyLock;

/// `smtp_port = 25` (odoo.conf), `SMTP_PORT=25` / `ODOO_SMTP_PORT: "25"` (.env, compose-style).
static SMTP_PORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?im)^[ \t]*(?:export[ \t]+)?(?P<key>[a-z0-9_]*smtp_port)[ \t]*[=:][ \t]*["']?(?P<port>\d{1,6})\b"#).expect("static regex")
});

const MAIL_SERVERS: &str = "select id::bigint, coalesce(name::text, ''), coalesce(smtp_host::text, ''), smtp_port::bigint \
                            from ir_mail_server where active order by sequence, id";

pub(super) async fn check(ctx: &mut Ctx<'_>) -> GateResult {
    let gate = GateId::Smtp;
    if matches!((&ctx.files, &ctx.db), (Source::Missing, Source::Missing)) {
        return GateResult::skipped(gate, "no workspace or environment database to check");
    }
    let settings = ctx.settings;
    let mut t = Tally::default();
    let mut ports: Vec<i64> = Vec::new();
    let mut servers = 0usize;
    let mut flag = |t: &mut Tally, port: i64, location: String, found: String| {
        servers += 1;
        if settings.allows_smtp_port(port) {
            t.info.push(Evidence::new(location, format!("{found} (allowed)")));
        } else {
            t.bad.push(Evidence::new(location, format!("{found} (not allowed)")));
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
    };

    match &mut ctx.db {
        Source::Missing => {}
        Source::Failed(e) => t.error("environment database", e.clone()),
        Source::Ready(db) => match mail_servers(db).await {
            Ok(None) => t.info.push(Evidence::new(db.at("ir_mail_server"), "no such table (Odoo is not installed in this database yet)")),
            Ok(Some(rows)) if rows.is_empty() => t.info.push(Evidence::new(db.at("ir_mail_server"), "no active outgoing mail server")),
            Ok(Some(rows)) => {
                for (id, name, host, port) in rows {
                    let location = db.at(&format!("ir_mail_server {id} ({name})"));
                    match port {
                        Some(port) => flag(&mut t, port, location, format!("{host}:{port}")),
                        None => t.info.push(Evidence::new(location, format!("{host} without a port"))),
                    }
                }
            }
            Err(e) => t.error(db.at("ir_mail_server"), e),
        },
    }

    t.note_files(&ctx.files);
    if let Source::Ready(ws) = &ctx.files {
        for f in ws.matching(is_config_file) {
            let text = blank_comments(&f.text, comment_style(f));
            for cap in SMTP_PORT.captures_iter(&text) {
                let (Some(key), Some(port)) = (cap.name("key"), cap.name("port")) else { continue };
                let Ok(port) = port.as_str().parse::<i64>() else { continue };
                flag(&mut t, port, f.location(key.start()), f.line_text(key.start()));
            }
        }
    }

    let allowed = settings.smtp_allowed_ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" or ");
    let bad_ports = ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ");
    t.finish(
        gate,
        GateStatus::Fail,
        |bad| Words {
            summary: format!("{} on port {bad_ports} (allowed: {allowed})", plural(bad.len(), "mail server is set up", "mail server settings are")),
            explanation: format!(
                "Outgoing mail configured on port {bad_ports} will not leave the platform. Hosting providers block port 25 to stop spam, \
                 and plain relay ports such as 2525 are blocked as well or send without encryption, so mail sent this way silently never \
                 arrives. Ports 465 (SSL/TLS) and 587 (STARTTLS with a login) are the submission ports every mail provider supports."
            ),
            fix: format!(
                "Use port 587 with STARTTLS (or 465 with SSL/TLS) and your provider's login: in Odoo under Settings > Technical > Outgoing Mail \
                 Servers, and for smtp_port in odoo.conf or .env files. Allowed ports for this project: {allowed}."
            ),
        },
        || Words {
            summary: if servers == 0 { "no outgoing mail server configured".into() } else { format!("{} on allowed ports ({allowed})", plural(servers, "mail setting", "mail settings")) },
            explanation: "Outgoing mail uses a submission port the platform lets through.".into(),
            fix: String::new(),
        },
    )
}

/// Active mail servers, or None when the table does not exist.
async fn mail_servers(db: &mut EnvDb) -> Result<Option<Vec<(i64, String, String, Option<i64>)>>, String> {
    if !db.has_relation("ir_mail_server").await? {
        return Ok(None);
    }
    EnvDb::run(sqlx::query_as(MAIL_SERVERS).fetch_all(&mut db.conn)).await.map(Some)
}
