//! Backups: per environment its last good backup, schedule and a "Back up now" button; the
//! list of backups (restore, download, cancel) and of restores, with live progress bars; the
//! restore dialog (staging is the standard action, production a guarded danger zone); and
//! the settings of admins (schedules, retention, storage, data directories).
mod dialog;
mod settings;

use crate::api::backups::{get_backups, CancelBackup, CancelRestore, CreateBackup, RequestRestore};
use crate::components::backups::{ago, duration_text, freshness_class, short_sha, use_backup_events, BackupStateChip, ProgressBar, RestoreStateChip};
use crate::components::ui::{fmt_time, nonempty, EmptyState, ErrorPanel, Loading, PageHeader, StageBadge, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, TABLE, TD, TH};
use crate::models::{human_bytes, AppError, BackupPermissions, BackupRow, BackupState, BackupsOverview, EnvironmentBackups, RestoreRow, Retention, Stage, MANUAL_BACKUPS_PER_DAY};
use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

/// The page's actions, the restore dialog's state and the live reload, shared by its parts.
#[derive(Clone, Copy)]
struct Ctx {
    live: RwSignal<BackupsOverview>,
    reload: Callback<()>,
    backup: ServerAction<CreateBackup>,
    cancel: ServerAction<CancelBackup>,
    restore: ServerAction<RequestRestore>,
    cancel_restore: ServerAction<CancelRestore>,
    /// The restore dialog is open, with this backup picked.
    dialog: RwSignal<Option<Uuid>>,
    dialog_error: RwSignal<Option<String>>,
    /// Environments whose "Back up now" was clicked and not yet seen in a fresh overview.
    starting: RwSignal<Vec<Uuid>>,
    can: BackupPermissions,
}

impl Ctx {
    fn open_dialog(&self, backup: Option<Uuid>) {
        let pick = backup.or_else(|| self.live.with_untracked(default_backup));
        self.dialog_error.set(None);
        self.dialog.set(Some(pick.unwrap_or_default()));
    }
}

/// Production's newest good backup, else the newest good one.
fn default_backup(o: &BackupsOverview) -> Option<Uuid> {
    let good = || o.backups.iter().filter(|b| b.state == BackupState::Good);
    good().find(|b| b.stage == Stage::Production).or_else(|| good().next()).map(|b| b.id)
}

/// A list item's identity for `<For/>`: the row as it is now, so only changed rows redraw.
fn key<T: serde::Serialize>(t: &T) -> String {
    serde_json::to_string(t).unwrap_or_default()
}

#[component]
pub fn BackupsPage() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(move || params.read().get("slug").unwrap_or_default(), get_backups);
    view! {
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => view! { <Overview o=o /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Overview(o: BackupsOverview) -> impl IntoView {
    // Server-rendered once; afterwards the page keeps itself current in place (events and
    // actions reload the overview in the background, an older answer never wins).
    let live = RwSignal::new(o.clone());
    let latest = StoredValue::new(0_u64);
    let starting = RwSignal::new(Vec::new());
    let slug = o.project_slug.clone();
    let reload = Callback::new(move |()| {
        latest.update_value(|n| *n += 1);
        let (mine, slug) = (latest.get_value(), slug.clone());
        leptos::task::spawn_local(async move {
            if let Ok(fresh) = get_backups(slug).await {
                if latest.try_get_value() == Some(mine) {
                    live.try_set(fresh);
                    starting.try_set(Vec::new());
                }
            }
        });
    });
    use_backup_events(o.project_id, move || reload.run(()));
    let c = Ctx {
        live,
        reload,
        backup: ServerAction::new(),
        cancel: ServerAction::new(),
        restore: ServerAction::new(),
        cancel_restore: ServerAction::new(),
        dialog: RwSignal::new(None),
        dialog_error: RwSignal::new(None),
        starting,
        can: o.can,
    };
    let flash = RwSignal::new(None::<Result<String, String>>);
    let report = move |r: Option<Result<String, AppError>>| {
        if let Some(r) = r {
            if r.is_err() {
                c.starting.set(Vec::new());
            }
            flash.set(Some(r.map_err(|e| e.to_string())));
            c.reload.run(());
        }
    };
    Effect::new(move |_| {
        report(c.backup.value().get().map(|r| {
            r.map(|q| if q.already_open { "A backup of this environment is already under way.".to_string() } else { "Backup queued: it starts in a moment.".to_string() })
        }))
    });
    Effect::new(move |_| report(c.cancel.value().get().map(|r| r.map(|_| "Cancelling the backup: nothing it wrote will be listed as good.".to_string()))));
    Effect::new(move |_| report(c.cancel_restore.value().get().map(|r| r.map(|_| "Restore cancelled: nothing was switched.".to_string()))));
    // A refused restore keeps the dialog open with the reason next to the button.
    Effect::new(move |_| match c.restore.value().get() {
        Some(Ok(_)) => {
            c.dialog.set(None);
            report(Some(Ok("Restore queued: follow its progress under Restores.".to_string())));
        }
        Some(Err(e)) => c.dialog_error.set(Some(e.to_string())),
        None => {}
    });
    let slug = o.project_slug.clone();
    let subtitle = format!(
        "Stored in {}. Every backup is read back and checked (checksums and pg_restore --list) before it is listed as good.",
        o.storage_label
    );
    let has_good = move || live.with(|o| default_backup(o).is_some());
    view! {
        <Title text=format!("Backups · {}", o.project_name) />
        <PageHeader title=format!("{} backups", o.project_name) subtitle=subtitle>
            <button class=BUTTON data-testid="open-restore" style=move || (!c.can.restore_staging || !has_good()).then_some("display:none")
                    on:click=move |_| c.open_dialog(None)>"Restore…"</button>
            <a class=BUTTON_SECONDARY href=format!("/projects/{slug}")>"Project"</a>
            <a class=BUTTON_SECONDARY href=format!("/projects/{slug}/neutralization")>"Neutralization rules"</a>
        </PageHeader>
        <div class="mb-3" style=move || flash.get().is_none().then_some("display:none") data-testid="flash">
            {move || flash.get().map(|m| match m {
                Ok(t) => view! { <p class="rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-800" role="status" data-testid="form-ok">{t}</p> }.into_any(),
                Err(e) => view! { <p class="rounded-md bg-rose-50 px-3 py-2 text-sm text-rose-800" role="alert" data-testid="form-error">{e}</p> }.into_any(),
            })}
        </div>
        <section class="mb-6">
            <h2 class="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-500">"Environments"</h2>
            <div class="grid gap-3 md:grid-cols-3" data-testid="environments">
                <For each=move || live.with(|o| o.environments.iter().map(|e| {
                        let open = o.backups.iter().find(|b| b.environment_id == e.id && b.state.is_open()).cloned();
                        (e.clone(), open)
                    }).collect::<Vec<_>>())
                     key=key children=move |(e, open)| view! { <EnvCard e=e open=open c=c /> } />
            </div>
        </section>
        <BackupList c=c />
        <RestoreList c=c />
        {o.can.manage.then(|| view! { <settings::Settings o=o.clone() reload=reload /> })}
        {move || c.dialog.get().map(|pick| view! { <dialog::RestoreDialog c=c pick=pick /> })}
    }
}

#[component]
fn EnvCard(e: EnvironmentBackups, open: Option<BackupRow>, c: Ctx) -> impl IntoView {
    let now = Utc::now();
    let env_id = e.id;
    let last = match &e.last_good_backup_at {
        Some(t) => format!("{} ({})", fmt_time(t), ago(t, now)),
        None => "none yet".to_string(),
    };
    let schedule = match &e.schedule {
        Some(s) if s.enabled => {
            let next = s.next_run_at.as_ref().map(|t| format!(" · next {}", fmt_time(t))).unwrap_or_default();
            let text = if e.schedule_text.is_empty() { s.cron.clone() } else { e.schedule_text.clone() };
            format!("{text}{next}")
        }
        Some(_) => "Schedule paused: manual backups only".to_string(),
        None if e.stage == Stage::Production => "Default daily schedule: set up on the next scheduler pass".to_string(),
        None => "No schedule: manual backups only".to_string(),
    };
    let keep = e.schedule.as_ref().map(|s| Retention { daily: s.keep_daily as u32, weekly: s.keep_weekly as u32, monthly: s.keep_monthly as u32 }).unwrap_or(Retention::for_stage(e.stage));
    let keeps = format!("{} daily, {} weekly, {} monthly", keep.daily, keep.weekly, keep.monthly);
    let best_effort = e.best_effort().then(|| {
        let days = keep.daily;
        view! {
            <p class="mt-2 rounded bg-amber-50 px-2 py-1 text-[11px] text-amber-900" data-testid="best-effort">
                <span class="mr-1 rounded bg-amber-200 px-1 font-semibold uppercase tracking-wide">"Best effort"</span>
                {format!("Staging and development backups are best-effort: kept for {days} day{}, not guaranteed.", if days == 1 { "" } else { "s" })}
            </p>
        }
    });
    let used = e.manual_last_day;
    let used_class = if used >= MANUAL_BACKUPS_PER_DAY { "font-medium text-amber-700" } else { "text-slate-700" };
    let has_open = open.is_some();
    // Between the click and the next overview the card already shows the backup starting.
    let starting = move || !has_open && c.starting.with(|s| s.contains(&env_id));
    let busy = move || has_open || starting();
    let no_db = e.database_name.is_none();
    let label = move || if busy() { "Backing up…" } else { "Back up now" };
    let title = if no_db { "This environment has no database yet" } else { "Dump the database and file store now" };
    view! {
        <div class=format!("{CARD} flex flex-col p-3") data-testid="env-card" data-env=e.name.clone() data-stage=e.stage.as_str()>
            <div class="flex items-center gap-2"><StageBadge stage=e.stage /><span class="font-semibold text-slate-900">{e.name.clone()}</span></div>
            <p class="mt-0.5 text-[11px] text-slate-500">{format!("database {} · {}", e.database_name.clone().unwrap_or_else(|| "none".into()),
                e.data_dir.clone().map(|d| format!("file store under {d}")).unwrap_or_else(|| "no data directory (database only)".into()))}</p>
            <dl class="mt-2 grid grid-cols-[auto_1fr] gap-x-2 gap-y-1 text-xs">
                <dt class="text-slate-500">"Last good"</dt>
                <dd class=format!("font-medium {}", freshness_class(e.last_good_backup_at.as_ref(), e.stage, now)) data-testid="last-good">{last}</dd>
                <dt class="text-slate-500">"Schedule"</dt><dd class="text-slate-700" data-testid="schedule-text">{schedule}</dd>
                <dt class="text-slate-500">"Retention"</dt><dd class="text-slate-700">{keeps}</dd>
                <dt class="text-slate-500">"Manual, 24 h"</dt>
                <dd class=used_class data-testid="manual-used" title="manual backups in the last 24 hours (safety backups do not count)">{format!("{used} of {MANUAL_BACKUPS_PER_DAY} used")}</dd>
            </dl>
            {best_effort}
            {open.map(|b| view! { <ProgressBar done=b.bytes_done expected=b.bytes_expected started_at=b.started_at phase=b.phase.clone() label=format!("Backup of {}", e.name) /> })}
            {let name = e.name.clone(); move || starting().then(|| view! { <ProgressBar done=0 expected=None started_at=None phase="starting" label=format!("Backup of {name}") /> })}
            <div class="mt-auto pt-3" style=(!c.can.backup).then_some("display:none")>
                <button class=BUTTON data-testid="backup-now" disabled=move || busy() || no_db title=title
                        on:click=move |_| {
                            c.starting.update(|s| s.push(env_id));
                            c.backup.dispatch(CreateBackup { env_id, reason: None });
                        }>{label}</button>
            </div>
        </div>
    }
}

#[component]
fn BackupList(c: Ctx) -> impl IntoView {
    let empty = move || c.live.with(|o| o.backups.is_empty());
    let hint = if c.can.backup { "Production is backed up on its schedule; “Back up now” on an environment takes one right away." } else { "Production is backed up on its schedule; an admin or sysadmin can also take one at any time." };
    view! {
        <section class="mb-6">
            <h2 class="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-500">"Backups"</h2>
            <div style=move || (!empty()).then_some("display:none")><EmptyState title="No backups yet" hint=hint /></div>
            <div class=format!("{CARD} overflow-x-auto") style=move || empty().then_some("display:none")>
                <table class=TABLE data-testid="backups">
                    <thead class="bg-slate-50"><tr>
                        <th class=TH>"Environment"</th><th class=TH>"Kind"</th><th class=TH>"State"</th><th class=TH>"Size"</th>
                        <th class=TH>"SHA-256"</th><th class=TH>"TOC"</th><th class=TH>"When"</th><th class=TH>"Took"</th><th class=TH>"Actions"</th>
                    </tr></thead>
                    <tbody class="divide-y divide-slate-100">
                        <For each=move || c.live.with(|o| o.backups.clone()) key=key children=move |b| view! { <BackupLine b=b c=c /> } />
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn BackupLine(b: BackupRow, c: Ctx) -> impl IntoView {
    let now = Utc::now();
    let id = b.id;
    let good = b.state == BackupState::Good;
    let size_title = format!(
        "database dump {} · file store {}{}",
        b.dump_bytes.map(human_bytes).unwrap_or_else(|| "–".into()),
        b.files_bytes.map(human_bytes).unwrap_or_else(|| "none".into()),
        b.files_count.map(|n| format!(" ({n} files)")).unwrap_or_default()
    );
    let size = if b.dump_bytes.is_some() { human_bytes(b.total_bytes()) } else { "–".into() };
    let who = [b.requested_by_email.clone(), b.reason.clone()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(": ");
    let when = b.finished_at.or(b.started_at).unwrap_or(b.queued_at);
    let part = |p: &str| format!("/api/backups/{id}/parts/{p}");
    view! {
        <tr data-testid="backup-row" data-id=id.to_string() data-env=b.environment_name.clone() data-state=b.state.as_str() data-kind=b.kind.as_str()>
            <td class=TD><div class="flex items-center gap-1.5"><StageBadge stage=b.stage /><span class="text-slate-800">{b.environment_name.clone()}</span></div></td>
            <td class=format!("{TD} text-xs text-slate-600") title=nonempty(who)>{b.kind.as_str()}</td>
            <td class=TD>
                <BackupStateChip state=b.state />
                {b.state.is_open().then(|| view! { <ProgressBar done=b.bytes_done expected=b.bytes_expected started_at=b.started_at phase=b.phase.clone() label=format!("Backup of {}", b.environment_name) /> })}
                {(!b.error.is_empty()).then(|| view! { <p class="mt-1 max-w-xs text-[11px] text-rose-700" data-testid="backup-error">{b.error.clone()}</p> })}
            </td>
            <td class=format!("{TD} whitespace-nowrap text-xs") title=size_title>{size}</td>
            <td class=format!("{TD} font-mono text-[11px] text-slate-600") title=b.dump_sha256.clone().unwrap_or_default()>{short_sha(b.dump_sha256.as_deref())}</td>
            <td class=format!("{TD} text-xs text-slate-600") title="entries pg_restore --list read back">{b.toc_entries.map(|n| n.to_string()).unwrap_or_else(|| "–".into())}</td>
            <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500") title=format!("queued {}", fmt_time(&b.queued_at))>{fmt_time(&when)}</td>
            <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{duration_text(b.started_at, b.finished_at, now)}</td>
            <td class=format!("{TD} whitespace-nowrap text-xs")>
                <div class="flex flex-wrap items-center gap-1.5">
                    {(good && c.can.restore_staging).then(|| view! {
                        <button class=BUTTON_SECONDARY data-testid="restore-to-staging" on:click=move |_| c.open_dialog(Some(id))>"Restore to staging"</button>
                    })}
                    {(good && c.can.download).then(|| view! {
                        <span class="text-slate-500">"Download "</span>
                        <a class="text-indigo-700 hover:underline" rel="external" download="" href=part("db") data-testid="download-db">"db"</a>
                        {b.files_bytes.is_some().then(|| view! { <a class="text-indigo-700 hover:underline" rel="external" download="" href=part("files") data-testid="download-files">"files"</a> })}
                        <a class="text-indigo-700 hover:underline" rel="external" download="" href=part("manifest") data-testid="download-manifest">"manifest"</a>
                    })}
                    {(b.state.is_open() && c.can.backup && !b.cancel_requested).then(|| view! {
                        <button class=BUTTON_DANGER data-testid="cancel-backup" on:click=move |_| { c.cancel.dispatch(CancelBackup { id }); }>"Cancel"</button>
                    })}
                    {(b.state.is_open() && b.cancel_requested).then(|| view! { <span class="text-slate-500">"cancelling…"</span> })}
                </div>
            </td>
        </tr>
    }
}

#[component]
fn RestoreList(c: Ctx) -> impl IntoView {
    let empty = move || c.live.with(|o| o.restores.is_empty());
    let hint = if c.can.restore_staging {
        "“Restore to staging” on a good backup copies its data into staging, neutralized, and switches staging to it."
    } else {
        "Restores of backups into staging (or, by a sysadmin, into production) appear here."
    };
    view! {
        <section class="mb-6">
            <h2 class="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-500">"Restores"</h2>
            <div style=move || (!empty()).then_some("display:none")><EmptyState title="No restores yet" hint=hint /></div>
            <div class=format!("{CARD} overflow-x-auto") style=move || empty().then_some("display:none")>
                <table class=TABLE data-testid="restores">
                    <thead class="bg-slate-50"><tr>
                        <th class=TH>"Backup"</th><th class=TH>"Into"</th><th class=TH>"State"</th><th class=TH>"Requested by"</th>
                        <th class=TH>"When"</th><th class=TH>"Took"</th><th class=TH></th>
                    </tr></thead>
                    <tbody class="divide-y divide-slate-100">
                        <For each=move || c.live.with(|o| o.restores.clone()) key=key children=move |r| view! { <RestoreLine r=r c=c /> } />
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn RestoreLine(r: RestoreRow, c: Ctx) -> impl IntoView {
    let now = Utc::now();
    let id = r.id;
    let may_cancel = r.state.can_cancel() && !r.cancel_requested && if r.mode == crate::models::RestoreMode::Production { c.can.restore_production } else { c.can.restore_staging };
    let mode_class = if r.mode == crate::models::RestoreMode::Production { "bg-rose-600 text-white" } else { "bg-amber-100 text-amber-900" };
    let when = r.finished_at.or(r.started_at).unwrap_or(r.queued_at);
    view! {
        <tr data-testid="restore-row" data-id=id.to_string() data-state=r.state.as_str() data-mode=r.mode.as_str() data-target=r.target_environment_name.clone()>
            <td class=format!("{TD} text-xs")>
                <span class="font-medium text-slate-800">{r.source_environment_name.clone()}</span>
                <span class="text-slate-500">{format!(" of {}", r.backup_finished_at.as_ref().map(fmt_time).unwrap_or_else(|| "–".into()))}</span>
            </td>
            <td class=format!("{TD} text-xs")>
                <span class="text-slate-800">{r.target_environment_name.clone()}</span>" "
                <span class=format!("rounded px-1 py-0.5 text-[10px] font-semibold uppercase {mode_class}")>{r.mode.as_str()}</span>
            </td>
            <td class=TD>
                <RestoreStateChip state=r.state />
                {r.state.is_open().then(|| view! { <ProgressBar done=r.bytes_done expected=r.bytes_expected started_at=r.started_at phase=r.phase.clone() label=format!("Restore into {}", r.target_environment_name) /> })}
                {(!r.state.is_open() && !r.phase.is_empty()).then(|| view! { <p class="mt-1 text-[11px] text-slate-500">{r.phase.clone()}</p> })}
                {(!r.error.is_empty()).then(|| view! { <p class="mt-1 max-w-sm text-[11px] text-rose-700" data-testid="restore-error-text">{r.error.clone()}</p> })}
            </td>
            <td class=format!("{TD} max-w-xs text-xs text-slate-600")>
                {r.requested_by_email.clone()}
                {(!r.reason.is_empty()).then(|| view! { <span class="italic">{format!(": “{}”", r.reason)}</span> })}
            </td>
            <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{fmt_time(&when)}</td>
            <td class=format!("{TD} whitespace-nowrap text-xs text-slate-500")>{duration_text(r.started_at, r.finished_at, now)}</td>
            <td class=format!("{TD} text-xs")>
                {may_cancel.then(|| view! { <button class=BUTTON_DANGER data-testid="cancel-restore" on:click=move |_| { c.cancel_restore.dispatch(CancelRestore { id }); }>"Cancel"</button> })}
            </td>
        </tr>
    }
}
