//! `ops.mailboxes` and `ops.mailbox_messages`: the mail catcher's credentials and inboxes.
use crate::models::{AttachmentMeta, InboxSummary, MessagePage, MessageSummary, Stage};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

/// A mailbox with the environment and project it belongs to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailboxRow {
    pub environment_id: Uuid,
    pub environment_name: String,
    pub stage: Stage,
    pub project_id: Uuid,
    pub project_slug: String,
    pub project_name: String,
    pub smtp_username: String,
    pub smtp_password: String,
    pub max_messages: i32,
    pub max_age_days: i32,
    pub rotated_at: DateTime<Utc>,
    pub message_count: i64,
}

/// Every environment of a project with its inbox size (environments without a mailbox too).
pub async fn inboxes(conn: &mut PgConnection, project_id: Uuid) -> Result<Vec<InboxSummary>, sqlx::Error> {
    let rows: Vec<(Uuid, String, Stage, i64, Option<DateTime<Utc>>, bool)> = sqlx::query_as(
        "select e.id, e.name, e.stage,
                coalesce(c.n, 0), c.last, m.environment_id is not null
           from ops.environments e
           left join ops.mailboxes m on m.environment_id = e.id
           left join lateral (select count(*) as n, max(received_at) as last
                                from ops.mailbox_messages x where x.environment_id = e.id) c on true
          where e.project_id = $1
          order by case e.stage when 'development' then 0 when 'staging' then 1 else 2 end, e.name",
    )
    .bind(project_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(environment_id, environment_name, stage, messages, last_received, has_mailbox)| InboxSummary {
            environment_id,
            environment_name,
            stage,
            messages,
            last_received,
            has_mailbox,
        })
        .collect())
}

const MAILBOX_SELECT: &str = "select e.id as environment_id, e.name as environment_name, e.stage,
        p.id as project_id, p.slug as project_slug, p.name as project_name,
        m.smtp_username, m.smtp_password, m.max_messages, m.max_age_days, m.rotated_at,
        (select count(*) from ops.mailbox_messages x where x.environment_id = e.id) as message_count
   from ops.mailboxes m
   join ops.environments e on e.id = m.environment_id
   join ops.projects p on p.id = e.project_id";

pub async fn mailbox(conn: &mut PgConnection, environment_id: Uuid) -> Result<Option<MailboxRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{MAILBOX_SELECT} where m.environment_id = $1")))
        .bind(environment_id)
        .fetch_optional(conn)
        .await
}

/// Creates the environment's mailbox with fresh credentials unless it has one. Returns
/// `None` when the environment does not exist for this tenant.
pub async fn ensure_mailbox(conn: &mut PgConnection, environment_id: Uuid) -> Result<Option<MailboxRow>, sqlx::Error> {
    let names: Option<(String, String)> = sqlx::query_as(
        "select p.slug, e.name from ops.environments e join ops.projects p on p.id = e.project_id where e.id = $1",
    )
    .bind(environment_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((project, env)) = names else { return Ok(None) };
    sqlx::query(
        "insert into ops.mailboxes (tenant_id, environment_id, smtp_username, smtp_password)
         values (ops.current_tenant_id(), $1, $2, $3) on conflict (environment_id) do nothing",
    )
    .bind(environment_id)
    .bind(new_username(&project, &env))
    .bind(crate::auth::token::random_hex(16))
    .execute(&mut *conn)
    .await?;
    mailbox(conn, environment_id).await
}

/// `shop-staging-3fa9c1`: readable, unique across tenants thanks to the random suffix.
fn new_username(project: &str, env: &str) -> String {
    let base: String = format!("{project}-{env}").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(100).collect();
    format!("{}-{}", base.trim_matches('-').to_ascii_lowercase(), crate::auth::token::random_hex(3))
}

/// New password (the username stays, so only the secret in the app's settings changes).
pub async fn rotate(conn: &mut PgConnection, environment_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("update ops.mailboxes set smtp_password = $2, rotated_at = now() where environment_id = $1")
        .bind(environment_id)
        .bind(crate::auth::token::random_hex(16))
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_retention(conn: &mut PgConnection, environment_id: Uuid, max_messages: i32, max_age_days: i32) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("update ops.mailboxes set max_messages = $2, max_age_days = $3 where environment_id = $1")
        .bind(environment_id)
        .bind(max_messages)
        .bind(max_age_days)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// One page of an inbox, newest first. `q` matches subject, addresses (envelope and
/// headers) and the text body, case-insensitively.
pub async fn list(conn: &mut PgConnection, environment_id: Uuid, q: &str, offset: i64, limit: i64) -> Result<MessagePage, sqlx::Error> {
    let pattern = like_pattern(q);
    let filter = "where environment_id = $1
        and ($2::text is null or subject ilike $2 or header_from ilike $2 or header_to ilike $2
             or header_cc ilike $2 or envelope_from ilike $2 or array_to_string(envelope_to, ' ') ilike $2
             or text_body ilike $2)";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from ops.mailbox_messages {filter}")))
        .bind(environment_id)
        .bind(&pattern)
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<(Uuid, DateTime<Utc>, String, String, String, String, Vec<String>, i32, i32, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select id, received_at, header_from, envelope_from, header_to, subject, envelope_to, size,
                jsonb_array_length(attachments)::int, parse_error is not null
           from ops.mailbox_messages {filter}
          order by received_at desc, id desc offset $3 limit $4"
    )))
    .bind(environment_id)
    .bind(&pattern)
    .bind(offset.max(0))
    .bind(limit.clamp(1, 200))
    .fetch_all(conn)
    .await?;
    let items = rows
        .into_iter()
        .map(|(id, received_at, hfrom, efrom, hto, subject, eto, size, attachments, parse_failed)| MessageSummary {
            id,
            received_at,
            from: if hfrom.is_empty() { efrom } else { hfrom },
            to: if hto.is_empty() { eto.join(", ") } else { hto },
            subject,
            size,
            attachments,
            parse_failed,
        })
        .collect();
    Ok(MessagePage { items, total, offset: offset.max(0), limit: limit.clamp(1, 200) })
}

/// `%q%` with LIKE's wildcards escaped; `None` for an empty search.
fn like_pattern(q: &str) -> Option<String> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Some(format!("%{escaped}%"))
}

/// A stored message with its raw bytes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub header_from: String,
    pub header_to: String,
    pub header_cc: String,
    pub subject: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: String,
    pub size: i32,
    pub raw: Vec<u8>,
    pub text_body: String,
    pub html_body: String,
    pub attachments: sqlx::types::Json<Vec<AttachmentMeta>>,
    pub parse_error: Option<String>,
    pub client_addr: String,
    pub helo: String,
    pub tls: bool,
}

pub async fn message(conn: &mut PgConnection, id: Uuid) -> Result<Option<MessageRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, environment_id, received_at, envelope_from, envelope_to, header_from, header_to, header_cc,
                subject, sent_at, message_id, size, raw, text_body, html_body, attachments, parse_error,
                client_addr, helo, tls
           from ops.mailbox_messages where id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Subject and raw bytes (for the .eml download and attachments).
pub async fn raw(conn: &mut PgConnection, id: Uuid) -> Result<Option<(Uuid, String, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("select environment_id, subject, raw from ops.mailbox_messages where id = $1").bind(id).fetch_optional(conn).await
}

/// Deletes one message; returns its environment when it existed.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("delete from ops.mailbox_messages where id = $1 returning environment_id").bind(id).fetch_optional(conn).await
}

pub async fn clear(conn: &mut PgConnection, environment_id: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from ops.mailbox_messages where environment_id = $1").bind(environment_id).execute(conn).await?.rows_affected())
}

/// A message the SMTP server accepted, ready to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub environment_id: Uuid,
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub raw: Vec<u8>,
    pub parsed: crate::mailparse::Parsed,
    pub client_addr: String,
    pub helo: String,
    pub tls: bool,
}

/// Stores a batch of one tenant's messages in one statement; returns their ids in order.
pub async fn insert_batch(conn: &mut PgConnection, batch: &[&NewMessage]) -> Result<Vec<Uuid>, sqlx::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
        "insert into ops.mailbox_messages (tenant_id, environment_id, envelope_from, envelope_to, header_from,
            header_to, header_cc, subject, sent_at, message_id, size, raw, text_body, html_body, attachments,
            parse_error, client_addr, helo, tls) ",
    );
    qb.push_values(batch, |mut b, m| {
        let p = &m.parsed;
        // A sub-select is evaluated once per statement; the bare call once per row.
        b.push("(select ops.current_tenant_id())")
            .push_bind(m.environment_id)
            .push_bind(&m.envelope_from)
            .push_bind(&m.envelope_to)
            .push_bind(&p.from)
            .push_bind(&p.to)
            .push_bind(&p.cc)
            .push_bind(&p.subject)
            .push_bind(p.sent_at)
            .push_bind(&p.message_id)
            .push_bind(m.raw.len() as i32)
            .push_bind(&m.raw)
            .push_bind(&p.text_body)
            .push_bind(&p.html_body)
            .push_bind(sqlx::types::Json(&p.attachments))
            .push_bind(&p.parse_error)
            .push_bind(&m.client_addr)
            .push_bind(&m.helo)
            .push_bind(m.tls);
    });
    qb.push(" returning id");
    qb.build_query_scalar().fetch_all(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_escape_like_wildcards() {
        assert_eq!(like_pattern("  "), None);
        assert_eq!(like_pattern("50%_off\\"), Some("%50\\%\\_off\\\\%".into()));
    }

    #[test]
    fn usernames_fit_the_column_rule() {
        let u = new_username("shop", "staging");
        assert!(u.starts_with("shop-staging-") && u.len() == "shop-staging-".len() + 6, "{u}");
    }
}
