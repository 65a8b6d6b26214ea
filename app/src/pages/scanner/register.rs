//! The risk register: findings across scans, filtered in the address bar, each with its
//! evidence, remediation, safe fix and (for admins) suppression with a reason and an expiry.
use super::{days_from_today, level_chip};
use crate::api::scanner::{SuppressFinding, UnsuppressFinding};
use crate::components::ui::{fmt_time, nonempty, urlencode, EmptyState, BUTTON, BUTTON_SECONDARY, CARD, INPUT, LABEL, TABLE, TD, TH};
use crate::models::{FindingRow, FindingStatus, RegisterFilter, ScannerOverview, Severity};
use leptos::prelude::*;
use uuid::Uuid;

const SELECT: &str = "rounded-md border border-slate-300 bg-white px-2 py-1 text-sm";

#[component]
pub fn Register(o: ScannerOverview, tick: RwSignal<u32>, open: RwSignal<Option<Uuid>>, filter: RegisterFilter) -> impl IntoView {
    let suppress = ServerAction::<SuppressFinding>::new();
    let lift = ServerAction::<UnsuppressFinding>::new();
    let flash = RwSignal::new(None::<Result<String, String>>);
    Effect::new(move |_| {
        if let Some(r) = suppress.value().get() {
            flash.set(Some(r.map(|f| format!("Suppressed “{}” until {}.", f.detail, f.suppressed_until.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default())).map_err(|e| e.to_string())));
            tick.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(r) = lift.value().get() {
            flash.set(Some(r.map(|f| format!("“{}” is open again.", f.detail)).map_err(|e| e.to_string())));
            tick.update(|n| *n += 1);
        }
    });
    let can_suppress = o.can.suppress;
    let empty_hint = if o.targets.iter().all(|t| t.last_scan.is_none()) {
        "The first scan of each database starts on its own a moment after the console starts; or press “Scan now”."
    } else if filter == RegisterFilter::default() {
        "Nothing open: every lint that could run found nothing. Not-applicable lints are listed in each scan's history."
    } else {
        "Nothing matches these filters: clear them to see every open finding."
    };
    let count = o.findings.len();
    view! {
        <section data-testid="register">
            <div class="mb-2 flex flex-wrap items-end justify-between gap-2">
                <h2 class="text-xs font-semibold uppercase tracking-wider text-slate-500">
                    {format!("Risk register · {count}{} finding{}", if o.truncated { "+" } else { "" }, if count == 1 { "" } else { "s" })}
                </h2>
                <Filters o=o.clone() filter=filter.clone() />
            </div>
            <div style=move || flash.get().is_none().then_some("display:none")>
                {move || flash.get().map(|m| match m {
                    Ok(t) => view! { <p class="mb-2 rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-800" role="status" data-testid="form-ok">{t}</p> }.into_any(),
                    Err(e) => view! { <p class="mb-2 rounded-md bg-rose-50 px-3 py-2 text-sm text-rose-800" role="alert" data-testid="form-error">{e}</p> }.into_any(),
                })}
            </div>
            {if o.findings.is_empty() {
                view! { <EmptyState title="No findings to show" hint=empty_hint /> }.into_any()
            } else {
                view! {
                    <div class=format!("{CARD} overflow-x-auto")>
                        <table class=TABLE data-testid="findings">
                            <thead class="bg-slate-50"><tr>
                                <th class=TH>"Level"</th><th class=TH>"Finding"</th><th class=TH>"Database"</th><th class=TH>"Category"</th>
                                <th class=TH>"First seen"</th><th class=TH>"Status"</th><th class=TH></th>
                            </tr></thead>
                            <tbody class="divide-y divide-slate-100">
                                {o.findings.into_iter().map(|f| view! { <Row f=f open=open suppress=suppress lift=lift can_suppress=can_suppress /> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {o.truncated.then(|| view! { <p class="mt-2 text-xs text-slate-500">"Showing the 300 most severe: narrow the filters to see the rest."</p> })}
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Filters(o: ScannerOverview, filter: RegisterFilter) -> impl IntoView {
    let option = |value: String, label: String, current: &str| {
        let selected = value == current;
        view! { <option value=value selected=selected>{label}</option> }
    };
    view! {
        <form method="get" action="/scanner" class="flex flex-wrap items-center gap-1.5" data-testid="register-filters">
            <select name="target" class=SELECT aria-label="Database">
                {option(String::new(), "All databases".into(), &filter.target)}
                {o.targets.iter().map(|t| option(t.key.clone(), t.name.clone(), &filter.target)).collect_view()}
            </select>
            <select name="level" class=SELECT aria-label="Level">
                {option(String::new(), "Any level".into(), &filter.level)}
                {Severity::ALL.into_iter().map(|l| option(l.as_str().into(), l.label().into(), &filter.level)).collect_view()}
            </select>
            <select name="status" class=SELECT aria-label="Status">
                {option(String::new(), "Open".into(), &filter.status)}
                {option("suppressed".into(), "Suppressed".into(), &filter.status)}
                {option("resolved".into(), "Resolved".into(), &filter.status)}
                {option("all".into(), "Any status".into(), &filter.status)}
            </select>
            <select name="category" class=SELECT aria-label="Category">
                {option(String::new(), "Any category".into(), &filter.category)}
                {o.categories.iter().map(|c| option(c.clone(), c.clone(), &filter.category)).collect_view()}
            </select>
            <input class=format!("{INPUT} w-44") name="q" placeholder="Search object or lint" value=filter.q.clone() aria-label="Search" />
            <button type="submit" class=BUTTON_SECONDARY>"Filter"</button>
        </form>
    }
}

fn status_chip(f: &FindingRow) -> impl IntoView {
    let (class, text) = match f.status {
        FindingStatus::Open => ("bg-rose-50 text-rose-700", "open".to_string()),
        FindingStatus::Resolved => ("bg-emerald-50 text-emerald-700", "resolved".to_string()),
        FindingStatus::Suppressed => ("bg-slate-100 text-slate-600", format!("suppressed until {}", f.suppressed_until.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default())),
    };
    view! { <span class=format!("whitespace-nowrap rounded px-1.5 py-0.5 text-[11px] {class}") data-testid="finding-status">{text}</span> }
}

#[component]
fn Row(f: FindingRow, open: RwSignal<Option<Uuid>>, suppress: ServerAction<SuppressFinding>, lift: ServerAction<UnsuppressFinding>, can_suppress: bool) -> impl IntoView {
    let id = f.id;
    let is_open = move || open.get() == Some(id);
    let target_href = format!("/scanner/inventory?target={}&schema={}", urlencode(&f.target_key), urlencode(&schema_of(&f)));
    view! {
        <tr data-testid="finding" data-lint=f.name.clone() class="hover:bg-slate-50">
            <td class=TD>{level_chip(f.level)}</td>
            <td class=format!("{TD} max-w-xl")>
                <p class="font-medium text-slate-900">{f.title.clone()}</p>
                <p class="text-xs text-slate-600">{nonempty(f.detail.clone())}</p>
            </td>
            <td class=format!("{TD} text-xs")><a class="text-indigo-700 hover:underline" href=target_href>{f.target_name.clone()}</a></td>
            <td class=format!("{TD} text-xs text-slate-600")>{nonempty(f.category.clone())}</td>
            <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{fmt_time(&f.first_seen_at)}</td>
            <td class=TD>{status_chip(&f)}</td>
            <td class=format!("{TD} text-right")>
                <button type="button" class="text-xs font-medium text-indigo-700 hover:underline" aria-expanded=move || is_open().to_string()
                        data-testid="finding-toggle" on:click=move |_| open.update(|o| *o = if *o == Some(id) { None } else { Some(id) })>
                    {move || if is_open() { "Hide" } else { "Details" }}
                </button>
            </td>
        </tr>
        <tr style=move || (!is_open()).then_some("display:none") data-testid="finding-details">
            <td colspan="7" class="bg-slate-50 px-4 py-3">
                <Details f=f.clone() suppress=suppress lift=lift can_suppress=can_suppress />
            </td>
        </tr>
    }
}

/// The schema a finding's object lives in (for the inventory link).
fn schema_of(f: &FindingRow) -> String {
    serde_json::from_str::<serde_json::Value>(&f.evidence).ok().and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_string)).unwrap_or_default()
}

#[component]
fn Details(f: FindingRow, suppress: ServerAction<SuppressFinding>, lift: ServerAction<UnsuppressFinding>, can_suppress: bool) -> impl IntoView {
    let remediation = f.remediation.clone();
    let link = remediation.starts_with("https://").then(|| remediation.clone());
    let id = f.id.to_string();
    view! {
        <div class="grid gap-4 lg:grid-cols-2">
            <div class="space-y-2 text-sm">
                <p class="text-slate-700">{nonempty(f.description.clone())}</p>
                <p class="text-xs text-slate-500">
                    {format!("Lint {} · key ", f.name)}<code class="break-all">{f.finding_key.clone()}</code>
                    {format!(" · last seen {}", fmt_time(&f.last_seen_at))}
                </p>
                {match link {
                    Some(href) => view! { <a class="text-xs font-medium text-indigo-700 hover:underline" href=href target="_blank" rel="noopener noreferrer">"How to fix it (lint documentation)"</a> }.into_any(),
                    None => view! { <p class="text-xs text-slate-600">{nonempty(remediation)}</p> }.into_any(),
                }}
                <details class="text-xs">
                    <summary class="cursor-pointer text-slate-600">"Evidence"</summary>
                    <pre class="mt-1 max-h-48 overflow-auto rounded bg-white p-2 font-mono text-[11px] text-slate-700">{f.evidence.clone()}</pre>
                </details>
            </div>
            <div class="space-y-3">
                {match f.fix_sql.clone() {
                    Some(sql) => view! {
                        <div>
                            <p class=LABEL>"Safe fix (idempotent; applied through a fix plan)"</p>
                            <pre class="overflow-auto rounded bg-slate-900 p-2 font-mono text-[11px] text-slate-100" data-testid="fix-sql">{sql}</pre>
                        </div>
                    }.into_any(),
                    None => view! { <p class="text-xs text-slate-500">"No automatic fix: this one needs a decision (see how to fix it)."</p> }.into_any(),
                }}
                {match f.status {
                    FindingStatus::Suppressed => view! {
                        <div class="rounded border border-slate-200 bg-white p-2 text-xs text-slate-700" data-testid="suppression">
                            <p>{format!("Suppressed by {} until {}: {}", f.suppressed_by.clone().unwrap_or_else(|| "an admin".into()),
                                f.suppressed_until.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default(), f.suppressed_reason.clone().unwrap_or_default())}</p>
                            {can_suppress.then(|| view! {
                                <ActionForm action=lift attr:class="mt-2">
                                    <input type="hidden" name="id" value=id.clone() />
                                    <button type="submit" class=BUTTON_SECONDARY>"Lift suppression"</button>
                                </ActionForm>
                            })}
                        </div>
                    }.into_any(),
                    FindingStatus::Open if can_suppress => view! {
                        <ActionForm action=suppress attr:class="rounded border border-slate-200 bg-white p-2" attr:data-testid="suppress-form">
                            <input type="hidden" name="id" value=id.clone() />
                            <p class="mb-1 text-xs font-medium text-slate-700">"Suppress this finding"</p>
                            <div class="flex flex-wrap items-end gap-2">
                                <label class="min-w-[14rem] flex-1">
                                    <span class=LABEL>"Reason"</span>
                                    <input class=INPUT name="reason" required minlength="3" maxlength="500" placeholder="Why this is acceptable for now" />
                                </label>
                                <label>
                                    <span class=LABEL>"Until"</span>
                                    <input class=INPUT type="date" name="until" required value=days_from_today(90) />
                                </label>
                                <button type="submit" class=BUTTON disabled=move || suppress.pending().get()>"Suppress"</button>
                            </div>
                            <p class="mt-1 text-[11px] text-slate-500">"It stays out of the score until the date; after it the finding is open again. Audited."</p>
                        </ActionForm>
                    }.into_any(),
                    FindingStatus::Open => view! { <p class="text-xs text-slate-500">"Only admins can suppress a finding."</p> }.into_any(),
                    FindingStatus::Resolved => view! {
                        <p class="text-xs text-emerald-700">{format!("Resolved {}: a later scan no longer found it.", f.resolved_at.map(|t| fmt_time(&t)).unwrap_or_default())}</p>
                    }.into_any(),
                }}
            </div>
        </div>
    }
}
