//! OdooOps Console: Leptos components and server functions.
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod models;
pub mod pages;

#[cfg(feature = "ssr")]
pub mod auth;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod mailparse;
#[cfg(feature = "ssr")]
pub mod schedule;
#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document around the app (server side).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en" class="h-full">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                // The web shell's terminal (xterm.js) and its glue; they attach to markup that
                // asks for them (data-shell-*), after hydration.
                <link rel="stylesheet" href="/vendor/xterm/xterm.css" />
                <script defer src="/vendor/xterm/xterm.js"></script>
                <script defer src="/vendor/xterm/addon-fit.js"></script>
                <script defer src="/shell.js"></script>
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="h-full bg-slate-50 text-slate-800 antialiased">
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser: this marks the page as hydrated (browser tests wait
    // for it before they type into forms).
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    // Async rendering: a page's status code (302 to login, 403, 404) is known before the
    // first byte is sent.
    let ssr = SsrMode::Async;
    view! {
        <Stylesheet id="leptos" href="/pkg/odooops.css" />
        <Title formatter=|t: String| if t.is_empty() { "OdooOps Console".to_string() } else { format!("{t} · OdooOps") } />
        <Router>
            <Routes fallback=|| view! { <pages::errors::NotFound /> }>
                <Route path=path!("/login") view=pages::login::LoginPage ssr=ssr.clone() />
                <ParentRoute path=path!("") view=components::layout::Layout ssr=ssr.clone()>
                    <Route path=path!("") view=pages::dashboard::DashboardPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug") view=pages::project::ProjectPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug/builds") view=pages::builds::BuildGridPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug/branches/:branch") view=pages::branch::BranchPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug/webhooks") view=pages::webhooks::WebhooksPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug/promotions") view=pages::promotions::PromotionsPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug/backups") view=pages::backups::BackupsPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug/mail") view=pages::mail::MailOverviewPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug/mail/:env") view=pages::mail::InboxPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug/neutralization") view=pages::neutralize::NeutralizationPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug/supabase") view=pages::supabase::SupabaseLinksPage ssr=ssr.clone() />
                    <Route path=path!("projects/:slug/supabase/:ref") view=pages::supabase::SupabasePanelPage ssr=ssr.clone() />
                    <Route path=path!("builds/:id") view=pages::build::BuildPage ssr=ssr.clone() />
                    <Route path=path!("logs") view=pages::logs::LogsPage ssr=ssr.clone() />
                    <Route path=path!("admin/members") view=pages::members::MembersPage ssr=ssr.clone() />
                    <Route path=path!("admin/tokens") view=pages::tokens::TokensPage ssr=ssr.clone() />
                    <Route path=path!("audit") view=pages::audit::AuditPage ssr=ssr.clone() />
                    <Route path=path!("scanner") view=pages::scanner::ScannerPage ssr=ssr.clone() />
                    <Route path=path!("scanner/plans") view=pages::scanner::FixPlansPage ssr=ssr.clone() />
                    <Route path=path!("scanner/history") view=pages::scanner::ScanHistoryPage ssr=ssr.clone() />
                    <Route path=path!("scanner/inventory") view=pages::scanner::InventoryPage ssr=ssr.clone() />
                    <Route path=path!("shell") view=pages::shell::ShellPage ssr=ssr.clone() />
                    <Route path=path!("shell/sessions/:id") view=pages::shell::ReplayPage ssr=ssr.clone() />
                    <Route path=path!("profile") view=pages::profile::ProfilePage ssr=ssr.clone() />
                    <Route path=path!("audit/verify") view=pages::audit_chain::AuditChainPage ssr=ssr.clone() />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
