//! One file per screen.
pub mod audit;
pub mod dashboard;
pub mod errors;
pub mod login;
pub mod members;
pub mod project;
pub mod tokens;
