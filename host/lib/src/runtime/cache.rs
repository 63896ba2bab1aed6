//! On-disk cache of the compiled component.
//!
//! Entries are named by a key covering the wasm bytes, the engine's
//! compilation settings (`Engine::precompile_compatibility_hash`, which also
//! covers the exact wasmtime version) and the wasmtime major version, so a
//! changed component, engine configuration or wasmtime never loads a stale
//! entry. Entries are written to a temporary file and renamed into place;
//! an entry that fails to load is recompiled and replaced.
//!
//! Loading an entry runs its machine code, so the cache is trusted only when
//! the directory is real (not a symbolic link), owned by the current user and
//! not writable by group or others, and the entry is a real, private file of
//! ours (see [`CacheStatus::Unavailable`]).

use std::fs;
use std::hash::{Hash as _, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Bumped whenever the cache layout or key derivation changes.
const CACHE_FORMAT: &str = "chipi-session-cwasm-v1";
/// Major version of the wasmtime crate this host is built with.
const WASMTIME_MAJOR: &str = "wasmtime-48";

/// What happened with the compiled-component cache when a runtime started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// No cache directory configured; the component was compiled.
    Disabled,
    /// The compiled component was loaded from the cache.
    Hit,
    /// The component was compiled and the result stored in the cache
    /// (replacing an entry that could not be loaded, if there was one).
    Stored,
    /// The component was compiled in memory because the cache could not be
    /// used; the string says why. A cache entry is machine code, so the cache
    /// directory is never read when it is a symbolic link, is owned by another
    /// user or is writable by group or others (Unix), and an entry that is a
    /// symbolic link (or not a regular file) is neither loaded nor replaced.
    /// Also reported when the entry could not be written. The runtime works;
    /// the next start compiles again.
    Unavailable(String),
}

/// The smallest valid component: header only, no imports or exports.
#[cfg(test)]
pub(crate) const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

/// A compiled component and how it was obtained.
pub(crate) struct Loaded {
    pub(crate) component: Component,
    pub(crate) status: CacheStatus,
    pub(crate) path: Option<PathBuf>,
}

/// A [`Hasher`] that feeds SHA-256, so `Hash` values give a stable digest.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

/// Hex cache key for `wasm` compiled by `engine`.
pub(crate) fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut compat = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut compat);
    let compat = compat.0.finalize();

    let mut key = Sha256::new();
    key.update(CACHE_FORMAT.as_bytes());
    key.update([0]);
    key.update(WASMTIME_MAJOR.as_bytes());
    key.update([0]);
    key.update(Sha256::digest(wasm));
    key.update(compat);
    hex::encode(key.finalize())
}

/// Path of the cache entry for `key` in `dir`.
pub(crate) fn entry_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.cwasm"))
}

/// Load the compiled component from `cache_dir`, or compile `wasm` (and store
/// the result when a cache directory is given).
pub(crate) fn load_or_compile(
    engine: &Engine,
    wasm: &[u8],
    cache_dir: Option<&Path>,
) -> anyhow::Result<Loaded> {
    let Some(dir) = cache_dir else {
        let component = Component::new(engine, wasm)?;
        return Ok(Loaded {
            component,
            status: CacheStatus::Disabled,
            path: None,
        });
    };
    if let Err(reason) = check_dir(dir) {
        return compile_in_memory(engine, wasm, reason);
    }
    let path = entry_path(dir, &cache_key(engine, wasm));
    match check_entry(&path) {
        Entry::Refused(reason) => return compile_in_memory(engine, wasm, reason),
        Entry::Trusted => {
            // SAFETY: `deserialize_file` trusts the file to be the output of
            // `Component::serialize` for a compatible engine. Entries in our
            // cache directory are written only by `store_entry` below (temp
            // file + rename, so never partially visible), are named by a key
            // covering the wasm bytes and the engine configuration; the
            // directory and the file are real (not symbolic links), owned by
            // the current user and not writable by group or others
            // (`check_dir`, `check_entry`). Wasmtime still checks the header
            // and engine compatibility, rejecting foreign files.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok(Loaded {
                    component,
                    status: CacheStatus::Hit,
                    path: Some(path),
                });
            }
            // Corrupt or incompatible: fall through, recompile and overwrite.
        }
        // Missing, or not trusted but replaceable (the rename replaces it).
        Entry::Missing | Entry::Replace => {}
    }
    let component = Component::new(engine, wasm)?;
    let status = match component
        .serialize()
        .map_err(anyhow::Error::from)
        .and_then(|bytes| store_entry(dir, &path, &bytes))
    {
        Ok(()) => CacheStatus::Stored,
        Err(err) => CacheStatus::Unavailable(format!("{err:#}")),
    };
    Ok(Loaded {
        component,
        status,
        path: Some(path),
    })
}

/// Compile without the cache, saying why it was not used.
fn compile_in_memory(engine: &Engine, wasm: &[u8], reason: String) -> anyhow::Result<Loaded> {
    let component = Component::new(engine, wasm)?;
    Ok(Loaded {
        component,
        status: CacheStatus::Unavailable(reason),
        path: None,
    })
}

/// What to do with the cache entry for this component.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    /// No entry yet: compile and store.
    Missing,
    /// A private regular file of ours: load it.
    Trusted,
    /// A regular file we do not trust (another owner, or writable by group or
    /// others): never loaded; compiled and atomically replaced.
    Replace,
    /// A symbolic link or something that is not a file: neither loaded nor
    /// replaced; the component is compiled in memory.
    Refused(String),
}

/// Check the cache directory: it must not be a symbolic link, and (Unix) must
/// be owned by the current user and not writable by group or others, because
/// loading a compiled entry runs its machine code. A missing directory is
/// fine (`store_entry` creates it private and checks it again).
fn check_dir(dir: &Path) -> Result<(), String> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(format!("cannot inspect {}: {err}", dir.display())),
    };
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{} is a symbolic link; the compiled-component cache is not used",
            dir.display()
        ));
    }
    if !meta.is_dir() {
        return Err(format!(
            "{} is not a directory; the compiled-component cache is not used",
            dir.display()
        ));
    }
    check_owner_and_mode(dir, &meta)
}

/// Classify the entry at `path` (never following a symbolic link).
fn check_entry(path: &Path) -> Entry {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Entry::Missing,
        Err(err) => return Entry::Refused(format!("cannot inspect {}: {err}", path.display())),
    };
    if meta.file_type().is_symlink() {
        return Entry::Refused(format!(
            "{} is a symbolic link; the compiled-component cache is not used",
            path.display()
        ));
    }
    if !meta.is_file() {
        return Entry::Refused(format!(
            "{} is not a regular file; the compiled-component cache is not used",
            path.display()
        ));
    }
    match check_owner_and_mode(path, &meta) {
        Ok(()) => Entry::Trusted,
        Err(_) => Entry::Replace,
    }
}

/// Owned by the current (effective) user and not writable by group or others.
#[cfg(unix)]
fn check_owner_and_mode(path: &Path, meta: &fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "{} is owned by uid {}, not by the current user (uid {me}); the compiled-component cache is not used",
            path.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by other users (mode {:o}); the compiled-component cache is not used",
            path.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_and_mode(_path: &Path, _meta: &fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync,
/// rename). Creates `dir` (mode `0700` on Unix) if needed, and checks it
/// again before writing (it may have been created concurrently).
fn store_entry(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    if fs::symlink_metadata(dir).is_err() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
    }
    check_dir(dir).map_err(anyhow::Error::msg)?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("entry.cwasm");
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> anyhow::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        crate::runtime::engine::new_engine().unwrap()
    }

    /// Same as [`engine`] but without epoch interruption.
    fn other_engine() -> Engine {
        let mut config = crate::runtime::engine::engine_config();
        config.epoch_interruption(false);
        Engine::new(&config).unwrap()
    }

    #[test]
    fn key_depends_on_bytes_and_engine_config() {
        let a = engine();
        let b = engine();
        assert_eq!(
            cache_key(&a, EMPTY_COMPONENT),
            cache_key(&b, EMPTY_COMPONENT)
        );
        assert_eq!(cache_key(&a, EMPTY_COMPONENT).len(), 64);
        let mut other = EMPTY_COMPONENT.to_vec();
        other.push(0);
        assert_ne!(cache_key(&a, EMPTY_COMPONENT), cache_key(&a, &other));
        let no_epoch = other_engine();
        assert_ne!(
            cache_key(&a, EMPTY_COMPONENT),
            cache_key(&no_epoch, EMPTY_COMPONENT)
        );
    }

    #[test]
    fn disabled_cache_compiles() {
        let loaded = load_or_compile(&engine(), EMPTY_COMPONENT, None).unwrap();
        assert_eq!(loaded.status, CacheStatus::Disabled);
        assert!(loaded.path.is_none());
    }

    #[test]
    fn second_load_hits_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let engine = engine();
        let first = load_or_compile(&engine, EMPTY_COMPONENT, Some(&cache)).unwrap();
        assert_eq!(first.status, CacheStatus::Stored);
        let path = first.path.unwrap();
        assert!(path.is_file());
        // A fresh engine with the same configuration (as in a new process).
        let second = load_or_compile(&self::engine(), EMPTY_COMPONENT, Some(&cache)).unwrap();
        assert_eq!(second.status, CacheStatus::Hit);
        assert_eq!(second.path.as_deref(), Some(path.as_path()));
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&cache).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn corrupt_entry_is_recompiled_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let path = entry_path(dir.path(), &cache_key(&engine, EMPTY_COMPONENT));
        for garbage in [
            &b""[..],
            b"not a compiled component",
            b"\x7fELF\x02\x01\x01garbage",
        ] {
            fs::write(&path, garbage).unwrap();
            let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(dir.path())).unwrap();
            assert_eq!(loaded.status, CacheStatus::Stored);
            let again = load_or_compile(&engine, EMPTY_COMPONENT, Some(dir.path())).unwrap();
            assert_eq!(again.status, CacheStatus::Hit);
        }
    }

    #[test]
    fn entry_from_another_engine_config_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        // Put a valid entry compiled without epoch interruption at our key.
        let other = other_engine();
        let foreign = Component::new(&other, EMPTY_COMPONENT)
            .unwrap()
            .serialize()
            .unwrap();
        let path = entry_path(dir.path(), &cache_key(&engine, EMPTY_COMPONENT));
        fs::write(&path, foreign).unwrap();
        let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(dir.path())).unwrap();
        assert_eq!(loaded.status, CacheStatus::Stored);
    }

    #[test]
    fn unwritable_cache_still_compiles() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the cache directory should be.
        let blocker = dir.path().join("blocked");
        fs::write(&blocker, b"").unwrap();
        let loaded = load_or_compile(&engine(), EMPTY_COMPONENT, Some(&blocker)).unwrap();
        assert!(matches!(loaded.status, CacheStatus::Unavailable(_)));
    }

    #[cfg(unix)]
    #[test]
    fn shared_writable_locations_are_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        // A group-writable entry is recompiled and replaced by a private one.
        let first = load_or_compile(&engine, EMPTY_COMPONENT, Some(dir.path())).unwrap();
        let path = first.path.unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
        let again = load_or_compile(&engine, EMPTY_COMPONENT, Some(dir.path())).unwrap();
        assert_eq!(again.status, CacheStatus::Stored);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A world-writable directory is not used at all.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let shared = load_or_compile(&engine, EMPTY_COMPONENT, Some(dir.path())).unwrap();
        assert!(matches!(shared.status, CacheStatus::Unavailable(_)));
        assert!(shared.path.is_none());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    }

    /// A private cache directory holding a valid entry for [`EMPTY_COMPONENT`].
    fn populated_cache(engine: &Engine) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let first = load_or_compile(engine, EMPTY_COMPONENT, Some(&cache)).unwrap();
        assert_eq!(first.status, CacheStatus::Stored);
        let again = load_or_compile(engine, EMPTY_COMPONENT, Some(&cache)).unwrap();
        assert_eq!(again.status, CacheStatus::Hit);
        (dir, cache)
    }

    /// Compiled in memory, not from (or into) the cache, saying why.
    fn assert_in_memory(loaded: &Loaded, why: &str) {
        match &loaded.status {
            CacheStatus::Unavailable(reason) => assert!(reason.contains(why), "{reason}"),
            other => panic!("expected an in-memory compile ({why}), got {other:?}"),
        }
        assert!(loaded.path.is_none());
    }

    #[cfg(unix)]
    #[test]
    fn world_writable_cache_dir_is_not_read() {
        use std::os::unix::fs::PermissionsExt;
        let engine = engine();
        let (_dir, cache) = populated_cache(&engine);
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).unwrap();
        let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(&cache)).unwrap();
        assert_in_memory(&loaded, "writable by other users");
        // Group-writable is refused too.
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o770)).unwrap();
        let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(&cache)).unwrap();
        assert_in_memory(&loaded, "writable by other users");
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o700)).unwrap();
        let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(&cache)).unwrap();
        assert_eq!(loaded.status, CacheStatus::Hit);
    }

    #[cfg(unix)]
    #[test]
    fn cache_dir_owned_by_another_user_is_not_read() {
        use std::os::unix::fs::MetadataExt as _;
        let engine = engine();
        // SAFETY: no preconditions.
        let me = unsafe { libc::geteuid() };
        if me == 0 {
            // As root: hand a populated private cache to uid 1.
            let (_dir, cache) = populated_cache(&engine);
            let entries = fs::read_dir(&cache).unwrap().count();
            std::os::unix::fs::chown(&cache, Some(1), None).unwrap();
            assert_eq!(fs::metadata(&cache).unwrap().uid(), 1);
            let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(&cache)).unwrap();
            assert_in_memory(&loaded, "owned by uid 1");
            // Nothing was written there either.
            assert_eq!(fs::read_dir(&cache).unwrap().count(), entries);
        } else {
            // Not root: `/` is a private directory of another user (root).
            let root = Path::new("/");
            assert_ne!(fs::metadata(root).unwrap().uid(), me);
            let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(root)).unwrap();
            assert_in_memory(&loaded, "owned by uid 0");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_cache_dir_is_not_read() {
        let engine = engine();
        let (dir, cache) = populated_cache(&engine);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&cache, &link).unwrap();
        let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(&link)).unwrap();
        assert_in_memory(&loaded, "symbolic link");
        // The real directory still works.
        let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(&cache)).unwrap();
        assert_eq!(loaded.status, CacheStatus::Hit);
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_cache_entry_is_not_read_or_replaced() {
        let engine = engine();
        // A valid entry elsewhere (as an attacker's file would be).
        let (_other_dir, other_cache) = populated_cache(&engine);
        let key = cache_key(&engine, EMPTY_COMPONENT);
        let target = entry_path(&other_cache, &key);
        // Our private cache directory, whose entry is a symbolic link to it.
        let dir = tempfile::tempdir().unwrap();
        let path = entry_path(dir.path(), &key);
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(dir.path())).unwrap();
        assert_in_memory(&loaded, "symbolic link");
        // The link is left alone (not followed, not replaced).
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_symlink());
        assert_eq!(fs::read_link(&path).unwrap(), target);
    }

    #[test]
    fn entry_that_is_a_directory_is_not_used() {
        let engine = engine();
        let dir = tempfile::tempdir().unwrap();
        let path = entry_path(dir.path(), &cache_key(&engine, EMPTY_COMPONENT));
        fs::create_dir(&path).unwrap();
        let loaded = load_or_compile(&engine, EMPTY_COMPONENT, Some(dir.path())).unwrap();
        assert_in_memory(&loaded, "not a regular file");
    }

    #[test]
    fn invalid_wasm_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_or_compile(&engine(), b"nope", Some(dir.path())).is_err());
        assert!(load_or_compile(&engine(), b"nope", None).is_err());
    }
}
