//! Promotions: the pipeline (what each environment runs), requests waiting for gates or
//! approval, and the history of promotions and rollbacks. Updates live.
use crate::api::promotions::{
    get_promotions, ApprovePromotion, CancelPromotion, DismissNotification, OverrideGates, RejectPromotion, RequestPromotion, RollbackEnvironment,
    UpdatePromotionPolicy,
};
use crate::components::builds::use_build_events;
use crate::components::promotions::{gate_class, PendingCard, PromotionStateBadge};
use crate::components::ui::{fmt_time, nonempty, EmptyState, ErrorPanel, Loading, PageHeader, StageBadge, BUTTON, BUTTON_SECONDARY, CARD, INPUT, TABLE, TD, TH};
use crate::models::{AppError, PipelineColumn, PromotionKind, PromotionsOverview, Stage};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// The actions of the page; any result reloads it, an error shows at the top.
#[derive(Clone, Copy)]
struct Actions {
    request: ServerAction<RequestPromotion>,
    approve: ServerAction<ApprovePromotion>,
    reject: ServerAction<RejectPromotion>,
    cancel: ServerAction<CancelPromotion>,
    override_gates: ServerAction<OverrideGates>,
    rollback: ServerAction<RollbackEnvironment>,
    dismiss: ServerAction<DismissNotification>,
    policy: ServerAction<UpdatePromotionPolicy>,
}

#[component]
pub fn PromotionsPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let data = Resource::new(slug, get_promotions);
    let a = Actions {
        request: ServerAction::new(),
        approve: ServerAction::new(),
        reject: ServerAction::new(),
        cancel: ServerAction::new(),
        override_gates: ServerAction::new(),
        rollback: ServerAction::new(),
        dismiss: ServerAction::new(),
        policy: ServerAction::new(),
    };
    let flash = RwSignal::new(None::<Result<String, String>>);
    let report = move |r: Option<Result<String, AppError>>| {
        if let Some(r) = r {
            flash.set(Some(r.map_err(|e| e.to_string())));
            data.refetch();
        }
    };
    Effect::new(move |_| report(a.request.value().get().map(|r| r.map(|_| "Promotion requested: the gates are running.".to_string()))));
    Effect::new(move |_| report(a.approve.value().get().map(|r| r.map(|_| "Approved.".to_string()))));
    Effect::new(move |_| report(a.reject.value().get().map(|r| r.map(|_| "Rejected.".to_string()))));
    Effect::new(move |_| report(a.cancel.value().get().map(|r| r.map(|_| "Request cancelled.".to_string()))));
    Effect::new(move |_| report(a.override_gates.value().get().map(|r| r.map(|_| "Gates overridden; the request now waits for approval.".to_string()))));
    Effect::new(move |_| report(a.rollback.value().get().map(|r| r.map(|_| "Rollback started.".to_string()))));
    Effect::new(move |_| report(a.dismiss.value().get().map(|r| r.map(|_| "Dismissed.".to_string()))));
    Effect::new(move |_| report(a.policy.value().get().map(|r| r.map(|_| "Policy saved.".to_string()))));
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => view! { <Overview o=o a=a flash=flash on_change=move || data.refetch() /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Overview(o: PromotionsOverview, a: Actions, flash: RwSignal<Option<Result<String, String>>>, on_change: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    use_build_events(o.project_id, on_change);
    let slug = o.project_slug.clone();
    let approvals = o.policy.required_approvals;
    let subtitle = format!(
        "development → staging → production. Every promotion passes six gates and needs {approvals} approval{} from a PM or admin.{}",
        if approvals == 1 { "" } else { "s" },
        if o.policy.allow_dev_to_production { " Development may go straight to production." } else { "" }
    );
    let pending_empty = o.pending.is_empty();
    let history_empty = o.history.is_empty();
    let (can_request, can_rollback) = (o.can_request, o.can_rollback);
    let policy = o.policy.clone();
    let policy_slug = slug.clone();
    view! {
        <Title text=format!("Promotions · {}", o.project_name) />
        <PageHeader title=format!("{} promotions", o.project_name) subtitle=subtitle>
            <a class=BUTTON_SECONDARY href=format!("/projects/{slug}/builds")>"Build grid"</a>
            <a class=BUTTON_SECONDARY href=format!("/projects/{slug}/neutralization")>"Neutralization rules"</a>
        </PageHeader>
        <div class="mb-3" style=move || flash.get().is_none().then_some("display:none") data-testid="flash">
            {move || flash.get().map(|m| match m {
                Ok(t) => view! { <p class="rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-800" role="status" data-testid="form-ok">{t}</p> }.into_any(),
                Err(e) => view! { <p class="rounded-md bg-rose-50 px-3 py-2 text-sm text-rose-800" role="alert" data-testid="form-error">{e}</p> }.into_any(),
            })}
        </div>
        <div class="mb-4 space-y-2" data-testid="notifications">
            {o.notifications.into_iter().map(|n| {
                let colour = match n.level.as_str() { "error" => "border-rose-200 bg-rose-50 text-rose-900", "warning" => "border-amber-200 bg-amber-50 text-amber-900", _ => "border-sky-200 bg-sky-50 text-sky-900" };
                let id = n.id;
                view! {
                    <div class=format!("flex items-start justify-between gap-3 rounded-md border px-3 py-2 text-sm {colour}") data-testid="notification">
                        <div><p class="font-medium">{n.title.clone()}</p><p class="text-xs">{n.body.clone()}</p>
                            <p class="text-[11px] opacity-70">{format!("{}{}", n.environment.clone().map(|e| format!("{e} · ")).unwrap_or_default(), fmt_time(&n.created_at))}</p></div>
                        <button class="text-xs underline" on:click=move |_| { a.dismiss.dispatch(DismissNotification { id }); }>"Dismiss"</button>
                    </div>
                }
            }).collect_view()}
        </div>
        <section class="mb-6">
            <h2 class="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-500">"Pipeline"</h2>
            <div class="grid gap-3 md:grid-cols-3" data-testid="pipeline">
                {o.pipeline.into_iter().map(|c| view! { <Column c=c a=a can_request=can_request can_rollback=can_rollback /> }).collect_view()}
            </div>
        </section>
        <section class="mb-6">
            <h2 class="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-500">"Pending"</h2>
            {pending_empty.then(|| view! { <EmptyState title="Nothing is waiting" hint="Use “Promote” on an environment above to ask for its build to move up a stage." /> })}
            <div class="space-y-3" data-testid="pending">
                {o.pending.into_iter().map(|d| view! {
                    <PendingCard d=d approve=a.approve reject=a.reject cancel=a.cancel override_gates=a.override_gates />
                }).collect_view()}
            </div>
        </section>
        <PolicyPanel slug=policy_slug p=policy action=a.policy />
        <section>
            <h2 class="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-500">"History"</h2>
            {history_empty.then(|| view! { <EmptyState title="No promotions yet" hint="Finished promotions and rollbacks appear here, newest first, with who did what." /> })}
            <div class=format!("{CARD} overflow-x-auto") style=history_empty.then_some("display:none")>
                <table class=TABLE data-testid="history">
                    <thead class="bg-slate-50"><tr>
                        <th class=TH>"#"</th><th class=TH>"What"</th><th class=TH>"Build"</th><th class=TH>"State"</th>
                        <th class=TH>"Requested by"</th><th class=TH>"When"</th><th class=TH>"Notes"</th>
                    </tr></thead>
                    <tbody class="divide-y divide-slate-100">
                        {o.history.into_iter().map(|r| {
                            let what = match r.kind {
                                PromotionKind::Rollback => format!("rollback of {}", r.target_env),
                                PromotionKind::Promotion => format!("{} → {}", r.source_env.clone().unwrap_or_default(), r.target_env),
                            };
                            let notes = [r.error.clone(), if r.override_reason.is_empty() { String::new() } else { format!("override: {}", r.override_reason) }, r.note.clone()]
                                .into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" · ");
                            view! {
                                <tr data-testid="history-row" data-kind=r.kind.as_str() data-state=r.state.as_str()>
                                    <td class=format!("{TD} font-mono text-xs")>{r.number}</td>
                                    <td class=TD>{what}</td>
                                    <td class=format!("{TD} font-mono text-xs")><a class="text-indigo-700 hover:underline" href=format!("/builds/{}", r.build_id)>{format!("#{}", r.build_number)}</a>
                                        {r.previous_build_number.map(|p| format!(" (was #{p})"))}</td>
                                    <td class=TD><PromotionStateBadge state=r.state /></td>
                                    <td class=format!("{TD} text-xs")>{r.requested_by_email.clone()}</td>
                                    <td class=format!("{TD} text-xs text-slate-500")>{fmt_time(r.finished_at.as_ref().unwrap_or(&r.created_at))}</td>
                                    <td class=format!("{TD} max-w-md text-xs text-slate-600")>{nonempty(notes)}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn Column(c: PipelineColumn, a: Actions, can_request: bool, can_rollback: bool) -> impl IntoView {
    let asking = RwSignal::new(false);
    let rolling = RwSignal::new(false);
    let note = RwSignal::new(String::new());
    let refresh = RwSignal::new(false);
    let env_id = c.env_id;
    let target = c.promote_to.clone();
    let target_env = target.as_ref().map(|t| t.1.clone()).unwrap_or_default();
    let target_id = target.as_ref().map(|t| t.2);
    let to_staging = target.as_ref().is_some_and(|t| t.0 == Stage::Staging);
    let may_promote = can_request && c.build.is_some() && target.is_some();
    let may_rollback = can_rollback && c.previous_build.is_some() && c.open.is_none();
    let prev_label = c.previous_build.as_ref().map(|b| format!("#{}", b.number)).unwrap_or_default();
    let instance = match c.instance_state.as_str() {
        "running" => "bg-emerald-100 text-emerald-800",
        "starting" => "bg-sky-100 text-sky-800",
        "failed" => "bg-rose-100 text-rose-800",
        _ => "bg-slate-100 text-slate-600",
    };
    view! {
        <div class=format!("{CARD} flex flex-col p-3") data-testid="pipeline-column" data-env=c.name.clone() data-stage=c.stage.as_str()>
            <div class="flex items-center justify-between gap-2">
                <div class="flex items-center gap-2"><StageBadge stage=c.stage /><span class="font-semibold text-slate-900">{c.name.clone()}</span></div>
                <span class=format!("rounded px-1.5 py-0.5 text-[11px] font-medium {instance}") title=c.instance_detail.clone() data-testid="instance-state">{c.instance_state.clone()}</span>
            </div>
            <p class="mt-0.5 text-[11px] text-slate-500">{format!("branch {} · database {}", c.branch_name, c.database_name.clone().unwrap_or_else(|| "none".into()))}</p>
            {match c.build.clone() {
                Some(b) => view! {
                    <a href=format!("/builds/{}", b.id) class="mt-2 block rounded-md border border-slate-200 px-2.5 py-2 text-xs hover:ring-1 hover:ring-indigo-200" data-testid="current-build" data-number=b.number.to_string()>
                        <div class="flex items-center justify-between">
                            <span class="font-mono font-medium text-slate-800">{format!("#{} · {}", b.number, b.sha.chars().take(8).collect::<String>())}</span>
                            <span class=format!("rounded px-1 text-[10px] font-semibold ring-1 ring-inset {}", gate_class(&b.gates)) title="worst gate result of this build">
                                {if b.gates.is_empty() { "gates: –".to_string() } else { format!("gates: {}", b.gates) }}</span>
                        </div>
                        <p class="mt-1 truncate text-slate-700">{b.message.lines().next().unwrap_or_default().to_string()}</p>
                        <p class="mt-0.5 text-[11px] text-slate-500">{format!("{} · deployed {}", b.author, c.deployed_at.as_ref().map(fmt_time).unwrap_or_else(|| "–".into()))}</p>
                    </a>
                }.into_any(),
                None => view! { <p class="mt-2 rounded-md border border-dashed border-slate-300 px-2.5 py-3 text-center text-xs text-slate-500">"Runs no build yet: a good build of its branch or a promotion will land here."</p> }.into_any(),
            }}
            <p class="mt-1 text-[11px] text-slate-500">{nonempty(c.instance_detail.clone())}</p>
            {c.open.clone().map(|o| view! {
                <p class="mt-1 flex items-center gap-1.5 text-xs text-slate-600" data-testid="open-promotion">{format!("#{} incoming:", o.number)}<PromotionStateBadge state=o.state /></p>
            })}
            <div class="mt-auto flex flex-wrap gap-2 pt-3">
                <button class=BUTTON data-testid="promote" style=(!may_promote).then_some("display:none") on:click=move |_| asking.update(|v| *v = !*v)>
                    {format!("Promote to {target_env} →")}</button>
                <button class=BUTTON_SECONDARY data-testid="rollback" style=(!may_rollback).then_some("display:none") on:click=move |_| rolling.update(|v| *v = !*v)>
                    {format!("Roll back to {prev_label}")}</button>
            </div>
            <form class="mt-2 space-y-2" style=move || (!asking.get()).then_some("display:none") data-testid="promote-form"
                  on:submit=move |ev| {
                      ev.prevent_default();
                      if let Some(t) = target_id {
                          a.request.dispatch(RequestPromotion { source_env: env_id, target_env: t, note: note.get_untracked(), refresh_data: refresh.get_untracked() });
                      }
                      asking.set(false);
                  }>
                <textarea class=INPUT rows="2" placeholder="What does it bring? (optional note for approvers)" data-testid="promote-note"
                          prop:value=note on:input=move |ev| note.set(event_target_value(&ev))></textarea>
                <label class="flex items-center gap-2 text-xs text-slate-600" style=(!to_staging).then_some("display:none")>
                    <input type="checkbox" prop:checked=refresh on:change=move |ev| refresh.set(event_target_checked(&ev)) data-testid="refresh-data" />
                    "Refresh staging's data from production (a copy, neutralized before use)"
                </label>
                <button class=BUTTON type="submit" data-testid="confirm-promote">"Request promotion"</button>
            </form>
            <form class="mt-2 space-y-2" style=move || (!rolling.get()).then_some("display:none")
                  on:submit=move |ev| { ev.prevent_default(); a.rollback.dispatch(RollbackEnvironment { env_id, note: note.get_untracked() }); rolling.set(false); }>
                <input class=INPUT placeholder="Why roll back? (recorded in the history)" prop:value=note on:input=move |ev| note.set(event_target_value(&ev)) data-testid="rollback-note" />
                <button class=BUTTON type="submit" data-testid="confirm-rollback">{format!("Roll back to {}", prev_label.clone())}</button>
            </form>
        </div>
    }
}

/// Approvals needed and gate thresholds: editable by admins, readable by everyone.
#[component]
fn PolicyPanel(slug: String, p: crate::models::PromotionPolicy, action: ServerAction<UpdatePromotionPolicy>) -> impl IntoView {
    use crate::components::ui::LABEL;
    let g = p.gates.clone();
    let join = |v: Vec<String>| v.join(", ");
    view! {
        <details class=format!("{CARD} mb-6 p-3 text-sm") data-testid="policy">
            <summary class="cursor-pointer font-medium text-slate-700">
                {format!("Policy and gate thresholds: {} approval(s); objects warn {} / fail {}; cron limit {} s; mail ports {}",
                    p.required_approvals, g.objects_warn, g.objects_fail, g.cron_max_seconds,
                    g.smtp_allowed_ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "))}
            </summary>
            <ActionForm action=action attr:class="mt-3 grid gap-3 md:grid-cols-3">
                <input type="hidden" name="slug" value=slug />
                <label><span class=LABEL>"Approvals needed (1–5)"</span>
                    <input class=INPUT type="number" min="1" max="5" name="required_approvals" value=p.required_approvals.to_string() disabled=!p.can_manage data-testid="policy-approvals" /></label>
                <label><span class=LABEL>"Object count: warn at"</span>
                    <input class=INPUT type="number" min="1" name="objects_warn" value=g.objects_warn.to_string() disabled=!p.can_manage /></label>
                <label><span class=LABEL>"Object count: fail at"</span>
                    <input class=INPUT type="number" min="1" name="objects_fail" value=g.objects_fail.to_string() disabled=!p.can_manage /></label>
                <label><span class=LABEL>"Cron runtime limit (seconds)"</span>
                    <input class=INPUT type="number" min="1" name="cron_max_seconds" value=g.cron_max_seconds.to_string() disabled=!p.can_manage /></label>
                <label><span class=LABEL>"Allowed outgoing mail ports"</span>
                    <input class=INPUT name="smtp_allowed_ports" value=join(g.smtp_allowed_ports.iter().map(|p| p.to_string()).collect()) disabled=!p.can_manage /></label>
                <label class="flex items-end gap-2 pb-1.5 text-xs text-slate-700">
                    <input type="checkbox" name="allow_dev_to_production" checked=p.allow_dev_to_production disabled=!p.can_manage />
                    "Development may go straight to production"</label>
                <label class="md:col-span-3"><span class=LABEL>"Allowed PostgreSQL extensions (comma-separated)"</span>
                    <input class=INPUT name="allowed_extensions" value=join(g.allowed_extensions.clone()) disabled=!p.can_manage /></label>
                <div class="md:col-span-3" style=(!p.can_manage).then_some("display:none")>
                    <button class=BUTTON type="submit" data-testid="policy-save">"Save policy"</button>
                </div>
            </ActionForm>
        </details>
    }
}
