//! Reading captured mail with `mail-parser` (server only): the fields stored with each
//! message, its headers, attachments, and the HTML made safe to show in a sandboxed frame.
use crate::models::AttachmentMeta;
use chrono::{DateTime, Utc};
use mail_parser::{Address, Message, MessageParser, MimeHeaders};

/// What the inbox stores next to the raw bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub from: String,
    pub to: String,
    pub cc: String,
    pub subject: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: String,
    pub text_body: String,
    pub html_body: String,
    pub attachments: Vec<AttachmentMeta>,
    /// Why the message could not be read as MIME (it is stored raw all the same).
    pub parse_error: Option<String>,
}

fn parser() -> MessageParser {
    MessageParser::default()
}

/// Parses `raw`; never fails: what cannot be read is reported in `parse_error`.
pub fn parse(raw: &[u8]) -> Parsed {
    let Some(msg) = parser().parse(raw) else {
        return Parsed { parse_error: Some("not a MIME message: no header block could be read".into()), ..Parsed::default() };
    };
    if msg.headers().is_empty() {
        return Parsed { parse_error: Some("not a MIME message: no headers".into()), ..Parsed::default() };
    }
    let has_html = msg.html_bodies().any(|p| p.is_text_html());
    let has_text = msg.text_bodies().any(|p| p.is_text() && !p.is_text_html());
    let mut p = Parsed {
        from: addresses(msg.from()),
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        subject: clip(msg.subject().unwrap_or_default(), 4000),
        sent_at: msg.date().and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        message_id: clip(msg.message_id().unwrap_or_default(), 1000),
        text_body: if has_text || has_html { msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default() } else { String::new() },
        html_body: if has_html { msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default() } else { String::new() },
        attachments: attachment_list(&msg),
        parse_error: None,
    };
    p.from = clip(&p.from, 4000);
    if msg.from().is_none() && msg.subject().is_none() && msg.to().is_none() {
        p.parse_error = Some("no From, To or Subject header could be read".into());
    }
    // PostgreSQL text cannot hold NUL, which decoded parts sometimes contain.
    for field in [&mut p.from, &mut p.to, &mut p.cc, &mut p.subject, &mut p.message_id, &mut p.text_body, &mut p.html_body] {
        if field.contains('\0') {
            *field = field.replace('\0', "");
        }
    }
    for a in &mut p.attachments {
        a.filename = a.filename.replace('\0', "");
    }
    p
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// `Name <addr>, other@x` as people write it.
fn addresses(a: Option<&Address<'_>>) -> String {
    let Some(a) = a else { return String::new() };
    let shown: Vec<String> = a
        .iter()
        .map(|x| match (x.name(), x.address()) {
            (Some(n), Some(addr)) if !n.is_empty() => format!("{n} <{addr}>"),
            (_, Some(addr)) => addr.to_string(),
            (Some(n), None) => n.to_string(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    clip(&shown.join(", "), 20000)
}

fn attachment_list(msg: &Message<'_>) -> Vec<AttachmentMeta> {
    msg.attachments()
        .enumerate()
        .map(|(i, part)| {
            let content_type = part
                .content_type()
                .map(|c| match c.subtype() {
                    Some(s) => format!("{}/{}", c.ctype(), s),
                    None => c.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into());
            let inline = part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"));
            AttachmentMeta {
                index: i as u32,
                filename: part.attachment_name().map(str::to_string).unwrap_or_else(|| format!("attachment-{}", i + 1)),
                content_type: content_type.to_ascii_lowercase(),
                size: part.contents().len() as i64,
                content_id: part.content_id().map(|c| c.trim_matches(['<', '>']).to_string()),
                inline,
            }
        })
        .collect()
}

/// The message's headers in order, values as written (folded lines joined).
pub fn headers(raw: &[u8]) -> Vec<(String, String)> {
    let Some(msg) = parser().parse_headers(raw) else { return Vec::new() };
    msg.headers()
        .iter()
        .map(|h| {
            let start = h.offset_start() as usize;
            let end = (h.offset_end() as usize).min(raw.len());
            let value = raw.get(start..end).map(String::from_utf8_lossy).unwrap_or_default();
            let value = value.split(['\r', '\n']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
            (h.name().to_string(), value)
        })
        .collect()
}

/// Attachment `index` (as listed by [`parse`]) with its bytes.
pub fn attachment(raw: &[u8], index: u32) -> Option<(AttachmentMeta, Vec<u8>)> {
    let msg = parser().parse(raw)?;
    let meta = attachment_list(&msg).into_iter().nth(index as usize)?;
    let bytes = msg.attachments().nth(index as usize)?.contents().to_vec();
    Some((meta, bytes))
}

/// Whether HTML loads anything from the network (images, styles, fonts): those stay blocked
/// until the reader asks for them.
pub fn has_remote_content(html: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    for marker in ["src=", "background=", "url(", "href=", "srcset="] {
        let mut rest = lower.as_str();
        while let Some(pos) = rest.find(marker) {
            rest = &rest[pos + marker.len()..];
            let value = rest.trim_start().trim_start_matches(['"', '\'', ' ']);
            let is_remote = value.starts_with("http://") || value.starts_with("https://") || value.starts_with("//");
            // Links (`<a href>`) are not loaded by themselves; stylesheets are.
            if is_remote && (marker != "href=" || lower.contains("<link")) {
                return true;
            }
        }
    }
    false
}

/// The HTML body with `cid:` references replaced by `data:` URLs of the matching inline
/// parts, so embedded images show without the frame reaching anything.
pub fn html_with_inline_images(raw: &[u8]) -> Option<String> {
    let msg = parser().parse(raw)?;
    if !msg.html_bodies().any(|p| p.is_text_html()) {
        return None;
    }
    let mut html = msg.body_html(0)?.into_owned();
    if !html.to_ascii_lowercase().contains("cid:") {
        return Some(html);
    }
    use base64::Engine;
    for part in msg.attachments() {
        let Some(cid) = part.content_id() else { continue };
        let cid = cid.trim_matches(['<', '>']);
        let ctype = part
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream")))
            .unwrap_or_else(|| "application/octet-stream".into());
        let data = format!("data:{};base64,{}", ctype.to_ascii_lowercase(), base64::engine::general_purpose::STANDARD.encode(part.contents()));
        html = html.replace(&format!("cid:{cid}"), &data);
    }
    Some(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"From: Shop <shop@example.com>\r\nTo: Ann <ann@example.com>, bob@example.com\r\nCc: c@example.com\r\nSubject: =?UTF-8?B?w5xiZXJ3ZWlzdW5nIPCfkrY=?=\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <abc@example.com>\r\nX-Long: one\r\n two\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Ann\r\n--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>Ann</b><img src=\"cid:logo1\"></p>\r\n--b2--\r\n--b1\r\nContent-Type: image/png\r\nContent-ID: <logo1>\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n";

    #[test]
    fn fields_bodies_and_attachments_are_read() {
        let p = parse(SAMPLE);
        assert_eq!(p.parse_error, None);
        assert_eq!(p.from, "Shop <shop@example.com>");
        assert_eq!(p.to, "Ann <ann@example.com>, bob@example.com");
        assert_eq!(p.cc, "c@example.com");
        assert_eq!(p.subject, "Überweisung 💶");
        assert_eq!(p.message_id, "abc@example.com");
        assert_eq!(p.sent_at.map(|d| d.to_rfc3339()), Some("2026-11-23T10:00:00+00:00".into()));
        assert_eq!(p.text_body.trim(), "Hello Ann");
        assert!(p.html_body.contains("<b>Ann</b>"));
        let names: Vec<_> = p.attachments.iter().map(|a| (a.filename.as_str(), a.content_type.as_str(), a.inline)).collect();
        assert_eq!(names, vec![("logo.png", "image/png", true), ("invoice.pdf", "application/pdf", false)]);
        assert_eq!(p.attachments[1].size, 9);
    }

    #[test]
    fn headers_keep_order_and_unfold() {
        let h = headers(SAMPLE);
        assert_eq!(h[0], ("From".to_string(), "Shop <shop@example.com>".to_string()));
        assert!(h.iter().any(|(n, v)| n == "X-Long" && v == "one two"), "{h:?}");
    }

    #[test]
    fn attachments_come_back_decoded_and_cid_images_inline() {
        let (meta, bytes) = attachment(SAMPLE, 1).unwrap();
        assert_eq!(meta.filename, "invoice.pdf");
        assert_eq!(bytes, b"%PDF-1.4\n");
        assert!(attachment(SAMPLE, 7).is_none());
        let html = html_with_inline_images(SAMPLE).unwrap();
        assert!(html.contains("src=\"data:image/png;base64,iVBORw0KGgo=\""), "{html}");
    }

    #[test]
    fn garbage_is_flagged_not_lost() {
        let p = parse(b"\x00\x01 not mail at all");
        assert!(p.parse_error.is_some(), "{p:?}");
        assert!(parse(b"").parse_error.is_some());
        assert!(headers(b"").is_empty());
    }

    #[test]
    fn plain_text_mail_has_no_html_view() {
        let p = parse(b"From: a@b.c\r\nSubject: hi\r\n\r\njust text\r\n");
        assert_eq!(p.html_body, "");
        assert_eq!(p.text_body.trim(), "just text");
        assert!(html_with_inline_images(b"From: a@b.c\r\nSubject: hi\r\n\r\njust text\r\n").is_none());
    }

    #[test]
    fn remote_content_is_detected() {
        assert!(has_remote_content("<img src=\"https://tracker.example/p.gif\">"));
        assert!(has_remote_content("<div style=\"background: url( 'http://x/y.png')\">"));
        assert!(has_remote_content("<img src=//cdn.example/x.png>"));
        assert!(!has_remote_content("<a href=\"https://example.com\">link</a><img src=\"data:image/png;base64,AA\">"));
    }
}
