//! The mail catcher: a project's inboxes (one card per environment) and one environment's
//! inbox: settings, a live message list and the message view. Search, selection and paging
//! live in the URL (`?q=`, `?m=`, `?offset=`), so a view can be shared.
mod message;

use crate::api::mail::{get_mail_overview, get_message, get_mailbox, get_messages, ClearInbox, PAGE_SIZE};
use crate::components::builds::age;
use crate::components::mail::{clean, short_time, sticky, use_mail_events, LiveIndicator, LiveState, MailboxSettings, Sticky, FIELD};
use crate::components::ui::{fmt_time, nonempty, urlencode, EmptyState, ErrorPanel, Loading, PageHeader, StageBadge, BUTTON_DANGER, BUTTON_SECONDARY, CARD};
use crate::models::{human_size, AppError, InboxSummary, MailOverview, MailboxInfo, MessageDetail, MessagePage, MessageSummary, Stage};
use leptos::html::{Div, Input};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_location, use_navigate, use_params_map, use_query_map};
use leptos_router::NavigateOptions;
use message::MessagePane;
use uuid::Uuid;

#[component]
pub fn MailOverviewPage() -> impl IntoView {
    let params = use_params_map();
    let overview = Resource::new(move || params.read().get("slug").unwrap_or_default(), get_mail_overview);
    view! {
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! { <Overview o=o /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Overview(o: MailOverview) -> impl IntoView {
    let slug = o.project_slug.clone();
    let now = chrono::Utc::now();
    view! {
        <Title text=format!("Mail · {}", o.project_name) />
        <PageHeader title=format!("{} mail", o.project_name)
            subtitle="Mail the development and staging apps send is caught here and never reaches real inboxes.">
            <a class=BUTTON_SECONDARY href=format!("/projects/{}/builds", o.project_slug)>"Builds"</a>
            <a class=BUTTON_SECONDARY href=format!("/projects/{}", o.project_slug)>"Project"</a>
        </PageHeader>
        {o.inboxes.is_empty().then(|| view! {
            <EmptyState title="No environments" hint="This project has no environments yet, so there is nothing to send mail from." />
        })}
        <div class="grid gap-3 md:grid-cols-3" data-testid="inbox-cards">
            {o.inboxes.into_iter().map(|i| view! { <InboxCard i=i slug=slug.clone() now=now /> }).collect_view()}
        </div>
    }
}

#[component]
fn InboxCard(i: InboxSummary, slug: String, now: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let href = format!("/projects/{slug}/mail/{}", i.environment_id);
    let production = i.stage == Stage::Production;
    let last = match i.last_received {
        Some(t) => format!("Last mail {} ({})", age(&t, now), fmt_time(&t)),
        None if i.has_mailbox => "No mail yet.".to_string(),
        None => "No mail yet: open the inbox to get SMTP credentials.".to_string(),
    };
    view! {
        <div class=format!("{CARD} flex flex-col p-4") data-testid="inbox-card" data-env=i.environment_name.clone()>
            <div class="flex items-center justify-between gap-2">
                <a href=href.clone() class="font-medium text-slate-900 hover:text-indigo-700">{i.environment_name.clone()}</a>
                <StageBadge stage=i.stage />
            </div>
            {if production {
                view! {
                    <p class="mt-3 text-sm font-medium text-rose-800" data-testid="production-never-captured">"Production mail is never captured."</p>
                    <p class="mt-1 text-xs text-slate-500">"It goes to real recipients through the relay, or is refused when there is none."</p>
                    <a href=href class="mt-auto pt-3 text-sm text-indigo-700 hover:underline">"SMTP settings →"</a>
                }.into_any()
            } else {
                view! {
                    <p class="mt-3 text-2xl font-semibold tabular-nums text-slate-900" data-testid="inbox-count">{i.messages.to_string()}</p>
                    <p class="text-xs text-slate-500">{if i.messages == 1 { "message" } else { "messages" }}</p>
                    <p class="mt-2 text-xs text-slate-500">{last}</p>
                    <a href=href class=format!("{BUTTON_SECONDARY} mt-auto self-start") style="margin-top:0.75rem" data-testid="open-inbox">"Open inbox"</a>
                }.into_any()
            }}
        </div>
    }
}

/// `?q=&offset=&m=` for the inbox at `base`, leaving out what is empty.
#[derive(Clone)]
struct InboxUrl {
    base: String,
}

impl InboxUrl {
    fn with(&self, q: &str, offset: i64, m: Option<Uuid>) -> String {
        let mut parts = Vec::new();
        if !q.is_empty() {
            parts.push(format!("q={}", urlencode(q)));
        }
        if offset > 0 {
            parts.push(format!("offset={offset}"));
        }
        if let Some(m) = m {
            parts.push(format!("m={m}"));
        }
        if parts.is_empty() {
            self.base.clone()
        } else {
            format!("{}?{}", self.base, parts.join("&"))
        }
    }
}

/// The inbox's data. Every resource is created here, at the top of the page: resources
/// created inside a `Suspend` get different ids during server rendering than during
/// hydration (the layout renders its children twice on the server), so their data would
/// not line up. The same goes for chaining two server functions in one resource.
#[derive(Clone, Copy)]
struct InboxData {
    q: Memo<String>,
    offset: Memo<i64>,
    selected: Memo<Option<Uuid>>,
    messages: Sticky<Option<Uuid>, Result<MessagePage, AppError>>,
    message: Sticky<(), Result<Option<MessageDetail>, AppError>>,
}

#[component]
pub fn InboxPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let slug = Memo::new(move |_| params.read().get("slug").unwrap_or_default());
    let env = Memo::new(move |_| params.read().get("env").unwrap_or_default());
    // `:env` is the environment's id; a name is redirected to it once the overview is known.
    let env_id = Memo::new(move |_| Uuid::parse_str(&env.get()).ok());
    let q = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let offset = Memo::new(move |_| query.read().get("offset").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0).max(0));
    let selected = Memo::new(move |_| query.read().get("m").and_then(|s| Uuid::parse_str(&s).ok()));
    let overview = Resource::new(move || slug.get(), get_mail_overview);
    let mailbox = Resource::new(
        move || env_id.get(),
        |id| async move {
            match id {
                Some(id) => get_mailbox(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    // Server-rendered, then kept current in place (live updates, search, paging, selection).
    let messages = sticky(
        move || env_id.get(),
        move || (q.get(), offset.get()),
        |id, (q, offset)| async move {
            match id {
                Some(id) => get_messages(id, q, offset).await,
                None => Ok(MessagePage { items: Vec::new(), total: 0, offset: 0, limit: PAGE_SIZE }),
            }
        },
    );
    let message = sticky(
        || (),
        move || selected.get(),
        |(), id| async move {
            match id {
                Some(id) => get_message(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let data = InboxData { q, offset, selected, messages, message };
    let location = use_location();
    view! {
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match (overview.await, mailbox.await) {
                    (Ok(overview), Ok(Some(info))) => view! { <Inbox overview info data /> }.into_any(),
                    (Ok(overview), Ok(None)) => {
                        let env = env.get_untracked();
                        match overview.inboxes.iter().find(|i| i.environment_name == env) {
                            Some(i) => {
                                let search = location.search.get_untracked();
                                let to = format!("/projects/{}/mail/{}{}{search}", overview.project_slug, i.environment_id, if search.is_empty() { "" } else { "?" });
                                view! { <Redirect path=to /> }.into_any()
                            }
                            None => {
                                let e = AppError::NotFound(format!("environment “{env}” in {}", overview.project_name));
                                #[cfg(feature = "ssr")]
                                crate::auth::session::set_status(&e);
                                view! { <ErrorPanel error=e /> }.into_any()
                            }
                        }
                    }
                    (Err(e), _) | (_, Err(e)) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Inbox(overview: MailOverview, info: MailboxInfo, data: InboxData) -> impl IntoView {
    let InboxData { q, offset, selected, messages, message } = data;
    let env_id = info.environment_id;
    let url = InboxUrl { base: format!("/projects/{}/mail/{}", info.project_slug, env_id) };
    let live = RwSignal::new(LiveState::Connecting);
    // Production mail is never stored: nothing to follow.
    if info.captured {
        use_mail_events(env_id, live, move || messages.reload());
    }

    let navigate = use_navigate();
    let go = {
        let navigate = navigate.clone();
        move |href: String, replace: bool| navigate(&href, NavigateOptions { replace, scroll: false, ..Default::default() })
    };
    let list_ref = NodeRef::<Div>::new();
    // j / k (and the arrow keys inside the list) move the selection within the page.
    let step = {
        let (url, go) = (url.clone(), go.clone());
        move |delta: i64| {
            let Some(Ok(page)) = messages.get_untracked() else { return };
            let ids: Vec<Uuid> = page.items.iter().map(|m| m.id).collect();
            if ids.is_empty() {
                return;
            }
            let next = match selected.get_untracked().and_then(|s| ids.iter().position(|id| *id == s)) {
                Some(i) => (i as i64 + delta).clamp(0, ids.len() as i64 - 1) as usize,
                None => 0,
            };
            go(url.with(&q.get_untracked(), offset.get_untracked(), Some(ids[next])), true);
            scroll_row_into_view(list_ref, ids[next]);
        }
    };
    let keys = window_event_listener(leptos::ev::keydown, {
        let step = step.clone();
        move |ev| {
            if ev.ctrl_key() || ev.meta_key() || ev.alt_key() || typing(&ev) {
                return;
            }
            match ev.key().as_str() {
                "j" => step(1),
                "k" => step(-1),
                _ => {}
            }
        }
    });
    on_cleanup(move || keys.remove());
    let on_list_key = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "ArrowDown" => {
            ev.prevent_default();
            step(1)
        }
        "ArrowUp" => {
            ev.prevent_default();
            step(-1)
        }
        _ => {}
    };

    // After a delete: the next message of the page (or the previous one), and a fresh list.
    let after_delete = {
        let (url, go) = (url.clone(), go.clone());
        Callback::new(move |deleted: Uuid| {
            let next = messages.get_untracked().and_then(|r| r.ok()).and_then(|page| {
                let i = page.items.iter().position(|m| m.id == deleted)?;
                page.items.get(i + 1).or_else(|| i.checked_sub(1).and_then(|j| page.items.get(j))).map(|m| m.id)
            });
            go(url.with(&q.get_untracked(), offset.get_untracked(), next), true);
            messages.reload();
        })
    };

    let info = RwSignal::new(info);
    let i = info.get_untracked();
    let banner = (!i.captured).then(|| view! {
        <div class="mb-4 rounded-lg border border-rose-200 bg-rose-50 px-4 py-3 text-sm text-rose-900" role="note" data-testid="production-banner">
            <p class="font-semibold">"Production mail is never captured."</p>
            <p class="mt-0.5">{if i.relay_configured {
                "Mail the production app sends with these credentials goes to its real recipients through the relay. Nothing is stored here."
            } else {
                "No relay is configured, so the console refuses mail the production app sends with these credentials. Nothing is stored here."
            }}</p>
        </div>
    });
    let header_url = url.clone();
    let panes = i.captured.then(|| view! {
        <div class="grid gap-4 lg:grid-cols-[minmax(0,2fr)_minmax(0,3fr)]">
            <section class=format!("{CARD} flex min-w-0 flex-col self-start overflow-hidden") aria-label="Messages">
                <Suspense fallback=|| view! { <div class="px-4"><Loading /></div> }>
                    {
                        let url = url.clone();
                        move || {
                            let (url, on_key) = (url.clone(), on_list_key.clone());
                            Suspend::new(async move {
                                let _ = messages.initial.await;
                                move || match messages.get() {
                                    Some(Ok(page)) => view! { <MessageList page info url=url.clone() q selected list_ref on_key=on_key.clone() /> }.into_any(),
                                    Some(Err(e)) => view! { <div class="p-3"><ErrorPanel error=e /></div> }.into_any(),
                                    None => view! { <div class="px-4"><Loading /></div> }.into_any(),
                                }
                            })
                        }
                    }
                </Suspense>
            </section>
            <MessagePane message info on_deleted=after_delete />
        </div>
    });
    // Open at first when there is nothing to read yet: that is when someone needs it.
    let settings_open = i.message_count == 0 || !i.captured;
    view! {
        <Title text=format!("Mail · {} · {}", i.environment_name, i.project_name) />
        <InboxHeader overview=overview info=i.clone() url=header_url q=q messages=messages live=live />
        {banner}
        <MailboxSettings info open=settings_open />
        {panes}
    }
}

/// Whether a key press belongs to a form field (then it is typing, not a shortcut).
fn typing(ev: &leptos::ev::KeyboardEvent) -> bool {
    use leptos::wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT") || el.has_attribute("contenteditable"))
}

/// Scrolls the list just enough to show the message's row.
fn scroll_row_into_view(list: NodeRef<Div>, id: Uuid) {
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
fn InboxHeader(
    overview: MailOverview,
    info: MailboxInfo,
    url: InboxUrl,
    q: Memo<String>,
    messages: Sticky<Option<Uuid>, Result<MessagePage, AppError>>,
    live: RwSignal<LiveState>,
) -> impl IntoView {
    let navigate = use_navigate();
    let search_ref = NodeRef::<Input>::new();
    let search_url = url.clone();
    let on_search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = search_ref.get_untracked().map(|i| i.value()).unwrap_or_default();
        navigate(&search_url.with(text.trim(), 0, None), NavigateOptions { scroll: false, ..Default::default() });
    };
    let clear = ServerAction::<ClearInbox>::new();
    let confirming = RwSignal::new(false);
    let cleared_url = url.clone();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = clear.value().get() {
            // Untracked: navigating reads the router's signals, which would re-run this.
            untrack(|| {
                confirming.set(false);
                navigate(&cleared_url.with("", 0, None), NavigateOptions { replace: true, scroll: false, ..Default::default() });
                messages.reload();
            });
        }
    });
    let shown = |on: bool| if on { "" } else { "display:none" };
    let env_id = info.environment_id;
    let count = move || {
        messages.get().and_then(|r| r.ok()).map(|p| {
            let noun = if p.total == 1 { "message" } else { "messages" };
            if q.get().is_empty() { format!("{} {noun}", p.total) } else { format!("{} {noun} match", p.total) }
        })
    };
    let slug = overview.project_slug.clone();
    view! {
        <nav class="mb-1 flex flex-wrap items-center gap-1.5 text-xs text-slate-500" aria-label="Breadcrumb" data-testid="breadcrumb">
            <a class="hover:text-indigo-700" href=format!("/projects/{slug}")>{overview.project_name.clone()}</a>
            <span>"/"</span>
            <a class="hover:text-indigo-700" href=format!("/projects/{slug}/mail")>"Mail"</a>
            <span>"/"</span>
            <span class="text-slate-700">{info.environment_name.clone()}</span>
        </nav>
        <div class="mb-3 flex flex-wrap items-center justify-between gap-3">
            <div class="flex min-w-0 flex-wrap items-center gap-2.5">
                <h1 class="text-xl font-semibold text-slate-900">{format!("{} inbox", info.environment_name)}</h1>
                <StageBadge stage=info.stage />
                <span class="text-sm tabular-nums text-slate-500" style=shown(info.captured) data-testid="message-count">
                    <Suspense fallback=move || format!("{} messages", info.message_count)>
                        {move || nonempty(count().unwrap_or_else(|| format!("{} messages", info.message_count)))}
                    </Suspense>
                </span>
                <span style=shown(info.captured)><LiveIndicator state=live /></span>
            </div>
            <div class="flex flex-wrap items-center gap-2" style=shown(info.captured)>
                <form method="get" action=url.base.clone() on:submit=on_search class="flex items-center gap-1.5" role="search" data-testid="mail-search">
                    <input node_ref=search_ref type="search" name="q" class=format!("{FIELD} w-72") placeholder="Search mail (subject, address, text)"
                        aria-label="Search this inbox" maxlength="500" prop:value=move || q.get() data-testid="mail-search-input" />
                </form>
                {info.can_manage.then(|| view! {
                    <button type="button" class=BUTTON_DANGER style=move || shown(!confirming.get()) data-testid="clear-inbox"
                        on:click=move |_| confirming.set(true)>"Clear inbox"</button>
                    <span class="inline-flex items-center gap-1.5 text-xs" style=move || shown(confirming.get()) data-testid="clear-confirm">
                        <span class="text-slate-700">"Delete every message?"</span>
                        <button type="button" class="rounded bg-rose-600 px-2 py-1 font-medium text-white hover:bg-rose-500 disabled:opacity-50"
                            data-testid="confirm-clear" disabled=move || clear.pending().get()
                            on:click=move |_| { clear.dispatch(ClearInbox { env_id }); }>"Delete all"</button>
                        <button type="button" class="text-slate-500 hover:underline" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </span>
                    <span class="text-xs text-rose-700" role="alert">
                        {move || nonempty(clear.value().get().and_then(|r| r.err()).map(|e| e.to_string()).unwrap_or_default())}
                    </span>
                })}
            </div>
        </div>
        <div class="mb-3 flex flex-wrap gap-1" data-testid="inbox-tabs">
            {overview.inboxes.iter().map(|e| {
                let current = e.environment_id == env_id;
                let class = if current {
                    "rounded-md bg-slate-900 px-2.5 py-1 text-xs font-medium text-white"
                } else {
                    "rounded-md border border-slate-200 bg-white px-2.5 py-1 text-xs text-slate-600 hover:bg-slate-50"
                };
                view! { <a class=class href=format!("/projects/{slug}/mail/{}", e.environment_id) aria-current=current.then_some("page")>{e.environment_name.clone()}</a> }
            }).collect_view()}
        </div>
    }
}

#[component]
fn MessageList(
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

    #[test]
    fn inbox_urls_leave_out_what_is_empty() {
        let u = InboxUrl { base: "/projects/p/mail/e".into() };
        assert_eq!(u.with("", 0, None), "/projects/p/mail/e");
        assert_eq!(u.with("a b", 50, None), "/projects/p/mail/e?q=a%20b&offset=50");
    }
}
