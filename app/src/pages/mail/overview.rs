//! The mail overview: one card per environment of a project, with its inbox size and last
//! mail; production says plainly that its mail is never captured.
use crate::api::mail::get_mail_overview;
use crate::components::builds::age;
use crate::components::ui::{fmt_time, EmptyState, ErrorPanel, Loading, PageHeader, StageBadge, BUTTON_SECONDARY, CARD};
use crate::models::{InboxSummary, MailOverview, Stage};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn MailOverviewPage() -> impl IntoView {
    let params = use_params_map();
    let overview = Resource::new(move || params.read().get("slug").unwrap_or_default(), get_mail_overview);
    view! {
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! { <Overview o=o /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Overview(o: MailOverview) -> impl IntoView {
    let slug = o.project_slug.clone();
    let now = chrono::Utc::now();
    view! {
        <Title text=format!("Mail · {}", o.project_name) />
        <PageHeader title=format!("{} mail", o.project_name)
            subtitle="Mail the development and staging apps send is caught here and never reaches real inboxes.">
            <a class=BUTTON_SECONDARY href=format!("/projects/{}/builds", o.project_slug)>"Builds"</a>
            <a class=BUTTON_SECONDARY href=format!("/projects/{}", o.project_slug)>"Project"</a>
        </PageHeader>
        {o.inboxes.is_empty().then(|| view! {
            <EmptyState title="No environments" hint="This project has no environments yet, so there is nothing to send mail from." />
        })}
        <div class="grid gap-3 md:grid-cols-3" data-testid="inbox-cards">
            {o.inboxes.into_iter().map(|i| view! { <InboxCard i=i slug=slug.clone() now=now /> }).collect_view()}
        </div>
    }
}

#[component]
fn InboxCard(i: InboxSummary, slug: String, now: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let href = format!("/projects/{slug}/mail/{}", i.environment_id);
    let production = i.stage == Stage::Production;
    let last = match i.last_received {
        Some(t) => format!("Last mail {} ({})", age(&t, now), fmt_time(&t)),
        None if i.has_mailbox => "No mail yet.".to_string(),
        None => "No mail yet: open the inbox to get SMTP credentials.".to_string(),
    };
    view! {
        <div class=format!("{CARD} flex flex-col p-4") data-testid="inbox-card" data-env=i.environment_name.clone()>
            <div class="flex items-center justify-between gap-2">
                <a href=href.clone() class="font-medium text-slate-900 hover:text-indigo-700">{i.environment_name.clone()}</a>
                <StageBadge stage=i.stage />
            </div>
            {if production {
                view! {
                    <p class="mt-3 text-sm font-medium text-rose-800" data-testid="production-never-captured">"Production mail is never captured."</p>
                    <p class="mt-1 text-xs text-slate-500">"It goes to real recipients through the relay, or is refused when there is none."</p>
                    <a href=href class="mt-auto pt-3 text-sm text-indigo-700 hover:underline">"SMTP settings →"</a>
                }.into_any()
            } else {
                view! {
                    <p class="mt-3 text-2xl font-semibold tabular-nums text-slate-900" data-testid="inbox-count">{i.messages.to_string()}</p>
                    <p class="text-xs text-slate-500">{if i.messages == 1 { "message" } else { "messages" }}</p>
                    <p class="mt-2 text-xs text-slate-500">{last}</p>
                    <div class="mt-auto pt-3"><a href=href class=BUTTON_SECONDARY data-testid="open-inbox">"Open inbox"</a></div>
                }.into_any()
            }}
        </div>
    }
}
