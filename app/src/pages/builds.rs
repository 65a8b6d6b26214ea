//! The build grid: one row per branch, grouped by stage (production first), the latest
//! builds as cards. It refreshes itself when any build of the project changes state.
use crate::api::builds::get_build_grid;
use crate::components::builds::{use_build_events, BuildCardView};
use crate::components::ui::{EmptyState, ErrorPanel, Loading, PageHeader, StageBadge, BUTTON_SECONDARY, CARD};
use crate::models::{BuildGrid, GridRow, Stage};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn BuildGridPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let grid = Resource::new(slug, get_build_grid);
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match grid.await {
                    Ok(g) => view! { <Grid grid=g on_change=move || grid.refetch() /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Grid(grid: BuildGrid, on_change: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    use_build_events(grid.project_id, on_change);
    let slug = grid.project_slug.clone();
    let groups: Vec<(Stage, Vec<GridRow>)> = [Stage::Production, Stage::Staging, Stage::Development]
        .into_iter()
        .map(|stage| (stage, grid.rows.iter().filter(|r| r.stage == stage).cloned().collect::<Vec<_>>()))
        .filter(|(_, rows)| !rows.is_empty())
        .collect();
    let empty = grid.rows.is_empty();
    let links = slug.clone();
    view! {
        <Title text=format!("Builds · {}", grid.project_name) />
        <PageHeader title=format!("{} builds", grid.project_name) subtitle="One row per branch; newest build first. Updates live.">
            <a class=BUTTON_SECONDARY href="/logs">"Logs"</a>
            <a class=BUTTON_SECONDARY href=format!("/projects/{links}/webhooks")>"Webhooks"</a>
            <a class=BUTTON_SECONDARY href=format!("/projects/{links}")>"Project"</a>
        </PageHeader>
        {empty.then(|| view! {
            <EmptyState title="No builds yet"
                hint="Add the project's webhook to GitHub (Webhooks page) and push a commit, or report builds from your CI with an API token." />
        })}
        <div class="space-y-6" data-testid="build-grid">
            {groups.into_iter().map(|(stage, rows)| {
                let slug = slug.clone();
                view! {
                    <section data-testid="stage-group" data-stage=stage.as_str()>
                        <h2 class="mb-2 flex items-center gap-2 text-xs font-semibold uppercase tracking-wider text-slate-500">
                            <StageBadge stage=stage />
                            {format!("{} branch{}", rows.len(), if rows.len() == 1 { "" } else { "es" })}
                        </h2>
                        <div class=format!("{CARD} divide-y divide-slate-100")>
                            {rows.into_iter().map(|r| view! { <BranchRow row=r slug=slug.clone() /> }).collect_view()}
                        </div>
                    </section>
                }
            }).collect_view()}
        </div>
    }
}

#[component]
fn BranchRow(row: GridRow, slug: String) -> impl IntoView {
    let history = format!("/projects/{slug}/branches/{}", row.branch_id);
    let preview = row.preview_slug.clone().filter(|_| row.builds.iter().any(|b| b.preview_state == Some(crate::models::PreviewState::Running)));
    let mut builds = row.builds.clone().into_iter();
    let latest = builds.next();
    view! {
        <div class="flex gap-4 p-3" data-testid="branch-row" data-branch=row.branch_name.clone()>
            <div class="w-52 shrink-0">
                <a href=history class="block truncate font-mono text-sm font-semibold text-slate-900 hover:text-indigo-700" title=row.branch_name.clone()>{row.branch_name.clone()}</a>
                <div class="mt-1 flex flex-wrap items-center gap-1.5 text-[11px] text-slate-500">
                    {row.environment_name.clone().map(|e| view! { <span class="rounded bg-slate-100 px-1.5 py-0.5">{e}</span> })}
                    {row.pr_number.map(|n| view! { <span class="rounded bg-violet-50 px-1.5 py-0.5 text-violet-700">{format!("PR #{n}")}</span> })}
                    {preview.map(|p| view! { <a href=format!("/preview/{p}/") target="_blank" rel="external" class="rounded bg-emerald-50 px-1.5 py-0.5 font-medium text-emerald-700 hover:underline" data-testid="preview-link">"preview ↗"</a> })}
                </div>
            </div>
            <div class="flex min-w-0 flex-1 gap-2 overflow-x-auto pb-1">
                {match latest {
                    Some(b) => view! { <BuildCardView card=b latest=true /> }.into_any(),
                    None => view! { <p class="self-center text-xs text-slate-400">"Not built yet."</p> }.into_any(),
                }}
                {builds.map(|b| view! { <BuildCardView card=b /> }).collect_view()}
            </div>
        </div>
    }
}
