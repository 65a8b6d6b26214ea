//! A branch's history: every build, with a chart of durations over time.
use crate::api::builds::get_branch_history;
use crate::components::builds::{age, duration, BuildStateBadge, DurationChart};
use crate::components::ui::{ErrorPanel, Loading, PageHeader, StageBadge, BUTTON_SECONDARY, CARD, TABLE, TD, TH};
use crate::models::BranchHistory;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

#[component]
pub fn BranchPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        (p.get("slug").unwrap_or_default(), p.get("branch").and_then(|b| Uuid::parse_str(&b).ok()).unwrap_or_default())
    };
    let history = Resource::new(key, |(slug, branch)| get_branch_history(slug, branch));
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match history.await {
                    Ok(h) => view! { <History h=h /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn History(h: BranchHistory) -> impl IntoView {
    let now = chrono::Utc::now();
    let b = h.branch.clone();
    let slug = h.project_slug.clone();
    view! {
        <Title text=format!("{} · {}", b.branch_name, h.project_name) />
        <PageHeader title=b.branch_name.clone() subtitle=format!("{} · {} build(s)", h.project_name, b.builds.len())>
            <StageBadge stage=b.stage />
            <a class=BUTTON_SECONDARY href=format!("/projects/{slug}/builds")>"← Build grid"</a>
        </PageHeader>
        <section class=format!("{CARD} mb-5 p-4")>
            <h2 class="mb-2 text-sm font-semibold text-slate-700">"Build duration"</h2>
            <DurationChart builds=b.builds.clone() />
        </section>
        <div class=format!("{CARD} overflow-x-auto")>
            <table class=TABLE data-testid="branch-builds">
                <thead class="bg-slate-50"><tr>
                    <th class=TH>"Build"</th><th class=TH>"State"</th><th class=TH>"Commit"</th><th class=TH>"Author"</th><th class=TH>"Queued"</th><th class=TH>"Duration"</th>
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {b.builds.into_iter().map(|x| view! {
                        <tr data-testid="history-row">
                            <td class=TD><a class="font-mono text-indigo-700 hover:underline" href=format!("/builds/{}", x.id)>{format!("#{}", x.number)}</a></td>
                            <td class=TD><BuildStateBadge state=x.state /></td>
                            <td class=TD><span class="font-mono text-xs text-slate-600">{x.short_sha()}</span>" "<span class="text-slate-700">{crate::components::ui::nonempty(x.message.lines().next().unwrap_or_default())}</span></td>
                            <td class=format!("{TD} text-xs text-slate-600")>{crate::components::ui::nonempty(x.author.clone())}</td>
                            <td class=format!("{TD} text-xs text-slate-500")>{age(&x.queued_at, now)}</td>
                            <td class=format!("{TD} text-xs text-slate-600")>{x.duration_secs(now).map(duration).unwrap_or_else(|| "—".into())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
