//! The transcript of a session: every input and output chunk, numbered in the order it was
//! seen, with its time offset, kept in `ops.exec_events` (one row a chunk). One writer task
//! serves every session of the console: each flush window it takes what all sessions queued
//! and writes it in one transaction, setting each session's own claims (as `tenant_tx` does)
//! before that session's rows, so `ops.append_exec_events` checks every session as before.
//! Queuing a chunk wakes nobody; a session's queue is bounded (a full one makes its
//! producer wait, never drops); closing a recorder flushes everything it queued.
use app::db::shell::{append_events, ExecEvent};
use app::db::{set_claims, Db, DbClaims};
use app::models::ExecDirection;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify, Semaphore};
use uuid::Uuid;

/// Largest chunk stored in one row (the column allows 64 KiB).
pub const MAX_CHUNK: usize = 32 * 1024;
/// Chunks a session may have queued; a producer waits for room beyond that.
const QUEUE: usize = 4096;
/// Chunks of one session in one append call at most.
const MAX_BATCH: usize = 512;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The console's transcript writer (one per shell service).
#[derive(Clone)]
pub struct Transcripts {
    shared: Arc<Shared>,
}

struct Shared {
    db: Db,
    flush_every: Duration,
    /// Sessions with a recorder that is open, or closed and not yet flushed.
    logs: Mutex<Vec<Arc<Log>>>,
    /// Flush now: a queue is half full, or a recorder is closing.
    wake: Arc<Notify>,
    writer: std::sync::Once,
}

/// One session's queue.
struct Log {
    id: Uuid,
    claims: DbClaims,
    started: Instant,
    queue: Mutex<Queue>,
    /// Free places in the queue (taken when a chunk is queued, given back once it is written).
    room: Semaphore,
    /// Some(events lost) once the recorder is closed and everything it queued is written.
    done: watch::Sender<Option<u64>>,
}

struct Queue {
    seq: i64,
    events: Vec<ExecEvent>,
    closed: bool,
    lost: u64,
}

/// A session's handle on the transcript.
pub struct Recorder {
    log: Arc<Log>,
    wake: Arc<Notify>,
}

impl Transcripts {
    /// `flush_every` is how long a chunk may wait for others before it is written.
    pub fn new(db: Db, flush_every: Duration) -> Transcripts {
        Transcripts { shared: Arc::new(Shared { db, flush_every, logs: Mutex::default(), wake: Arc::new(Notify::new()), writer: std::sync::Once::new() }) }
    }

    /// A recorder for session `session_id`, whose offsets count from `started`. Starts the
    /// writer task with the first one (it needs the runtime).
    pub fn open(&self, claims: DbClaims, session_id: Uuid, started: Instant) -> Recorder {
        self.shared.writer.call_once(|| {
            tokio::spawn(write_loop(Arc::downgrade(&self.shared), self.shared.wake.clone(), self.shared.flush_every));
        });
        let log = Arc::new(Log {
            id: session_id,
            claims,
            started,
            queue: Mutex::new(Queue { seq: 0, events: Vec::new(), closed: false, lost: 0 }),
            room: Semaphore::new(QUEUE),
            done: watch::channel(None).0,
        });
        lock(&self.shared.logs).push(log.clone());
        Recorder { log, wake: self.shared.wake.clone() }
    }
}

impl Recorder {
    /// Queues a chunk (split to MAX_CHUNK); waits while the session's queue is full.
    pub async fn record(&self, direction: ExecDirection, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let parts = data.len().div_ceil(MAX_CHUNK).min(QUEUE) as u32;
        match self.log.room.try_acquire_many(parts) {
            Ok(p) => p.forget(),
            Err(_) => match self.log.room.acquire_many(parts).await {
                Ok(p) => p.forget(),
                Err(_) => return, // closed and flushed
            },
        }
        let urgent = {
            let mut q = lock(&self.log.queue);
            if q.closed {
                drop(q);
                self.log.room.add_permits(parts as usize);
                return;
            }
            let before = q.events.len();
            let offset_us = self.log.started.elapsed().as_micros() as i64;
            for part in data.chunks(MAX_CHUNK) {
                let seq = q.seq;
                q.events.push(ExecEvent { seq, direction, offset_us, data: part.to_vec() });
                q.seq += 1;
            }
            before < QUEUE / 2 && q.events.len() >= QUEUE / 2
        };
        if urgent {
            self.wake.notify_one();
        }
    }

    /// Stops taking events and waits until every queued one is written. Returns how many
    /// events could not be stored (0 normally).
    pub async fn close(&self) -> u64 {
        lock(&self.log.queue).closed = true;
        let mut done = self.log.done.subscribe();
        self.wake.notify_one();
        let lost = match done.wait_for(|d| d.is_some()).await {
            Ok(d) => d.unwrap_or(0),
            Err(_) => 0,
        };
        lost
    }
}

/// A recorder dropped without `close` (a session that failed to start) still has what it
/// queued written, and leaves the writer's list.
impl Drop for Recorder {
    fn drop(&mut self) {
        let mut q = lock(&self.log.queue);
        if !q.closed {
            q.closed = true;
            drop(q);
            self.wake.notify_one();
        }
    }
}

/// What one flush takes from one session.
struct Take {
    log: Arc<Log>,
    events: Vec<ExecEvent>,
    closing: bool,
}

/// Should the writer task end (the runtime is stopping, or it panicked), nobody waits on it
/// for ever: every open recorder is told what it has lost.
struct WriterGone(Weak<Shared>);

impl Drop for WriterGone {
    fn drop(&mut self) {
        let Some(s) = self.0.upgrade() else { return };
        for log in lock(&s.logs).drain(..) {
            let mut q = lock(&log.queue);
            q.closed = true;
            let lost = q.lost + q.events.len() as u64;
            drop(q);
            log.room.close();
            log.done.send_replace(Some(lost));
        }
    }
}

async fn write_loop(shared: Weak<Shared>, wake: Arc<Notify>, every: Duration) {
    let _gone = WriterGone(shared.clone());
    let mut next = tokio::time::Instant::now() + every;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = wake.notified() => {}
        }
        let now = tokio::time::Instant::now();
        if next <= now {
            next = now + every;
        }
        let Some(s) = shared.upgrade() else { return };
        let logs: Vec<Arc<Log>> = lock(&s.logs).clone();
        let mut takes = Vec::new();
        for log in logs {
            let mut q = lock(&log.queue);
            let (events, closing) = (std::mem::take(&mut q.events), q.closed);
            drop(q);
            if !events.is_empty() || closing {
                takes.push(Take { log, events, closing });
            }
        }
        if takes.is_empty() {
            continue;
        }
        if write_all(&s.db, &takes).await.is_err() {
            // One session's rows (or the connection) failed the shared transaction: each
            // session on its own then, with retries, so the others are not held back.
            let lost = futures::future::join_all(takes.iter().map(|t| write_one(&s.db, &t.log, &t.events))).await;
            for (t, lost) in takes.iter().zip(lost) {
                lock(&t.log.queue).lost += lost;
            }
        }
        let mut finished = Vec::new();
        for t in &takes {
            t.log.room.add_permits(t.events.len());
            if t.closing {
                let lost = lock(&t.log.queue).lost;
                t.log.room.close();
                t.log.done.send_replace(Some(lost));
                finished.push(t.log.clone());
            }
        }
        if !finished.is_empty() {
            lock(&s.logs).retain(|l| !finished.iter().any(|f| Arc::ptr_eq(f, l)));
        }
    }
}

/// Every session's chunks in one transaction, each under its own claims.
async fn write_all(db: &Db, takes: &[Take]) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let appended = async {
        for t in takes.iter().filter(|t| !t.events.is_empty()) {
            set_claims(&mut tx, &t.log.claims).await?;
            for batch in t.events.chunks(MAX_BATCH) {
                append_events(&mut tx, t.log.id, batch).await?;
            }
        }
        Ok::<_, sqlx::Error>(())
    }
    .await;
    match appended {
        Ok(()) => tx.commit().await,
        Err(e) => {
            // Roll back now: a dropped transaction would keep the sessions' rows locked
            // until its connection is used again, and the retries below need them.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// One session's chunks in its own transaction, retried a few times; returns the events
/// given up on.
async fn write_one(db: &Db, log: &Log, events: &[ExecEvent]) -> u64 {
    if events.is_empty() {
        return 0;
    }
    let session_id = log.id;
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=5 {
        let done = async {
            let mut tx = db.tenant_tx(&log.claims).await?;
            for batch in events.chunks(MAX_BATCH) {
                append_events(&mut tx, session_id, batch).await?;
            }
            tx.commit().await
        }
        .await;
        match done {
            Ok(()) => return 0,
            Err(e) if attempt == 5 => {
                tracing::error!(%session_id, error = %e, events = events.len(), "shell transcript batch lost");
            }
            Err(e) => {
                tracing::warn!(%session_id, error = %e, attempt, "shell transcript batch failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    events.len() as u64
}
