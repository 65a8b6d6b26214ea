//! Minimal Prometheus registry rendered in the text exposition format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Upper bounds (seconds) of the request-duration histogram; `+Inf` is implicit.
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Content type to serve [`Metrics::render`] with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Cheaply clonable handle to the process-wide metrics.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Inner>);

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// (method, route, status) -> count
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) -> histogram
    durations: BTreeMap<(String, String), Histogram>,
    /// name -> (help, value)
    gauges: BTreeMap<String, (String, f64)>,
}

#[derive(Default)]
struct Histogram {
    /// Cumulative counts per bucket in [`DURATION_BUCKETS`].
    buckets: [u64; DURATION_BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one finished HTTP request. `route` must be a route template, never a raw path.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let seconds = if seconds.is_finite() && seconds > 0.0 {
            seconds
        } else {
            0.0
        };
        let mut state = self.lock();
        *state
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let hist = state
            .durations
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        for (bound, slot) in DURATION_BUCKETS.iter().zip(hist.buckets.iter_mut()) {
            if seconds <= *bound {
                *slot += 1;
            }
        }
        hist.sum += seconds;
        hist.count += 1;
    }

    /// Sets (creating if needed) a label-less gauge, e.g. `odooops_db_pool_connections`.
    /// Names that are not valid Prometheus metric names are ignored.
    pub fn set_gauge(&self, name: &str, help: &str, value: f64) {
        if !is_valid_metric_name(name) {
            tracing::warn!(name, "ignoring gauge with invalid metric name");
            return;
        }
        self.lock()
            .gauges
            .insert(name.to_owned(), (help.to_owned(), value));
    }

    /// Renders every metric in the Prometheus text format (deterministic order).
    pub fn render(&self) -> String {
        let state = self.lock();
        let mut out = String::with_capacity(1024);
        out.push_str("# HELP odooops_http_requests_total Total HTTP requests handled.\n");
        out.push_str("# TYPE odooops_http_requests_total counter\n");
        for ((method, route, status), count) in &state.requests {
            let _ = writeln!(
                out,
                "odooops_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape_label(method),
                escape_label(route),
            );
        }
        let name = "odooops_http_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} HTTP request latency in seconds.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for ((method, route), hist) in &state.durations {
            let labels = format!(
                "method=\"{}\",route=\"{}\"",
                escape_label(method),
                escape_label(route)
            );
            for (bound, count) in DURATION_BUCKETS.iter().zip(hist.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{labels},le=\"{}\"}} {count}",
                    fmt_value(*bound)
                );
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", hist.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", fmt_value(hist.sum));
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", hist.count);
        }
        for (name, (help, value)) in &state.gauges {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {}", fmt_value(*value));
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Label values: backslash, double quote and line feed are escaped.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text: backslash and line feed are escaped.
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `name{labels} value` sample lines into (name, labels, value).
    fn samples(text: &str) -> Vec<(String, String, f64)> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').unwrap();
                let (name, labels) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().unwrap(),
                };
                (name.to_owned(), labels.to_owned(), value)
            })
            .collect()
    }

    #[test]
    fn counters_and_cumulative_histogram() {
        let m = Metrics::new();
        m.observe_request("GET", "/api/projects", 200, 0.003);
        m.observe_request("GET", "/api/projects", 200, 0.2);
        m.observe_request("GET", "/api/projects", 500, 20.0);
        m.observe_request("POST", "/api/projects", 201, 0.05);
        let text = m.render();
        assert!(text.contains("# TYPE odooops_http_requests_total counter\n"));
        assert!(text.contains("# TYPE odooops_http_request_duration_seconds histogram\n"));
        let s = samples(&text);
        let get = |name: &str, labels: &str| {
            s.iter()
                .find(|(n, l, _)| n == name && l == labels)
                .map(|x| x.2)
                .unwrap_or(-1.0)
        };
        let total = "odooops_http_requests_total";
        assert_eq!(
            get(total, r#"method="GET",route="/api/projects",status="200""#),
            2.0
        );
        assert_eq!(
            get(total, r#"method="GET",route="/api/projects",status="500""#),
            1.0
        );
        assert_eq!(
            get(total, r#"method="POST",route="/api/projects",status="201""#),
            1.0
        );

        let bucket = "odooops_http_request_duration_seconds_bucket";
        let lbl = r#"method="GET",route="/api/projects""#;
        let series: Vec<f64> = s
            .iter()
            .filter(|(n, l, _)| n == bucket && l.starts_with(lbl))
            .map(|x| x.2)
            .collect();
        assert_eq!(series.len(), DURATION_BUCKETS.len() + 1);
        assert!(
            series.windows(2).all(|w| w[0] <= w[1]),
            "not cumulative: {series:?}"
        );
        assert_eq!(get(bucket, &format!("{lbl},le=\"0.005\"")), 1.0);
        assert_eq!(get(bucket, &format!("{lbl},le=\"0.25\"")), 2.0);
        assert_eq!(get(bucket, &format!("{lbl},le=\"10\"")), 2.0);
        assert_eq!(get(bucket, &format!("{lbl},le=\"+Inf\"")), 3.0);
        assert_eq!(get("odooops_http_request_duration_seconds_count", lbl), 3.0);
        let sum = get("odooops_http_request_duration_seconds_sum", lbl);
        assert!((sum - 20.203).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn labels_escaped_gauges_rendered_and_poison_tolerated() {
        let m = Metrics::default();
        m.observe_request("GET", "a\"b\\c\nd", 404, 0.01);
        m.set_gauge(
            "odooops_db_pool_connections",
            "Open pool\nconnections.",
            3.0,
        );
        m.set_gauge(
            "odooops_db_pool_connections",
            "Open pool\nconnections.",
            4.0,
        );
        m.set_gauge("bad name", "ignored", 1.0);
        let text = m.render();
        assert!(text.contains(r#"route="a\"b\\c\nd""#), "{text}");
        assert!(text.contains("# HELP odooops_db_pool_connections Open pool\\nconnections.\n"));
        assert!(text
            .contains("# TYPE odooops_db_pool_connections gauge\nodooops_db_pool_connections 4\n"));
        assert!(!text.contains("bad name"));

        let clone = m.clone();
        let _ = std::thread::spawn(move || {
            let _guard = clone.0.state.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(m.0.state.is_poisoned());
        m.observe_request("GET", "/", 200, 0.001);
        assert!(m.render().contains(r#"route="/",status="200"} 1"#));
    }
}
