//! On-disk cache of the compiled component.
//!
//! Entries are named by a key covering the wasm bytes, the engine's
//! compilation settings (`Engine::precompile_compatibility_hash`, which also
//! covers the exact wasmtime version) and the wasmtime major version, so a
//! changed component, engine configuration or wasmtime never loads a stale
//! entry. Entries are written to a temporary file and renamed into place;
//! an entry that fails to load is recompiled and replaced.

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
    /// The component was compiled but the cache could not be used: the entry
    /// could not be written, or the directory is writable by other users (a
    /// cache entry is machine code, so such a directory is never read). The
    /// runtime works; the next start compiles again.
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
    if let Err(reason) = check_private(dir) {
        let component = Component::new(engine, wasm)?;
        return Ok(Loaded {
            component,
            status: CacheStatus::Unavailable(reason),
            path: None,
        });
    }
    let path = entry_path(dir, &cache_key(engine, wasm));
    if path.is_file() && check_private(&path).is_ok() {
        // SAFETY: `deserialize_file` trusts the file to be the output of
        // `Component::serialize` for a compatible engine. Entries in our cache
        // directory are written only by `store_entry` below (temp file +
        // rename, so never partially visible), are named by a key covering the
        // wasm bytes and the engine configuration, and neither the directory
        // nor the file is writable by other users (`check_private`). Wasmtime
        // still checks the header and engine compatibility, rejecting foreign
        // files.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(Loaded {
                component,
                status: CacheStatus::Hit,
                path: Some(path),
            });
        }
        // Corrupt or incompatible: fall through, recompile and overwrite.
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

/// Refuse cache locations other local users can write to (Unix): loading a
/// compiled entry runs its machine code. A missing path is fine (we create it
/// private).
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    match fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o022 != 0 => Err(format!(
            "{} is writable by other users; the compiled-component cache is not used",
            path.display()
        )),
        _ => Ok(()),
    }
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync,
/// rename). Creates `dir` (mode `0700` on Unix) if needed.
fn store_entry(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    if !dir.is_dir() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
    }
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

    #[test]
    fn invalid_wasm_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_or_compile(&engine(), b"nope", Some(dir.path())).is_err());
        assert!(load_or_compile(&engine(), b"nope", None).is_err());
    }
}
