//! `ops.run_events`: batched ingest, filtered pages and live-tail reads.
//!
//! Lines are ordered by (tx, id): the writing transaction's id, then the row id. Every read
//! stops before the oldest transaction still running (`pg_snapshot_xmin`), so rows that
//! commit late always sort after what a reader has already seen: a tail that resumes from
//! its last cursor gets no gap and no duplicate, whichever process wrote the rows.
use crate::models::{LogLevel, LogLine};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

/// Longest message kept; the rest is cut (the line says so).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// One line to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub level: LogLevel,
    pub source: String,
    pub message: String,
    pub meta: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Makes a message storable: no NUL bytes (PostgreSQL text refuses them), bounded length.
pub fn clean_message(raw: &str) -> String {
    let mut s: String = raw.chars().filter(|c| *c != '\0').collect();
    if s.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str(" …[truncated]");
    }
    s
}

pub fn valid_source(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_.:-".contains(c))
}

/// Appends a batch in one statement (one round trip, one NOTIFY). The tenant comes from
/// the transaction's claims; RLS refuses a job or environment of another tenant.
pub async fn insert_batch(conn: &mut PgConnection, job_id: Option<Uuid>, env_id: Option<Uuid>, events: &[NewEvent]) -> Result<u64, sqlx::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut levels = Vec::with_capacity(events.len());
    let mut sources = Vec::with_capacity(events.len());
    let mut messages = Vec::with_capacity(events.len());
    let mut metas = Vec::with_capacity(events.len());
    let mut ats = Vec::with_capacity(events.len());
    for e in events {
        levels.push(e.level.as_str());
        sources.push(e.source.as_str());
        messages.push(clean_message(&e.message));
        metas.push(if e.meta.is_null() { "{}".to_string() } else { e.meta.to_string() });
        ats.push(e.at);
    }
    // `(select ops.current_tenant_id())` is evaluated once per statement; called bare it runs
    // once per row, and each call (plpgsql with an exception block) is a subtransaction: that
    // alone made a batch twice as slow (see spec/odooops/benchmarks.md).
    let done = sqlx::query(
        "insert into ops.run_events (tenant_id, job_id, env_id, level, source, message, meta, created_at)
         select (select ops.current_tenant_id()), $1, $2, u.l::ops.log_level, u.s, u.m, u.mt::jsonb, u.c
           from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]) as u(l, s, m, mt, c)",
    )
    .bind(job_id)
    .bind(env_id)
    .bind(&levels)
    .bind(&sources)
    .bind(&messages)
    .bind(&metas)
    .bind(&ats)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A position in the (tx, id) order, written "tx:id".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub tx: i64,
    pub id: i64,
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Cursor> {
        let (tx, id) = s.trim().split_once(':')?;
        let c = Cursor { tx: tx.parse().ok()?, id: id.parse().ok()? };
        (c.tx >= 0 && c.id >= 0).then_some(c)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.tx, self.id)
    }
}

/// Validated filters.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub job_id: Option<Uuid>,
    pub env_id: Option<Uuid>,
    pub min_level: Option<LogLevel>,
    pub source: Option<String>,
    pub text: Option<String>,
}

impl Filter {
    /// `where` conditions with placeholders from `$first` on, in the order [`Filter::bind`] binds.
    fn conditions(&self, first: usize) -> (Vec<String>, usize) {
        let mut c = Vec::new();
        let mut n = first;
        let mut next = || {
            let p = n;
            n += 1;
            p
        };
        if self.job_id.is_some() {
            c.push(format!("job_id = ${}", next()));
        }
        if self.env_id.is_some() {
            c.push(format!("env_id = ${}", next()));
        }
        if self.min_level.is_some() {
            c.push(format!("level >= ${}::text::ops.log_level", next()));
        }
        if self.source.is_some() {
            c.push(format!("source = ${}", next()));
        }
        if self.text.is_some() {
            // A cheap substring test first (about a tenth of the cost of building the
            // tsvector), then the real full-text match.
            for _ in self.required_words() {
                c.push(format!("message ilike ${}", next()));
            }
            c.push(format!("to_tsvector('simple', message) @@ websearch_to_tsquery('simple', ${})", next()));
        }
        (c, n)
    }

    fn bind<'q, O>(&'q self, mut q: QueryAs<'q, Postgres, O, PgArguments>) -> QueryAs<'q, Postgres, O, PgArguments> {
        if let Some(v) = self.job_id {
            q = q.bind(v);
        }
        if let Some(v) = self.env_id {
            q = q.bind(v);
        }
        if let Some(v) = self.min_level {
            q = q.bind(v.as_str());
        }
        if let Some(v) = &self.source {
            q = q.bind(v.as_str());
        }
        if let Some(v) = &self.text {
            for w in self.required_words() {
                q = q.bind(format!("%{w}%"));
            }
            q = q.bind(v.as_str());
        }
        q
    }

    /// Words every match must contain: plain alphanumeric terms that are not negated and not
    /// part of an `or` (a necessary condition for the full-text match, never a stronger one).
    pub fn required_words(&self) -> Vec<String> {
        let Some(text) = &self.text else { return vec![] };
        if text.split_whitespace().any(|w| w.eq_ignore_ascii_case("or")) {
            return vec![];
        }
        text.split_whitespace()
            .map(|w| w.trim_matches('"'))
            .filter(|w| !w.starts_with('-') && !w.is_empty() && w.len() <= 64 && w.chars().all(|c| c.is_alphanumeric()))
            .map(str::to_string)
            .take(8)
            .collect()
    }
}

// `tx_num`, not `tx`: an output column named `tx` would shadow the indexed column in
// `order by`, and PostgreSQL would then sort every matching row instead of reading the index.
const COLUMNS: &str = "id, tx::text::int8 as tx_num, job_id, env_id, level, source, message, meta, created_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    #[sqlx(rename = "tx_num")]
    pub tx: i64,
    pub job_id: Option<Uuid>,
    pub env_id: Option<Uuid>,
    pub level: LogLevel,
    pub source: String,
    pub message: String,
    pub meta: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl EventRow {
    pub fn cursor(&self) -> Cursor {
        Cursor { tx: self.tx, id: self.id }
    }
}

impl From<EventRow> for LogLine {
    fn from(r: EventRow) -> LogLine {
        LogLine {
            cursor: r.cursor().to_string(),
            id: r.id,
            job_id: r.job_id,
            env_id: r.env_id,
            level: r.level,
            source: r.source,
            message: r.message,
            meta: r.meta,
            created_at: r.created_at,
        }
    }
}

/// The newest `limit` lines before `before` (or the newest of all), newest first, plus
/// whether older ones exist.
pub async fn page_before(conn: &mut PgConnection, f: &Filter, before: Option<Cursor>, limit: i64) -> Result<(Vec<EventRow>, bool), sqlx::Error> {
    let (mut c, n) = f.conditions(1);
    c.push("tx < pg_snapshot_xmin(pg_current_snapshot())".into());
    if before.is_some() {
        c.push(format!("(tx, id) < (${}::text::xid8, ${})", n, n + 1));
    }
    let sql = format!("select {COLUMNS} from ops.run_events where {} order by run_events.tx desc, run_events.id desc limit {}", c.join(" and "), limit + 1);
    let mut q = f.bind(sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql)));
    if let Some(b) = before {
        q = q.bind(b.tx.to_string()).bind(b.id);
    }
    let mut rows = q.fetch_all(conn).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Lines after `after` (and up to `until`, if given), oldest first, up to the visibility horizon.
pub async fn after(conn: &mut PgConnection, f: &Filter, after: Cursor, until: Option<Cursor>, limit: i64) -> Result<Vec<EventRow>, sqlx::Error> {
    let (mut c, n) = f.conditions(1);
    c.push("tx < pg_snapshot_xmin(pg_current_snapshot())".into());
    c.push(format!("(tx, id) > (${}::text::xid8, ${})", n, n + 1));
    if until.is_some() {
        c.push(format!("(tx, id) <= (${}::text::xid8, ${})", n + 2, n + 3));
    }
    let sql = format!("select {COLUMNS} from ops.run_events where {} order by run_events.tx, run_events.id limit {limit}", c.join(" and "));
    let mut q = f.bind(sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql))).bind(after.tx.to_string()).bind(after.id);
    if let Some(u) = until {
        q = q.bind(u.tx.to_string()).bind(u.id);
    }
    q.fetch_all(conn).await
}

/// Where a tail starts when there is nothing to show yet: just before the horizon.
pub async fn horizon(conn: &mut PgConnection) -> Result<Cursor, sqlx::Error> {
    let tx: i64 = sqlx::query_scalar("select pg_snapshot_xmin(pg_current_snapshot())::text::int8").fetch_one(conn).await?;
    Ok(Cursor { tx: (tx - 1).max(0), id: i64::MAX })
}

/// Distinct sources in the tenant's recent lines (for the filter menu).
pub async fn recent_sources(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select distinct source from (select source from ops.run_events order by tenant_id, tx desc, id desc limit 5000) s order by 1",
    )
    .fetch_all(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(q: &str) -> Vec<String> {
        Filter { text: Some(q.into()), ..Default::default() }.required_words()
    }

    #[test]
    fn only_plain_positive_words_become_substring_prefilters() {
        assert_eq!(words("invoice \"stock move\" -draft"), vec!["invoice", "stock", "move"]);
        assert!(words("invoice or stock").is_empty());
        assert_eq!(words("foo.bar 100%"), Vec::<String>::new());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor { tx: 12, id: 34 };
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
        assert_eq!(Cursor::parse("x:1"), None);
        assert_eq!(Cursor::parse("-1:5"), None);
    }
}
