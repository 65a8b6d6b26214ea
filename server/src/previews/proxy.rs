//! `/preview/{slug}/…`: the console's reverse proxy to a running preview.
//!
//! Who may look: a signed-in member of the preview's tenant, or anyone holding a signed,
//! expiring share link (it becomes a cookie scoped to that preview's path).
//!
//! Known limit: in this path mode a preview shares the console's origin, so its scripts
//! could call the console's API as the signed-in viewer. A CSP sandbox would stop that but
//! also stops the app's own styles, scripts and XHRs from carrying the viewer's cookies (an
//! opaque origin), which breaks every real app; previews of untrusted branches want a
//! separate host name (not built yet). The console's cookies are never forwarded to the app.
use crate::startup::HttpState;
use app::auth::session::from_headers;
use app::auth::share;
use app::db::previews::{self, PreviewTarget};
use app::models::PreviewState;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::time::Duration;

pub const SHARE_COOKIE: &str = "odooops_preview";
const HOP_BY_HOP: [&str; 8] = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

pub async fn root(State(s): State<HttpState>, Path(slug): Path<String>, req: Request) -> Response {
    // `/preview/slug` → `/preview/slug/` so relative links in the app resolve under it.
    let q = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let _ = s;
    Redirect::permanent(&format!("/preview/{slug}/{q}")).into_response()
}

pub async fn path(State(s): State<HttpState>, Path((slug, rest)): Path<(String, String)>, req: Request) -> Response {
    forward(&s, &slug, &rest, req).await
}

pub async fn index(State(s): State<HttpState>, Path(slug): Path<String>, req: Request) -> Response {
    forward(&s, &slug, "", req).await
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{title}</title><link rel=stylesheet href=/pkg/odooops.css></head>\
         <body class=\"bg-slate-50 p-10 text-slate-800\"><div class=\"mx-auto max-w-lg rounded-lg border border-slate-200 bg-white p-6 shadow-sm\">\
         <h1 class=\"text-lg font-semibold\">{title}</h1><p class=\"mt-2 text-sm text-slate-600\">{body}</p>\
         <a class=\"mt-4 inline-block text-sm text-indigo-700\" href=\"/\">Back to the console</a></div></body></html>"
    );
    (status, Html(html)).into_response()
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

fn valid_slug(slug: &str) -> bool {
    (3..=81).contains(&slug.len()) && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

async fn forward(s: &HttpState, slug: &str, rest: &str, req: Request) -> Response {
    if !valid_slug(slug) {
        return page(StatusCode::NOT_FOUND, "No such preview", "Check the link, or open the build grid to find the branch's preview.");
    }
    let target = async {
        let mut conn = s.app.db.pool().acquire().await?;
        previews::target(&mut conn, slug).await
    }
    .await;
    let target = match target {
        Ok(Some(t)) => t,
        Ok(None) => return page(StatusCode::NOT_FOUND, "No such preview", "Check the link, or open the build grid to find the branch's preview."),
        Err(e) => {
            tracing::error!(error = %e, "preview lookup failed");
            return page(StatusCode::SERVICE_UNAVAILABLE, "Preview unavailable", "The console could not look this preview up. Try again in a moment.");
        }
    };
    let key = &s.app.auth.jwt_key;
    let now = chrono::Utc::now().timestamp();
    let query = req.uri().query().unwrap_or("").to_string();

    // A share link: check it, keep it as a cookie for this preview only, and drop it from the URL.
    if let Some(token) = query.split('&').find_map(|kv| kv.strip_prefix("share=")) {
        if !share::verify(key, slug, token, now) {
            return page(StatusCode::FORBIDDEN, "This link has expired", "Ask for a new preview link, or sign in to the console.");
        }
        let exp = token.split('.').next().and_then(|e| e.parse::<i64>().ok()).unwrap_or(now);
        let rest_q: Vec<&str> = query.split('&').filter(|kv| !kv.starts_with("share=") && !kv.is_empty()).collect();
        let to = format!("/preview/{slug}/{rest}{}", if rest_q.is_empty() { String::new() } else { format!("?{}", rest_q.join("&")) });
        let secure = if s.app.auth.secure_cookies { "; Secure" } else { "" };
        let cookie = format!("{SHARE_COOKIE}={token}; Path=/preview/{slug}/; Max-Age={}; HttpOnly; SameSite=Lax{secure}", (exp - now).max(0));
        let mut r = Redirect::to(&to).into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        return r;
    }
    let shared = cookie_value(req.headers(), SHARE_COOKIE).is_some_and(|t| share::verify(key, slug, t, now));
    if !shared {
        match from_headers(&s.app, req.headers()).await {
            Ok((session, _)) if session.claims.tenant_id == target.tenant_id => {}
            Ok(_) => return page(StatusCode::NOT_FOUND, "No such preview", "Check the link, or open the build grid to find the branch's preview."),
            Err(_) => {
                let next = format!("/preview/{slug}/{rest}");
                return Redirect::to(&format!("/login?next={}", app::components::ui::urlencode(&next))).into_response();
            }
        }
    }
    proxy_to(s, slug, &target, rest, &query, req).await
}

async fn proxy_to(s: &HttpState, slug: &str, t: &PreviewTarget, rest: &str, query: &str, req: Request) -> Response {
    let (Some(PreviewState::Running), Some(port)) = (t.state, t.port) else {
        let why = match t.state {
            Some(PreviewState::Starting) => "The preview is starting. This page will work in a few seconds; reload it.",
            Some(PreviewState::Stopped) | Some(PreviewState::Failed) => "The preview is not running (stopped when idle, replaced, or failed). Rebuild the branch to start it again.",
            _ => "This branch has no preview yet. A successful build with a start step creates one.",
        };
        return page(StatusCode::SERVICE_UNAVAILABLE, "Preview not running", why);
    };
    if let (Some(id), Some(_)) = (t.preview_id, t.build_id) {
        s.services.touch_preview(t.tenant_id, id).await;
    }
    let host = t.host.clone().unwrap_or_else(|| "127.0.0.1".into());
    let url = format!("http://{host}:{port}/{rest}{}", if query.is_empty() { String::new() } else { format!("?{query}") });
    let (parts, body) = req.into_parts();
    let mut out = s.services.http.request(parts.method.clone(), &url);
    for (name, value) in parts.headers.iter() {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || n == "host" || n == "x-odooops-peer" || n == "content-length" {
            continue;
        }
        if name == header::COOKIE {
            // The console's own cookies never reach the app.
            let kept: Vec<&str> = value.to_str().unwrap_or("").split(';').map(str::trim).filter(|c| !c.starts_with("odooops_") && !c.is_empty()).collect();
            if !kept.is_empty() {
                out = out.header(header::COOKIE, kept.join("; "));
            }
            continue;
        }
        out = out.header(name.clone(), value.clone());
    }
    if let Some(peer) = parts.headers.get("x-odooops-peer") {
        out = out.header("x-forwarded-for", peer.clone());
    }
    out = out.header("x-forwarded-prefix", format!("/preview/{slug}")).body(reqwest::Body::wrap_stream(body.into_data_stream()));
    let resp = match out.timeout(Duration::from_secs(300)).send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, slug, "preview did not answer");
            return page(StatusCode::BAD_GATEWAY, "The preview did not answer", "The app may have crashed or be restarting; its output is in the build's log.");
        }
    };
    let mut builder = Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || n == "content-length" {
            continue;
        }
        if name == reqwest::header::LOCATION {
            // Absolute-path redirects stay inside the preview.
            let v = value.to_str().unwrap_or("");
            let v = if v.starts_with('/') && !v.starts_with("//") { format!("/preview/{slug}{v}") } else { v.to_string() };
            builder = builder.header(header::LOCATION, v);
            continue;
        }
        if let Ok(n) = HeaderName::from_bytes(name.as_str().as_bytes()) {
            builder = builder.header(n, value.as_bytes());
        }
    }
    builder = builder.header("x-odooops-preview", slug);
    builder.body(Body::from_stream(resp.bytes_stream())).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
