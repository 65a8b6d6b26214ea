//! Observability: structured logging, Prometheus metrics and per-request tracking.
//!
//! Typical wiring:
//! ```ignore
//! telemetry::init_logging(json, "info,sqlx=warn")?;
//! let metrics = telemetry::Metrics::default();
//! let router = router.layer(axum::middleware::from_fn_with_state(metrics.clone(), telemetry::track));
//! // GET /metrics => ([(CONTENT_TYPE, telemetry::METRICS_CONTENT_TYPE)], metrics.render())
//! ```

pub mod logging;
pub mod metrics;
pub mod request;

pub use logging::{init as init_logging, JsonFormat, SpanFieldsLayer};
pub use metrics::{Metrics, CONTENT_TYPE as METRICS_CONTENT_TYPE, DURATION_BUCKETS};
pub use request::{is_valid_request_id, track, RequestId, REQUEST_ID_HEADER};
