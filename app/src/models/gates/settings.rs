//! Per-project thresholds of the preflight gates.
use serde::{Deserialize, Serialize};

/// What the gates accept. Missing fields take their defaults, so stored settings survive new
/// fields being added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GateSettings {
    /// Extensions the environment database may have or the build may create (`plpgsql` is
    /// always allowed: it is installed in every database).
    pub allowed_extensions: Vec<String>,
    /// Objects in the environment database (relations, functions, types, constraints,
    /// triggers, policies, schemas) at which the object-count gate warns…
    pub objects_warn: i64,
    /// …and at which it fails.
    pub objects_fail: i64,
    /// A scheduled job whose run took longer than this is disabled.
    pub cron_max_seconds: i64,
    /// How far back the cron gate looks at runs.
    pub cron_window_hours: i64,
    /// Ports an outgoing mail server may use.
    pub smtp_allowed_ports: Vec<i32>,
}

/// The default allowed extensions. The rule: extensions that ship with PostgreSQL itself
/// (contrib), run as trusted code inside the database without reaching the server's files,
/// other servers or the operating system, and are offered by the usual managed hosts (RDS,
/// Cloud SQL, Azure), so a database that uses them can move between hosts. `unaccent` and
/// `pg_trgm` are what Odoo itself uses (the `unaccent` option, trigram indexes for search);
/// `btree_gin`/`btree_gist` serve composite indexes; `citext`, `hstore`, `fuzzystrmatch`,
/// `intarray`, `tablefunc` are data types and functions some community modules need;
/// `pgcrypto` and `uuid-ossp` generate hashes and ids; `pg_stat_statements` is read-only
/// diagnostics. `vector` (pgvector) is not contrib but every managed host offers it and
/// Odoo's AI features use it. Left out on purpose: `postgis` (large, tied to OS libraries and
/// to the PostgreSQL version on upgrades), `pg_cron` (a scheduler inside the database, outside
/// Odoo's control), `dblink`/`postgres_fdw`/`file_fdw`/`adminpack` (reach other servers or
/// the server's files) and untrusted languages such as `plpython3u` (run any code as the
/// database server's OS user).
pub const DEFAULT_ALLOWED_EXTENSIONS: [&str; 14] = [
    "plpgsql",
    "pg_trgm",
    "unaccent",
    "btree_gin",
    "btree_gist",
    "citext",
    "hstore",
    "fuzzystrmatch",
    "pgcrypto",
    "uuid-ossp",
    "intarray",
    "tablefunc",
    "pg_stat_statements",
    "vector",
];

impl Default for GateSettings {
    fn default() -> GateSettings {
        GateSettings {
            allowed_extensions: DEFAULT_ALLOWED_EXTENSIONS.iter().map(|s| s.to_string()).collect(),
            objects_warn: 8_000,
            objects_fail: 10_000,
            cron_max_seconds: 900,
            cron_window_hours: 24,
            smtp_allowed_ports: vec![465, 587],
        }
    }
}

/// The longest look-back of the cron gate: 30 days.
pub const MAX_CRON_WINDOW_HOURS: i64 = 24 * 30;

impl GateSettings {
    /// Whether the database may have extension `name` (case-insensitive; `plpgsql` always).
    pub fn allows_extension(&self, name: &str) -> bool {
        let name = name.trim();
        name.eq_ignore_ascii_case("plpgsql") || self.allowed_extensions.iter().any(|a| a.trim().eq_ignore_ascii_case(name))
    }

    pub fn allows_smtp_port(&self, port: i64) -> bool {
        self.smtp_allowed_ports.iter().any(|p| i64::from(*p) == port)
    }

    /// Checks the settings as an admin would enter them; the error is a sentence for the form.
    pub fn validate(&self) -> Result<(), String> {
        for name in &self.allowed_extensions {
            if !valid_extension_name(name) {
                return Err(format!(
                    "\"{name}\" is not an extension name: use 1-63 lowercase letters, digits, \"_\" or \"-\", starting with a letter or \"_\"."
                ));
            }
        }
        if self.objects_warn < 1 || self.objects_fail < 1 {
            return Err("The object thresholds must be positive numbers.".into());
        }
        if self.objects_warn >= self.objects_fail {
            return Err(format!(
                "The object warning threshold ({}) must be below the failure threshold ({}).",
                self.objects_warn, self.objects_fail
            ));
        }
        if self.cron_max_seconds < 1 {
            return Err("The longest allowed scheduled-job run must be at least 1 second.".into());
        }
        if !(1..=MAX_CRON_WINDOW_HOURS).contains(&self.cron_window_hours) {
            return Err(format!("The scheduled-job look-back must be between 1 and {MAX_CRON_WINDOW_HOURS} hours."));
        }
        if self.smtp_allowed_ports.is_empty() {
            return Err("Allow at least one SMTP port (465 and 587 are the usual ones).".into());
        }
        if let Some(p) = self.smtp_allowed_ports.iter().find(|p| !(1..=65535).contains(*p)) {
            return Err(format!("{p} is not a port: ports go from 1 to 65535."));
        }
        Ok(())
    }
}

fn valid_extension_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    name.len() <= 63
        && (first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}
