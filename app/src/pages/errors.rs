use leptos::prelude::*;
use leptos_meta::Title;

fn set_status(_code: u16) {
    #[cfg(feature = "ssr")]
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(axum::http::StatusCode::from_u16(_code).unwrap_or(axum::http::StatusCode::NOT_FOUND));
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    set_status(404);
    view! {
        <Title text="Not found" />
        <div class="grid min-h-full place-items-center px-6 py-24" data-testid="page-not-found">
            <div class="text-center">
                <p class="text-sm font-semibold text-indigo-600">"404"</p>
                <h1 class="mt-2 text-2xl font-semibold text-slate-900">"This page does not exist"</h1>
                <p class="mt-2 text-sm text-slate-500">"The address may be mistyped, or the thing it pointed to was removed."</p>
                <a href="/" class="mt-6 inline-block rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-indigo-500">"Go to the dashboard"</a>
            </div>
        </div>
    }
}

/// The 403 view: says what was refused and why, and where to go instead.
#[component]
pub fn Forbidden(#[prop(into)] reason: String) -> impl IntoView {
    set_status(403);
    view! {
        <Title text="Forbidden" />
        <div class="rounded-lg border border-rose-200 bg-white p-8 text-center shadow-sm" data-testid="forbidden">
            <p class="text-sm font-semibold text-rose-600">"403 · Forbidden"</p>
            <h1 class="mt-2 text-lg font-semibold text-slate-900">"You do not have access to this screen"</h1>
            <p class="mt-2 text-sm text-slate-600">{reason}</p>
            <p class="mt-1 text-sm text-slate-500">"Ask an admin of your workspace if you need it."</p>
            <a href="/" class="mt-5 inline-block text-sm font-medium text-indigo-700 hover:underline">"Back to the dashboard"</a>
        </div>
    }
}
