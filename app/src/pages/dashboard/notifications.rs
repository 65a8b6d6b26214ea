//! The dashboard's notifications: unread ones of every project (a scheduled job a gate
//! disabled, a deploy rolled back...), newest first, each with a Dismiss button. The panel
//! is hidden when there is nothing to read.
use crate::api::notifications::list_notifications;
use crate::api::promotions::DismissNotification;
use crate::components::builds::age;
use crate::components::ui::{fmt_time, nonempty, BUTTON_SECONDARY, CARD};
use crate::models::{AppError, ProjectNotification};
use leptos::prelude::*;

/// (icon, icon colour, row accent) per level.
fn level_style(level: &str) -> (&'static str, &'static str, &'static str) {
    match level {
        "error" => ("✖", "bg-rose-100 text-rose-700", "border-l-rose-500"),
        "warning" => ("!", "bg-amber-100 text-amber-800", "border-l-amber-400"),
        _ => ("i", "bg-sky-100 text-sky-700", "border-l-sky-400"),
    }
}

#[component]
pub fn Notifications() -> impl IntoView {
    let dismiss = ServerAction::<DismissNotification>::new();
    let list = Resource::new(move || dismiss.version().get(), |_| list_notifications());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let (items, error): (Vec<ProjectNotification>, Option<AppError>) = match list.await {
                    Ok(items) => (items, None),
                    Err(e) => (Vec::new(), Some(e)),
                };
                let hidden = items.is_empty() && error.is_none();
                let count = items.len().to_string();
                let load_error = error.map(|e| e.to_string()).unwrap_or_default();
                // A refused dismiss, else a failed load (a fixed node, hidden when empty).
                let message = move || dismiss.value().get().and_then(|r| r.err()).map(|e| e.to_string()).unwrap_or_else(|| load_error.clone());
                let message_style = { let m = message.clone(); move || if m().is_empty() { "display:none" } else { "" } };
                view! {
                    <section class="mb-6" style=if hidden { "display:none" } else { "" } data-testid="notifications" data-count=count>
                        <h2 class="mb-2 text-sm font-semibold text-slate-700">"Notifications"</h2>
                        <p class="mb-2 text-sm text-rose-700" role="alert" style=message_style data-testid="notifications-error">
                            {move || nonempty(message())}
                        </p>
                        <ul class=format!("{CARD} divide-y divide-slate-100 overflow-hidden")>
                            {items.into_iter().map(|n| view! { <Row n=n dismiss=dismiss /> }).collect_view()}
                        </ul>
                    </section>
                }
            })}
        </Transition>
    }
}

#[component]
fn Row(n: ProjectNotification, dismiss: ServerAction<DismissNotification>) -> impl IntoView {
    let row = n.notification;
    let id = row.id;
    let (icon, icon_class, accent) = level_style(&row.level);
    let place = match &row.environment {
        Some(env) => format!("{} · {env}", n.project_name),
        None => n.project_name.clone(),
    };
    let now = chrono::Utc::now();
    view! {
        <li class=format!("flex items-start gap-3 border-l-4 {accent} px-4 py-2.5 text-sm") data-testid="notification" data-level=row.level.clone() data-id=id.to_string()>
            <span class=format!("mt-0.5 inline-flex h-5 w-5 shrink-0 items-center justify-center rounded-full text-xs font-bold {icon_class}") aria-label=row.level.clone()>{icon}</span>
            <div class="min-w-0 flex-1">
                <p class="font-medium text-slate-900" data-testid="notification-title">{row.title.clone()}</p>
                <p class="mt-0.5 text-slate-600" style=if row.body.is_empty() { "display:none" } else { "" }>{nonempty(row.body.clone())}</p>
                <p class="mt-0.5 text-xs text-slate-500">
                    <a class="hover:text-indigo-700 hover:underline" href=format!("/projects/{}/promotions", n.project_slug)>{place}</a>
                    <span title=fmt_time(&row.created_at)>{format!(" · {}", age(&row.created_at, now))}</span>
                </p>
            </div>
            <button type="button" class=BUTTON_SECONDARY data-testid="dismiss-notification"
                    on:click=move |_| { dismiss.dispatch(DismissNotification { id }); }>"Dismiss"</button>
        </li>
    }
}
