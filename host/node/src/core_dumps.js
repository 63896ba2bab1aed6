// Keeping keys out of core dumps (Linux).
//
// The worker's linear memory holds unlocked session keys and the encrypt
// keys; V8's heap holds the encrypt keys given to `session()`. Writing 0 to
// /proc/self/coredump_filter excludes all anonymous memory (V8 heap, wasm
// memory, stacks) from a core dump of this process. Node has no prctl, so the
// process stays dumpable (file-backed mappings and registers are still
// written): run it with `ulimit -c 0` or systemd's `LimitCORE=0` as well.

import { readFileSync, writeFileSync } from 'node:fs';

const FILTER = '/proc/self/coredump_filter';

/**
 * Exclude this process's anonymous memory from core dumps (Linux; a no-op
 * elsewhere). Idempotent; process-wide.
 */
export function excludeFromCoreDumps() {
  if (process.platform !== 'linux') return;
  try {
    writeFileSync(FILTER, '0');
  } catch (err) {
    // No /proc (a minimal container): nothing to set.
    if (err?.code !== 'ENOENT') throw err;
  }
}

/**
 * True when this process's core dumps hold no anonymous memory (Linux: a
 * zero `coredump_filter`); false elsewhere.
 */
export function coreDumpsExcluded() {
  if (process.platform !== 'linux') return false;
  try {
    return Number.parseInt(readFileSync(FILTER, 'ascii'), 16) === 0;
  } catch {
    return false;
  }
}
