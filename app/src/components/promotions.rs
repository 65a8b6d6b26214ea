//! Pieces of the promotions page: state and gate badges, gate details, a pending request.
use crate::api::promotions::{ApprovePromotion, CancelPromotion, OverrideGates, RejectPromotion};
use crate::components::ui::{fmt_time, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, INPUT};
use crate::models::{GateResult, GateStatus, PromotionDetail, PromotionState};
use leptos::prelude::*;

pub fn state_class(s: PromotionState) -> &'static str {
    match s {
        PromotionState::Promoted => "bg-emerald-100 text-emerald-800 ring-emerald-200",
        PromotionState::AwaitingApproval | PromotionState::Approved => "bg-indigo-100 text-indigo-800 ring-indigo-200",
        PromotionState::Requested | PromotionState::PreflightRunning | PromotionState::Promoting => "bg-sky-100 text-sky-800 ring-sky-200",
        PromotionState::PreflightFailed | PromotionState::Failed => "bg-rose-100 text-rose-800 ring-rose-200",
        PromotionState::Rejected | PromotionState::Cancelled => "bg-slate-100 text-slate-700 ring-slate-200",
    }
}

#[component]
pub fn PromotionStateBadge(state: PromotionState) -> impl IntoView {
    view! {
        <span class=format!("inline-flex items-center rounded px-1.5 py-0.5 text-[11px] font-semibold ring-1 ring-inset {}", state_class(state))
              data-testid="promotion-state" data-state=state.as_str()>
            {state.label()}
        </span>
    }
}

/// Colours of a gate status given as text ("" when no gate ran reads as skipped).
pub fn gate_class(s: &str) -> &'static str {
    crate::components::builds::gate_classes(GateStatus::parse(s).unwrap_or(GateStatus::Skipped))
}

/// One small badge per gate, with its summary on hover.
#[component]
pub fn GateChips(gates: Vec<GateResult>) -> impl IntoView {
    view! {
        <div class="flex flex-wrap gap-1" data-testid="gate-chips">
            {gates.into_iter().map(|g| {
                let s = g.status.as_str();
                view! {
                    <span class=format!("inline-flex items-center rounded px-1.5 py-0.5 text-[11px] font-medium ring-1 ring-inset {}", gate_class(s))
                          title=format!("{}: {}", g.gate.title(), g.summary) data-gate=g.gate.as_str() data-status=s>
                        {format!("{} · {s}", g.gate.title())}
                    </span>
                }
            }).collect_view()}
        </div>
    }
}

/// Gates that did not pass, explained: what was found where, why it matters, what to do.
#[component]
pub fn GateProblems(gates: Vec<GateResult>) -> impl IntoView {
    let problems: Vec<GateResult> = gates.into_iter().filter(|g| matches!(g.status, GateStatus::Fail | GateStatus::Warn)).collect();
    view! {
        <div class="space-y-2" data-testid="gate-problems">
            {problems.into_iter().map(|g| {
                let s = g.status.as_str();
                let border = if g.status == GateStatus::Fail { "border-rose-200 bg-rose-50/60" } else { "border-amber-200 bg-amber-50/60" };
                view! {
                    <div class=format!("rounded-md border {border} p-2.5 text-xs") data-testid="gate-problem" data-gate=g.gate.as_str() data-status=s>
                        <p class="font-semibold text-slate-800">{format!("{} — {}", g.gate.title(), g.summary)}</p>
                        <p class="mt-1 text-slate-700">{g.explanation.clone()}</p>
                        <p class="mt-1 text-slate-700"><span class="font-semibold">"Fix: "</span>{g.fix.clone()}</p>
                        <ul class="mt-1.5 space-y-0.5 font-mono text-[11px] text-slate-600">
                            {g.evidence.iter().map(|e| view! {
                                <li><span class="text-slate-500">{e.location.clone()}</span>" · "{e.found.clone()}</li>
                            }).collect_view()}
                        </ul>
                    </div>
                }
            }).collect_view()}
        </div>
    }
}

/// A request waiting for something: approve in one click, reject with a reason in two.
#[component]
pub fn PendingCard(
    d: PromotionDetail,
    approve: ServerAction<ApprovePromotion>,
    reject: ServerAction<RejectPromotion>,
    cancel: ServerAction<CancelPromotion>,
    override_gates: ServerAction<OverrideGates>,
) -> impl IntoView {
    let r = d.row.clone();
    let id = r.id;
    let rejecting = RwSignal::new(false);
    let overriding = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let override_reason = RwSignal::new(String::new());
    let from = r.source_env.clone().unwrap_or_else(|| "rollback".into());
    let commit_count = d.commits.len();
    let shown: Vec<_> = d.commits.iter().take(8).cloned().collect();
    let waiting = r.state == PromotionState::AwaitingApproval;
    view! {
        <div class=format!("{CARD} p-3") data-testid="pending-promotion" data-number=r.number.to_string()>
            <div class="flex flex-wrap items-start justify-between gap-2">
                <div class="min-w-0">
                    <p class="text-sm font-semibold text-slate-900">
                        {format!("#{} · {from} → {} · build #{}", r.number, r.target_env, r.build_number)}
                        " "<span class="font-mono text-xs font-normal text-slate-500">{r.build_sha.chars().take(8).collect::<String>()}</span>
                    </p>
                    <p class="mt-0.5 truncate text-xs text-slate-600">{r.build_message.lines().next().unwrap_or_default().to_string()}</p>
                    <p class="mt-0.5 text-xs text-slate-500">
                        {format!("requested by {} · {}", r.requested_by_email, fmt_time(&r.created_at))}
                        {(!r.note.is_empty()).then(|| view! { <span class="italic">{format!(" · “{}”", r.note)}</span> })}
                    </p>
                </div>
                <div class="flex items-center gap-2">
                    <PromotionStateBadge state=r.state />
                    <span class="text-xs text-slate-600" data-testid="approval-count">{format!("{} of {} approval(s)", r.approvals, r.required_approvals)}</span>
                </div>
            </div>
            {(!d.gates.is_empty()).then(|| view! { <div class="mt-2"><GateChips gates=d.gates.clone() /></div> })}
            {(r.state == PromotionState::PreflightFailed).then(|| view! { <div class="mt-2"><GateProblems gates=d.gates.clone() /></div> })}
            {(!r.override_reason.is_empty()).then(|| view! {
                <p class="mt-2 rounded bg-amber-50 px-2 py-1 text-xs text-amber-900" data-testid="override-reason">
                    {format!("Gates overridden by {}: {}", r.overridden_by_email, r.override_reason)}
                </p>
            })}
            <details class="mt-2 text-xs" open=waiting>
                <summary class="cursor-pointer text-slate-600">{format!("{commit_count} commit(s) this brings to {}", r.target_env)}</summary>
                <ul class="mt-1 space-y-0.5" data-testid="commit-list">
                    {shown.into_iter().map(|c| view! {
                        <li class="flex gap-2"><span class="font-mono text-slate-500">{c.sha.chars().take(8).collect::<String>()}</span>
                            <span class="truncate text-slate-800">{c.subject.clone()}</span><span class="text-slate-400">{c.author.clone()}</span></li>
                    }).collect_view()}
                    {(commit_count > 8).then(|| view! { <li class="text-slate-500">{format!("and {} more", commit_count - 8)}</li> })}
                </ul>
            </details>
            <div class="mt-3 flex flex-wrap items-center gap-2">
                <button class=BUTTON data-testid="approve" style=(!d.can_approve).then_some("display:none")
                        on:click=move |_| { approve.dispatch(ApprovePromotion { id }); }>"Approve"</button>
                <button class=BUTTON_SECONDARY data-testid="reject" style=(!d.can_approve).then_some("display:none")
                        on:click=move |_| rejecting.set(true)>"Reject…"</button>
                <button class=BUTTON_SECONDARY data-testid="override" style=(!d.can_override).then_some("display:none")
                        on:click=move |_| overriding.set(true)>"Override gates…"</button>
                <button class=BUTTON_DANGER data-testid="cancel" style=(!d.can_cancel).then_some("display:none")
                        on:click=move |_| { cancel.dispatch(CancelPromotion { id }); }>"Cancel request"</button>
                <span class="text-xs text-slate-500" data-testid="approve-blocked">{crate::components::ui::nonempty(d.approve_blocked.clone())}</span>
            </div>
            <form class="mt-2 flex gap-2" style=move || (!rejecting.get()).then_some("display:none")
                  on:submit=move |ev| { ev.prevent_default(); reject.dispatch(RejectPromotion { id, reason: reason.get_untracked() }); }>
                <input class=INPUT placeholder="Why is it rejected? (required)" data-testid="reject-reason"
                       prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev)) />
                <button class=BUTTON_DANGER type="submit" data-testid="confirm-reject">"Reject"</button>
            </form>
            <form class="mt-2 flex gap-2" style=move || (!overriding.get()).then_some("display:none")
                  on:submit=move |ev| { ev.prevent_default(); override_gates.dispatch(OverrideGates { id, reason: override_reason.get_untracked() }); }>
                <input class=INPUT placeholder="Why is it safe to go past the failing gate? (required, audited)" data-testid="override-reason-input"
                       prop:value=override_reason on:input=move |ev| override_reason.set(event_target_value(&ev)) />
                <button class=BUTTON_DANGER type="submit" data-testid="confirm-override">"Override"</button>
            </form>
            <ol class="mt-2 border-l border-slate-200 pl-3 text-[11px] text-slate-500" data-testid="timeline">
                {d.events.iter().map(|e| view! {
                    <li>{format!("{} · {} · {}", fmt_time(&e.created_at), e.state.label(), e.message)}</li>
                }).collect_view()}
            </ol>
        </div>
    }
}
