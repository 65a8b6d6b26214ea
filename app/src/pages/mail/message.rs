//! The message view: who sent what to whom, the HTML body in a sandboxed iframe (served by
//! its own URL with a strict CSP, never inlined), text, headers, envelope, attachments, and
//! the actions (download the .eml, delete, release to a real address).
use super::list::PaperclipIcon;
use crate::api::mail::{DeleteMessage, ReleaseMessage};
use crate::components::mail::{clean, Sticky, FIELD};
use crate::components::ui::{fmt_time, nonempty, ErrorPanel, Loading, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD};
use crate::models::{human_size, AppError, MailboxInfo, MessageDetail};
use leptos::prelude::*;
use uuid::Uuid;

#[component]
pub fn MessagePane(message: Sticky<(), Result<Option<MessageDetail>, AppError>>, info: RwSignal<MailboxInfo>, on_deleted: Callback<Uuid>) -> impl IntoView {
    view! {
        <section class=format!("{CARD} min-w-0 self-start") aria-label="Message" data-testid="message-pane">
            <Suspense fallback=|| view! { <div class="px-4"><Loading /></div> }>
                {move || Suspend::new(async move {
                    let _ = message.initial.await;
                    move || match message.get().unwrap_or(Ok(None)) {
                        Ok(Some(d)) => view! { <MessageView d info on_deleted /> }.into_any(),
                        Ok(None) => view! {
                            <div class="px-6 py-16 text-center text-sm text-slate-500" data-testid="no-message-selected">
                                <p class="font-medium text-slate-700">"No message selected"</p>
                                <p class="mt-1">"Choose one from the list, or press j and k to move through it."</p>
                            </div>
                        }.into_any(),
                        Err(AppError::NotFound(_)) => view! {
                            <div class="px-6 py-16 text-center text-sm text-slate-500" data-testid="message-gone">
                                <p class="font-medium text-slate-700">"This message is no longer in the inbox"</p>
                                <p class="mt-1">"It was deleted, or removed by the retention settings."</p>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <div class="p-3"><ErrorPanel error=e /></div> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Html,
    Text,
    Headers,
    Raw,
}

impl Tab {
    const ALL: [Tab; 4] = [Tab::Html, Tab::Text, Tab::Headers, Tab::Raw];

    fn label(self) -> &'static str {
        match self {
            Tab::Html => "HTML",
            Tab::Text => "Text",
            Tab::Headers => "Headers",
            Tab::Raw => "Raw info",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Tab::Html => "html",
            Tab::Text => "text",
            Tab::Headers => "headers",
            Tab::Raw => "raw",
        }
    }
}

/// Inline style, not a class: `hidden` and `flex`/`inline-flex` fight over `display`.
fn shown(on: bool) -> &'static str {
    if on {
        ""
    } else {
        "display:none"
    }
}

#[component]
fn MessageView(d: MessageDetail, info: RwSignal<MailboxInfo>, on_deleted: Callback<Uuid>) -> impl IntoView {
    let id = d.id;
    let base = format!("/api/mail/messages/{id}");
    let tab = RwSignal::new(if d.has_html { Tab::Html } else { Tab::Text });
    let remote = RwSignal::new(false);
    let delete = ServerAction::<DeleteMessage>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            // Untracked: the callback navigates, and the router's signals must not re-run this.
            untrack(|| on_deleted.run(id));
        }
    });
    let releasing = RwSignal::new(false);
    let subject = if d.subject.trim().is_empty() { "(no subject)".to_string() } else { clean(&d.subject) };
    let html_src = {
        let base = base.clone();
        move || if remote.get() { format!("{base}/html?remote=1") } else { format!("{base}/html") }
    };
    let has_html = d.has_html;
    let field = |label: &'static str, value: String, testid: &'static str| {
        view! {
            <dt class="text-slate-500" style=shown(!value.trim().is_empty())>{label}</dt>
            <dd class="min-w-0 break-words text-slate-800" style=shown(!value.trim().is_empty()) data-testid=testid>{clean(&value)}</dd>
        }
    };
    view! {
        <div class="border-b border-slate-100 p-4" data-testid="message-view" data-id=id.to_string()>
            <div class="flex flex-wrap items-start justify-between gap-3">
                <h2 class="min-w-0 flex-1 break-words text-lg font-semibold text-slate-900" data-testid="message-subject">{subject}</h2>
                <div class="flex flex-wrap items-center gap-1.5">
                    <a class=BUTTON_SECONDARY href=format!("{base}/raw") rel="external" download="" data-testid="download-eml">"⇩ .eml"</a>
                    <button type="button" class=BUTTON_SECONDARY style=shown(d.can_release) data-testid="release-toggle"
                        on:click=move |_| releasing.update(|r| *r = !*r)>"Release…"</button>
                    <button type="button" class=BUTTON_DANGER style=shown(d.can_manage) data-testid="delete-message"
                        disabled=move || delete.pending().get()
                        on:click=move |_| { delete.dispatch(DeleteMessage { id }); }>"Delete"</button>
                </div>
            </div>
            <dl class="mt-2 grid grid-cols-[3.5rem_minmax(0,1fr)] gap-x-3 gap-y-0.5 text-sm">
                {field("From", d.from.clone(), "message-from")}
                {field("To", d.to.clone(), "message-to")}
                {field("Cc", d.cc.clone(), "message-cc")}
                {field("Date", d.sent_at.as_ref().map(fmt_time).unwrap_or_else(|| format!("{} (received)", fmt_time(&d.received_at))), "message-date")}
            </dl>
            <p class="mt-1 text-xs text-slate-500">{format!("Envelope {} → {} · {}", if d.envelope_from.is_empty() { "<>" } else { &d.envelope_from }, d.envelope_to.join(", "), human_size(d.size as i64))}</p>
            <p class="mt-2 rounded-md border border-amber-200 bg-amber-50 px-2.5 py-1.5 text-xs text-amber-900" style=shown(d.parse_error.is_some()) data-testid="parse-error">
                {nonempty(d.parse_error.clone().map(|e| format!("This message could not be parsed ({e}). The raw message is kept exactly as received: download the .eml.")).unwrap_or_default())}
            </p>
            {d.can_release.then(|| view! { <ReleaseForm id releasing info /> })}
            {move || delete.value().get().and_then(|r| r.err()).map(|e| view! { <p class="mt-2 text-xs text-rose-700" role="alert">{e.to_string()}</p> })}
        </div>
        <div class="flex items-center gap-1 border-b border-slate-100 px-3 pt-2" role="tablist" aria-label="Message parts">
            {Tab::ALL.into_iter().map(|t| {
                let disabled = t == Tab::Html && !has_html;
                view! {
                    <button type="button" role="tab" data-testid=format!("tab-{}", t.id()) disabled=disabled
                        aria-selected=move || (tab.get() == t).to_string()
                        class=move || format!("-mb-px rounded-t-md border px-3 py-1.5 text-xs font-medium disabled:cursor-not-allowed disabled:text-slate-300 {}",
                            if tab.get() == t { "border-slate-200 border-b-white bg-white text-slate-900" } else { "border-transparent text-slate-500 hover:text-slate-800" })
                        on:click=move |_| tab.set(t)>
                        {t.label()}
                    </button>
                }
            }).collect_view()}
        </div>
        <div role="tabpanel" data-testid="panel-html" style=move || shown(tab.get() == Tab::Html)>
            {if has_html {
                view! {
                    <div class="flex items-center justify-between gap-2 border-b border-slate-100 bg-amber-50 px-3 py-1.5 text-xs text-amber-900"
                         style=move || shown(d.html_has_remote && !remote.get()) data-testid="remote-blocked">
                        <span>"Remote images are blocked, so the sender cannot tell this mail was opened."</span>
                        <button type="button" class="rounded border border-amber-300 bg-white px-2 py-0.5 font-medium hover:bg-amber-100"
                            data-testid="load-remote" on:click=move |_| remote.set(true)>"Load remote images"</button>
                    </div>
                    <div class="px-3 pb-1 pt-2">
                        <iframe sandbox="" src=html_src referrerpolicy="no-referrer" title="Message HTML (sandboxed)"
                            class="block h-[60vh] w-full border-0 bg-white" data-testid="html-frame"></iframe>
                    </div>
                }.into_any()
            } else {
                view! { <p class="p-4 text-sm text-slate-500">"This message has no HTML part."</p> }.into_any()
            }}
        </div>
        <div role="tabpanel" data-testid="panel-text" style=move || shown(tab.get() == Tab::Text)>
            <div class="max-h-[62vh] overflow-auto whitespace-pre-wrap break-words p-4 font-mono text-[12.5px] leading-5 text-slate-800" data-testid="text-body">
                {if d.text_body.trim().is_empty() { "(This message has no text part.)".to_string() } else { clean(&d.text_body) }}
            </div>
        </div>
        <div role="tabpanel" data-testid="panel-headers" style=move || shown(tab.get() == Tab::Headers)>
            <p class="p-4 text-sm text-slate-500" style=shown(d.headers.is_empty())>"No headers could be read from this message."</p>
            <table class="w-full text-xs" data-testid="headers-table">
                <tbody class="divide-y divide-slate-100">
                    {d.headers.iter().map(|(name, value)| view! {
                        <tr>
                            <td class="w-40 whitespace-nowrap px-3 py-1 align-top font-mono font-medium text-slate-600">{clean(name)}</td>
                            <td class="break-all px-3 py-1 font-mono text-slate-800">{clean(value)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <div role="tabpanel" data-testid="panel-raw" style=move || shown(tab.get() == Tab::Raw)>
            <RawInfo d=d.clone() raw_href=format!("{base}/raw") />
        </div>
        <Attachments base d=d.clone() />
    }
}

#[component]
fn RawInfo(d: MessageDetail, raw_href: String) -> impl IntoView {
    let rows: Vec<(&'static str, String)> = vec![
        ("Received", fmt_time(&d.received_at)),
        ("Date header", d.sent_at.as_ref().map(fmt_time).unwrap_or_else(|| "missing or unreadable".into())),
        ("MAIL FROM", if d.envelope_from.is_empty() { "<> (bounce)".into() } else { d.envelope_from.clone() }),
        ("RCPT TO", d.envelope_to.join(", ")),
        ("Client", d.client_addr.clone()),
        ("HELO", d.helo.clone()),
        ("TLS", if d.tls { "yes (STARTTLS)".into() } else { "no".into() }),
        ("Size", format!("{} ({} bytes)", human_size(d.size as i64), d.size)),
        ("Message-ID", d.message_id.clone()),
        ("Parsing", d.parse_error.clone().map(|e| format!("failed: {e}")).unwrap_or_else(|| "ok".into())),
    ];
    view! {
        <div class="p-4 text-sm">
            <dl class="grid grid-cols-[7rem_minmax(0,1fr)] gap-x-3 gap-y-1" data-testid="raw-info">
                {rows.into_iter().map(|(k, v)| view! {
                    <dt class="text-xs text-slate-500">{k}</dt>
                    <dd class="break-all font-mono text-xs text-slate-800">{clean(&v)}</dd>
                }).collect_view()}
            </dl>
            <p class="mt-3 text-xs text-slate-500">
                "The .eml holds the exact bytes the app sent. "
                <a class="text-indigo-700 hover:underline" href=raw_href rel="external" download="">"Download it"</a>
                " to open it in a mail program."
            </p>
        </div>
    }
}

#[component]
fn Attachments(base: String, d: MessageDetail) -> impl IntoView {
    let count = d.attachments.len();
    view! {
        <div class="border-t border-slate-100 px-4 py-3" style=shown(count > 0) data-testid="attachments">
            <p class="mb-1.5 text-xs font-semibold uppercase tracking-wide text-slate-500">{format!("{count} attachment{}", if count == 1 { "" } else { "s" })}</p>
            <ul class="flex flex-wrap gap-2">
                {d.attachments.into_iter().map(|a| {
                    let name = if a.filename.trim().is_empty() { format!("attachment-{}", a.index + 1) } else { clean(&a.filename) };
                    view! {
                        <li>
                            <a href=format!("{base}/attachments/{}", a.index) rel="external" download=name.clone() data-testid="attachment-link"
                               class="flex items-center gap-2 rounded-md border border-slate-200 bg-slate-50 px-2.5 py-1.5 text-xs hover:border-indigo-300 hover:bg-indigo-50">
                                <span class="text-slate-400"><PaperclipIcon /></span>
                                <span class="max-w-[14rem] truncate font-medium text-slate-800" title=name.clone()>{name.clone()}</span>
                                <span class="text-slate-500">{format!("{} · {}{}", nonempty(a.content_type.clone()), human_size(a.size), if a.inline { " · inline" } else { "" })}</span>
                            </a>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
}

#[component]
fn ReleaseForm(id: Uuid, releasing: RwSignal<bool>, info: RwSignal<MailboxInfo>) -> impl IntoView {
    let release = ServerAction::<ReleaseMessage>::new();
    let allow = move || {
        info.with(|i| {
            if i.release_allow.is_empty() {
                "No address is on the release allow-list (ODOOOPS_MAIL_RELEASE_ALLOW), so every release is refused.".to_string()
            } else {
                format!("Allowed: {}", i.release_allow.join(", "))
            }
        })
    };
    let outcome = move || match release.value().get() {
        Some(Ok(reply)) => ("text-emerald-700", format!("Sent. The relay answered: {reply}")),
        Some(Err(e)) => ("text-rose-700", e.to_string()),
        None => ("text-slate-500", nonempty("")),
    };
    view! {
        <div class="mt-3 rounded-md border border-slate-200 bg-slate-50 p-3" style=move || shown(releasing.get()) data-testid="release-panel">
            <ActionForm action=release attr:class="flex flex-wrap items-center gap-2">
                <input type="hidden" name="id" value=id.to_string() />
                <label class="text-xs font-medium text-slate-600" for="release-to">"Send a copy, unchanged, to"</label>
                <input id="release-to" name="to" type="email" required class=format!("{FIELD} w-64") placeholder="someone@example.com"
                    autocomplete="email" data-testid="release-to" />
                <button type="submit" class=BUTTON disabled=move || release.pending().get() data-testid="release-send">
                    {move || if release.pending().get() { "Sending…" } else { "Send" }}
                </button>
            </ActionForm>
            <p class="mt-1.5 text-xs text-slate-500">{allow}</p>
            <p class=move || format!("mt-1 break-words text-xs {}", outcome().0) role="status" data-testid="release-outcome">{move || outcome().1}</p>
        </div>
    }
}
