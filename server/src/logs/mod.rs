//! Build and app logs: level parsing, batched ingest, the notification hub, the live tail
//! (SSE) and the CSV export.
pub mod export;
pub mod hub;
pub mod level;
pub mod sink;
pub mod tail;
