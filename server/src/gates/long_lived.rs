//! Gate 6: long-lived connections. Configuration and code that count on a connection staying
//! open (Odoo's gevent/long-polling worker, websockets, LISTEN loops) warn: deploys and proxies
//! cut such connections, so the code must reconnect.
use super::workspace::{blank_comments, comment_style, is_build_file, is_config_file, is_python, SourceFile};
use super::{plural, Ctx, Source, Tally, Words};
use app::models::{Evidence, GateId, GateResult, GateStatus};
use regex::{Captures, Regex};
use std::sync::LazyLock;

struct Rule {
    files: fn(&SourceFile) -> bool,
    pattern: &'static str,
    /// What the match means, for the evidence.
    what: &'static str,
    /// Extra condition on the match (a non-zero value, a database driver in the file).
    keep: fn(&Captures, &SourceFile) -> bool,
}

fn always(_: &Captures, _: &SourceFile) -> bool {
    true
}

/// `value` is set to something that turns the feature on (not 0, False or empty).
fn enabled(c: &Captures, _: &SourceFile) -> bool {
    let v = c.name("value").map(|m| m.as_str().trim_matches(|c| c == '"' || c == '\'')).unwrap_or("");
    !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("none"))
}

fn db_driver(_: &Captures, f: &SourceFile) -> bool {
    f.text.contains("psycopg") || f.text.contains("asyncpg")
}

fn config_or_build(f: &SourceFile) -> bool {
    is_config_file(f) || is_build_file(f)
}

const RULES: [Rule; 10] = [
    Rule {
        files: is_config_file,
        pattern: r"(?im)^[ \t]*workers[ \t]*=[ \t]*(?P<value>\d+)",
        what: "multi-process mode: Odoo starts a gevent worker that holds websocket connections open",
        keep: enabled,
    },
    Rule {
        files: is_config_file,
        pattern: r"(?im)^[ \t]*(?:gevent_port|longpolling_port)[ \t]*=[ \t]*(?P<value>\S*)",
        what: "port of Odoo's websocket / long-polling worker",
        keep: enabled,
    },
    Rule {
        files: config_or_build,
        pattern: r"(?:^|\s)--(?:gevent-port|longpolling-port|gevent)\b",
        what: "starts Odoo's websocket / long-polling worker",
        keep: always,
    },
    Rule { files: config_or_build, pattern: r"(?:^|\s)--workers[= ](?P<value>\d+)", what: "multi-process mode with a gevent worker", keep: enabled },
    Rule {
        files: config_or_build,
        pattern: r"\b(?:odoo|odoo-bin|openerp-server)(?:\.py)?[ \t]+gevent\b",
        what: "runs Odoo's gevent (websocket) server",
        keep: always,
    },
    Rule { files: is_python, pattern: r#"(?i)["'][ \t]*LISTEN[ \t]+["\w]"#, what: "SQL LISTEN: waits for notifications on one database connection", keep: always },
    Rule {
        files: is_python,
        pattern: r"\.(?:add_listener|notifies|listen)\(",
        what: "listens for database notifications on one connection",
        keep: db_driver,
    },
    Rule {
        files: is_python,
        pattern: r"(?m)^[ \t]*(?:import|from)[ \t]+(?:websockets?|websocket_client|geventwebsocket|odoo\.addons\.bus\.websocket)\b",
        what: "websocket connection",
        keep: always,
    },
    Rule { files: is_python, pattern: r"\b(?:ImDispatch|bus\.Bus)\b", what: "Odoo bus long-polling internals", keep: always },
    Rule { files: is_python, pattern: r#"["']/longpolling/"#, what: "long-polling route", keep: always },
];

static COMPILED: LazyLock<Vec<Regex>> = LazyLock::new(|| RULES.iter().map(|r| Regex::new(r.pattern).expect("static regex")).collect());

pub(super) fn check(ctx: &Ctx<'_>) -> GateResult {
    let gate = GateId::LongLivedConnections;
    let ws = match &ctx.files {
        Source::Missing => return GateResult::skipped(gate, "no workspace to check"),
        Source::Failed(e) => return super::could_not_check(gate, "workspace", e.clone()),
        Source::Ready(ws) => ws,
    };
    let mut t = Tally::default();
    t.note_files(&ctx.files);
    for f in &ws.files {
        let applicable: Vec<usize> = (0..RULES.len()).filter(|&i| (RULES[i].files)(f)).collect();
        if applicable.is_empty() {
            continue;
        }
        let text = blank_comments(&f.text, comment_style(f));
        for i in applicable {
            let rule = &RULES[i];
            for cap in COMPILED[i].captures_iter(&text).filter(|c| (rule.keep)(c, f)) {
                let Some(m) = cap.get(0) else { continue };
                let at = m.start() + m.as_str().len() - m.as_str().trim_start().len();
                t.bad.push(Evidence::new(f.location(at), format!("{} ({})", f.line_text(at), rule.what)));
            }
        }
    }
    t.bad.sort_by(|a, b| a.location.cmp(&b.location));
    t.finish(
        gate,
        GateStatus::Warn,
        |bad| Words {
            summary: format!("{} on long-lived connections", plural(bad.len(), "place counts", "places count")),
            explanation: "Websockets, long-polling requests and LISTEN/NOTIFY loops keep one connection open for minutes or hours. The platform cuts \
                 every such connection when it deploys or restarts a worker, and proxies close connections that stay open or idle past their \
                 timeout (often 60 to 120 seconds). Code that assumes the connection stays open then misses messages or hangs."
                .into(),
            fix: "Use Odoo's bus for live updates (its client reconnects by itself). In your own listeners, reconnect with a back-off and subscribe \
                  again, treat notifications as hints and re-read the state from the database, or move the work to a queue job. Leave workers and \
                  gevent_port to the platform if it manages Odoo's processes for you."
                .into(),
        },
        || Words {
            summary: "nothing counts on long-lived connections".into(),
            explanation: "No configuration or code found that keeps connections open (websockets, long-polling, LISTEN loops).".into(),
            fix: String::new(),
        },
    )
}
