//! Fix plans: a database's safe patches grouped by severity and previewed as the SQL that
//! will run (in one transaction), applied by a sysadmin and followed by a re-scan; and the
//! plans made before, with what their re-scan found.
use super::{level_chip, poll_while, score_class, Frame, TargetPicker};
use crate::api::scanner::{get_fix_plans, ApplyFixPlan};
use crate::components::ui::{fmt_time, EmptyState, ErrorPanel, Loading, BUTTON, CARD};
use crate::models::{FixPlans, PlanRow, PlanStatus, PlanStep, Severity};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

#[component]
pub fn FixPlansPage() -> impl IntoView {
    let q = use_query_map();
    let key = move || q.read().get("target").unwrap_or_default();
    let tick = RwSignal::new(0_u32);
    let data = Resource::new(move || (key(), tick.get()), |(k, _)| get_fix_plans(k));
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(p) => {
                        poll_while(p.plans.iter().any(|x| x.job.is_some()) || p.target.job.is_some(), tick);
                        view! {
                            <Frame active="plans" title=format!("Fix plans · {}", p.target.name) target=p.target.key.clone()>
                                <TargetPicker targets=p.targets.iter().filter(|t| t.plans_allowed()).cloned().collect() current=p.target.key.clone() path="/scanner/plans" />
                                <Plans p=p tick=tick />
                            </Frame>
                        }.into_any()
                    }
                    Err(e) => view! { <Frame active="plans" title="Fix plans" target=key()><ErrorPanel error=e /></Frame> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Plans(p: FixPlans, tick: RwSignal<u32>) -> impl IntoView {
    let apply = ServerAction::<ApplyFixPlan>::new();
    // Every patch is picked until unticked.
    let unpicked = RwSignal::new(Vec::<Uuid>::new());
    let steps = StoredValue::new(p.available.clone());
    let picked = move || steps.with_value(|s| s.iter().filter(|x| !unpicked.with(|u| u.contains(&x.finding_id))).cloned().collect::<Vec<_>>());
    let error = move || apply.value().get().and_then(|r| r.err()).map(|e| e.to_string());
    Effect::new(move |_| {
        if let Some(Ok(_)) = apply.value().get() {
            tick.update(|n| *n += 1);
        }
    });
    let target_key = p.target.key.clone();
    let on_apply = move |_| {
        let ids = picked().iter().map(|s| s.finding_id.to_string()).collect::<Vec<_>>().join(",");
        apply.dispatch(ApplyFixPlan { target_key: target_key.clone(), steps: ids });
    };
    let busy = p.target.job.is_some();
    let can_apply = p.can.apply && p.target.plans_allowed();
    let preview = move || {
        let body = picked().iter().map(|s| format!("-- {} ({})\n{}", s.title, s.detail, s.sql.trim_end())).collect::<Vec<_>>().join("\n\n");
        format!("begin;\n\n{body}\n\ncommit;")
    };
    let available = if p.available.is_empty() {
        let hint = match &p.target.last_scan {
            None => "This database has not been scanned yet: scan it from the register first.",
            Some(_) => "No open finding of this database has a safe automatic fix. The others need a decision: see each finding's remediation in the register.",
        };
        view! { <EmptyState title="Nothing to fix automatically" hint=hint /> }.into_any()
    } else {
        view! {
            <div class="grid gap-4 lg:grid-cols-2">
                <div class="space-y-4" data-testid="available-patches">
                    {Severity::ALL.into_iter().filter_map(|level| {
                        let group: Vec<PlanStep> = p.available.iter().filter(|s| s.level == level).cloned().collect();
                        (!group.is_empty()).then(|| view! {
                            <div class=format!("{CARD} p-3") data-testid="patch-group" data-level=level.as_str()>
                                <h3 class="mb-2 flex items-center gap-2 text-sm font-semibold text-slate-800">{level_chip(level)}{format!("{} patch{}", group.len(), if group.len() == 1 { "" } else { "es" })}</h3>
                                <ul class="space-y-2">
                                    {group.into_iter().map(|s| {
                                        let id = s.finding_id;
                                        view! {
                                            <li class="flex gap-2">
                                                <input type="checkbox" class="mt-1" checked=true aria-label=format!("Include {}", s.detail) data-testid="patch-pick"
                                                       on:change=move |ev| { let on = event_target_checked(&ev); unpicked.update(|u| { u.retain(|x| *x != id); if !on { u.push(id); } }); } />
                                                <div class="min-w-0">
                                                    <p class="text-sm text-slate-800">{s.title.clone()}</p>
                                                    <p class="text-xs text-slate-500">{s.detail.clone()}</p>
                                                    <pre class="mt-1 overflow-auto whitespace-pre-wrap break-all rounded bg-slate-100 p-1.5 font-mono text-[11px] text-slate-800">{s.sql.clone()}</pre>
                                                </div>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            </div>
                        })
                    }).collect_view()}
                </div>
                <div>
                    <div class=format!("{CARD} p-3 lg:sticky lg:top-4")>
                        <h3 class="mb-1 text-sm font-semibold text-slate-800">"What will run"</h3>
                        <p class="mb-2 text-xs text-slate-500">"One transaction on the database: if any statement fails, nothing changes. Each patch is idempotent. A re-scan follows."</p>
                        <pre class="max-h-96 overflow-auto whitespace-pre-wrap break-all rounded bg-slate-900 p-2 font-mono text-[11px] text-slate-100" data-testid="plan-preview">{preview}</pre>
                        <div class="mt-3 flex items-center gap-3">
                            {if can_apply {
                                view! {
                                    <button type="button" class=BUTTON data-testid="apply-plan" on:click=on_apply
                                            disabled=move || busy || apply.pending().get() || picked().is_empty()>
                                        {move || if apply.pending().get() { "Queuing…".to_string() } else { format!("Apply {} patch{}", picked().len(), if picked().len() == 1 { "" } else { "es" }) }}
                                    </button>
                                }.into_any()
                            } else if !p.target.plans_allowed() {
                                view! { <p class="text-xs text-slate-500">"The console's own database is changed by its migrations, not by fix plans."</p> }.into_any()
                            } else {
                                view! { <p class="text-xs text-slate-500" data-testid="apply-needs-sysadmin">"Only a sysadmin can apply a fix plan."</p> }.into_any()
                            }}
                            {busy.then(|| view! { <span class="text-xs text-indigo-700">"A scan or plan of this database is under way…"</span> })}
                        </div>
                        {move || error().map(|e| view! { <p class="mt-2 text-sm text-rose-700" role="alert" data-testid="form-error">{e}</p> })}
                    </div>
                </div>
            </div>
        }.into_any()
    };
    view! {
        <section class="mb-6">
            <h2 class="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-500">"Available patches"</h2>
            {available}
        </section>
        <section>
            <h2 class="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-500">"Plans"</h2>
            {if p.plans.is_empty() {
                view! { <p class="text-sm text-slate-500">"No plan has been applied to this database yet."</p> }.into_any()
            } else {
                view! { <div class="space-y-2" data-testid="plans">{p.plans.into_iter().map(|x| view! { <PlanCard plan=x /> }).collect_view()}</div> }.into_any()
            }}
        </section>
    }
}

#[component]
fn PlanCard(plan: PlanRow) -> impl IntoView {
    let (class, text) = match (plan.status, &plan.job) {
        (_, Some(_)) => ("bg-indigo-50 text-indigo-700", "applying…"),
        (PlanStatus::Draft, None) => ("bg-slate-100 text-slate-600", "not applied"),
        (PlanStatus::Applied, None) => ("bg-emerald-50 text-emerald-700", "applied"),
        (PlanStatus::Failed, None) => ("bg-rose-50 text-rose-700", "failed, nothing changed"),
    };
    let rescan = plan.rescan.as_ref().map(|s| {
        view! {
            <p class="text-xs text-slate-600" data-testid="plan-rescan">
                {format!("Re-scan {}: {} finding{} resolved, {} new · score ", fmt_time(&s.started_at), s.counts.resolved, if s.counts.resolved == 1 { "" } else { "s" }, s.counts.new)}
                <span class=format!("font-semibold {}", score_class(s.score))>{s.score.map(|x| x.to_string()).unwrap_or_else(|| "–".into())}</span>
                " · "<a class="text-indigo-700 hover:underline" href=format!("/scanner/history?target={}&scan={}", crate::components::ui::urlencode(&s.target_key), s.id)>"drift"</a>
            </p>
        }
    });
    view! {
        <div class=format!("{CARD} p-3") data-testid="plan" data-status=plan.status.as_str()>
            <div class="flex flex-wrap items-center justify-between gap-2">
                <p class="text-sm text-slate-800">
                    <span class=format!("mr-2 rounded px-1.5 py-0.5 text-[11px] font-medium {class}") data-testid="plan-status">{text}</span>
                    {format!("{} patch{} · by {} · {}", plan.steps.len(), if plan.steps.len() == 1 { "" } else { "es" }, plan.created_by.clone().unwrap_or_else(|| "—".into()), fmt_time(&plan.created_at))}
                </p>
                {plan.job.as_ref().map(|_| view! { <div class="h-1.5 w-32 overflow-hidden rounded bg-slate-100"><div class="h-full w-1/2 animate-pulse rounded bg-indigo-500"></div></div> })}
            </div>
            {plan.error.clone().map(|e| view! { <p class="mt-1 text-xs text-rose-700" data-testid="plan-error">{e}</p> })}
            {rescan}
            <details class="mt-1 text-xs">
                <summary class="cursor-pointer text-slate-500">"Patches"</summary>
                <ul class="mt-1 space-y-0.5">{plan.steps.iter().map(|s| view! { <li class="flex items-center gap-2">{level_chip(s.level)}<span>{s.detail.clone()}</span></li> }).collect_view()}</ul>
            </details>
        </div>
    }
}
