//! Advisors: the security and performance lints of the project's database (Supabase's
//! advisors; for local projects, the console's own scanner), grouped by level.
use super::SectionTitle;
use crate::components::supabase::{get_json, PanelEmpty, PanelLoading, ProxyError};
use crate::components::ui::CARD;
use leptos::prelude::*;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
struct Lint {
    #[serde(default)]
    name: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    remediation: Option<String>,
    #[serde(default)]
    cache_key: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Advice {
    #[serde(default)]
    lints: Vec<Lint>,
}

/// Splinter's details are Markdown with escaped backticks (`` \`public.t\` ``): shown as
/// text with `code` spans, and `[docs](url)` links as their text.
fn detail_view(detail: &str) -> impl IntoView {
    let text = detail.replace("\\`", "`");
    let text = link_labels(&text);
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                view! { <code class="rounded bg-slate-100 px-1 font-mono text-[11px] text-slate-800">{part.to_string()}</code> }.into_any()
            } else {
                part.to_string().into_any()
            }
        })
        .collect_view()
}

/// `[label](https://...)` becomes `label`.
fn link_labels(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|c| open + c) else { break };
        let Some(end) = rest[close..].find(')').map(|e| close + e) else { break };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn rank(level: &str) -> u8 {
    match level {
        "ERROR" => 0,
        "WARN" => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn markdown_links_become_their_label() {
        assert_eq!(super::link_labels("See [docs](https://x.example/a) for more."), "See docs for more.");
        assert_eq!(super::link_labels("no [link here"), "no [link here");
    }
}

#[component]
pub fn AdvisorsSection(project_ref: String) -> impl IntoView {
    let r = StoredValue::new(project_ref);
    let security = LocalResource::new(move || async move { get_json::<Advice>(&r.get_value(), "advisors/security").await });
    let performance = LocalResource::new(move || async move { get_json::<Advice>(&r.get_value(), "advisors/performance").await });
    view! {
        <div class="grid gap-6 xl:grid-cols-2" data-testid="advisors-section">
            <AdvisorList title="Security" testid="advisors-security" data=security />
            <AdvisorList title="Performance" testid="advisors-performance" data=performance />
        </div>
    }
}

#[component]
fn AdvisorList(title: &'static str, testid: &'static str, data: LocalResource<Result<Advice, String>>) -> impl IntoView {
    view! {
        <div data-testid=testid>
            {move || match data.get() {
                None => view! { <SectionTitle title=title /><PanelLoading /> }.into_any(),
                Some(Err(e)) => view! { <SectionTitle title=title /><ProxyError message=e /> }.into_any(),
                Some(Ok(a)) => {
                    let mut lints = a.lints;
                    lints.sort_by(|x, y| rank(&x.level).cmp(&rank(&y.level)).then(x.name.cmp(&y.name)));
                    let count = |l: &str| lints.iter().filter(|x| x.level == l).count();
                    let hint = format!("{} errors · {} warnings · {} info", count("ERROR"), count("WARN"), count("INFO"));
                    if lints.is_empty() {
                        view! { <SectionTitle title=title /><PanelEmpty title="No findings" hint="Nothing to fix here on the last check." /> }.into_any()
                    } else {
                        view! {
                            <SectionTitle title=title hint=hint />
                            <ul class=format!("{CARD} max-h-[36rem] divide-y divide-slate-100 overflow-auto")>
                                {lints.into_iter().map(|l| {
                                    let badge = match l.level.as_str() {
                                        "ERROR" => "bg-rose-50 text-rose-800 ring-rose-200",
                                        "WARN" => "bg-amber-50 text-amber-800 ring-amber-200",
                                        _ => "bg-sky-50 text-sky-800 ring-sky-200",
                                    };
                                    view! {
                                        <li class="px-3 py-2" data-testid="advisor-lint" title=l.cache_key.clone()>
                                            <div class="flex items-center gap-2">
                                                <span class=format!("rounded px-1.5 py-0.5 text-[10px] font-semibold ring-1 ring-inset {badge}")>{l.level.clone()}</span>
                                                <span class="text-sm font-medium text-slate-800">{l.title.clone()}</span>
                                            </div>
                                            <p class="mt-0.5 text-xs text-slate-600">{detail_view(&l.detail)}</p>
                                            {l.remediation.clone().filter(|u| u.starts_with("https://")).map(|u| view! {
                                                <a class="text-[11px] text-indigo-700 hover:underline" href=u target="_blank" rel="noopener noreferrer">"How to fix →"</a>
                                            })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                }
            }}
        </div>
    }
}
