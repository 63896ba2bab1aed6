// Types of the chipi-session package (hand-written; checked by test/types.test.mjs).

/** Bytes of a session record. */
export type Bytes = Uint8Array;

/**
 * A session store: one record per wallet. `compareAndSwap` must be atomic:
 * replace the value only when the current one equals `expected` (null =
 * absent); `next` null deletes. Throwing (or rejecting) is reported to the
 * component as a store failure (`STORE_ERROR`).
 */
export interface Store {
  /** Read a value; null when absent. */
  get(key: string): Promise<Bytes | null>;
  /** Atomically replace `key`'s value when it equals `expected`. */
  compareAndSwap(key: string, expected: Bytes | null, next: Bytes | null): Promise<boolean>;
}

/** A store in this process's memory. */
export class MemoryStore implements Store {
  /** Read a value; null when absent. */
  get(key: string): Promise<Bytes | null>;
  /** Atomically replace `key`'s value when it equals `expected`. */
  compareAndSwap(key: string, expected: Bytes | null, next: Bytes | null): Promise<boolean>;
}

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /** How long compareAndSwap waits for the lock file (default 10000 ms). */
  lockTimeoutMs?: number;
  /** Age after which a lock file is taken over as stale (default 30000 ms). */
  staleLockMs?: number;
}

/**
 * A store in one JSON file (values base64), atomic writes (temp file + fsync
 * + rename), safe for several processes (lock file `path + '.lock'`).
 */
export class FileStore implements Store {
  /** @param path The JSON file. */
  constructor(path: string, options?: FileStoreOptions);
  /** The JSON file. */
  readonly path: string;
  /** Read a value; null when absent. */
  get(key: string): Promise<Bytes | null>;
  /** Atomically replace `key`'s value when it equals `expected`. */
  compareAndSwap(key: string, expected: Bytes | null, next: Bytes | null): Promise<boolean>;
}

/** Chipi error codes of the component, plus `HOST_ERROR`. */
export type ChipiErrorCode =
  | 'INVALID_WALLET_TYPE_FOR_SESSION'
  | 'SESSION_EXPIRED'
  | 'SESSION_NOT_REGISTERED'
  | 'SESSION_REVOKED'
  | 'SESSION_MAX_CALLS_EXCEEDED'
  | 'SESSION_ENTRYPOINT_NOT_ALLOWED'
  | 'SESSION_DECRYPTION_FAILED'
  | 'SESSION_CREATION_FAILED'
  | 'SESSION_INVALID_RESPONSE'
  | 'INVALID_SPENDING_POLICY'
  | 'BACKEND_ERROR'
  | 'TRANSPORT_ERROR'
  | 'INVALID_INPUT'
  | 'STORE_ERROR'
  | 'UNAUTHORIZED'
  | 'TRANSACTION_PENDING'
  | 'ALREADY_EXECUTED'
  | 'HOST_ERROR';

/** Every failure of the package. */
export class ChipiSessionError extends Error {
  constructor(
    code: string,
    message: string,
    details?: { status?: number; backendCode?: string; transactionHash?: string; cause?: unknown },
  );
  /** Always `'ChipiSessionError'`. */
  name: 'ChipiSessionError';
  /** The Chipi error code, as the CLI prints it. */
  code: ChipiErrorCode | string;
  /** HTTP status of a backend error (0 for a JSON-RPC error). */
  status?: number;
  /** Error code from the backend's body, when it gave one. */
  backendCode?: string;
  /**
   * The transaction this failure concerns, already sent (set on every failure
   * of `waitForTransaction`): it may still land, so do not send it again.
   */
  transactionHash?: string;
}

/** WIT `session-error` case -> Chipi code, as in guest/src/protocol/error_table.rs. */
export const SESSION_ERROR_CODES: Readonly<Record<string, string>>;
/** `'HOST_ERROR'`: trap, time limit, crashed worker. */
export const HOST_ERROR: 'HOST_ERROR';

/** The canonical `scheme://host:port` of an allow-list entry (throws when invalid). */
export function canonicalEntry(entry: string): string;
/** The component's time budget for a call the host stops after `hardMs`. */
export function fitTimeoutMs(hardMs: number, askedMs?: number): number;
/**
 * Exclude this process's anonymous memory (V8 heap, wasm memory) from core
 * dumps: writes 0 to /proc/self/coredump_filter on Linux, a no-op elsewhere.
 * `SessionEngine.start` does it unless `allowCoreDumps` is set.
 */
export function excludeFromCoreDumps(): void;
/** True when this process's core dumps hold no anonymous memory (Linux). */
export function coreDumpsExcluded(): boolean;

/**
 * Largest store value lowered into the component (8 MiB): a store `get`
 * answering more fails the operation with `STORE_ERROR`.
 */
export const MAX_STORE_VALUE_BYTES: number;
/**
 * Largest total of one call's string arguments and session context in UTF-8
 * bytes (1 MiB): above it the call is refused with `INVALID_INPUT` before the
 * component is called.
 */
export const MAX_ARGUMENT_BYTES: number;

/** A wallet as Chipi returns it. */
export interface Wallet {
  /** Wallet (account contract) address, 0x-hex. */
  publicKey: string;
  /** Owner private key encrypted with the encrypt key. */
  encryptedPrivateKey: string;
  /** `CHIPI` (session keys supported) or `READY`. */
  walletType: 'CHIPI' | 'READY' | 'chipi' | 'ready';
}

/** Backend and chain configuration (the hook's config object). */
export interface SessionConfig {
  /** Chipi API base URL, e.g. `https://api.chipipay.com/v1`. */
  apiBaseUrl: string;
  /** Public API key (`pk_...`). */
  apiKey: string;
  /** Starknet JSON-RPC endpoints, tried in order. */
  rpcUrls: string[];
  /** Expected chain id (`SN_MAIN`, `SN_SEPOLIA` or hex); read from the node when absent. */
  chainId?: string;
  /** Session lifetime when createSession gets none (default 21600). */
  defaultDurationSeconds?: number;
  /** Max calls when registerSession gets none (default 1000). */
  defaultMaxCalls?: number;
  /** The component's time budget of one call; capped below the engine's `timeoutMs`. */
  timeoutMs?: number;
}

/**
 * What the encrypt key is, stated by the caller and never inferred from its
 * text: `'pin'`, a PIN or password (stretched with Argon2id, `v1.argon2id`
 * envelopes), or `'high-entropy'`, 32 to 64 random bytes in unpadded
 * base64url such as a passkey PRF output (expanded with HKDF, `v1.hkdf-sha256`
 * envelopes; shorter or malformed keys are `INVALID_INPUT`).
 */
export type EncryptKeyKind = 'pin' | 'high-entropy';

/** What {@link SessionEngine.session} needs. */
export interface SessionParams {
  /** The wallet. */
  wallet: Wallet;
  /** The user's encrypt key (PIN, or a high-entropy secret). Never stored. */
  encryptKey: string;
  /**
   * The kind of `encryptKey` (default `'pin'`). A session key sealed under
   * one kind is refused under the other (`SESSION_DECRYPTION_FAILED`, naming
   * the kind it was sealed with).
   */
  encryptKeyKind?: EncryptKeyKind;
  /** Backend and chain configuration. */
  config: SessionConfig;
}

/** Options of {@link SessionEngine.start}. */
export interface EngineOptions {
  /** Session store (default: a new MemoryStore). */
  store?: Store;
  /** Returns the bearer token for the Chipi backend; a throw is `UNAUTHORIZED`. */
  getBearerToken: () => string | Promise<string>;
  /** Extra origins the component may reach: `[SCHEME://]HOST[:PORT]`, bare host = https. */
  allowHosts?: string[];
  /** Allow the origins of each session's apiBaseUrl and rpcUrls (default true). */
  allowConfigHosts?: boolean;
  /** Hard limit of one call in ms (default 60000); the worker is stopped past it. */
  timeoutMs?: number;
  /** JS heap limit of the worker and limit of the component's linear memory, checked after each call (default 256). */
  maxMemoryMb?: number;
  /**
   * Most sessions whose resource (with its unlocked key) is kept warm in the
   * worker (default 1024); opening one more drops the least recently used.
   * A dropped session stays usable: its next call re-opens it.
   */
  maxWarmSessions?: number;
  /**
   * A session unused this long, in ms, has its resource dropped and its
   * unlocked key zeroized (default 300000); it re-opens on its next call.
   */
  idleTimeoutMs?: number;
  /**
   * Leave core dumps as they are. By default (false) the engine writes 0 to
   * /proc/self/coredump_filter on Linux, so that no core dump of the process
   * holds its memory (keys included); process-wide.
   */
  allowCoreDumps?: boolean;
  /** Told each `warning: ...` line the component writes to stderr. */
  onWarning?: (line: string) => void;
  /** Directory of the transpiled component (default: the package's dist/component/). */
  componentDir?: string | URL;
}

/** A session key (only ciphertext). */
export interface SessionKeyData {
  /** Session public key, 0x-hex. */
  publicKey: string;
  /** Session private key in the `v1.` envelope. */
  encryptedPrivateKey: string;
  /** Unix time (s) after which the session is no longer valid. */
  validUntil: number;
}

/** Lifecycle state of a session. */
export type SessionState = 'none' | 'created' | 'active' | 'expired' | 'revoked';

/** On-chain session data. */
export interface SessionData {
  /** Unix time the session expires; 0 = not registered or revoked. */
  validUntil: number;
  /** Maximum number of transactions. */
  maxCalls: number;
  /** Transactions used so far. */
  callsUsed: number;
  /** Number of whitelisted entrypoints (0 = unrestricted). */
  allowedEntrypointsLen: number;
  /** Whitelisted selectors, 0x-hex. */
  allowedEntrypoints: string[];
}

/** Result of getSessionStatus. */
export interface SessionStatus {
  /** Lifecycle state. */
  state: SessionState;
  /** True when the session can sign. */
  isActive: boolean;
  /** Stored session, if any. */
  session: SessionKeyData | null;
  /** On-chain data, when registered. */
  onChain: SessionData | null;
  /** Calls left, when registered. */
  remainingCalls: number | null;
}

/** One Starknet call. */
export interface Call {
  /** Target contract, 0x-hex. */
  contractAddress: string;
  /** Entrypoint name or selector. */
  entrypoint: string;
  /** Calldata felts (hex or decimal strings; numbers and bigints are written in decimal). */
  calldata?: Array<string | number | bigint>;
}

/**
 * Options of every operation that signs a transaction (WIT `intent-options`).
 */
export interface IntentOptions {
  /**
   * The caller's name for this intent (1 to 256 bytes, no control characters;
   * stored only as its SHA-256 digest). The same key is the same intent for at
   * least 24 hours: a retry, after any failure, resolves to the first
   * transaction's hash (or rejects with `ALREADY_EXECUTED` or
   * `TRANSACTION_PENDING`) and never signs a second transaction. Another key
   * is a new intent, even for the same calls; the same key with other calls
   * is `INVALID_INPUT`.
   */
  idempotencyKey?: string;
}

/** Options of {@link Session.registerSession}. */
export interface RegisterOptions extends IntentOptions {
  /** Unix time the session expires (default: the created session's `validUntil`). */
  validUntil?: number;
  /** Maximum number of transactions (default: `config.defaultMaxCalls`). */
  maxCalls?: number;
  /** Whitelisted entrypoints, names or selectors; empty = every non-admin selector. */
  allowedEntrypoints?: string[];
}

/** A spending policy to set. */
export interface SpendingPolicyInput {
  /** Token contract, 0x-hex. */
  token: string;
  /** Maximum per call (u256). */
  maxPerCall: string | number | bigint;
  /** Maximum per window (u256). */
  maxPerWindow: string | number | bigint;
  /** Window length in seconds. */
  windowSeconds: number;
}

/** A spending policy as read from the account. */
export interface SpendingPolicy {
  /** Token contract, 0x-hex. */
  token: string;
  /** Maximum per call, decimal. */
  maxPerCall: string;
  /** Maximum per window, decimal. */
  maxPerWindow: string;
  /** Window length in seconds. */
  windowSeconds: number;
  /** Spent in the current window, decimal. */
  spent: string;
  /** Unix time the current window started. */
  windowStart: number;
}

/** A transaction receipt. */
export interface TransactionReceipt {
  /** Transaction hash. */
  transactionHash: string;
  /** Finality status (`ACCEPTED_ON_L2`, ...). */
  finalityStatus: string;
  /** Succeeded or reverted. */
  executionStatus: 'succeeded' | 'reverted';
  /** Revert reason, when reverted. */
  revertReason: string | null;
  /** Block number, when known. */
  blockNumber: number | null;
}

/** One wallet's warm session (the useChipiSession operations). */
export class Session {
  private constructor();
  /** The wallet address. */
  readonly walletAddress: string;
  /** Create and store a session key. */
  createSession(options?: { durationSeconds?: number; replaceExisting?: boolean }): Promise<SessionKeyData>;
  /** Register the session on chain; resolves to the transaction hash. */
  registerSession(options?: RegisterOptions): Promise<string>;
  /** Execute calls signed by the session key; resolves to the transaction hash. */
  executeWithSession(calls: Call[], options?: IntentOptions): Promise<string>;
  /** Read the session's state. */
  getSessionStatus(): Promise<SessionStatus>;
  /** Revoke the session on chain; resolves to the transaction hash. */
  revokeSession(options?: IntentOptions): Promise<string>;
  /** Forget the stored session locally. */
  clearSession(): Promise<void>;
  /** Set a spending policy (owner-signed); resolves to the transaction hash. */
  setSpendingPolicy(policy: SpendingPolicyInput, options?: IntentOptions): Promise<string>;
  /** Read the spending policy for a token (null if unset). */
  getSpendingPolicy(token: string): Promise<SpendingPolicy | null>;
  /** Remove the spending policy for a token; resolves to the transaction hash. */
  removeSpendingPolicy(token: string, options?: IntentOptions): Promise<string>;
  /**
   * Wait for a transaction's receipt (at most the call's time budget). Every
   * rejection carries `transactionHash`; a node that keeps failing is polled
   * until the time runs out (`TRANSACTION_PENDING`).
   */
  waitForTransaction(transactionHash: string, options?: { timeoutMs?: number }): Promise<TransactionReceipt>;
  /** Write the last execute's landing and zeroize the unlocked key. */
  lock(): Promise<void>;
  /** Drop the session's resource in the worker; the next call re-opens it. */
  close(): Promise<void>;
}

/** Counters of an engine. */
export interface EngineStats {
  /** Workers started (the first one included). */
  workersStarted: number;
  /** Workers replaced after a time limit, trap, crash or the memory limit. */
  workersReplaced: number;
  /** The component's linear memory after the last call, in bytes. */
  memoryBytes: number;
  /** Requests refused by the HTTP allow-list check in the worker. */
  deniedRequests: number;
  /** `wallet-session` resources alive in the worker after its last request, as it counts them. */
  liveResources: number;
}

/** Runs the component in a worker thread; calls run one at a time. */
export class SessionEngine {
  private constructor();
  /** Load the component and start its worker. */
  static start(options: EngineOptions): Promise<SessionEngine>;
  /** A session for one wallet; throws TRANSPORT_ERROR when a config URL is not allow-listed. */
  session(params: SessionParams): Session;
  /** Counters. */
  stats(): EngineStats;
  /**
   * `wallet-session` resources alive in the worker (each may hold an unlocked
   * key), as the worker counts them once the calls queued before are done.
   */
  liveResources(): Promise<number>;
  /** Drop the resources of sessions idle for `idleTimeoutMs` now; resolves to how many. */
  evictIdle(): Promise<number>;
  /** Finish queued calls, drop every session (writing landings), stop the worker. */
  close(): Promise<void>;
}
