//! The embedded PostgreSQL of the zero-config mode (§11): a private cluster in a folder,
//! created on first start, kept between runs, adopted when a killed server left it running,
//! recovered after a crash.
//!
//! Each test runs `initdb` (about a second of CPU), so they take turns: [`SERIAL`] keeps them
//! from starving the rest of the suite.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ota_inbox::embedded_pg::{EmbeddedPg, Options};
use sqlx::{ConnectOptions, Connection, PgConnection};
use uuid::Uuid;

/// One embedded-cluster test at a time.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh folder for a cluster (`<root>/postgres`, like `$DATA_DIR/postgres`). On drop,
/// whatever happened in the test, a postmaster still running there is stopped and the folder is
/// removed.
struct Folder {
    root: PathBuf,
    data: PathBuf,
}

impl Folder {
    fn new() -> Self {
        // Under the system temp folder: when the tests run as root the cluster runs as
        // `postgres`, which must be able to traverse the parents.
        let root = std::env::temp_dir().join(format!("ota-inbox-embedded-test-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&root).unwrap();
        let data = root.join("postgres");
        Self { root, data }
    }

    /// The postmaster's pid, from `postmaster.pid`.
    fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        if let Some(pid) = self.postmaster_pid().filter(|pid| is_running(*pid)) {
            // Fast shutdown, then wait for it (a SIGKILL if it will not go).
            signal("INT", pid);
            if !wait_until(Duration::from_secs(30), || !is_running(pid)) {
                signal("KILL", pid);
                wait_until(Duration::from_secs(10), || !is_running(pid));
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn signal(name: &str, pid: u32) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status();
}

/// `/proc/<pid>/stat`: the state and the parent's pid; `None` once the process is reaped.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Alive and not a zombie.
fn is_running(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// Gone entirely: not even a zombie waiting to be reaped (PostgreSQL and `pg_ctl` take a
/// zombie's pid for a live postmaster).
fn is_reaped(pid: u32) -> bool {
    proc_stat(pid).is_none()
}

fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| proc_stat(*pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

async fn connect(pg: &EmbeddedPg) -> PgConnection {
    pg.connect_options("ota_inbox")
        .connect()
        .await
        .expect("connecting to the embedded cluster")
}

async fn one_string(conn: &mut PgConnection, sql: &str) -> String {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn starting_creates_a_private_cluster_that_answers_queries() {
    let _turn = SERIAL.lock().await;
    let folder = Folder::new();
    let pg = EmbeddedPg::start(&folder.data, &Options { unsafe_fast: true })
        .await
        .expect("starting the embedded cluster");

    assert!(folder.data.join("PG_VERSION").is_file());
    assert_eq!(pg.dir(), folder.data);
    assert_ne!(pg.port(), 0);
    let mut conn = connect(&pg).await;
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    assert_eq!(
        one_string(&mut conn, "select current_database()::text").await,
        "ota_inbox"
    );
    // Reached over loopback TCP only; the throwaway settings are in force.
    assert_eq!(
        one_string(&mut conn, "show listen_addresses").await,
        "127.0.0.1"
    );
    assert_eq!(
        one_string(&mut conn, "show unix_socket_directories").await,
        ""
    );
    assert_eq!(one_string(&mut conn, "show fsync").await, "off");
    assert_eq!(one_string(&mut conn, "show server_encoding").await, "UTF8");
    conn.close().await.unwrap();

    // Private: the folder and the password file are the owner's only, the initdb password
    // file is gone, and the password is required.
    assert_eq!(mode(&folder.data), 0o700);
    assert_eq!(mode(&folder.data.join("ota-inbox.password")), 0o600);
    assert!(!folder.data.with_extension("initdb-password").exists());
    let wrong = pg
        .connect_options("ota_inbox")
        .password("not-the-password")
        .connect()
        .await;
    assert!(wrong.is_err(), "a wrong password was accepted");
    let is_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if is_root {
        // PostgreSQL refuses root: the cluster belongs to an unprivileged user.
        assert_ne!(std::fs::metadata(&folder.data).unwrap().uid(), 0);
    }

    pg.stop().await.unwrap();
}

#[tokio::test]
async fn data_survives_a_stop_and_a_start() {
    let _turn = SERIAL.lock().await;
    let folder = Folder::new();
    let pg = EmbeddedPg::start(&folder.data, &Options::default())
        .await
        .unwrap();
    let mut conn = connect(&pg).await;
    assert_eq!(one_string(&mut conn, "show fsync").await, "on");
    sqlx::query("create table notes (body text not null)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("insert into notes values ('kept'), ('also kept')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    pg.stop().await.unwrap();
    assert!(!folder.data.join("postmaster.pid").exists());

    // A new start reuses the cluster (no second initdb: the password still works) and may pick
    // another port.
    let pg = EmbeddedPg::start(&folder.data, &Options::default())
        .await
        .unwrap();
    let mut conn = connect(&pg).await;
    let notes: Vec<String> = sqlx::query_scalar("select body from notes order by body")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(notes, vec!["also kept", "kept"]);
    conn.close().await.unwrap();
    pg.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_start_adopts_the_cluster_a_killed_server_left_running() {
    let _turn = SERIAL.lock().await;
    let folder = Folder::new();
    // The first server "dies" without stopping its cluster.
    let first = EmbeddedPg::start(&folder.data, &Options { unsafe_fast: true })
        .await
        .unwrap();
    let mut conn = connect(&first).await;
    sqlx::query("create table left_behind (id int)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let postmaster = folder.postmaster_pid().unwrap();
    // While the first server lives, a second one is refused (it would stop the first's cluster).
    let refused = EmbeddedPg::start(&folder.data, &Options { unsafe_fast: true })
        .await
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("another ota-inbox server"),
        "{refused:#}"
    );
    // Dying releases the lock and leaves the cluster running.
    let first_port = first.port();
    let first_options = first.connect_options("ota_inbox");
    drop(first);

    let second = EmbeddedPg::start(&folder.data, &Options { unsafe_fast: true })
        .await
        .expect("adopting the running cluster");
    assert_eq!(second.port(), first_port);
    assert_eq!(folder.postmaster_pid(), Some(postmaster), "not restarted");
    assert!(is_running(postmaster));
    let mut conn = connect(&second).await;
    let tables: i64 =
        sqlx::query_scalar("select count(*) from pg_tables where tablename = 'left_behind'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(tables, 1);
    conn.close().await.unwrap();

    second.stop().await.unwrap();
    assert!(first_options.connect().await.is_err());
}

#[tokio::test]
async fn after_stop_connecting_fails() {
    let _turn = SERIAL.lock().await;
    let folder = Folder::new();
    let pg = EmbeddedPg::start(&folder.data, &Options { unsafe_fast: true })
        .await
        .unwrap();
    let mut conn = connect(&pg).await;
    let postmaster = folder.postmaster_pid().unwrap();
    let options = ["ota_inbox", "postgres"].map(|database| pg.connect_options(database));
    pg.stop().await.unwrap();

    assert!(!is_running(postmaster));
    assert!(!folder.data.join("postmaster.pid").exists());
    // The open session ended with the server; new ones are refused.
    assert!(sqlx::query("select 1").execute(&mut conn).await.is_err());
    for options in options {
        let attempt = options.connect().await;
        assert!(attempt.is_err(), "{options:?}: connected after stop");
    }
}

#[tokio::test]
async fn a_start_after_the_postmaster_was_killed_recovers_with_the_data_intact() {
    let _turn = SERIAL.lock().await;
    let folder = Folder::new();
    let pg = EmbeddedPg::start(&folder.data, &Options::default())
        .await
        .unwrap();
    let mut conn = connect(&pg).await;
    sqlx::query("create table bookings (code text primary key)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("insert into bookings select 'RC-' || g from generate_series(1, 1000) g")
        .execute(&mut conn)
        .await
        .unwrap();

    let postmaster = folder.postmaster_pid().unwrap();
    let children = children_of(postmaster);
    assert!(!children.is_empty(), "a postmaster without children?");
    signal("KILL", postmaster);
    // The crash is over once the postmaster is reaped and its children have exited.
    assert!(
        wait_until(Duration::from_secs(60), || is_reaped(postmaster)),
        "the killed postmaster was never reaped"
    );
    assert!(wait_until(Duration::from_secs(60), || children
        .iter()
        .all(|pid| !is_running(*pid))));
    drop(conn);
    // The server that owned it goes too (releasing its lock on the cluster).
    drop(pg);
    // It left its lock file behind.
    assert_eq!(folder.postmaster_pid(), Some(postmaster));

    let pg = EmbeddedPg::start(&folder.data, &Options::default())
        .await
        .expect("starting after a crash");
    let mut conn = connect(&pg).await;
    let count: i64 = sqlx::query_scalar("select count(*) from bookings")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 1000);
    sqlx::query("insert into bookings values ('after the crash')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_ne!(folder.postmaster_pid(), Some(postmaster));
    let log = std::fs::read_to_string(folder.data.join("server.log")).unwrap_or_default();
    assert!(
        log.contains("not properly shut down") || log.contains("automatic recovery"),
        "no crash recovery in the server log:\n{log}"
    );
    pg.stop().await.unwrap();
}
