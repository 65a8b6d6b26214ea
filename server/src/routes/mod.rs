//! HTTP routes outside Leptos: probes, metrics, the machine API.
pub mod health;
pub mod machine;
