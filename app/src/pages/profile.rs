//! The signed-in user's profile: their SSH public keys.
use crate::api::shell::{list_ssh_keys, AddSshKey, RemoveSshKey};
use crate::components::ui::{fmt_time, EmptyState, ErrorPanel, FormMessage, Loading, PageHeader, BUTTON, BUTTON_DANGER, CARD, INPUT, LABEL, TABLE, TD, TH};
use crate::models::{SessionUser, SshKeyRow};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ProfilePage() -> impl IntoView {
    let user = use_context::<SessionUser>();
    let add = ServerAction::<AddSshKey>::new();
    let remove = ServerAction::<RemoveSshKey>::new();
    let keys = Resource::new(move || (add.version().get(), remove.version().get()), |_| list_ssh_keys());
    let subtitle = user.map(|u| format!("{} · {}", u.email, u.role.label())).unwrap_or_default();
    view! {
        <Title text="Profile" />
        <PageHeader title="Profile" subtitle=subtitle />
        <div class="grid gap-5 lg:grid-cols-3">
            <section class="lg:col-span-2" aria-labelledby="keys-title">
                <h2 id="keys-title" class="mb-2 text-sm font-semibold text-slate-800">"SSH public keys"</h2>
                <Suspense fallback=|| view! { <Loading /> }>
                    {move || Suspend::new(async move {
                        match keys.await {
                            Ok(rows) if rows.is_empty() => view! {
                                <EmptyState title="No SSH keys yet" hint="Paste the contents of ~/.ssh/id_ed25519.pub in the form to add your first key." />
                            }.into_any(),
                            Ok(rows) => view! { <KeyTable rows remove /> }.into_any(),
                            Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                        }
                    })}
                </Suspense>
                {move || remove.value().get().and_then(|r| r.err()).map(|e| view! { <p class="mt-2 text-sm text-rose-700" role="alert">{e.to_string()}</p> })}
            </section>
            <AddKeyForm add />
        </div>
    }
}

#[component]
fn KeyTable(rows: Vec<SshKeyRow>, remove: ServerAction<RemoveSshKey>) -> impl IntoView {
    view! {
        <div class=format!("{CARD} overflow-x-auto")>
            <table class=TABLE data-testid="ssh-keys">
                <thead class="bg-slate-50"><tr>
                    <th class=TH>"Name"</th><th class=TH>"Type"</th><th class=TH>"Fingerprint"</th><th class=TH>"Added"</th><th class=TH></th>
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {rows.into_iter().map(|k| view! {
                        <tr data-testid="ssh-key-row">
                            <td class=format!("{TD} font-medium text-slate-800")>{k.name.clone()}</td>
                            <td class=format!("{TD} text-xs text-slate-600")>{format!("{} · {} bits", k.algorithm, k.bits)}</td>
                            <td class=format!("{TD} font-mono text-xs text-slate-700 break-all")>{k.fingerprint.clone()}</td>
                            <td class=format!("{TD} text-xs text-slate-500 whitespace-nowrap")>{fmt_time(&k.created_at)}</td>
                            <td class=format!("{TD} text-right")>
                                <ActionForm action=remove>
                                    <input type="hidden" name="id" value=k.id.to_string() />
                                    <button type="submit" class=BUTTON_DANGER data-testid="remove-key" aria-label=format!("Remove key {}", k.name)>"Remove"</button>
                                </ActionForm>
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn AddKeyForm(add: ServerAction<AddSshKey>) -> impl IntoView {
    let message = Signal::derive(move || {
        add.value().get().map(|r| match r {
            Ok(k) => Ok(format!("Added “{}”: it is listed with its fingerprint.", k.name)),
            Err(e) => Err(e.to_string()),
        })
    });
    view! {
        <section class=format!("{CARD} p-4 self-start")>
            <h2 class="mb-3 text-sm font-semibold text-slate-800">"Add a key"</h2>
            <ActionForm action=add attr:class="space-y-3" attr:data-testid="add-key-form">
                <div>
                    <label class=LABEL for="k-key">"Public key"</label>
                    <textarea class=format!("{INPUT} font-mono text-xs") id="k-key" name="key[public_key]" rows="5" required
                        placeholder="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… you@laptop" spellcheck="false"></textarea>
                    <p class="mt-1 text-xs text-slate-500">"ed25519, ECDSA or RSA (2048 bits or more), one line as in your .pub file."</p>
                </div>
                <div><label class=LABEL for="k-name">"Name (optional)"</label><input class=INPUT id="k-name" name="key[name]" maxlength="100" placeholder="the key's comment" /></div>
                <FormMessage message />
                <button type="submit" class=BUTTON disabled=move || add.pending().get()>"Add key"</button>
            </ActionForm>
        </section>
    }
}
