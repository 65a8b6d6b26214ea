//! A project's webhook: the URL and secret to give GitHub, and every delivery with what it
//! caused, so "nothing happened after my push" has an answer.
use crate::api::builds::{get_webhooks, RotateWebhookSecret};
use crate::components::ui::{fmt_time, EmptyState, ErrorPanel, Loading, PageHeader, BUTTON, BUTTON_SECONDARY, CARD, TABLE, TD, TH};
use crate::models::{DeliveryOutcome, WebhookInfo};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let info = Resource::new(slug, get_webhooks);
    let rotate = ServerAction::<RotateWebhookSecret>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = rotate.value().get() {
            info.refetch();
        }
    });
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match info.await {
                    Ok(w) => view! { <Webhooks w=w rotate=rotate /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn outcome_class(o: DeliveryOutcome) -> &'static str {
    match o {
        DeliveryOutcome::Accepted => "bg-emerald-100 text-emerald-800",
        DeliveryOutcome::Ignored => "bg-slate-100 text-slate-700",
        DeliveryOutcome::Duplicate => "bg-sky-100 text-sky-800",
        DeliveryOutcome::Rejected => "bg-rose-100 text-rose-800",
    }
}

#[component]
fn Webhooks(w: WebhookInfo, rotate: ServerAction<RotateWebhookSecret>) -> impl IntoView {
    let slug = w.project_slug.clone();
    let grid_href = format!("/projects/{slug}/builds");
    let origin = {
        #[cfg(feature = "hydrate")]
        {
            window().location().origin().unwrap_or_default()
        }
        #[cfg(not(feature = "hydrate"))]
        {
            String::new()
        }
    };
    let full_url = format!("{origin}{}", w.url_path);
    view! {
        <Title text=format!("Webhooks · {}", w.project_name) />
        <PageHeader title=format!("{} webhooks", w.project_name) subtitle="GitHub → Settings → Webhooks → Add webhook">
            <a class=BUTTON_SECONDARY href=grid_href>"Build grid"</a>
        </PageHeader>
        <div class=format!("{CARD} mb-5 grid gap-3 p-4 text-sm md:grid-cols-2")>
            <div>
                <p class="text-xs font-medium text-slate-500">"Payload URL"</p>
                <p class="mt-1 break-all font-mono text-slate-800" data-testid="webhook-url">{full_url}</p>
                <p class="mt-1 text-xs text-slate-500">"Content type application/json; events: push and pull requests."</p>
            </div>
            <div>
                <p class="text-xs font-medium text-slate-500">"Secret"</p>
                <p class="mt-1" data-testid="secret-state">{if w.secret_set { "Set (it is never shown again)." } else { "Not set: every delivery is refused until one is." }}</p>
                {w.can_manage.then(|| view! {
                    <button type="button" class=format!("{BUTTON} mt-2") data-testid="rotate-secret"
                        on:click=move |_| { rotate.dispatch(RotateWebhookSecret { slug: slug.clone() }); }>
                        {if w.secret_set { "Generate a new secret" } else { "Generate a secret" }}
                    </button>
                })}
                {move || rotate.value().get().map(|r| match r {
                    Ok(secret) => view! {
                        <div class="mt-2 rounded border border-amber-200 bg-amber-50 p-2 text-xs text-amber-900" data-testid="new-secret">
                            "Paste this into GitHub now; it will not be shown again: "
                            <code class="select-all break-all font-mono">{secret}</code>
                        </div>
                    }.into_any(),
                    Err(e) => view! { <p class="mt-2 text-xs text-rose-700" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </div>
        </div>
        <h2 class="mb-2 text-sm font-semibold text-slate-700">"Recent deliveries"</h2>
        {if w.deliveries.is_empty() {
            view! { <EmptyState title="No deliveries yet" hint="Once GitHub sends the webhook (it pings right after you add it), each call is listed here with what it caused." /> }.into_any()
        } else {
            view! {
                <div class=format!("{CARD} overflow-x-auto")>
                    <table class=TABLE data-testid="deliveries">
                        <thead class="bg-slate-50"><tr>
                            <th class=TH>"Time"</th><th class=TH>"Event"</th><th class=TH>"Delivery"</th><th class=TH>"Signature"</th><th class=TH>"Outcome"</th><th class=TH>"Build"</th>
                        </tr></thead>
                        <tbody class="divide-y divide-slate-100">
                            {w.deliveries.into_iter().map(|d| view! {
                                <tr data-testid="delivery-row" data-outcome=d.outcome.as_str()>
                                    <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{fmt_time(&d.created_at)}</td>
                                    <td class=format!("{TD} font-mono text-xs")>{crate::components::ui::nonempty(d.event.clone())}</td>
                                    <td class=format!("{TD} font-mono text-[11px] text-slate-500")>{crate::components::ui::nonempty(if d.redeliveries > 0 { format!("{} (+{} redelivered)", d.delivery_guid, d.redeliveries) } else { d.delivery_guid.clone() })}</td>
                                    <td class=TD>{if d.signature_ok { view! { <span class="text-emerald-700">"✔ valid"</span> }.into_any() } else { view! { <span class="font-medium text-rose-700">"✘ invalid"</span> }.into_any() }}</td>
                                    <td class=TD>
                                        <span class=format!("rounded px-1.5 py-0.5 text-[11px] font-semibold {}", outcome_class(d.outcome))>{d.outcome.as_str()}</span>
                                        <p class="mt-0.5 text-xs text-slate-600">{crate::components::ui::nonempty(d.detail.clone())}</p>
                                    </td>
                                    <td class=TD>{match (d.build_id, d.build_number) {
                                        (Some(id), Some(n)) => view! { <a class="font-mono text-indigo-700 hover:underline" href=format!("/builds/{id}")>{format!("#{n}")}</a> }.into_any(),
                                        _ => view! { <span class="text-slate-400">"—"</span> }.into_any(),
                                    }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
}
