//! Mail catcher pieces: the live-update hook and indicator, the mailbox settings panel, and
//! small helpers (times, text that is safe to hydrate, the clipboard).
use crate::api::mail::{get_mailbox, RotateMailCredentials, SetMailRetention};
use crate::components::ui::{nonempty, BUTTON_SECONDARY, CARD, LABEL};
use crate::models::{AppError, MailboxInfo};
use chrono::{DateTime, Datelike, Utc};
use leptos::prelude::*;
use uuid::Uuid;

/// An input without `block w-full` (ui::INPUT), for fields sized by their content.
pub const FIELD: &str = "rounded-md border border-slate-300 bg-white px-2.5 py-1.5 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-200";

/// The inbox's live connection, as the indicator shows it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LiveState {
    Connecting,
    Live,
    Reconnecting,
    /// The server refused the stream (signed out, or the inbox is gone): reload to retry.
    Off,
}

impl LiveState {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveState::Connecting => "connecting",
            LiveState::Live => "live",
            LiveState::Reconnecting => "reconnecting",
            LiveState::Off => "off",
        }
    }
}

/// Calls `on_mail` whenever mail arrives in the inbox of `env_id`, and again after a
/// reconnect (events may have been missed while the stream was down). SSE, browser only;
/// the stream is closed when the calling component unmounts.
pub fn use_mail_events(env_id: Uuid, state: RwSignal<LiveState>, on_mail: impl Fn() + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use std::cell::Cell;
        use std::rc::Rc;
        use wasm_bindgen::prelude::*;
        let url = format!("/api/mail/events?env={env_id}");
        let Ok(es) = web_sys::EventSource::new(&url) else {
            state.set(LiveState::Off);
            return;
        };
        let on_mail = Rc::new(on_mail);
        let connected_before = Rc::new(Cell::new(false));
        let refetch = on_mail.clone();
        let on_ready = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |_| {
            state.set(LiveState::Live);
            if connected_before.replace(true) {
                refetch();
            }
        });
        let _ = es.add_event_listener_with_callback("ready", on_ready.as_ref().unchecked_ref());
        on_ready.forget();
        let on_new = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |_| on_mail());
        let _ = es.add_event_listener_with_callback("mail", on_new.as_ref().unchecked_ref());
        on_new.forget();
        let source = es.clone();
        let on_error = Closure::<dyn Fn()>::new(move || {
            // CLOSED (2): the browser gives up (e.g. a 401); otherwise it retries by itself.
            state.set(if source.ready_state() == 2 { LiveState::Off } else { LiveState::Reconnecting });
        });
        es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        let holder = StoredValue::new_local(Some(es));
        on_cleanup(move || {
            if let Some(es) = holder.try_update_value(|v| v.take()).flatten() {
                es.close();
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (env_id, state, on_mail);
    }
}

/// Data rendered on the server, then kept current in the browser without flashing.
///
/// `initial` is a resource for the first render (await it inside a `Suspense`). Afterwards,
/// when `key` changes or [`Sticky::reload`] is called, the value is fetched in the
/// background and swapped in when it arrives: no spinner replaces what is on screen, and an
/// answer that arrives after a newer request was made is dropped. `scope` is what the
/// resource itself is keyed on (a new scope loads through the resource again).
pub struct Sticky<S: Send + Sync + 'static, T: Send + Sync + 'static> {
    pub initial: Resource<T>,
    scope: Signal<S>,
    fresh: RwSignal<Option<(S, T)>>,
    reload: Callback<()>,
}

impl<S: Send + Sync + 'static, T: Send + Sync + 'static> Clone for Sticky<S, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Send + Sync + 'static, T: Send + Sync + 'static> Copy for Sticky<S, T> {}

impl<S, T> Sticky<S, T>
where
    S: Clone + PartialEq + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// The newest value for the current scope (tracked).
    pub fn get(&self) -> Option<T> {
        let scope = self.scope.get();
        self.fresh.with(|f| f.as_ref().filter(|(s, _)| *s == scope).map(|(_, v)| v.clone())).or_else(|| self.initial.get())
    }

    pub fn get_untracked(&self) -> Option<T> {
        untrack(|| self.get())
    }

    /// Fetches again for the current scope and key (browser only).
    pub fn reload(&self) {
        self.reload.run(());
    }
}

pub fn sticky<S, K, T, Fut>(
    scope: impl Fn() -> S + Clone + Send + Sync + 'static,
    key: impl Fn() -> K + Clone + Send + Sync + 'static,
    fetch: impl Fn(S, K) -> Fut + Clone + Send + Sync + 'static,
) -> Sticky<S, T>
where
    S: Clone + PartialEq + Send + Sync + 'static,
    K: Clone + PartialEq + Send + Sync + 'static,
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let initial = Resource::new(scope.clone(), {
        let (key, fetch) = (key.clone(), fetch.clone());
        move |s| fetch(s, untrack(&key))
    });
    let fresh = RwSignal::new(None::<(S, T)>);
    let latest = StoredValue::new(0_u64);
    let reload = Callback::new({
        let (scope, key) = (scope.clone(), key.clone());
        move |()| {
            let (s, k) = (untrack(&scope), untrack(&key));
            latest.update_value(|n| *n += 1);
            let mine = latest.get_value();
            let answer = fetch(s.clone(), k);
            leptos::task::spawn_local(async move {
                let value = answer.await;
                if latest.try_get_value() == Some(mine) {
                    fresh.try_set(Some((s, value)));
                }
            });
        }
    });
    // Once the first value is in, keep a copy beside the resource (silently: what is on
    // screen already shows it), so event handlers can read it without touching the resource
    // outside a <Suspense/>.
    Effect::new({
        let scope = scope.clone();
        move |_| {
            if let Some(value) = initial.get() {
                let s = untrack(&scope);
                if fresh.with_untracked(|f| f.as_ref().is_none_or(|(fs, _)| *fs != s)) {
                    fresh.update_untracked(|f| *f = Some((s, value)));
                }
            }
        }
    });
    // Effects run in the browser only: the first run notes the key the page was rendered with.
    Effect::new({
        let (scope, key) = (scope.clone(), key);
        move |prev: Option<(S, K)>| {
            let now = (scope(), key());
            if prev.is_some_and(|(s, k)| s == now.0 && k != now.1) {
                reload.run(());
            }
            now
        }
    });
    Sticky { initial, scope: Signal::derive(scope), fresh, reload }
}

/// A dot and a word: live, connecting, reconnecting or off. One fixed element.
#[component]
pub fn LiveIndicator(state: RwSignal<LiveState>) -> impl IntoView {
    let (dot, text, label) = (
        move || match state.get() {
            LiveState::Live => "h-2 w-2 rounded-full bg-emerald-500 animate-pulse",
            LiveState::Connecting => "h-2 w-2 rounded-full bg-sky-400",
            LiveState::Reconnecting => "h-2 w-2 rounded-full bg-amber-400",
            LiveState::Off => "h-2 w-2 rounded-full bg-slate-300",
        },
        move || match state.get() {
            LiveState::Live => "text-emerald-700",
            LiveState::Connecting => "text-sky-700",
            LiveState::Reconnecting => "text-amber-700",
            LiveState::Off => "text-slate-500",
        },
        move || match state.get() {
            LiveState::Live => "live",
            LiveState::Connecting => "connecting…",
            LiveState::Reconnecting => "reconnecting…",
            LiveState::Off => "not live: reload the page",
        },
    );
    view! {
        <span class=move || format!("inline-flex items-center gap-1.5 text-xs font-medium {}", text())
              data-testid="live-status" data-status=move || state.get().as_str()
              title="New mail appears in the list without reloading">
            <span class=dot></span>
            {label}
        </span>
    }
}

/// Text from a mail (subjects, addresses, bodies) made safe to render and hydrate: the HTML
/// parser drops NUL characters and folds CR LF, so a text node could differ or vanish.
pub fn clean(s: &str) -> String {
    let s: String = s.replace("\r\n", "\n").chars().filter(|c| *c != '\0' && (!c.is_control() || *c == '\n' || *c == '\t')).collect();
    if s.trim().is_empty() {
        nonempty("")
    } else {
        s
    }
}

/// Compact time for the list: the hour today, the day this year, the date before (UTC, like
/// every other time in the console).
pub fn short_time(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M").to_string()
    } else if t.year() == now.year() {
        t.format("%b %-d").to_string()
    } else {
        t.format("%Y-%m-%d").to_string()
    }
}

/// Puts `text` on the clipboard (browser only) and reports the outcome to `done`.
#[allow(unused_variables)]
pub fn copy_to_clipboard(text: &str, done: impl Fn(bool) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::prelude::*;
        use web_sys::js_sys::{Function, Promise, Reflect};
        let write = || -> Option<Promise> {
            let clipboard = Reflect::get(&Reflect::get(&window(), &"navigator".into()).ok()?, &"clipboard".into()).ok()?;
            let write_text: Function = Reflect::get(&clipboard, &"writeText".into()).ok()?.dyn_into().ok()?;
            write_text.call1(&clipboard, &JsValue::from_str(text)).ok()?.dyn_into().ok()
        };
        let Some(promise) = write() else {
            done(false);
            return;
        };
        let done = std::rc::Rc::new(done);
        let failed = done.clone();
        let ok = Closure::<dyn FnMut(JsValue)>::new(move |_| done(true));
        let err = Closure::<dyn FnMut(JsValue)>::new(move |_| failed(false));
        let _ = promise.then2(&ok, &err);
        ok.forget();
        err.forget();
    }
}

/// A "Copy" button with a short confirmation.
#[component]
pub fn CopyButton(#[prop(into)] text: Signal<String>, #[prop(into)] testid: String) -> impl IntoView {
    let state = RwSignal::new(None::<bool>);
    view! {
        <button type="button" class="rounded border border-slate-300 bg-white px-1.5 py-0.5 text-[11px] font-medium text-slate-600 hover:bg-slate-50"
            data-testid=testid
            on:click=move |_| {
                copy_to_clipboard(&text.get_untracked(), move |ok| state.set(Some(ok)));
            }>
            {move || match state.get() {
                None => "Copy",
                Some(true) => "Copied ✓",
                Some(false) => "Select and copy",
            }}
        </button>
    }
}

/// Where the environment's app sends mail, with which credentials, and how long mail stays.
/// Collapsible; open at first when the inbox is empty (that is when someone needs it).
#[component]
pub fn MailboxSettings(info: RwSignal<MailboxInfo>, open: bool) -> impl IntoView {
    let i = info.get_untracked();
    let env_id = i.environment_id;
    let reveal = RwSignal::new(false);
    let reload = move || {
        leptos::task::spawn_local(async move {
            if let Ok(fresh) = get_mailbox(env_id).await {
                info.set(fresh);
            }
        });
    };
    let host = move || info.with(|i| i.smtp_host.clone());
    let port = move || info.with(|i| i.smtp_port);
    let username = Signal::derive(move || info.with(|i| i.username.clone()));
    let password = Signal::derive(move || info.with(|i| i.password.clone().unwrap_or_default()));
    let summary = format!(
        "{}:{} · {} · user {}",
        i.smtp_host,
        i.smtp_port,
        if i.starttls { "STARTTLS" } else { "no TLS" },
        i.username
    );
    view! {
        <details class=format!("{CARD} mb-4 group") open=open data-testid="mail-settings">
            <summary class="flex cursor-pointer list-none items-center justify-between gap-3 px-4 py-2.5 text-sm">
                <span class="flex min-w-0 items-center gap-2">
                    <span class="text-slate-400 transition-transform group-open:rotate-90">"▸"</span>
                    <span class="font-semibold text-slate-800">"SMTP settings"</span>
                    <span class="truncate font-mono text-xs text-slate-500">{summary}</span>
                </span>
                <span class="shrink-0 text-xs text-slate-500">"for the app's outgoing mail server"</span>
            </summary>
            <div class="border-t border-slate-100 p-4">
                <div class="grid gap-5 lg:grid-cols-[minmax(0,5fr)_minmax(0,5fr)_minmax(0,4fr)]">
                    <dl class="grid grid-cols-[auto_1fr] items-center gap-x-3 gap-y-1.5 text-sm" data-testid="smtp-credentials">
                        <dt class="text-xs text-slate-500">"Host"</dt>
                        <dd class="font-mono text-slate-800" data-testid="smtp-host">{host}</dd>
                        <dt class="text-xs text-slate-500">"Port"</dt>
                        <dd class="font-mono text-slate-800" data-testid="smtp-port">{move || port().to_string()}</dd>
                        <dt class="text-xs text-slate-500">"Encryption"</dt>
                        <dd class="text-slate-800">{if i.starttls { "STARTTLS (optional)" } else { "none (plain SMTP)" }}</dd>
                        <dt class="text-xs text-slate-500">"Username"</dt>
                        <dd class="flex min-w-0 items-center gap-2">
                            <code class="truncate font-mono text-slate-800" data-testid="smtp-username">{move || username.get()}</code>
                            <CopyButton text=username testid="copy-username" />
                        </dd>
                        <dt class="text-xs text-slate-500">"Password"</dt>
                        {if i.can_manage {
                            view! { <PasswordField info reveal password reload /> }.into_any()
                        } else {
                            view! { <dd class="text-xs text-slate-500" data-testid="password-hidden">"Only developers, sysadmins and admins can see it."</dd> }.into_any()
                        }}
                    </dl>
                    <OdooSample info reveal />
                    {i.captured.then(|| view! { <Retention info reload /> })}
                </div>
            </div>
        </details>
    }
}

#[component]
fn PasswordField(info: RwSignal<MailboxInfo>, reveal: RwSignal<bool>, password: Signal<String>, reload: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let env_id = info.get_untracked().environment_id;
    let rotate = ServerAction::<RotateMailCredentials>::new();
    let confirming = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(())) = rotate.value().get() {
            confirming.set(false);
            untrack(&reload);
        }
    });
    let shown = |on: bool| if on { "" } else { "display:none" };
    view! {
        <dd class="flex min-w-0 flex-wrap items-center gap-2">
            <code class="font-mono text-slate-800" data-testid="smtp-password">
                {move || if reveal.get() { password.get() } else { "••••••••••••".to_string() }}
            </code>
            <button type="button" class="rounded border border-slate-300 bg-white px-1.5 py-0.5 text-[11px] font-medium text-slate-600 hover:bg-slate-50"
                data-testid="show-password" aria-pressed=move || reveal.get().to_string()
                on:click=move |_| reveal.update(|r| *r = !*r)>
                {move || if reveal.get() { "Hide" } else { "Show" }}
            </button>
            <CopyButton text=password testid="copy-password" />
        </dd>
        <dt></dt>
        <dd class="text-xs">
            <button type="button" class="text-rose-700 hover:underline" data-testid="rotate-password"
                style=move || shown(!confirming.get()) on:click=move |_| confirming.set(true)>
                "Rotate password…"
            </button>
            <span class="inline-flex flex-wrap items-center gap-1.5" style=move || shown(confirming.get())>
                <span class="text-slate-600">"The current password stops working at once."</span>
                <button type="button" class="rounded bg-rose-600 px-1.5 py-0.5 font-medium text-white hover:bg-rose-500 disabled:opacity-50" data-testid="confirm-rotate"
                    disabled=move || rotate.pending().get()
                    on:click=move |_| { rotate.dispatch(RotateMailCredentials { env_id }); }>
                    "Rotate"
                </button>
                <button type="button" class="text-slate-500 hover:underline" on:click=move |_| confirming.set(false)>"Cancel"</button>
            </span>
            <span class="ml-1 text-rose-700" role="alert">
                {move || nonempty(rotate.value().get().and_then(|r| r.err()).map(|e| e.to_string()).unwrap_or_default())}
            </span>
        </dd>
    }
}

/// What to type into Odoo (Settings → Technical → Outgoing Mail Servers) or odoo.conf.
#[component]
fn OdooSample(info: RwSignal<MailboxInfo>, reveal: RwSignal<bool>) -> impl IntoView {
    let sample = move || {
        info.with(|i| {
            let password = match (&i.password, reveal.get()) {
                (Some(p), true) => p.clone(),
                (Some(_), false) => "<password: Show>".to_string(),
                (None, _) => "<password: ask a developer>".to_string(),
            };
            format!(
                "# odoo.conf\nsmtp_server = {}\nsmtp_port = {}\nsmtp_ssl = {}\nsmtp_user = {}\nsmtp_password = {}",
                i.smtp_host,
                i.smtp_port,
                if i.starttls { "True" } else { "False" },
                i.username,
                password
            )
        })
    };
    view! {
        <div class="min-w-0">
            <p class=LABEL>"In Odoo"</p>
            <p class="mb-1.5 text-xs text-slate-500">
                "Settings → Technical → Outgoing Mail Servers: the host, port and credentials above, "
                {if info.get_untracked().starttls { "encryption TLS (STARTTLS)." } else { "no encryption." }}
                " Or in the server's configuration file:"
            </p>
            <pre class="overflow-x-auto rounded-md bg-slate-900 px-3 py-2 font-mono text-[11px] leading-4 text-slate-100" data-testid="odoo-sample">{sample}</pre>
        </div>
    }
}

#[component]
fn Retention(info: RwSignal<MailboxInfo>, reload: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let i = info.get_untracked();
    let save = ServerAction::<SetMailRetention>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = save.value().get() {
            untrack(&reload);
        }
    });
    let outcome = move || match save.value().get() {
        Some(Ok(())) => ("text-emerald-700", "Saved. Older mail is removed within a minute.".to_string()),
        Some(Err(AppError::Invalid(m))) => ("text-rose-700", m),
        Some(Err(e)) => ("text-rose-700", e.to_string()),
        None => ("text-slate-500", nonempty("")),
    };
    let policy = move || info.with(|i| format!("Keeps the newest {} messages, each for {} days.", i.max_messages, i.max_age_days));
    view! {
        <div>
            <p class=LABEL>"Retention"</p>
            {if i.can_manage {
                view! {
                    <ActionForm action=save attr:class="space-y-2" attr:data-testid="retention-form">
                        <input type="hidden" name="env_id" value=i.environment_id.to_string() />
                        <div class="flex flex-wrap items-center gap-2 text-sm text-slate-700">
                            <label for="max-messages">"Keep at most"</label>
                            <input id="max-messages" name="max_messages" class=format!("{FIELD} w-24") inputmode="numeric"
                                value=i.max_messages.to_string() aria-describedby="retention-outcome" data-testid="max-messages" />
                            <span>"messages"</span>
                        </div>
                        <div class="flex flex-wrap items-center gap-2 text-sm text-slate-700">
                            <label for="max-age-days">"for"</label>
                            <input id="max-age-days" name="max_age_days" class=format!("{FIELD} w-20") inputmode="numeric"
                                value=i.max_age_days.to_string() aria-describedby="retention-outcome" data-testid="max-age-days" />
                            <span>"days"</span>
                            <button type="submit" class=BUTTON_SECONDARY disabled=move || save.pending().get() data-testid="save-retention">"Save"</button>
                        </div>
                        <p id="retention-outcome" class=move || format!("text-xs {}", outcome().0) role="status" data-testid="retention-outcome">{move || outcome().1}</p>
                    </ActionForm>
                }.into_any()
            } else {
                view! { <p class="text-sm text-slate-700" data-testid="retention-policy">{policy}</p> }.into_any()
            }}
        </div>
    }
}

