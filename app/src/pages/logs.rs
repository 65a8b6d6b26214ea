//! The log viewer page: filter by environment, build, level and source; full-text search;
//! live tail; CSV export of the filtered range. Filters live in the URL, so a view can be shared.
use crate::api::logs::get_log_facets;
use crate::components::logview::LogViewer;
use crate::components::ui::{PageHeader, BUTTON, INPUT, LABEL};
use crate::models::{LogLevel, LogQuery};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LogsPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let p = params.read();
        let get = |k: &str| p.get(k).unwrap_or_default();
        LogQuery { project: get("project"), env: get("env"), build: get("build"), level: get("level"), source: get("source"), q: get("q"), before: String::new() }
    });
    let facets = Resource::new(|| (), |_| get_log_facets());
    view! {
        <Title text="Logs" />
        <PageHeader title="Logs" subtitle="Build, CI and app output. New lines stream in while the page is open." />
        // A plain GET form: works before hydration and keeps filters in the URL.
        <form method="get" action="/logs" class="mb-4 grid gap-2 rounded-lg border border-slate-200 bg-white p-3 shadow-sm sm:grid-cols-2 lg:grid-cols-6" data-testid="log-filters">
            <div class="lg:col-span-2">
                <label class=LABEL for="q">"Search"</label>
                <input id="q" name="q" class=INPUT placeholder="words, \"a phrase\", -exclude" prop:value=move || query.get().q maxlength="200" />
            </div>
            <div>
                <label class=LABEL for="env">"Environment"</label>
                <select id="env" name="env" class=INPUT>
                    <option value="">"All"</option>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            let chosen = query.get_untracked().env;
                            facets.await.map(|f| f.environments.into_iter().map(|(id, name, stage)| {
                                let id = id.to_string();
                                view! { <option value=id.clone() selected=chosen == id>{format!("{name} ({stage})")}</option> }
                            }).collect_view()).ok()
                        })}
                    </Suspense>
                </select>
            </div>
            <div>
                <label class=LABEL for="level">"Level (at least)"</label>
                <select id="level" name="level" class=INPUT>
                    <option value="">"Any"</option>
                    {LogLevel::ALL.iter().map(|l| {
                        let v = l.as_str();
                        view! { <option value=v selected=move || query.get().level == v>{v}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div>
                <label class=LABEL for="source">"Source"</label>
                <select id="source" name="source" class=INPUT>
                    <option value="">"Any"</option>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            let chosen = query.get_untracked().source;
                            facets.await.map(|f| f.sources.into_iter().map(|s| {
                                view! { <option value=s.clone() selected=chosen == s>{s.clone()}</option> }
                            }).collect_view()).ok()
                        })}
                    </Suspense>
                </select>
            </div>
            <div class="flex items-end gap-2">
                <input type="hidden" name="build" prop:value=move || query.get().build />
                <button type="submit" class=BUTTON data-testid="apply-filters">"Apply"</button>
                <a href="/logs" class="text-sm text-slate-500 hover:text-slate-800">"Reset"</a>
            </div>
        </form>
        {move || (!query.get().build.is_empty()).then(|| view! {
            <p class="mb-2 text-xs text-slate-500">"Showing one build. "<a class="text-indigo-700 hover:underline" href=format!("/builds/{}", query.get().build)>"Open the build"</a></p>
        })}
        {move || {
            let q = query.get();
            view! { <LogViewer query=Signal::derive(move || q.clone()) live=true height="h-[65vh]" /> }
        }}
    }
}
