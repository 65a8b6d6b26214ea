//! Scan history of one database: the score over time as a chart, every scan with its counts,
//! and for the picked scan its drift (what is new, what was fixed) and each lint's outcome.
use super::{level_chip, poll_while, score_class, Frame, TargetPicker};
use crate::api::scanner::{get_scan_history, scan_drift};
use crate::components::ui::{fmt_time, nonempty, urlencode, EmptyState, ErrorPanel, Loading, CARD, TABLE, TD, TH};
use crate::models::{Drift, DriftItem, ScanRow, ScanStatus};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

#[component]
pub fn ScanHistoryPage() -> impl IntoView {
    let q = use_query_map();
    let key = move || q.read().get("target").unwrap_or_default();
    let picked = move || q.read().get("scan").and_then(|s| s.parse::<Uuid>().ok());
    let tick = RwSignal::new(0_u32);
    let data = Resource::new(move || (key(), tick.get()), |(k, _)| get_scan_history(k));
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(h) => {
                        poll_while(h.target.job.is_some(), tick);
                        let scan = picked().or_else(|| h.scans.first().map(|s| s.id));
                        view! {
                            <Frame active="history" title=format!("Scan history · {}", h.target.name) target=h.target.key.clone()>
                                <TargetPicker targets=h.targets.clone() current=h.target.key.clone() path="/scanner/history" />
                                {if h.scans.is_empty() {
                                    view! { <EmptyState title="No scans yet" hint="The first scan starts on its own shortly; or press “Scan now” on the register." /> }.into_any()
                                } else {
                                    view! {
                                        <ScoreChart scans=h.scans.clone() />
                                        <div class="mt-4 space-y-4">
                                            <ScanTable scans=h.scans.clone() picked=scan />
                                            {scan.map(|id| view! { <DriftPanel id=id /> })}
                                        </div>
                                    }.into_any()
                                }}
                            </Frame>
                        }.into_any()
                    }
                    Err(e) => view! { <Frame active="history" title="Scan history" target=key()><ErrorPanel error=e /></Frame> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The maturity score of each scan, oldest to newest, with error counts as bars.
#[component]
fn ScoreChart(scans: Vec<ScanRow>) -> impl IntoView {
    let mut pts: Vec<&ScanRow> = scans.iter().filter(|s| s.score.is_some()).collect();
    pts.reverse();
    let (w, h, pad) = (720.0_f64, 160.0_f64, 28.0_f64);
    let n = pts.len();
    let x = |i: usize| if n <= 1 { w - pad } else { pad + i as f64 * (w - 2.0 * pad) / (n - 1) as f64 };
    let y = |s: i32| h - pad - f64::from(s.clamp(0, 100)) * (h - 2.0 * pad) / 100.0;
    let line = pts.iter().enumerate().map(|(i, s)| format!("{:.1},{:.1}", x(i), y(s.score.unwrap_or(0)))).collect::<Vec<_>>().join(" ");
    let first = pts.first().map(|s| s.started_at.format("%m-%d %H:%M").to_string()).unwrap_or_default();
    let last = pts.last().map(|s| s.started_at.format("%m-%d %H:%M").to_string()).unwrap_or_default();
    view! {
        <div class=format!("{CARD} p-3") data-testid="score-chart">
            <div class="mb-1 flex items-center justify-between">
                <h2 class="text-xs font-semibold uppercase tracking-wider text-slate-500">"Maturity score"</h2>
                <span class="text-[11px] text-slate-500">"100 · 20 / (20 + 10·errors + 3·warnings + 0.5·info), suppressed findings excluded"</span>
            </div>
            <svg viewBox=format!("0 0 {w} {h}") class="h-40 w-full" role="img" aria-label="Score per scan">
                {[0, 50, 100].into_iter().map(|v| view! {
                    <line x1=pad x2=w - pad y1=y(v) y2=y(v) stroke="#e2e8f0" stroke-width="1" />
                    <text x=pad - 6.0 y=y(v) + 3.0 font-size="10" text-anchor="end" fill="#94a3b8">{v.to_string()}</text>
                }).collect_view()}
                <polyline points=line fill="none" stroke="#4f46e5" stroke-width="2" stroke-linejoin="round" />
                {pts.iter().enumerate().map(|(i, s)| {
                    let score = s.score.unwrap_or(0);
                    let fill = if score >= 90 { "#059669" } else if score >= 70 { "#d97706" } else { "#e11d48" };
                    view! { <circle cx=x(i) cy=y(score) r="3.5" fill=fill><title>{format!("{}: {score}", fmt_time(&s.started_at))}</title></circle> }
                }).collect_view()}
                <text x=pad y=h - 8.0 font-size="10" fill="#94a3b8">{nonempty(first)}</text>
                <text x=w - pad y=h - 8.0 font-size="10" text-anchor="end" fill="#94a3b8">{nonempty(last)}</text>
            </svg>
        </div>
    }
}

#[component]
fn ScanTable(scans: Vec<ScanRow>, picked: Option<Uuid>) -> impl IntoView {
    view! {
        <div class=format!("{CARD} overflow-x-auto")>
            <table class=TABLE data-testid="scans">
                <thead class="bg-slate-50"><tr>
                    <th class=TH>"Started"</th><th class=TH>"By"</th><th class=TH>"Result"</th><th class=TH>"Found"</th><th class=TH>"New"</th><th class=TH>"Fixed"</th><th class=TH>"Score"</th>
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {scans.into_iter().map(|s| {
                        let href = format!("/scanner/history?target={}&scan={}", urlencode(&s.target_key), s.id);
                        let row_class = if Some(s.id) == picked { "bg-indigo-50" } else { "hover:bg-slate-50" };
                        let result = match s.status {
                            ScanStatus::Running => "running".to_string(),
                            ScanStatus::Failed if s.object_count == 0 => format!("failed: {}", s.error.clone().unwrap_or_default()),
                            ScanStatus::Failed => "some lints failed".to_string(),
                            ScanStatus::Succeeded => format!("{} ms · {} objects", s.duration_ms.unwrap_or(0), s.object_count),
                        };
                        view! {
                            <tr class=row_class data-testid="scan-row">
                                <td class=format!("{TD} whitespace-nowrap text-xs")><a class="text-indigo-700 hover:underline" href=href>{fmt_time(&s.started_at)}</a></td>
                                <td class=format!("{TD} text-xs text-slate-600")>{s.requested_by.clone().unwrap_or_else(|| s.source.as_str().to_string())}</td>
                                <td class=format!("{TD} max-w-[14rem] truncate text-xs text-slate-600") title=result.clone()>{result.clone()}</td>
                                <td class=format!("{TD} text-xs")>{s.finding_count.to_string()}</td>
                                <td class=format!("{TD} text-xs text-rose-700")>{s.counts.new.to_string()}</td>
                                <td class=format!("{TD} text-xs text-emerald-700")>{s.counts.resolved.to_string()}</td>
                                <td class=format!("{TD} text-sm font-semibold {}", score_class(s.score))>{s.score.map(|x| x.to_string()).unwrap_or_else(|| "–".into())}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn DriftPanel(id: Uuid) -> impl IntoView {
    let drift = Resource::new(move || id, scan_drift);
    view! {
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match drift.await {
                    Ok(d) => view! { <DriftView d=d /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn items(title: &'static str, testid: &'static str, list: Vec<DriftItem>, empty: &'static str) -> impl IntoView {
    view! {
        <div data-testid=testid>
            <h3 class="mb-1 text-xs font-semibold uppercase tracking-wider text-slate-500">{format!("{title} ({})", list.len())}</h3>
            {if list.is_empty() {
                view! { <p class="text-xs text-slate-500">{empty}</p> }.into_any()
            } else {
                view! { <ul class="space-y-1">{list.into_iter().map(|i| view! {
                    <li class="flex items-start gap-2 text-xs">{level_chip(i.level)}<span><span class="font-medium">{i.name}</span>" "{nonempty(i.detail)}</span></li>
                }).collect_view()}</ul> }.into_any()
            }}
        </div>
    }
}

#[component]
fn DriftView(d: Drift) -> impl IntoView {
    let na: Vec<_> = d.lints.iter().filter(|l| l.status != "ran").cloned().collect();
    let ran = d.lints.len() - na.len();
    view! {
        <div class=format!("{CARD} space-y-4 p-3") data-testid="drift">
            <p class="text-sm text-slate-700">
                {format!("Scan of {} · PostgreSQL {}", fmt_time(&d.scan.started_at), d.scan.server_version.split_whitespace().next().unwrap_or(""))}
                {d.previous.is_none().then_some(" · first scan of this database")}
            </p>
            {items("New", "drift-new", d.new, "Nothing new since the scan before.")}
            {items("Fixed", "drift-fixed", d.fixed, "Nothing fixed since the scan before.")}
            <div>
                <h3 class="mb-1 text-xs font-semibold uppercase tracking-wider text-slate-500">{format!("Lints: {ran} ran, {} did not", na.len())}</h3>
                <ul class="space-y-0.5 text-xs" data-testid="lints-not-run">
                    {na.into_iter().map(|l| view! {
                        <li><span class=if l.status == "failed" { "font-medium text-rose-700" } else { "font-medium text-slate-700" }>{format!("{} {}", l.id, l.name)}</span>
                            {format!(" — {}: {}", if l.status == "failed" { "failed" } else { "not applicable" }, l.reason.unwrap_or_default())}</li>
                    }).collect_view()}
                </ul>
            </div>
        </div>
    }
}
