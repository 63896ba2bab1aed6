// chipi-session: session keys for Chipi smart wallets on Starknet, run by
// the chipi-session WebAssembly component in a Node.js worker thread.

export { SessionEngine, Session, fitTimeoutMs } from './engine.js';
export { MemoryStore, FileStore } from './stores.js';
export { ChipiSessionError, SESSION_ERROR_CODES, HOST_ERROR } from './errors.js';
export { canonicalEntry } from './allowlist.js';
export { MAX_STORE_VALUE_BYTES, MAX_ARGUMENT_BYTES } from './limits.js';
export { excludeFromCoreDumps, coreDumpsExcluded } from './core_dumps.js';
