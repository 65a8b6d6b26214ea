//! Reading a severity out of a log line written by a build tool or an app.
use app::models::LogLevel;

/// The level a line announces: a level word at the start or after a timestamp/pid
/// (Odoo: `2026-11-23 10:00:00,123 42 ERROR db odoo.x: ...`; Python logging, Rust tracing,
/// `npm WARN`, `E: ...` from apt), or a well-known failure marker anywhere. Otherwise `fallback`.
pub fn parse(line: &str, fallback: LogLevel) -> LogLevel {
    let trimmed = line.trim_start();
    let words = trimmed.split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == '|').filter(|w| !w.is_empty());
    for word in words.take(4) {
        if let Some(level) = word_level(word.trim_end_matches(':')) {
            return level;
        }
    }
    if trimmed.starts_with("E: ") || trimmed.starts_with("Traceback (most recent call last)") {
        return LogLevel::Error;
    }
    if trimmed.starts_with("W: ") {
        return LogLevel::Warning;
    }
    let lower = trimmed.to_ascii_lowercase();
    if lower.contains("panicked at") || lower.starts_with("fatal:") || lower.contains("npm err!") {
        return LogLevel::Error;
    }
    fallback
}

fn word_level(word: &str) -> Option<LogLevel> {
    match word {
        "ERROR" | "error" | "Error" | "CRITICAL" | "FATAL" | "ERR" => Some(LogLevel::Error),
        "WARNING" | "WARN" | "warning" | "warn" | "Warning" => Some(LogLevel::Warning),
        "INFO" | "info" => Some(LogLevel::Info),
        "DEBUG" | "debug" | "TRACE" | "trace" => Some(LogLevel::Debug),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoo_lines_carry_their_level_after_the_timestamp_and_pid() {
        assert_eq!(parse("2026-11-23 10:00:00,123 42 ERROR db odoo.models: boom", LogLevel::Info), LogLevel::Error);
        assert_eq!(parse("2026-11-23 10:00:00,123 42 WARNING db odoo.fields: odd", LogLevel::Info), LogLevel::Warning);
        assert_eq!(parse("2026-11-23 10:00:00,123 42 DEBUG db odoo.sql: select", LogLevel::Info), LogLevel::Debug);
    }

    #[test]
    fn common_tool_prefixes_are_recognised() {
        assert_eq!(parse("error: could not compile `x`", LogLevel::Info), LogLevel::Error);
        assert_eq!(parse("warning: unused variable", LogLevel::Info), LogLevel::Warning);
        assert_eq!(parse("npm WARN deprecated x", LogLevel::Info), LogLevel::Warning);
        assert_eq!(parse("E: Unable to locate package foo", LogLevel::Info), LogLevel::Error);
        assert_eq!(parse("[ERROR] step failed", LogLevel::Info), LogLevel::Error);
        assert_eq!(parse("thread 'main' panicked at src/main.rs:1", LogLevel::Info), LogLevel::Error);
    }

    #[test]
    fn plain_lines_keep_the_fallback_and_words_inside_sentences_do_not_count() {
        assert_eq!(parse("Collecting requests", LogLevel::Info), LogLevel::Info);
        assert_eq!(parse("no errors found in 12 files, all good here", LogLevel::Info), LogLevel::Info);
        assert_eq!(parse("something on stderr", LogLevel::Warning), LogLevel::Warning);
    }
}
