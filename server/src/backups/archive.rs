//! File stores as tar.zst streams: written and read on blocking threads, bridged to the async
//! side through an in-memory pipe (1 MiB), so an archive is never whole in memory. Only
//! regular files and directories go in (links are skipped and counted); extraction refuses
//! absolute paths, `..`, links and existing files.
use super::Progress;
use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncRead, DuplexStream};
use tokio::task::JoinHandle;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;

/// What went into an archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    pub files: u64,
    pub bytes_in: u64,
    /// Files that vanished while archiving, links and other special files.
    pub skipped: u64,
}

/// Counts the regular files under `dir` (for the progress bar).
pub fn count_files(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir).follow_links(false).into_iter().flatten().filter(|e| e.file_type().is_file()).count() as u64
}

/// Starts archiving `dir`: returns the compressed stream and the task that reports what went
/// in. The task stops with an error when `cancel` fires or the reader is dropped.
pub fn pack(dir: PathBuf, level: i32, progress: Arc<Progress>, cancel: CancellationToken) -> (DuplexStream, JoinHandle<Result<ArchiveStats>>) {
    let (reader, writer) = tokio::io::duplex(1 << 20);
    let bridge = SyncIoBridge::new(writer);
    let task = tokio::task::spawn_blocking(move || pack_blocking(&dir, level, bridge, &progress, &cancel));
    (reader, task)
}

fn pack_blocking(dir: &Path, level: i32, mut out: SyncIoBridge<DuplexStream>, progress: &Progress, cancel: &CancellationToken) -> Result<ArchiveStats> {
    let mut stats = ArchiveStats::default();
    {
        let enc = zstd::Encoder::new(&mut out, level).context("starting zstd")?;
        let mut tar = tar::Builder::new(enc);
        tar.follow_symlinks(false);
        let walk = walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name().min_depth(1);
        for entry in walk {
            if cancel.is_cancelled() {
                bail!(super::store::Cancelled);
            }
            let entry = match entry {
                Ok(e) => e,
                // Vanished while walking (Odoo's garbage collector): skip it.
                Err(_) => {
                    stats.skipped += 1;
                    continue;
                }
            };
            let rel = entry.path().strip_prefix(dir).context("walking the file store")?.to_path_buf();
            let ft = entry.file_type();
            if ft.is_dir() {
                tar.append_dir(&rel, entry.path()).with_context(|| format!("archiving {}", rel.display()))?;
            } else if ft.is_file() {
                let mut file = match std::fs::File::open(entry.path()) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        stats.skipped += 1;
                        continue;
                    }
                    Err(e) => return Err(e).with_context(|| format!("opening {}", entry.path().display())),
                };
                let meta = file.metadata()?;
                let mut header = tar::Header::new_gnu();
                header.set_metadata(&meta);
                header.set_size(meta.len());
                tar.append_data(&mut header, &rel, &mut file).with_context(|| format!("archiving {}", rel.display()))?;
                stats.files += 1;
                stats.bytes_in += meta.len();
                progress.files_done.store(stats.files as i64, Ordering::Relaxed);
            } else {
                stats.skipped += 1;
            }
        }
        let enc = tar.into_inner().context("finishing the tar stream")?;
        enc.finish().context("finishing zstd")?;
    }
    out.flush()?;
    out.shutdown()?;
    Ok(stats)
}

/// Reads a blocking reader to the end into a sha256 and a byte count.
pub struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    pub bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hash: Sha256::new(), bytes: 0 }
    }
    /// Reads what is left (a decoder may stop before the end) and returns (bytes, sha256).
    pub fn finish(mut self) -> std::io::Result<(u64, String)> {
        std::io::copy(&mut self.inner, &mut HashSink { hash: &mut self.hash, bytes: &mut self.bytes })?;
        Ok((self.bytes, hex::encode(self.hash.finalize())))
    }
}

struct HashSink<'a> {
    hash: &'a mut Sha256,
    bytes: &'a mut u64,
}

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hash.update(buf);
        *self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// What reading an archive back found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub bytes: u64,
    pub sha256: String,
    pub files: u64,
}

/// Reads a stored archive completely: its sha256 and size, and every entry decoded (a
/// truncated or corrupt archive fails here). With `into`, entries are also extracted there.
pub async fn check(reader: impl AsyncRead + Send + Unpin + 'static, into: Option<PathBuf>, progress: Arc<Progress>) -> Result<Checked> {
    let bridge = SyncIoBridge::new(reader);
    tokio::task::spawn_blocking(move || {
        let mut hashing = HashingReader::new(bridge);
        let files = {
            let dec = zstd::Decoder::new(&mut hashing).context("reading zstd")?;
            let mut archive = tar::Archive::new(dec);
            let mut files = 0u64;
            for entry in archive.entries().context("reading the tar stream")? {
                let mut entry = entry.context("reading the tar stream")?;
                let path = entry.path().context("an entry with an unreadable name")?.into_owned();
                let kind = entry.header().entry_type();
                if !safe_relative(&path) {
                    bail!("the archive holds an unsafe path: {}", path.display());
                }
                match &into {
                    Some(dir) if kind.is_dir() => std::fs::create_dir_all(dir.join(&path))?,
                    Some(dir) if kind.is_file() => {
                        let target = dir.join(&path);
                        if let Some(parent) = target.parent() {
                            std::fs::create_dir_all(parent)?;
                        }
                        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&target).with_context(|| format!("creating {}", target.display()))?;
                        std::io::copy(&mut entry, &mut f)?;
                    }
                    Some(_) if !kind.is_dir() && !kind.is_file() => bail!("the archive holds a link or special file: {}", path.display()),
                    _ => {
                        std::io::copy(&mut entry, &mut std::io::sink())?;
                    }
                }
                if kind.is_file() {
                    files += 1;
                    progress.files_done.store(files as i64, Ordering::Relaxed);
                }
            }
            files
        };
        let (bytes, sha256) = hashing.finish()?;
        Ok(Checked { bytes, sha256, files })
    })
    .await
    .map_err(|e| anyhow!("the archive reader stopped: {e}"))?
}

/// Relative, without `..`, root or prefix components.
fn safe_relative(p: &Path) -> bool {
    !p.as_os_str().is_empty() && p.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn pack_then_check_and_extract() {
        let base = std::env::temp_dir().join(format!("odooops-archive-{}", uuid::Uuid::new_v4()));
        let src = base.join("src");
        std::fs::create_dir_all(src.join("a/b")).unwrap();
        std::fs::write(src.join("a/one.bin"), vec![7u8; 100_000]).unwrap();
        std::fs::write(src.join("a/b/two.txt"), b"hello").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        let progress = Arc::new(Progress::default());
        let (mut r, task) = pack(src.clone(), 3, progress.clone(), CancellationToken::new());
        let mut packed = Vec::new();
        r.read_to_end(&mut packed).await.unwrap();
        let stats = task.await.unwrap().unwrap();
        assert_eq!((stats.files, stats.bytes_in, stats.skipped), (2, 100_005, 1));
        let out = base.join("out");
        let checked = check(std::io::Cursor::new(packed.clone()), Some(out.clone()), progress.clone()).await.unwrap();
        assert_eq!(checked.files, 2);
        assert_eq!(checked.bytes, packed.len() as u64);
        assert_eq!(checked.sha256, hex::encode(Sha256::digest(&packed)));
        assert_eq!(std::fs::read(out.join("a/b/two.txt")).unwrap(), b"hello");
        assert!(!out.join("link").exists());
        // A truncated archive does not pass.
        let cut = packed[..packed.len() / 2].to_vec();
        assert!(check(std::io::Cursor::new(cut), None, progress).await.is_err());
        assert!(!safe_relative(Path::new("../x")) && !safe_relative(Path::new("/x")) && safe_relative(Path::new("a/b")));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
