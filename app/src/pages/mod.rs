//! One file per screen.
pub mod audit;
pub mod audit_chain;
pub mod backups;
pub mod branch;
pub mod build;
pub mod builds;
pub mod dashboard;
pub mod errors;
pub mod login;
pub mod logs;
pub mod mail;
pub mod members;
pub mod neutralize;
pub mod project;
pub mod promotions;
pub mod tokens;
pub mod webhooks;
