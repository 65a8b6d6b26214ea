//! The form that adds a rule, or edits one (Edit in the rules table loads it here).
use crate::api::neutralize::{AddRule, EditRule};
use crate::components::ui::{nonempty, BUTTON, BUTTON_SECONDARY, CARD, INPUT, LABEL};
use crate::models::{AppError, NeutralizeRule, RuleForm, RuleKind};
use leptos::prelude::*;
use uuid::Uuid;

#[derive(Clone, Copy)]
pub(super) struct Editor {
    pub form: RwSignal<RuleForm>,
    /// The rule being edited; `None` while adding.
    pub editing: RwSignal<Option<Uuid>>,
    pub add: ServerAction<AddRule>,
    pub edit: ServerAction<EditRule>,
}

impl Editor {
    pub fn start_edit(&self, rule: &NeutralizeRule) {
        self.form.set(RuleForm::from(rule));
        self.editing.set(Some(rule.id));
        #[cfg(feature = "hydrate")]
        if let Some(el) = document().get_element_by_id("rule-name") {
            el.scroll_into_view();
            if let Ok(input) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el) {
                let _ = input.focus();
            }
        }
    }

    fn reset(&self) {
        self.form.set(RuleForm { kind: "update".into(), ..Default::default() });
        self.editing.set(None);
    }
}

const CODE: &str = "block w-full rounded-md border border-slate-300 bg-white px-2.5 py-1.5 font-mono text-xs shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-200";

/// A text field bound to one field of the form.
#[component]
fn Field(
    editor: Editor,
    id: &'static str,
    label: &'static str,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] multiline: bool,
    #[prop(optional)] code: bool,
    get: fn(&RuleForm) -> String,
    set: fn(&mut RuleForm, String),
    #[prop(into)] shown: Signal<bool>,
) -> impl IntoView {
    let form = editor.form;
    let value = move || form.with(get);
    let input = move |ev| form.update(|f| set(f, event_target_value(&ev)));
    let class = if code { CODE } else { INPUT };
    view! {
        <div style=move || if shown.get() { "" } else { "display:none" }>
            <label class=LABEL for=id>{label}</label>
            {if multiline {
                view! { <textarea id=id class=class rows="2" placeholder=placeholder prop:value=value on:input=input></textarea> }.into_any()
            } else {
                view! { <input id=id class=class placeholder=placeholder prop:value=value on:input=input /> }.into_any()
            }}
            <p class="mt-0.5 text-[11px] text-slate-500">{nonempty(hint)}</p>
        </div>
    }
}

#[component]
pub(super) fn RuleEditor(slug: String, editor: Editor) -> impl IntoView {
    let Editor { form, editing, add, edit } = editor;
    let kind = Memo::new(move |_| form.with(|f| RuleKind::parse(&f.kind).unwrap_or(RuleKind::Update)));
    let is = move |k: RuleKind| Signal::derive(move || kind.get() == k);
    let not_pattern = Signal::derive(move || kind.get() != RuleKind::ColumnPattern);
    // Which outcome to show: the last action used.
    let last = RwSignal::new(None::<Result<String, String>>);
    let outcome = |r: Option<Result<NeutralizeRule, AppError>>, verb: &'static str| {
        r.map(|r| r.map(|rule| format!("“{}” {verb}.", rule.name)).map_err(|e| e.to_string()))
    };
    Effect::new(move |_| {
        if let Some(o) = outcome(add.value().get(), "added") {
            if o.is_ok() {
                untrack(|| editor.reset());
            }
            last.set(Some(o));
        }
    });
    Effect::new(move |_| {
        if let Some(o) = outcome(edit.value().get(), "saved") {
            if o.is_ok() {
                untrack(|| editor.reset());
            }
            last.set(Some(o));
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let rule = form.get_untracked();
        match editing.get_untracked() {
            Some(id) => {
                edit.dispatch(EditRule { id, rule });
            }
            None => {
                add.dispatch(AddRule { slug: slug.clone(), rule });
            }
        }
    };
    let pending = move || add.pending().get() || edit.pending().get();
    view! {
        <section class=format!("{CARD} p-4") data-testid="rule-editor">
            <h2 class="mb-3 text-sm font-semibold text-slate-800">{move || if editing.get().is_some() { "Edit rule" } else { "Add a rule" }}</h2>
            <form class="space-y-2.5" on:submit=submit data-testid="rule-form">
                <div class="grid grid-cols-2 gap-2.5">
                    <div>
                        <label class=LABEL for="rule-name">"Name"</label>
                        <input id="rule-name" class=INPUT required maxlength="100" prop:value=move || form.with(|f| f.name.clone())
                            on:input=move |ev| form.update(|f| f.name = event_target_value(&ev)) />
                    </div>
                    <div>
                        <label class=LABEL for="rule-kind">"Kind"</label>
                        <select id="rule-kind" class=INPUT prop:value=move || form.with(|f| f.kind.clone())
                            on:change=move |ev| form.update(|f| f.kind = event_target_value(&ev))>
                            {RuleKind::ALL.into_iter().map(|k| view! { <option value=k.as_str()>{k.label()}</option> }).collect_view()}
                        </select>
                    </div>
                </div>
                <Field editor id="rule-table" label="Table" get=|f| f.table_name.clone() set=|f, v| f.table_name = v shown=Signal::derive(|| true)
                    placeholder="ir_cron or myschema.mytable" hint="Exact name. For a column pattern, leave empty to cover every table of every schema." />
                <Field editor id="rule-set" label="Set" code=true multiline=true get=|f| f.set_sql.clone() set=|f, v| f.set_sql = v shown=is(RuleKind::Update)
                    placeholder="state = 'test', api_key = null" hint="Assignments. {{mail_host}}, {{mail_port}}, {{mail_user}}, {{mail_password}} become the mail catcher's." />
                <Field editor id="rule-where" label="Where (optional)" code=true multiline=true get=|f| f.where_sql.clone() set=|f, v| f.where_sql = v shown=not_pattern
                    placeholder="state = 'enabled'" hint="A condition without the word WHERE; empty means every row." />
                <Field editor id="rule-pattern" label="Column pattern" code=true get=|f| f.column_pattern.clone() set=|f, v| f.column_pattern = v shown=is(RuleKind::ColumnPattern)
                    placeholder="(^|_)api_key$" hint="A case-insensitive PostgreSQL regular expression on column names; matching text, JSON and binary columns are blanked." />
                <Field editor id="rule-exclude" label="Except" code=true get=|f| f.exclude.clone() set=|f, v| f.exclude = v shown=is(RuleKind::ColumnPattern)
                    placeholder="res_users.password" hint="table.column entries to keep, separated by commas." />
                <Field editor id="rule-description" label="Description" multiline=true get=|f| f.description.clone() set=|f, v| f.description = v shown=Signal::derive(|| true)
                    hint="Why the rule exists, for whoever reads this page next." />
                <p class=move || format!("text-sm {}", if matches!(last.get(), Some(Err(_))) { "text-rose-700" } else { "text-emerald-700" })
                    role="status" aria-live="polite" data-testid="rule-form-message">
                    {move || nonempty(match last.get() { Some(Ok(m)) | Some(Err(m)) => m, None => String::new() })}
                </p>
                <div class="flex items-center gap-2">
                    <button type="submit" class=BUTTON disabled=pending data-testid="rule-submit">
                        {move || if editing.get().is_some() { "Save rule" } else { "Add rule" }}
                    </button>
                    <button type="button" class=BUTTON_SECONDARY style=move || if editing.get().is_some() { "" } else { "display:none" }
                        on:click=move |_| { editor.reset(); last.set(None); }>"Cancel"</button>
                </div>
            </form>
        </section>
    }
}
