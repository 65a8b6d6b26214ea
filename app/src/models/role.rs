use serde::{Deserialize, Serialize};
use std::fmt;

/// A member's role in a tenant. Mirrors the `ops.role` PostgreSQL enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(feature = "ssr", sqlx(type_name = "ops.role", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Sysadmin,
    Developer,
    Tester,
    Pm,
}

/// What a role may do. Every server function checks one of these on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    ViewDashboard,
    ManageMembers,
    ManageApiTokens,
    ViewAudit,
    /// See the build grid, build logs and previews.
    ViewBuilds,
    /// Cancel and rebuild builds.
    OperateBuilds,
    /// See webhook deliveries (what a push caused).
    ViewDeliveries,
    /// Set a project's webhook secret and build settings.
    ManageBuildSettings,
    /// Read the mail dev and staging environments sent.
    ViewMail,
    /// See SMTP credentials, rotate them, set retention, delete and clear captured mail.
    ManageMail,
    /// Forward a captured mail to an allow-listed real address.
    ReleaseMail,
    /// See the promotion pipeline, pending approvals, history and gate results.
    ViewPromotions,
    /// Ask for a build to be promoted to the next stage (and cancel one's own request).
    RequestPromotion,
    /// Approve or reject a promotion request (never one's own).
    ApprovePromotion,
    /// Go past a failing preflight gate, with a written reason.
    OverrideGate,
    /// Re-promote an environment's previous build.
    Rollback,
    /// Edit neutralization rules and gate thresholds of a project.
    ManagePromotionSettings,
    /// Check the audit log's hash chain.
    VerifyAudit,
    /// See backups, schedules and restores.
    ViewBackups,
    /// Take a manual backup, cancel a running one.
    RunBackup,
    /// Restore a backup into staging (neutralized).
    RestoreStaging,
    /// Restore a backup into production: the dangerous one.
    RestoreProduction,
    /// Download a backup's parts.
    DownloadBackup,
    /// Edit schedules, retention and storage.
    ManageBackups,
    /// Open a web shell on development or staging (production: see `models::may_open_shell`).
    OpenShell,
    /// See shell sessions and replay their transcripts (one's own; admins and sysadmins all).
    ViewShellSessions,
    /// Set the tenant's shell time limits.
    ManageShellSettings,
    /// Add and remove one's own SSH public keys.
    ManageOwnSshKeys,
    ViewScans,
    RunScan,
    SuppressFinding,
    ApplyFixPlan,
    ManageScanSettings,
    /// Link and unlink Supabase projects, write through the Supabase panel.
    ManageSupabase,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Sysadmin, Role::Developer, Role::Tester, Role::Pm];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Sysadmin => "sysadmin",
            Role::Developer => "developer",
            Role::Tester => "tester",
            Role::Pm => "pm",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Sysadmin => "Sysadmin",
            Role::Developer => "Developer",
            Role::Tester => "Tester",
            Role::Pm => "Project manager",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim().to_ascii_lowercase())
    }

    pub fn allows(self, cap: Capability) -> bool {
        match cap {
            Capability::ViewDashboard => true,
            Capability::ManageMembers | Capability::ManageApiTokens => self == Role::Admin,
            Capability::ViewAudit => matches!(self, Role::Admin | Role::Sysadmin),
            Capability::ViewBuilds => true,
            Capability::OperateBuilds | Capability::ViewDeliveries => {
                matches!(self, Role::Admin | Role::Sysadmin | Role::Developer)
            }
            Capability::ManageBuildSettings => self == Role::Admin,
            Capability::ViewMail => true,
            Capability::ManageMail => matches!(self, Role::Admin | Role::Sysadmin | Role::Developer),
            Capability::ReleaseMail => matches!(self, Role::Admin | Role::Sysadmin | Role::Developer | Role::Tester),
            Capability::ViewPromotions => true,
            Capability::RequestPromotion => matches!(self, Role::Admin | Role::Sysadmin | Role::Developer | Role::Pm),
            Capability::ApprovePromotion => matches!(self, Role::Admin | Role::Pm),
            Capability::OverrideGate | Capability::ManagePromotionSettings | Capability::VerifyAudit => self == Role::Admin,
            Capability::Rollback => matches!(self, Role::Admin | Role::Sysadmin | Role::Pm),
            Capability::ViewBackups => matches!(self, Role::Admin | Role::Sysadmin | Role::Developer | Role::Pm),
            Capability::RunBackup | Capability::RestoreStaging | Capability::DownloadBackup | Capability::ManageBackups => {
                matches!(self, Role::Admin | Role::Sysadmin)
            }
            Capability::RestoreProduction => self == Role::Sysadmin,
            Capability::OpenShell | Capability::ViewShellSessions => matches!(self, Role::Admin | Role::Sysadmin | Role::Developer),
            Capability::ManageShellSettings => self == Role::Admin,
            Capability::ManageOwnSshKeys => true,
            Capability::ViewScans => matches!(self, Role::Admin | Role::Sysadmin | Role::Developer | Role::Pm),
            Capability::RunScan => matches!(self, Role::Admin | Role::Sysadmin | Role::Developer),
            Capability::SuppressFinding | Capability::ManageScanSettings => self == Role::Admin,
            Capability::ApplyFixPlan => self == Role::Sysadmin,
            Capability::ManageSupabase => self == Role::Admin,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An environment's stage. Mirrors the `ops.stage` PostgreSQL enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(feature = "ssr", sqlx(type_name = "ops.stage", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Production,
    Staging,
    Development,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Production => "production",
            Stage::Staging => "staging",
            Stage::Development => "development",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_manage_members_and_tokens() {
        for role in Role::ALL {
            assert_eq!(role.allows(Capability::ManageMembers), role == Role::Admin);
            assert_eq!(role.allows(Capability::ManageApiTokens), role == Role::Admin);
        }
    }

    #[test]
    fn audit_is_for_admins_and_sysadmins() {
        let allowed: Vec<_> = Role::ALL.into_iter().filter(|r| r.allows(Capability::ViewAudit)).collect();
        assert_eq!(allowed, vec![Role::Admin, Role::Sysadmin]);
    }

    #[test]
    fn developers_and_up_operate_builds_but_testers_and_pms_only_watch() {
        for role in Role::ALL {
            assert!(role.allows(Capability::ViewBuilds));
            let operates = matches!(role, Role::Admin | Role::Sysadmin | Role::Developer);
            assert_eq!(role.allows(Capability::OperateBuilds), operates, "{role}");
        }
    }

    #[test]
    fn everyone_reads_mail_developers_manage_it_and_pms_cannot_release_it() {
        for role in Role::ALL {
            assert!(role.allows(Capability::ViewMail));
            assert_eq!(role.allows(Capability::ManageMail), matches!(role, Role::Admin | Role::Sysadmin | Role::Developer), "{role}");
            assert_eq!(role.allows(Capability::ReleaseMail), role != Role::Pm, "{role}");
        }
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough password").is_ok());
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        assert_eq!(Role::parse(" PM "), Some(Role::Pm));
        assert_eq!(Role::parse("root"), None);
    }
}

/// Minimum rules for a password a person sets (checked in the form and on the server).
pub fn validate_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        return Err("at least 10 characters.".into());
    }
    if password.len() > 256 {
        return Err("256 bytes at most.".into());
    }
    Ok(())
}
