//! The Supabase panel: a project's linked Supabase projects (link and unlink for admins), and
//! per link a panel with one section per area. The sections fetch from the browser through
//! `/api/supabase-proxy` only (see `components::supabase`).
mod advisors;
mod auth;
mod database;
mod logs;
mod schema;
mod secrets;
mod storage;

use crate::api::supabase::{get_supabase_links, get_supabase_panel, LinkSupabase, RemoveSupabaseToken, SetSupabaseToken, UnlinkSupabase};
use crate::components::ui::{fmt_time, EmptyState, ErrorPanel, Loading, PageHeader, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, INPUT, LABEL, TABLE, TD, TH};
use crate::models::supabase::{SupabaseLink, SupabaseUpstream, TokenState};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// The panel's sections, in menu order: (query value, label).
pub const SECTIONS: [(&str, &str); 7] =
    [("database", "Database"), ("schema", "Schema"), ("auth", "Auth"), ("storage", "Storage"), ("secrets", "Secrets"), ("logs", "Logs"), ("advisors", "Advisors")];

fn upstream_badge(u: SupabaseUpstream) -> impl IntoView {
    let (label, class, title) = match u {
        SupabaseUpstream::Default => ("Supabase API", "bg-emerald-50 text-emerald-800 ring-emerald-200", "Served by the configured Supabase Management API"),
        SupabaseUpstream::Local => ("local", "bg-sky-50 text-sky-800 ring-sky-200", "Served by this console's own Management API over a registered PostgreSQL connection"),
    };
    view! { <span class=format!("inline-flex items-center rounded px-1.5 py-0.5 text-[11px] font-medium ring-1 ring-inset {class}") title=title>{label}</span> }
}

/// `/projects/:slug/supabase`: the links, and the form to add one.
#[component]
pub fn SupabaseLinksPage() -> impl IntoView {
    let params = use_params_map();
    let link = ServerAction::<LinkSupabase>::new();
    let unlink = ServerAction::<UnlinkSupabase>::new();
    let set_token = ServerAction::<SetSupabaseToken>::new();
    let remove_token = ServerAction::<RemoveSupabaseToken>::new();
    let links = Resource::new(
        move || (params.read().get("slug").unwrap_or_default(), link.version().get() + unlink.version().get() + set_token.version().get() + remove_token.version().get()),
        |(slug, _)| get_supabase_links(slug),
    );
    view! {
        <Title text="Supabase" />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match links.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(l) => {
                        let slug = l.project_slug.clone();
                        let back = format!("/projects/{slug}");
                        view! {
                            <PageHeader title=format!("{} · Supabase", l.project_name) subtitle="Linked Supabase projects, managed through the console's audited proxy: the management token never reaches the browser.">
                                <a class=BUTTON_SECONDARY href=back>"Project"</a>
                            </PageHeader>
                            {if l.links.is_empty() {
                                view! { <EmptyState title="No Supabase project linked yet" hint=if l.can_manage { "Link one below: a project on Supabase by its ref, or any PostgreSQL served by the console's local Management API." } else { "An admin can link one from this page." } /> }.into_any()
                            } else {
                                view! { <LinkTable links=l.links.clone() slug=slug.clone() can_manage=l.can_manage unlink=unlink /> }.into_any()
                            }}
                            <div class="grid gap-4 lg:grid-cols-2">
                                {l.can_manage.then(|| view! { <LinkForm slug=slug.clone() action=link /> })}
                                <TokenCard state=l.token.clone() can_manage=l.can_manage set=set_token remove=remove_token />
                            </div>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn LinkTable(links: Vec<SupabaseLink>, slug: String, can_manage: bool, unlink: ServerAction<UnlinkSupabase>) -> impl IntoView {
    view! {
        <div class=format!("{CARD} mb-6 overflow-x-auto")>
            <table class=TABLE data-testid="supabase-links">
                <thead class="bg-slate-50"><tr>
                    <th class=TH>"Name"</th><th class=TH>"Ref"</th><th class=TH>"Served by"</th><th class=TH>"Linked"</th><th class=TH></th>
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {links.into_iter().map(|k| {
                        let open = format!("/projects/{slug}/supabase/{}", k.project_ref);
                        let id = k.id.to_string();
                        view! {
                            <tr data-testid="supabase-link-row" class="hover:bg-slate-50">
                                <td class=format!("{TD} font-medium text-slate-900")><a class="text-indigo-700 hover:underline" href=open.clone()>{k.name.clone()}</a></td>
                                <td class=format!("{TD} font-mono text-xs text-slate-700")>{k.project_ref.to_string()}</td>
                                <td class=TD>{upstream_badge(k.upstream)}</td>
                                <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{fmt_time(&k.created_at)}</td>
                                <td class=format!("{TD} whitespace-nowrap text-right")>
                                    <a class=BUTTON_SECONDARY href=open data-testid="open-panel">"Open panel"</a>
                                    {can_manage.then(|| view! {
                                        <ActionForm action=unlink attr:class="ml-2 inline" on:submit=|ev| {
                                            if !confirm("Unlink this Supabase project? Its stored secrets and auth settings in the console are deleted.") { ev.prevent_default(); }
                                        }>
                                            <input type="hidden" name="id" value=id.clone() />
                                            <button type="submit" class=BUTTON_DANGER data-testid="unlink">"Unlink"</button>
                                        </ActionForm>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Asks the browser to confirm (always yes on the server, where nothing is submitted).
fn confirm(message: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window().and_then(|w| w.confirm_with_message(message).ok()).unwrap_or(true)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = message;
        true
    }
}

#[component]
fn LinkForm(slug: String, action: ServerAction<LinkSupabase>) -> impl IntoView {
    let kind = RwSignal::new("hosted".to_string());
    let result = move || {
        action.value().get().map(|r| match r {
            Ok(r) => view! { <p class="text-sm text-emerald-700" role="status" data-testid="form-ok">{format!("Linked as {r}.")}</p> }.into_any(),
            Err(e) => view! { <p class="text-sm text-rose-700" role="alert" data-testid="form-error">{e.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <div class=format!("{CARD} p-4")>
            <h2 class="mb-3 text-sm font-semibold text-slate-800">"Link a Supabase project"</h2>
            <ActionForm action=action attr:class="grid gap-3" attr:data-testid="link-form">
                <input type="hidden" name="slug" value=slug />
                <fieldset class="flex gap-4 text-sm">
                    <label class="inline-flex items-center gap-1.5">
                        <input type="radio" name="kind" value="hosted" checked on:change=move |_| kind.set("hosted".into()) />
                        "On Supabase (by ref)"
                    </label>
                    <label class="inline-flex items-center gap-1.5">
                        <input type="radio" name="kind" value="local" data-testid="kind-local" on:change=move |_| kind.set("local".into()) />
                        "Any PostgreSQL (local Management API)"
                    </label>
                </fieldset>
                <label>
                    <span class=LABEL>"Name"</span>
                    <input class=INPUT name="name" required maxlength="80" placeholder="Production database" />
                </label>
                <label class:hidden=move || kind.get() != "hosted">
                    <span class=LABEL>"Project ref"</span>
                    <input class=format!("{INPUT} font-mono") name="project_ref" maxlength="20" placeholder="abcdefghijklmnopqrst" autocomplete="off" />
                    <span class="mt-1 block text-[11px] text-slate-500">"The 20 letters in the project's dashboard URL. Calls go to the configured Management API with the organization's management token (right)."</span>
                </label>
                <label class:hidden=move || kind.get() != "local">
                    <span class=LABEL>"Database URL"</span>
                    <input class=format!("{INPUT} font-mono") type="password" name="db_url" placeholder="postgres://user:password@host:5432/database" autocomplete="off" />
                    <span class="mt-1 block text-[11px] text-slate-500">"Checked by connecting once, then stored encrypted; never shown again. The panel's queries run read-only with a statement timeout."</span>
                </label>
                <div class="flex items-center gap-3">
                    <button type="submit" class=BUTTON disabled=move || action.pending().get() data-testid="link-submit">"Link project"</button>
                    {result}
                </div>
            </ActionForm>
        </div>
    }
}

/// The management token hosted links use: the tenant's own (set here, stored encrypted),
/// or for the installation's first tenant the server's.
#[component]
fn TokenCard(state: TokenState, can_manage: bool, set: ServerAction<SetSupabaseToken>, remove: ServerAction<RemoveSupabaseToken>) -> impl IntoView {
    let status = match (&state.own, state.server) {
        (Some(t), _) => format!("This organization's token …{}, set by {} on {}.", t.hint, t.updated_by, fmt_time(&t.updated_at)),
        (None, true) => "The server's token (ODOOOPS_SUPABASE_TOKEN) is used. Set one here to use your own.".to_string(),
        (None, false) => "No token: projects on Supabase answer 502 until an admin sets one. Local projects need none.".to_string(),
    };
    let has_own = state.own.is_some();
    let message = move || {
        set.value().get().map(|r| r.map(|_| "Token saved.".to_string())).or_else(|| remove.value().get().map(|r| r.map(|_| "Token removed.".to_string()))).map(|r| match r {
            Ok(ok) => view! { <p class="text-sm text-emerald-700" role="status" data-testid="token-ok">{ok}</p> }.into_any(),
            Err(e) => view! { <p class="text-sm text-rose-700" role="alert" data-testid="token-error">{e.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <div class=format!("{CARD} p-4") data-testid="token-card">
            <h2 class="mb-1 text-sm font-semibold text-slate-800">"Management token"</h2>
            <p class="mb-3 text-xs text-slate-600" data-testid="token-status">{status}</p>
            {can_manage.then(|| view! {
                <ActionForm action=set attr:class="flex flex-wrap items-end gap-2">
                    <label class="min-w-[16rem] flex-1">
                        <span class=LABEL>"Personal access token"</span>
                        <input class=format!("{INPUT} font-mono") type="password" name="token" required minlength="10" maxlength="200" placeholder="sbp_…" autocomplete="off" data-testid="token-input" />
                    </label>
                    <button type="submit" class=BUTTON data-testid="token-save" disabled=move || set.pending().get()>"Save token"</button>
                </ActionForm>
                {has_own.then(|| view! {
                    <ActionForm action=remove attr:class="mt-2">
                        <button type="submit" class=BUTTON_DANGER data-testid="token-remove">"Remove token"</button>
                    </ActionForm>
                })}
                <p class="mt-2 text-[11px] text-slate-500">"Stored encrypted; only the proxy reads it, and it is never shown again or written to any log."</p>
            })}
            <div class="mt-2">{message}</div>
        </div>
    }
}

/// `/projects/:slug/supabase/:ref?section=...`: the panel.
#[component]
pub fn SupabasePanelPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let panel = Resource::new(move || params.read().get("ref").unwrap_or_default(), get_supabase_panel);
    let section = move || query.read().get("section").filter(|s| SECTIONS.iter().any(|(k, _)| k == s)).unwrap_or_else(|| "database".to_string());
    // The sections fetch in the browser (local resources): the server and the hydrating
    // browser both render the loading state, then the browser mounts the section.
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    view! {
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match panel.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(p) => {
                        let r = p.link.project_ref.to_string();
                        let base = format!("/projects/{}/supabase/{r}", p.project_slug);
                        let admin = p.admin;
                        view! {
                            <Title text=format!("{} · Supabase", p.link.name) />
                            <PageHeader title=p.link.name.clone() subtitle=format!("Supabase project {r} · linked to {}", p.project_name)>
                                {upstream_badge(p.link.upstream)}
                                <a class=BUTTON_SECONDARY href=format!("/projects/{}/supabase", p.project_slug)>"All links"</a>
                            </PageHeader>
                            <div class="flex flex-col gap-4 md:flex-row" data-testid="supabase-panel">
                                <nav class="flex shrink-0 flex-row flex-wrap gap-1 md:w-40 md:flex-col" data-testid="panel-sections">
                                    {SECTIONS.iter().map(|(key, label)| {
                                        let href = format!("{base}?section={key}");
                                        let key = *key;
                                        view! {
                                            <a href=href data-testid=format!("section-{key}")
                                                class=move || if section() == key { "rounded-md bg-indigo-50 px-2.5 py-1.5 text-sm font-medium text-indigo-800" } else { "rounded-md px-2.5 py-1.5 text-sm text-slate-600 hover:bg-slate-100" }>
                                                {*label}
                                            </a>
                                        }
                                    }).collect_view()}
                                </nav>
                                <section class="min-w-0 flex-1">
                                    {move || {
                                        let r = r.clone();
                                        if !mounted.get() {
                                            return view! { <crate::components::supabase::PanelLoading /> }.into_any();
                                        }
                                        match section().as_str() {
                                            "schema" => view! { <schema::SchemaSection project_ref=r /> }.into_any(),
                                            "auth" => view! { <auth::AuthSection project_ref=r admin=admin /> }.into_any(),
                                            "storage" => view! { <storage::StorageSection project_ref=r /> }.into_any(),
                                            "secrets" => view! { <secrets::SecretsSection project_ref=r admin=admin /> }.into_any(),
                                            "logs" => view! { <logs::LogsSection project_ref=r /> }.into_any(),
                                            "advisors" => view! { <advisors::AdvisorsSection project_ref=r /> }.into_any(),
                                            _ => view! { <database::DatabaseSection project_ref=r admin=admin /> }.into_any(),
                                        }
                                    }}
                                </section>
                            </div>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// A section's title line with an optional hint on the right.
#[component]
pub fn SectionTitle(#[prop(into)] title: Signal<String>, #[prop(into, optional)] hint: String, #[prop(optional)] children: Option<Children>) -> impl IntoView {
    view! {
        <div class="mb-2 flex flex-wrap items-center justify-between gap-2">
            <h2 class="text-sm font-semibold text-slate-800">{move || title.get()}</h2>
            <div class="flex items-center gap-2 text-xs text-slate-500">{(!hint.is_empty()).then(|| hint)}{children.map(|c| c())}</div>
        </div>
    }
}
