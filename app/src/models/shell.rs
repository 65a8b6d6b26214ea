//! Web shell sessions, their transcripts and users' SSH keys (issue 8).
use super::{Role, Stage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pg_enum!(
    /// Whether a shell session can still be attached to.
    ExecState, "ops.exec_state" { Open = "open", Closed = "closed" }
);

pg_enum!(
    /// How a shell session ended.
    EndReason, "ops.exec_end_reason" {
        Ttl = "ttl",
        Idle = "idle",
        Exited = "exited",
        ClosedByUser = "closed_by_user",
        ServerShutdown = "server_shutdown",
        Lost = "lost",
        NeverAttached = "never_attached",
    }
);

impl EndReason {
    /// The words shown to a person.
    pub fn label(self) -> &'static str {
        match self {
            EndReason::Ttl => "time limit reached",
            EndReason::Idle => "idle timeout",
            EndReason::Exited => "shell exited",
            EndReason::ClosedByUser => "closed by user",
            EndReason::ServerShutdown => "console stopped",
            EndReason::Lost => "console went away",
            EndReason::NeverAttached => "never attached",
        }
    }
}

pg_enum!(
    /// Which way a transcript chunk went.
    ExecDirection, "ops.exec_direction" { Input = "input", Output = "output", Resize = "resize" }
);

/// The hard ceiling of a session's TTL, whatever an admin configures.
pub const MAX_TTL_MINUTES: i32 = 30;

/// Who may open a shell where: developers and up on development and staging; production
/// needs the sysadmin role.
pub fn may_open_shell(role: Role, stage: Stage) -> bool {
    match stage {
        Stage::Production => role == Role::Sysadmin,
        Stage::Staging | Stage::Development => matches!(role, Role::Admin | Role::Sysadmin | Role::Developer),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ShellSettings {
    pub default_ttl_minutes: i32,
    pub max_ttl_minutes: i32,
    pub idle_minutes: i32,
}

impl Default for ShellSettings {
    fn default() -> Self {
        ShellSettings { default_ttl_minutes: 15, max_ttl_minutes: MAX_TTL_MINUTES, idle_minutes: 10 }
    }
}

/// The settings form as typed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShellSettingsForm {
    pub default_ttl_minutes: String,
    pub max_ttl_minutes: String,
    pub idle_minutes: String,
}

impl ShellSettingsForm {
    pub fn validate(&self) -> Result<ShellSettings, String> {
        let minutes = |label: &str, v: &str| -> Result<i32, String> {
            match v.trim().parse::<i32>() {
                Ok(n) if (1..=MAX_TTL_MINUTES).contains(&n) => Ok(n),
                _ => Err(format!("{label}: a whole number of minutes from 1 to {MAX_TTL_MINUTES}.")),
            }
        };
        let s = ShellSettings {
            default_ttl_minutes: minutes("Default time limit", &self.default_ttl_minutes)?,
            max_ttl_minutes: minutes("Longest time limit", &self.max_ttl_minutes)?,
            idle_minutes: minutes("Idle timeout", &self.idle_minutes)?,
        };
        if s.default_ttl_minutes > s.max_ttl_minutes {
            return Err("Default time limit: at most the longest time limit.".into());
        }
        Ok(s)
    }
}

/// The TTL a user asked for, checked against the tenant's settings.
pub fn parse_ttl_minutes(input: &str, settings: &ShellSettings) -> Result<i32, String> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(settings.default_ttl_minutes);
    }
    match input.parse::<i32>() {
        Ok(n) if (1..=settings.max_ttl_minutes).contains(&n) => Ok(n),
        _ => Err(format!("Time limit: from 1 to {} minutes.", settings.max_ttl_minutes)),
    }
}

/// One row of the sessions list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ShellSessionRow {
    pub id: Uuid,
    pub project_slug: String,
    pub environment_id: Uuid,
    pub environment_name: String,
    pub stage: Stage,
    pub user_id: Uuid,
    pub user_email: String,
    pub state: ExecState,
    pub ttl_seconds: i32,
    pub os_user: String,
    pub workdir: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<EndReason>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub events: i64,
}

/// An environment in the "open a shell" picker, with whether the caller may open one there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShellTarget {
    pub environment_id: Uuid,
    pub project_slug: String,
    pub project_name: String,
    pub environment_name: String,
    pub stage: Stage,
    pub allowed: bool,
}

/// Filters of the sessions list (empty strings mean "any").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionFilter {
    pub environment: String,
    pub user: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShellOverview {
    pub settings: ShellSettings,
    pub targets: Vec<ShellTarget>,
    pub sessions: Vec<ShellSessionRow>,
    /// The caller's own open sessions: the terminals to reattach on load.
    pub mine_open: Vec<ShellSessionRow>,
    pub can_manage: bool,
}

/// A user's SSH public key as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct SshKeyRow {
    pub id: Uuid,
    pub name: String,
    pub algorithm: String,
    pub bits: i32,
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_shells_are_for_sysadmins_only() {
        for role in Role::ALL {
            assert_eq!(may_open_shell(role, Stage::Production), role == Role::Sysadmin, "{role}");
            let dev = matches!(role, Role::Admin | Role::Sysadmin | Role::Developer);
            assert_eq!(may_open_shell(role, Stage::Staging), dev, "{role}");
            assert_eq!(may_open_shell(role, Stage::Development), dev, "{role}");
        }
    }

    #[test]
    fn ttl_defaults_and_stays_within_the_tenant_limit() {
        let s = ShellSettings { default_ttl_minutes: 15, max_ttl_minutes: 20, idle_minutes: 5 };
        assert_eq!(parse_ttl_minutes("", &s), Ok(15));
        assert_eq!(parse_ttl_minutes(" 20 ", &s), Ok(20));
        assert!(parse_ttl_minutes("21", &s).is_err());
        assert!(parse_ttl_minutes("0", &s).is_err());
        assert!(parse_ttl_minutes("ten", &s).is_err());
    }

    #[test]
    fn settings_never_exceed_thirty_minutes_and_keep_default_below_max() {
        let form = |d: &str, m: &str, i: &str| ShellSettingsForm { default_ttl_minutes: d.into(), max_ttl_minutes: m.into(), idle_minutes: i.into() };
        assert!(form("15", "31", "10").validate().is_err());
        assert!(form("25", "20", "10").validate().is_err());
        assert!(form("15", "30", "x").validate().is_err());
        assert_eq!(form("10", "30", "5").validate(), Ok(ShellSettings { default_ttl_minutes: 10, max_ttl_minutes: 30, idle_minutes: 5 }));
    }
}
