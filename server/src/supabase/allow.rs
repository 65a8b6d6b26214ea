//! What the proxy lets through: path normalization (anything that could climb, switch host
//! or smuggle an encoded separator is refused) and the allow-list of the panel's endpoints.
use app::models::supabase::ProjectRef;
use axum::http::Method;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any member of the tenant.
    Read,
    /// Admins only (writes).
    Admin,
    /// `database/query`: anyone read-only; `read_only: false` needs an admin.
    Query,
}

/// One allowed endpoint: the path below `v1/projects/{ref}` ("" is the project itself).
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub method: &'static str,
    pub tail: &'static str,
    pub access: Access,
}

/// The endpoints the panel uses, and nothing else.
pub const RULES: &[Rule] = &[
    Rule { method: "GET", tail: "", access: Access::Read },
    Rule { method: "POST", tail: "database/query", access: Access::Query },
    Rule { method: "GET", tail: "database/migrations", access: Access::Read },
    Rule { method: "GET", tail: "storage/buckets", access: Access::Read },
    Rule { method: "GET", tail: "config/auth", access: Access::Read },
    Rule { method: "PATCH", tail: "config/auth", access: Access::Admin },
    Rule { method: "GET", tail: "secrets", access: Access::Read },
    Rule { method: "POST", tail: "secrets", access: Access::Admin },
    Rule { method: "DELETE", tail: "secrets", access: Access::Admin },
    Rule { method: "GET", tail: "analytics/endpoints/logs.all", access: Access::Read },
    Rule { method: "GET", tail: "advisors/security", access: Access::Read },
    Rule { method: "GET", tail: "advisors/performance", access: Access::Read },
];

/// Why a path was refused before anything else was looked at (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPath {
    #[error("the path is empty")]
    Empty,
    #[error("the path may not contain percent-encoding")]
    Encoded,
    #[error("the path may not contain backslashes")]
    Backslash,
    #[error("the path may not contain control characters or spaces")]
    Control,
    #[error("the path may not name a scheme, host or absolute URL")]
    Absolute,
    #[error("the path may not contain empty, '.' or '..' segments")]
    Traversal,
    #[error("the path may only contain letters, digits, '.', '-' and '_'")]
    Character,
    #[error("the path is too long")]
    TooLong,
}

/// The raw path below `/api/supabase-proxy/`, checked segment by segment. The raw (not
/// decoded) form is checked so `%2e%2e`, `%2f` and double encodings never reach a decoder.
pub fn normalize(raw: &str) -> Result<Vec<&str>, BadPath> {
    if raw.is_empty() {
        return Err(BadPath::Empty);
    }
    if raw.len() > 512 {
        return Err(BadPath::TooLong);
    }
    if raw.contains('%') {
        return Err(BadPath::Encoded);
    }
    if raw.contains('\\') {
        return Err(BadPath::Backslash);
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(BadPath::Control);
    }
    if raw.contains(':') || raw.contains('@') || raw.starts_with('/') {
        return Err(BadPath::Absolute);
    }
    let segments: Vec<&str> = raw.split('/').collect();
    for s in &segments {
        if s.is_empty() || *s == "." || s.contains("..") {
            return Err(BadPath::Traversal);
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) {
            return Err(BadPath::Character);
        }
    }
    Ok(segments)
}

/// The project ref of `v1/projects/{ref}/...`, if the path has that form.
pub fn project_ref(segments: &[&str]) -> Option<ProjectRef> {
    match segments {
        ["v1", "projects", r, ..] => ProjectRef::parse(r),
        _ => None,
    }
}

/// The rule for `method` on `segments` (already normalized), if any.
pub fn rule(method: &Method, segments: &[&str]) -> Option<&'static Rule> {
    let tail = match segments {
        ["v1", "projects", _, rest @ ..] => rest.join("/"),
        _ => return None,
    };
    RULES.iter().find(|r| r.method == method.as_str() && r.tail == tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_encoding_and_host_switching_are_refused() {
        for (raw, why) in [
            ("v1/projects/abcdefghijklmnopqrst/../../x", BadPath::Traversal),
            ("v1/projects/abcdefghijklmnopqrst/%2e%2e/x", BadPath::Encoded),
            ("v1/projects/abcdefghijklmnopqrst%2fsecrets", BadPath::Encoded),
            ("v1/projects/abcdefghijklmnopqrst/%252e%252e", BadPath::Encoded),
            ("v1\\projects", BadPath::Backslash),
            ("v1//projects", BadPath::Traversal),
            ("/evil.example/v1", BadPath::Absolute),
            ("http://evil.example/v1/projects", BadPath::Absolute),
            ("user@evil.example/v1", BadPath::Absolute),
            ("v1/projects/a\tb", BadPath::Control),
            ("v1/projects/./secrets", BadPath::Traversal),
            ("v1/projects/abc$", BadPath::Character),
        ] {
            assert_eq!(normalize(raw), Err(why), "{raw}");
        }
    }

    #[test]
    fn only_listed_methods_and_paths_have_a_rule() {
        let seg = |p: &'static str| normalize(p).unwrap();
        let r = "v1/projects/abcdefghijklmnopqrst";
        assert_eq!(rule(&Method::POST, &seg("v1/projects/abcdefghijklmnopqrst/database/query")).map(|r| r.access), Some(Access::Query));
        assert_eq!(rule(&Method::GET, &seg(r)).map(|r| r.access), Some(Access::Read));
        assert_eq!(rule(&Method::DELETE, &seg("v1/projects/abcdefghijklmnopqrst/secrets")).map(|r| r.access), Some(Access::Admin));
        assert!(rule(&Method::DELETE, &seg(r)).is_none());
        assert!(rule(&Method::GET, &seg("v1/projects/abcdefghijklmnopqrst/api-keys")).is_none());
        assert!(rule(&Method::GET, &seg("v1/organizations")).is_none());
        assert_eq!(project_ref(&seg(r)).map(|r| r.to_string()).as_deref(), Some("abcdefghijklmnopqrst"));
        assert!(project_ref(&seg("v1/projects/ABC")).is_none());
    }
}
