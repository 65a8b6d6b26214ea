//! The dashboard: unread notifications, counts, and every project with its environments.
mod notifications;

use crate::api::projects::list_projects;
use crate::components::ui::{fmt_time, EmptyState, ErrorPanel, Loading, PageHeader, StageBadge, CARD};
use crate::models::{ProjectSummary, SessionUser, Stage};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let projects = Resource::new(|| (), |_| list_projects());
    let user = use_context::<SessionUser>();
    let tenant = user.map(|u| u.tenant_name).unwrap_or_default();
    view! {
        <Title text="Dashboard" />
        <PageHeader title="Dashboard" subtitle=format!("Projects and environments of {tenant}") />
        <notifications::Notifications />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match projects.await {
                    Ok(list) if list.is_empty() => view! {
                        <EmptyState
                            title="No projects yet"
                            hint="Create one with `odooops project create` on the server, or start with `odooops serve --demo` to explore with demo data." />
                    }.into_any(),
                    Ok(list) => view! { <Stats projects=list.clone() /> <ProjectGrid projects=list /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Stats(projects: Vec<ProjectSummary>) -> impl IntoView {
    let envs: Vec<_> = projects.iter().flat_map(|p| p.environments.iter()).collect();
    let count = |s: Stage| envs.iter().filter(|e| e.stage == s).count();
    let stats = [
        ("Projects", projects.len()),
        ("Production", count(Stage::Production)),
        ("Staging", count(Stage::Staging)),
        ("Development", count(Stage::Development)),
        ("Active branches", projects.iter().map(|p| p.branch_count as usize).sum()),
    ];
    view! {
        <dl class="mb-6 grid grid-cols-2 gap-3 sm:grid-cols-5">
            {stats.into_iter().map(|(label, n)| view! {
                <div class=format!("{CARD} px-4 py-3")>
                    <dt class="text-[11px] font-semibold uppercase tracking-wide text-slate-500">{label}</dt>
                    <dd class="mt-1 text-2xl font-semibold tabular-nums text-slate-900">{n}</dd>
                </div>
            }).collect_view()}
        </dl>
    }
}

#[component]
fn ProjectGrid(projects: Vec<ProjectSummary>) -> impl IntoView {
    view! {
        <div class="grid gap-4 lg:grid-cols-2">
            {projects.into_iter().map(|p| view! {
                <section class=CARD data-testid="project-card">
                    <header class="flex items-start justify-between gap-3 border-b border-slate-100 px-4 py-3">
                        <div class="min-w-0">
                            <a href=format!("/projects/{}", p.slug) class="font-semibold text-slate-900 hover:text-indigo-700">{p.name.clone()}</a>
                            <p class="truncate font-mono text-xs text-slate-500">{if p.repo_url.is_empty() { "no repository linked".to_string() } else { p.repo_url.clone() }}</p>
                        </div>
                        <span class="shrink-0 text-xs text-slate-500">{format!("{} branches", p.branch_count)}</span>
                    </header>
                    {if p.environments.is_empty() {
                        view! { <p class="px-4 py-4 text-sm text-slate-500">"No environments yet."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="divide-y divide-slate-100">
                                {p.environments.into_iter().map(|e| view! {
                                    <li class="flex items-center justify-between gap-3 px-4 py-2 text-sm" data-testid="environment-row">
                                        <div class="flex min-w-0 items-center gap-2">
                                            <StageBadge stage=e.stage />
                                            <span class="font-medium text-slate-800">{e.name.clone()}</span>
                                        </div>
                                        <div class="flex items-center gap-3 text-xs text-slate-500">
                                            <span class="font-mono">{e.branch_name.clone()}</span>
                                            <span class="hidden sm:inline">{fmt_time(&e.updated_at)}</span>
                                        </div>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                </section>
            }).collect_view()}
        </div>
    }
}
