//! The transcript of a session: every input and output chunk, numbered in the order it was
//! seen, with its time offset, written to `ops.exec_events` in batches so typing stays fast.
//! Closing the recorder flushes everything still queued.
use app::db::shell::{append_events, ExecEvent};
use app::db::{Db, DbClaims};
use app::models::ExecDirection;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Largest chunk stored in one row (the column allows 64 KiB).
pub const MAX_CHUNK: usize = 32 * 1024;
/// Events in one INSERT at most.
const MAX_BATCH: usize = 512;

struct Next {
    seq: i64,
    tx: Option<mpsc::Sender<ExecEvent>>,
}

pub struct Recorder {
    started: Instant,
    next: Mutex<Next>,
    writer: Mutex<Option<JoinHandle<u64>>>,
}

impl Recorder {
    /// Starts the writer task; `flush_every` is how long a batch may wait for more events.
    pub fn start(db: Db, claims: DbClaims, session_id: Uuid, started: Instant, flush_every: Duration) -> Recorder {
        let (tx, rx) = mpsc::channel(4096);
        let writer = tokio::spawn(write_loop(db, claims, session_id, rx, flush_every));
        Recorder { started, next: Mutex::new(Next { seq: 0, tx: Some(tx) }), writer: Mutex::new(Some(writer)) }
    }

    /// Numbers the chunks (split to MAX_CHUNK) and hands back the sender to queue them with;
    /// None once closed.
    fn stamp(&self, direction: ExecDirection, data: &[u8]) -> Option<(mpsc::Sender<ExecEvent>, Vec<ExecEvent>)> {
        let mut n = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let tx = n.tx.clone()?;
        let offset_us = self.started.elapsed().as_micros() as i64;
        let mut out = Vec::new();
        for part in data.chunks(MAX_CHUNK) {
            out.push(ExecEvent { seq: n.seq, direction, offset_us, data: part.to_vec() });
            n.seq += 1;
        }
        Some((tx, out))
    }

    /// Queues a chunk; waits when the database falls behind (the queue is bounded).
    pub async fn record(&self, direction: ExecDirection, data: &[u8]) {
        if let Some((tx, events)) = self.stamp(direction, data) {
            for e in events {
                let _ = tx.send(e).await;
            }
        }
    }

    /// Stops taking events and waits until every queued one is written. Returns how many
    /// events could not be stored (0 normally).
    pub async fn close(&self) -> u64 {
        self.next.lock().unwrap_or_else(|e| e.into_inner()).tx = None;
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        match writer {
            Some(w) => w.await.unwrap_or(0),
            None => 0,
        }
    }
}

async fn write_loop(db: Db, claims: DbClaims, session_id: Uuid, mut rx: mpsc::Receiver<ExecEvent>, flush_every: Duration) -> u64 {
    let mut lost = 0u64;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let until = tokio::time::Instant::now() + flush_every;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(e)) => batch.push(e),
                Ok(None) | Err(_) => break,
            }
        }
        lost += write(&db, &claims, session_id, &batch).await;
        batch.clear();
    }
    lost
}

/// Writes one batch, retrying a failed one a few times; returns the events given up on.
async fn write(db: &Db, claims: &DbClaims, session_id: Uuid, batch: &[ExecEvent]) -> u64 {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=5 {
        let done = async {
            let mut tx = db.tenant_tx(claims).await?;
            append_events(&mut tx, session_id, batch).await?;
            tx.commit().await
        }
        .await;
        match done {
            Ok(()) => return 0,
            Err(e) if attempt == 5 => {
                tracing::error!(%session_id, error = %e, events = batch.len(), "shell transcript batch lost");
            }
            Err(e) => {
                tracing::warn!(%session_id, error = %e, attempt, "shell transcript batch failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    batch.len() as u64
}
