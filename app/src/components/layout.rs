//! The signed-in frame: sidebar navigation, project/environment switcher, user menu.
use crate::api::auth::{current_user, Logout};
use crate::api::projects::list_projects;
use crate::components::ui::{here, urlencode, ErrorPanel, Loading, RoleBadge, StageBadge};
use crate::models::{Capability, SessionUser};
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};
use leptos_router::hooks::use_location;

#[component]
pub fn Layout() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    let location = use_location();
    view! {
        <Suspense fallback=|| view! { <div class="p-8"><Loading /></div> }>
            {move || {
                let next = here(&location);
                Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) => {
                        provide_context(u.clone());
                        view! { <Frame user=u /> }.into_any()
                    }
                    Ok(None) => {
                        let to = if next == "/" { "/login".to_string() } else { format!("/login?next={}", urlencode(&next)) };
                        view! { <Redirect path=to /> }.into_any()
                    }
                    Err(e) => view! { <div class="p-8"><ErrorPanel error=e /></div> }.into_any(),
                }
            })}}
        </Suspense>
    }
}

#[component]
fn Frame(user: SessionUser) -> impl IntoView {
    let role = user.role;
    view! {
        <div class="flex min-h-full">
            <aside class="hidden w-56 shrink-0 flex-col bg-slate-900 text-slate-300 md:flex">
                <a href="/" class="flex items-center gap-2 px-4 py-4 text-white">
                    <span class="grid h-7 w-7 place-items-center rounded bg-indigo-500 text-xs font-bold">"OO"</span>
                    <span class="text-sm font-semibold tracking-tight">"OdooOps Console"</span>
                </a>
                <nav class="mt-2 flex flex-col gap-0.5 px-2 text-sm" data-testid="main-nav">
                    <NavLink href="/" label="Dashboard" />
                    <NavLink href="/logs" label="Logs" />
                    <Show when=move || role.allows(Capability::ViewScans)>
                        <NavLink href="/scanner" label="Database scanner" />
                    </Show>
                    <Show when=move || role.allows(Capability::OpenShell)>
                        <NavLink href="/shell" label="Web shell" />
                    </Show>
                    <Show when=move || role.allows(Capability::ViewAudit)>
                        <NavLink href="/audit" label="Audit log" />
                    </Show>
                    <Show when=move || role.allows(Capability::ManageMembers)>
                        <p class="mt-4 px-2 pb-1 text-[10px] font-semibold uppercase tracking-wider text-slate-500">"Administration"</p>
                        <NavLink href="/admin/members" label="Members" />
                        <NavLink href="/admin/tokens" label="API tokens" />
                    </Show>
                </nav>
                <div class="mt-auto px-4 py-3 text-[11px] text-slate-500">{user.tenant_name.clone()}</div>
            </aside>
            <div class="flex min-w-0 flex-1 flex-col">
                <header class="flex h-12 items-center justify-between gap-4 border-b border-slate-200 bg-white px-4">
                    <Switcher />
                    <UserMenu user=user.clone() />
                </header>
                <main class="mx-auto w-full max-w-6xl flex-1 px-4 py-6 md:px-6">
                    <Outlet />
                </main>
            </div>
        </div>
    }
}

#[component]
fn NavLink(href: &'static str, label: &'static str) -> impl IntoView {
    let location = use_location();
    let active = move || {
        let p = location.pathname.get();
        if href == "/" { p == "/" || p.starts_with("/projects") } else { p.starts_with(href) }
    };
    view! {
        <A href=href attr:class=move || {
            if active() {
                "rounded-md bg-slate-800 px-2 py-1.5 font-medium text-white"
            } else {
                "rounded-md px-2 py-1.5 hover:bg-slate-800 hover:text-white"
            }
        }>{label}</A>
    }
}

/// Project and environment switcher: a disclosure that works without JavaScript.
#[component]
fn Switcher() -> impl IntoView {
    let projects = Resource::new(|| (), |_| list_projects());
    view! {
        <details class="relative" data-testid="switcher">
            <summary class="flex cursor-pointer list-none items-center gap-2 rounded-md border border-slate-200 px-2.5 py-1 text-sm text-slate-700 hover:bg-slate-50">
                <span class="text-slate-400">"Project"</span>
                <span class="font-medium">"Switch…"</span>
                <span class="text-slate-400">"▾"</span>
            </summary>
            <div class="absolute left-0 z-20 mt-1 w-80 rounded-md border border-slate-200 bg-white p-1 shadow-lg">
                <Suspense fallback=|| view! { <p class="p-2 text-sm text-slate-500">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match projects.await {
                            Ok(list) if list.is_empty() => view! { <p class="p-2 text-sm text-slate-500">"No projects yet."</p> }.into_any(),
                            Ok(list) => list.into_iter().map(|p| {
                                let href = format!("/projects/{}", p.slug);
                                view! {
                                    <div class="py-1">
                                        <a href=href.clone() class="block rounded px-2 py-1 text-sm font-medium text-slate-800 hover:bg-slate-100">{p.name.clone()}</a>
                                        {p.environments.into_iter().map(|e| view! {
                                            <a href=format!("{href}#env-{}", e.name) class="flex items-center justify-between rounded px-2 py-0.5 pl-5 text-xs text-slate-600 hover:bg-slate-100">
                                                <span>{e.name.clone()}</span>
                                                <StageBadge stage=e.stage />
                                            </a>
                                        }).collect_view()}
                                    </div>
                                }
                            }).collect_view().into_any(),
                            Err(e) => view! { <p class="p-2 text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </details>
    }
}

#[component]
fn UserMenu(user: SessionUser) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let initial = user.display_name.chars().next().or_else(|| user.email.chars().next()).unwrap_or('?').to_ascii_uppercase();
    view! {
        <details class="relative" data-testid="user-menu">
            <summary class="flex cursor-pointer list-none items-center gap-2 rounded-md px-2 py-1 text-sm hover:bg-slate-50">
                <span class="grid h-7 w-7 place-items-center rounded-full bg-indigo-100 text-xs font-semibold text-indigo-800">{initial.to_string()}</span>
                <span class="hidden text-slate-700 sm:inline" data-testid="user-email">{user.email.clone()}</span>
                <RoleBadge role=user.role />
            </summary>
            <div class="absolute right-0 z-20 mt-1 w-64 rounded-md border border-slate-200 bg-white p-3 text-sm shadow-lg">
                <p class="font-medium text-slate-800">{if user.display_name.is_empty() { user.email.clone() } else { user.display_name.clone() }}</p>
                <p class="text-xs text-slate-500">{user.email.clone()}</p>
                <p class="mt-1 text-xs text-slate-500">{format!("{} · {}", user.tenant_name, user.role.label())}</p>
                <a href="/profile" class="mt-3 block rounded-md px-2 py-1 text-sm text-slate-700 hover:bg-slate-50" data-testid="profile-link">"Profile and SSH keys"</a>
                <ActionForm action=logout attr:class="mt-2">
                    <button type="submit" class="w-full rounded-md border border-slate-300 px-2 py-1 text-sm hover:bg-slate-50" data-testid="logout">"Sign out"</button>
                </ActionForm>
            </div>
        </details>
    }
}
