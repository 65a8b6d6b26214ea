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

#[cfg(test)]
mod tests {
    use super::ProjectRef;

    #[test]
    fn a_project_ref_is_twenty_lowercase_letters() {
        assert!(ProjectRef::parse("abcdefghijklmnopqrst").is_some());
        for bad in ["abcdefghijklmnopqrs", "abcdefghijklmnopqrstu", "Abcdefghijklmnopqrst", "abcdefghijklmnopqrs1", "abcdefghij/lmnopqrst", ""] {
            assert!(ProjectRef::parse(bad).is_none(), "{bad}");
        }
    }
}
