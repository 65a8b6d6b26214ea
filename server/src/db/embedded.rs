//! Private PostgreSQL cluster started by `odooops serve` when no `DATABASE_URL` is set.
//!
//! The cluster lives in `data_dir` (e.g. `./.odooops/pg`). Its siblings in the console's state
//! dir are `pg.password` (superuser password, mode 0600), `pg.log` (server log) and `pg.sock`
//! (Unix socket dir). The server listens on 127.0.0.1 only. PostgreSQL refuses to run as root,
//! so when we are root every server binary runs as the OS user `postgres`.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{anyhow, bail, Context, Result};
use rand::{distributions::Alphanumeric, Rng};

const SUPERUSER: &str = "odooops";
const PG_OS_USER: &str = "postgres";
const NOT_FOUND: &str = "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian \
    package `postgresql` (apt-get install postgresql) or set DATABASE_URL to use an existing server";

/// Where and how to run the embedded cluster.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Cluster data directory, e.g. `./.odooops/pg`; its parent is the console's state dir.
    pub data_dir: PathBuf,
    /// TCP port on 127.0.0.1; `None` picks a free loopback port.
    pub port: Option<u16>,
}

/// OS identity the PostgreSQL processes run as (only when the console runs as root).
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A running private PostgreSQL cluster. Stop it with [`EmbeddedPg::stop`]; dropping it
/// without `stop` performs a best-effort synchronous fast shutdown.
#[derive(Debug)]
pub struct EmbeddedPg {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    password: String,
    run_as: Option<RunAs>,
    stopped: bool,
    /// The postmaster this value started: stopping leaves alone a server that another
    /// process has since started from the same directory.
    postmaster_pid: Option<u32>,
}

impl EmbeddedPg {
    /// Initialises the cluster on first use (superuser `odooops`, scram-sha-256, random
    /// password saved to `<state dir>/pg.password`), recovers a stale or orphaned server left by
    /// a crash, and starts PostgreSQL on 127.0.0.1, waiting until it accepts connections.
    pub async fn start(opts: EmbeddedOptions) -> Result<EmbeddedPg> {
        let bin_dir = find_bin_dir()?;
        let run_as = if effective_uid()? == 0 {
            Some(postgres_user()?)
        } else {
            None
        };
        let abs = std::path::absolute(&opts.data_dir)
            .with_context(|| format!("resolving data dir {}", opts.data_dir.display()))?;
        if let Some(ra) = run_as {
            check_traversable(&abs, ra)?; // before creating anything in a place postgres cannot reach
        }
        std::fs::create_dir_all(&abs)
            .with_context(|| format!("creating data dir {}", abs.display()))?;
        let data_dir = std::fs::canonicalize(&abs)
            .with_context(|| format!("resolving data dir {}", abs.display()))?;
        if let Some(ra) = run_as {
            check_traversable(&data_dir, ra)?;
        }
        let state_dir = data_dir
            .parent()
            .ok_or_else(|| anyhow!("data dir {} has no parent directory", data_dir.display()))?
            .to_path_buf();
        let sock_dir = state_dir.join("pg.sock");
        private_dir(&sock_dir, run_as)?;
        let log_file = state_dir.join("pg.log");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_file)
            .with_context(|| format!("creating log file {}", log_file.display()))?;
        chown_to(&log_file, run_as)?;

        let pw_file = state_dir.join("pg.password");
        let password = if data_dir.join("PG_VERSION").exists() {
            let text = std::fs::read_to_string(&pw_file).with_context(|| {
                format!(
                    "reading the embedded PostgreSQL password from {} (the cluster in {} \
                    exists; remove it to start over)",
                    pw_file.display(),
                    data_dir.display()
                )
            })?;
            text.trim().to_string()
        } else {
            init_cluster(&bin_dir, &data_dir, &state_dir, run_as).await?
        };
        let mut pg = EmbeddedPg {
            bin_dir,
            data_dir,
            port: 0,
            password,
            run_as,
            stopped: true,
            postmaster_pid: None,
        };
        pg.recover_stale().await?;

        pg.port = match opts.port {
            Some(p) => p,
            None => std::net::TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .context("finding a free loopback port for PostgreSQL")?
                .port(),
        };
        let server_opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}",
            pg.port,
            sh_quote(&sock_dir)
        );
        let out = pg
            .pg_ctl()
            .arg("-D")
            .arg(&pg.data_dir)
            .arg("-l")
            .arg(&log_file)
            .args(["-w", "-t", "60", "-o", &server_opts, "start"])
            .output()
            .await
            .context("running pg_ctl start")?;
        if !out.status.success() {
            bail!(
                "starting the embedded PostgreSQL failed: {}\n--- last lines of {} ---\n{}",
                output_text(&out),
                log_file.display(),
                tail(&log_file, 20)
            );
        }
        pg.stopped = false;
        pg.postmaster_pid = running_pid(&pg.data_dir);
        tracing::info!(port = pg.port, data_dir = %pg.data_dir.display(), "embedded PostgreSQL started");
        Ok(pg)
    }

    /// `postgres://odooops:<password>@127.0.0.1:<port>/<dbname>` for the cluster superuser.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{dbname}",
            self.password, self.port
        )
    }

    /// TCP port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory holding initdb, pg_ctl, pg_dump and the other PostgreSQL binaries.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Stops the server (`pg_ctl stop -m fast`) and waits until it has exited.
    pub async fn stop(mut self) -> Result<()> {
        self.stopped = true;
        if !self.still_ours() {
            tracing::warn!(data_dir = %self.data_dir.display(), "the PostgreSQL this console started no longer runs from this directory (stopped, or replaced by another process's); nothing stopped");
            return Ok(());
        }
        let out = self
            .pg_ctl()
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .output()
            .await
            .context("running pg_ctl stop")?;
        if !out.status.success() {
            bail!(
                "stopping the embedded PostgreSQL failed: {}",
                output_text(&out)
            );
        }
        tracing::info!(data_dir = %self.data_dir.display(), "embedded PostgreSQL stopped");
        Ok(())
    }

    /// Whether the server running from the data directory is the one this value started (true
    /// when that cannot be told, so a server is not left behind by mistake).
    fn still_ours(&self) -> bool {
        match (self.postmaster_pid, running_pid(&self.data_dir)) {
            (Some(ours), Some(now)) => ours == now,
            (_, None) => self.postmaster_pid.is_none() && self.data_dir.join("postmaster.pid").exists(),
            (None, Some(_)) => true,
        }
    }

    /// A `pg_ctl` command run as the PostgreSQL OS user when needed.
    fn pg_ctl(&self) -> tokio::process::Command {
        pg_command(&self.bin_dir, "pg_ctl", self.run_as)
    }

    /// Deals with a `postmaster.pid` left behind: stops a server still running from it, or
    /// removes the file when its process is gone.
    async fn recover_stale(&self) -> Result<()> {
        let pid_file = self.data_dir.join("postmaster.pid");
        let text = match std::fs::read_to_string(&pid_file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", pid_file.display())),
        };
        let pid = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        let running = alive
            && self
                .pg_ctl()
                .arg("-D")
                .arg(&self.data_dir)
                .arg("status")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .context("running pg_ctl status")?
                .success();
        if running {
            tracing::warn!(
                pid,
                "embedded PostgreSQL from an earlier run is still running; stopping it"
            );
            let out = self
                .pg_ctl()
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-m", "fast", "-w", "-t", "60", "stop"])
                .output()
                .await
                .context("running pg_ctl stop on the leftover server")?;
            if !out.status.success() {
                bail!(
                    "stopping the leftover embedded PostgreSQL failed: {}",
                    output_text(&out)
                );
            }
        } else if pid_file.exists() {
            tracing::warn!(pid, "removing stale postmaster.pid left by a crash");
            std::fs::remove_file(&pid_file)
                .with_context(|| format!("removing stale {}", pid_file.display()))?;
        }
        Ok(())
    }
}

impl Drop for EmbeddedPg {
    fn drop(&mut self) {
        if self.stopped || !self.still_ours() {
            return;
        }
        let mut cmd = std::process::Command::new(self.bin_dir.join("pg_ctl"));
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(ra) = self.run_as {
            std::os::unix::process::CommandExt::uid(&mut cmd, ra.uid);
            std::os::unix::process::CommandExt::gid(&mut cmd, ra.gid);
        }
        match cmd.status() {
            Ok(s) if s.success() => tracing::info!("embedded PostgreSQL stopped on drop"),
            Ok(s) => tracing::warn!(%s, "pg_ctl stop on drop failed"),
            Err(e) => tracing::warn!(error = %e, "could not run pg_ctl stop on drop"),
        }
    }
}

/// The pid in the data directory's `postmaster.pid` (its first line), if there is one.
fn running_pid(data_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
}

/// Finds the PostgreSQL server binaries: the highest version under
/// `/usr/lib/postgresql/*/bin` with initdb, pg_ctl and postgres, else a `PATH` entry with
/// pg_ctl and initdb.
pub fn find_bin_dir() -> Result<PathBuf> {
    let has = |dir: &Path, names: &[&str]| names.iter().all(|n| dir.join(n).is_file());
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let ver = name
                .split('.')
                .map(|p| p.parse::<u32>().ok())
                .collect::<Option<Vec<_>>>()?;
            Some((ver, e.path().join("bin")))
        })
        .filter(|(_, bin)| has(bin, &["initdb", "pg_ctl", "postgres"]))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).find(|d| has(d, &["pg_ctl", "initdb"])))
        .ok_or_else(|| anyhow!(NOT_FOUND))
}

/// Creates a fresh cluster in `data_dir`; returns the generated superuser password.
async fn init_cluster(
    bin_dir: &Path,
    data_dir: &Path,
    state_dir: &Path,
    run_as: Option<RunAs>,
) -> Result<String> {
    let password: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    write_private(&state_dir.join("pg.password"), &password)?;
    let tmp = state_dir.join(".pg.pwfile.tmp");
    write_private(&tmp, &password)?;
    chown_to(&tmp, run_as)?;
    let mut errors = Vec::new();
    for locale in ["--locale=C.UTF-8", "--no-locale"] {
        private_dir(data_dir, run_as)?; // initdb empties or removes it when it fails
        let out = pg_command(bin_dir, "initdb", run_as)
            .arg("-D")
            .arg(data_dir)
            .args([
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                locale,
            ])
            .arg(format!("--pwfile={}", tmp.display()))
            .output()
            .await
            .context("running initdb");
        match out {
            Ok(o) if o.status.success() => {
                let _ = std::fs::remove_file(&tmp);
                tracing::info!(data_dir = %data_dir.display(), "initialised embedded PostgreSQL cluster");
                return Ok(password);
            }
            Ok(o) => errors.push(format!("initdb {locale}: {}", output_text(&o))),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let _ = std::fs::remove_file(&tmp);
    bail!(
        "initialising the embedded PostgreSQL cluster in {} failed:\n{}",
        data_dir.display(),
        errors.join("\n")
    )
}

/// A PostgreSQL binary as a tokio command, run as `run_as` and from `/` (the caller's cwd
/// may be unreadable for that user).
fn pg_command(bin_dir: &Path, prog: &str, run_as: Option<RunAs>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin_dir.join(prog));
    cmd.current_dir("/").stdin(Stdio::null());
    if let Some(ra) = run_as {
        cmd.uid(ra.uid).gid(ra.gid);
    }
    cmd
}

/// Effective uid of this process, from `/proc/self/status`.
fn effective_uid() -> Result<u32> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .ok_or_else(|| anyhow!("no effective uid in /proc/self/status"))
}

/// The `postgres` OS user's uid/gid from /etc/passwd.
fn postgres_user() -> Result<RunAs> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == PG_OS_USER)
        .and_then(|f| Some(RunAs { uid: f[2].parse().ok()?, gid: f[3].parse().ok()? }))
        .ok_or_else(|| anyhow!("running as root, but PostgreSQL refuses to run as root and the OS user \
            `{PG_OS_USER}` does not exist: install the Debian package `postgresql` (apt-get install \
            postgresql), which creates it, or run odooops as a non-root user"))
}

/// Fails when `run_as` cannot traverse an existing directory above `data_dir`.
fn check_traversable(data_dir: &Path, ra: RunAs) -> Result<()> {
    for dir in data_dir.ancestors().skip(1) {
        let md = match std::fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            md => md.with_context(|| format!("inspecting {}", dir.display()))?,
        };
        let bit = if md.uid() == ra.uid {
            0o100
        } else if md.gid() == ra.gid {
            0o010
        } else {
            0o001
        };
        if md.mode() & bit == 0 {
            bail!("the PostgreSQL OS user `{PG_OS_USER}` cannot traverse {} (mode {:o}) to reach the \
                data dir {}: set ODOOOPS_DATA_DIR to a path it can reach, such as /var/lib/odooops",
                dir.display(), md.mode() & 0o7777, data_dir.display());
        }
    }
    Ok(())
}

/// Creates `dir` (mode 0700) and hands it to `run_as`.
fn private_dir(dir: &Path, run_as: Option<RunAs>) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting mode 0700 on {}", dir.display()))?;
    chown_to(dir, run_as)
}

fn chown_to(path: &Path, run_as: Option<RunAs>) -> Result<()> {
    match run_as {
        Some(ra) => std::os::unix::fs::chown(path, Some(ra.uid), Some(ra.gid))
            .with_context(|| format!("chown {} to the `{PG_OS_USER}` user", path.display())),
        None => Ok(()),
    }
}

/// Writes `text` to `path` with mode 0600 (also when the file already existed).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Single-quotes a path for the shell command line pg_ctl builds from `-o`.
fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

fn output_text(out: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    format!("{} ({})", text.trim(), out.status)
}

/// The last `n` lines of a log file (or why it could not be read).
fn tail(path: &Path, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(could not read log: {e})"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_server_it_started_counts_as_its_own() {
        let dir = std::env::temp_dir().join(format!("odooops-pidtest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pg = |pid: Option<u32>| EmbeddedPg {
            bin_dir: PathBuf::new(),
            data_dir: dir.clone(),
            port: 0,
            password: String::new(),
            run_as: None,
            stopped: true,
            postmaster_pid: pid,
        };
        assert!(!pg(Some(4242)).still_ours(), "nothing runs: nothing to stop");
        std::fs::write(dir.join("postmaster.pid"), "4242\n/data\n1700000000\n5432\n").unwrap();
        assert!(pg(Some(4242)).still_ours());
        assert!(!pg(Some(1111)).still_ours(), "a server started since by someone else is left alone");
        assert!(pg(None).still_ours(), "unknown: stop as before");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    use super::*;

    /// A fresh state dir under the temp dir (0755 so the `postgres` user can traverse it).
    fn scratch() -> PathBuf {
        let name: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(10)
            .map(char::from)
            .collect();
        let base = if effective_uid().unwrap() == 0 {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let state = base.join(format!("odooops-pgtest-{name}")).join("state");
        std::fs::create_dir_all(&state).unwrap();
        for dir in [state.parent().unwrap(), &state] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        state
    }

    /// Runs `sql` through psql over TCP as `odooops`; returns trimmed stdout or the error text.
    fn psql(pg: &EmbeddedPg, password: &str, sql: &str) -> Result<String, String> {
        let out = std::process::Command::new(pg.bin_dir().join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port().to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-tAc",
                sql,
            ])
            .env("PGPASSWORD", password)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(if out.status.success() {
            &out.stdout
        } else {
            &out.stderr
        });
        if out.status.success() {
            Ok(text.trim().to_string())
        } else {
            Err(text.into_owned())
        }
    }

    #[tokio::test]
    async fn start_stop_restart_reuses_cluster_and_password() {
        let state = scratch();
        let opts = EmbeddedOptions {
            data_dir: state.join("pg"),
            port: None,
        };
        let pg = EmbeddedPg::start(opts.clone()).await.unwrap();
        std::net::TcpStream::connect(("127.0.0.1", pg.port())).unwrap();
        let pw_path = state.join("pg.password");
        let password = std::fs::read_to_string(&pw_path).unwrap();
        assert_eq!(password.len(), 32);
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(std::fs::metadata(&pw_path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            pg.url("odooops"),
            format!(
                "postgres://odooops:{password}@127.0.0.1:{}/odooops",
                pg.port()
            )
        );
        assert_eq!(psql(&pg, &password, "select 1").unwrap(), "1");
        assert_eq!(
            psql(&pg, &password, "show listen_addresses").unwrap(),
            "127.0.0.1"
        );
        assert!(
            psql(&pg, "wrong-password", "select 1").is_err(),
            "scram auth must reject a wrong password"
        );
        pg.stop().await.unwrap();
        assert!(!state.join("pg/postmaster.pid").exists());

        let pg = EmbeddedPg::start(opts).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&pw_path).unwrap(),
            password,
            "password file must be unchanged"
        );
        std::net::TcpStream::connect(("127.0.0.1", pg.port())).unwrap();
        assert_eq!(psql(&pg, &password, "select 1").unwrap(), "1");
        pg.stop().await.unwrap();
        std::fs::remove_dir_all(state.parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn recovers_stale_pid_file_and_orphaned_server() {
        let state = scratch();
        let opts = EmbeddedOptions {
            data_dir: state.join("pg"),
            port: None,
        };
        let pid_file = state.join("pg/postmaster.pid");
        EmbeddedPg::start(opts.clone())
            .await
            .unwrap()
            .stop()
            .await
            .unwrap();

        // Crash leftover: a postmaster.pid naming a process that has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        std::fs::write(
            &pid_file,
            format!("{dead}\n{}\n", state.join("pg").display()),
        )
        .unwrap();
        let pg = EmbeddedPg::start(opts.clone()).await.unwrap();
        let password = std::fs::read_to_string(state.join("pg.password")).unwrap();
        assert_eq!(psql(&pg, &password, "select 1").unwrap(), "1");

        // Orphaned server still running (the handle is leaked, so nothing stopped it).
        let old_port = pg.port();
        std::mem::forget(pg);
        let pg = EmbeddedPg::start(EmbeddedOptions { port: None, ..opts })
            .await
            .unwrap();
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", old_port)).is_err() || old_port == pg.port()
        );
        assert_eq!(psql(&pg, &password, "select 1").unwrap(), "1");
        drop(pg); // exercises the synchronous Drop shutdown
        assert!(!pid_file.exists(), "drop must stop the server");
        std::fs::remove_dir_all(state.parent().unwrap()).unwrap();
    }

    #[test]
    fn finds_binaries() {
        let bin = find_bin_dir().unwrap();
        assert!(bin.join("pg_ctl").is_file() && bin.join("initdb").is_file());
    }
}
