//! The inbox list: one row per message (newest first), paging, the empty states, and the
//! keyboard helpers that move the selection.
use super::InboxUrl;
use crate::api::mail::PAGE_SIZE;
use crate::components::mail::{clean, short_time};
use crate::components::ui::{fmt_time, EmptyState};
use crate::models::{human_size, MailboxInfo, MessagePage, MessageSummary};
use leptos::html::Div;
use leptos::prelude::*;
use uuid::Uuid;

/// Whether a key press belongs to a form field (then it is typing, not a shortcut).
pub fn typing(ev: &leptos::ev::KeyboardEvent) -> bool {
    use leptos::wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT") || el.has_attribute("contenteditable"))
}

/// Scrolls the list just enough to show the message's row.
pub fn scroll_row_into_view(list: NodeRef<Div>, id: Uuid) {
    use leptos::wasm_bindgen::JsCast;
    let Some(list) = list.get_untracked() else { return };
    let Ok(Some(row)) = list.query_selector(&format!("[data-id=\"{id}\"]")) else { return };
    let Ok(row) = row.dyn_into::<leptos::web_sys::HtmlElement>() else { return };
    let (top, bottom) = (row.offset_top(), row.offset_top() + row.offset_height());
    if top < list.scroll_top() {
        list.set_scroll_top(top);
    } else if bottom > list.scroll_top() + list.client_height() {
        list.set_scroll_top(bottom - list.client_height());
    }
}


#[component]
pub fn MessageList(
    page: MessagePage,
    info: RwSignal<MailboxInfo>,
    url: InboxUrl,
    q: Memo<String>,
    selected: Memo<Option<Uuid>>,
    list_ref: NodeRef<Div>,
    on_key: impl Fn(leptos::ev::KeyboardEvent) + 'static,
) -> impl IntoView {
    let query = q.get_untracked();
    let now = chrono::Utc::now();
    let (first, last) = (page.offset + 1, page.offset + page.items.len() as i64);
    let newer = (page.offset > 0).then(|| url.with(&query, (page.offset - PAGE_SIZE).max(0), None));
    let older = (last < page.total).then(|| url.with(&query, page.offset + PAGE_SIZE, None));
    let range = if page.items.is_empty() { "Newest first".to_string() } else { format!("{first}–{last} of {}", page.total) };
    let empty = page.items.is_empty().then(|| empty_list(&info.get_untracked(), &query, page.total, &url));
    let pager = |href: Option<String>, label: &'static str, testid: &'static str| {
        let on = href.is_some();
        view! {
            <a href=href.unwrap_or_default() data-testid=testid aria-disabled=(!on).to_string()
               class=if on { "rounded px-1.5 py-0.5 text-indigo-700 hover:bg-indigo-50" } else { "pointer-events-none rounded px-1.5 py-0.5 text-slate-300" }>
                {label}
            </a>
        }
    };
    view! {
        <div class="flex items-center justify-between gap-2 border-b border-slate-100 bg-slate-50 px-3 py-1.5 text-xs text-slate-500">
            <span data-testid="list-range">{range}</span>
            <span class="flex items-center gap-1">
                {pager(newer, "‹ Newer", "page-newer")}
                {pager(older, "Older ›", "page-older")}
            </span>
        </div>
        {empty}
        <div node_ref=list_ref class="relative max-h-[70vh] overflow-y-auto focus:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-indigo-200"
             tabindex="0" on:keydown=on_key data-testid="message-list" aria-label="Messages, newest first (j / k to move)">
            {page.items.into_iter().map(|m| {
                let href = url.with(&query, page.offset, Some(m.id));
                view! { <MessageRow m href selected now /> }
            }).collect_view()}
        </div>
    }
}

/// What an empty list says, with the next step.
fn empty_list(info: &MailboxInfo, q: &str, total: i64, url: &InboxUrl) -> AnyView {
    let (title, hint) = if !info.captured {
        ("Production mail is never captured".to_string(), "The production app's mail goes to real recipients (or is refused); nothing is stored here.".to_string())
    } else if !q.is_empty() {
        (format!("No messages match “{q}”"), "The search looks at subjects, addresses and the text of each message. Clear the box to see every message.".to_string())
    } else if total > 0 {
        ("Nothing on this page".to_string(), "The inbox changed since this page was opened; go back to the newest messages.".to_string())
    } else {
        (
            "No mail yet".to_string(),
            format!("Point the app's outgoing mail server at {}:{} with the credentials in SMTP settings above. New mail shows up here at once.", info.smtp_host, info.smtp_port),
        )
    };
    view! {
        <div class="p-3">
            <EmptyState title hint />
            {(total > 0 || !q.is_empty()).then(|| view! { <p class="mt-2 text-center text-xs"><a class="text-indigo-700 hover:underline" href=url.with("", 0, None)>"Show the newest messages"</a></p> })}
        </div>
    }
    .into_any()
}

#[component]
fn MessageRow(m: MessageSummary, href: String, selected: Memo<Option<Uuid>>, now: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let id = m.id;
    let is_selected = move || selected.get() == Some(id);
    let subject = if m.subject.trim().is_empty() { "(no subject)".to_string() } else { clean(&m.subject) };
    let shown = |on: bool| if on { "" } else { "display:none" };
    view! {
        <a href=href data-noscroll="" data-testid="message-row" data-id=id.to_string() data-selected=move || is_selected().to_string()
           aria-current=move || is_selected().then_some("true")
           class=move || format!("block border-b border-l-4 border-b-slate-100 px-3 py-1.5 text-sm {}",
               if is_selected() { "border-l-indigo-500 bg-indigo-50" } else { "border-l-transparent hover:bg-slate-50" })>
            <div class="flex items-baseline justify-between gap-2">
                <span class="truncate font-medium text-slate-900" title=clean(&m.from) data-testid="row-from">{clean(&display_name(&m.from))}</span>
                <span class="shrink-0 text-[11px] tabular-nums text-slate-500" title=fmt_time(&m.received_at)>{short_time(&m.received_at, now)}</span>
            </div>
            <div class="flex items-center gap-1.5">
                <span class="truncate text-slate-700" data-testid="row-subject">{subject}</span>
                <span class="ml-auto flex shrink-0 items-center gap-1">
                    <span class="text-slate-400" style=shown(m.attachments > 0) title=format!("{} attachment(s)", m.attachments) data-testid="row-attachments">
                        <PaperclipIcon />
                    </span>
                    <span class="rounded bg-amber-100 px-1 text-[10px] font-semibold uppercase text-amber-800" style=shown(m.parse_failed)
                          title="The MIME structure could not be parsed; the raw message is kept" data-testid="row-unparsed">"unparsed"</span>
                </span>
            </div>
            <div class="flex items-baseline justify-between gap-2 text-[11px] text-slate-500">
                <span class="truncate" title=clean(&m.to)>{clean(&format!("to {}", display_name(&m.to)))}</span>
                <span class="shrink-0 tabular-nums">{human_size(m.size as i64)}</span>
            </div>
        </a>
    }
}

/// `Jane Doe <jane@example.com>` reads as `Jane Doe` in the list (the first of several
/// addresses, with `+2` for the rest); a bare address stays as it is.
fn display_name(addresses: &str) -> String {
    let list: Vec<&str> = addresses.split(">,").map(str::trim).filter(|a| !a.is_empty()).collect();
    let first = list.first().copied().unwrap_or(addresses);
    let name = match first.split_once('<') {
        Some((name, addr)) => {
            let name = name.trim().trim_matches('"').trim();
            if name.is_empty() { addr.trim_end_matches('>').trim().to_string() } else { name.to_string() }
        }
        None => first.to_string(),
    };
    if list.len() > 1 {
        format!("{name} +{}", list.len() - 1)
    } else {
        name
    }
}

#[component]
pub fn PaperclipIcon() -> impl IntoView {
    view! {
        <svg class="h-3.5 w-3.5" viewBox="0 0 20 20" fill="none" stroke="currentColor" stroke-width="1.6" aria-hidden="true">
            <path d="M15.5 9.5l-5.8 5.8a3.5 3.5 0 01-5-5l6.5-6.5a2.3 2.3 0 013.3 3.3l-6.4 6.4a1.2 1.2 0 01-1.7-1.7l5.6-5.6" stroke-linecap="round" stroke-linejoin="round" />
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_shows_names_not_full_addresses() {
        assert_eq!(display_name("Jane Doe <jane@example.com>"), "Jane Doe");
        assert_eq!(display_name("\"Doe, Jane\" <jane@example.com>"), "Doe, Jane");
        assert_eq!(display_name("<jane@example.com>"), "jane@example.com");
        assert_eq!(display_name("jane@example.com"), "jane@example.com");
        assert_eq!(display_name("A <a@x.test>, B <b@x.test>, c@x.test"), "A +2");
    }
}
