//! A project's neutralization rules (what is scrubbed from a copy of production before
//! staging uses it) and the recent runs with their reports. Admins switch rules on and off,
//! edit them, add their own and delete those.
mod editor;
mod runs;

use crate::api::neutralize::{get_neutralization, AddRule, DeleteRule, EditRule, ToggleRule};
use crate::components::ui::{nonempty, ErrorPanel, Loading, PageHeader, BUTTON_DANGER, BUTTON_SECONDARY, CARD, TABLE, TD, TH};
use crate::models::{NeutralizeOverview, NeutralizeRule, RuleForm, RuleKind};
use editor::{Editor, RuleEditor};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use runs::RecentRuns;

/// The page's actions and the editor's state live at the top, so that a reload of the rules
/// (after a toggle) keeps what someone is typing.
#[derive(Clone, Copy)]
struct Actions {
    toggle: ServerAction<ToggleRule>,
    delete: ServerAction<DeleteRule>,
    editor: Editor,
}

#[component]
pub fn NeutralizationPage() -> impl IntoView {
    let params = use_params_map();
    let slug = Memo::new(move |_| params.read().get("slug").unwrap_or_default());
    let actions = Actions {
        toggle: ServerAction::<ToggleRule>::new(),
        delete: ServerAction::<DeleteRule>::new(),
        editor: Editor { form: RwSignal::new(RuleForm { kind: "update".into(), ..Default::default() }), editing: RwSignal::new(None), add: ServerAction::<AddRule>::new(), edit: ServerAction::<EditRule>::new() },
    };
    let data = Resource::new(
        move || (slug.get(), actions.toggle.version().get(), actions.delete.version().get(), actions.editor.add.version().get(), actions.editor.edit.version().get()),
        |(slug, ..)| get_neutralization(slug),
    );
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => view! { <Neutralization o actions /> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Neutralization(o: NeutralizeOverview, actions: Actions) -> impl IntoView {
    let slug = o.project_slug.clone();
    let enabled = o.rules.iter().filter(|r| r.enabled).count();
    let subtitle = format!("{} rules, {enabled} enabled. They run in this order, all or nothing, on every copy of production made for staging.", o.rules.len());
    let problem = move || {
        let err = |v: Option<Result<_, crate::models::AppError>>| v.and_then(|r| r.err()).map(|e| e.to_string());
        err(actions.toggle.value().get().map(|r| r.map(|_| ()))).or_else(|| err(actions.delete.value().get())).unwrap_or_default()
    };
    view! {
        <Title text=format!("Neutralization · {}", o.project_name) />
        <PageHeader title=format!("{} neutralization", o.project_name) subtitle=subtitle>
            <a class=BUTTON_SECONDARY href=format!("/projects/{}", o.project_slug)>"Project"</a>
        </PageHeader>
        <p class="mb-2 text-sm text-rose-700" role="alert" data-testid="rules-error">{move || nonempty(problem())}</p>
        <RulesTable rules=o.rules can_manage=o.can_manage actions />
        <p class="mt-2 mb-6 text-xs text-slate-500">
            "Every run ends by setting "<code class="font-mono">"database.is_neutralized = true"</code>
            " in ir_config_parameter, as Odoo's own neutralization does. Reports list counts, tables and columns, never values."
        </p>
        <div class=if o.can_manage { "grid items-start gap-5 lg:grid-cols-5" } else { "grid gap-5" }>
            {o.can_manage.then(|| view! { <div class="lg:col-span-2"><RuleEditor slug=slug.clone() editor=actions.editor /></div> })}
            <div class=if o.can_manage { "lg:col-span-3" } else { "" }><RecentRuns runs=o.runs /></div>
        </div>
    }
}

fn kind_class(k: RuleKind) -> &'static str {
    match k {
        RuleKind::Update => "bg-sky-50 text-sky-800 ring-sky-200",
        RuleKind::Delete => "bg-rose-50 text-rose-800 ring-rose-200",
        RuleKind::ColumnPattern => "bg-violet-50 text-violet-800 ring-violet-200",
    }
}

#[component]
fn RulesTable(rules: Vec<NeutralizeRule>, can_manage: bool, actions: Actions) -> impl IntoView {
    view! {
        <div class=format!("{CARD} overflow-x-auto")>
            <table class=format!("{TABLE} table-fixed") data-testid="rules-table">
                <colgroup>
                    <col class="w-16" /><col class="w-[22rem]" /><col />
                    {can_manage.then(|| view! { <col class="w-32" /> })}
                </colgroup>
                <thead class="bg-slate-50"><tr>
                    <th class=TH>"On"</th><th class=TH>"Rule"</th><th class=TH>"What it does"</th>
                    {can_manage.then(|| view! { <th class=TH><span class="sr-only">"Actions"</span></th> })}
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {rules.into_iter().map(|r| view! { <RuleRow r can_manage actions /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn RuleRow(r: NeutralizeRule, can_manage: bool, actions: Actions) -> impl IntoView {
    let (id, on) = (r.id, r.enabled);
    let name = r.name.clone();
    let for_edit = r.clone();
    let toggling = move || actions.toggle.pending().get();
    view! {
        <tr data-testid="rule-row" data-rule=r.name.clone() data-enabled=on.to_string() class=if on { "" } else { "bg-slate-50 text-slate-500" }>
            <td class=TD>
                {if can_manage {
                    view! {
                        <button type="button" role="switch" aria-checked=on.to_string() aria-label=format!("Enabled: {name}") data-testid="rule-toggle"
                            class=format!("relative mt-0.5 inline-flex h-5 w-9 shrink-0 items-center rounded-full transition focus:outline-none focus:ring-2 focus:ring-indigo-300 disabled:opacity-50 {}", if on { "bg-indigo-600" } else { "bg-slate-300" })
                            disabled=toggling
                            on:click=move |_| { actions.toggle.dispatch(ToggleRule { id, enabled: !on }); }>
                            <span class=format!("inline-block h-4 w-4 rounded-full bg-white shadow transition {}", if on { "translate-x-4.5" } else { "translate-x-0.5" })></span>
                        </button>
                    }.into_any()
                } else {
                    view! { <span class=format!("text-xs font-medium {}", if on { "text-emerald-700" } else { "text-slate-500" }) data-testid="rule-state">{if on { "on" } else { "off" }}</span> }.into_any()
                }}
            </td>
            <td class=TD>
                <div class="flex flex-wrap items-center gap-1.5">
                    <span class=format!("font-medium {}", if on { "text-slate-800" } else { "text-slate-500 line-through decoration-slate-300" })>{r.name.clone()}</span>
                    <span class=format!("whitespace-nowrap rounded px-1 py-px text-[10px] font-semibold ring-1 ring-inset {}", kind_class(r.kind))>{r.kind.label()}</span>
                    {(!r.builtin).then(|| view! { <span class="rounded bg-amber-50 px-1 py-px text-[10px] font-semibold text-amber-800 ring-1 ring-inset ring-amber-200">"custom"</span> })}
                </div>
                <p tabindex="0" class="mt-0.5 line-clamp-2 text-xs leading-snug text-slate-500 hover:line-clamp-none focus:line-clamp-none focus:outline-none"
                    title=r.description.clone()>{nonempty(r.description.clone())}</p>
            </td>
            <td class=TD>
                <code class="block whitespace-pre-wrap break-all font-mono text-[11px] leading-4 text-slate-700" data-testid="rule-summary">{r.summary()}</code>
            </td>
            {can_manage.then(|| view! {
                <td class=format!("{TD} whitespace-nowrap text-right")>
                    <button type="button" class="rounded px-1.5 py-0.5 text-xs font-medium text-indigo-700 hover:bg-indigo-50 focus:outline-none focus:ring-2 focus:ring-indigo-300"
                        data-testid="rule-edit" aria-label=format!("Edit {}", r.name) on:click=move |_| actions.editor.start_edit(&for_edit)>"Edit"</button>
                    {(!r.builtin).then(|| view! {
                        <button type="button" class=format!("{BUTTON_DANGER} ml-1") data-testid="rule-delete" aria-label=format!("Delete {}", r.name)
                            on:click=move |_| { actions.delete.dispatch(DeleteRule { id }); }>"Delete"</button>
                    })}
                </td>
            })}
        </tr>
    }
}
