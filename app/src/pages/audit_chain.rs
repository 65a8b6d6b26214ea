use crate::api::audit::VerifyAuditChain;
use crate::components::ui::{ErrorPanel, PageHeader, BUTTON, BUTTON_SECONDARY, CARD};
use crate::models::{Capability, ChainBreak, ChainReport, SessionUser};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

const HEAD_NOTE: &str = "Write this down elsewhere: an attacker with database-owner access could rebuild the whole chain; \
                         a head hash you noted earlier proves they did not.";

const HEAD_NOTE_BROKEN: &str = "The head as the database records it now; compare it with a head hash noted earlier to see \
                                 whether the newest records were rewritten too.";

/// Checks the workspace's audit hash chain on demand and shows the head hash and, if the
/// chain is broken, its first broken link.
#[component]
pub fn AuditChainPage() -> impl IntoView {
    let allowed = use_context::<SessionUser>().is_some_and(|u| u.role.allows(Capability::VerifyAudit));
    if !allowed {
        return view! { <crate::pages::errors::Forbidden reason="Only admins can verify the audit chain." /> }.into_any();
    }
    let verify = ServerAction::<VerifyAuditChain>::new();
    let pending = verify.pending();
    view! {
        <Title text="Verify the audit chain" />
        <PageHeader title="Verify the audit chain" subtitle="Each audit record carries a hash of its content chained to the record before it.">
            <a class=BUTTON_SECONDARY href="/audit">"← Audit log"</a>
        </PageHeader>
        <div class=format!("{CARD} flex flex-wrap items-center justify-between gap-4 p-4")>
            <p class="max-w-2xl text-sm text-slate-600">
                "The check reads every record of this workspace in order and recomputes its hash. An edited record no longer \
                 matches its hash; a deleted or slipped-in record breaks the link of the one after it."
            </p>
            <ActionForm action=verify>
                <button type="submit" class=BUTTON data-testid="verify-chain" prop:disabled=move || pending.get()>
                    {move || if pending.get() { "Checking…" } else { "Verify the audit chain" }}
                </button>
            </ActionForm>
        </div>
        <div class="mt-4" aria-live="polite">
            {move || match verify.value().get() {
                None if pending.get() => view! {
                    <div class="flex items-center gap-2 py-6 text-sm text-slate-500" data-testid="chain-checking">
                        <span class="h-4 w-4 animate-spin rounded-full border-2 border-slate-300 border-t-slate-600"></span>
                        "Checking every record…"
                    </div>
                }.into_any(),
                None => view! { <p class="py-6 text-sm text-slate-500">"Not checked yet. The check reads about 100,000 records a second."</p> }.into_any(),
                Some(Ok(report)) => view! { <ChainResult report /> }.into_any(),
                Some(Err(e)) => view! { <ErrorPanel error=e /> }.into_any(),
            }}
        </div>
    }
    .into_any()
}

#[component]
fn ChainResult(report: ChainReport) -> impl IntoView {
    let intact = report.is_intact();
    let (badge, label) = if intact {
        ("bg-emerald-100 text-emerald-800 ring-emerald-200", "intact")
    } else {
        ("bg-rose-100 text-rose-800 ring-rose-200", "broken")
    };
    let summary = if intact {
        "No record was edited, deleted or inserted out of order."
    } else {
        "The chain is broken: records were edited, deleted or inserted after they were written."
    };
    view! {
        <div class=format!("{CARD} p-5") data-testid="chain-result" data-checked-at=report.checked_at.to_rfc3339()>
            <div class="flex flex-wrap items-center gap-3">
                <span class=format!("inline-flex items-center rounded px-2 py-0.5 text-xs font-semibold uppercase tracking-wide ring-1 ring-inset {badge}") data-testid="chain-status">
                    {label}
                </span>
                <p class="text-sm text-slate-700">{summary}</p>
            </div>
            <dl class="mt-4 grid grid-cols-2 gap-4 text-sm sm:grid-cols-3">
                <Fact label="Records checked" value=report.rows_checked.to_string() testid="rows-checked" />
                <Fact label="Head sequence number" value=report.head_seq.to_string() testid="head-seq" />
                <Fact label="Checked at" value=report.checked_at.format("%Y-%m-%d %H:%M:%S UTC").to_string() testid="checked-at" />
            </dl>
            <div class="mt-4">
                <p class="text-xs font-medium text-slate-500">"Head hash"</p>
                <code class="mt-1 block select-all break-all rounded bg-slate-50 px-2 py-1.5 font-mono text-sm text-slate-900 ring-1 ring-slate-200" title="Click to select" data-testid="head-hash">
                    {report.head_hash.clone()}
                </code>
                <p class="mt-1.5 text-xs text-slate-500">{if intact { HEAD_NOTE } else { HEAD_NOTE_BROKEN }}</p>
            </div>
            {report.first_break.map(|b| view! { <BreakDetails b /> })}
        </div>
    }
}

#[component]
fn Fact(label: &'static str, value: String, testid: &'static str) -> impl IntoView {
    view! {
        <div>
            <dt class="text-xs font-medium text-slate-500">{label}</dt>
            <dd class="mt-0.5 font-medium text-slate-900" data-testid=testid>{value}</dd>
        </div>
    }
}

#[component]
fn BreakDetails(b: ChainBreak) -> impl IntoView {
    let dash = || "—".to_string();
    // The audit list shows records older than `before`: this one comes first.
    let near = b.audit_id.map(|id| format!("/audit?before={}", id + 1));
    view! {
        <div class="mt-5 rounded-md border border-rose-200 bg-rose-50 p-4" data-testid="chain-break">
            <p class="text-sm font-medium text-rose-900">"First broken link"</p>
            <p class="mt-0.5 text-sm text-rose-800" data-testid="break-reason">{b.reason.clone()}</p>
            <dl class="mt-3 grid grid-cols-2 gap-3 text-sm sm:grid-cols-4">
                <BreakFact label="Record id" value=b.audit_id.map_or_else(dash, |id| id.to_string()) testid="break-id" />
                <BreakFact label="Sequence number" value=b.seq.to_string() testid="break-seq" />
                <BreakFact label="Written at" value=b.created_at.map_or_else(dash, |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()) testid="break-time" />
                <BreakFact label="Action" value=b.action.clone().unwrap_or_else(dash) testid="break-action" />
            </dl>
            {near.map(|href| view! { <a class="mt-3 inline-block text-sm font-medium text-rose-900 underline" href=href>"Show it in the audit log →"</a> })}
        </div>
    }
}

#[component]
fn BreakFact(label: &'static str, value: String, testid: &'static str) -> impl IntoView {
    view! {
        <div>
            <dt class="text-xs font-medium text-rose-700">{label}</dt>
            <dd class="mt-0.5 font-mono text-rose-950" data-testid=testid>{value}</dd>
        </div>
    }
}
