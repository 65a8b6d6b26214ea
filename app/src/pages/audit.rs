use crate::api::audit::list_audit;
use crate::components::ui::{fmt_time, EmptyState, ErrorPanel, Loading, PageHeader, BUTTON_SECONDARY, CARD, INPUT, TABLE, TD, TH};
use crate::models::{Capability, SessionUser};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The tenant's audit trail, newest first; filter by action prefix, page with "Older".
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || query.read().get("action").unwrap_or_default();
    let before = move || query.read().get("before").and_then(|b| b.parse::<i64>().ok());
    let page = Resource::new(move || (before(), filter()), |(b, a)| list_audit(b, if a.is_empty() { None } else { Some(a) }));
    let can_verify = use_context::<SessionUser>().is_some_and(|u| u.role.allows(Capability::VerifyAudit));
    view! {
        <Title text="Audit log" />
        <PageHeader title="Audit log" subtitle="Every privileged action in this workspace. Records cannot be edited or deleted.">
            <form method="get" action="/audit" class="flex items-center gap-2">
                <input class=format!("{INPUT} w-48") name="action" placeholder="Filter: e.g. auth. or member." prop:value=filter aria-label="Action filter" />
                <button type="submit" class=BUTTON_SECONDARY>"Filter"</button>
            </form>
            {can_verify.then(|| view! { <a class=BUTTON_SECONDARY href="/audit/verify" data-testid="audit-verify-link">"Verify the chain"</a> })}
        </PageHeader>
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) if p.rows.is_empty() => view! { <EmptyState title="No audit records match" hint="Clear the filter, or come back after someone signs in or changes something." /> }.into_any(),
                    Ok(p) => {
                        let older = p.rows.last().filter(|_| p.has_more).map(|r| {
                            let f = filter();
                            if f.is_empty() { format!("/audit?before={}", r.id) } else { format!("/audit?before={}&action={f}", r.id) }
                        });
                        view! {
                            <div class=format!("{CARD} overflow-x-auto")>
                                <table class=TABLE data-testid="audit-table">
                                    <thead class="bg-slate-50"><tr>
                                        <th class=TH>"Time"</th><th class=TH>"Actor"</th><th class=TH>"Action"</th><th class=TH>"Target"</th><th class=TH>"Details"</th><th class=TH>"Request"</th>
                                    </tr></thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {p.rows.into_iter().map(|r| view! {
                                            <tr data-testid="audit-row">
                                                <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{fmt_time(&r.created_at)}</td>
                                                <td class=format!("{TD} text-xs")>{r.actor_email.clone()}</td>
                                                <td class=TD><code class="rounded bg-slate-100 px-1 py-0.5 text-xs text-slate-800">{r.action.clone()}</code></td>
                                                <td class=format!("{TD} max-w-[12rem] truncate text-xs")>{r.target.clone()}</td>
                                                <td class=format!("{TD} max-w-[16rem] truncate font-mono text-[11px] text-slate-500")>{r.details.to_string()}</td>
                                                <td class=format!("{TD} font-mono text-[11px] text-slate-400")>{r.request_id.chars().take(8).collect::<String>()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {older.map(|href| view! { <div class="mt-3"><a class=BUTTON_SECONDARY href=href>"Older records →"</a></div> })}
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
