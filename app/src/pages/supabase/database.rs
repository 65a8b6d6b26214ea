//! Database: tables with row estimates, paged read-only browsing, and the SQL editor
//! (read-only unless an admin unticks it) with CSV download.
use super::SectionTitle;
use crate::components::supabase::{csv_href, ident, query, PanelEmpty, PanelLoading, ProxyError, ResultSet, ResultTable};
use crate::components::ui::{BUTTON, BUTTON_SECONDARY, CARD};
use leptos::prelude::*;

const PAGE: usize = 50;

const TABLES: &str = "select n.nspname as schema, c.relname as table,
       case when c.reltuples < 0 then null else c.reltuples::bigint end as rows_estimate,
       pg_size_pretty(pg_total_relation_size(c.oid)) as size, c.relrowsecurity as rls
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
   and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'
 order by n.nspname = 'public' desc, 1, 2";

#[component]
pub fn DatabaseSection(project_ref: String, admin: bool) -> impl IntoView {
    let r = StoredValue::new(project_ref);
    let tables = LocalResource::new(move || async move { query(&r.get_value(), TABLES, true).await });
    let picked = RwSignal::new(None::<(String, String)>);
    let page = RwSignal::new(0usize);
    let rows = LocalResource::new(move || {
        let (p, n) = (picked.get(), page.get());
        async move {
            match p {
                None => Ok(None),
                Some((schema, table)) => {
                    let sql = format!("select * from {}.{} limit {} offset {}", ident(&schema), ident(&table), PAGE + 1, n * PAGE);
                    query(&r.get_value(), &sql, true).await.map(Some)
                }
            }
        }
    });
    view! {
        <div class="grid gap-4 xl:grid-cols-[18rem_1fr]">
            <div>
                <SectionTitle title="Tables" hint="rows are estimates (pg_class.reltuples)" />
                {move || match tables.get() {
                    None => view! { <PanelLoading /> }.into_any(),
                    Some(Err(e)) => view! { <ProxyError message=e /> }.into_any(),
                    Some(Ok(t)) if t.rows.is_empty() => view! { <PanelEmpty title="No tables" hint="Create one in the SQL editor (admins) or with a migration." /> }.into_any(),
                    Some(Ok(t)) => view! { <TableList tables=t picked=picked page=page /> }.into_any(),
                }}
            </div>
            <div class="min-w-0 space-y-6">
                <SqlEditor project_ref=r.get_value() admin=admin />
                {move || picked.get().map(|(schema, table)| view! {
                    <div data-testid="browse">
                        <SectionTitle title=format!("{schema}.{table}") hint="read-only">
                            <button class=BUTTON_SECONDARY disabled=move || page.get() == 0 on:click=move |_| page.update(|p| *p = p.saturating_sub(1))>"← Previous"</button>
                            <span data-testid="browse-page">{move || format!("rows {}–{}", page.get() * PAGE + 1, page.get() * PAGE + PAGE)}</span>
                            <button class=BUTTON_SECONDARY data-testid="browse-next"
                                disabled=move || !matches!(rows.get(), Some(Ok(Some(ref s))) if s.rows.len() > PAGE)
                                on:click=move |_| page.update(|p| *p += 1)>"Next →"</button>
                        </SectionTitle>
                        {move || match rows.get() {
                            None => view! { <PanelLoading /> }.into_any(),
                            Some(Err(e)) => view! { <ProxyError message=e /> }.into_any(),
                            Some(Ok(None)) => ().into_any(),
                            Some(Ok(Some(mut s))) => {
                                s.rows.truncate(PAGE);
                                if s.rows.is_empty() {
                                    view! { <PanelEmpty title="No rows here" hint="This table (or this page of it) is empty." /> }.into_any()
                                } else {
                                    view! { <ResultTable result=s testid="browse-table" /> }.into_any()
                                }
                            }
                        }}
                    </div>
                })}
            </div>
        </div>
    }
}

#[component]
fn TableList(tables: ResultSet, picked: RwSignal<Option<(String, String)>>, page: RwSignal<usize>) -> impl IntoView {
    let items: Vec<(String, String, String, String, bool)> = (0..tables.rows.len())
        .map(|i| {
            let text = |c: &str| tables.get(i, c).map(crate::components::supabase::plain).unwrap_or_default();
            let rls = tables.get(i, "rls").and_then(|v| v.as_bool()).unwrap_or(false);
            (text("schema"), text("table"), text("rows_estimate"), text("size"), rls)
        })
        .collect();
    view! {
        <ul class=format!("{CARD} max-h-[32rem] divide-y divide-slate-100 overflow-auto text-sm") data-testid="tables">
            {items.into_iter().map(|(schema, table, est, size, rls)| {
                let key = (schema.clone(), table.clone());
                let here = key.clone();
                view! {
                    <li>
                        <button type="button" data-testid="table-item"
                            class=move || format!("flex w-full items-center justify-between gap-2 px-3 py-1.5 text-left hover:bg-slate-50 {}", if picked.get().as_ref() == Some(&here) { "bg-indigo-50" } else { "" })
                            on:click=move |_| { page.set(0); picked.set(Some(key.clone())); }>
                            <span class="min-w-0 truncate">
                                <span class="text-slate-400">{format!("{schema}.")}</span>
                                <span class="font-medium text-slate-800">{table.clone()}</span>
                                {(!rls).then(|| view! { <span class="ml-1 rounded bg-amber-50 px-1 text-[10px] font-semibold text-amber-800 ring-1 ring-amber-200" title="Row level security is off">"no RLS"</span> })}
                            </span>
                            <span class="shrink-0 text-right text-[11px] text-slate-500">{if est.is_empty() { "—".to_string() } else { format!("~{est}") }}<br />{size}</span>
                        </button>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

/// What a run of the editor gave: the statement's rows and how long the round trip took.
#[derive(Clone)]
struct Run {
    result: Result<ResultSet, String>,
    millis: i64,
}

#[component]
fn SqlEditor(project_ref: String, admin: bool) -> impl IntoView {
    let sql = RwSignal::new("select now() as server_time, current_user, version()".to_string());
    let read_only = RwSignal::new(true);
    let r = StoredValue::new(project_ref);
    let run = Action::new_local(move |(text, ro): &(String, bool)| {
        let (text, ro) = (text.clone(), *ro);
        async move {
            let started = chrono::Utc::now();
            let result = query(&r.get_value(), &text, ro).await;
            Run { result, millis: (chrono::Utc::now() - started).num_milliseconds() }
        }
    });
    let go = move || {
        if !sql.get_untracked().trim().is_empty() {
            run.dispatch((sql.get_untracked(), read_only.get_untracked() || !admin));
        }
    };
    view! {
        <div data-testid="sql-editor">
            <SectionTitle title="SQL editor" hint="one statement · Ctrl+Enter runs it" />
            <textarea
                class="block h-32 w-full rounded-md border border-slate-300 bg-slate-950 p-2.5 font-mono text-xs text-slate-100 shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-200"
                spellcheck="false" aria-label="SQL" data-testid="sql-input"
                prop:value=move || sql.get()
                on:input=move |ev| sql.set(event_target_value(&ev))
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
                        ev.prevent_default();
                        go();
                    }
                }
            ></textarea>
            <div class="mt-2 flex flex-wrap items-center gap-3">
                <button type="button" class=BUTTON data-testid="sql-run" disabled=move || run.pending().get() on:click=move |_| go()>
                    {move || if run.pending().get() { "Running…" } else { "Run" }}
                </button>
                <label class="inline-flex items-center gap-1.5 text-xs text-slate-600" title=if admin { "Untick to run writes (admins only; audited)" } else { "Only admins can run writes" }>
                    <input type="checkbox" data-testid="sql-read-only" prop:checked=move || read_only.get() disabled=!admin on:change=move |ev| read_only.set(event_target_checked(&ev)) />
                    "Read-only"
                </label>
                {move || run.value().get().and_then(|r| r.result.ok().map(|s| (s, r.millis))).map(|(s, ms)| {
                    let csv = csv_href(&s.to_csv());
                    view! {
                        <span class="text-xs text-slate-500" data-testid="sql-summary">{format!("{} row{} · {ms} ms", s.rows.len(), if s.rows.len() == 1 { "" } else { "s" })}</span>
                        {(!s.columns.is_empty()).then(|| view! { <a class=BUTTON_SECONDARY href=csv download="query.csv" data-testid="sql-csv">"Download CSV"</a> })}
                    }
                })}
            </div>
            <div class="mt-3">
                {move || match run.value().get() {
                    None => ().into_any(),
                    Some(Run { result: Err(e), .. }) => view! { <ProxyError message=e /> }.into_any(),
                    Some(Run { result: Ok(s), .. }) if s.columns.is_empty() => view! { <PanelEmpty title="No rows" hint="The statement ran and returned nothing." /> }.into_any(),
                    Some(Run { result: Ok(s), .. }) => view! { <ResultTable result=s testid="sql-result" /> }.into_any(),
                }}
            </div>
        </div>
    }
}
