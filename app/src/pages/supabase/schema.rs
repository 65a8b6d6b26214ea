//! Schema: per schema its columns, keys, indexes, functions and RLS policies (read-only
//! catalog queries through `database/query`), and the migration history.
use super::SectionTitle;
use crate::components::supabase::{get_json, literal, plain, query, PanelEmpty, PanelLoading, ProxyError, ResultSet, ResultTable};
use crate::components::ui::INPUT;
use leptos::prelude::*;

const SCHEMAS: &str = "select nspname as schema from pg_catalog.pg_namespace
 where nspname not in ('pg_catalog', 'information_schema') and nspname not like 'pg_toast%' and nspname not like 'pg_temp%'
 order by nspname = 'public' desc, 1";

/// The schema tabs: (key, label).
const TABS: [(&str, &str); 6] = [("columns", "Columns"), ("keys", "Keys"), ("indexes", "Indexes"), ("functions", "Functions"), ("policies", "Policies"), ("migrations", "Migrations")];

fn catalog_sql(tab: &str, schema: &str) -> String {
    let s = literal(schema);
    match tab {
        "keys" => format!(
            "select conrelid::regclass::text as table, conname as name,
                    case contype when 'p' then 'primary key' when 'f' then 'foreign key' when 'u' then 'unique' when 'c' then 'check' when 'x' then 'exclusion' else contype::text end as kind,
                    pg_catalog.pg_get_constraintdef(oid) as definition
               from pg_catalog.pg_constraint where connamespace = {s}::regnamespace and conrelid <> 0 order by 1, 3, 2"
        ),
        "indexes" => format!("select tablename as table, indexname as index, indexdef as definition from pg_catalog.pg_indexes where schemaname = {s} order by 1, 2"),
        "functions" => format!(
            "select p.proname as function, pg_catalog.pg_get_function_identity_arguments(p.oid) as arguments, pg_catalog.pg_get_function_result(p.oid) as returns,
                    l.lanname as language, case when p.prosecdef then 'definer' else 'invoker' end as security, coalesce(array_to_string(p.proconfig, ', '), '') as settings
               from pg_catalog.pg_proc p join pg_catalog.pg_language l on l.oid = p.prolang
              where p.pronamespace = {s}::regnamespace and p.prokind in ('f', 'p')
                and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
              order by 1, 2"
        ),
        "policies" => format!(
            "select tablename as table, policyname as policy, permissive, array_to_string(roles, ', ') as roles, cmd as command, qual as using, with_check
               from pg_catalog.pg_policies where schemaname = {s} order by 1, 2"
        ),
        _ => format!(
            "select table_name as table, column_name as column, data_type as type, is_nullable as nullable, column_default as default
               from information_schema.columns where table_schema = {s} order by table_name, ordinal_position"
        ),
    }
}

#[component]
pub fn SchemaSection(project_ref: String) -> impl IntoView {
    let r = StoredValue::new(project_ref);
    let schemas = LocalResource::new(move || async move { query(&r.get_value(), SCHEMAS, true).await });
    let schema = RwSignal::new("public".to_string());
    let tab = RwSignal::new("columns");
    let content = LocalResource::new(move || {
        let (t, s) = (tab.get(), schema.get());
        async move {
            if t == "migrations" {
                let list: Vec<crate::components::supabase::OrderedRow> = get_json(&r.get_value(), "database/migrations").await?;
                Ok(ResultSet::from_rows(list))
            } else {
                query(&r.get_value(), &catalog_sql(t, &s), true).await
            }
        }
    });
    view! {
        <div data-testid="schema-section">
            <div class="mb-3 flex flex-wrap items-end gap-3">
                <label class="w-56">
                    <span class="mb-1 block text-xs font-medium text-slate-600">"Schema"</span>
                    {move || match schemas.get() {
                        Some(Ok(s)) => {
                            let names: Vec<String> = (0..s.rows.len()).filter_map(|i| s.get(i, "schema").map(plain)).collect();
                            view! {
                                <select class=INPUT data-testid="schema-picker" on:change=move |ev| schema.set(event_target_value(&ev))>
                                    {names.into_iter().map(|n| { let sel = n == schema.get_untracked(); view! { <option value=n.clone() selected=sel>{n.clone()}</option> } }).collect_view()}
                                </select>
                            }.into_any()
                        }
                        Some(Err(e)) => view! { <ProxyError message=e /> }.into_any(),
                        None => view! { <select class=INPUT disabled><option>"public"</option></select> }.into_any(),
                    }}
                </label>
                <div class="flex flex-wrap gap-1" role="tablist">
                    {TABS.iter().map(|(key, label)| {
                        let key = *key;
                        view! {
                            <button type="button" role="tab" data-testid=format!("schema-tab-{key}")
                                class=move || if tab.get() == key { "rounded-md bg-slate-800 px-2.5 py-1 text-xs font-medium text-white" } else { "rounded-md border border-slate-300 bg-white px-2.5 py-1 text-xs text-slate-700 hover:bg-slate-50" }
                                on:click=move |_| tab.set(key)>{*label}</button>
                        }
                    }).collect_view()}
                </div>
            </div>
            <SectionTitle title=Signal::derive(move || if tab.get() == "migrations" { "Migration history (supabase_migrations.schema_migrations)".to_string() } else { format!("{} in {}", TABS.iter().find(|(k, _)| *k == tab.get()).map(|(_, l)| *l).unwrap_or(""), schema.get()) }) />
            {move || match content.get() {
                None => view! { <PanelLoading /> }.into_any(),
                Some(Err(e)) => view! { <ProxyError message=e /> }.into_any(),
                Some(Ok(s)) if s.rows.is_empty() => {
                    let (title, hint) = match tab.get_untracked() {
                        "migrations" => ("No migrations recorded", "supabase db push (or the CLI's migration commands) records them in supabase_migrations.schema_migrations."),
                        "policies" => ("No RLS policies in this schema", "Tables with row level security on and no policy deny every row; see the Advisors section."),
                        "functions" => ("No functions in this schema", "Functions that belong to extensions are not listed."),
                        _ => ("Nothing in this schema", "Pick another schema above."),
                    };
                    view! { <PanelEmpty title=title hint=hint /> }.into_any()
                }
                Some(Ok(s)) => view! { <ResultTable result=s testid="schema-table" /> }.into_any(),
            }}
        </div>
    }
}
