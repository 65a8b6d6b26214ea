use crate::api::auth::Login;
use crate::components::ui::{BUTTON, INPUT, LABEL};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = move || login.value().get().and_then(|r| r.err()).map(|e| e.to_string());
    view! {
        <Title text="Sign in" />
        <div class="flex min-h-full items-center justify-center bg-slate-100 px-4 py-12">
            <div class="w-full max-w-sm">
                <div class="mb-6 flex items-center justify-center gap-2">
                    <span class="grid h-9 w-9 place-items-center rounded-md bg-indigo-600 text-sm font-bold text-white">"OO"</span>
                    <span class="text-lg font-semibold tracking-tight text-slate-900">"OdooOps Console"</span>
                </div>
                <div class="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
                    <h1 class="text-base font-semibold text-slate-900">"Sign in"</h1>
                    <p class="mb-4 text-sm text-slate-500">"Use the account your workspace admin created for you."</p>
                    <ActionForm action=login attr:class="space-y-4" attr:data-testid="login-form">
                        <input type="hidden" name="next" prop:value=next />
                        <div>
                            <label class=LABEL for="email">"Email"</label>
                            <input class=INPUT id="email" name="email" type="email" autocomplete="username" required autofocus />
                        </div>
                        <div>
                            <label class=LABEL for="password">"Password"</label>
                            <input class=INPUT id="password" name="password" type="password" autocomplete="current-password" required />
                        </div>
                        {move || error().map(|e| view! {
                            <p class="rounded-md bg-rose-50 px-3 py-2 text-sm text-rose-800 ring-1 ring-inset ring-rose-200" role="alert" data-testid="login-error">{e}</p>
                        })}
                        <button type="submit" class=format!("{BUTTON} w-full") disabled=move || login.pending().get() data-testid="login-submit">
                            {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                        </button>
                    </ActionForm>
                </div>
                <p class="mt-4 text-center text-xs text-slate-500">"Sessions end after inactivity; you will come back here and then to where you were."</p>
            </div>
        </div>
    }
}
