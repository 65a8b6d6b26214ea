//! Demo mail: the kind of messages an Odoo staging build sends (quotation, invoice with a
//! PDF, password reset, order confirmation with an embedded logo and a tracking pixel, a
//! cron failure), stored in the demo project's staging and development inboxes so the mail
//! catcher has something to show on first start.
use anyhow::Result;
use app::db::mail::NewMessage;
use app::db::DbClaims;
use app::models::Role;
use sqlx::PgPool;
use uuid::Uuid;

const FROM: &str = "Acme ERP <noreply@acme-erp.example>";

/// Creates the two inboxes (with credentials) and fills them, unless they already exist.
pub async fn seed(owner: &PgPool, tenant_id: Uuid, project_id: Uuid) -> Result<()> {
    let mut tx = owner.begin().await?;
    app::db::set_claims(&mut tx, &DbClaims { sub: Uuid::nil(), tenant_id, role: Role::Admin }).await?;
    for (env_name, messages) in [("staging", staging_messages()), ("development", development_messages())] {
        let env: Option<Uuid> = sqlx::query_scalar("select id from ops.environments where project_id = $1 and name = $2")
            .bind(project_id)
            .bind(env_name)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(env) = env else { continue };
        let existed: bool = sqlx::query_scalar("select exists (select 1 from ops.mailboxes where environment_id = $1)").bind(env).fetch_one(&mut *tx).await?;
        if existed {
            continue;
        }
        app::db::mail::ensure_mailbox(&mut tx, env).await?;
        let batch: Vec<NewMessage> = messages
            .into_iter()
            .map(|(from, to, raw)| NewMessage {
                environment_id: env,
                envelope_from: from.to_string(),
                envelope_to: vec![to.to_string()],
                parsed: app::mailparse::parse(raw.as_bytes()),
                raw: raw.into_bytes(),
                client_addr: "127.0.0.1".into(),
                helo: "odoo-staging.local".into(),
                tls: false,
            })
            .collect();
        let refs: Vec<&NewMessage> = batch.iter().collect();
        let ids = app::db::mail::insert_batch(&mut tx, &refs).await?;
        // Spread them over the last hours (the lists are newest first), as a real inbox would be.
        sqlx::query(
            "update ops.mailbox_messages m set received_at = now() - (x.n * interval '37 minutes')
               from unnest($1::uuid[]) with ordinality as x(id, n)
              where m.id = x.id",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn headers(to: &str, subject: &str, id: &str, content_type: &str) -> String {
    format!(
        "From: {FROM}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 23 Nov 2026 08:{:02}:00 +0100\r\nMessage-ID: <{id}@acme-erp.example>\r\nMIME-Version: 1.0\r\nX-Odoo-Objects: demo\r\nContent-Type: {content_type}\r\n",
        id.len() % 60
    )
}

fn alternative(text: &str, html: &str) -> String {
    format!(
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--alt--\r\n"
    )
}

const PDF_B64: &str = "JVBERi0xLjQKMSAwIG9iago8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIgPj4KZW5kb2JqCjIgMCBvYmoKPDwgL1R5cGUgL1BhZ2VzIC9LaWRzIFszIDAgUl0gL0NvdW50IDEgPj4KZW5kb2JqCjMgMCBvYmoKPDwgL1R5cGUgL1BhZ2UgL1BhcmVudCAyIDAgUiAvTWVkaWFCb3ggWzAgMCA1OTUgODQyXSA+PgplbmRvYmoKdHJhaWxlcgo8PCAvUm9vdCAxIDAgUiA+PgolJUVPRgo=";
// A 1x1 teal PNG.
const LOGO_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkaPhfDwAEhgGBfO5VJQAAAABJRU5ErkJggg==";

fn staging_messages() -> Vec<(&'static str, &'static str, String)> {
    let quotation = format!(
        "{}\r\n{}",
        headers("Jane Cooper <jane.cooper@customer.example>", "Acme ERP - Quotation (Ref S00042)", "quotation-s00042", "multipart/alternative; boundary=\"alt\""),
        alternative(
            "Hello Jane,\r\n\r\nYour quotation S00042 amounting to 1,250.00 EUR is ready for review.\r\nOpen it: https://staging.acme-erp.example/my/orders/42\r\n\r\nDo not hesitate to contact us if you have any questions.\r\n-- \r\nMitchell Admin",
            "<div style=\"font-family:Arial,sans-serif;font-size:14px\"><p>Hello Jane,</p><p>Your quotation <strong>S00042</strong> amounting to <strong>1,250.00&nbsp;EUR</strong> is ready for review.</p><p><a href=\"https://staging.acme-erp.example/my/orders/42\" style=\"background:#0f766e;color:#fff;padding:8px 14px;border-radius:4px;text-decoration:none\">View Quotation</a></p><p>Do not hesitate to contact us if you have any questions.</p><p style=\"color:#64748b\">-- <br>Mitchell Admin</p></div>",
        )
    );
    let invoice = format!(
        "{}\r\n--mix\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n{}--mix\r\nContent-Type: application/pdf; name=\"INV_2026_00123.pdf\"\r\nContent-Disposition: attachment; filename=\"INV_2026_00123.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{PDF_B64}\r\n--mix--\r\n",
        headers("accounting@customer.example", "Acme ERP Invoice (Ref INV/2026/00123)", "invoice-00123", "multipart/mixed; boundary=\"mix\""),
        alternative(
            "Dear Customer,\r\n\r\nHere is your invoice INV/2026/00123 amounting to 980.00 EUR, due on 23 December 2026.\r\n\r\nBest regards",
            "<p>Dear Customer,</p><p>Here is your invoice <b>INV/2026/00123</b> amounting to <b>980.00&nbsp;EUR</b>, due on <b>23 December 2026</b>.</p><p>Best regards</p>",
        )
    );
    let reset = format!(
        "{}\r\n{}",
        headers("marc.demo@customer.example", "Password reset", "password-reset-7", "multipart/alternative; boundary=\"alt\""),
        alternative(
            "A password reset was requested for the account marc.demo.\r\nReset it here (valid 24 hours): https://staging.acme-erp.example/web/reset_password?token=staging-demo-token\r\n",
            "<p>A password reset was requested for the account <b>marc.demo</b>.</p><p><a href=\"https://staging.acme-erp.example/web/reset_password?token=staging-demo-token\">Reset password</a> (valid 24 hours)</p>",
        )
    );
    let order = format!(
        "{}\r\n--rel\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<table style=\"font-family:Arial,sans-serif\"><tr><td><img src=\"cid:logo@acme\" width=\"32\" height=\"32\" alt=\"Acme\"></td><td><h2 style=\"margin:0\">Order SO0187 confirmed</h2></td></tr></table><p>Thank you for your order, Jörg! 3 items, 412.50 EUR, delivery on 26 Nov 2026.</p><img src=\"https://tracking.acme-erp.example/open/so0187.gif\" width=\"1\" height=\"1\" alt=\"\">\r\n--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@acme>\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{LOGO_B64}\r\n--rel--\r\n",
        headers("=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@customer.example>", "=?utf-8?q?Your_order_SO0187_is_confirmed_=E2=9C=94?=", "order-so0187", "multipart/related; boundary=\"rel\"")
    );
    let cron = format!(
        "{}\r\nScheduled action \"Mass Mailing: Process queue\" failed after 312 s (limit 300 s).\r\n\r\nTraceback (most recent call last):\r\n  File \"/opt/odoo/odoo/addons/base/models/ir_cron.py\", line 392, in _callback\r\n    self.env['ir.actions.server'].browse(server_action_id).run()\r\nodoo.exceptions.UserError: Timeout\r\n",
        headers("ops@acme-erp.example", "[staging] Scheduled action failed: Mass Mailing", "cron-failure-1", "text/plain; charset=utf-8")
    );
    vec![
        ("noreply@acme-erp.example", "ops@acme-erp.example", cron),
        ("noreply@acme-erp.example", "joerg@customer.example", order),
        ("noreply@acme-erp.example", "marc.demo@customer.example", reset),
        ("noreply@acme-erp.example", "accounting@customer.example", invoice),
        ("noreply@acme-erp.example", "jane.cooper@customer.example", quotation),
    ]
}

fn development_messages() -> Vec<(&'static str, &'static str, String)> {
    let welcome = format!(
        "{}\r\n{}",
        headers("dev-user@acme-erp.example", "Welcome to Acme ERP!", "welcome-1", "multipart/alternative; boundary=\"alt\""),
        alternative(
            "Welcome! Your account on the development database is ready.\r\n",
            "<h2>Welcome!</h2><p>Your account on the <em>development</em> database is ready.</p>",
        )
    );
    let test = format!("{}\r\nThis is a test mail from the development build (outgoing mail server: OdooOps mail catcher).\r\n", headers("dev@acme-erp.example", "Test mail", "test-1", "text/plain; charset=utf-8"));
    vec![("noreply@acme-erp.example", "dev@acme-erp.example", test), ("noreply@acme-erp.example", "dev-user@acme-erp.example", welcome)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_messages_parse_cleanly() {
        for (_, _, raw) in staging_messages().into_iter().chain(development_messages()) {
            let p = app::mailparse::parse(raw.as_bytes());
            assert_eq!(p.parse_error, None, "{raw}");
            assert!(!p.subject.is_empty() && !p.text_body.is_empty(), "{raw}");
        }
        let order = &staging_messages()[1].2;
        let p = app::mailparse::parse(order.as_bytes());
        assert_eq!(p.subject, "Your order SO0187 is confirmed ✔");
        assert!(app::mailparse::has_remote_content(&p.html_body));
        let invoice = &staging_messages()[3].2;
        assert_eq!(app::mailparse::parse(invoice.as_bytes()).attachments[0].filename, "INV_2026_00123.pdf");
    }
}
