//! Backup schedules: a 5-field cron expression (minute hour day-of-month month day-of-week)
//! read in an IANA time zone.
//!
//! `croner` does the matching. Its daylight saving rules are the ones a person expects of a
//! nightly job: a fixed-time run that falls in the spring-forward gap happens at the first
//! instant after the gap, and a fixed-time run in the repeated fall-back hour happens once, at
//! the earlier of the two instants. The tests below pin both.
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::{Cron, JobType};

/// Longest cron expression accepted (the column holds at most 100 characters).
const MAX_LEN: usize = 100;

/// How many runs `period` looks at, from `REFERENCE` on: enough to cover a weekend for a
/// weekdays-only schedule.
const SAMPLE_RUNS: usize = 8;

/// A fixed starting point for `period`: Monday 2026-01-05, away from daylight saving changes in
/// both hemispheres, so the answer does not depend on when it is asked.
fn reference() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).single().expect("a valid, unambiguous UTC time")
}

/// A parsed schedule: when backups run, in which time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
    tz: Tz,
    period: Duration,
}

/// Reads `cron` (5 fields, or a shortcut such as `@daily`) in `time_zone`. The error is a
/// sentence for the person who typed it.
pub fn parse(cron: &str, time_zone: &str) -> Result<Schedule, String> {
    let tz = self::time_zone(time_zone)?;
    let expression = cron.trim();
    if expression.is_empty() {
        return Err("the schedule is empty: give a cron expression such as “0 2 * * *”".into());
    }
    if expression.chars().count() > MAX_LEN {
        return Err(format!("the schedule is longer than {MAX_LEN} characters"));
    }
    if !expression.starts_with('@') {
        check_fields(expression).map_err(|e| format!("“{expression}”: {e}"))?;
    }
    let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
    let parsed = parser.parse(expression).map_err(|e| not_valid(expression, &e))?;
    // One minute value means at most one run per clock hour.
    if parsed.pattern.minutes.values().len() != 1 {
        return Err(format!(
            "“{expression}” runs more often than once an hour: give the minute as one number, \
             as in “0 * * * *”"
        ));
    }
    let period = longest_gap(&parsed, tz).ok_or_else(|| format!("“{expression}” never runs"))?;
    Ok(Schedule { expression: expression.to_string(), cron: parsed, tz, period })
}

impl Schedule {
    /// The first run strictly after `t`, or `None` if the expression never matches again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_run(&self.cron, self.tz, t)
    }

    /// The schedule in words, with its time zone: "At 02:00 every day (Europe/Brussels)".
    pub fn describe(&self) -> String {
        let words = self.cron.describe();
        let mut words = words.trim_end_matches('.').to_string();
        let pattern = &self.cron.pattern;
        let every_day = pattern.is_dom_wildcard()
            && pattern.is_dow_wildcard()
            && pattern.months.values().len() == 12;
        if every_day && self.cron.determine_job_type() == JobType::FixedTime {
            words.push_str(" every day");
        }
        format!("{words} ({})", self.tz.name())
    }

    /// The gap a watchdog should expect between two runs: the longest gap among the first
    /// few runs after a fixed reference date. For a regular schedule it is simply the period
    /// (a day, a week); for a weekdays-only one it is the weekend, so a quiet Sunday is not
    /// reported as a missed backup.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone the expression is read in.
    pub fn tz(&self) -> Tz {
        self.tz
    }
}

/// The first run of `cron` in `tz` strictly after `t` (croner works to the whole second).
fn next_run(cron: &Cron, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = t.with_timezone(&tz);
    cron.find_next_occurrence(&local, false).ok().map(|next| next.with_timezone(&Utc))
}

/// The longest gap between consecutive runs among `SAMPLE_RUNS` runs after `reference()`, or
/// `None` when the schedule does not run at least twice.
fn longest_gap(cron: &Cron, tz: Tz) -> Option<Duration> {
    let runs: Vec<_> = std::iter::successors(next_run(cron, tz, reference()), |t| next_run(cron, tz, *t))
        .take(SAMPLE_RUNS)
        .collect();
    runs.windows(2).map(|w| w[1] - w[0]).max()
}

/// The default nightly schedule: every day at `hour`:00.
pub fn default_cron(hour: u32) -> String {
    format!("0 {hour} * * *")
}

/// An IANA time zone by name ("Europe/Brussels", "UTC").
pub fn time_zone(name: &str) -> Result<Tz, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the time zone is empty: give an IANA name such as Europe/Brussels".into());
    }
    name.parse::<Tz>()
        .map_err(|_| format!("unknown time zone “{name}”: give an IANA name such as Europe/Brussels"))
}

/// The words croner could not parse, for the fields our own checks let through.
fn not_valid(expression: &str, e: &CronError) -> String {
    if expression.starts_with('@') {
        return format!("“{expression}” is not a known shortcut: use @hourly, @daily, @weekly, @monthly or @yearly");
    }
    let detail = match e {
        CronError::ComponentError(m) | CronError::InvalidPattern(m) | CronError::IllegalCharacters(m) => {
            m.trim_end_matches('.').to_string()
        }
        other => other.to_string().trim_end_matches('.').to_string(),
    };
    format!("“{expression}” is not a valid cron expression ({detail})")
}

/// One of the five fields: its name in messages and the values it takes.
struct Field {
    name: &'static str,
    min: u64,
    max: u64,
    /// Names accepted instead of numbers (JAN, MON, ...).
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field { name: "minute", min: 0, max: 59, names: &[] },
    Field { name: "hour", min: 0, max: 23, names: &[] },
    Field { name: "day of month", min: 1, max: 31, names: &[] },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    },
    Field { name: "day of week", min: 0, max: 7, names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

/// Checks the field count and every number against its field's range, so that the usual
/// mistakes get a precise message ("hour 25 is out of range (0-23)"). Anything subtler is left
/// to croner.
fn check_fields(expression: &str) -> Result<(), String> {
    let parts: Vec<&str> = expression.split_whitespace().collect();
    match parts.len() {
        5 => {}
        6 | 7 => {
            return Err(format!(
                "has {} fields; give 5 (minute hour day-of-month month day-of-week): seconds and \
                 years are not supported",
                parts.len()
            ))
        }
        n => return Err(format!("has {n} fields; give 5 (minute hour day-of-month month day-of-week)")),
    }
    for (part, field) in parts.iter().zip(FIELDS.iter()) {
        for item in part.split(',') {
            check_item(item, field)?;
        }
    }
    Ok(())
}

/// One comma-separated item: `*`, `a`, `a-b`, each optionally followed by `/step`.
fn check_item(item: &str, field: &Field) -> Result<(), String> {
    let name = field.name;
    if item.is_empty() {
        return Err(format!("the {name} field has an empty item"));
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        if !matches!(step.parse::<u64>(), Ok(s) if s >= 1) {
            return Err(format!("{name} step “{step}” must be a whole number from 1"));
        }
    }
    if range == "*" || range == "?" {
        return Ok(());
    }
    let (from, to) = match range.split_once('-') {
        Some((from, to)) => (from, Some(to)),
        None => (range, None),
    };
    let from = value(from, field)?;
    let to = to.map(|to| value(to, field)).transpose()?.flatten();
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(format!("{name} range {from}-{to} runs backwards"));
        }
    }
    Ok(())
}

/// One value: a number in range, a month or weekday name, or a croner modifier (`L`, `15W`,
/// `5#2`), which croner itself checks. Returns the number, if it is one.
fn value(text: &str, field: &Field) -> Result<Option<u64>, String> {
    let name = field.name;
    let upper = text.to_ascii_uppercase();
    if field.names.contains(&upper.as_str()) {
        return Ok(None);
    }
    // Day-of-month and day-of-week modifiers: the number before them is still checked.
    let bare = match field.name {
        "day of month" => upper.trim_end_matches('W').trim_end_matches('L'),
        "day of week" => upper.split('#').next().unwrap_or("").trim_end_matches('L'),
        _ => upper.as_str(),
    };
    if bare.is_empty() || field.names.contains(&bare) {
        return Ok(None);
    }
    if !bare.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} “{text}” is not understood"));
    }
    match bare.parse::<u64>() {
        Ok(n) if (field.min..=field.max).contains(&n) => Ok(Some(n)),
        _ => Err(format!("{name} {bare} is out of range ({}-{})", field.min, field.max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn brussels(cron: &str) -> Schedule {
        parse(cron, "Europe/Brussels").unwrap()
    }

    #[test]
    fn daily_at_two_follows_brussels_winter_and_summer_time() {
        let s = brussels(&default_cron(2));
        assert_eq!(s.next_after(utc(2026, 1, 10, 12, 0)), Some(utc(2026, 1, 11, 1, 0)));
        assert_eq!(s.next_after(utc(2026, 7, 10, 12, 0)), Some(utc(2026, 7, 11, 0, 0)));
        assert_eq!(s.describe(), "At 02:00 every day (Europe/Brussels)");
        assert_eq!(s.period(), Duration::days(1));
    }

    #[test]
    fn next_after_is_strictly_after() {
        let s = brussels("0 2 * * *");
        assert_eq!(s.next_after(utc(2026, 1, 11, 1, 0)), Some(utc(2026, 1, 12, 1, 0)));
        let just_before = utc(2026, 1, 11, 1, 0) - Duration::milliseconds(300);
        assert_eq!(s.next_after(just_before), Some(utc(2026, 1, 11, 1, 0)));
    }

    #[test]
    fn a_run_in_the_spring_forward_gap_happens_once_right_after_it() {
        // 2026-03-29 in Brussels: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 never exists.
        let s = brussels("30 2 * * *");
        let first = s.next_after(utc(2026, 3, 28, 12, 0)).unwrap();
        assert_eq!(first, utc(2026, 3, 29, 1, 0));
        assert_eq!(s.next_after(first), Some(utc(2026, 3, 30, 0, 30)));
    }

    #[test]
    fn a_run_in_the_repeated_fall_back_hour_happens_once() {
        // 2026-10-25 in Brussels: 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
        let s = brussels("30 2 * * *");
        let runs: Vec<_> = std::iter::successors(s.next_after(utc(2026, 10, 24, 12, 0)), |t| s.next_after(*t))
            .take(3)
            .collect();
        assert_eq!(runs, vec![utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]);
        // Asking from inside the repeated hour does not bring the second 02:30 back.
        assert_eq!(s.next_after(utc(2026, 10, 25, 1, 0)), Some(utc(2026, 10, 26, 1, 30)));
    }

    #[test]
    fn weekly_and_monthly_schedules() {
        let weekly = parse("0 3 * * SUN", "UTC").unwrap();
        // Wednesday 2026-01-07 -> Sunday 2026-01-11.
        assert_eq!(weekly.next_after(utc(2026, 1, 7, 0, 0)), Some(utc(2026, 1, 11, 3, 0)));
        assert_eq!(weekly.period(), Duration::weeks(1));
        assert_eq!(weekly.describe(), "At 03:00, on Sunday (UTC)");

        let monthly = parse("15 4 1 * *", "Europe/Brussels").unwrap();
        assert_eq!(monthly.next_after(utc(2026, 1, 7, 0, 0)), Some(utc(2026, 2, 1, 3, 15)));
        assert_eq!(monthly.period(), Duration::days(31));

        let last_day = parse("0 1 L * *", "UTC").unwrap();
        assert_eq!(last_day.next_after(utc(2026, 2, 1, 0, 0)), Some(utc(2026, 2, 28, 1, 0)));
    }

    #[test]
    fn weekdays_only_period_covers_the_weekend() {
        let s = parse("0 2 * * 1-5", "UTC").unwrap();
        assert_eq!(s.period(), Duration::days(3));
    }

    #[test]
    fn hourly_is_the_most_frequent_schedule_allowed() {
        let hourly = parse("0 * * * *", "UTC").unwrap();
        assert_eq!(hourly.period(), Duration::hours(1));
        assert!(parse("@daily", "UTC").is_ok());
        for cron in ["* * * * *", "*/5 * * * *", "0,30 2 * * *", "0-10 * * * *"] {
            let err = parse(cron, "UTC").unwrap_err();
            assert!(err.contains("runs more often than once an hour"), "{cron}: {err}");
        }
    }

    #[test]
    fn bad_input_is_explained() {
        let err = |cron: &str| parse(cron, "Europe/Brussels").unwrap_err();
        assert_eq!(err("0 25 * * *"), "“0 25 * * *”: hour 25 is out of range (0-23)");
        assert_eq!(err("61 2 * * *"), "“61 2 * * *”: minute 61 is out of range (0-59)");
        assert_eq!(err("0 2 32 * *"), "“0 2 32 * *”: day of month 32 is out of range (1-31)");
        assert_eq!(err("0 2 * 13 *"), "“0 2 * 13 *”: month 13 is out of range (1-12)");
        assert_eq!(err("0 2 * * 8"), "“0 2 * * 8”: day of week 8 is out of range (0-7)");
        assert_eq!(err("0 5-2 * * *"), "“0 5-2 * * *”: hour range 5-2 runs backwards");
        assert_eq!(err("0 x * * *"), "“0 x * * *”: hour “x” is not understood");
        assert_eq!(err("0 */0 * * *"), "“0 */0 * * *”: hour step “0” must be a whole number from 1");
        assert!(err("0 0 2 * * *").contains("seconds and years are not supported"));
        assert!(err("0 2 * *").contains("has 4 fields"));
        assert!(err("").contains("empty"));
        assert!(err("   ").contains("empty"));
        assert!(err(&format!("0 2 {} * *", "1,".repeat(50) + "1")).contains("longer than 100"));
        assert_eq!(err("0 2 31 2 *"), "“0 2 31 2 *” never runs");
        assert!(err("@reboot").contains("not a known shortcut"));
        assert!(err("0 2 1/2 * *").contains("not a valid cron expression"));
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(time_zone("Europe/Brussels"), Ok(chrono_tz::Europe::Brussels));
        assert_eq!(time_zone(" UTC "), Ok(chrono_tz::UTC));
        assert_eq!(
            parse("0 2 * * *", "Europe/Bruxelles").unwrap_err(),
            "unknown time zone “Europe/Bruxelles”: give an IANA name such as Europe/Brussels"
        );
        assert!(time_zone("").is_err());
    }
}
