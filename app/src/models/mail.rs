//! Mail catcher: inboxes per environment, captured messages and their parts.
use super::Stage;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How the console's SMTP server is reachable, for the settings panel and the release form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MailSettings {
    /// Host name apps should use (the SMTP listen address, or the public host).
    pub smtp_host: String,
    pub smtp_port: u16,
    pub starttls: bool,
    /// A real relay is configured: captured mail can be released, production mail is relayed.
    pub relay_configured: bool,
    /// Addresses (`someone@example.com`) or domains (`@example.com`) mail may be released to.
    pub release_allow: Vec<String>,
}

impl MailSettings {
    /// Whether `addr` is on the release allow-list (case-insensitive; `@domain` entries match
    /// every address of that domain).
    pub fn release_allowed(&self, addr: &str) -> bool {
        let addr = addr.trim().to_ascii_lowercase();
        let Some((_, domain)) = addr.rsplit_once('@') else { return false };
        if domain.is_empty() || addr.starts_with('@') {
            return false;
        }
        self.release_allow.iter().any(|a| {
            let a = a.trim().to_ascii_lowercase();
            if let Some(d) = a.strip_prefix('@') {
                d == domain
            } else {
                a == addr
            }
        })
    }
}

/// One environment's inbox on the mail overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxSummary {
    pub environment_id: Uuid,
    pub environment_name: String,
    pub stage: Stage,
    pub messages: i64,
    pub last_received: Option<DateTime<Utc>>,
    /// SMTP credentials exist for it.
    pub has_mailbox: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailOverview {
    pub project_id: Uuid,
    pub project_slug: String,
    pub project_name: String,
    pub inboxes: Vec<InboxSummary>,
}

/// An environment's mailbox: where to send, with which credentials, and how long mail stays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailboxInfo {
    pub environment_id: Uuid,
    pub environment_name: String,
    pub stage: Stage,
    pub project_slug: String,
    pub project_name: String,
    /// False for production: its mail is never stored.
    pub captured: bool,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub starttls: bool,
    pub username: String,
    /// Only for roles that manage the mailbox (developer and up).
    pub password: Option<String>,
    pub max_messages: i32,
    pub max_age_days: i32,
    pub message_count: i64,
    pub rotated_at: DateTime<Utc>,
    pub can_manage: bool,
    pub can_release: bool,
    pub relay_configured: bool,
    pub release_allow: Vec<String>,
}

/// A row of the inbox list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageSummary {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub size: i32,
    pub attachments: i32,
    pub parse_failed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagePage {
    pub items: Vec<MessageSummary>,
    /// Messages matching the search (all pages).
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    /// Position among the message's attachments (the download URL uses it).
    pub index: u32,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub content_id: Option<String>,
    pub inline: bool,
}

/// Everything the message view shows. The HTML body itself is served by its own URL into a
/// sandboxed iframe, never inlined into the console page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDetail {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub subject: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: String,
    pub size: i32,
    pub text_body: String,
    pub has_html: bool,
    /// The HTML references remote images (blocked until the user asks).
    pub html_has_remote: bool,
    pub attachments: Vec<AttachmentMeta>,
    /// Header name and value in message order.
    pub headers: Vec<(String, String)>,
    pub parse_error: Option<String>,
    pub tls: bool,
    pub client_addr: String,
    pub helo: String,
    pub can_manage: bool,
    pub can_release: bool,
}

/// Human size: 512 B, 10.2 KB, 3.1 MB.
pub fn human_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b < 1024.0 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KB", b / 1024.0)
    } else {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_allow_list_matches_addresses_and_domains_only() {
        let s = MailSettings { release_allow: vec!["qa@example.com".into(), "@test.example".into()], ..Default::default() };
        assert!(s.release_allowed("QA@Example.com"));
        assert!(s.release_allowed("anyone@test.example"));
        assert!(!s.release_allowed("other@example.com"));
        assert!(!s.release_allowed("evil@sub.test.example"));
        assert!(!s.release_allowed("@test.example"));
        assert!(!s.release_allowed("no-at-sign"));
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(10 * 1024 + 200), "10.2 KB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MB");
    }
}
