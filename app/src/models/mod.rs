//! Types shared by the browser and the server.

/// A Rust enum mirroring a PostgreSQL enum, with `as_str`, `parse` and `Display`.
macro_rules! pg_enum {
    ($(#[$m:meta])* $name:ident, $pg:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "ssr", derive(sqlx::Type))]
        #[cfg_attr(feature = "ssr", sqlx(type_name = $pg, rename_all = "snake_case"))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s.trim())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod audit_chain;
mod backups;
mod builds;
mod error;
mod gates;
mod mail;
pub mod neutralize;
mod promotions;
mod role;
mod scanner;
mod shell;
mod steps;
pub mod supabase;
mod views;

pub use audit_chain::*;
pub use backups::*;
pub use builds::*;
pub use error::AppError;
pub use gates::*;
pub use mail::*;
pub use neutralize::*;
pub use promotions::*;
pub use scanner::*;
pub use shell::*;
pub use steps::{BuildConfig, StartStep, Step};
pub use role::{validate_password, Capability, Role, Stage};
pub use views::*;
