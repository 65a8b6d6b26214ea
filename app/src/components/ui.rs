use crate::models::{AppError, Role, Stage};
use leptos::prelude::*;
use leptos_router::hooks::use_location;

#[component]
pub fn StageBadge(stage: Stage) -> impl IntoView {
    let class = match stage {
        Stage::Production => "bg-rose-100 text-rose-800 ring-rose-200",
        Stage::Staging => "bg-amber-100 text-amber-800 ring-amber-200",
        Stage::Development => "bg-sky-100 text-sky-800 ring-sky-200",
    };
    view! {
        <span class=format!("inline-flex items-center rounded px-1.5 py-0.5 text-[11px] font-semibold uppercase tracking-wide ring-1 ring-inset {class}")>
            {stage.as_str()}
        </span>
    }
}

#[component]
pub fn RoleBadge(role: Role) -> impl IntoView {
    view! {
        <span class="inline-flex items-center rounded bg-slate-100 px-1.5 py-0.5 text-[11px] font-medium text-slate-700 ring-1 ring-inset ring-slate-200" data-testid="role-badge">
            {role.label()}
        </span>
    }
}

#[component]
pub fn PageHeader(#[prop(into)] title: String, #[prop(into, optional)] subtitle: String, #[prop(optional)] children: Option<Children>) -> impl IntoView {
    view! {
        <div class="mb-5 flex flex-wrap items-end justify-between gap-3">
            <div>
                <h1 class="text-xl font-semibold text-slate-900">{title}</h1>
                {(!subtitle.is_empty()).then(|| view! { <p class="mt-0.5 text-sm text-slate-500">{subtitle}</p> })}
            </div>
            <div class="flex items-center gap-2">{children.map(|c| c())}</div>
        </div>
    }
}

/// What an empty list says, with the next step to take.
#[component]
pub fn EmptyState(#[prop(into)] title: String, #[prop(into)] hint: String) -> impl IntoView {
    view! {
        <div class="rounded-lg border border-dashed border-slate-300 bg-white px-6 py-10 text-center" data-testid="empty-state">
            <p class="font-medium text-slate-700">{title}</p>
            <p class="mt-1 text-sm text-slate-500">{hint}</p>
        </div>
    }
}

#[component]
pub fn Loading() -> impl IntoView {
    view! {
        <div class="flex items-center gap-2 py-8 text-sm text-slate-500">
            <span class="h-4 w-4 animate-spin rounded-full border-2 border-slate-300 border-t-slate-600"></span>
            "Loading…"
        </div>
    }
}

/// Shows a failed load as what it is: sign in again, forbidden, not found, or an error id.
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    let location = use_location();
    match error {
        AppError::Unauthorized => {
            let href = format!("/login?next={}", urlencode(&here(&location)));
            view! {
                <div class="rounded-lg border border-amber-200 bg-amber-50 p-5 text-sm text-amber-900" data-testid="session-ended">
                    <p class="font-medium">"Your session has ended."</p>
                    <a class="mt-2 inline-block font-medium text-amber-900 underline" href=href>"Sign in again"</a>
                    " to continue where you were."
                </div>
            }
            .into_any()
        }
        AppError::Forbidden(why) => view! { <crate::pages::errors::Forbidden reason=why /> }.into_any(),
        AppError::NotFound(what) => view! {
            <div class="rounded-lg border border-slate-200 bg-white p-6" data-testid="not-found">
                <p class="font-medium text-slate-800">{format!("Not found: {what}")}</p>
                <a class="mt-2 inline-block text-sm text-indigo-700 hover:underline" href="/">"Back to the dashboard"</a>
            </div>
        }
        .into_any(),
        other => view! {
            <div class="rounded-lg border border-rose-200 bg-rose-50 p-5 text-sm text-rose-900" role="alert" data-testid="error-panel">
                {other.to_string()}
            </div>
        }
        .into_any(),
    }
}

/// Inline form error or success line.
#[component]
pub fn FormMessage(#[prop(into)] message: Signal<Option<Result<String, String>>>) -> impl IntoView {
    move || {
        message.get().map(|m| match m {
            Ok(ok) => view! { <p class="text-sm text-emerald-700" role="status" data-testid="form-ok">{ok}</p> }.into_any(),
            Err(e) => view! { <p class="text-sm text-rose-700" role="alert" data-testid="form-error">{e}</p> }.into_any(),
        })
    }
}

/// The current path with its query string, for coming back after a sign-in.
pub fn here(location: &leptos_router::location::Location) -> String {
    let search = location.search.get_untracked();
    if search.is_empty() {
        location.pathname.get_untracked()
    } else {
        format!("{}?{search}", location.pathname.get_untracked())
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Static text must not be empty: an empty text node does not survive the HTML parser, and
/// hydration would then miss it. Empty becomes a no-break space.
pub fn nonempty(s: impl Into<String>) -> String {
    let s = s.into();
    if s.is_empty() {
        "\u{a0}".to_string()
    } else {
        s
    }
}

pub fn fmt_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub const INPUT: &str = "block w-full rounded-md border border-slate-300 bg-white px-2.5 py-1.5 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-200";
pub const LABEL: &str = "block text-xs font-medium text-slate-600 mb-1";
pub const BUTTON: &str = "inline-flex items-center justify-center gap-1.5 rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white shadow-sm hover:bg-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-300 disabled:opacity-50";
pub const BUTTON_SECONDARY: &str = "inline-flex items-center justify-center gap-1.5 rounded-md border border-slate-300 bg-white px-2.5 py-1 text-sm font-medium text-slate-700 shadow-sm hover:bg-slate-50 disabled:opacity-50";
pub const BUTTON_DANGER: &str = "inline-flex items-center justify-center rounded-md border border-rose-200 bg-white px-2.5 py-1 text-xs font-medium text-rose-700 hover:bg-rose-50 disabled:opacity-50";
pub const TABLE: &str = "min-w-full divide-y divide-slate-200 text-sm";
pub const TH: &str = "px-3 py-2 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500";
pub const TD: &str = "px-3 py-2 align-top";
pub const CARD: &str = "rounded-lg border border-slate-200 bg-white shadow-sm";

#[cfg(test)]
mod tests {
    #[test]
    fn urlencode_keeps_paths_readable() {
        assert_eq!(super::urlencode("/audit?x=a b"), "/audit%3Fx%3Da%20b");
    }
}
