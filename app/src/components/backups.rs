//! Pieces of the backups page: state chips, the live progress bar, times and ages, and the
//! throttled live-update hook.
use crate::models::{eta_seconds, human_bytes, progress_fraction, BackupState, RestoreState, Stage};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

const CHIP: &str = "inline-flex items-center rounded px-1.5 py-0.5 text-[11px] font-semibold ring-1 ring-inset";

pub fn backup_state_class(s: BackupState) -> &'static str {
    match s {
        BackupState::Good => "bg-emerald-100 text-emerald-800 ring-emerald-200",
        BackupState::Pending | BackupState::Running | BackupState::Verifying => "bg-sky-100 text-sky-800 ring-sky-200",
        BackupState::Failed | BackupState::Missed => "bg-rose-100 text-rose-800 ring-rose-200",
        BackupState::Cancelled | BackupState::Deleting | BackupState::Deleted => "bg-slate-100 text-slate-700 ring-slate-200",
    }
}

pub fn restore_state_class(s: RestoreState) -> &'static str {
    match s {
        RestoreState::Succeeded => "bg-emerald-100 text-emerald-800 ring-emerald-200",
        RestoreState::Failed => "bg-rose-100 text-rose-800 ring-rose-200",
        RestoreState::Cancelled => "bg-slate-100 text-slate-700 ring-slate-200",
        _ => "bg-sky-100 text-sky-800 ring-sky-200",
    }
}

#[component]
pub fn BackupStateChip(state: BackupState) -> impl IntoView {
    view! { <span class=format!("{CHIP} {}", backup_state_class(state)) data-testid="backup-state" data-state=state.as_str()>{state.as_str().replace('_', " ")}</span> }
}

#[component]
pub fn RestoreStateChip(state: RestoreState) -> impl IntoView {
    view! { <span class=format!("{CHIP} {}", restore_state_class(state)) data-testid="restore-state" data-state=state.as_str()>{state.as_str().replace('_', " ")}</span> }
}

/// "1 min 5 s", "42 s", "2 h 3 min".
pub fn span_text(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0 => "under 1 s".into(),
        1..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// How long a job took, or has taken so far.
pub fn duration_text(started: Option<DateTime<Utc>>, finished: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match started {
        Some(s) => span_text((finished.unwrap_or(now) - s).num_seconds()),
        None => "–".into(),
    }
}

/// "just now", "12 min ago", "5 h ago", "3 days ago".
pub fn ago(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    let m = (now - *t).num_minutes().max(0);
    match m {
        0 => "just now".into(),
        1..=59 => format!("{m} min ago"),
        60..=2879 => format!("{} h ago", m / 60),
        _ => format!("{} days ago", m / 1440),
    }
}

/// The colour of an environment's "last good backup": production's must be recent (a day
/// and a bit, the daily schedule plus slack); best-effort environments are never red.
pub fn freshness_class(last: Option<&DateTime<Utc>>, stage: Stage, now: DateTime<Utc>) -> &'static str {
    let hours = last.map(|t| (now - *t).num_hours());
    match (stage, hours) {
        (Stage::Production, None) => "text-rose-700",
        (Stage::Production, Some(h)) if h >= 48 => "text-rose-700",
        (Stage::Production, Some(h)) if h >= 26 => "text-amber-700",
        (_, None) => "text-amber-700",
        (_, Some(h)) if h >= 72 => "text-amber-700",
        _ => "text-emerald-700",
    }
}

/// The first characters of a checksum, the whole of it on hover.
pub fn short_sha(sha: Option<&str>) -> String {
    sha.map(|s| s.chars().take(12).collect()).unwrap_or_else(|| "–".into())
}

/// A live progress bar: `role="progressbar"` with `aria-valuenow` when the total is known
/// (an animated, value-less bar while it is not), the phase, the bytes and an ETA.
#[component]
pub fn ProgressBar(
    done: i64,
    expected: Option<i64>,
    started_at: Option<DateTime<Utc>>,
    #[prop(into)] phase: String,
    #[prop(into)] label: String,
) -> impl IntoView {
    let now = Utc::now();
    let pct = progress_fraction(done, expected, false).map(|f| (f * 100.0).floor() as u32);
    let elapsed = started_at.map(|s| (now - s).num_milliseconds() as f64 / 1000.0).unwrap_or(0.0);
    let eta = eta_seconds(done, expected, elapsed);
    let mut parts = Vec::new();
    if !phase.is_empty() {
        parts.push(phase.clone());
    } else if started_at.is_none() {
        parts.push("queued: waiting for a worker".to_string());
    }
    match expected.filter(|e| *e > 0) {
        Some(e) => parts.push(format!("{} of {}", human_bytes(done), human_bytes(e))),
        None if done > 0 => parts.push(human_bytes(done)),
        None => {}
    }
    if let Some(p) = pct {
        parts.push(format!("{p}%"));
    }
    if let Some(s) = eta {
        parts.push(format!("about {} left", span_text(s as i64)));
    }
    let bar = match pct {
        Some(p) => format!("width:{}%", p.max(2)),
        None => "width:100%".to_string(),
    };
    let fill = if pct.is_some() { "h-full rounded bg-indigo-500 transition-[width] duration-700" } else { "h-full rounded bg-indigo-300 animate-pulse" };
    view! {
        <div class="mt-1 min-w-40" data-testid="progress">
            <div class="h-1.5 w-full overflow-hidden rounded bg-slate-200" role="progressbar" aria-label=label
                 aria-valuemin="0" aria-valuemax="100" aria-valuenow=pct.map(|p| p.to_string()) aria-valuetext=parts.join(", ")>
                <div class=fill style=bar></div>
            </div>
            <p class="mt-0.5 text-[11px] text-slate-500" data-testid="progress-text">{crate::components::ui::nonempty(parts.join(" · "))}</p>
        </div>
    }
}

/// Calls `on_change` when a backup or restore of `project_id` changes (SSE, browser only),
/// at most about once a second: a burst of progress events becomes one reload. A reconnect
/// also reloads, to catch up with what was missed while disconnected.
pub fn use_backup_events(project_id: uuid::Uuid, on_change: impl Fn() + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use std::cell::Cell;
        use std::rc::Rc;
        use wasm_bindgen::prelude::*;
        const GAP_MS: i64 = 1000;
        let url = format!("/api/backups/events?project={project_id}");
        let Ok(es) = web_sys::EventSource::new(&url) else { return };
        let on_change = Rc::new(on_change);
        let (last, waiting) = (Rc::new(Cell::new(0_i64)), Rc::new(Cell::new(false)));
        let throttled = Rc::new(move || {
            if waiting.get() {
                return;
            }
            let now = Utc::now().timestamp_millis();
            let wait = (last.get() + GAP_MS - now).max(0);
            if wait == 0 {
                last.set(now);
                on_change();
            } else {
                waiting.set(true);
                let (last, waiting, on_change) = (last.clone(), waiting.clone(), on_change.clone());
                set_timeout(
                    move || {
                        waiting.set(false);
                        last.set(Utc::now().timestamp_millis());
                        on_change();
                    },
                    std::time::Duration::from_millis(wait as u64),
                );
            }
        });
        let on_event = {
            let t = throttled.clone();
            Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |_| t())
        };
        let _ = es.add_event_listener_with_callback("backup", on_event.as_ref().unchecked_ref());
        on_event.forget();
        let opened = Rc::new(Cell::new(0_u32));
        let on_open = Closure::<dyn Fn(web_sys::Event)>::new(move |_| {
            opened.set(opened.get() + 1);
            if opened.get() > 1 {
                throttled();
            }
        });
        let _ = es.add_event_listener_with_callback("open", on_open.as_ref().unchecked_ref());
        on_open.forget();
        let holder = StoredValue::new_local(Some(es));
        on_cleanup(move || {
            if let Some(es) = holder.try_update_value(|v| v.take()).flatten() {
                es.close();
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (project_id, on_change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_a_person_would_say_them() {
        assert_eq!(span_text(42), "42 s");
        assert_eq!(span_text(65), "1 min 5 s");
        assert_eq!(span_text(7380), "2 h 3 min");
        let now = Utc::now();
        assert_eq!(ago(&(now - chrono::Duration::minutes(12)), now), "12 min ago");
        assert_eq!(ago(&(now - chrono::Duration::hours(50)), now), "2 days ago");
    }

    #[test]
    fn production_without_a_recent_backup_is_red_best_effort_never_is() {
        let now = Utc::now();
        let old = now - chrono::Duration::hours(60);
        assert_eq!(freshness_class(None, Stage::Production, now), "text-rose-700");
        assert_eq!(freshness_class(Some(&old), Stage::Production, now), "text-rose-700");
        assert_eq!(freshness_class(Some(&now), Stage::Production, now), "text-emerald-700");
        assert_eq!(freshness_class(None, Stage::Staging, now), "text-amber-700");
        assert_eq!(freshness_class(Some(&(now - chrono::Duration::hours(100))), Stage::Development, now), "text-amber-700");
    }
}
