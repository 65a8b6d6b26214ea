//! The database scanner: every scanned database with its score, the risk register (filters,
//! details, suppression), and the tabs for fix plans, scan history and the inventory.
mod history;
mod inventory;
mod plans;
mod register;

pub use history::ScanHistoryPage;
pub use inventory::InventoryPage;
pub use plans::FixPlansPage;

use crate::api::scanner::{get_scanner, ScanNow};
use crate::components::backups::ago;
use crate::components::ui::{EmptyState, ErrorPanel, Loading, PageHeader, StageBadge, BUTTON_SECONDARY, CARD};
use crate::models::{RegisterFilter, ScanJobKind, ScanJobState, ScanStatus, ScanTarget, Severity};
use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The register's filters, read from the address bar.
fn filter_from_query() -> Memo<RegisterFilter> {
    let q = use_query_map();
    Memo::new(move |_| {
        let q = q.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        RegisterFilter { target: get("target"), level: get("level"), status: get("status"), category: get("category"), q: get("q") }
    })
}

#[component]
pub fn ScannerPage() -> impl IntoView {
    let filter = filter_from_query();
    let tick = RwSignal::new(0_u32);
    let data = Resource::new(move || (filter.get(), tick.get()), |(f, _)| get_scanner(f));
    // Which finding is open (kept across reloads).
    let open = RwSignal::new(None::<uuid::Uuid>);
    provide_context(tick);
    view! {
        <Title text="Database scanner" />
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => {
                        let busy = o.targets.iter().any(|t| t.job.is_some());
                        let schedule = if o.schedule.enabled { format!("Nightly: {}", o.schedule.text) } else { "Nightly scans paused".to_string() };
                        poll_while(busy, tick);
                        view! {
                            <PageHeader title="Database scanner" subtitle="Supabase's advisor lints (splinter 0001–0029) and our own rules, run against every environment's database. Findings are tracked across scans.">
                                <span class="text-xs text-slate-500" data-testid="schedule">
                                    {schedule}
                                </span>
                            </PageHeader>
                            <Tabs active="register" target=filter.get_untracked().target />
                            <Targets targets=o.targets.clone() can_run=o.can.run />
                            <register::Register o=o tick=tick open=open filter=filter.get_untracked() />
                        }
                        .into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Reloads the page's data every 1.5 s while a scan or a plan is under way.
fn poll_while(busy: bool, tick: RwSignal<u32>) {
    Effect::new(move |_| {
        if busy {
            set_timeout(move || tick.try_update(|n| *n += 1).unwrap_or(()), std::time::Duration::from_millis(1500));
        }
    });
}

/// The scanner's tabs; each keeps the picked target.
#[component]
fn Tabs(active: &'static str, #[prop(into)] target: String) -> impl IntoView {
    let q = if target.is_empty() { String::new() } else { format!("?target={}", crate::components::ui::urlencode(&target)) };
    let tabs = [("register", "Risk register", "/scanner"), ("plans", "Fix plans", "/scanner/plans"), ("history", "History", "/scanner/history"), ("inventory", "Inventory", "/scanner/inventory")];
    view! {
        <nav class="mb-4 flex gap-1 border-b border-slate-200" aria-label="Scanner sections">
            {tabs.into_iter().map(|(id, label, path)| {
                let class = if id == active { "border-b-2 border-indigo-600 px-3 py-2 text-sm font-medium text-indigo-700" } else { "border-b-2 border-transparent px-3 py-2 text-sm text-slate-600 hover:text-slate-900" };
                view! { <a class=class href=format!("{path}{q}") data-testid=format!("tab-{id}") aria-current=(id == active).then_some("page")>{label}</a> }
            }).collect_view()}
        </nav>
    }
}

pub fn score_class(score: Option<i32>) -> &'static str {
    match score {
        Some(s) if s >= 90 => "text-emerald-600",
        Some(s) if s >= 70 => "text-amber-600",
        Some(_) => "text-rose-600",
        None => "text-slate-400",
    }
}

pub fn level_chip(level: Severity) -> impl IntoView {
    let class = match level {
        Severity::Error => "bg-rose-100 text-rose-800",
        Severity::Warn => "bg-amber-100 text-amber-800",
        Severity::Info => "bg-sky-100 text-sky-800",
    };
    view! { <span class=format!("inline-block rounded px-1.5 py-0.5 text-[10px] font-semibold uppercase tracking-wide {class}")>{level.as_str()}</span> }
}

/// A small line of the last scores (0-100).
#[component]
pub fn Sparkline(scores: Vec<i32>) -> impl IntoView {
    let (w, h) = (96.0_f64, 24.0_f64);
    let n = scores.len();
    let points = scores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let x = if n <= 1 { w } else { i as f64 * w / (n - 1) as f64 };
            let y = h - 2.0 - f64::from((*s).clamp(0, 100)) * (h - 4.0) / 100.0;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <svg width="96" height="24" viewBox="0 0 96 24" class="overflow-visible" aria-label="Score history" role="img">
            <line x1="0" y1="22" x2="96" y2="22" stroke="#e2e8f0" stroke-width="1" />
            <polyline points=points fill="none" stroke="#4f46e5" stroke-width="1.5" stroke-linejoin="round" />
        </svg>
    }
}

/// What a target's open job is doing, in words.
pub fn job_text(t: &ScanTarget) -> Option<&'static str> {
    t.job.as_ref().map(|j| match (j.kind, j.state) {
        (ScanJobKind::ApplyPlan, ScanJobState::Queued) => "Fix plan queued…",
        (ScanJobKind::ApplyPlan, _) => "Applying fix plan…",
        (_, ScanJobState::Queued) => "Scan queued…",
        _ => "Scanning…",
    })
}

/// One line about a target's last scan.
pub fn last_scan_text(t: &ScanTarget) -> String {
    match &t.last_scan {
        None => "Never scanned".to_string(),
        Some(s) => {
            let when = ago(&s.started_at, Utc::now());
            let took = s.duration_ms.map(|d| format!(" · {d} ms")).unwrap_or_default();
            let na = if s.counts.not_applicable > 0 { format!(" · {} lints not applicable", s.counts.not_applicable) } else { String::new() };
            match s.status {
                ScanStatus::Failed if s.object_count == 0 => format!("Last scan failed {when}: {}", s.error.clone().unwrap_or_default()),
                ScanStatus::Failed => format!("Scanned {when}{took} · some lints failed{na}"),
                ScanStatus::Running => "Scanning…".to_string(),
                ScanStatus::Succeeded => format!("Scanned {when}{took} · {} objects{na}", s.object_count),
            }
        }
    }
}

#[component]
fn Targets(targets: Vec<ScanTarget>, can_run: bool) -> impl IntoView {
    if targets.is_empty() {
        return view! {
            <EmptyState title="No databases to scan yet"
                hint="Environments get a database when they are deployed or restored; the console's own database is scanned for the installation's first workspace." />
        }
        .into_any();
    }
    view! {
        <section class="mb-6 grid gap-3 md:grid-cols-2 xl:grid-cols-3" data-testid="scan-targets">
            {targets.into_iter().map(|t| view! { <TargetCard t=t can_run=can_run /> }).collect_view()}
        </section>
    }
    .into_any()
}

#[component]
fn TargetCard(t: ScanTarget, can_run: bool) -> impl IntoView {
    let scan_now = ServerAction::<ScanNow>::new();
    let score = t.last_scan.as_ref().and_then(|s| s.score);
    let busy = job_text(&t);
    let href = format!("/scanner?target={}", crate::components::ui::urlencode(&t.key));
    let error = move || scan_now.value().get().and_then(|r| r.err()).map(|e| e.to_string());
    let pending = scan_now.pending();
    // A queued scan: reload the page so the card shows it and polling starts.
    let tick = use_context::<RwSignal<u32>>();
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(t)) = (scan_now.value().get(), tick) {
            t.update(|n| *n += 1);
        }
    });
    let key = t.key.clone();
    view! {
        <div class=format!("{CARD} p-3") data-testid="scan-target" data-target=t.key.clone()>
            <div class="flex items-start justify-between gap-2">
                <div class="min-w-0">
                    <a href=href class="block truncate text-sm font-semibold text-slate-900 hover:text-indigo-700">{t.name.clone()}</a>
                    <p class="mt-0.5 flex items-center gap-1.5 text-xs text-slate-500">
                        {t.stage.map(|s| view! { <StageBadge stage=s /> })}
                        <code class="truncate">{t.database.clone()}</code>
                    </p>
                </div>
                <div class="text-right">
                    <div class=format!("text-2xl font-semibold leading-none {}", score_class(score)) data-testid="score" title="Maturity score: 100 with nothing open">
                        {score.map(|s| s.to_string()).unwrap_or_else(|| "–".into())}
                    </div>
                    <div class="text-[10px] uppercase tracking-wide text-slate-400">"score"</div>
                </div>
            </div>
            <div class="mt-2 flex items-center justify-between gap-2">
                <div class="flex flex-wrap items-center gap-1 text-xs" data-testid="open-counts">
                    <span class="rounded bg-rose-50 px-1.5 py-0.5 font-medium text-rose-700">{format!("{} errors", t.open_error)}</span>
                    <span class="rounded bg-amber-50 px-1.5 py-0.5 font-medium text-amber-700">{format!("{} warnings", t.open_warn)}</span>
                    <span class="rounded bg-sky-50 px-1.5 py-0.5 text-sky-700">{format!("{} info", t.open_info)}</span>
                    {(t.suppressed > 0).then(|| view! { <span class="rounded bg-slate-100 px-1.5 py-0.5 text-slate-600">{format!("{} suppressed", t.suppressed)}</span> })}
                </div>
                {(t.scores.len() > 1).then(|| view! { <Sparkline scores=t.scores.clone() /> })}
            </div>
            <p class="mt-2 truncate text-[11px] text-slate-500" title=last_scan_text(&t)>{last_scan_text(&t)}</p>
            <div class="mt-2 flex items-center justify-between gap-2">
                {match busy {
                    Some(text) => view! {
                        <div class="flex-1" data-testid="scan-busy">
                            <div class="h-1.5 overflow-hidden rounded bg-slate-100"><div class="h-full w-1/3 animate-pulse rounded bg-indigo-500"></div></div>
                            <p class="mt-1 text-[11px] text-indigo-700">{text}</p>
                        </div>
                    }.into_any(),
                    None => view! {
                        <div class="flex gap-1.5 text-xs">
                            {(t.fixable > 0 && t.plans_allowed()).then(|| view! {
                                <a class="text-indigo-700 hover:underline" href=format!("/scanner/plans?target={}", crate::components::ui::urlencode(&t.key))>{format!("{} fixable", t.fixable)}</a>
                            })}
                        </div>
                    }.into_any(),
                }}
                {can_run.then(|| view! {
                    <ActionForm action=scan_now>
                        <input type="hidden" name="target_key" value=key.clone() />
                        <button type="submit" class=BUTTON_SECONDARY disabled=move || pending.get() || busy.is_some() data-testid="scan-now">
                            {move || if pending.get() { "Queuing…" } else { "Scan now" }}
                        </button>
                    </ActionForm>
                })}
            </div>
            {move || error().map(|e| view! { <p class="mt-1 text-xs text-rose-700" role="alert">{e}</p> })}
        </div>
    }
}

/// A date `days` from today, for the suppression form's default.
pub fn days_from_today(days: i64) -> String {
    (Utc::now().date_naive() + chrono::Duration::days(days)).format("%Y-%m-%d").to_string()
}

/// Pills to switch the page to another database.
#[component]
pub fn TargetPicker(targets: Vec<ScanTarget>, #[prop(into)] current: String, path: &'static str) -> impl IntoView {
    view! {
        <div class="mb-4 flex flex-wrap gap-1.5" data-testid="target-picker">
            {targets.into_iter().map(|t| {
                let active = t.key == current;
                let class = if active { "rounded-full bg-indigo-600 px-2.5 py-1 text-xs font-medium text-white" } else { "rounded-full border border-slate-300 bg-white px-2.5 py-1 text-xs text-slate-700 hover:bg-slate-50" };
                view! { <a class=class href=format!("{path}?target={}", crate::components::ui::urlencode(&t.key)) aria-current=active.then_some("page")>{t.name.clone()}</a> }
            }).collect_view()}
        </div>
    }
}

/// The page frame shared by the scanner's tabs: header, tabs and the error or empty state.
#[component]
pub fn Frame(active: &'static str, #[prop(into)] title: String, #[prop(into)] target: String, children: Children) -> impl IntoView {
    view! {
        <Title text=title.clone() />
        <PageHeader title="Database scanner" subtitle=title />
        <Tabs active=active target=target />
        {children()}
    }
}
