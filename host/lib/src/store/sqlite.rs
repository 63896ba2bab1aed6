//! Durable session store in one `SQLite` file.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::{SessionStore, StoreError};

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Backend(err.to_string())
    }
}

/// How long a connection waits for another writer before giving up.
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts at initialising a fresh database that another connection is
/// initialising at the same moment (switching to WAL needs an exclusive lock).
const INIT_ATTEMPTS: u32 = 50;

/// A session store in a `SQLite` database file (WAL mode, `synchronous=FULL`).
///
/// Every `SqliteStore` owns one connection. Any number of stores, in this or
/// other processes, may open the same file: compare-and-swap runs inside a
/// `BEGIN IMMEDIATE` transaction, so exactly one concurrent writer wins.
///
/// On Unix the database file is created with mode `0600` (an existing file is
/// tightened to `0600`) and missing parent directories with mode `0700`.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteStore {
    /// Open (creating if needed) the store at `path`, with a 10 s busy timeout.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_busy_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// Open (creating if needed) the store at `path`; operations wait up to
    /// `busy_timeout` for other writers before failing.
    pub fn open_with_busy_timeout(
        path: impl AsRef<Path>,
        busy_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        prepare_file(&path)?;
        let conn = Connection::open(&path)?;
        conn.busy_timeout(busy_timeout)?;
        init_schema(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held leaves no open transaction behind
        // (rusqlite rolls back on drop), so the connection stays usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Create missing parent directories and the file itself with private modes.
fn prepare_file(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(parent)?;
        }
    }
    let mut options = fs::OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
    }
    drop(file);
    Ok(())
}

/// Switch to WAL and create the table, retrying while a concurrent opener
/// holds the lock that `journal_mode` needs.
fn init_schema(conn: &Connection) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match try_init_schema(conn) {
            Ok(()) => return Ok(()),
            Err(err) if is_busy(&err) && attempt + 1 < INIT_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

fn try_init_schema(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // In-memory or unusual file systems: still correct, only less concurrent.
        conn.pragma_update(None, "journal_mode", "DELETE")?;
    }
    // FULL: a committed compare-and-swap (which may record that a signed
    // transaction was sent) survives a power loss, in WAL mode too (NORMAL
    // may lose the last commits there).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS kv (
             key TEXT PRIMARY KEY,
             value BLOB NOT NULL,
             updated_at INTEGER
         )",
    )
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Unix time in seconds, for the `updated_at` column.
fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl SessionStore for SqliteStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.lock();
        let value = conn
            .query_row("SELECT value FROM kv WHERE key = ?1", params![key], |row| {
                row.get::<_, Vec<u8>>(0)
            })
            .optional()?;
        Ok(value)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        // IMMEDIATE takes the write lock before reading, so no other
        // connection can commit between our read and our write.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<Vec<u8>> = tx
            .query_row("SELECT value FROM kv WHERE key = ?1", params![key], |row| {
                row.get(0)
            })
            .optional()?;
        if current.as_deref() != expected {
            // Dropping `tx` rolls back; nothing was written.
            return Ok(false);
        }
        match new {
            Some(value) => {
                tx.execute(
                    "INSERT INTO kv (key, value, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    params![key, value, now_unix()],
                )?;
            }
            None => {
                tx.execute("DELETE FROM kv WHERE key = ?1", params![key])?;
            }
        }
        tx.commit()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;
    use std::sync::Arc;

    fn temp_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("sessions.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn sqlite_basic_ops() {
        let (_dir, store) = temp_store();
        conformance::basic_ops(&store);
    }

    #[test]
    fn sqlite_cas_ops() {
        let (_dir, store) = temp_store();
        conformance::cas_ops(&store);
    }

    #[test]
    fn sqlite_persists_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("deeper").join("s.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            conformance::put(&store, "wallet:0x1", b"ciphertext");
            conformance::put(&store, "gone", b"x");
            assert!(store.compare_and_swap("gone", Some(b"x"), None).unwrap());
            assert_eq!(store.path(), path.as_path());
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.get("wallet:0x1").unwrap().as_deref(),
            Some(&b"ciphertext"[..])
        );
        assert_eq!(store.get("gone").unwrap(), None);
        let updated_at: Option<i64> = store
            .lock()
            .query_row(
                "SELECT updated_at FROM kv WHERE key = 'wallet:0x1'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(updated_at.unwrap() > 1_700_000_000);
    }

    #[test]
    fn sqlite_two_connections_see_each_other() {
        let (dir, a) = temp_store();
        let b = SqliteStore::open(dir.path().join("sessions.db")).unwrap();
        conformance::put(&a, "k", b"1");
        assert_eq!(b.get("k").unwrap().as_deref(), Some(&b"1"[..]));
        assert!(b.compare_and_swap("k", Some(b"1"), Some(b"2")).unwrap());
        assert!(!a.compare_and_swap("k", Some(b"1"), Some(b"3")).unwrap());
        assert_eq!(a.get("k").unwrap().as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn sqlite_cas_race_between_connections_counts_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.db");
        conformance::concurrent_increments(
            move || Arc::new(SqliteStore::open(&path).unwrap()),
            8,
            50,
        );
    }

    #[test]
    fn sqlite_journal_is_wal() {
        let (_dir, store) = temp_store();
        let mode: String = store
            .lock()
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode.to_ascii_lowercase(), "wal");
    }

    #[test]
    fn sqlite_commits_are_durable() {
        let (dir, store) = temp_store();
        let read = |store: &SqliteStore| -> i64 {
            store
                .lock()
                .query_row("PRAGMA synchronous", [], |row| row.get(0))
                .unwrap()
        };
        // 2 = FULL (0 OFF, 1 NORMAL, 3 EXTRA).
        assert_eq!(read(&store), 2);
        // Per connection: a second opener of the same file gets it too.
        let again = SqliteStore::open(dir.path().join("sessions.db")).unwrap();
        assert_eq!(read(&again), 2);
    }

    #[test]
    fn store_errors_carry_no_values() {
        let (_dir, store) = temp_store();
        conformance::put(&store, "k", b"prev-4712");
        store
            .lock()
            .pragma_update(None, "query_only", true)
            .unwrap();
        let secret = b"v1.argon2id.secret-ciphertext-4711";
        let errors = [
            store
                .compare_and_swap("absent", None, Some(secret))
                .unwrap_err(),
            store
                .compare_and_swap("k", Some(b"prev-4712"), Some(secret))
                .unwrap_err(),
        ];
        for err in errors {
            let text = format!("{err} / {err:?}");
            assert!(!text.contains("secret-ciphertext"), "{text}");
            assert!(!text.contains("prev-4712"), "{text}");
            assert!(text.contains("session store"), "{text}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn sqlite_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new-dir").join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        conformance::put(&store, "k", b"v");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "db file mode {mode:o}");
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700, "created dir mode {dir_mode:o}");
        // SQLite gives the WAL file the database file's mode.
        let wal = path.with_extension("db-wal");
        if wal.exists() {
            let wal_mode = fs::metadata(&wal).unwrap().permissions().mode();
            assert_eq!(wal_mode & 0o077, 0, "wal mode {wal_mode:o}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn sqlite_existing_file_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        fs::write(&path, b"").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let _store = SqliteStore::open(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn sqlite_open_fails_on_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(SqliteStore::open(dir.path()).is_err());
    }
}
