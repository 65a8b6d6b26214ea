//! Auth: the project's auth configuration (admins edit it: only changed settings are sent,
//! as a PATCH), its users from `auth.users`, and a sign-ups-per-day chart of the last 30 days.
use super::SectionTitle;
use crate::components::supabase::{call, get_json, plain, query, PanelEmpty, PanelLoading, ProxyError, ResultSet, ResultTable};
use crate::components::ui::{BUTTON, CARD, INPUT};
use leptos::prelude::*;
use serde_json::{Map, Value};

const USERS: &str = "select email, phone, created_at, last_sign_in_at, email_confirmed_at is not null as confirmed
  from auth.users order by created_at desc limit 100";

const SIGNUPS: &str = "select d::date as day, count(u.*) as signups
  from generate_series(current_date - 29, current_date, interval '1 day') d
  left join auth.users u on u.created_at >= d and u.created_at < d + interval '1 day'
 group by 1 order by 1";

/// "the relation auth.users does not exist" reads better as what it means.
fn no_auth_schema(e: &str) -> bool {
    e.contains("auth.users") && e.contains("does not exist") || e.contains("schema \"auth\" does not exist")
}

#[component]
pub fn AuthSection(project_ref: String, admin: bool) -> impl IntoView {
    let r = StoredValue::new(project_ref);
    let config = LocalResource::new(move || async move { get_json::<Map<String, Value>>(&r.get_value(), "config/auth").await });
    let users = LocalResource::new(move || async move { query(&r.get_value(), USERS, true).await });
    let signups = LocalResource::new(move || async move { query(&r.get_value(), SIGNUPS, true).await });
    view! {
        <div class="space-y-6" data-testid="auth-section">
            <div>
                <SectionTitle title="Sign-ups per day" hint="last 30 days, from auth.users" />
                {move || match signups.get() {
                    None => view! { <PanelLoading /> }.into_any(),
                    Some(Err(e)) if no_auth_schema(&e) => view! { <PanelEmpty title="This database has no auth.users table" hint="Supabase Auth keeps its users there; a plain PostgreSQL has none." /> }.into_any(),
                    Some(Err(e)) => view! { <ProxyError message=e /> }.into_any(),
                    Some(Ok(s)) => view! { <SignupChart data=s /> }.into_any(),
                }}
            </div>
            <div>
                <SectionTitle title="Users" hint="newest 100" />
                {move || match users.get() {
                    None => view! { <PanelLoading /> }.into_any(),
                    Some(Err(e)) if no_auth_schema(&e) => view! { <PanelEmpty title="No auth users" hint="This database has no auth schema." /> }.into_any(),
                    Some(Err(e)) => view! { <ProxyError message=e /> }.into_any(),
                    Some(Ok(s)) if s.rows.is_empty() => view! { <PanelEmpty title="No users have signed up yet" hint="Users appear here as they sign up through Supabase Auth." /> }.into_any(),
                    Some(Ok(s)) => view! { <ResultTable result=s testid="auth-users" /> }.into_any(),
                }}
            </div>
            <div>
                <SectionTitle title="Auth configuration" hint=if admin { "admins can change these settings (audited)" } else { "read-only: only admins change settings" } />
                {move || match config.get() {
                    None => view! { <PanelLoading /> }.into_any(),
                    Some(Err(e)) => view! { <ProxyError message=e /> }.into_any(),
                    Some(Ok(c)) => view! { <ConfigForm project_ref=r.get_value() config=c admin=admin /> }.into_any(),
                }}
            </div>
        </div>
    }
}

#[component]
fn SignupChart(data: ResultSet) -> impl IntoView {
    let points: Vec<(String, i64)> =
        (0..data.rows.len()).map(|i| (data.get(i, "day").map(plain).unwrap_or_default(), data.get(i, "signups").and_then(|v| v.as_i64()).unwrap_or(0))).collect();
    let total: i64 = points.iter().map(|p| p.1).sum();
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let (w, h, pad) = (600.0_f64, 140.0_f64, 24.0_f64);
    let n = points.len().max(1) as f64;
    let bar = (w - 2.0 * pad) / n;
    let first = points.first().map(|p| p.0.clone()).unwrap_or_default();
    let last = points.last().map(|p| p.0.clone()).unwrap_or_default();
    view! {
        <div class=format!("{CARD} p-3") data-testid="signup-chart">
            <p class="mb-1 text-xs text-slate-500"><span class="font-semibold text-slate-800" data-testid="signup-total">{total}</span>" sign-ups in 30 days"</p>
            <svg viewBox=format!("0 0 {w} {h}") class="h-36 w-full" role="img" aria-label="Sign-ups per day">
                <line x1=pad x2=w - pad y1=h - pad y2=h - pad stroke="#e2e8f0" stroke-width="1" />
                <text x=pad - 4.0 y=pad font-size="10" text-anchor="end" fill="#94a3b8">{max as i64}</text>
                {points.into_iter().enumerate().map(|(i, (day, count))| {
                    let bh = (h - 2.0 * pad) * count as f64 / max;
                    view! {
                        <rect x=pad + i as f64 * bar + 1.0 y=h - pad - bh width=(bar - 2.0).max(1.0) height=bh.max(if count > 0 { 1.0 } else { 0.0 }) fill="#6366f1" rx="1">
                            <title>{format!("{day}: {count}")}</title>
                        </rect>
                    }
                }).collect_view()}
                <text x=pad y=h - 6.0 font-size="10" fill="#94a3b8">{first}</text>
                <text x=w - pad y=h - 6.0 font-size="10" text-anchor="end" fill="#94a3b8">{last}</text>
            </svg>
        </div>
    }
}

/// One input per scalar setting; Save sends the changed ones, and the configuration the
/// PATCH answers with becomes the new baseline.
#[component]
fn ConfigForm(project_ref: String, config: Map<String, Value>, admin: bool) -> impl IntoView {
    let original = StoredValue::new(config.clone());
    let edits = RwSignal::new(Map::<String, Value>::new());
    let r = StoredValue::new(project_ref);
    let save = Action::new_local(move |patch: &Map<String, Value>| {
        let body = Value::Object(patch.clone()).to_string();
        async move { call(&r.get_value(), "PATCH", "config/auth", Some(body)).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(answer)) = save.value().get() {
            if let Ok(now) = serde_json::from_str::<Map<String, Value>>(&answer) {
                original.set_value(now);
            }
            edits.set(Map::new());
        }
    });
    let set = move |k: String, v: Value| {
        edits.update(|e| {
            if original.with_value(|o| o.get(&k) == Some(&v)) {
                e.remove(&k);
            } else {
                e.insert(k, v);
            }
        })
    };
    let mut keys: Vec<(String, Value)> = config.into_iter().filter(|(_, v)| !v.is_object() && !v.is_array()).collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    view! {
        <form class=format!("{CARD} p-3") data-testid="auth-config" on:submit=move |ev| { ev.prevent_default(); if admin { save.dispatch(edits.get_untracked()); } }>
            <div class="grid gap-x-6 gap-y-2 md:grid-cols-2">
                {keys.into_iter().map(|(k, v)| {
                    let key = k.clone();
                    let input = match &v {
                        Value::Bool(b) => {
                            let key = key.clone();
                            view! { <input type="checkbox" name=k.clone() checked=*b disabled=!admin on:change=move |ev| set(key.clone(), Value::Bool(event_target_checked(&ev))) /> }.into_any()
                        }
                        Value::Number(n) => {
                            let key = key.clone();
                            view! { <input class=format!("{INPUT} w-32") type="number" name=k.clone() value=n.to_string() disabled=!admin
                                on:input=move |ev| { if let Ok(n) = event_target_value(&ev).parse::<i64>() { set(key.clone(), Value::from(n)); } } /> }.into_any()
                        }
                        other => {
                            let key = key.clone();
                            let was_null = other.is_null();
                            view! { <input class=INPUT name=k.clone() value=plain(other) placeholder=if was_null { "not set" } else { "" } disabled=!admin
                                on:input=move |ev| { let t = event_target_value(&ev); set(key.clone(), if t.is_empty() && was_null { Value::Null } else { Value::String(t) }); } /> }.into_any()
                        }
                    };
                    view! {
                        <label class="flex items-center justify-between gap-3 border-b border-slate-100 py-1 text-sm">
                            <span class="font-mono text-xs text-slate-700">{k}</span>
                            {input}
                        </label>
                    }
                }).collect_view()}
            </div>
            {admin.then(|| view! {
                <div class="mt-3 flex items-center gap-3">
                    <button type="submit" class=BUTTON data-testid="auth-save" disabled=move || edits.with(|e| e.is_empty()) || save.pending().get()>
                        {move || { let n = edits.with(|e| e.len()); if n == 0 { "No changes".to_string() } else { format!("Save {n} change{}", if n == 1 { "" } else { "s" }) } }}
                    </button>
                    {move || save.value().get().map(|r| match r {
                        Ok(_) => view! { <span class="text-sm text-emerald-700" role="status" data-testid="auth-saved">"Saved."</span> }.into_any(),
                        Err(e) => view! { <ProxyError message=e /> }.into_any(),
                    })}
                </div>
            })}
        </form>
    }
}
