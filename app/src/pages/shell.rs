//! The web shell: terminals in tabs (xterm.js, attached by `public/shell.js`), the sessions
//! list with filters, the tenant's time limits, and the transcript player.
use crate::api::shell::{load_shell, shell_session, OpenShell, SaveShellSettings};
use crate::components::ui::{fmt_time, EmptyState, ErrorPanel, FormMessage, Loading, PageHeader, StageBadge, BUTTON, BUTTON_SECONDARY, CARD, INPUT, LABEL, TABLE, TD, TH};
use crate::models::{ExecState, SessionFilter, ShellOverview, ShellSessionRow, ShellSettings};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};
use uuid::Uuid;

#[component]
pub fn ShellPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.get();
        SessionFilter {
            environment: q.get("environment").unwrap_or_default(),
            user: q.get("user").unwrap_or_default(),
            state: q.get("state").unwrap_or_default(),
        }
    };
    let open = ServerAction::<OpenShell>::new();
    let save = ServerAction::<SaveShellSettings>::new();
    let overview = Resource::new(move || (filter(), open.version().get(), save.version().get()), |(f, _, _)| load_shell(f));

    let tabs = RwSignal::new(Vec::<ShellSessionRow>::new());
    let active = RwSignal::new(None::<Uuid>);
    // The caller's open sessions become tabs once (a reload reattaches to them).
    let seeded = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(o)) = overview.get() {
            if !seeded.get_untracked() {
                seeded.set(true);
                active.set(o.mine_open.last().map(|r| r.id));
                tabs.set(o.mine_open);
            }
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(row)) = open.value().get() {
            let id = row.id;
            tabs.update(|t| {
                if !t.iter().any(|r| r.id == id) {
                    t.push(row);
                }
            });
            active.set(Some(id));
        }
    });
    // A role without shells (a tester) sees one explanation, not a terminal area. The role
    // comes from the layout's context, known alike on the server and in the browser.
    let allowed = use_context::<crate::models::SessionUser>().is_some_and(|u| u.role.allows(crate::models::Capability::ViewShellSessions));
    view! {
        <Title text="Web shell" />
        <PageHeader title="Web shell" subtitle="Terminals on your environments that close at their time limit. Every byte in and out is recorded for audit." />
        <Show when=move || !allowed>
            <crate::pages::errors::Forbidden reason="the Tester and Project manager roles cannot open web shells; ask a developer or sysadmin".to_string() />
        </Show>
        <Show when=move || allowed>
        <div class="grid gap-5 lg:grid-cols-3">
            <div class="min-w-0 lg:col-span-2">
                <Terminals tabs active />
            </div>
            <div class="space-y-5">
                <Suspense fallback=|| view! { <Loading /> }>
                    {move || Suspend::new(async move {
                        match overview.await {
                            Ok(o) => view! { <OpenForm overview=o.clone() open /> {o.can_manage.then(|| view! { <SettingsForm settings=o.settings save /> })} }.into_any(),
                            Err(_) => ().into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </div>
        <section class="mt-6">
            <h2 class="mb-2 text-sm font-semibold text-slate-800">"Sessions"</h2>
            <Suspense fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(o) => view! { <SessionFilters overview=o.clone() current=filter() /> <SessionTable rows=o.sessions /> }.into_any(),
                        Err(_) => ().into_any(),
                    }
                })}
            </Suspense>
        </section>
        </Show>
    }
}

#[component]
fn Terminals(tabs: RwSignal<Vec<ShellSessionRow>>, active: RwSignal<Option<Uuid>>) -> impl IntoView {
    view! {
        <div data-testid="terminals">
            <Show when=move || tabs.with(|t| t.is_empty())>
                <EmptyState title="No shell open" hint="Pick an environment and open a shell. It closes by itself at its time limit, and reattaches if your connection drops." />
            </Show>
            <div class="flex flex-wrap gap-1" role="tablist">
                <For each=move || tabs.get() key=|r| r.id let:row>
                    {
                        let id = row.id;
                        let label = format!("{} · {}", row.project_slug, row.environment_name);
                        view! {
                            <div class=move || if active.get() == Some(id) {
                                "flex items-center rounded-t-md bg-slate-900 text-xs text-white"
                            } else {
                                "flex items-center rounded-t-md bg-slate-200 text-xs text-slate-700 hover:bg-slate-300"
                            }>
                                <button type="button" role="tab" class="px-3 py-1.5 font-medium" data-testid="shell-tab"
                                    aria-selected=move || (active.get() == Some(id)).to_string()
                                    on:click=move |_| active.set(Some(id))>{label.clone()}</button>
                                <button type="button" class="px-1.5 py-1.5 opacity-70 hover:opacity-100" aria-label="Hide this tab"
                                    title="Hide this tab (the session keeps running until it ends)"
                                    on:click=move |_| {
                                        tabs.update(|t| t.retain(|r| r.id != id));
                                        if active.get_untracked() == Some(id) {
                                            active.set(tabs.with_untracked(|t| t.last().map(|r| r.id)));
                                        }
                                    }>"×"</button>
                            </div>
                        }
                    }
                </For>
            </div>
            <For each=move || tabs.get() key=|r| r.id let:row>
                {
                    let id = row.id;
                    let sid = id.to_string();
                    view! {
                        <div class=move || if active.get() == Some(id) { "block" } else { "hidden" } data-testid="shell-pane">
                            <div class="flex items-center justify-between gap-2 rounded-tr-md bg-slate-800 px-2 py-1 text-xs text-slate-300">
                                <span class="flex items-center gap-2">
                                    <StageBadge stage=row.stage />
                                    <span data-shell-status=sid.clone() data-testid="shell-status">"connecting…"</span>
                                </span>
                                <button type="button" class="rounded border border-slate-600 px-2 py-0.5 hover:bg-slate-700" data-shell-end=sid.clone() data-testid="end-session">"End session"</button>
                            </div>
                            <div class="h-[26rem] rounded-b-md bg-slate-900 p-1" data-shell-session=sid.clone() data-testid="terminal"></div>
                        </div>
                    }
                }
            </For>
            <p class="mt-2 text-xs text-slate-500">"Copy: Ctrl+Shift+C · Paste: Ctrl+Shift+V · The terminal warns you a minute before it closes."</p>
        </div>
    }
}

#[component]
fn OpenForm(overview: ShellOverview, open: ServerAction<OpenShell>) -> impl IntoView {
    let message = Signal::derive(move || open.value().get().and_then(|r| r.err()).map(|e| Err(e.to_string())));
    let max = overview.settings.max_ttl_minutes;
    let none_allowed = !overview.targets.iter().any(|t| t.allowed);
    view! {
        <section class=format!("{CARD} p-4")>
            <h2 class="mb-3 text-sm font-semibold text-slate-800">"Open a shell"</h2>
            {if overview.targets.is_empty() {
                view! { <p class="text-sm text-slate-500">"No environments yet: create a project and its environments first."</p> }.into_any()
            } else {
                view! {
                    <ActionForm action=open attr:class="space-y-3" attr:data-testid="open-shell-form">
                        <div>
                            <label class=LABEL for="sh-env">"Environment"</label>
                            <select class=INPUT id="sh-env" name="environment_id" required>
                                {overview.targets.iter().map(|t| view! {
                                    <option value=t.environment_id.to_string() disabled=!t.allowed>
                                        {format!("{} · {} ({}){}", t.project_name, t.environment_name, t.stage.as_str(), if t.allowed { "" } else { " — sysadmins only" })}
                                    </option>
                                }).collect_view()}
                            </select>
                        </div>
                        <div>
                            <label class=LABEL for="sh-ttl">{format!("Time limit (minutes, at most {max})")}</label>
                            <input class=INPUT id="sh-ttl" name="ttl_minutes" inputmode="numeric" value=overview.settings.default_ttl_minutes.to_string() />
                            <p class="mt-1 text-xs text-slate-500">{format!("Idle sessions close after {} minutes without input.", overview.settings.idle_minutes)}</p>
                        </div>
                        <FormMessage message />
                        <button type="submit" class=BUTTON disabled=move || open.pending().get() || none_allowed data-testid="open-shell">"Open shell"</button>
                    </ActionForm>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn SettingsForm(settings: ShellSettings, save: ServerAction<SaveShellSettings>) -> impl IntoView {
    let message = Signal::derive(move || save.value().get().map(|r| r.map(|_| "Saved.".to_string()).map_err(|e| e.to_string())));
    view! {
        <section class=format!("{CARD} p-4")>
            <h2 class="mb-3 text-sm font-semibold text-slate-800">"Time limits (admins)"</h2>
            <ActionForm action=save attr:class="grid grid-cols-3 gap-2" attr:data-testid="shell-settings-form">
                <div><label class=LABEL for="ss-def">"Default"</label><input class=INPUT id="ss-def" name="settings[default_ttl_minutes]" inputmode="numeric" value=settings.default_ttl_minutes.to_string() /></div>
                <div><label class=LABEL for="ss-max">"Longest"</label><input class=INPUT id="ss-max" name="settings[max_ttl_minutes]" inputmode="numeric" value=settings.max_ttl_minutes.to_string() /></div>
                <div><label class=LABEL for="ss-idle">"Idle"</label><input class=INPUT id="ss-idle" name="settings[idle_minutes]" inputmode="numeric" value=settings.idle_minutes.to_string() /></div>
                <p class="col-span-3 text-xs text-slate-500">"Minutes, 1 to 30. Sessions never last longer than 30 minutes."</p>
                <div class="col-span-3"><FormMessage message /></div>
                <div class="col-span-3"><button type="submit" class=BUTTON_SECONDARY>"Save limits"</button></div>
            </ActionForm>
        </section>
    }
}

#[component]
fn SessionFilters(overview: ShellOverview, current: SessionFilter) -> impl IntoView {
    view! {
        <Form method="GET" action="" attr:class="mb-3 flex flex-wrap items-end gap-2" attr:data-testid="session-filters">
            <div>
                <label class=LABEL for="f-env">"Environment"</label>
                <select class=INPUT id="f-env" name="environment">
                    <option value="">"All"</option>
                    {overview.targets.iter().map(|t| {
                        let v = t.environment_id.to_string();
                        let selected = v == current.environment;
                        view! { <option value=v selected=selected>{format!("{} · {}", t.project_slug, t.environment_name)}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div><label class=LABEL for="f-user">"User"</label><input class=INPUT id="f-user" name="user" value=current.user.clone() placeholder="email contains…" /></div>
            <div>
                <label class=LABEL for="f-state">"State"</label>
                <select class=INPUT id="f-state" name="state">
                    <option value="">"Any"</option>
                    {ExecState::ALL.iter().map(|s| view! { <option value=s.as_str() selected=s.as_str() == current.state>{s.as_str()}</option> }).collect_view()}
                </select>
            </div>
            <button type="submit" class=BUTTON_SECONDARY>"Filter"</button>
        </Form>
    }
}

fn human_bytes(n: i64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn duration(r: &ShellSessionRow) -> String {
    match (r.started_at, r.ended_at) {
        (Some(s), Some(e)) => {
            let secs = (e - s).num_seconds().max(0);
            format!("{}m {:02}s", secs / 60, secs % 60)
        }
        (Some(_), None) => "running".into(),
        (None, _) => "—".into(),
    }
}

#[component]
fn SessionTable(rows: Vec<ShellSessionRow>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <EmptyState title="No sessions match" hint="Sessions appear here as soon as someone opens a shell; clear the filters to see them all." /> }.into_any();
    }
    view! {
        <div class=format!("{CARD} overflow-x-auto")>
            <table class=TABLE data-testid="shell-sessions">
                <thead class="bg-slate-50"><tr>
                    <th class=TH>"Opened"</th><th class=TH>"User"</th><th class=TH>"Environment"</th><th class=TH>"State"</th>
                    <th class=TH>"Duration"</th><th class=TH>"In / out"</th><th class=TH></th>
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {rows.into_iter().map(|r| {
                        let state = match (r.state, r.end_reason) {
                            (ExecState::Open, _) => view! { <span class="rounded bg-emerald-100 px-1.5 py-0.5 text-[11px] font-semibold text-emerald-800">"open"</span> }.into_any(),
                            (ExecState::Closed, reason) => view! { <span class="text-xs text-slate-600">{reason.map(|x| x.label()).unwrap_or("closed")}</span> }.into_any(),
                        };
                        let cast = format!("/api/shell/sessions/{}/cast", r.id);
                        view! {
                            <tr data-testid="shell-session-row">
                                <td class=format!("{TD} whitespace-nowrap text-xs text-slate-600")>{fmt_time(&r.created_at)}</td>
                                <td class=format!("{TD} text-xs")>{r.user_email.clone()}</td>
                                <td class=TD><span class="mr-1 text-sm">{format!("{} · {}", r.project_slug, r.environment_name)}</span><StageBadge stage=r.stage /></td>
                                <td class=TD>{state}</td>
                                <td class=format!("{TD} text-xs text-slate-600 whitespace-nowrap")>{format!("{} of {} min", duration(&r), r.ttl_seconds / 60)}</td>
                                <td class=format!("{TD} text-xs text-slate-600 whitespace-nowrap")>{format!("{} / {}", human_bytes(r.bytes_in), human_bytes(r.bytes_out))}</td>
                                <td class=format!("{TD} whitespace-nowrap text-right text-xs")>
                                    <a class="font-medium text-indigo-700 hover:underline" href=format!("/shell/sessions/{}", r.id) data-testid="replay-link">"Replay"</a>
                                    " · "
                                    <a class="text-indigo-700 hover:underline" href=cast rel="external" download="">".cast"</a>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn ReplayPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| Uuid::parse_str(&s).ok()));
    let row = Resource::new(id, |id| async move {
        match id {
            Some(id) => shell_session(id).await,
            None => Err(crate::models::AppError::NotFound("shell session".into())),
        }
    });
    view! {
        <Title text="Session replay" />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match row.await {
                    Ok(r) => view! { <Replay row=r /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Replay(row: ShellSessionRow) -> impl IntoView {
    let sid = row.id.to_string();
    let subtitle = format!("{} on {} · {} · opened {}", row.user_email, row.environment_name, row.end_reason.map(|r| r.label()).unwrap_or("still open"), fmt_time(&row.created_at));
    view! {
        <PageHeader title="Session replay" subtitle=subtitle>
            <a class=BUTTON_SECONDARY href="/shell">"All sessions"</a>
            <a class=BUTTON_SECONDARY href=format!("/api/shell/sessions/{}/cast", row.id) rel="external" download="" data-testid="download-cast">"Download .cast"</a>
        </PageHeader>
        <div class="mb-3 grid grid-cols-2 gap-3 text-xs text-slate-600 sm:grid-cols-4">
            <Fact label="Ran as" value=if row.os_user.is_empty() { "—".to_string() } else { row.os_user.clone() } />
            <Fact label="Duration" value=duration(&row) />
            <Fact label="Typed" value=human_bytes(row.bytes_in) />
            <Fact label="Output" value=human_bytes(row.bytes_out) />
        </div>
        <div class="shell-player overflow-hidden rounded-lg border border-slate-800 bg-slate-900 p-2 shadow-sm" data-shell-replay=sid data-testid="replay"></div>
        <p class="mt-2 text-xs text-slate-500">"Long pauses are shortened to 2 seconds. Viewing and exporting transcripts is audited."</p>
    }
}

#[component]
fn Fact(label: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="rounded-md border border-slate-200 bg-white px-3 py-2">
            <div class="text-[11px] uppercase tracking-wide text-slate-500">{label}</div>
            <div class="font-medium text-slate-800">{value}</div>
        </div>
    }
}
