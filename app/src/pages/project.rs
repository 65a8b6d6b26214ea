use crate::api::projects::get_project;
use crate::components::ui::{fmt_time, EmptyState, ErrorPanel, Loading, PageHeader, StageBadge, BUTTON, BUTTON_SECONDARY, CARD, TABLE, TD, TH};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let detail = Resource::new(move || params.read().get("slug").unwrap_or_default(), get_project);
    view! {
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => {
                        let p = d.project;
                        let slug = p.slug.clone();
                        view! {
                            <Title text=p.name.clone() />
                            <PageHeader title=p.name.clone() subtitle=if p.repo_url.is_empty() { "No repository linked".to_string() } else { p.repo_url.clone() }>
                                <a class=BUTTON href=format!("/projects/{}/builds", p.slug) data-testid="open-builds">"Builds"</a>
                                <a class=BUTTON_SECONDARY href=format!("/projects/{}/promotions", p.slug) data-testid="open-promotions">"Promotions"</a>
                                <a class=BUTTON_SECONDARY href=format!("/projects/{}/backups", p.slug) data-testid="open-backups">"Backups"</a>
                                <a class=BUTTON_SECONDARY href=format!("/projects/{}/mail", p.slug) data-testid="open-mail">"Mail"</a>
                                <a class=BUTTON_SECONDARY href=format!("/projects/{}/supabase", p.slug) data-testid="open-supabase">"Supabase"</a>
                                <a class=BUTTON_SECONDARY href="/logs">"Logs"</a>
                            </PageHeader>
                            <h2 class="mb-2 text-sm font-semibold text-slate-700">"Environments"</h2>
                            <div class="mb-6 grid gap-3 md:grid-cols-3">
                                {p.environments.into_iter().map(|e| {
                                    let mail = format!("/projects/{slug}/mail/{}", e.id);
                                    view! {
                                    <div id=format!("env-{}", e.name) class=format!("{CARD} p-4") data-testid="environment-card">
                                        <div class="flex items-center justify-between">
                                            <span class="font-medium text-slate-900">{e.name.clone()}</span>
                                            <StageBadge stage=e.stage />
                                        </div>
                                        <p class="mt-2 text-xs text-slate-500">"Branch "<span class="font-mono text-slate-700">{e.branch_name.clone()}</span></p>
                                        <p class="text-xs text-slate-500">{format!("Updated {}", fmt_time(&e.updated_at))}</p>
                                        <a class="mt-2 inline-block text-xs text-indigo-700 hover:underline" href=mail data-testid="environment-mail">"Mail →"</a>
                                    </div>
                                }}).collect_view()}
                            </div>
                            <h2 class="mb-2 text-sm font-semibold text-slate-700">"Branches"</h2>
                            {if d.branches.is_empty() {
                                view! { <EmptyState title="No branches yet" hint="Branches appear here when the repository is pushed to." /> }.into_any()
                            } else {
                                view! {
                                    <div class=format!("{CARD} overflow-x-auto")>
                                        <table class=TABLE>
                                            <thead class="bg-slate-50"><tr>
                                                <th class=TH>"Branch"</th><th class=TH>"Environment"</th><th class=TH>"Head"</th><th class=TH>"Updated"</th>
                                            </tr></thead>
                                            <tbody class="divide-y divide-slate-100">
                                                {d.branches.into_iter().map(|b| view! {
                                                    <tr data-testid="branch-row" class=if b.archived_at.is_some() { "opacity-50" } else { "" }>
                                                        <td class=format!("{TD} font-mono text-slate-800")>{b.name.clone()}</td>
                                                        <td class=TD>{match (b.environment_name.clone(), b.stage) {
                                                            (Some(n), Some(s)) => view! { <span class="inline-flex items-center gap-2"><StageBadge stage=s />{n}</span> }.into_any(),
                                                            _ => view! { <span class="text-slate-400">"—"</span> }.into_any(),
                                                        }}</td>
                                                        <td class=format!("{TD} font-mono text-xs text-slate-600")>{b.head_sha.clone().map(|s| s.chars().take(10).collect::<String>()).unwrap_or_else(|| "—".into())}</td>
                                                        <td class=format!("{TD} text-xs text-slate-500")>{fmt_time(&b.updated_at)}</td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
