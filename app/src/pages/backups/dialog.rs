//! The restore dialog: pick a good backup, restore it into staging (the standard action), or,
//! for sysadmins, into production in a separate danger zone that wants the project's name
//! typed and a reason.
use super::Ctx;
use crate::api::backups::RequestRestore;
use crate::components::ui::{fmt_time, BUTTON, BUTTON_SECONDARY, INPUT, LABEL};
use crate::models::{human_bytes, BackupState, RestoreMode, Stage};
use leptos::html::Select;
use leptos::prelude::*;
use uuid::Uuid;

#[component]
pub fn RestoreDialog(c: Ctx, pick: Uuid) -> impl IntoView {
    let backup = RwSignal::new(pick);
    let good = Memo::new(move |_| {
        c.live.with(|o| {
            o.backups
                .iter()
                .filter(|b| b.state == BackupState::Good)
                .map(|b| {
                    let at = b.finished_at.as_ref().map(fmt_time).unwrap_or_default();
                    (b.id, format!("{} · {at} · {} · {}", b.environment_name, human_bytes(b.total_bytes()), b.kind))
                })
                .collect::<Vec<_>>()
        })
    });
    let targets = Memo::new(move |_| c.live.with(|o| o.environments.iter().map(|e| (e.id, e.name.clone(), e.stage)).collect::<Vec<_>>()));
    let staging = move || targets.get().into_iter().filter(|t| t.2 == Stage::Staging).collect::<Vec<_>>();
    let production = move || targets.get().into_iter().find(|t| t.2 == Stage::Production);
    let target = RwSignal::new(untrack(staging).first().map(|t| t.0));
    let (project, slug) = c.live.with_untracked(|o| (o.project_name.clone(), o.project_slug.clone()));
    let reason = RwSignal::new(String::new());
    let prod_reason = RwSignal::new(String::new());
    let typed = RwSignal::new(String::new());
    let last_mode = RwSignal::new(RestoreMode::Staging);
    let busy = c.restore.pending();
    let error_for = move |m: RestoreMode| move || (last_mode.get() == m).then(|| c.dialog_error.get()).flatten();
    let first = NodeRef::<Select>::new();
    Effect::new(move |_| {
        if let Some(el) = first.get() {
            let _ = el.focus();
        }
    });
    let close = move || c.dialog.set(None);
    // Escape closes the dialog wherever the focus is.
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" {
            close();
        }
    });
    on_cleanup(move || escape.remove());
    let submit = move |mode: RestoreMode| {
        last_mode.set(mode);
        c.dialog_error.set(None);
        let (target_env, confirm, why) = match mode {
            RestoreMode::Staging => (target.get_untracked(), None, reason.get_untracked()),
            RestoreMode::Production => (production().map(|t| t.0), Some(typed.get_untracked()), prod_reason.get_untracked()),
        };
        let Some(target_env) = target_env else {
            c.dialog_error.set(Some("this project has no environment to restore into".into()));
            return;
        };
        c.restore.dispatch(RequestRestore { backup_id: backup.get_untracked(), target_env, mode, confirm, reason: Some(why) });
    };
    let staging_name = move || staging().into_iter().find(|t| Some(t.0) == target.get()).map(|t| t.1).unwrap_or_else(|| "staging".into());
    let prod_name = move || production().map(|t| t.1).unwrap_or_else(|| "production".into());
    let error_box = |text: String| view! { <p class="rounded-md bg-rose-50 px-3 py-2 text-sm text-rose-800" role="alert" data-testid="restore-error">{text}</p> };
    view! {
        <div class="fixed inset-0 z-40 flex items-start justify-center overflow-y-auto bg-slate-900/40 p-4 pt-12">
            <div class="w-full max-w-2xl rounded-lg bg-white shadow-xl" role="dialog" aria-modal="true" aria-labelledby="restore-title" data-testid="restore-dialog">
                <div class="flex items-center justify-between border-b border-slate-200 px-4 py-3">
                    <h2 id="restore-title" class="text-base font-semibold text-slate-900">"Restore a backup"</h2>
                    <button class="rounded px-2 text-lg text-slate-500 hover:bg-slate-100" aria-label="Close" on:click=move |_| close()>"×"</button>
                </div>
                <div class="space-y-4 p-4">
                    <label class="block"><span class=LABEL>"Backup (good ones only)"</span>
                        <select class=INPUT node_ref=first data-testid="restore-backup" prop:value=move || backup.get().to_string()
                                on:change=move |ev| if let Ok(id) = Uuid::parse_str(&event_target_value(&ev)) { backup.set(id) }>
                            {move || good.get().into_iter().map(|(id, label)| view! { <option value=id.to_string() selected=id == backup.get_untracked()>{label}</option> }).collect_view()}
                        </select>
                    </label>
                    {move || good.with(|g| g.is_empty()).then(|| view! { <p class="text-sm text-slate-600">"There is no good backup to restore yet: take one with “Back up now” first."</p> })}
                    <form class="space-y-2 rounded-md border border-slate-200 p-3" data-testid="restore-staging-form"
                          on:submit=move |ev| { ev.prevent_default(); submit(RestoreMode::Staging); }>
                        <h3 class="text-sm font-semibold text-slate-800">"Restore into staging"</h3>
                        <p class="text-xs text-slate-600">
                            {move || format!("The backup is restored into a new database and neutralized with this project's rules (no live payment, mail, sync or API credentials survive); then {} switches to it. Its current database is kept until the switch has succeeded.", staging_name())}
                            " "<a class="text-indigo-700 hover:underline" href=format!("/projects/{slug}/neutralization")>"Neutralization rules"</a>
                        </p>
                        <div class="grid gap-2 md:grid-cols-2">
                            <label><span class=LABEL>"Into"</span>
                                <select class=INPUT data-testid="restore-target" prop:value=move || target.get().map(|t| t.to_string()).unwrap_or_default()
                                        on:change=move |ev| target.set(Uuid::parse_str(&event_target_value(&ev)).ok())>
                                    {move || staging().into_iter().map(|(id, name, _)| view! { <option value=id.to_string() selected=Some(id) == target.get_untracked()>{name}</option> }).collect_view()}
                                </select></label>
                            <label><span class=LABEL>"Reason (optional)"</span>
                                <input class=INPUT data-testid="restore-reason" placeholder="e.g. test the new invoice layout on real data"
                                       prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev)) /></label>
                        </div>
                        {move || error_for(RestoreMode::Staging)().map(error_box)}
                        <div class="flex gap-2">
                            <button class=BUTTON type="submit" data-testid="confirm-restore-staging" disabled=move || busy.get() || good.with(|g| g.is_empty())>
                                {move || format!("Restore into {}", staging_name())}</button>
                            <button class=BUTTON_SECONDARY type="button" on:click=move |_| close()>"Cancel"</button>
                        </div>
                    </form>
                    {c.can.restore_production.then(|| view! {
                        <form class="space-y-2 rounded-md border-2 border-rose-300 bg-rose-50/60 p-3" data-testid="danger-zone"
                              on:submit=move |ev| { ev.prevent_default(); submit(RestoreMode::Production); }>
                            <h3 class="text-sm font-semibold text-rose-800">"Danger zone: restore into production"</h3>
                            <p class="text-xs text-rose-900">
                                {move || format!("Replaces {}'s database with this backup: what was written since the backup was taken is no longer in the live database. ", prod_name())}
                                "Before anything is replaced, a safety backup of the current production database is taken automatically (restore it to undo). "
                                "Sysadmins only; who asked, what and why are recorded in the audit log."
                            </p>
                            <label class="block"><span class=LABEL>"Why restore production? (required)"</span>
                                <textarea class=INPUT rows="2" data-testid="production-reason" placeholder="e.g. a faulty import corrupted today's invoices"
                                          prop:value=prod_reason on:input=move |ev| prod_reason.set(event_target_value(&ev))></textarea></label>
                            <label class="block"><span class=LABEL>{format!("Type the project name “{project}” to confirm")}</span>
                                <input class=INPUT data-testid="production-confirm" autocomplete="off" spellcheck="false"
                                       prop:value=typed on:input=move |ev| typed.set(event_target_value(&ev)) /></label>
                            {move || error_for(RestoreMode::Production)().map(error_box)}
                            <button type="submit" data-testid="confirm-restore-production" disabled=move || busy.get() || good.with(|g| g.is_empty())
                                    class="inline-flex items-center rounded-md bg-rose-600 px-3 py-1.5 text-sm font-medium text-white shadow-sm hover:bg-rose-500 focus:outline-none focus:ring-2 focus:ring-rose-300 disabled:opacity-50">
                                {move || format!("Restore {} from this backup", prod_name())}</button>
                        </form>
                    })}
                </div>
            </div>
        </div>
    }
}
