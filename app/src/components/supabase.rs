//! The Supabase panel's client side: every call goes from the browser to
//! `/api/supabase-proxy/v1/projects/{ref}/...` with the login cookie (the proxy checks,
//! audits and adds the management token), plus the pieces the panel's sections share:
//! ordered result rows, CSV, identifier quoting and the result table.
use crate::components::ui::{CARD, TABLE, TD, TH};
use leptos::prelude::*;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// One result row with its columns in the order the database returned them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderedRow(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = OrderedRow;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<OrderedRow, M::Error> {
                let mut cells = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    cells.push((k, v));
                }
                Ok(OrderedRow(cells))
            }
        }
        d.deserialize_map(RowVisitor)
    }
}

/// A query's result as the panel shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl ResultSet {
    pub fn from_rows(rows: Vec<OrderedRow>) -> ResultSet {
        let columns = rows.first().map(|r| r.0.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
        ResultSet { columns, rows: rows.into_iter().map(|r| r.0.into_iter().map(|(_, v)| v).collect()).collect() }
    }

    /// The value of `column` in row `i`.
    pub fn get(&self, i: usize, column: &str) -> Option<&Value> {
        let c = self.columns.iter().position(|k| k == column)?;
        self.rows.get(i)?.get(c)
    }

    /// RFC 4180 CSV: a header line, then one line per row; NULL is an empty field.
    pub fn to_csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        }
        let mut out = self.columns.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
        out.push_str("\r\n");
        for row in &self.rows {
            out.push_str(&row.iter().map(|v| field(&plain(v))).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
        }
        out
    }
}

/// A cell as text: strings without quotes, NULL as empty.
pub fn plain(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `name` as a quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `s` as a quoted SQL string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Percent-encodes a query-string value.
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A failed call as the user should read it: the proxy's own refusals say why, anything
/// else is the upstream's answer ("upstream returned 429: ...").
pub fn describe_failure(status: u16, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |k: &str| parsed.as_ref().and_then(|v| v.get(k)).and_then(|v| v.as_str()).map(str::to_string);
    if let Some(e) = field("error") {
        return format!("{e} (HTTP {status})");
    }
    let message = field("message").or_else(|| field("msg")).unwrap_or_else(|| body.chars().take(300).collect::<String>());
    if message.trim().is_empty() {
        format!("upstream returned {status}")
    } else {
        format!("upstream returned {status}: {}", message.trim())
    }
}

/// Calls the proxy: `path` below `v1/projects/{ref}/` ("" is the project itself).
pub async fn call(project_ref: &str, method: &str, path: &str, body: Option<String>) -> Result<String, String> {
    let url = if path.is_empty() {
        format!("/api/supabase-proxy/v1/projects/{project_ref}")
    } else {
        format!("/api/supabase-proxy/v1/projects/{project_ref}/{path}")
    };
    let (status, text) = fetch(method, &url, body).await?;
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err(describe_failure(status, &text))
    }
}

pub async fn get_json<T: serde::de::DeserializeOwned>(project_ref: &str, path: &str) -> Result<T, String> {
    let text = call(project_ref, "GET", path, None).await?;
    serde_json::from_str(&text).map_err(|e| format!("the answer was not what the panel expects: {e}"))
}

/// Runs one statement through `database/query`; read-only unless `read_only` is false (which
/// the proxy allows admins only).
pub async fn query(project_ref: &str, sql: &str, read_only: bool) -> Result<ResultSet, String> {
    let body = serde_json::json!({"query": sql, "read_only": read_only}).to_string();
    let text = call(project_ref, "POST", "database/query", Some(body)).await?;
    let rows: Vec<OrderedRow> = serde_json::from_str(&text).map_err(|e| format!("the answer was not a list of rows: {e}"))?;
    Ok(ResultSet::from_rows(rows))
}

#[cfg(feature = "hydrate")]
async fn fetch(method: &str, url: &str, body: Option<String>) -> Result<(u16, String), String> {
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    let js = |_: JsValue| "the browser refused the request".to_string();
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(js)?;
    headers.set("accept", "application/json").map_err(js)?;
    if let Some(b) = &body {
        headers.set("content-type", "application/json").map_err(js)?;
        init.set_body(&JsValue::from_str(b));
    }
    init.set_headers(&headers);
    let window = web_sys::window().ok_or("no browser window")?;
    let resp = JsFuture::from(window.fetch_with_str_and_init(url, &init)).await.map_err(|_| "the console could not be reached".to_string())?;
    let resp: web_sys::Response = resp.dyn_into().map_err(js)?;
    let text = JsFuture::from(resp.text().map_err(js)?).await.map_err(js)?;
    Ok((resp.status(), text.as_string().unwrap_or_default()))
}

/// On the server the panel renders its loading states; its data is fetched by the browser.
#[cfg(not(feature = "hydrate"))]
async fn fetch(_method: &str, _url: &str, _body: Option<String>) -> Result<(u16, String), String> {
    Err("the Supabase panel loads in the browser".into())
}

/// A failed call, said plainly.
#[component]
pub fn ProxyError(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-900" role="alert" data-testid="proxy-error">{message}</div>
    }
}

/// "Loading..." in a section.
#[component]
pub fn PanelLoading() -> impl IntoView {
    view! {
        <div class="flex items-center gap-2 py-6 text-sm text-slate-500" data-testid="panel-loading">
            <span class="h-4 w-4 animate-spin rounded-full border-2 border-slate-300 border-t-slate-600"></span>
            "Loading from Supabase…"
        </div>
    }
}

/// Nothing to show, and what to do about it.
#[component]
pub fn PanelEmpty(#[prop(into)] title: String, #[prop(into)] hint: String) -> impl IntoView {
    view! {
        <div class="rounded-md border border-dashed border-slate-300 px-4 py-6 text-center" data-testid="panel-empty">
            <p class="text-sm font-medium text-slate-700">{title}</p>
            <p class="mt-1 text-xs text-slate-500">{hint}</p>
        </div>
    }
}

/// A result set as a dense table (cells capped, full value on hover).
#[component]
pub fn ResultTable(result: ResultSet, #[prop(into, optional)] testid: String) -> impl IntoView {
    let testid = if testid.is_empty() { "result-table".to_string() } else { testid };
    view! {
        <div class=format!("{CARD} max-h-[28rem] overflow-auto")>
            <table class=TABLE data-testid=testid>
                <thead class="sticky top-0 bg-slate-50"><tr>
                    {result.columns.iter().map(|c| view! { <th class=format!("{TH} whitespace-nowrap normal-case")>{c.clone()}</th> }).collect_view()}
                </tr></thead>
                <tbody class="divide-y divide-slate-100 font-mono text-xs">
                    {result.rows.into_iter().map(|row| view! {
                        <tr class="hover:bg-slate-50" data-testid="result-row">
                            {row.into_iter().map(|v| {
                                let text = plain(&v);
                                let short: String = if text.chars().count() > 120 { format!("{}…", text.chars().take(120).collect::<String>()) } else { text.clone() };
                                match v {
                                    Value::Null => view! { <td class=format!("{TD} text-slate-400")>"NULL"</td> }.into_any(),
                                    Value::Bool(_) | Value::Number(_) => view! { <td class=format!("{TD} whitespace-nowrap text-right text-slate-800")>{short}</td> }.into_any(),
                                    _ => view! { <td class=format!("{TD} whitespace-nowrap text-slate-800") title=text>{short}</td> }.into_any(),
                                }
                            }).collect_view()}
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// A data URL that downloads `csv` as a file.
pub fn csv_href(csv: &str) -> String {
    format!("data:text/csv;charset=utf-8,{}", query_value(csv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_column_order_and_csv_quotes_what_needs_it() {
        let rows: Vec<OrderedRow> = serde_json::from_str(r#"[{"z": 1, "a": "x,y", "m": null}, {"z": 2, "a": "say \"hi\"", "m": true}]"#).unwrap();
        let r = ResultSet::from_rows(rows);
        assert_eq!(r.columns, ["z", "a", "m"]);
        assert_eq!(r.get(1, "a"), Some(&Value::String("say \"hi\"".into())));
        assert_eq!(r.to_csv(), "z,a,m\r\n1,\"x,y\",\r\n2,\"say \"\"hi\"\"\",true\r\n");
    }

    #[test]
    fn failures_say_who_refused() {
        assert_eq!(describe_failure(403, r#"{"error": "only admins may change Supabase settings"}"#), "only admins may change Supabase settings (HTTP 403)");
        assert_eq!(describe_failure(429, r#"{"message": "Too many requests"}"#), "upstream returned 429: Too many requests");
        assert_eq!(describe_failure(500, ""), "upstream returned 500");
        assert_eq!(describe_failure(502, "<html>bad gateway</html>"), "upstream returned 502: <html>bad gateway</html>");
    }

    #[test]
    fn identifiers_literals_and_query_values_are_quoted() {
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(literal("o'neil"), "'o''neil'");
        assert_eq!(query_value("2026-12-03T10:00:00Z"), "2026-12-03T10:00:00Z");
        assert_eq!(query_value("a b+c&d"), "a%20b%2Bc%26d");
    }
}
