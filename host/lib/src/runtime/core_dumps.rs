//! Keeping keys out of core dumps.
//!
//! A host process holds unlocked session keys and encrypt keys in the
//! component instances' linear memories (anonymous mappings of the pooling
//! allocator) and, briefly, in its own heap. A core dump of the process would
//! write all of it to disk. On Linux, [`exclude_from_core_dumps`]:
//!
//! 1. writes `0` to `/proc/self/coredump_filter`, so that no anonymous
//!    memory (heap, stacks, linear memories) is written to a core dump even
//!    where dumps of non-dumpable processes are enabled (`fs.suid_dumpable = 2`);
//! 2. marks the process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): no core
//!    dump at all with the default `fs.suid_dumpable = 0`, and no
//!    `/proc/<pid>/mem` or `ptrace` access for other processes of the same
//!    user (only for a process with `CAP_SYS_PTRACE`).
//!
//! wasmtime offers no way to mark only the linear memories `MADV_DONTDUMP`,
//! so the setting is process-wide. Elsewhere it does nothing.

/// Exclude this process's memory from core dumps (see the module
/// documentation). Idempotent. [`SessionRuntime::new`](super::SessionRuntime::new)
/// calls it unless [`RuntimeOptions::allow_core_dumps`](super::RuntimeOptions::allow_core_dumps)
/// is set.
pub fn exclude_from_core_dumps() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // The filter first: once non-dumpable, a process of an ordinary
        // user no longer owns its /proc files.
        match std::fs::write("/proc/self/coredump_filter", "0") {
            Ok(()) => {}
            // No /proc (a minimal container): the prctl below still applies.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // SAFETY: PR_SET_DUMPABLE takes an integer argument and touches no
        // memory of ours.
        let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// True when core dumps of this process are excluded: on Linux, the process
/// is non-dumpable; elsewhere always false.
pub fn core_dumps_excluded() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_GET_DUMPABLE takes no pointer and only returns a value.
        let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        dumpable == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn excludes_anonymous_memory_and_the_process() {
        exclude_from_core_dumps().unwrap();
        assert!(core_dumps_excluded());
        let filter = std::fs::read_to_string("/proc/self/coredump_filter").unwrap();
        assert_eq!(
            u32::from_str_radix(filter.trim(), 16).unwrap(),
            0,
            "{filter}"
        );
        // Idempotent.
        exclude_from_core_dumps().unwrap();
        assert!(core_dumps_excluded());
    }
}
