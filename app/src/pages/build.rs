//! One build: state, commit, timings, actions (cancel, rebuild, preview, share) and its log,
//! live while the build runs.
use crate::api::builds::{get_build, CancelBuild, RebuildBuild, SharePreview};
use crate::components::builds::{age, duration, BuildStateBadge};
use crate::components::logview::LogViewer;
use crate::components::ui::{fmt_time, ErrorPanel, Loading, PageHeader, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD};
use crate::models::{BuildDetail, LogQuery, PreviewState};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};
use uuid::Uuid;

#[component]
pub fn BuildPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| Uuid::parse_str(&s).ok()).unwrap_or_default();
    let detail = Resource::new(id, get_build);
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <Detail d=d on_change=move || detail.refetch() /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(d: BuildDetail, on_change: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let b = d.build.clone();
    let now = chrono::Utc::now();
    let id = b.id;
    // The header follows state changes of the project's builds (this one included).
    crate::components::builds::use_build_events(d.project_id, on_change);
    let cancel = ServerAction::<CancelBuild>::new();
    let rebuild = ServerAction::<RebuildBuild>::new();
    let share = ServerAction::<SharePreview>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(new_id)) = rebuild.value().get() {
            navigate(&format!("/builds/{new_id}"), Default::default());
        }
    });
    let query = LogQuery { build: id.to_string(), ..Default::default() };
    let preview_url = d.preview_slug.clone().filter(|_| b.preview_state == Some(PreviewState::Running)).map(|s| format!("/preview/{s}/"));
    let active = b.state.is_active();
    view! {
        <Title text=format!("Build #{} · {}", b.number, d.project_name) />
        <PageHeader title=format!("Build #{} · {}", b.number, b.branch_name) subtitle=d.project_name.clone()>
            <a class=BUTTON_SECONDARY href=format!("/projects/{}/branches/{}", d.project_slug, b.branch_id)>"Branch history"</a>
            <a class=BUTTON_SECONDARY href=format!("/projects/{}/builds", d.project_slug)>"← Build grid"</a>
        </PageHeader>
        <div class=format!("{CARD} mb-4 grid gap-4 p-4 md:grid-cols-[1fr_auto]")>
            <div class="space-y-1.5 text-sm">
                <div class="flex flex-wrap items-center gap-2">
                    <BuildStateBadge state=b.state />
                    <span class="font-mono text-xs text-slate-600" data-testid="build-sha">{b.sha.clone()}</span>
                    <span class="rounded bg-slate-100 px-1.5 py-0.5 text-[11px] text-slate-600">{b.trigger.as_str().replace('_', " ")}</span>
                    {(b.attempt > 0).then(|| view! { <span class="text-[11px] text-amber-700">{format!("attempt {}", b.attempt + 1)}</span> })}
                </div>
                <p class="text-slate-800" data-testid="build-message">{if b.message.is_empty() { "(no commit message)".to_string() } else { b.message.clone() }}</p>
                <p class="text-xs text-slate-500">
                    {format!("by {} · queued {} ({})", if b.author.is_empty() { "unknown" } else { &b.author }, age(&b.queued_at, now), fmt_time(&b.queued_at))}
                    {b.duration_secs(now).map(|s| format!(" · ran {}", duration(s)))}
                </p>
                {(!b.error.is_empty()).then(|| view! {
                    <p class=format!("rounded px-2 py-1 text-xs {}", if b.state == crate::models::BuildState::Failed { "bg-rose-50 text-rose-800" } else { "bg-slate-50 text-slate-700" }) data-testid="build-error">
                        {b.failed_step.clone().map(|s| format!("Step “{s}”: ")).unwrap_or_default()}{b.error.clone()}
                    </p>
                })}
            </div>
            <div class="flex flex-wrap items-start gap-2 md:justify-end">
                {preview_url.map(|u| view! {
                    <a class=BUTTON href=u target="_blank" rel="external" data-testid="open-preview">"Open preview ↗"</a>
                    <button type="button" class=BUTTON_SECONDARY data-testid="share-preview"
                        on:click=move |_| { share.dispatch(SharePreview { build_id: id, hours: 24 }); }>"Share link (24 h)"</button>
                })}
                {d.can_operate.then(|| view! {
                    {active.then(|| view! {
                        <button type="button" class=BUTTON_DANGER data-testid="cancel-build" on:click=move |_| { cancel.dispatch(CancelBuild { id }); }>"Cancel"</button>
                    })}
                    {(!active && b.runner == crate::models::BuildRunner::Embedded).then(|| view! {
                        <button type="button" class=BUTTON_SECONDARY data-testid="rebuild" on:click=move |_| { rebuild.dispatch(RebuildBuild { id }); }>"↻ Rebuild"</button>
                    })}
                })}
            </div>
        </div>
        {move || share.value().get().map(|r| match r {
            Ok(link) => view! {
                <div class="mb-4 rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm text-emerald-900" data-testid="share-link">
                    "Anyone with this link can open the preview until "{fmt_time(&link.expires_at)}": "
                    <input readonly class="mt-1 w-full rounded border border-emerald-200 bg-white px-2 py-1 font-mono text-xs" value=link.url.clone() on:focus=|ev| { let _ = ev; } />
                </div>
            }.into_any(),
            Err(e) => view! { <p class="mb-4 text-sm text-rose-700" role="alert">{e.to_string()}</p> }.into_any(),
        })}
        {move || cancel.value().get().and_then(|r| r.err()).map(|e| view! { <p class="mb-4 text-sm text-rose-700" role="alert" data-testid="action-error">{e.to_string()}</p> })}
        {move || rebuild.value().get().and_then(|r| r.err()).map(|e| view! { <p class="mb-4 text-sm text-rose-700" role="alert" data-testid="action-error">{e.to_string()}</p> })}
        <h2 class="mb-2 text-sm font-semibold text-slate-700">"Log"</h2>
        <LogViewer query=Signal::derive(move || query.clone()) live=true />
    }
}
