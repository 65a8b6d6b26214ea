//! Global tracing subscriber: human-readable output or one JSON object per line.
//!
//! JSON lines look like
//! `{"ts":"2025-01-01T12:00:00.123Z","level":"info","component":"odooops::db","message":"...",<event fields>,<span fields>}`.
//! Span fields (e.g. `request_id`, `method`, `path`) are collected by [`SpanFieldsLayer`];
//! when a key occurs more than once the innermost value (event first, then leaf span) wins.

use std::fmt;

use anyhow::Context as _;
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keys written first by [`JsonFormat`]; event/span fields with these names are dropped.
const RESERVED: [&str; 4] = ["ts", "level", "component", "message"];

/// Installs the global subscriber. `filter` uses `EnvFilter` syntax (e.g. `info,sqlx=warn`).
/// If a global subscriber is already installed this is a no-op and returns `Ok(())`.
pub fn init(json: bool, filter: &str) -> anyhow::Result<()> {
    let env_filter =
        EnvFilter::try_new(filter).with_context(|| format!("invalid log filter {filter:?}"))?;
    let result = if json {
        json_subscriber(env_filter, std::io::stdout).try_init()
    } else {
        tracing_subscriber::registry()
            .with(env_filter)
            .with(tracing_subscriber::fmt::layer())
            .try_init()
    };
    // An error only means a subscriber (or `log` logger) was installed before: not fatal.
    if let Err(err) = result {
        tracing::debug!(error = %err, "global tracing subscriber already installed");
    }
    Ok(())
}

/// A subscriber writing JSON lines to `writer` (used by [`init`] and by tests).
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry()
        .with(filter)
        .with(SpanFieldsLayer)
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonFormat)
                .with_writer(writer),
        )
}

/// Span extension holding the span's recorded fields in declaration order.
#[derive(Debug, Default, Clone)]
pub struct SpanFields(pub Vec<(String, Value)>);

impl SpanFields {
    fn upsert(&mut self, key: String, value: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

/// Layer that records every span's fields as JSON values into its extensions.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanFieldsLayer;

impl<S> Layer<S> for SpanFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        attrs.record(&mut JsonVisitor(&mut fields));
        span.extensions_mut().replace(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanFields>() {
            Some(fields) => values.record(&mut JsonVisitor(fields)),
            None => {
                let mut fields = SpanFields::default();
                values.record(&mut JsonVisitor(&mut fields));
                ext.insert(fields);
            }
        }
    }
}

/// Converts recorded field values to JSON: strings, numbers and bools natively, the rest via `Debug`.
struct JsonVisitor<'a>(&'a mut SpanFields);

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.upsert(field.name().to_owned(), value);
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value)); // NaN/inf become null
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        let v = i64::try_from(value).map_or_else(|_| Value::from(value.to_string()), Value::from);
        self.put(field, v);
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        let v = u64::try_from(value).map_or_else(|_| Value::from(value.to_string()), Value::from);
        self.put(field, v);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

/// `FormatEvent` producing one JSON object per line (see the module docs for the layout).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonFormat;

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = SpanFields::default();
        event.record(&mut JsonVisitor(&mut fields));

        let meta = event.metadata();
        let mut component = meta.target().to_owned();
        let mut message = String::new();
        let mut rest: Vec<(String, Value)> = Vec::with_capacity(fields.0.len());
        for (key, value) in fields.0 {
            match key.as_str() {
                "message" => message = value_to_text(value),
                // Events bridged from the `log` crate carry their real target as a field.
                "log.target" => component = value_to_text(value),
                k if k.starts_with("log.") || RESERVED.contains(&k) => {}
                _ => rest.push((key, value)),
            }
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope {
                let ext = span.extensions();
                let Some(span_fields) = ext.get::<SpanFields>() else {
                    continue;
                };
                for (key, value) in &span_fields.0 {
                    let taken =
                        RESERVED.contains(&key.as_str()) || rest.iter().any(|(k, _)| k == key);
                    if !taken {
                        rest.push((key.clone(), value.clone()));
                    }
                }
            }
        }

        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        writer.write_str("{\"ts\":")?;
        write_json(&mut writer, &Value::from(ts))?;
        writer.write_str(",\"level\":")?;
        write_json(&mut writer, &Value::from(level_name(meta.level())))?;
        writer.write_str(",\"component\":")?;
        write_json(&mut writer, &Value::from(component))?;
        writer.write_str(",\"message\":")?;
        write_json(&mut writer, &Value::from(message))?;
        for (key, value) in &rest {
            writer.write_char(',')?;
            write_json(&mut writer, &Value::from(key.as_str()))?;
            writer.write_char(':')?;
            write_json(&mut writer, value)?;
        }
        writer.write_str("}\n")
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

fn value_to_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn write_json(writer: &mut Writer<'_>, value: &Value) -> fmt::Result {
    // `Value`'s Display is its compact JSON serialization and cannot fail.
    write!(writer, "{value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn capture(f: impl FnOnce()) -> Vec<String> {
        let buf = Buf::default();
        let subscriber = json_subscriber(EnvFilter::new("trace"), buf.clone());
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn json_line_has_core_keys_and_span_fields() {
        let lines = capture(|| {
            let outer =
                tracing::info_span!("request", request_id = %"req-1", method = "GET", path = "/x");
            let _o = outer.enter();
            let inner = tracing::info_span!("db", request_id = "inner-wins", project_id = 7_u64);
            let _i = inner.enter();
            tracing::warn!(target: "odooops::db::embedded", rows = 3, ok = true, what = ?Some(1), "hello {}", "world");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["component"], "odooops::db::embedded");
        assert_eq!(v["message"], "hello world");
        assert_eq!(v["rows"], 3);
        assert_eq!(v["ok"], true);
        assert_eq!(v["what"], "Some(1)");
        assert_eq!(v["request_id"], "inner-wins");
        assert_eq!(v["project_id"], 7);
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/x");
        let ts = v["ts"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z') && ts.len() == 24,
            "{ts}"
        );
        // Key order: ts, level, component, message, then the rest.
        let pos = |k: &str| line.find(&format!("\"{k}\":")).unwrap();
        assert!(pos("ts") < pos("level") && pos("level") < pos("component"));
        assert!(pos("component") < pos("message") && pos("message") < pos("rows"));
        assert!(pos("rows") < pos("request_id"));
    }

    #[test]
    fn span_record_updates_fields_and_filter_applies() {
        let lines = capture(|| {
            let span = tracing::info_span!(
                "request",
                request_id = "r-2",
                status = tracing::field::Empty
            );
            span.record("status", 201_u16);
            span.in_scope(|| tracing::info!("done"));
            tracing::info!(message = "outside");
        });
        assert_eq!(lines.len(), 2);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (v["request_id"].as_str(), v["status"].as_u64()),
            (Some("r-2"), Some(201))
        );
        let v: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(v["message"], "outside");
        assert!(v.get("request_id").is_none());
    }

    #[test]
    fn init_is_idempotent_and_rejects_bad_filters() {
        // "off" keeps the global subscriber from writing to stdout during other tests.
        assert!(init(true, "off").is_ok());
        assert!(init(false, "off").is_ok());
        assert!(init(true, "odooops=notalevel[").is_err());
    }
}
