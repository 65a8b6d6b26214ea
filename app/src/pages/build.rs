//! One build: state, commit, timings, actions (cancel, rebuild, preview, share), the preflight
//! gates run after it, and its log, live while the build runs.
mod gates;

use crate::api::builds::{get_build, get_build_gates, CancelBuild, RebuildBuild, SharePreview};
use crate::components::builds::{age, duration, BuildStateBadge};
use crate::components::logview::LogViewer;
use crate::components::ui::{nonempty, fmt_time, ErrorPanel, Loading, PageHeader, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD};
use crate::models::{AppError, BuildDetail, GateResult, LogQuery, PreviewState};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};
use uuid::Uuid;

#[component]
pub fn BuildPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| Uuid::parse_str(&s).ok()).unwrap_or_default();
    let detail = Resource::new(id, get_build);
    // The gates arrive a moment after the build finishes; their insert sends a build event
    // (migration 20261125000004), so both reload on the same events.
    let gate_results = Resource::new(id, get_build_gates);
    let open: gates::OpenRows = RwSignal::new(Default::default());
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                let (d, g) = (detail.await, gate_results.await);
                match d {
                    Ok(d) => view! { <Detail d=d gate_results=g open=open on_change=move || { detail.refetch(); gate_results.refetch(); } /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(d: BuildDetail, gate_results: Result<Vec<GateResult>, AppError>, open: gates::OpenRows, on_change: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
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
    // Every action is always rendered and hidden when it does not apply: a fixed shape
    // hydrates identically whatever the build's state.
    let has_preview = preview_url.is_some();
    let preview_href = preview_url.unwrap_or_default();
    let can_cancel = d.can_operate && active;
    let can_rebuild = d.can_operate && !active && b.runner == crate::models::BuildRunner::Embedded;
    // Inline style, not a class: `hidden` and `inline-flex` fight over `display`.
    let shown = |on: bool| if on { "" } else { "display:none" };
    let actions = view! {
        <a class=BUTTON style=shown(has_preview) href=preview_href target="_blank" rel="external" data-testid="open-preview" data-shown=has_preview.to_string()>"Open preview ↗"</a>
        <button type="button" class=BUTTON_SECONDARY style=shown(has_preview) data-testid="share-preview"
            on:click=move |_| { share.dispatch(SharePreview { build_id: id, hours: 24 }); }>"Share link (24 h)"</button>
        <button type="button" class=BUTTON_DANGER style=shown(can_cancel) data-testid="cancel-build" data-shown=can_cancel.to_string()
            on:click=move |_| { cancel.dispatch(CancelBuild { id }); }>"Cancel"</button>
        <button type="button" class=BUTTON_SECONDARY style=shown(can_rebuild) data-testid="rebuild" data-shown=can_rebuild.to_string()
            on:click=move |_| { rebuild.dispatch(RebuildBuild { id }); }>"↻ Rebuild"</button>
    };
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
                    <span>{format!("by {} · queued {} ({})", if b.author.is_empty() { "unknown" } else { &b.author }, age(&b.queued_at, now), fmt_time(&b.queued_at))}</span>
                    <span>{nonempty(b.duration_secs(now).map(|s| format!(" · ran {}", duration(s))).unwrap_or_default())}</span>
                </p>
                // Always rendered (hidden when empty): a fixed shape hydrates identically.
                <p class=format!("rounded px-2 py-1 text-xs {} {}", if b.state == crate::models::BuildState::Failed { "bg-rose-50 text-rose-800" } else { "bg-slate-50 text-slate-700" }, "")
                   style=if b.error.is_empty() { "display:none" } else { "" }
                   data-testid="build-error">
                    {nonempty(format!("{}{}", b.failed_step.clone().map(|s| format!("Step “{s}”: ")).unwrap_or_default(), b.error))}
                </p>
            </div>
            <div class="flex flex-wrap items-start gap-2 md:justify-end">{actions}</div>
        </div>
        // One text node, always present: what the last action said (a share link, or why
        // a cancel or rebuild was refused).
        <p class="mb-4 min-h-[1.25rem] break-all text-sm" data-testid="action-messages">
            {move || {
                if let Some(r) = share.value().get() {
                    return match r {
                        Ok(link) => format!("Share link (valid until {}): {}{}", fmt_time(&link.expires_at), origin(), link.url),
                        Err(e) => e.to_string(),
                    };
                }
                cancel.value().get().and_then(|r| r.err()).or_else(|| rebuild.value().get().and_then(|r| r.err())).map(|e| e.to_string()).unwrap_or_default()
            }}
        </p>
        <gates::GatesPanel build_id=id gates=gate_results open=open />
        <section>
            <h2 class="mb-2 text-sm font-semibold text-slate-700">"Log"</h2>
            <LogViewer query=Signal::derive(move || query.clone()) live=true />
        </section>
    }
}

fn origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        window().location().origin().unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

