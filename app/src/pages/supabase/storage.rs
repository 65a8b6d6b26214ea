//! Storage: the project's buckets and their settings.
use super::SectionTitle;
use crate::components::supabase::{get_json, PanelEmpty, PanelLoading, ProxyError};
use crate::components::ui::{CARD, TABLE, TD, TH};
use leptos::prelude::*;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
struct Bucket {
    name: String,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    file_size_limit: Option<i64>,
    #[serde(default)]
    allowed_mime_types: Option<Vec<String>>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

fn size(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn day(t: &Option<String>) -> String {
    t.as_deref().map(|s| s.chars().take(16).collect::<String>().replace('T', " ")).unwrap_or_default()
}

#[component]
pub fn StorageSection(project_ref: String) -> impl IntoView {
    let r = StoredValue::new(project_ref);
    let buckets = LocalResource::new(move || async move { get_json::<Vec<Bucket>>(&r.get_value(), "storage/buckets").await });
    view! {
        <div data-testid="storage-section">
            <SectionTitle title="Buckets" hint="public buckets serve their files to anyone with the URL" />
            {move || match buckets.get() {
                None => view! { <PanelLoading /> }.into_any(),
                Some(Err(e)) => view! { <ProxyError message=e /> }.into_any(),
                Some(Ok(b)) if b.is_empty() => view! { <PanelEmpty title="No buckets" hint="Create buckets with Supabase Storage; they are listed from storage.buckets." /> }.into_any(),
                Some(Ok(b)) => view! {
                    <div class=format!("{CARD} overflow-x-auto")>
                        <table class=TABLE data-testid="buckets">
                            <thead class="bg-slate-50"><tr>
                                <th class=TH>"Bucket"</th><th class=TH>"Access"</th><th class=TH>"File size limit"</th><th class=TH>"Allowed types"</th><th class=TH>"Created"</th><th class=TH>"Updated"</th>
                            </tr></thead>
                            <tbody class="divide-y divide-slate-100">
                                {b.into_iter().map(|b| view! {
                                    <tr data-testid="bucket-row">
                                        <td class=format!("{TD} font-medium text-slate-900")>{b.name.clone()}</td>
                                        <td class=TD>{if b.public {
                                            view! { <span class="rounded bg-amber-50 px-1.5 py-0.5 text-[11px] font-semibold text-amber-800 ring-1 ring-amber-200">"public"</span> }.into_any()
                                        } else {
                                            view! { <span class="rounded bg-slate-100 px-1.5 py-0.5 text-[11px] font-semibold text-slate-700 ring-1 ring-slate-200">"private"</span> }.into_any()
                                        }}</td>
                                        <td class=format!("{TD} text-xs")>{b.file_size_limit.map(size).unwrap_or_else(|| "no limit".into())}</td>
                                        <td class=format!("{TD} font-mono text-xs")>{b.allowed_mime_types.filter(|m| !m.is_empty()).map(|m| m.join(", ")).unwrap_or_else(|| "any".into())}</td>
                                        <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{day(&b.created_at)}</td>
                                        <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{day(&b.updated_at)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            }}
        </div>
    }
}
