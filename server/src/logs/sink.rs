//! The ingest path: lines go into a bounded channel and a flusher writes them in batches
//! (one statement per batch), so a chatty build costs few round trips and a slow database
//! slows the producer instead of growing memory.
use app::db::logs::{self, NewEvent};
use app::db::{Db, DbClaims};
use app::models::LogLevel;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const BATCH_LINES: usize = 2000;
const GATHER: Duration = Duration::from_millis(20);

/// Writes `events` for one job/environment under the tenant's claims, in chunks.
pub async fn ingest(db: &Db, claims: &DbClaims, job_id: Option<Uuid>, env_id: Option<Uuid>, events: &[NewEvent]) -> Result<u64, sqlx::Error> {
    let mut written = 0;
    for chunk in events.chunks(BATCH_LINES * 2) {
        let mut tx = db.tenant_tx(claims).await?;
        written += logs::insert_batch(&mut tx, job_id, env_id, chunk).await?;
        tx.commit().await?;
    }
    Ok(written)
}

/// A handle for producers; cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<NewEvent>,
}

impl LogWriter {
    pub async fn write(&self, level: LogLevel, source: &str, message: impl Into<String>, meta: serde_json::Value) {
        let event = NewEvent { level, source: source.to_string(), message: message.into(), meta, at: chrono::Utc::now() };
        // A closed sink means the build is over; late lines are dropped.
        let _ = self.tx.send(event).await;
    }

    pub async fn info(&self, source: &str, message: impl Into<String>) {
        self.write(LogLevel::Info, source, message, serde_json::Value::Null).await
    }

    pub async fn warning(&self, source: &str, message: impl Into<String>) {
        self.write(LogLevel::Warning, source, message, serde_json::Value::Null).await
    }

    pub async fn error(&self, source: &str, message: impl Into<String>) {
        self.write(LogLevel::Error, source, message, serde_json::Value::Null).await
    }
}

/// What the flusher wrote, by level.
#[derive(Debug, Default, Clone, Copy)]
pub struct SinkStats {
    pub lines: u64,
    pub warnings: u64,
    pub errors: u64,
    pub failed_writes: u64,
}

pub struct LogSink {
    writer: LogWriter,
    task: JoinHandle<SinkStats>,
}

impl LogSink {
    pub fn start(db: Db, claims: DbClaims, job_id: Option<Uuid>, env_id: Option<Uuid>) -> LogSink {
        let (tx, rx) = mpsc::channel(BATCH_LINES * 4);
        let task = tokio::spawn(flush_loop(db, claims, job_id, env_id, rx));
        LogSink { writer: LogWriter { tx }, task }
    }

    pub fn writer(&self) -> LogWriter {
        self.writer.clone()
    }

    /// Flushes what is buffered and stops. Producers holding a writer must be done first.
    pub async fn close(self) -> SinkStats {
        drop(self.writer);
        self.task.await.unwrap_or_default()
    }
}

async fn flush_loop(db: Db, claims: DbClaims, job_id: Option<Uuid>, env_id: Option<Uuid>, mut rx: mpsc::Receiver<NewEvent>) -> SinkStats {
    let mut stats = SinkStats::default();
    let mut batch: Vec<NewEvent> = Vec::with_capacity(BATCH_LINES);
    loop {
        if rx.recv_many(&mut batch, BATCH_LINES).await == 0 {
            return stats;
        }
        // Gather what else arrives within a few milliseconds, up to a batch, before writing.
        let deadline = tokio::time::sleep(GATHER);
        tokio::pin!(deadline);
        while batch.len() < BATCH_LINES {
            let room = BATCH_LINES - batch.len();
            tokio::select! {
                got = rx.recv_many(&mut batch, room) => if got == 0 { break },
                _ = &mut deadline => break,
            }
        }
        if !batch.is_empty() {
            for e in &batch {
                match e.level {
                    LogLevel::Warning => stats.warnings += 1,
                    LogLevel::Error => stats.errors += 1,
                    _ => {}
                }
            }
            match ingest(&db, &claims, job_id, env_id, &batch).await {
                Ok(n) => stats.lines += n,
                Err(e) => {
                    stats.failed_writes += batch.len() as u64;
                    tracing::error!(error = %e, lines = batch.len(), job_id = ?job_id, "could not store log lines");
                }
            }
            batch.clear();
        }
    }
}
