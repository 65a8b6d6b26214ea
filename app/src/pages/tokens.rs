use crate::api::projects::list_projects;
use crate::api::tokens::{list_tokens, CreateToken, RevokeToken};
use crate::components::ui::{fmt_time, EmptyState, ErrorPanel, FormMessage, Loading, PageHeader, RoleBadge, BUTTON, BUTTON_DANGER, CARD, INPUT, LABEL, TABLE, TD, TH};
use crate::models::{ApiTokenRow, Role};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_tokens());
    view! {
        <Title text="API tokens" />
        <PageHeader title="API tokens" subtitle="Credentials for machines (CI, scripts). Shown once, stored hashed, revocable." />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Ok(rows) => view! {
                        <div class="grid gap-5 lg:grid-cols-3">
                            <div class="lg:col-span-2">
                                <NewTokenBanner create />
                                {if rows.is_empty() {
                                    view! { <EmptyState title="No API tokens yet" hint="Create one for your CI with the form on the right." /> }.into_any()
                                } else {
                                    view! { <TokenTable rows revoke /> }.into_any()
                                }}
                            </div>
                            <CreateTokenForm create />
                        </div>
                    }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn NewTokenBanner(create: ServerAction<CreateToken>) -> impl IntoView {
    move || {
        create.value().get().and_then(|r| r.ok()).map(|t| view! {
            <div class="mb-4 rounded-lg border border-emerald-200 bg-emerald-50 p-4" data-testid="new-token">
                <p class="text-sm font-medium text-emerald-900">{format!("Token “{}” created. Copy it now: it will not be shown again.", t.row.name)}</p>
                <code class="mt-2 block select-all break-all rounded bg-white px-2 py-1.5 font-mono text-sm text-slate-900 ring-1 ring-emerald-200" data-testid="new-token-value">{t.token}</code>
                <p class="mt-2 text-xs text-emerald-800">"Use it as "<code>"Authorization: Bearer <token>"</code>"."</p>
            </div>
        })
    }
}

#[component]
fn TokenTable(rows: Vec<ApiTokenRow>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    view! {
        <div class=format!("{CARD} overflow-x-auto")>
            <table class=TABLE data-testid="tokens-table">
                <thead class="bg-slate-50"><tr>
                    <th class=TH>"Name"</th><th class=TH>"Scope"</th><th class=TH>"Last used"</th><th class=TH>"Expires"</th><th class=TH></th>
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {rows.into_iter().map(|t| {
                        let revoked = t.revoked_at.is_some();
                        view! {
                            <tr data-testid="token-row" class=if revoked { "opacity-50" } else { "" }>
                                <td class=TD>
                                    <div class="font-medium text-slate-800">{t.name.clone()}</div>
                                    <div class="font-mono text-xs text-slate-500">{format!("{}…", t.prefix)}</div>
                                </td>
                                <td class=TD>
                                    <RoleBadge role=t.role />
                                    <span class="ml-1 text-xs text-slate-500">{t.project_slug.clone().unwrap_or_else(|| "all projects".into())}</span>
                                </td>
                                <td class=format!("{TD} text-xs text-slate-500")>{t.last_used_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())}</td>
                                <td class=format!("{TD} text-xs text-slate-500")>{t.expires_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())}</td>
                                <td class=format!("{TD} text-right")>
                                    {if revoked {
                                        view! { <span class="text-xs text-slate-500">"revoked"</span> }.into_any()
                                    } else {
                                        view! {
                                            <ActionForm action=revoke>
                                                <input type="hidden" name="id" value=t.id.to_string() />
                                                <button type="submit" class=BUTTON_DANGER data-testid="revoke-token">"Revoke"</button>
                                            </ActionForm>
                                        }.into_any()
                                    }}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn CreateTokenForm(create: ServerAction<CreateToken>) -> impl IntoView {
    let projects = Resource::new(|| (), |_| list_projects());
    let message = Signal::derive(move || create.value().get().and_then(|r| r.err()).map(|e| Err(e.to_string())));
    view! {
        <section class=format!("{CARD} p-4")>
            <h2 class="mb-3 text-sm font-semibold text-slate-800">"Create a token"</h2>
            <ActionForm action=create attr:class="space-y-3" attr:data-testid="create-token-form">
                <div><label class=LABEL for="t-name">"Name"</label><input class=INPUT id="t-name" name="token[name]" placeholder="CI on GitHub" required maxlength="100" /></div>
                <div>
                    <label class=LABEL for="t-role">"Acts as role"</label>
                    <select class=INPUT id="t-role" name="token[role]">
                        {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == Role::Developer>{r.label()}</option> }).collect_view()}
                    </select>
                </div>
                <div>
                    <label class=LABEL for="t-project">"Project scope"</label>
                    <select class=INPUT id="t-project" name="token[project]">
                        <option value="">"All projects"</option>
                        <Suspense fallback=|| ()>
                            {move || Suspend::new(async move {
                                projects.await.unwrap_or_default().into_iter()
                                    .map(|p| view! { <option value=p.slug.clone()>{p.name.clone()}</option> })
                                    .collect_view()
                            })}
                        </Suspense>
                    </select>
                </div>
                <div><label class=LABEL for="t-exp">"Expires in (days, empty for never)"</label><input class=INPUT id="t-exp" name="token[expires_in_days]" inputmode="numeric" value="90" /></div>
                <FormMessage message />
                <button type="submit" class=BUTTON disabled=move || create.pending().get()>"Create token"</button>
            </ActionForm>
        </section>
    }
}
