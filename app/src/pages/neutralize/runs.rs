//! Recent neutralization runs, each with its report (rules applied, rows changed, skipped
//! tables) behind a disclosure.
use crate::components::ui::{fmt_time, nonempty, EmptyState, CARD, TABLE, TD, TH};
use crate::models::{NeutralizeReport, NeutralizeRun, OutcomeStatus};
use leptos::prelude::*;

fn status_class(s: &str) -> &'static str {
    match s {
        "succeeded" | "applied" => "bg-emerald-100 text-emerald-800",
        "failed" => "bg-rose-100 text-rose-800",
        "skipped" => "bg-slate-100 text-slate-600",
        _ => "bg-sky-100 text-sky-800",
    }
}

fn badge(s: &str) -> impl IntoView {
    view! { <span class=format!("rounded px-1.5 py-0.5 text-[11px] font-semibold {}", status_class(s))>{s.to_string()}</span> }
}

#[component]
pub(super) fn RecentRuns(runs: Vec<NeutralizeRun>) -> impl IntoView {
    view! {
        <section>
            <h2 class="mb-2 text-sm font-semibold text-slate-700">"Recent runs"</h2>
            {if runs.is_empty() {
                view! {
                    <EmptyState title="No neutralization has run yet"
                        hint="A run happens when staging gets a fresh copy of production (a promotion with fresh data, or a restore to staging). Each run is listed here with what it scrubbed." />
                }.into_any()
            } else {
                view! {
                    <div class="space-y-2" data-testid="runs">
                        {runs.into_iter().map(|r| view! { <Run r /> }).collect_view()}
                    </div>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Run(r: NeutralizeRun) -> impl IntoView {
    let facts = match &r.report {
        Some(rep) if rep.error.is_some() => match rep.rules.iter().find(|o| o.status == OutcomeStatus::Failed) {
            Some(o) => format!("rolled back, nothing changed · “{}” failed · {} ms", o.name, rep.duration_ms),
            None => format!("rolled back, nothing changed · {} ms", rep.duration_ms),
        },
        Some(rep) => format!(
            "{} rows changed · {} columns blanked · {} rules applied, {} skipped · {} ms",
            rep.rows_changed,
            rep.columns_blanked,
            rep.count(OutcomeStatus::Applied),
            rep.count(OutcomeStatus::Skipped),
            rep.duration_ms
        ),
        None if r.status == "running" => "running…".to_string(),
        None => "no report".to_string(),
    };
    let target = match &r.environment_name {
        Some(env) => format!("{env} · {}", r.database_name),
        None => r.database_name.clone(),
    };
    view! {
        <details class=format!("{CARD} group") data-testid="run" data-status=r.status.clone()>
            <summary class="flex cursor-pointer list-none flex-wrap items-center gap-x-3 gap-y-1 px-3 py-2 text-sm">
                <span class="text-slate-400 transition-transform group-open:rotate-90">"▸"</span>
                {badge(&r.status)}
                <span class="font-medium text-slate-800">{target}</span>
                <span class="text-xs text-slate-500">{facts}</span>
                <span class="ml-auto text-xs text-slate-500">{format!("{} · {}", fmt_time(&r.started_at), if r.actor_email.is_empty() { "system".to_string() } else { r.actor_email.clone() })}</span>
            </summary>
            <div class="border-t border-slate-100 p-3">
                {match r.report {
                    Some(rep) => view! { <Report rep /> }.into_any(),
                    None => view! { <p class="text-sm text-slate-500">"The report appears when the run ends."</p> }.into_any(),
                }}
            </div>
        </details>
    }
}

#[component]
fn Report(rep: NeutralizeReport) -> impl IntoView {
    view! {
        {rep.error.clone().map(|e| view! {
            <p class="mb-2 rounded border border-rose-200 bg-rose-50 p-2 text-sm text-rose-900" role="alert">{e}</p>
        })}
        {(!rep.tables_missing.is_empty()).then(|| view! {
            <p class="mb-2 text-xs text-slate-600">
                "Tables not in this database (their rules were skipped): "
                <span class="font-mono">{rep.tables_missing.join(", ")}</span>
            </p>
        })}
        <table class=TABLE data-testid="run-report">
            <thead><tr><th class=TH>"Rule"</th><th class=TH>"Outcome"</th><th class=format!("{TH} text-right")>"Rows"</th><th class=TH>"Detail"</th></tr></thead>
            <tbody class="divide-y divide-slate-100">
                {rep.rules.into_iter().map(|o| view! {
                    <tr>
                        <td class=format!("{TD} whitespace-nowrap text-slate-800")>{o.name.clone()}</td>
                        <td class=TD>{badge(o.status.as_str())}</td>
                        <td class=format!("{TD} text-right tabular-nums")>{o.rows.to_string()}</td>
                        <td class=format!("{TD} break-words font-mono text-[11px] text-slate-600")>{nonempty(o.detail.clone())}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}
