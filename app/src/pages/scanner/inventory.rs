//! The inventory browser: project → database → schemas → objects (tables, functions,
//! policies...) → findings, as the last scan observed them.
use super::{level_chip, Frame, TargetPicker};
use crate::api::scanner::scan_inventory;
use crate::components::ui::{fmt_time, urlencode, EmptyState, ErrorPanel, Loading, CARD, TABLE, TD, TH};
use crate::models::{InventoryObject, InventoryView};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn InventoryPage() -> impl IntoView {
    let q = use_query_map();
    let key = move || q.read().get("target").unwrap_or_default();
    let schema = move || q.read().get("schema").unwrap_or_default();
    let data = Resource::new(move || (key(), schema()), |(k, s)| scan_inventory(k, s));
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! {
                        <Frame active="inventory" title=format!("Inventory · {}", v.target.name) target=v.target.key.clone()>
                            <TargetPicker targets=v.targets.clone() current=v.target.key.clone() path="/scanner/inventory" />
                            <Browser v=v />
                        </Frame>
                    }.into_any(),
                    Err(e) => view! { <Frame active="inventory" title="Inventory" target=key()><ErrorPanel error=e /></Frame> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Browser(v: InventoryView) -> impl IntoView {
    let Some(scan) = v.scan.clone() else {
        return view! { <EmptyState title="No inventory yet" hint="The inventory is what a scan observed: it appears after this database's first successful scan." /> }.into_any();
    };
    let key = v.target.key.clone();
    let crumbs = [v.target.project_name.clone(), Some(v.target.database.clone()), Some(v.schema.clone())].into_iter().flatten().collect::<Vec<_>>().join(" → ");
    view! {
        <p class="mb-3 text-sm text-slate-700" data-testid="breadcrumb">
            {crumbs}
            <span class="ml-2 text-xs text-slate-500">{format!("· as observed {} ({} objects)", fmt_time(&scan.started_at), scan.object_count)}</span>
        </p>
        <div class="grid gap-4 lg:grid-cols-[16rem_1fr]">
            <nav class=format!("{CARD} max-h-[70vh] self-start overflow-auto p-1") aria-label="Schemas" data-testid="schemas">
                {v.schemas.iter().map(|s| {
                    let active = s.name == v.schema;
                    let total: i64 = s.counts.iter().map(|(_, n)| n).sum();
                    let class = if active { "block rounded bg-indigo-50 px-2 py-1.5" } else { "block rounded px-2 py-1.5 hover:bg-slate-50" };
                    let summary = s.counts.iter().take(4).map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ");
                    view! {
                        <a class=class href=format!("/scanner/inventory?target={}&schema={}", urlencode(&key), urlencode(&s.name)) aria-current=active.then_some("page") data-testid="schema-link">
                            <span class="flex items-center justify-between text-sm font-medium text-slate-800">
                                <code>{s.name.clone()}</code>
                                {(s.flagged > 0).then(|| view! { <span class="rounded bg-rose-100 px-1.5 text-[10px] font-semibold text-rose-700" title="objects with findings">{s.flagged.to_string()}</span> })}
                            </span>
                            <span class="block truncate text-[11px] text-slate-500" title=summary.clone()>{if summary.is_empty() { format!("{total} objects") } else { summary.clone() }}</span>
                        </a>
                    }
                }).collect_view()}
            </nav>
            <div class="space-y-4">
                {(!v.findings.is_empty()).then(|| view! {
                    <div class=format!("{CARD} p-3") data-testid="schema-findings">
                        <h3 class="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-500">{format!("Findings in {} ({})", v.schema, v.findings.len())}</h3>
                        <ul class="space-y-1">
                            {v.findings.iter().map(|f| view! {
                                <li class="flex items-start gap-2 text-xs">{level_chip(f.level)}<span><span class="font-medium text-slate-800">{f.title.clone()}</span>" — "{f.detail.clone()}</span></li>
                            }).collect_view()}
                        </ul>
                    </div>
                })}
                <Objects objects=v.objects.clone() />
            </div>
        </div>
    }
    .into_any()
}

#[component]
fn Objects(objects: Vec<InventoryObject>) -> impl IntoView {
    if objects.is_empty() {
        return view! { <EmptyState title="This schema is empty" hint="Pick another schema on the left." /> }.into_any();
    }
    view! {
        <div class=format!("{CARD} overflow-x-auto")>
            <table class=TABLE data-testid="objects">
                <thead class="bg-slate-50"><tr><th class=TH>"Type"</th><th class=TH>"Object"</th><th class=TH>"Findings"</th></tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {objects.into_iter().map(|o| view! {
                        <tr data-testid="object">
                            <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{o.object_type.clone()}</td>
                            <td class=TD>
                                <details>
                                    <summary class="cursor-pointer font-mono text-xs text-slate-800">{o.key.clone()}</summary>
                                    <pre class="mt-1 max-h-64 overflow-auto rounded bg-slate-50 p-2 font-mono text-[11px] text-slate-700">{o.json.clone()}</pre>
                                </details>
                            </td>
                            <td class=TD>
                                <div class="flex flex-wrap gap-1">
                                    {o.risk_flags.iter().map(|f| view! { <span class="rounded bg-rose-50 px-1.5 py-0.5 font-mono text-[10px] text-rose-700">{f.clone()}</span> }).collect_view()}
                                </div>
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
