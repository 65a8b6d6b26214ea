//! Build pieces: state and gate badges, grid cards, the duration chart, and the live-update hook.
use crate::models::{BuildCard, BuildState, GateStatus};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// Colour classes per state: green success, yellow warning, red failed, grey cancelled.
pub fn state_classes(state: BuildState) -> (&'static str, &'static str) {
    // (badge, card accent)
    match state {
        BuildState::Success => ("bg-emerald-100 text-emerald-800 ring-emerald-200", "border-l-emerald-500"),
        BuildState::Warning => ("bg-amber-100 text-amber-800 ring-amber-200", "border-l-amber-400"),
        BuildState::Failed => ("bg-rose-100 text-rose-800 ring-rose-200", "border-l-rose-500"),
        BuildState::Cancelled => ("bg-slate-100 text-slate-600 ring-slate-200", "border-l-slate-300"),
        BuildState::Running => ("bg-sky-100 text-sky-800 ring-sky-200", "border-l-sky-500"),
        BuildState::Pending => ("bg-violet-50 text-violet-700 ring-violet-200", "border-l-violet-300"),
    }
}

pub fn state_fill(state: BuildState) -> &'static str {
    match state {
        BuildState::Success => "#10b981",
        BuildState::Warning => "#f59e0b",
        BuildState::Failed => "#f43f5e",
        BuildState::Cancelled => "#cbd5e1",
        BuildState::Running => "#0ea5e9",
        BuildState::Pending => "#c4b5fd",
    }
}

/// Colour classes per gate status: green pass, amber warn, red fail, grey skipped.
pub fn gate_classes(status: GateStatus) -> &'static str {
    match status {
        GateStatus::Pass => "bg-emerald-100 text-emerald-800 ring-emerald-200",
        GateStatus::Warn => "bg-amber-100 text-amber-800 ring-amber-200",
        GateStatus::Fail => "bg-rose-100 text-rose-800 ring-rose-200",
        GateStatus::Skipped => "bg-slate-100 text-slate-600 ring-slate-200",
    }
}

#[component]
pub fn GateStatusBadge(status: GateStatus) -> impl IntoView {
    view! {
        <span class=format!("inline-flex w-14 shrink-0 justify-center rounded px-1.5 py-0.5 text-[11px] font-semibold uppercase tracking-wide ring-1 ring-inset {}", gate_classes(status))
              data-testid="gate-status" data-status=status.as_str()>
            {status.as_str()}
        </span>
    }
}

/// The card's gate chip: the worst status of the gates after the build.
#[component]
fn GateChip(status: GateStatus) -> impl IntoView {
    let (label, title) = match status {
        GateStatus::Fail => ("✘ gate", "A preflight gate failed: promoting this build needs a fix or an override"),
        GateStatus::Warn => ("! gate", "A preflight gate warns"),
        GateStatus::Pass => ("✓ gates", "All preflight gates pass"),
        GateStatus::Skipped => ("– gates", "The preflight gates had nothing to check"),
    };
    view! {
        <span class=format!("rounded px-1 text-[10px] font-semibold ring-1 ring-inset {}", gate_classes(status)) title=title
              data-testid="gate-chip" data-status=status.as_str()>{label}</span>
    }
}

#[component]
pub fn Spinner() -> impl IntoView {
    view! { <span class="inline-block h-3 w-3 animate-spin rounded-full border-2 border-sky-200 border-t-sky-600" aria-hidden="true"></span> }
}

#[component]
pub fn BuildStateBadge(state: BuildState) -> impl IntoView {
    let (badge, _) = state_classes(state);
    view! {
        <span class=format!("inline-flex items-center gap-1 rounded px-1.5 py-0.5 text-[11px] font-semibold uppercase tracking-wide ring-1 ring-inset {badge}")
              data-testid="build-state" data-state=state.as_str()>
            {(state == BuildState::Running).then(|| view! { <Spinner /> })}
            {state.as_str()}
        </span>
    }
}

/// "3m", "2h", "5d" since `t`.
pub fn age(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - *t).num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

pub fn duration(secs: i64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// One build on the grid: status colour, short SHA, message, author, age, duration.
#[component]
pub fn BuildCardView(card: BuildCard, #[prop(optional)] latest: bool) -> impl IntoView {
    let build = card;
    let now = Utc::now();
    let (_, accent) = state_classes(build.state);
    let href = format!("/builds/{}", build.id);
    let dur = build.duration_secs(now).map(duration).unwrap_or_else(|| "queued".into());
    let title = if build.message.is_empty() { "(no message)".to_string() } else { build.message.lines().next().unwrap_or_default().to_string() };
    let width = if latest { "w-56" } else { "w-44" };
    view! {
        <a href=href class=format!("block shrink-0 {width} rounded-md border border-slate-200 border-l-4 {accent} bg-white px-2.5 py-2 text-xs shadow-sm hover:shadow hover:ring-1 hover:ring-indigo-200")
           data-testid="build-card" data-state=build.state.as_str() data-build-id=build.id.to_string()>
            <div class="flex items-center justify-between gap-2">
                <span class="font-mono font-medium text-slate-800">{format!("#{} · {}", build.number, build.short_sha())}</span>
                {match build.state {
                    BuildState::Running => view! { <Spinner /> }.into_any(),
                    s => view! { <span class="text-[10px] font-semibold uppercase text-slate-500">{s.as_str()}</span> }.into_any(),
                }}
            </div>
            <p class="mt-1 truncate text-slate-700" title=title.clone()>{title.clone()}</p>
            <div class="mt-1 flex items-center justify-between text-[11px] text-slate-500">
                <span class="truncate">{if build.author.is_empty() { build.trigger.as_str().to_string() } else { build.author.clone() }}</span>
                <span>{age(&build.queued_at, now)}</span>
            </div>
            <div class="mt-0.5 flex items-center justify-between text-[11px] text-slate-500">
                <span>{dur}</span>
                {build.failed_step.clone().map(|s| view! { <span class="font-medium text-rose-700">{format!("✘ {s}")}</span> })}
                {build.gate_status().map(|status| view! { <GateChip status=status /> })}
                {(build.preview_state == Some(crate::models::PreviewState::Running)).then(|| view! { <span class="text-emerald-700">"● preview"</span> })}
            </div>
        </a>
    }
}

/// Bars of build durations, oldest left; colour by state. Hover shows the build.
#[component]
pub fn DurationChart(builds: Vec<BuildCard>) -> impl IntoView {
    let now = Utc::now();
    let mut points: Vec<(i64, i64, BuildState, String)> = builds
        .iter()
        .filter_map(|b| b.duration_secs(now).map(|d| (b.number, d, b.state, b.short_sha())))
        .collect();
    points.sort_by_key(|p| p.0);
    let points: Vec<_> = points.into_iter().rev().take(60).rev().collect();
    if points.is_empty() {
        return view! { <p class="text-sm text-slate-500" data-testid="duration-chart-empty">"No finished builds yet: the chart appears after the first one."</p> }.into_any();
    }
    let (w, h, pad) = (640.0_f64, 160.0_f64, 28.0_f64);
    let max = points.iter().map(|p| p.1).max().unwrap_or(1).max(1) as f64;
    let n = points.len() as f64;
    let slot = (w - pad - 8.0) / n;
    let bar = (slot * 0.7).clamp(2.0, 28.0);
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, (num, secs, state, sha))| {
            let bh = ((*secs as f64) / max * (h - pad - 10.0)).max(1.5);
            let x = pad + i as f64 * slot + (slot - bar) / 2.0;
            let y = h - pad - bh;
            let label = format!("#{num} {sha}: {} ({})", duration(*secs), state.as_str());
            view! {
                <rect x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{bar:.1}") height=format!("{bh:.1}") rx="2" fill=state_fill(*state)>
                    <title>{label}</title>
                </rect>
            }
        })
        .collect_view();
    let first = points.first().map(|p| p.0).unwrap_or_default();
    let last = points.last().map(|p| p.0).unwrap_or_default();
    view! {
        <svg viewBox=format!("0 0 {w} {h}") class="h-44 w-full" role="img" aria-label="Build durations over time" data-testid="duration-chart">
            <line x1=pad y1=h - pad x2=w - 4.0 y2=h - pad stroke="#e2e8f0" />
            <line x1=pad y1="8" x2=pad y2=h - pad stroke="#e2e8f0" />
            <text x="2" y="14" font-size="10" fill="#64748b">{duration(max as i64)}</text>
            <text x="2" y=h - pad font-size="10" fill="#64748b">"0"</text>
            <text x=pad y=h - 10.0 font-size="10" fill="#64748b">{format!("#{first}")}</text>
            <text x=w - 40.0 y=h - 10.0 font-size="10" fill="#64748b">{format!("#{last}")}</text>
            {bars}
        </svg>
    }
    .into_any()
}

/// Calls `on_change` whenever a build of `project_id` changes state (SSE, browser only).
pub fn use_build_events(project_id: uuid::Uuid, on_change: impl Fn() + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::prelude::*;
        let url = format!("/api/builds/events?project={project_id}");
        let Ok(es) = web_sys::EventSource::new(&url) else { return };
        let cb = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |_| on_change());
        let _ = es.add_event_listener_with_callback("build", cb.as_ref().unchecked_ref());
        cb.forget();
        let holder = StoredValue::new_local(Some(es));
        on_cleanup(move || {
            if let Some(es) = holder.try_update_value(|v| v.take()).flatten() {
                es.close();
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (project_id, on_change);
    }
}
