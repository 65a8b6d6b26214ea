//! The settings panel of an inbox: where the app sends mail and with which credentials (the
//! password only for those who manage mail), a sample for Odoo, and retention.
use crate::api::mail::{get_mailbox, RotateMailCredentials, SetMailRetention};
use crate::components::mail::{CopyButton, FIELD};
use crate::components::ui::{nonempty, BUTTON_SECONDARY, CARD, LABEL};
use crate::models::{AppError, MailboxInfo};
use leptos::prelude::*;

/// Where the environment's app sends mail, with which credentials, and how long mail stays.
/// Collapsible; open at first when the inbox is empty (that is when someone needs it).
#[component]
pub fn MailboxSettings(info: RwSignal<MailboxInfo>, open: bool) -> impl IntoView {
    let i = info.get_untracked();
    let env_id = i.environment_id;
    let reveal = RwSignal::new(false);
    let reload = move || {
        leptos::task::spawn_local(async move {
            if let Ok(fresh) = get_mailbox(env_id).await {
                info.set(fresh);
            }
        });
    };
    let host = move || info.with(|i| i.smtp_host.clone());
    let port = move || info.with(|i| i.smtp_port);
    let username = Signal::derive(move || info.with(|i| i.username.clone()));
    let password = Signal::derive(move || info.with(|i| i.password.clone().unwrap_or_default()));
    let summary = format!(
        "{}:{} · {} · user {}",
        i.smtp_host,
        i.smtp_port,
        if i.starttls { "STARTTLS" } else { "no TLS" },
        i.username
    );
    view! {
        <details class=format!("{CARD} mb-4 group") open=open data-testid="mail-settings">
            <summary class="flex cursor-pointer list-none items-center justify-between gap-3 px-4 py-2.5 text-sm">
                <span class="flex min-w-0 items-center gap-2">
                    <span class="text-slate-400 transition-transform group-open:rotate-90">"▸"</span>
                    <span class="font-semibold text-slate-800">"SMTP settings"</span>
                    <span class="truncate font-mono text-xs text-slate-500">{summary}</span>
                </span>
                <span class="shrink-0 text-xs text-slate-500">"for the app's outgoing mail server"</span>
            </summary>
            <div class="border-t border-slate-100 p-4">
                <div class="grid gap-5 lg:grid-cols-[minmax(0,5fr)_minmax(0,5fr)_minmax(0,4fr)]">
                    <dl class="grid grid-cols-[auto_1fr] items-center gap-x-3 gap-y-1.5 text-sm" data-testid="smtp-credentials">
                        <dt class="text-xs text-slate-500">"Host"</dt>
                        <dd class="font-mono text-slate-800" data-testid="smtp-host">{host}</dd>
                        <dt class="text-xs text-slate-500">"Port"</dt>
                        <dd class="font-mono text-slate-800" data-testid="smtp-port">{move || port().to_string()}</dd>
                        <dt class="text-xs text-slate-500">"Encryption"</dt>
                        <dd class="text-slate-800">{if i.starttls { "STARTTLS (optional)" } else { "none (plain SMTP)" }}</dd>
                        <dt class="text-xs text-slate-500">"Username"</dt>
                        <dd class="flex min-w-0 items-center gap-2">
                            <code class="truncate font-mono text-slate-800" data-testid="smtp-username">{move || username.get()}</code>
                            <CopyButton text=username testid="copy-username" />
                        </dd>
                        <dt class="text-xs text-slate-500">"Password"</dt>
                        {if i.can_manage {
                            view! { <PasswordField info reveal password reload /> }.into_any()
                        } else {
                            view! { <dd class="text-xs text-slate-500" data-testid="password-hidden">"Only developers, sysadmins and admins can see it."</dd> }.into_any()
                        }}
                    </dl>
                    <OdooSample info reveal />
                    {i.captured.then(|| view! { <Retention info reload /> })}
                </div>
            </div>
        </details>
    }
}

#[component]
fn PasswordField(info: RwSignal<MailboxInfo>, reveal: RwSignal<bool>, password: Signal<String>, reload: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let env_id = info.get_untracked().environment_id;
    let rotate = ServerAction::<RotateMailCredentials>::new();
    let confirming = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(())) = rotate.value().get() {
            confirming.set(false);
            untrack(&reload);
        }
    });
    let shown = |on: bool| if on { "" } else { "display:none" };
    view! {
        <dd class="flex min-w-0 flex-wrap items-center gap-2">
            <code class="font-mono text-slate-800" data-testid="smtp-password">
                {move || if reveal.get() { password.get() } else { "••••••••••••".to_string() }}
            </code>
            <button type="button" class="rounded border border-slate-300 bg-white px-1.5 py-0.5 text-[11px] font-medium text-slate-600 hover:bg-slate-50"
                data-testid="show-password" aria-pressed=move || reveal.get().to_string()
                on:click=move |_| reveal.update(|r| *r = !*r)>
                {move || if reveal.get() { "Hide" } else { "Show" }}
            </button>
            <CopyButton text=password testid="copy-password" />
        </dd>
        <dt></dt>
        <dd class="text-xs">
            <button type="button" class="text-rose-700 hover:underline" data-testid="rotate-password"
                style=move || shown(!confirming.get()) on:click=move |_| confirming.set(true)>
                "Rotate password…"
            </button>
            <span class="inline-flex flex-wrap items-center gap-1.5" style=move || shown(confirming.get())>
                <span class="text-slate-600">"The current password stops working at once."</span>
                <button type="button" class="rounded bg-rose-600 px-1.5 py-0.5 font-medium text-white hover:bg-rose-500 disabled:opacity-50" data-testid="confirm-rotate"
                    disabled=move || rotate.pending().get()
                    on:click=move |_| { rotate.dispatch(RotateMailCredentials { env_id }); }>
                    "Rotate"
                </button>
                <button type="button" class="text-slate-500 hover:underline" on:click=move |_| confirming.set(false)>"Cancel"</button>
            </span>
            <span class="ml-1 text-rose-700" role="alert">
                {move || nonempty(rotate.value().get().and_then(|r| r.err()).map(|e| e.to_string()).unwrap_or_default())}
            </span>
        </dd>
    }
}

/// What to type into Odoo (Settings → Technical → Outgoing Mail Servers) or odoo.conf.
#[component]
fn OdooSample(info: RwSignal<MailboxInfo>, reveal: RwSignal<bool>) -> impl IntoView {
    let sample = move || {
        info.with(|i| {
            let password = match (&i.password, reveal.get()) {
                (Some(p), true) => p.clone(),
                (Some(_), false) => "<password: Show>".to_string(),
                (None, _) => "<password: ask a developer>".to_string(),
            };
            format!(
                "# odoo.conf\nsmtp_server = {}\nsmtp_port = {}\nsmtp_ssl = {}\nsmtp_user = {}\nsmtp_password = {}",
                i.smtp_host,
                i.smtp_port,
                if i.starttls { "True" } else { "False" },
                i.username,
                password
            )
        })
    };
    view! {
        <div class="min-w-0">
            <p class=LABEL>"In Odoo"</p>
            <p class="mb-1.5 text-xs text-slate-500">
                "Settings → Technical → Outgoing Mail Servers: the host, port and credentials above, "
                {if info.get_untracked().starttls { "encryption TLS (STARTTLS)." } else { "no encryption." }}
                " Or in the server's configuration file:"
            </p>
            <pre class="overflow-x-auto rounded-md bg-slate-900 px-3 py-2 font-mono text-[11px] leading-4 text-slate-100" data-testid="odoo-sample">{sample}</pre>
        </div>
    }
}

#[component]
fn Retention(info: RwSignal<MailboxInfo>, reload: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let i = info.get_untracked();
    let save = ServerAction::<SetMailRetention>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = save.value().get() {
            untrack(&reload);
        }
    });
    let outcome = move || match save.value().get() {
        Some(Ok(())) => ("text-emerald-700", "Saved. Older mail is removed within a minute.".to_string()),
        Some(Err(AppError::Invalid(m))) => ("text-rose-700", m),
        Some(Err(e)) => ("text-rose-700", e.to_string()),
        None => ("text-slate-500", nonempty("")),
    };
    let policy = move || info.with(|i| format!("Keeps the newest {} messages, each for {} days.", i.max_messages, i.max_age_days));
    view! {
        <div>
            <p class=LABEL>"Retention"</p>
            {if i.can_manage {
                view! {
                    <ActionForm action=save attr:class="space-y-2" attr:data-testid="retention-form">
                        <input type="hidden" name="env_id" value=i.environment_id.to_string() />
                        <div class="flex flex-wrap items-center gap-2 text-sm text-slate-700">
                            <label for="max-messages">"Keep at most"</label>
                            <input id="max-messages" name="max_messages" class=format!("{FIELD} w-24") inputmode="numeric"
                                value=i.max_messages.to_string() aria-describedby="retention-outcome" data-testid="max-messages" />
                            <span>"messages"</span>
                        </div>
                        <div class="flex flex-wrap items-center gap-2 text-sm text-slate-700">
                            <label for="max-age-days">"for"</label>
                            <input id="max-age-days" name="max_age_days" class=format!("{FIELD} w-20") inputmode="numeric"
                                value=i.max_age_days.to_string() aria-describedby="retention-outcome" data-testid="max-age-days" />
                            <span>"days"</span>
                            <button type="submit" class=BUTTON_SECONDARY disabled=move || save.pending().get() data-testid="save-retention">"Save"</button>
                        </div>
                        <p id="retention-outcome" class=move || format!("text-xs {}", outcome().0) role="status" data-testid="retention-outcome">{move || outcome().1}</p>
                    </ActionForm>
                }.into_any()
            } else {
                view! { <p class="text-sm text-slate-700" data-testid="retention-policy">{policy}</p> }.into_any()
            }}
        </div>
    }
}
