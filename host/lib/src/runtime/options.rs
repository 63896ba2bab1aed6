//! Runtime configuration.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

/// Default cap on each linear memory of the component: 256 MiB.
pub const DEFAULT_MEMORY_LIMIT_BYTES: usize = 256 * 1024 * 1024;

/// Default time limit of one exported call (including its HTTP requests).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The component embedded in the library at build time (cargo feature
/// `embedded`: built from `guest/` by the `chipi-session-component` crate, or
/// the file `CHIPI_SESSION_GUEST_WASM` names).
#[cfg(feature = "embedded")]
pub fn embedded_component() -> &'static [u8] {
    chipi_session_component::COMPONENT
}

/// The default compiled-component cache directory:
/// `$XDG_CACHE_HOME/chipi-session`, else `$HOME/.cache/chipi-session`, else
/// `None` (no cache). Relative or empty variables are ignored.
pub fn default_cache_dir() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(xdg) = absolute("XDG_CACHE_HOME") {
        return Some(xdg.join("chipi-session"));
    }
    absolute("HOME").map(|home| home.join(".cache").join("chipi-session"))
}

/// Where the component comes from.
#[derive(Clone)]
pub enum ComponentSource {
    /// The component embedded at build time ([`embedded_component`]; cargo
    /// feature `embedded`).
    #[cfg(feature = "embedded")]
    Embedded,
    /// A `.wasm` component file.
    Path(PathBuf),
    /// A component binary in memory (borrowed `&'static [u8]` or owned
    /// `Vec<u8>`, both `.into()`).
    Bytes(Cow<'static, [u8]>),
}

impl std::fmt::Debug for ComponentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            #[cfg(feature = "embedded")]
            ComponentSource::Embedded => f.write_str("Embedded"),
            ComponentSource::Path(path) => f.debug_tuple("Path").field(path).finish(),
            ComponentSource::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

/// Options of [`SessionRuntime::new`](super::SessionRuntime::new).
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// The component to run.
    pub component: ComponentSource,
    /// Directory of the compiled-component cache; `None` compiles on every
    /// start. Defaults to [`default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Maximum size of each linear memory of the component, in bytes.
    pub memory_limit_bytes: usize,
    /// Time limit of one exported call, including the HTTP requests it makes.
    pub call_timeout: Duration,
    /// Most component instances alive at once (the pooling allocator
    /// reserves this many slots): one per open [`WalletSession`](super::WalletSession)
    /// with its own instance, plus the instances of every pool.
    pub max_instances: u32,
    /// Leave core dumps of the process as they are. By default (`false`)
    /// [`SessionRuntime::new`](super::SessionRuntime::new) excludes the
    /// process's memory from core dumps, keys included
    /// ([`exclude_from_core_dumps`](super::exclude_from_core_dumps)).
    pub allow_core_dumps: bool,
}

/// Default [`RuntimeOptions::max_instances`].
pub const DEFAULT_MAX_INSTANCES: u32 = 1000;

/// The embedded component with the default limits and cache.
#[cfg(feature = "embedded")]
impl Default for RuntimeOptions {
    fn default() -> Self {
        Self::new(ComponentSource::Embedded)
    }
}

impl RuntimeOptions {
    /// Options for `component` with the default limits
    /// ([`DEFAULT_MEMORY_LIMIT_BYTES`], [`DEFAULT_CALL_TIMEOUT`]) and cache
    /// directory ([`default_cache_dir`]).
    pub fn new(component: ComponentSource) -> Self {
        Self {
            component,
            cache_dir: default_cache_dir(),
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT_BYTES,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_instances: DEFAULT_MAX_INSTANCES,
            allow_core_dumps: false,
        }
    }

    /// Reject limits that would make every call fail.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.memory_limit_bytes < 64 * 1024 {
            anyhow::bail!(
                "memory limit of {} bytes is below one wasm page (65536 bytes)",
                self.memory_limit_bytes
            );
        }
        if self.call_timeout.is_zero() {
            anyhow::bail!("call timeout must be greater than zero");
        }
        if self.max_instances == 0 {
            anyhow::bail!("max instances must be greater than zero");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_component() -> ComponentSource {
        ComponentSource::Bytes(chipi_session_component::COMPONENT.into())
    }

    #[test]
    fn defaults() {
        let options = RuntimeOptions::new(test_component());
        assert!(matches!(options.component, ComponentSource::Bytes(_)));
        assert_eq!(options.memory_limit_bytes, 256 << 20);
        assert_eq!(options.call_timeout, Duration::from_secs(60));
        assert_eq!(options.cache_dir, default_cache_dir());
        options.validate().unwrap();
    }

    #[test]
    fn default_cache_dir_shape() {
        // Environment-dependent: only check the shape of what comes back.
        if let Some(dir) = default_cache_dir() {
            assert!(dir.is_absolute());
            assert!(dir.ends_with("chipi-session"));
        }
    }

    #[test]
    fn validation() {
        let mut options = RuntimeOptions {
            memory_limit_bytes: 1024,
            ..RuntimeOptions::new(test_component())
        };
        assert!(options.validate().is_err());
        options.memory_limit_bytes = 1 << 20;
        options.call_timeout = Duration::ZERO;
        assert!(options.validate().is_err());
    }

    #[test]
    fn debug_does_not_dump_bytes() {
        let source = ComponentSource::Bytes(vec![7; 1000].into());
        assert_eq!(format!("{source:?}"), "Bytes(1000 bytes)");
    }

    #[cfg(feature = "embedded")]
    #[test]
    fn embedded_component_is_a_wasm_binary() {
        assert!(embedded_component().starts_with(b"\0asm"));
        assert!(matches!(
            RuntimeOptions::default().component,
            ComponentSource::Embedded
        ));
    }
}
