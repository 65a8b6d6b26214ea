//! Backup settings (admins and sysadmins): a schedule, retention and data directory per
//! environment, and the project's storage, compression and time zone. Each form reports its
//! own errors next to it.
use crate::api::backups::{SaveBackupSchedule, SaveBackupStorage, SaveEnvironmentDataDir};
use crate::components::ui::{fmt_time, nonempty, StageBadge, BUTTON_SECONDARY, CARD, INPUT, LABEL};
use crate::models::{AppError, BackupsOverview, EnvironmentBackups, Retention, Stage, StorageSettings};
use leptos::prelude::*;

const ZONES: [&str; 10] =
    ["UTC", "Europe/Brussels", "Europe/Paris", "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Kolkata", "Asia/Singapore", "Australia/Sydney"];

/// "Saved …" or the error, under a form.
fn outcome(r: Option<Result<String, AppError>>) -> impl IntoView {
    r.map(|r| match r {
        Ok(t) => view! { <p class="text-xs text-emerald-700" role="status" data-testid="settings-ok">{t}</p> }.into_any(),
        Err(e) => view! { <p class="text-xs text-rose-700" role="alert" data-testid="settings-error">{e.to_string()}</p> }.into_any(),
    })
}

#[component]
pub fn Settings(o: BackupsOverview, reload: Callback<()>) -> impl IntoView {
    let tz = o.time_zone.clone();
    view! {
        <section class="mb-6" data-testid="backup-settings">
            <h2 class="mb-2 text-xs font-semibold uppercase tracking-wider text-slate-500">"Settings"</h2>
            <datalist id="backup-time-zones">{ZONES.iter().map(|z| view! { <option value=*z></option> }).collect_view()}</datalist>
            <div class="space-y-3">
                {o.environments.iter().map(|e| view! { <ScheduleForm e=e.clone() default_tz=tz.clone() reload=reload /> }).collect_view()}
                <StorageForm o=o.clone() reload=reload />
            </div>
        </section>
    }
}

/// A number typed into a form, or what to tell the person.
fn whole(text: &str, what: &str) -> Result<i32, String> {
    text.trim().parse::<i32>().map_err(|_| format!("{what}: a whole number"))
}

#[component]
fn ScheduleForm(e: EnvironmentBackups, default_tz: String, reload: Callback<()>) -> impl IntoView {
    let save = ServerAction::<SaveBackupSchedule>::new();
    let save_dir = ServerAction::<SaveEnvironmentDataDir>::new();
    let env_id = e.id;
    let keep = Retention::for_stage(e.stage);
    let s = e.schedule.clone();
    let cron = RwSignal::new(s.as_ref().map(|s| s.cron.clone()).unwrap_or_else(|| if e.stage == Stage::Production { "0 2 * * *".into() } else { "0 3 * * *".into() }));
    let tz = RwSignal::new(s.as_ref().map(|s| s.time_zone.clone()).unwrap_or(default_tz));
    let enabled = RwSignal::new(s.as_ref().map(|s| s.enabled).unwrap_or(e.stage == Stage::Production));
    let daily = RwSignal::new(s.as_ref().map(|s| s.keep_daily).unwrap_or(keep.daily as i32).to_string());
    let weekly = RwSignal::new(s.as_ref().map(|s| s.keep_weekly).unwrap_or(keep.weekly as i32).to_string());
    let monthly = RwSignal::new(s.as_ref().map(|s| s.keep_monthly).unwrap_or(keep.monthly as i32).to_string());
    let dir = RwSignal::new(e.data_dir.clone().unwrap_or_default());
    let local_error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if save.value().with(|v| matches!(v, Some(Ok(_)))) || save_dir.value().with(|v| matches!(v, Some(Ok(_)))) {
            reload.run(());
        }
    });
    let on_save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let numbers = (whole(&daily.get_untracked(), "daily backups to keep"), whole(&weekly.get_untracked(), "weekly backups to keep"), whole(&monthly.get_untracked(), "monthly backups to keep"));
        match numbers {
            (Ok(keep_daily), Ok(keep_weekly), Ok(keep_monthly)) => {
                local_error.set(None);
                save.dispatch(SaveBackupSchedule { env_id, cron: cron.get_untracked(), time_zone: tz.get_untracked(), enabled: enabled.get_untracked(), keep_daily, keep_weekly, keep_monthly });
            }
            (Err(m), _, _) | (_, Err(m), _) | (_, _, Err(m)) => local_error.set(Some(m)),
        }
    };
    let schedule_outcome = move || match local_error.get() {
        Some(m) => outcome(Some(Err(AppError::Invalid(m)))).into_any(),
        None => outcome(save.value().get().map(|r| r.map(|s| match s.next_run_at {
            Some(t) if s.enabled => format!("Saved: next backup at {}.", fmt_time(&t)),
            _ => "Saved: the schedule is paused.".to_string(),
        })))
        .into_any(),
    };
    let dir_outcome = move || outcome(save_dir.value().get().map(|r| r.map(|_| "Saved.".to_string())));
    let name = e.name.clone();
    let number = |sig: RwSignal<String>, label: &'static str, min: &'static str, testid: &'static str| {
        view! {
            <label class="w-20"><span class=LABEL>{label}</span>
                <input class=INPUT type="number" min=min inputmode="numeric" data-testid=testid prop:value=sig on:input=move |ev| sig.set(event_target_value(&ev)) /></label>
        }
    };
    view! {
        <div class=format!("{CARD} p-3") data-testid="schedule-form" data-env=name.clone()>
            <div class="mb-2 flex items-center gap-2"><StageBadge stage=e.stage /><span class="text-sm font-semibold text-slate-900">{name.clone()}</span></div>
            <form class="flex flex-wrap items-end gap-2" on:submit=on_save>
                <label class="w-36" title="minute hour day-of-month month day-of-week, e.g. 0 2 * * * for 02:00 every day"><span class=LABEL>"Cron schedule"</span>
                    <input class=format!("{INPUT} font-mono") data-testid="schedule-cron" spellcheck="false" prop:value=cron on:input=move |ev| cron.set(event_target_value(&ev)) /></label>
                <label class="w-44"><span class=LABEL>"Time zone"</span>
                    <input class=INPUT list="backup-time-zones" data-testid="schedule-tz" spellcheck="false" prop:value=tz on:input=move |ev| tz.set(event_target_value(&ev)) /></label>
                {number(daily, "Keep daily", "1", "keep-daily")}
                {number(weekly, "Weekly", "0", "keep-weekly")}
                {number(monthly, "Monthly", "0", "keep-monthly")}
                <label class="flex items-center gap-1.5 pb-2 text-xs text-slate-700">
                    <input type="checkbox" data-testid="schedule-enabled" prop:checked=enabled on:change=move |ev| enabled.set(event_target_checked(&ev)) />"Enabled"</label>
                <button class=BUTTON_SECONDARY type="submit" data-testid="schedule-save" disabled=move || save.pending().get()>"Save schedule"</button>
            </form>
            <div class="mt-1 min-h-4">{schedule_outcome}</div>
            <form class="mt-1 flex flex-wrap items-end gap-2 border-t border-slate-100 pt-2"
                  on:submit=move |ev| { ev.prevent_default(); save_dir.dispatch(SaveEnvironmentDataDir { env_id, data_dir: dir.get_untracked() }); }>
                <label class="min-w-64 flex-1"><span class=LABEL>"Odoo data directory (its file store is backed up with the database; empty for database only)"</span>
                    <input class=format!("{INPUT} font-mono") data-testid="data-dir" placeholder="/var/lib/odoo" spellcheck="false" prop:value=dir on:input=move |ev| dir.set(event_target_value(&ev)) /></label>
                <button class=BUTTON_SECONDARY type="submit" data-testid="data-dir-save" disabled=move || save_dir.pending().get()>"Save directory"</button>
            </form>
            <div class="mt-1 min-h-4">{dir_outcome}</div>
        </div>
    }
}

#[component]
fn StorageForm(o: BackupsOverview, reload: Callback<()>) -> impl IntoView {
    let save = ServerAction::<SaveBackupStorage>::new();
    let slug = o.project_slug.clone();
    let (bucket0, prefix0, endpoint0, region0, http0, key0) = match &o.storage {
        StorageSettings::S3 { bucket, prefix, endpoint, region, allow_http, access_key_id } => {
            (bucket.clone(), prefix.clone(), endpoint.clone(), region.clone(), *allow_http, access_key_id.clone())
        }
        StorageSettings::Local => (String::new(), String::new(), String::new(), "us-east-1".to_string(), false, String::new()),
    };
    let s3 = RwSignal::new(matches!(o.storage, StorageSettings::S3 { .. }));
    let (bucket, prefix, endpoint, region) = (RwSignal::new(bucket0), RwSignal::new(prefix0), RwSignal::new(endpoint0), RwSignal::new(region0));
    let (allow_http, access_key_id, secret) = (RwSignal::new(http0), RwSignal::new(key0), RwSignal::new(String::new()));
    let secret_set = RwSignal::new(o.s3_secret_set);
    let compression = RwSignal::new(o.compression.to_string());
    let tz = RwSignal::new(o.time_zone.clone());
    let local_error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if save.value().with(|v| matches!(v, Some(Ok(_)))) {
            // The secret is write-only: once saved it leaves the form.
            if !secret.get_untracked().trim().is_empty() {
                secret_set.set(true);
            }
            if !s3.get_untracked() {
                secret_set.set(false);
            }
            secret.set(String::new());
            reload.run(());
        }
    });
    let on_save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(level) = compression.get_untracked().trim().parse::<i32>() else {
            local_error.set(Some("compression: a whole number from 0 to 9".into()));
            return;
        };
        local_error.set(None);
        let storage = if s3.get_untracked() {
            StorageSettings::S3 {
                bucket: bucket.get_untracked().trim().to_string(),
                prefix: prefix.get_untracked().trim().to_string(),
                endpoint: endpoint.get_untracked().trim().to_string(),
                region: region.get_untracked().trim().to_string(),
                allow_http: allow_http.get_untracked(),
                access_key_id: access_key_id.get_untracked().trim().to_string(),
            }
        } else {
            StorageSettings::Local
        };
        let secret = Some(secret.get_untracked()).filter(|s| !s.trim().is_empty());
        save.dispatch(SaveBackupStorage { slug: slug.clone(), storage, secret, compression: level, time_zone: tz.get_untracked() });
    };
    let result = move || match local_error.get() {
        Some(m) => outcome(Some(Err(AppError::Invalid(m)))).into_any(),
        None => outcome(save.value().get().map(|r| r.map(|_| "Storage settings saved: new backups go there.".to_string()))).into_any(),
    };
    let field = |sig: RwSignal<String>, label: &'static str, placeholder: &'static str, testid: &'static str| {
        view! {
            <label><span class=LABEL>{label}</span>
                <input class=INPUT placeholder=placeholder spellcheck="false" data-testid=testid prop:value=sig on:input=move |ev| sig.set(event_target_value(&ev)) /></label>
        }
    };
    view! {
        <form class=format!("{CARD} space-y-3 p-3") data-testid="storage-form" on:submit=on_save>
            <div class="flex flex-wrap items-end gap-4">
                <fieldset class="flex items-center gap-3 text-sm">
                    <legend class=LABEL>"Where backups are stored"</legend>
                    <label class="flex items-center gap-1.5"><input type="radio" name="storage-kind" data-testid="storage-local" prop:checked=move || !s3.get() on:change=move |_| s3.set(false) />
                        "This console's backup directory"</label>
                    <label class="flex items-center gap-1.5"><input type="radio" name="storage-kind" data-testid="storage-s3" prop:checked=move || s3.get() on:change=move |_| s3.set(true) />
                        "S3-compatible bucket"</label>
                </fieldset>
                <label class="w-32"><span class=LABEL>"Compression (0–9)"</span>
                    <input class=INPUT type="number" min="0" max="9" data-testid="compression" prop:value=compression on:input=move |ev| compression.set(event_target_value(&ev)) /></label>
                <label class="w-48"><span class=LABEL>"Project time zone"</span>
                    <input class=INPUT list="backup-time-zones" data-testid="project-tz" spellcheck="false" prop:value=tz on:input=move |ev| tz.set(event_target_value(&ev)) /></label>
            </div>
            <div class="grid gap-2 md:grid-cols-3" style=move || (!s3.get()).then_some("display:none") data-testid="s3-fields">
                {field(bucket, "Bucket", "odoo-backups", "s3-bucket")}
                {field(prefix, "Key prefix (optional)", "acme-erp", "s3-prefix")}
                {field(endpoint, "Endpoint (empty for AWS)", "http://127.0.0.1:9000", "s3-endpoint")}
                {field(region, "Region", "us-east-1", "s3-region")}
                {field(access_key_id, "Access key id", "AKIA…", "s3-key-id")}
                <label><span class=LABEL>"Secret access key (write-only)"</span>
                    <input class=INPUT type="password" autocomplete="new-password" data-testid="s3-secret"
                           placeholder=move || if secret_set.get() { "set: leave empty to keep it" } else { "not set" }
                           prop:value=secret on:input=move |ev| secret.set(event_target_value(&ev)) /></label>
                <label class="flex items-center gap-1.5 text-xs text-slate-700 md:col-span-3">
                    <input type="checkbox" data-testid="s3-allow-http" prop:checked=allow_http on:change=move |ev| allow_http.set(event_target_checked(&ev)) />
                    "Allow plain http (a server on this machine or a private network)"</label>
            </div>
            <div class="flex items-center gap-3">
                <button class=BUTTON_SECONDARY type="submit" data-testid="storage-save" disabled=move || save.pending().get()>"Save storage"</button>
                <span class="text-xs text-slate-500">{nonempty("Existing backups stay where they were written; new ones use these settings.")}</span>
            </div>
            <div class="min-h-4">{result}</div>
        </form>
    }
}
