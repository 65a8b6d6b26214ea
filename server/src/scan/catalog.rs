//! Every lint the scanner knows: splinter's (Supabase's database linter; same ids, names,
//! levels and categories) and our own rules. The query of each lives in `lints/<id>.sql`,
//! written for this console; its header says what a database needs for the lint to apply.

/// How serious a finding is, in splinter's words.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_uppercase().as_str() {
            "INFO" => Some(Level::Info),
            "WARN" | "WARNING" => Some(Level::Warn),
            "ERROR" => Some(Level::Error),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// SARIF's name for the level.
    pub fn sarif(self) -> &'static str {
        match self {
            Level::Info => "note",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

/// One lint: `id` is its file stem (`0001_unindexed_foreign_keys`), `name` the rule name in
/// findings and SARIF.
#[derive(Debug, Clone, Copy)]
pub struct LintDef {
    pub id: &'static str,
    pub name: &'static str,
    pub title: &'static str,
    /// The usual level (OD06 raises itself to ERROR past its hard limit).
    pub level: Level,
    pub category: &'static str,
    /// splinter's lint, or one of ours.
    pub ours: bool,
    pub sql: &'static str,
}

macro_rules! lint {
    ($id:literal, $name:literal, $title:literal, $level:ident, $cat:literal, $ours:literal) => {
        LintDef {
            id: $id,
            name: $name,
            title: $title,
            level: Level::$level,
            category: $cat,
            ours: $ours,
            sql: include_str!(concat!("lints/", $id, ".sql")),
        }
    };
}

pub static LINTS: &[LintDef] = &[
    lint!(
        "0001_unindexed_foreign_keys",
        "unindexed_foreign_keys",
        "Unindexed foreign keys",
        Info,
        "PERFORMANCE",
        false
    ),
    lint!(
        "0002_auth_users_exposed",
        "auth_users_exposed",
        "Exposed Auth Users",
        Error,
        "SECURITY",
        false
    ),
    lint!(
        "0003_auth_rls_initplan",
        "auth_rls_initplan",
        "Auth RLS Initialization Plan",
        Warn,
        "PERFORMANCE",
        false
    ),
    lint!(
        "0004_no_primary_key",
        "no_primary_key",
        "No Primary Key",
        Info,
        "PERFORMANCE",
        false
    ),
    lint!(
        "0005_unused_index",
        "unused_index",
        "Unused Index",
        Info,
        "PERFORMANCE",
        false
    ),
    lint!(
        "0006_multiple_permissive_policies",
        "multiple_permissive_policies",
        "Multiple Permissive Policies",
        Warn,
        "PERFORMANCE",
        false
    ),
    lint!(
        "0007_policy_exists_rls_disabled",
        "policy_exists_rls_disabled",
        "Policy Exists RLS Disabled",
        Error,
        "SECURITY",
        false
    ),
    lint!(
        "0008_rls_enabled_no_policy",
        "rls_enabled_no_policy",
        "RLS Enabled No Policy",
        Info,
        "SECURITY",
        false
    ),
    lint!(
        "0009_duplicate_index",
        "duplicate_index",
        "Duplicate Index",
        Warn,
        "PERFORMANCE",
        false
    ),
    lint!(
        "0010_security_definer_view",
        "security_definer_view",
        "Security Definer View",
        Error,
        "SECURITY",
        false
    ),
    lint!(
        "0011_function_search_path_mutable",
        "function_search_path_mutable",
        "Function Search Path Mutable",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0013_rls_disabled_in_public",
        "rls_disabled_in_public",
        "RLS Disabled in Public",
        Error,
        "SECURITY",
        false
    ),
    lint!(
        "0014_extension_in_public",
        "extension_in_public",
        "Extension in Public",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0015_rls_references_user_metadata",
        "rls_references_user_metadata",
        "RLS references user metadata",
        Error,
        "SECURITY",
        false
    ),
    lint!(
        "0016_materialized_view_in_api",
        "materialized_view_in_api",
        "Materialized View in API",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0017_foreign_table_in_api",
        "foreign_table_in_api",
        "Foreign Table in API",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0018_unsupported_reg_types",
        "unsupported_reg_types",
        "Unsupported reg types",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0019_insecure_queue_exposed_in_api",
        "insecure_queue_exposed_in_api",
        "Insecure Queue Exposed in API",
        Error,
        "SECURITY",
        false
    ),
    lint!(
        "0020_table_bloat",
        "table_bloat",
        "Table Bloat",
        Info,
        "PERFORMANCE",
        false
    ),
    lint!(
        "0021_fkey_to_auth_unique",
        "fkey_to_auth_unique",
        "Foreign Key to Auth Unique Constraint",
        Error,
        "SECURITY",
        false
    ),
    lint!(
        "0022_extension_versions_outdated",
        "extension_versions_outdated",
        "Extension Versions Outdated",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0023_sensitive_columns_exposed",
        "sensitive_columns_exposed",
        "Sensitive Columns Exposed",
        Error,
        "SECURITY",
        false
    ),
    lint!(
        "0024_rls_policy_always_true",
        "rls_policy_always_true",
        "RLS Policy Always True",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0025_public_bucket_allows_listing",
        "public_bucket_allows_listing",
        "Public Bucket Allows Listing",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0026_pg_graphql_anon_table_exposed",
        "pg_graphql_anon_table_exposed",
        "Public Can See Object in GraphQL Schema",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0027_pg_graphql_authenticated_table_exposed",
        "pg_graphql_authenticated_table_exposed",
        "Signed-In Users Can See Object in GraphQL Schema",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0028_anon_security_definer_function_executable",
        "anon_security_definer_function_executable",
        "Public Can Execute SECURITY DEFINER Function",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "0029_authenticated_security_definer_function_executable",
        "authenticated_security_definer_function_executable",
        "Signed-In Users Can Execute SECURITY DEFINER Function",
        Warn,
        "SECURITY",
        false
    ),
    lint!(
        "OD01_tenant_table_without_tenant_id",
        "OD01_tenant_table_without_tenant_id",
        "Tenant-scoped table without tenant_id",
        Error,
        "SECURITY",
        true
    ),
    lint!(
        "OD02_allow_all_policy",
        "OD02_allow_all_policy",
        "Allow-all RLS policy",
        Warn,
        "SECURITY",
        true
    ),
    lint!(
        "OD03_security_definer_without_justification",
        "OD03_security_definer_without_justification",
        "SECURITY DEFINER function without a justification comment",
        Warn,
        "SECURITY",
        true
    ),
    lint!(
        "OD04_missing_timestamps",
        "OD04_missing_timestamps",
        "Table without created_at/updated_at",
        Info,
        "MAINTAINABILITY",
        true
    ),
    lint!(
        "OD05_extension_in_public",
        "OD05_extension_in_public",
        "Extension in the public schema",
        Warn,
        "SECURITY",
        true
    ),
    lint!(
        "OD06_object_count",
        "OD06_object_count",
        "Large number of database objects",
        Warn,
        "PERFORMANCE",
        true
    ),
];

/// What a lint needs of a database, from the `-- requires-…:` lines of its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requires {
    pub roles: Vec<String>,
    pub schemas: Vec<String>,
    pub relations: Vec<String>,
    pub extensions: Vec<String>,
    pub exposed: bool,
    /// One line on the safe fix the query offers, if any.
    pub fix: Option<String>,
}

pub fn requires(sql: &str) -> Requires {
    let mut r = Requires::default();
    let list = |v: &str| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    };
    for line in sql
        .lines()
        .map(str::trim)
        .take_while(|l| l.starts_with("--") || l.is_empty())
    {
        let Some((key, value)) = line.trim_start_matches('-').trim().split_once(':') else {
            continue;
        };
        match key.trim() {
            "requires-roles" => r.roles = list(value),
            "requires-schemas" => r.schemas = list(value),
            "requires-relations" => r.relations = list(value),
            "requires-extensions" => r.extensions = list(value),
            "requires-exposed" => r.exposed = value.trim() == "true",
            "fix" => r.fix = Some(value.trim().to_string()).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    r
}

pub fn find(name_or_id: &str) -> Option<&'static LintDef> {
    LINTS
        .iter()
        .find(|l| l.id == name_or_id || l.name == name_or_id || l.id.get(..4) == Some(name_or_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lint_file_is_a_single_query_with_a_header_naming_it() {
        assert_eq!(
            LINTS.iter().filter(|l| !l.ours).count(),
            28,
            "splinter's 0001-0029 without 0012"
        );
        for l in LINTS {
            assert!(
                l.sql.lines().next().unwrap_or_default().trim() == format!("-- lint: {}", l.id),
                "{}: header",
                l.id
            );
            let body: String = l
                .sql
                .lines()
                .filter(|x| !x.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                !body.trim_end().ends_with(';'),
                "{}: no trailing semicolon",
                l.id
            );
            assert!(body.to_lowercase().contains("select"), "{}", l.id);
        }
        let mut names: Vec<_> = LINTS.iter().map(|l| l.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), LINTS.len(), "names are unique");
    }

    #[test]
    fn requirement_headers_are_parsed() {
        let r = requires("-- lint: x\n-- requires-roles: anon, authenticated\n-- requires-exposed: true\n-- fix: enable RLS\nselect 1");
        assert_eq!(r.roles, ["anon", "authenticated"]);
        assert!(r.exposed);
        assert_eq!(r.fix.as_deref(), Some("enable RLS"));
        assert!(requires("select 1").roles.is_empty());
    }

    #[test]
    fn levels_parse_and_map_to_sarif() {
        assert_eq!(Level::parse("warn"), Some(Level::Warn));
        assert_eq!(Level::parse("bogus"), None);
        assert_eq!(Level::Error.sarif(), "error");
        assert!(Level::Error > Level::Warn && Level::Warn > Level::Info);
    }
}
