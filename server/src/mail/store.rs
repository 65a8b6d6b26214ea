//! Storing captured mail: sessions hand messages to a few writer tasks, which take whatever
//! is waiting (up to a batch) and insert it one transaction per tenant. A session answers
//! `250` only after its message is committed.
use super::Delivery;
use app::db::{Db, DbClaims};
use app::models::Role;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use uuid::Uuid;

const MAX_BATCH: usize = 64;
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

struct Job {
    delivery: Delivery,
    done: oneshot::Sender<Result<Uuid, String>>,
}

#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Job>,
}

impl Store {
    /// Starts `writers` writer tasks that stop when `shutdown` turns true (after the batch in hand).
    pub fn start(db: Db, writers: usize, shutdown: watch::Receiver<bool>) -> (Store, Vec<tokio::task::JoinHandle<()>>) {
        let (tx, rx) = mpsc::channel::<Job>(1024);
        let rx = Arc::new(Mutex::new(rx));
        let tasks = (0..writers.max(1))
            .map(|_| {
                let (db, rx, mut shutdown) = (db.clone(), rx.clone(), shutdown.clone());
                tokio::spawn(async move {
                    loop {
                        let batch = {
                            let mut rx = rx.lock().await;
                            let first = tokio::select! {
                                j = rx.recv() => j,
                                _ = shutdown.changed() => None,
                            };
                            let Some(first) = first else { return };
                            let mut bytes = first.delivery.message.raw.len();
                            let mut batch = vec![first];
                            while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                                match rx.try_recv() {
                                    Ok(j) => {
                                        bytes += j.delivery.message.raw.len();
                                        batch.push(j);
                                    }
                                    Err(_) => break,
                                }
                            }
                            batch
                        };
                        write_batch(&db, batch).await;
                    }
                })
            })
            .collect();
        (Store { tx }, tasks)
    }

    /// Stores one message; returns its id once committed.
    pub async fn deliver(&self, delivery: Delivery) -> Result<Uuid, String> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Job { delivery, done }).await.map_err(|_| "the mail store is shutting down".to_string())?;
        wait.await.map_err(|_| "the mail store stopped before storing the message".to_string())?
    }
}

async fn write_batch(db: &Db, batch: Vec<Job>) {
    let mut by_tenant: HashMap<Uuid, Vec<Job>> = HashMap::new();
    for j in batch {
        by_tenant.entry(j.delivery.tenant_id).or_default().push(j);
    }
    for (tenant_id, jobs) in by_tenant {
        let claims = DbClaims { sub: Uuid::nil(), tenant_id, role: Role::Admin };
        let messages: Vec<_> = jobs.iter().map(|j| &j.delivery.message).collect();
        let stored = async {
            let mut tx = db.tenant_tx(&claims).await?;
            let ids = app::db::mail::insert_batch(&mut tx, &messages).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ids)
        }
        .await;
        match stored {
            Ok(ids) => {
                for (j, id) in jobs.into_iter().zip(ids) {
                    let _ = j.done.send(Ok(id));
                }
            }
            Err(e) if jobs.len() > 1 => {
                // One bad row must not cost the others: retry them one by one.
                tracing::warn!(error = %e, n = jobs.len(), "mail batch insert failed; retrying one by one");
                for j in jobs {
                    let one = async {
                        let mut tx = db.tenant_tx(&claims).await?;
                        let ids = app::db::mail::insert_batch(&mut tx, &[&j.delivery.message]).await?;
                        tx.commit().await?;
                        Ok::<_, sqlx::Error>(ids)
                    }
                    .await;
                    let _ = j.done.send(one.map(|ids| ids[0]).map_err(|e| e.to_string()));
                }
            }
            Err(e) => {
                for j in jobs {
                    let _ = j.done.send(Err(e.to_string()));
                }
            }
        }
    }
}
