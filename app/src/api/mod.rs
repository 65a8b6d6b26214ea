//! Server functions, one file per capability. Each is thin: check the caller, call the
//! repository inside a claimed transaction, audit, map errors.
pub mod audit;
pub mod auth;
pub mod members;
pub mod projects;
pub mod tokens;
