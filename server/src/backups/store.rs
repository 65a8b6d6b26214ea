//! Where backup parts live: the console's backup directory or an S3-compatible bucket, both
//! through `object_store`. Parts are streamed in and out (16 MiB multipart chunks, at most
//! two in flight), hashed on the way, never held whole in memory. An object exists only once
//! its upload completed: an interrupted local upload leaves a staging file that the cleanup
//! removes, an interrupted S3 upload is never listed (a bucket lifecycle rule should abort
//! incomplete multipart uploads).
use anyhow::{anyhow, Context, Result};
use app::models::StorageSettings;
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

const CHUNK: usize = 16 << 20;

/// What was written: size and sha256 (hex) of the bytes that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// Set for the local directory (for fsync and leftover cleanup).
    local_root: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("local_root", &self.local_root).finish_non_exhaustive()
    }
}

/// Joins key segments; each must be a plain name (no '/', '.', '..').
pub fn key(parts: &[&str]) -> Result<String> {
    for p in parts {
        if p.is_empty() || *p == "." || *p == ".." || p.contains(['/', '\\', '\0']) {
            return Err(anyhow!("“{p}” cannot be part of a backup path"));
        }
    }
    Ok(parts.join("/"))
}

impl Store {
    /// Opens a project's storage. `local_root` is the console's backup directory (created);
    /// `secret` is the S3 secret key (unused for local storage).
    pub fn open(settings: &StorageSettings, secret: &str, local_root: &Path) -> Result<Store> {
        match settings {
            StorageSettings::Local => {
                std::fs::create_dir_all(local_root).with_context(|| format!("creating the backup directory {}", local_root.display()))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(local_root)?.with_automatic_cleanup(true);
                Ok(Store { inner: Arc::new(fs), local_root: Some(std::fs::canonicalize(local_root)?) })
            }
            StorageSettings::S3 { bucket, prefix, endpoint, region, allow_http, access_key_id } => {
                settings.validate().map_err(|e| anyhow!("backup storage: {e}"))?;
                // allow_http lives in the client options: set it there (the builder's own
                // setter would be undone by with_client_options).
                let options = object_store::ClientOptions::new()
                    .with_allow_http(*allow_http)
                    .with_timeout(Duration::from_secs(120))
                    .with_connect_timeout(Duration::from_secs(10));
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret)
                    .with_virtual_hosted_style_request(false)
                    // A store that is down answers within about half a minute, not minutes.
                    .with_retry(object_store::RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(30), ..Default::default() })
                    .with_client_options(options);
                if !endpoint.is_empty() {
                    b = b.with_endpoint(endpoint);
                }
                let s3 = b.build().context("configuring the S3 client")?;
                let inner: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.trim_matches('/')))
                };
                Ok(Store { inner, local_root: None })
            }
        }
    }

    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// The file behind a key in local storage.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.local_root.as_ref().map(|r| r.join(key))
    }

    /// Streams `reader` into `key`; `progress` gets the running byte count. Stops (and aborts
    /// the upload) when `cancel` fires. Nothing is visible under `key` unless this returns Ok.
    pub async fn upload(&self, key: &str, reader: &mut (impl AsyncRead + Unpin), progress: &(dyn Fn(u64) + Sync), cancel: &CancellationToken) -> Result<PartInfo> {
        let path = ObjPath::parse(key)?;
        let upload = self.inner.put_multipart(&path).await.with_context(|| format!("starting the upload of {key}"))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, CHUNK);
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        let outcome: Result<()> = async {
            loop {
                let n = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Err(anyhow!(Cancelled)),
                    n = reader.read(&mut buf) => n.context("reading the stream to store")?,
                };
                if n == 0 {
                    return Ok(());
                }
                hash.update(&buf[..n]);
                w.wait_for_capacity(2).await.with_context(|| format!("uploading {key}"))?;
                w.write(&buf[..n]);
                bytes += n as u64;
                progress(bytes);
            }
        }
        .await;
        if let Err(e) = outcome {
            let _ = w.abort().await;
            return Err(e);
        }
        w.finish().await.with_context(|| format!("completing the upload of {key}"))?;
        self.sync(key);
        Ok(PartInfo { bytes, sha256: hex::encode(hash.finalize()) })
    }

    /// Writes a small object in one request.
    pub async fn put_small(&self, key: &str, data: Vec<u8>) -> Result<PartInfo> {
        let sha256 = hex::encode(Sha256::digest(&data));
        let bytes = data.len() as u64;
        self.inner.put(&ObjPath::parse(key)?, PutPayload::from(Bytes::from(data))).await.with_context(|| format!("writing {key}"))?;
        self.sync(key);
        Ok(PartInfo { bytes, sha256 })
    }

    /// Local files reach the disk before a backup is called good (a process kill cannot lose
    /// them, a power cut should not either).
    fn sync(&self, key: &str) {
        if let Some(path) = self.local_path(key) {
            if let Ok(f) = std::fs::File::open(&path) {
                let _ = f.sync_all();
            }
            if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
                let _ = dir.sync_all();
            }
        }
    }

    /// A reader over a stored object.
    /// Local files are read directly in 1 MiB blocks: object_store reads them 8 KiB at a
    /// time, one blocking task each, about 4× slower (measured by the benchmark).
    pub async fn reader(&self, key: &str) -> Result<(u64, Box<dyn AsyncRead + Send + Unpin + 'static>)> {
        if let Some(path) = self.local_path(key) {
            ObjPath::parse(key)?;
            let file = tokio::fs::File::open(&path).await.with_context(|| format!("reading {key}"))?;
            let size = file.metadata().await?.len();
            return Ok((size, Box::new(tokio::io::BufReader::with_capacity(1 << 20, file))));
        }
        let got = self.inner.get(&ObjPath::parse(key)?).await.with_context(|| format!("reading {key}"))?;
        let size = got.meta.size;
        let stream = got.into_stream().map(|r| r.map_err(std::io::Error::other));
        Ok((size, Box::new(tokio_util::io::StreamReader::new(stream))))
    }

    /// The object as a byte stream (downloads).
    pub async fn stream(&self, key: &str) -> Result<(u64, futures::stream::BoxStream<'static, std::io::Result<Bytes>>)> {
        if self.is_local() {
            let (size, reader) = self.reader(key).await?;
            return Ok((size, tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20).boxed()));
        }
        let got = self.inner.get(&ObjPath::parse(key)?).await.with_context(|| format!("reading {key}"))?;
        Ok((got.meta.size, got.into_stream().map(|r| r.map_err(std::io::Error::other)).boxed()))
    }

    pub async fn read_small(&self, key: &str) -> Result<Vec<u8>> {
        let got = self.inner.get(&ObjPath::parse(key)?).await.with_context(|| format!("reading {key}"))?;
        Ok(got.bytes().await?.to_vec())
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.inner.head(&ObjPath::parse(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes everything under `prefix` (a backup's directory); for local storage also
    /// the staging files an interrupted upload left. Returns how many objects went.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        let mut n = 0;
        if let Some(dir) = self.local_path(prefix) {
            if dir.exists() {
                n = walkdir::WalkDir::new(&dir).into_iter().flatten().filter(|e| e.file_type().is_file()).count() as u64;
                tokio::fs::remove_dir_all(&dir).await.with_context(|| format!("removing {}", dir.display()))?;
            }
            return Ok(n);
        }
        let path = ObjPath::parse(prefix)?;
        let mut list = self.inner.list(Some(&path));
        while let Some(meta) = list.next().await {
            let meta = meta?;
            self.inner.delete(&meta.location).await?;
            n += 1;
        }
        Ok(n)
    }

    /// The backup directories (`project/env/backup_id`) present in storage: for finding
    /// leftovers that no good backup owns.
    pub async fn backup_dirs(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut list = self.inner.list(None);
        let mut seen = std::collections::BTreeSet::new();
        while let Some(meta) = list.next().await {
            let parts: Vec<String> = meta?.location.parts().map(|p| p.as_ref().to_string()).collect();
            if parts.len() >= 4 {
                seen.insert(parts[..3].join("/"));
            }
        }
        if let Some(root) = &self.local_root {
            // Directories holding only staging files are invisible to the listing above.
            for e in walkdir::WalkDir::new(root).min_depth(3).max_depth(3).into_iter().flatten() {
                if e.file_type().is_dir() {
                    if let Ok(rel) = e.path().strip_prefix(root) {
                        seen.insert(rel.to_string_lossy().into_owned());
                    }
                }
            }
        }
        out.extend(seen);
        Ok(out)
    }
}

/// The error a cancelled transfer returns.
#[derive(Debug, Clone, Copy)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}

pub fn is_cancelled(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<Cancelled>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_refuse_traversal() {
        assert_eq!(key(&["acme", "production", "x"]).unwrap(), "acme/production/x");
        assert!(key(&["acme", ".."]).is_err());
        assert!(key(&["a/b"]).is_err());
        assert!(key(&[""]).is_err());
    }

    #[tokio::test]
    async fn local_round_trip_hashes_and_deletes() {
        let dir = std::env::temp_dir().join(format!("odooops-store-{}", uuid::Uuid::new_v4()));
        let store = Store::open(&StorageSettings::Local, "", &dir).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let seen = std::sync::atomic::AtomicU64::new(0);
        let info = store
            .upload("p/e/b/db.dump", &mut &data[..], &|n| seen.store(n, std::sync::atomic::Ordering::Relaxed), &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(info.bytes, data.len() as u64);
        assert_eq!(info.sha256, hex::encode(Sha256::digest(&data)));
        assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), data.len() as u64);
        let (size, mut r) = store.reader("p/e/b/db.dump").await.unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.unwrap();
        assert_eq!((size, back.len()), (data.len() as u64, data.len()));
        assert_eq!(store.backup_dirs().await.unwrap(), vec!["p/e/b".to_string()]);
        assert_eq!(store.delete_prefix("p/e/b").await.unwrap(), 1);
        assert!(!store.exists("p/e/b/db.dump").await.unwrap());
        let cancel = CancellationToken::new();
        cancel.cancel();
        let err = store.upload("p/e/c/db.dump", &mut &data[..], &|_| {}, &cancel).await.unwrap_err();
        assert!(is_cancelled(&err));
        assert!(!store.exists("p/e/c/db.dump").await.unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
