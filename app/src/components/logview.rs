//! The log viewer: a page of lines rendered on the server, then a live tail over SSE that
//! resumes from the last line seen, with severity colours, auto-scroll and pause.
use crate::api::logs::query_logs;
use crate::components::ui::{ErrorPanel, Loading, BUTTON_SECONDARY};
use crate::models::{LogLevel, LogLine, LogPage, LogQuery};
use leptos::html::Div;
use leptos::prelude::*;

/// Most lines kept in the page; older ones scroll out (the CSV export has them all).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const KEEP: usize = 5000;

pub fn level_classes(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "bg-rose-950/40 text-rose-300",
        LogLevel::Warning => "bg-amber-900/30 text-amber-200",
        LogLevel::Info => "text-slate-200",
        LogLevel::Debug => "text-slate-500",
    }
}

#[component]
pub fn LogViewer(#[prop(into)] query: Signal<LogQuery>, #[prop(default = true)] live: bool, #[prop(default = "h-[60vh]")] height: &'static str) -> impl IntoView {
    // Log lines are arbitrary program output; they are rendered in the browser only (after
    // mount), so no byte of it can upset hydration of the page around it.
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    view! {
        <div data-testid="log-viewer-slot">
            {move || if mounted.get() {
                view! { <LogViewerLoaded query=query live=live height=height /> }.into_any()
            } else {
                view! { <Loading /> }.into_any()
            }}
        </div>
    }
}

#[component]
fn LogViewerLoaded(query: Signal<LogQuery>, live: bool, height: &'static str) -> impl IntoView {
    let page = Resource::new(move || query.get(), query_logs);
    view! {
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => view! { <LogLines page=p query=query.get_untracked() live=live height=height /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[derive(Clone, Copy, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum TailState {
    Off,
    Connecting,
    Live,
    Reconnecting,
}

#[component]
fn LogLines(page: LogPage, query: LogQuery, live: bool, height: &'static str) -> impl IntoView {
    let lines = RwSignal::new(page.lines.clone());
    let has_older = RwSignal::new(page.has_older);
    let follow = RwSignal::new(true);
    let tail = RwSignal::new(if live { TailState::Connecting } else { TailState::Off });
    let tail_on = RwSignal::new(live);
    let loading_older = RwSignal::new(false);
    let older_error = RwSignal::new(None::<String>);
    let scroller = NodeRef::<Div>::new();
    let qs = query.to_query_string();
    let export = format!("/api/logs/export.csv{}", if qs.is_empty() { String::new() } else { format!("?{qs}") });

    // Keep the newest line in view while following.
    Effect::new(move |_| {
        lines.track();
        if follow.get_untracked() {
            if let Some(el) = scroller.get() {
                el.set_scroll_top(el.scroll_height());
            }
        }
    });

    start_tail(query.clone(), page.tail_from.clone(), lines, tail, tail_on);

    let on_scroll = move |_| {
        if let Some(el) = scroller.get_untracked() {
            let at_bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 24;
            if follow.get_untracked() != at_bottom {
                follow.set(at_bottom);
            }
        }
    };
    let older_query = query.clone();
    let load_older = move |_| {
        let Some(first) = lines.with_untracked(|l| l.first().map(|x| x.cursor.clone())) else { return };
        let mut q = older_query.clone();
        q.before = first;
        loading_older.set(true);
        leptos::task::spawn_local(async move {
            match query_logs(q).await {
                Ok(p) => {
                    has_older.set(p.has_older);
                    lines.update(|l| {
                        let mut merged = p.lines;
                        merged.append(l);
                        *l = merged;
                    });
                }
                Err(e) => older_error.set(Some(e.to_string())),
            }
            loading_older.set(false);
        });
    };

    view! {
        <div class="overflow-hidden rounded-lg border border-slate-800 bg-slate-900 shadow-sm" data-testid="log-viewer">
            <div class="flex flex-wrap items-center gap-2 border-b border-slate-800 bg-slate-950 px-3 py-1.5 text-xs text-slate-400">
                {move || match tail.get() {
                    TailState::Live => view! { <span class="inline-flex items-center gap-1 text-emerald-400" data-testid="tail-status" data-status="live"><span class="h-2 w-2 animate-pulse rounded-full bg-emerald-400"></span>"live"</span> }.into_any(),
                    TailState::Connecting => view! { <span class="text-sky-300" data-testid="tail-status" data-status="connecting">"connecting…"</span> }.into_any(),
                    TailState::Reconnecting => view! { <span class="text-amber-300" data-testid="tail-status" data-status="reconnecting">"reconnecting… (resumes where it left off)"</span> }.into_any(),
                    TailState::Off => view! { <span data-testid="tail-status" data-status="off">"not following new lines"</span> }.into_any(),
                }}
                <span data-testid="line-count">{move || format!("{} lines", lines.with(|l| l.len()))}</span>
                <span class="ml-auto flex items-center gap-2">
                    <button type="button" class="rounded border border-slate-700 px-2 py-0.5 hover:bg-slate-800" data-testid="follow-toggle"
                        on:click=move |_| {
                            let f = !follow.get_untracked();
                            follow.set(f);
                            if f {
                                if let Some(el) = scroller.get_untracked() { el.set_scroll_top(el.scroll_height()); }
                            }
                        }>
                        {move || if follow.get() { "Pause scrolling" } else { "Follow new lines" }}
                    </button>
                    <a href=export class="rounded border border-slate-700 px-2 py-0.5 hover:bg-slate-800" data-testid="export-csv" rel="external">"⇩ CSV"</a>
                </span>
            </div>
            <div node_ref=scroller on:scroll=on_scroll class=format!("{height} overflow-y-auto font-mono text-[12px] leading-5") data-testid="log-lines">
                <Show when=move || has_older.get()>
                    <div class="px-3 py-1">
                        <button type="button" class=BUTTON_SECONDARY on:click=load_older.clone() disabled=move || loading_older.get() data-testid="load-older">
                            {move || if loading_older.get() { "Loading…" } else { "Load older lines" }}
                        </button>
                        {move || older_error.get().map(|e| view! { <span class="ml-2 text-rose-300">{e}</span> })}
                    </div>
                </Show>
                <Show when=move || lines.with(|l| l.is_empty())>
                    <p class="px-3 py-6 text-center text-slate-500" data-testid="log-empty">
                        {if live { "No lines yet. New lines appear here as they are written." } else { "No lines match these filters." }}
                    </p>
                </Show>
                <For each=move || lines.get() key=|l| l.id let:line>
                    <LogRow line=line />
                </For>
            </div>
        </div>
    }
}

#[component]
fn LogRow(line: LogLine) -> impl IntoView {
    let step = line.meta.get("step").and_then(|v| v.as_str()).map(str::to_string);
    let time = line.created_at.format("%H:%M:%S%.3f").to_string();
    view! {
        <div class=format!("flex gap-2 px-3 hover:bg-slate-800/60 {}", level_classes(line.level)) data-testid="log-line" data-id=line.id.to_string() data-level=line.level.as_str() data-source=line.source.clone()>
            <span class="shrink-0 text-slate-500">{time}</span>
            <span class="w-14 shrink-0 truncate text-slate-500" title=line.source.clone()>{step.unwrap_or_else(|| line.source.clone())}</span>
            <span class="whitespace-pre-wrap break-all">{crate::components::ui::nonempty(line.message)}</span>
        </div>
    }
}

/// Opens the SSE tail (browser only). The browser's EventSource reconnects by itself and
/// sends `Last-Event-ID`, so the server resumes after the last line delivered.
#[allow(unused_variables)]
fn start_tail(query: LogQuery, from: String, lines: RwSignal<Vec<LogLine>>, tail: RwSignal<TailState>, tail_on: RwSignal<bool>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::prelude::*;
        if !tail_on.get_untracked() {
            return;
        }
        let qs = query.to_query_string();
        let url = format!("/api/logs/tail?{qs}{}after={}", if qs.is_empty() { "" } else { "&" }, crate::components::ui::urlencode(&from));
        let Ok(es) = web_sys::EventSource::new(&url) else {
            tail.set(TailState::Off);
            return;
        };
        let on_line = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else { return };
            let Ok(line) = serde_json::from_str::<LogLine>(&text) else { return };
            lines.update(|l| {
                if l.last().is_some_and(|last| last.id == line.id) {
                    return;
                }
                l.push(line);
                if l.len() > KEEP {
                    let cut = l.len() - KEEP;
                    l.drain(..cut);
                }
            });
        });
        let _ = es.add_event_listener_with_callback("line", on_line.as_ref().unchecked_ref());
        on_line.forget();
        let on_open = Closure::<dyn Fn()>::new(move || tail.set(TailState::Live));
        es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();
        let on_error = Closure::<dyn Fn()>::new(move || tail.set(TailState::Reconnecting));
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
        let _ = (query, from, lines, tail_on);
    }
}
