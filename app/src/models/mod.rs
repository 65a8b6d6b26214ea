//! Types shared by the browser and the server.
mod audit_chain;
mod builds;
mod error;
mod gates;
mod mail;
pub mod neutralize;
mod role;
mod steps;
mod views;

pub use audit_chain::*;
pub use builds::*;
pub use error::AppError;
pub use gates::*;
pub use mail::*;
pub use neutralize::*;
pub use steps::{BuildConfig, StartStep, Step};
pub use role::{validate_password, Capability, Role, Stage};
pub use views::*;
