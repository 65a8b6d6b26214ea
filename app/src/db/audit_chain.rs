//! Checks the audit log's hash chains (`migrations/20261125000001_audit_chain.sql`).
//!
//! A chain is walked in seq order in keyset pages, so a long log never sits in memory. Each
//! row's hash is recomputed here, in Rust, from the canonical text PostgreSQL renders for it
//! (`ops.audit_canonical`); the stored hash is only ever compared, never trusted.
use crate::models::{ChainBreak, ChainReport};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// The chain of rows without a tenant (failed logins of unknown emails, CLI password resets).
pub const NO_TENANT_CHAIN: Uuid = Uuid::nil();

/// Rows fetched per query while walking a chain.
pub const PAGE_SIZE: i64 = 2_000;

const ZERO_HASH: [u8; 32] = [0; 32];

/// What `ops.audit_chain_heads` records for a chain.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: Vec<u8>,
}

/// The head of the tenant claimed by the transaction (the request role cannot read the
/// heads table; a definer function hands it its own tenant's head only).
pub async fn head_of_current_tenant(conn: &mut PgConnection) -> Result<Option<ChainHead>, sqlx::Error> {
    sqlx::query_as::<_, ChainHead>("select seq, hash from ops.audit_chain_head()").fetch_optional(conn).await
}

/// The head of any chain; owner connections only (CLI).
pub async fn head_of(conn: &mut PgConnection, chain_key: Uuid) -> Result<Option<ChainHead>, sqlx::Error> {
    sqlx::query_as::<_, ChainHead>("select seq, hash from ops.audit_chain_heads where chain_key = $1")
        .bind(chain_key)
        .fetch_optional(conn)
        .await
}

/// sha256(prev_hash || canonical): the hash a row must carry.
pub fn link_hash(prev_hash: &[u8], canonical: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(canonical.as_bytes());
    h.finalize().into()
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChainRow {
    pub id: i64,
    pub seq: i64,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub action: String,
    pub canonical: String,
}

/// One keyset page of a chain: $1 chain key, rows with $2 < seq <= $3, at most $4. `chain_key` is a
/// plain column so that the index serves the request role too (RLS only lets leakproof
/// conditions use an index).
pub const PAGE_QUERY: &str = "select id, seq, prev_hash, hash, created_at, action, ops.audit_canonical(a) as canonical
   from ops.audit_log a
  where chain_key = $1 and seq > $2 and seq <= $3
  order by seq
  limit $4";

/// Walks chain `chain_key` (a tenant id, or [`NO_TENANT_CHAIN`]) up to `head` and reports the
/// first broken link. Rows newer than `head` (committed after it was read) are left out, so
/// the walk is consistent under READ COMMITTED. The caller reads `head` first, in the same
/// transaction, with [`head_of`] or [`head_of_current_tenant`].
pub async fn verify(conn: &mut PgConnection, chain_key: Uuid, head: Option<ChainHead>) -> Result<ChainReport, sqlx::Error> {
    let upto = head.as_ref().map_or(i64::MAX, |h| h.seq);
    let mut walk = Walk::new();
    let mut after = 0_i64;
    loop {
        let page = sqlx::query_as::<_, ChainRow>(PAGE_QUERY)
            .bind(chain_key)
            .bind(after)
            .bind(upto)
            .bind(PAGE_SIZE)
            .fetch_all(&mut *conn)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let full = page.len() as i64 == PAGE_SIZE;
        for row in &page {
            if let Some(b) = walk.step(row) {
                return Ok(walk.report(head.as_ref(), Some(b)));
            }
        }
        if !full {
            break;
        }
    }
    let end = walk.finish(head.as_ref());
    Ok(walk.report(head.as_ref(), end))
}

/// The checks, row by row, apart from any database (unit-tested below).
#[derive(Debug)]
pub struct Walk {
    rows: u64,
    expected_seq: i64,
    prev_hash: Vec<u8>,
    last: Option<ChainRow>,
}

impl Walk {
    pub fn new() -> Self {
        Walk { rows: 0, expected_seq: 1, prev_hash: ZERO_HASH.to_vec(), last: None }
    }

    /// The break this row shows, if any; rows must come in seq order.
    pub fn step(&mut self, row: &ChainRow) -> Option<ChainBreak> {
        self.rows += 1;
        let broken = |reason: String| ChainBreak {
            seq: row.seq,
            audit_id: Some(row.id),
            created_at: Some(row.created_at),
            action: Some(row.action.clone()),
            reason,
        };
        if row.prev_hash != self.prev_hash {
            let reason = if self.last.is_none() && row.seq > 1 {
                format!("the chain starts at seq {} instead of 1: earlier rows were deleted", row.seq)
            } else if row.seq > self.expected_seq {
                format!("previous-hash link broken: seq jumps from {} to {} (a row was deleted)", self.expected_seq - 1, row.seq)
            } else {
                "previous-hash link broken (a row before it was deleted, inserted or rewritten)".to_string()
            };
            return Some(broken(reason));
        }
        if link_hash(&row.prev_hash, &row.canonical)[..] != row.hash[..] {
            return Some(broken("row content does not match its hash (edited)".to_string()));
        }
        if row.seq != self.expected_seq {
            return Some(broken(format!("sequence gap: expected seq {}, found {}", self.expected_seq, row.seq)));
        }
        self.expected_seq = row.seq + 1;
        self.prev_hash = row.hash.clone();
        self.last = Some(row.clone());
        None
    }

    /// After the last row: the head must point at it. A head ahead of the log means its
    /// newest rows were deleted; a different hash, that the newest row was rewritten.
    pub fn finish(&self, head: Option<&ChainHead>) -> Option<ChainBreak> {
        let last_seq = self.expected_seq - 1;
        match head {
            None if self.rows == 0 => None,
            None => Some(self.at_last("the chain's head record is missing (ops.audit_chain_heads was edited)")),
            Some(h) if h.seq > last_seq => Some(ChainBreak {
                seq: last_seq + 1,
                audit_id: None,
                created_at: None,
                action: None,
                reason: format!("the newest rows are missing: the chain head records seq {}, the log ends at seq {last_seq} (rows were deleted)", h.seq),
            }),
            Some(h) if h.hash != self.prev_hash => Some(self.at_last("the newest row differs from the chain head (it was rewritten)")),
            Some(_) => None,
        }
    }

    fn at_last(&self, reason: &str) -> ChainBreak {
        let last = self.last.as_ref();
        ChainBreak {
            seq: self.expected_seq - 1,
            audit_id: last.map(|r| r.id),
            created_at: last.map(|r| r.created_at),
            action: last.map(|r| r.action.clone()),
            reason: reason.to_string(),
        }
    }

    fn report(&self, head: Option<&ChainHead>, first_break: Option<ChainBreak>) -> ChainReport {
        let (head_seq, head_hash) = match head {
            Some(h) => (h.seq, hex::encode(&h.hash)),
            None => (0, hex::encode(ZERO_HASH)),
        };
        ChainReport { rows_checked: self.rows, head_seq, head_hash, first_break, checked_at: Utc::now() }
    }
}

impl Default for Walk {
    fn default() -> Self {
        Walk::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<ChainRow> {
        let mut prev = ZERO_HASH.to_vec();
        (1..=n)
            .map(|seq| {
                let canonical = format!(r#"["audit.v1", {}, null, "row {seq}"]"#, seq + 100);
                let hash = link_hash(&prev, &canonical).to_vec();
                let row = ChainRow { id: seq + 100, seq, prev_hash: prev.clone(), hash: hash.clone(), created_at: Utc::now(), action: "test.row".into(), canonical };
                prev = hash;
                row
            })
            .collect()
    }

    fn walk(rows: &[ChainRow], head: Option<&ChainHead>) -> Option<ChainBreak> {
        let mut w = Walk::new();
        rows.iter().find_map(|r| w.step(r)).or_else(|| w.finish(head))
    }

    fn head(rows: &[ChainRow]) -> ChainHead {
        let last = rows.last().expect("rows");
        ChainHead { seq: last.seq, hash: last.hash.clone() }
    }

    #[test]
    fn an_untouched_chain_has_no_break() {
        let rows = chain(5);
        assert_eq!(walk(&rows, Some(&head(&rows))), None);
        assert_eq!(walk(&[], None), None);
    }

    #[test]
    fn an_edited_row_is_the_break() {
        let mut rows = chain(5);
        let h = head(&rows);
        rows[2].canonical = rows[2].canonical.replace("row 3", "row 3 edited");
        let b = walk(&rows, Some(&h)).expect("break");
        assert_eq!((b.seq, b.audit_id), (3, Some(103)));
        assert!(b.reason.contains("edited"), "{}", b.reason);
    }

    #[test]
    fn a_deleted_row_breaks_the_link_of_the_next() {
        let mut rows = chain(5);
        let h = head(&rows);
        rows.remove(1);
        let b = walk(&rows, Some(&h)).expect("break");
        assert_eq!((b.seq, b.audit_id), (3, Some(103)));
        assert!(b.reason.contains("deleted"), "{}", b.reason);
    }

    #[test]
    fn deleted_newest_rows_leave_the_head_ahead() {
        let mut rows = chain(5);
        let h = head(&rows);
        rows.truncate(3);
        let b = walk(&rows, Some(&h)).expect("break");
        assert_eq!((b.seq, b.audit_id), (4, None));
        assert!(b.reason.contains("newest rows are missing"), "{}", b.reason);
    }

    #[test]
    fn a_rehashed_newest_row_differs_from_the_head() {
        let mut rows = chain(3);
        let h = head(&rows);
        let last = rows.last_mut().expect("row");
        last.canonical.push(' ');
        last.hash = link_hash(&last.prev_hash, &last.canonical).to_vec();
        let b = walk(&rows, Some(&h)).expect("break");
        assert_eq!(b.audit_id, Some(103));
        assert!(b.reason.contains("rewritten"), "{}", b.reason);
    }

    #[test]
    fn a_chain_without_its_first_rows_says_so() {
        let rows = chain(4);
        let b = walk(&rows[2..], Some(&head(&rows))).expect("break");
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("starts at seq 3"), "{}", b.reason);
    }
}
