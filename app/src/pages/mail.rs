//! The mail catcher: a project's inboxes (one card per environment) and one environment's
//! inbox: settings, a live message list and the message view. Search, selection and paging
//! live in the URL (`?q=`, `?m=`, `?offset=`), so a view can be shared.
mod list;
mod message;
mod overview;
mod settings;

use crate::api::mail::{get_mail_overview, get_message, get_mailbox, get_messages, ClearInbox, PAGE_SIZE};
use crate::components::mail::{sticky, use_mail_events, LiveIndicator, LiveState, Sticky, FIELD};
use crate::components::ui::{nonempty, urlencode, ErrorPanel, Loading, StageBadge, BUTTON_DANGER, CARD};
use crate::models::{AppError, MailOverview, MailboxInfo, MessageDetail, MessagePage};
use leptos::html::{Div, Input};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_location, use_navigate, use_params_map, use_query_map};
use leptos_router::NavigateOptions;
use list::{scroll_row_into_view, typing, MessageList};
use message::MessagePane;
pub use overview::MailOverviewPage;
use settings::MailboxSettings;
use uuid::Uuid;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_urls_leave_out_what_is_empty() {
        let u = InboxUrl { base: "/projects/p/mail/e".into() };
        assert_eq!(u.with("", 0, None), "/projects/p/mail/e");
        assert_eq!(u.with("a b", 50, None), "/projects/p/mail/e?q=a%20b&offset=50");
    }
}
