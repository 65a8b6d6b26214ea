//! Mail catcher pieces: the live-update hook and indicator, data that stays current without
//! flashing, and small helpers (times, text that is safe to hydrate, the clipboard).
use crate::components::ui::nonempty;
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
