use crate::api::members::{list_members, AddMember, RemoveMember, SetMemberRole};
use crate::components::ui::{fmt_time, ErrorPanel, FormMessage, Loading, PageHeader, RoleBadge, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, INPUT, LABEL, TABLE, TD, TH};
use crate::models::{MemberRow, Role, SessionUser};
use leptos::prelude::*;
use leptos_meta::Title;

fn outcome<T>(r: Option<Result<T, crate::models::AppError>>, ok: &str) -> Option<Result<String, String>> {
    r.map(|r| r.map(|_| ok.to_string()).map_err(|e| e.to_string()))
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let add = ServerAction::<AddMember>::new();
    let set_role = ServerAction::<SetMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let members = Resource::new(
        move || (add.version().get(), set_role.version().get(), remove.version().get()),
        |_| list_members(),
    );
    let row_message = Signal::derive(move || {
        outcome(set_role.value().get(), "Role updated.").or_else(|| outcome(remove.value().get(), "Member removed."))
    });
    view! {
        <Title text="Members" />
        <PageHeader title="Members" subtitle="People in this workspace and what their role lets them do." />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match members.await {
                    Ok(rows) => view! {
                        <div class="grid gap-5 lg:grid-cols-3">
                            <div class="lg:col-span-2">
                                <div class="mb-2"><FormMessage message=row_message /></div>
                                <MemberTable rows set_role remove />
                            </div>
                            <AddMemberForm add />
                        </div>
                    }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn MemberTable(rows: Vec<MemberRow>, set_role: ServerAction<SetMemberRole>, remove: ServerAction<RemoveMember>) -> impl IntoView {
    let me = use_context::<SessionUser>().map(|u| u.user_id);
    view! {
        <div class=format!("{CARD} overflow-x-auto")>
            <table class=TABLE data-testid="members-table">
                <thead class="bg-slate-50"><tr>
                    <th class=TH>"Member"</th><th class=TH>"Role"</th><th class=TH>"Since"</th><th class=TH></th>
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {rows.into_iter().map(|m| {
                        let uid = m.user_id.to_string();
                        let uid_remove = uid.clone();
                        let is_me = Some(m.user_id) == me;
                        view! {
                            <tr data-testid="member-row">
                                <td class=TD>
                                    <div class="font-medium text-slate-800">{if m.display_name.is_empty() { m.email.clone() } else { m.display_name.clone() }}</div>
                                    <div class="text-xs text-slate-500">{m.email.clone()}</div>
                                </td>
                                <td class=TD>
                                    <ActionForm action=set_role attr:class="flex items-center gap-1.5">
                                        <input type="hidden" name="user_id" value=uid.clone() />
                                        <select name="role" class="rounded-md border border-slate-300 bg-white px-1.5 py-1 text-xs" aria-label="Role">
                                            {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == m.role>{r.label()}</option> }).collect_view()}
                                        </select>
                                        <button type="submit" class=BUTTON_SECONDARY>"Save"</button>
                                    </ActionForm>
                                </td>
                                <td class=format!("{TD} text-xs text-slate-500")>{fmt_time(&m.created_at)}</td>
                                <td class=format!("{TD} text-right")>
                                    {if is_me {
                                        view! { <RoleBadge role=m.role /> }.into_any()
                                    } else {
                                        view! {
                                            <ActionForm action=remove>
                                                <input type="hidden" name="user_id" value=uid_remove.clone() />
                                                <button type="submit" class=BUTTON_DANGER>"Remove"</button>
                                            </ActionForm>
                                        }.into_any()
                                    }}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn AddMemberForm(add: ServerAction<AddMember>) -> impl IntoView {
    let message = Signal::derive(move || outcome(add.value().get(), "Member added. Share the password with them privately."));
    view! {
        <section class=format!("{CARD} p-4")>
            <h2 class="mb-3 text-sm font-semibold text-slate-800">"Add a member"</h2>
            <ActionForm action=add attr:class="space-y-3" attr:data-testid="add-member-form">
                <div><label class=LABEL for="m-email">"Email"</label><input class=INPUT id="m-email" name="member[email]" type="email" required /></div>
                <div><label class=LABEL for="m-name">"Name"</label><input class=INPUT id="m-name" name="member[display_name]" /></div>
                <div>
                    <label class=LABEL for="m-role">"Role"</label>
                    <select class=INPUT id="m-role" name="member[role]">
                        {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == Role::Developer>{r.label()}</option> }).collect_view()}
                    </select>
                </div>
                <div><label class=LABEL for="m-pw">"Initial password"</label><input class=INPUT id="m-pw" name="member[password]" type="password" minlength="10" required autocomplete="new-password" /></div>
                <FormMessage message />
                <button type="submit" class=BUTTON disabled=move || add.pending().get()>"Add member"</button>
            </ActionForm>
        </section>
    }
}
