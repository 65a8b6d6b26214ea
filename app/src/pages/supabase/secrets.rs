//! Secrets (edge function secrets): names and sha256 digests listed, values write-only;
//! admins create, replace and delete them.
use super::SectionTitle;
use crate::components::supabase::{call, get_json, PanelEmpty, PanelLoading, ProxyError};
use crate::components::ui::{BUTTON, BUTTON_DANGER, CARD, INPUT, LABEL, TABLE, TD, TH};
use leptos::prelude::*;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
struct SecretRow {
    name: String,
    /// Supabase returns the value's sha256 digest here, never the value.
    #[serde(default)]
    value: String,
    #[serde(default)]
    updated_at: Option<String>,
}

#[component]
pub fn SecretsSection(project_ref: String, admin: bool) -> impl IntoView {
    let r = StoredValue::new(project_ref);
    let changed = RwSignal::new(0u32);
    let list = LocalResource::new(move || {
        changed.track();
        async move { get_json::<Vec<SecretRow>>(&r.get_value(), "secrets").await }
    });
    let name = RwSignal::new(String::new());
    let value = RwSignal::new(String::new());
    let create = Action::new_local(move |(n, v): &(String, String)| {
        let body = serde_json::json!([{"name": n, "value": v}]).to_string();
        async move { call(&r.get_value(), "POST", "secrets", Some(body)).await.map(|_| ()) }
    });
    let delete = Action::new_local(move |n: &String| {
        let body = serde_json::json!([n]).to_string();
        async move { call(&r.get_value(), "DELETE", "secrets", Some(body)).await.map(|_| ()) }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = create.value().get() {
            name.set(String::new());
            value.set(String::new());
            changed.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            changed.update(|n| *n += 1);
        }
    });
    view! {
        <div class="space-y-4" data-testid="secrets-section">
            <SectionTitle title="Secrets" hint="values are write-only: the list shows each value's SHA-256 digest" />
            {move || delete.value().get().and_then(|r| r.err()).map(|e| view! { <ProxyError message=e /> })}
            {move || match list.get() {
                None => view! { <PanelLoading /> }.into_any(),
                Some(Err(e)) => view! { <ProxyError message=e /> }.into_any(),
                Some(Ok(l)) if l.is_empty() => view! { <PanelEmpty title="No secrets yet" hint=if admin { "Add one below; edge functions read them as environment variables." } else { "An admin can add them." } /> }.into_any(),
                Some(Ok(l)) => view! {
                    <div class=format!("{CARD} overflow-x-auto")>
                        <table class=TABLE data-testid="secrets">
                            <thead class="bg-slate-50"><tr><th class=TH>"Name"</th><th class=TH>"Digest (SHA-256)"</th><th class=TH>"Updated"</th><th class=TH></th></tr></thead>
                            <tbody class="divide-y divide-slate-100">
                                {l.into_iter().map(|s| {
                                    let n = s.name.clone();
                                    view! {
                                        <tr data-testid="secret-row">
                                            <td class=format!("{TD} font-mono text-xs font-medium text-slate-900")>{s.name.clone()}</td>
                                            <td class=format!("{TD} font-mono text-xs text-slate-500") title=s.value.clone()>{s.value.chars().take(16).collect::<String>()}"…"</td>
                                            <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{s.updated_at.clone().unwrap_or_default().chars().take(16).collect::<String>().replace('T', " ")}</td>
                                            <td class=format!("{TD} text-right")>{admin.then(|| view! {
                                                <button type="button" class=BUTTON_DANGER data-testid="secret-delete" disabled=move || delete.pending().get() on:click=move |_| { delete.dispatch(n.clone()); }>"Delete"</button>
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            }}
            {admin.then(|| view! {
                <form class=format!("{CARD} flex flex-wrap items-end gap-3 p-3") data-testid="secret-form"
                    on:submit=move |ev| { ev.prevent_default(); create.dispatch((name.get_untracked().trim().to_string(), value.get_untracked())); }>
                    <label class="w-64">
                        <span class=LABEL>"Name"</span>
                        <input class=format!("{INPUT} font-mono") name="name" required pattern="[A-Za-z_][A-Za-z0-9_]*" placeholder="STRIPE_API_KEY" autocomplete="off"
                            prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                    </label>
                    <label class="min-w-[16rem] flex-1">
                        <span class=LABEL>"Value"</span>
                        <input class=format!("{INPUT} font-mono") type="password" name="value" required autocomplete="new-password"
                            prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
                    </label>
                    <button type="submit" class=BUTTON data-testid="secret-save" disabled=move || create.pending().get()>"Save secret"</button>
                    {move || create.value().get().and_then(|r| r.err()).map(|e| view! { <ProxyError message=e /> })}
                </form>
            })}
        </div>
    }
}
