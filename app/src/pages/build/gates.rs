//! The build page's "Preflight gates" panel: one row per gate with its verdict and summary;
//! a row opens to what it means, what to do and the evidence (where, and what was found).
use crate::components::builds::GateStatusBadge;
use crate::components::ui::CARD;
use crate::models::{overall, AppError, GateId, GateResult, GateStatus};
use leptos::prelude::*;
use std::collections::HashMap;
use uuid::Uuid;

/// Which rows are open, kept by the page so a reload (a live build event) keeps them as the
/// reader left them. Rows nobody toggled: failing ones open, the rest closed.
pub type OpenRows = RwSignal<HashMap<(Uuid, GateId), bool>>;

#[component]
pub fn GatesPanel(build_id: Uuid, gates: Result<Vec<GateResult>, AppError>, open: OpenRows) -> impl IntoView {
    let (gates, error) = match gates {
        Ok(g) => (g, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let counts = GateStatus::ALL
        .iter()
        .filter_map(|s| {
            let n = gates.iter().filter(|g| g.status == *s).count();
            (n > 0).then(|| format!("{n} {}", s.as_str()))
        })
        .collect::<Vec<_>>()
        .join(" · ");
    let worst = if gates.is_empty() { "none" } else { overall(&gates).as_str() };
    let empty = gates.is_empty();
    view! {
        <section class="mb-4" data-testid="gates-panel" data-overall=worst>
            <div class="mb-2 flex items-baseline justify-between gap-2">
                <h2 class="text-sm font-semibold text-slate-700">"Preflight gates"</h2>
                <span class="text-xs text-slate-500" data-testid="gates-counts">{crate::components::ui::nonempty(counts)}</span>
            </div>
            <div class=format!("{CARD} px-4 py-3 text-sm text-slate-500") style=if empty { "" } else { "display:none" } data-testid="gates-empty">
                {error.unwrap_or_else(|| "Gates run after a successful build: the six preflight checks (extensions, object count, scheduled jobs, system packages, mail port, long-lived connections) appear here then.".into())}
            </div>
            <ul class=format!("{CARD} divide-y divide-slate-100 overflow-hidden text-sm") style=if empty { "display:none" } else { "" }>
                {gates.into_iter().map(|g| view! { <GateRow build_id=build_id g=g open=open /> }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn GateRow(build_id: Uuid, g: GateResult, open: OpenRows) -> impl IntoView {
    let key = (build_id, g.gate);
    let default_open = g.status == GateStatus::Fail;
    let is_open = move || open.with(|m| m.get(&key).copied().unwrap_or(default_open));
    let toggle = move |_| {
        let now = !is_open();
        open.update(|m| {
            m.insert(key, now);
        });
    };
    let has_fix = !g.fix.is_empty();
    let has_evidence = !g.evidence.is_empty();
    view! {
        <li data-testid="gate-row" data-gate=g.gate.as_str() data-status=g.status.as_str()>
            <button type="button" class="flex w-full items-center gap-3 px-4 py-2 text-left hover:bg-slate-50" on:click=toggle
                    aria-expanded=move || is_open().to_string() data-testid="gate-toggle">
                <GateStatusBadge status=g.status />
                <span class="w-48 shrink-0 font-medium text-slate-800">{g.gate.title()}</span>
                <span class="min-w-0 flex-1 truncate text-slate-600" title=g.summary.clone() data-testid="gate-summary">{crate::components::ui::nonempty(g.summary.clone())}</span>
                <span class="text-xs text-slate-400">{move || if is_open() { "▾" } else { "▸" }}</span>
            </button>
            <div class="space-y-2 border-t border-slate-100 bg-slate-50/60 px-4 py-3 text-[13px]" style=move || if is_open() { "" } else { "display:none" } data-testid="gate-details">
                <p class="text-slate-700" data-testid="gate-explanation">{crate::components::ui::nonempty(g.explanation.clone())}</p>
                <p class="text-slate-700" style=if has_fix { "" } else { "display:none" } data-testid="gate-fix">
                    <span class="font-semibold text-slate-800">"Suggested fix: "</span>{crate::components::ui::nonempty(g.fix.clone())}
                </p>
                <div style=if has_evidence { "" } else { "display:none" }>
                    <p class="mb-1 text-[11px] font-semibold uppercase tracking-wide text-slate-500">"Evidence"</p>
                    <ul class="space-y-0.5 overflow-x-auto rounded border border-slate-200 bg-white px-2 py-1.5 font-mono text-xs" data-testid="gate-evidence">
                        {g.evidence.iter().map(|e| view! {
                            <li class="flex gap-3 whitespace-pre">
                                <span class="shrink-0 text-slate-500" data-testid="evidence-location">{crate::components::ui::nonempty(e.location.clone())}</span>
                                <span class="text-slate-800" data-testid="evidence-found">{crate::components::ui::nonempty(e.found.clone())}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                </div>
            </div>
        </li>
    }
}
