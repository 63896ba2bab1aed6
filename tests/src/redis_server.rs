//! [`RedisServer`]: a throwaway `redis-server` on 127.0.0.1 that a test can
//! stop gracefully, kill, start again on the same data, or start again
//! without its data.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chipi_session_host::store::{RedisOptions, RedisStore};
use tempfile::TempDir;

/// Longest wait for the server to answer `PING` after a start, or to exit
/// after a shutdown or a kill.
const WAIT: Duration = Duration::from_secs(15);
/// Pause between two checks while waiting.
const POLL: Duration = Duration::from_millis(20);
/// Ports tried when the first start finds its port taken.
const START_ATTEMPTS: u32 = 5;

/// A `redis-server` process (from `PATH`) with its configuration, data and
/// log in a temporary directory, on a free 127.0.0.1 port, protected by a
/// random password (in the configuration file, never on the command line),
/// persisting every write to an append-only file fsynced before the reply
/// (`appendonly yes`, `appendfsync always`, no RDB snapshots).
///
/// Dropping it kills the process (and removes the directory).
pub struct RedisServer {
    dir: TempDir,
    port: u16,
    password: String,
    appendfsync: &'static str,
    child: Option<Child>,
}

impl RedisServer {
    /// Start a server with the recommended persistence (`appendfsync
    /// always`) and wait until it answers. Panics (failing the test) when
    /// `redis-server` is missing or does not start.
    pub fn start() -> Self {
        Self::start_with_appendfsync("always")
    }

    /// Start a server whose append-only file is fsynced with `policy`
    /// (`always`, `everysec` or `no`).
    pub fn start_with_appendfsync(policy: &'static str) -> Self {
        let password = random_password();
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut server = Self {
                port: free_port(),
                dir: tempfile::Builder::new()
                    .prefix("chipi-session-redis-")
                    .tempdir()
                    .expect("create a directory for redis-server"),
                password: password.clone(),
                appendfsync: policy,
                child: None,
            };
            match server.launch() {
                Ok(()) => return server,
                // Most likely the port was taken between picking and binding.
                Err(err) => last_error = err,
            }
        }
        panic!("redis-server did not start after {START_ATTEMPTS} attempts: {last_error}");
    }

    /// `redis://:PASSWORD@127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://:{}@127.0.0.1:{}/0", self.password, self.port)
    }

    /// The port the server listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the configuration, the data and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A store on this server with `options` (a failure to parse the URL
    /// fails the test).
    pub fn store(&self, options: RedisOptions) -> RedisStore {
        RedisStore::with_options(&self.url(), options).expect("a store on the test server")
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stop the server the way an operator does (`SHUTDOWN` through
    /// `redis-cli`: the append-only file is flushed) and wait for it to exit.
    pub fn stop_gracefully(&mut self) {
        let Some(mut child) = self.child.take() else {
            panic!("stop_gracefully: redis-server is not running");
        };
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "SHUTDOWN"])
            .env("REDISCLI_AUTH", &self.password)
            .stdin(Stdio::null())
            .output();
        match output {
            // A successful SHUTDOWN closes the connection without an answer.
            Ok(_) => {}
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{}", missing_binary("redis-cli", &err));
            }
        }
        if let Err(err) = wait_for_exit(&mut child) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("redis-server did not shut down: {err}\n{}", self.log_tail());
        }
    }

    /// Kill the server with SIGKILL (a crash: no chance to flush anything)
    /// and wait for it to exit.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            panic!("kill: redis-server is not running");
        };
        child.kill().expect("send SIGKILL to redis-server");
        child.wait().expect("reap redis-server");
    }

    /// Start the server again on the same directory, port and password: the
    /// data comes back from the append-only file. Waits until it answers.
    pub fn start_again(&mut self) {
        assert!(
            !self.is_running(),
            "start_again: redis-server is still running"
        );
        if let Err(err) = self.launch() {
            panic!(
                "redis-server did not start again on port {}: {err}",
                self.port
            );
        }
    }

    /// Kill the server if it runs, delete its data files, then start it
    /// again (same port and password): a server that lost its data, as one
    /// without persistence does on any restart.
    pub fn wipe_and_start(&mut self) {
        if self.is_running() {
            self.kill();
        }
        self.child = None;
        for name in ["appendonlydir", "dump.rdb"] {
            let path = self.dir().join(name);
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("delete the append-only files");
            } else if path.exists() {
                std::fs::remove_file(&path).expect("delete the snapshot");
            }
        }
        self.start_again();
    }

    fn config_path(&self) -> PathBuf {
        self.dir().join("redis.conf")
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("redis.log")
    }

    /// The last lines of the server's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("redis-server log ({}):\n{tail}", self.log_path().display())
    }

    /// Write the configuration, spawn the process and wait for `PING`.
    fn launch(&mut self) -> Result<(), String> {
        let dir = self.dir().display().to_string();
        let config = format!(
            "bind 127.0.0.1\n\
             port {port}\n\
             dir \"{dir}\"\n\
             requirepass {password}\n\
             appendonly yes\n\
             appendfsync {fsync}\n\
             save \"\"\n\
             daemonize no\n\
             logfile \"{dir}/redis.log\"\n",
            port = self.port,
            password = self.password,
            fsync = self.appendfsync,
        );
        write_private(&self.config_path(), &config);
        let child = Command::new("redis-server")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("{}", missing_binary("redis-server", &err)));
        self.child = Some(child);
        let ready = self.wait_until_ready();
        if ready.is_err() {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        ready.map_err(|err| format!("{err}\n{}", self.log_tail()))
    }

    /// Poll `PING` (with the password) until the server answers, it exits,
    /// or [`WAIT`] passes.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let probe = self.store(RedisOptions {
            connect_timeout: Duration::from_millis(500),
            io_timeout: Duration::from_millis(500),
            attempts: 1,
            max_idle_connections: 0,
            ..RedisOptions::default()
        });
        let deadline = Instant::now() + WAIT;
        loop {
            let last = match probe.ping() {
                Ok(()) => return Ok(()),
                Err(err) => err.to_string(),
            };
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("redis-server exited ({status}) before answering"));
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "redis-server did not answer PING in {WAIT:?}: {last}"
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .field("appendfsync", &self.appendfsync)
            .finish_non_exhaustive()
    }
}

/// A port nobody listened on a moment ago (the OS picks it).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().expect("local address").port()
}

/// 32 hex digits from the OS's random source.
fn random_password() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Write `text` to `path`, readable by the owner only (it holds the password).
fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write redis.conf");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .expect("restrict redis.conf");
    }
}

/// Wait for `child` to exit, at most [`WAIT`].
fn wait_for_exit(child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(None) => return Err(format!("still running after {WAIT:?}")),
            Err(err) => return Err(err.to_string()),
        }
    }
}

/// The failure message for a binary that could not be run.
fn missing_binary(name: &str, err: &std::io::Error) -> String {
    format!(
        "cannot run {name} ({err}): it must be in PATH; scripts/setup.sh installs it \
         (Debian package redis-server)"
    )
}
