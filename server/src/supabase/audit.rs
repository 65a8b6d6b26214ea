//! The proxy's audit rows, written by one task in batches. A request hands its row over and
//! goes on; the task writes whatever has queued up meanwhile in one transaction and one
//! multi-row insert per tenant, so a tenant's audit chain head is locked once per batch
//! rather than once per request, and the proxy's requests never hold a pool connection
//! waiting for that lock. A batch starts with the first row queued and takes what arrives in
//! the next [`LINGER`] (or while the previous batch was being written), up to [`MAX_BATCH`]
//! rows; one a request waits for (a refusal's) is written at once with what is queued. Per
//! row, a batch of ten costs the database about a third of what a transaction of its own does
//! (the chain trigger still runs per row).
//!
//! [`AuditWriter::record`] can wait for its row to be committed (refusals are recorded
//! before their answer goes out); [`AuditWriter::flush`] waits for everything handed over
//! before it, which the console does once its HTTP server has drained, so a normal shutdown
//! loses nothing. A failed batch is retried a few times when nothing of it can have been
//! committed, then given up with an error in the log (row counts and the tenant, never
//! contents).
use app::db::audit::{insert_many, AuditEntry};
use app::db::{Db, DbClaims};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Rows in one insert at most.
const MAX_BATCH: usize = 500;
/// How long a batch waits for more rows when nobody waits for it (a refusal's row or a flush
/// is written at once, with whatever has queued). At a few hundred requests a second this
/// makes batches of several rows; a crash (not a normal shutdown) can lose at most this much
/// of forwarded requests' rows, plus the write under way.
pub const LINGER: Duration = Duration::from_millis(20);
/// Tries per batch; the waits between them double from the first.
const ATTEMPTS: u32 = 4;
const FIRST_RETRY: Duration = Duration::from_millis(50);

/// One `ops.audit_log` row of the proxy (action `supabase.proxy`).
#[derive(Debug, Clone)]
pub struct ProxyRow {
    /// The requester's claims: the row goes to their tenant, written under them.
    pub claims: DbClaims,
    pub actor_email: String,
    pub target: String,
    pub details: serde_json::Value,
    pub request_id: String,
    pub ip: String,
}

pub const ACTION: &str = "supabase.proxy";

enum Msg {
    Row(ProxyRow, Option<oneshot::Sender<()>>),
    Flush(oneshot::Sender<()>),
}

/// The handle requests hand their rows to (cheap to clone).
#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::UnboundedSender<Msg>,
    db: Db,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter").finish_non_exhaustive()
    }
}

impl AuditWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> AuditWriter {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(db.clone(), rx));
        AuditWriter { tx, db }
    }

    /// Queues `row`; with `committed`, waits until it is written (or given up on).
    pub async fn record(&self, row: ProxyRow, committed: bool) {
        let (ack, done) = if committed {
            let (a, d) = oneshot::channel();
            (Some(a), Some(d))
        } else {
            (None, None)
        };
        match self.tx.send(Msg::Row(row, ack)) {
            Ok(()) => {
                if let Some(done) = done {
                    let _ = done.await;
                }
            }
            // The writer task is gone (the runtime is shutting down, or it panicked): the row
            // is written on its own, as one transaction.
            Err(mpsc::error::SendError(msg)) => {
                if let Msg::Row(row, _) = msg {
                    write(&self.db, std::slice::from_ref(&row)).await;
                }
            }
        }
    }

    /// Queues `row` without waiting (from a response body's end, which cannot wait).
    pub fn submit(&self, row: ProxyRow) {
        if let Err(mpsc::error::SendError(Msg::Row(row, _))) = self.tx.send(Msg::Row(row, None)) {
            let db = self.db.clone();
            tokio::spawn(async move { write(&db, std::slice::from_ref(&row)).await });
        }
    }

    /// Waits until every row handed over before this call is written (or given up on).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.await;
        }
    }
}

async fn write_loop(db: Db, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut acks = Vec::new();
    while let Some(first) = rx.recv().await {
        let until = tokio::time::Instant::now() + LINGER;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Row(row, ack) => {
                    batch.push(row);
                    acks.extend(ack);
                }
                Msg::Flush(ack) => acks.push(ack),
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            next = match rx.try_recv() {
                Ok(m) => Some(m),
                // Someone waits for this batch: write what there is now.
                Err(_) if !acks.is_empty() => None,
                Err(_) => tokio::time::timeout_at(until, rx.recv()).await.ok().flatten(),
            };
        }
        write(&db, &batch).await;
        batch.clear();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// Writes `rows`: one transaction per tenant, tenants in the order they first appear, each
/// tenant's rows in the order given.
async fn write(db: &Db, rows: &[ProxyRow]) {
    let mut tenants: Vec<Uuid> = Vec::new();
    for r in rows {
        if !tenants.contains(&r.claims.tenant_id) {
            tenants.push(r.claims.tenant_id);
        }
    }
    for tenant in tenants {
        let group: Vec<&ProxyRow> = rows.iter().filter(|r| r.claims.tenant_id == tenant).collect();
        write_tenant(db, &group).await;
    }
}

enum Failure {
    /// Nothing was committed: safe to try again.
    Before(sqlx::Error),
    /// The commit itself failed: it may have gone through, so trying again could write the
    /// rows twice.
    Commit(sqlx::Error),
}

async fn write_tenant(db: &Db, rows: &[&ProxyRow]) {
    let Some(first) = rows.first() else {
        return;
    };
    let entries: Vec<AuditEntry<'_>> = rows
        .iter()
        .map(|r| AuditEntry {
            actor_id: Some(r.claims.sub),
            actor_email: &r.actor_email,
            action: ACTION,
            target: &r.target,
            details: r.details.clone(),
            request_id: &r.request_id,
            ip: &r.ip,
        })
        .collect();
    let mut delay = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        let done = async {
            let mut tx = db.tenant_tx_one_trip(&first.claims).await.map_err(Failure::Before)?;
            insert_many(&mut tx, &entries).await.map_err(Failure::Before)?;
            tx.commit().await.map_err(Failure::Commit)
        }
        .await;
        match done {
            Ok(()) => return,
            Err(Failure::Commit(e)) => {
                tracing::error!(error = %e, tenant_id = %first.claims.tenant_id, rows = rows.len(), "Supabase proxy audit rows: the commit failed; they may be lost");
                return;
            }
            Err(Failure::Before(e)) if attempt == ATTEMPTS => {
                tracing::error!(error = %e, tenant_id = %first.claims.tenant_id, rows = rows.len(), "Supabase proxy audit rows lost");
                return;
            }
            Err(Failure::Before(e)) => {
                tracing::warn!(error = %e, tenant_id = %first.claims.tenant_id, rows = rows.len(), attempt, "Supabase proxy audit rows not written; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}
