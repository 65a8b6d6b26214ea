//! Logs: recent log lines by source and time range (Supabase's `logs.all` endpoint).
use super::SectionTitle;
use crate::components::supabase::{get_json, query_value, OrderedRow, PanelEmpty, PanelLoading, ProxyError, ResultSet, ResultTable};
use crate::components::ui::{BUTTON_SECONDARY, INPUT};
use leptos::prelude::*;
use serde::Deserialize;

const SOURCES: [(&str, &str); 2] = [("edge_logs", "API requests (edge logs)"), ("postgres_logs", "Database sessions (postgres logs)")];
const RANGES: [(i64, &str); 4] = [(15, "last 15 minutes"), (60, "last hour"), (24 * 60, "last 24 hours"), (7 * 24 * 60, "last 7 days")];

#[derive(Debug, Deserialize)]
struct LogsAnswer {
    #[serde(default)]
    result: Vec<OrderedRow>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Supabase's log timestamps are microseconds since the epoch; shown as UTC times.
fn readable(mut rows: Vec<OrderedRow>) -> ResultSet {
    for row in &mut rows {
        for (k, v) in &mut row.0 {
            if k == "timestamp" {
                if let Some(us) = v.as_i64() {
                    if let Some(t) = chrono::DateTime::from_timestamp_micros(us) {
                        *v = serde_json::Value::String(t.format("%Y-%m-%d %H:%M:%S%.3f").to_string());
                    }
                }
            }
        }
    }
    ResultSet::from_rows(rows)
}

#[component]
pub fn LogsSection(project_ref: String) -> impl IntoView {
    let r = StoredValue::new(project_ref);
    let source = RwSignal::new("edge_logs".to_string());
    let minutes = RwSignal::new(60i64);
    let refresh = RwSignal::new(0u32);
    let logs = LocalResource::new(move || {
        let (s, m) = (source.get(), minutes.get());
        refresh.track();
        async move {
            let end = chrono::Utc::now();
            let start = end - chrono::Duration::minutes(m);
            let fmt = |t: chrono::DateTime<chrono::Utc>| query_value(&t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            let path = format!("analytics/endpoints/logs.all?iso_timestamp_start={}&iso_timestamp_end={}&source={}", fmt(start), fmt(end), query_value(&s));
            let answer: LogsAnswer = get_json(&r.get_value(), &path).await?;
            match answer.error.filter(|e| !e.is_null()) {
                Some(e) => Err(format!("the logs endpoint answered with an error: {e}")),
                None => Ok(readable(answer.result)),
            }
        }
    });
    view! {
        <div data-testid="logs-section">
            <div class="mb-3 flex flex-wrap items-end gap-3">
                <label class="w-72">
                    <span class="mb-1 block text-xs font-medium text-slate-600">"Source"</span>
                    <select class=INPUT data-testid="log-source" on:change=move |ev| source.set(event_target_value(&ev))>
                        {SOURCES.iter().map(|(k, l)| view! { <option value=*k selected=*k == "edge_logs">{*l}</option> }).collect_view()}
                    </select>
                </label>
                <label class="w-48">
                    <span class="mb-1 block text-xs font-medium text-slate-600">"Time range"</span>
                    <select class=INPUT data-testid="log-range" on:change=move |ev| minutes.set(event_target_value(&ev).parse().unwrap_or(60))>
                        {RANGES.iter().map(|(m, l)| view! { <option value=m.to_string() selected=*m == 60>{*l}</option> }).collect_view()}
                    </select>
                </label>
                <button type="button" class=BUTTON_SECONDARY data-testid="log-refresh" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
            </div>
            <SectionTitle title="Log lines" hint="newest first" />
            {move || match logs.get() {
                None => view! { <PanelLoading /> }.into_any(),
                Some(Err(e)) => view! { <ProxyError message=e /> }.into_any(),
                Some(Ok(s)) if s.rows.is_empty() => view! { <PanelEmpty title="No log lines in this range" hint="Widen the time range or pick another source." /> }.into_any(),
                Some(Ok(s)) => view! { <ResultTable result=s testid="log-lines" /> }.into_any(),
            }}
        </div>
    }
}
