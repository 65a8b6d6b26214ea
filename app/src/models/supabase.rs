//! Supabase projects linked to console projects (issue 9): the ref newtype and the link as
//! the panel sees it (never its backing connection).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A Supabase project ref: exactly 20 lowercase ASCII letters (`abcdefghijklmnopqrst`).
/// Local projects served by the console's own Management API use the same form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectRef(String);

impl ProjectRef {
    pub const LEN: usize = 20;

    pub fn parse(s: &str) -> Option<ProjectRef> {
        (s.len() == Self::LEN && s.bytes().all(|b| b.is_ascii_lowercase())).then(|| ProjectRef(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ProjectRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ProjectRef::parse(&s).ok_or_else(|| "a Supabase project ref is 20 lowercase letters".to_string())
    }
}

impl From<ProjectRef> for String {
    fn from(r: ProjectRef) -> String {
        r.0
    }
}

/// Where a link's Management API calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupabaseUpstream {
    /// The console's configured Management API (`ODOOOPS_SUPABASE_API_URL`).
    Default,
    /// The console's own local implementation, backed by a registered PostgreSQL database.
    Local,
}

impl SupabaseUpstream {
    /// The `upstream` column: null or `'local'`.
    pub fn from_column(v: Option<&str>) -> SupabaseUpstream {
        match v {
            Some("local") => SupabaseUpstream::Local,
            _ => SupabaseUpstream::Default,
        }
    }

    pub fn column(self) -> Option<&'static str> {
        match self {
            SupabaseUpstream::Default => None,
            SupabaseUpstream::Local => Some("local"),
        }
    }
}

/// A linked Supabase project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupabaseLink {
    pub id: Uuid,
    pub project_id: Uuid,
    pub project_ref: ProjectRef,
    pub name: String,
    pub upstream: SupabaseUpstream,
    pub created_at: DateTime<Utc>,
}

/// A console project's Supabase links, for its "Supabase" screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupabaseLinks {
    pub project_slug: String,
    pub project_name: String,
    pub links: Vec<SupabaseLink>,
    /// The caller may link and unlink (admins).
    pub can_manage: bool,
    /// Which management token links to Supabase's API use.
    pub token: TokenState,
}

/// The tenant's own management token, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Its last four characters.
    pub hint: String,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// Which token the proxy sends for this tenant's hosted links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenState {
    pub own: Option<TokenInfo>,
    /// The server's ODOOOPS_SUPABASE_TOKEN stands in (configured, and this is the
    /// installation's first tenant).
    pub server: bool,
}

/// A management token as typed: trimmed, one line of printable ASCII, 10 to 200 characters.
pub fn check_token(token: &str) -> Result<String, String> {
    let t = token.trim();
    if t.len() < 10 || t.len() > 200 || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("a Supabase access token is one line of 10 to 200 characters (sbp_...), from Account > Access Tokens".into());
    }
    Ok(t.to_string())
}

/// What the panel needs besides the proxy: which link, whose project, and what the caller
/// may do there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupabasePanel {
    pub link: SupabaseLink,
    pub project_slug: String,
    pub project_name: String,
    /// Admins write: auth settings, secrets, queries with `read_only: false`.
    pub admin: bool,
}

/// How a new link reaches its Management API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// A project on Supabase's cloud (or the configured Management API), by its ref.
    Hosted,
    /// Any PostgreSQL served by the console's local Management API; the ref is generated.
    Local,
}

/// The form of "Link a Supabase project", checked: the hosted ref or the local database
/// URL, and a display name.
pub fn check_link_form(kind: LinkKind, project_ref: &str, name: &str, db_url: &str) -> Result<(Option<ProjectRef>, String, Option<String>), String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err("give the link a name of 1 to 80 characters".into());
    }
    match kind {
        LinkKind::Hosted => {
            let r = ProjectRef::parse(project_ref.trim()).ok_or("a Supabase project ref is the 20 lowercase letters in the project's URL (https://supabase.com/dashboard/project/<ref>)")?;
            Ok((Some(r), name.to_string(), None))
        }
        LinkKind::Local => {
            let url = db_url.trim();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) || url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("the database URL looks like postgres://user:password@host:5432/database".into());
            }
            Ok((None, name.to_string(), Some(url.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{check_link_form, LinkKind, ProjectRef};

    #[test]
    fn the_link_form_wants_a_ref_for_hosted_projects_and_a_postgres_url_for_local_ones() {
        assert!(check_link_form(LinkKind::Hosted, "abcdefghijklmnopqrst", "Prod", "").is_ok());
        assert!(check_link_form(LinkKind::Hosted, "abc", "Prod", "").unwrap_err().contains("20 lowercase letters"));
        assert!(check_link_form(LinkKind::Hosted, "abcdefghijklmnopqrst", "  ", "").unwrap_err().contains("name"));
        let (r, n, url) = check_link_form(LinkKind::Local, "", " Local db ", " postgres://u:p@h/db ").unwrap();
        assert_eq!((r, n.as_str(), url.as_deref()), (None, "Local db", Some("postgres://u:p@h/db")));
        for bad in ["mysql://x", "postgres://a b@h/db", "", "http://h/db"] {
            assert!(check_link_form(LinkKind::Local, "", "x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_project_ref_is_twenty_lowercase_letters() {
        assert!(ProjectRef::parse("abcdefghijklmnopqrst").is_some());
        for bad in ["abcdefghijklmnopqrs", "abcdefghijklmnopqrstu", "Abcdefghijklmnopqrst", "abcdefghijklmnopqrs1", "abcdefghij/lmnopqrst", ""] {
            assert!(ProjectRef::parse(bad).is_none(), "{bad}");
        }
    }
}
