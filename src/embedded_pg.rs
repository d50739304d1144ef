//! The embedded PostgreSQL of the zero-config mode: a private cluster under
//! `$DATA_DIR/postgres`, created with `initdb` on first start, reused afterwards, reached over
//! 127.0.0.1 on a free port with a generated password. PostgreSQL refuses to run as root, so a
//! server running as root runs the cluster as the `postgres` user (or `nobody`).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
use tokio::process::Command;

/// The database the server uses inside the cluster.
pub const DATABASE: &str = "ota_inbox";
const SUPERUSER: &str = "postgres";
const PASSWORD_FILE: &str = "ota-inbox.password";

const INSTALL_HINT: &str = "no PostgreSQL server binaries (initdb, pg_ctl) were found on PATH, \
through `pg_config --bindir`, or under /usr/lib/postgresql/*/bin. Install PostgreSQL \
(Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`) or set \
DATABASE_URL to a PostgreSQL server you run yourself";

/// Settings of a cluster.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Trade durability for speed (`fsync=off`): for throwaway test clusters only.
    pub unsafe_fast: bool,
}

/// A running cluster.
#[derive(Debug)]
pub struct EmbeddedPg {
    /// An exclusive lock on `<dir>.lock`, held while this handle lives: one server per cluster
    /// (the operating system releases it when a server dies, so the next start adopts).
    _lock: std::fs::File,
    dir: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    password: String,
    run_as: Option<(u32, u32)>,
}

impl EmbeddedPg {
    /// Starts (after creating, on first use) the cluster in `dir`, or adopts it if it still runs
    /// from an earlier server that was killed.
    pub async fn start(dir: &Path, options: &Options) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir().await.context(INSTALL_HINT)?;
        let run_as = unprivileged_user()?;
        let dir = absolute(dir)?;
        let lock = lock(&dir)?;
        let mut pg = EmbeddedPg {
            _lock: lock,
            dir,
            bin_dir,
            port: 0,
            password: String::new(),
            run_as,
        };
        if !pg.dir.join("PG_VERSION").exists() {
            pg.init(options).await?;
        }
        pg.password = std::fs::read_to_string(pg.dir.join(PASSWORD_FILE))
            .with_context(|| format!("reading the cluster password in {}", pg.dir.display()))?
            .trim()
            .to_owned();
        match pg.running_port().await? {
            Some(port) => {
                tracing::info!(dir = %pg.dir.display(), port, "adopting the running embedded PostgreSQL");
                pg.port = port;
            }
            None => pg.launch().await?,
        }
        pg.ensure_database(DATABASE).await?;
        Ok(pg)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Connection options for a database of the cluster.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(SUPERUSER)
            .password(&self.password)
            .database(database)
            .log_statements(tracing::log::LevelFilter::Debug)
    }

    /// The `DATABASE_URL` of a database of the cluster, for another process (the generated
    /// password is URL-safe).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Creates a database unless it exists.
    pub async fn ensure_database(&self, name: &str) -> anyhow::Result<()> {
        let mut conn = self.connect_options("postgres").connect().await?;
        let exists: bool =
            sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            sqlx::query(&format!(
                "create database \"{}\"",
                name.replace('"', "\"\"")
            ))
            .execute(&mut conn)
            .await?;
        }
        Ok(())
    }

    /// Stops the cluster (fast shutdown: open sessions end, data is safe) and lets it go.
    pub async fn stop(self) -> anyhow::Result<()> {
        let out = self
            .pg_ctl()
            .args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
            .arg(&self.dir)
            .output()
            .await
            .context("running pg_ctl stop")?;
        if !out.status.success() {
            bail!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        tracing::info!(dir = %self.dir.display(), "embedded PostgreSQL stopped");
        Ok(())
    }

    async fn init(&self, options: &Options) -> anyhow::Result<()> {
        tracing::info!(dir = %self.dir.display(), "creating the embedded PostgreSQL cluster");
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid))
                .with_context(|| format!("handing {} to uid {uid}", self.dir.display()))?;
        }
        let password = random_secret();
        // initdb reads the superuser's password from a file that the cluster's user can read.
        let pwfile = self.dir.with_extension("initdb-password");
        std::fs::write(&pwfile, format!("{password}\n"))?;
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o600))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))?;
        }
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.dir)
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .await;
        let _ = std::fs::remove_file(&pwfile);
        let out = out.context("running initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed in {} (the cluster runs as uid {:?}; it must be able to reach that \
                 folder, or set DATA_DIR elsewhere): {}",
                self.dir.display(),
                self.run_as.map(|(uid, _)| uid),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let mut conf = String::from(
            "\n# ota-inbox embedded mode\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
             logging_collector = off\n",
        );
        if options.unsafe_fast {
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\n");
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("postgresql.conf"))?;
        std::io::Write::write_all(&mut file, conf.as_bytes())?;
        // Readable by the server (which may not own the cluster when it runs as root).
        let password_path = self.dir.join(PASSWORD_FILE);
        std::fs::write(&password_path, &password)?;
        std::fs::set_permissions(&password_path, std::fs::Permissions::from_mode(0o600))?;
        Ok(())
    }

    /// The port of the cluster if its postmaster runs.
    async fn running_port(&self) -> anyhow::Result<Option<u16>> {
        let status = self
            .pg_ctl()
            .arg("status")
            .arg("-D")
            .arg(&self.dir)
            .output()
            .await?;
        if !status.status.success() {
            return Ok(None);
        }
        let pid_file = std::fs::read_to_string(self.dir.join("postmaster.pid")).unwrap_or_default();
        Ok(pid_file
            .lines()
            .nth(3)
            .and_then(|line| line.trim().parse().ok()))
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        self.port = free_port()?;
        let log = self.dir.join("server.log");
        let out = self
            .pg_ctl()
            .args(["start", "-w", "-t", "120", "-D"])
            .arg(&self.dir)
            .arg("-l")
            .arg(&log)
            .args(["-o", &format!("-p {}", self.port)])
            .stdout(Stdio::null())
            .output()
            .await
            .context("running pg_ctl start")?;
        if !out.status.success() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            bail!(
                "pg_ctl start failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tracing::info!(dir = %self.dir.display(), port = self.port, "embedded PostgreSQL started");
        Ok(())
    }

    fn pg_ctl(&self) -> Command {
        let mut cmd = self.command("pg_ctl");
        // pg_ctl's own children inherit these; keep the server out of our process group so
        // that a Ctrl-C in the terminal reaches us first and we stop it cleanly.
        cmd.process_group(0);
        cmd
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.env_remove("PGDATA")
            .env("LC_ALL", "C")
            .kill_on_drop(false);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
            // The unprivileged user's HOME may not be ours.
            cmd.env("HOME", &self.dir).current_dir(&self.dir);
        }
        cmd
    }
}

/// Takes `<dir>.lock`, or fails when another live server holds it.
fn lock(dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = dir.with_extension("lock");
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another ota-inbox server is using the embedded PostgreSQL in {}: stop it, or give this \
             one another DATA_DIR",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("locking {}", path.display()))
        }
    }
}

fn absolute(dir: &Path) -> anyhow::Result<PathBuf> {
    let joined = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::env::current_dir()?.join(dir)
    };
    Ok(joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect())
}

fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`.
async fn find_bin_dir() -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|dir| has_all(dir))
    {
        return Some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output().await {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_all(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// `None` when we are not root; else the uid and gid of `postgres` (or `nobody`).
fn unprivileged_user() -> anyhow::Result<Option<(u32, u32)>> {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1);
    if euid != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4 && fields[0] == name)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
    };
    match find("postgres").or_else(|| find("nobody")) {
        Some(ids) => Ok(Some(ids)),
        None => bail!(
            "PostgreSQL refuses to run as root and there is no `postgres` or `nobody` user to run \
             it as: create one, run ota-inbox as an ordinary user, or set DATABASE_URL"
        ),
    }
}
