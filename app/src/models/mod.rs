//! Types shared by the browser and the server.
mod error;
mod role;
mod views;

pub use error::AppError;
pub use role::{validate_password, Capability, Role, Stage};
pub use views::*;
