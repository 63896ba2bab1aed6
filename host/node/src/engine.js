// The main-thread side: SessionEngine (one worker running the component, a
// queue of calls, the store / token bridge, time and memory limits) and
// Session (one wallet's warm `wallet-session` resource).

import { Worker, MessageChannel } from 'node:worker_threads';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ChipiSessionError, HOST_ERROR, fromSessionError } from './errors.js';
import { canonicalEntry, originOfUrl, sessionAllowList } from './allowlist.js';
import { MemoryStore } from './stores.js';
import { excludeFromCoreDumps } from './core_dumps.js';
import { MAX_ARGUMENT_BYTES, storeValueTooLarge, stringBytes } from './limits.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);
const DEFAULT_COMPONENT_DIR = new URL('../dist/component/', import.meta.url);
const COMPONENT_JS = 'chipi_session.js';
/** The cases of the WIT `encrypt-key-kind` enum. */
const ENCRYPT_KEY_KINDS = ['pin', 'high-entropy'];
const MIB = 1024 * 1024;

/**
 * The component's time budget for a call the host stops after `hardMs`: the
 * asked budget (60 s when absent) capped at `hardMs` minus a margin of a tenth
 * of it (at most 5 s), so the component reports a transport error itself
 * before the host has to stop it (as the Rust host's `fit_timeout_ms`).
 *
 * @param {number} hardMs
 * @param {number | undefined} askedMs
 * @returns {number}
 */
export function fitTimeoutMs(hardMs, askedMs) {
  const margin = Math.min(Math.floor(hardMs / 10), 5000);
  return Math.max(1, Math.min(askedMs ?? 60_000, hardMs - margin));
}

function messageOf(err) {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'unprintable exception';
  }
}

function invalid(message) {
  return new ChipiSessionError('INVALID_INPUT', message);
}

/** A u64 argument: a non-negative integer number or bigint. */
function u64(value, name) {
  if (typeof value === 'bigint' && value >= 0n && value < 2n ** 64n) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw invalid(`${name} must be a non-negative integer`);
}

/** A u32 argument. */
function u32(value, name) {
  if (typeof value === 'bigint') value = Number(value);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff) return value;
  throw invalid(`${name} must be an integer between 0 and 4294967295`);
}

function optional(value, convert, name) {
  return value === undefined || value === null ? undefined : convert(value, name);
}

/**
 * Refuse arguments whose strings are above {@link MAX_ARGUMENT_BYTES} in
 * UTF-8 together, before they are sent to the worker and lowered into the
 * component.
 *
 * @param {unknown[]} args
 * @param {string} what
 */
function checkArgumentBytes(args, what) {
  const bytes = stringBytes(args);
  if (bytes > MAX_ARGUMENT_BYTES) {
    throw invalid(`${what}: ${bytes} bytes of strings, above the limit of ${MAX_ARGUMENT_BYTES} bytes (1 MiB)`);
  }
}

function str(value, name) {
  if (typeof value !== 'string') throw invalid(`${name} must be a string`);
  return value;
}

/**
 * The WIT `intent-options` of a signing call, from `{idempotencyKey}`
 * (absent, null or undefined: no key). Anything but an object is refused, so
 * a key passed in the wrong place is never silently dropped. Its length and
 * characters are checked by the component.
 *
 * @param {unknown} options
 * @returns {{idempotencyKey: string | undefined}}
 */
function intentOptions(options) {
  if (options === undefined || options === null) return { idempotencyKey: undefined };
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw invalid('options must be an object such as {idempotencyKey}');
  }
  return { idempotencyKey: optional(/** @type {any} */ (options).idempotencyKey, str, 'idempotencyKey') };
}

/** A felt or amount: strings as they are, numbers and bigints in decimal. */
function feltArg(value, name) {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  throw invalid(`${name} must be a string, a bigint or a safe non-negative integer`);
}

/**
 * `err` naming the transaction it concerns: a ChipiSessionError gains
 * `transactionHash`; anything else becomes a `HOST_ERROR` that carries it.
 *
 * @param {unknown} err
 * @param {string} hash
 * @returns {ChipiSessionError}
 */
function withTransactionHash(err, hash) {
  if (err instanceof ChipiSessionError) {
    err.transactionHash = hash;
    return err;
  }
  return new ChipiSessionError(HOST_ERROR, messageOf(err), { cause: err, transactionHash: hash });
}

const num = (v) => (v === undefined || v === null ? null : Number(v));

function keyData(d) {
  return { publicKey: d.publicKey, encryptedPrivateKey: d.encryptedPrivateKey, validUntil: Number(d.validUntil) };
}

function status(s) {
  return {
    state: s.state,
    isActive: s.isActive,
    session: s.session ? keyData(s.session) : null,
    onChain: s.onChain
      ? {
          validUntil: Number(s.onChain.validUntil),
          maxCalls: s.onChain.maxCalls,
          callsUsed: s.onChain.callsUsed,
          allowedEntrypointsLen: s.onChain.allowedEntrypointsLen,
          allowedEntrypoints: s.onChain.allowedEntrypoints,
        }
      : null,
    remainingCalls: s.remainingCalls ?? null,
  };
}

function policy(p) {
  if (!p) return null;
  return {
    token: p.token,
    maxPerCall: p.maxPerCall,
    maxPerWindow: p.maxPerWindow,
    windowSeconds: Number(p.windowSeconds),
    spent: p.spent,
    windowStart: Number(p.windowStart),
  };
}

function receipt(r) {
  return {
    transactionHash: r.transactionHash,
    finalityStatus: r.finalityStatus,
    executionStatus: r.executionStatus,
    revertReason: r.revertReason ?? null,
    blockNumber: num(r.blockNumber),
  };
}

/** One worker thread running one instance of the component. */
class WorkerSlot {
  /**
   * Sessions whose resource exists in this worker -> when each was last used
   * (`performance.now()`), least recently used first.
   *
   * @type {Map<number, number>}
   */
  warm = new Map();
  /** Bytes of the component's linear memory after the last call. */
  memoryBytes = 0;
  /** `wallet-session` resources alive in the worker after the last request, as it counts them. */
  resources = 0;
  /** Requests the HTTP guard refused in this worker. */
  denied = 0;
  #dead = false;
  #inflight = null;
  #nextId = 0;
  #worker;
  #bridge;
  #signal;
  #hooks;
  /** Resolves when the component is instantiated. @type {Promise<void>} */
  ready;

  constructor({ modules, componentUrl, maxMemoryMb }, hooks) {
    this.#hooks = hooks;
    const control = new SharedArrayBuffer(4);
    this.#signal = new Int32Array(control);
    const { port1, port2 } = new MessageChannel();
    this.#bridge = port1;
    this.#worker = new Worker(WORKER_URL, {
      workerData: { componentUrl, modules, bridgePort: port2, control },
      transferList: [port2],
      env: {},
      argv: [],
      execArgv: [],
      stdin: false,
      resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb },
    });
    port1.on('message', (req) => {
      void this.#serve(req);
    });
    port1.unref();

    this.ready = new Promise((resolve, reject) => {
      this.#inflight = {
        resolve: (reply) => {
          this.memoryBytes = reply.memoryBytes;
          resolve();
        },
        reject,
        timer: null,
      };
    });
    this.ready.catch(() => {});
    this.#worker.on('message', (msg) => this.#onMessage(msg));
    this.#worker.on('error', (err) => this.#fail(`the component's worker failed: ${messageOf(err)}`));
    this.#worker.on('exit', (code) => this.#fail(`the component's worker exited (code ${code})`));
  }

  get dead() {
    return this.#dead;
  }

  #onMessage(msg) {
    if (msg.type === 'warning') {
      this.#hooks.onWarning(msg.line);
      return;
    }
    if (msg.type !== 'ready' && msg.type !== 'result') return;
    const call = this.#inflight;
    if (call === null || (msg.type === 'result' && msg.id !== call.id)) return;
    this.#inflight = null;
    if (call.timer !== null) clearTimeout(call.timer);
    this.#worker.unref();
    this.memoryBytes = msg.memoryBytes;
    this.resources = msg.resources ?? 0;
    this.denied += msg.denied ?? 0;
    call.resolve(msg);
  }

  #fail(message) {
    const call = this.#inflight;
    this.#inflight = null;
    this.#dead = true;
    this.#bridge.close();
    if (call !== null) {
      if (call.timer !== null) clearTimeout(call.timer);
      call.reject(new ChipiSessionError(HOST_ERROR, message));
    }
  }

  /** Answer a store or token request of the component. */
  async #serve(req) {
    let answer;
    try {
      answer = { ok: true, value: await this.#hooks.serve(req) };
    } catch (err) {
      answer = { ok: false, message: messageOf(err) };
    }
    if (this.#dead) return;
    answer.seq = req.seq;
    try {
      this.#bridge.postMessage(answer);
    } catch (err) {
      this.#bridge.postMessage({ seq: req.seq, ok: false, message: `answer could not be passed: ${messageOf(err)}` });
    }
    Atomics.store(this.#signal, 0, 1);
    Atomics.notify(this.#signal, 0);
  }

  /**
   * Send one request and wait for its result; stop the worker when it runs
   * past `timeoutMs`.
   *
   * @param {object} msg
   * @param {number} timeoutMs
   * @param {string} what
   * @returns {Promise<any>}
   */
  request(msg, timeoutMs, what) {
    if (this.#dead) return Promise.reject(new ChipiSessionError(HOST_ERROR, "the component's worker is gone"));
    if (this.#inflight !== null) return Promise.reject(new Error('internal error: worker busy'));
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#inflight = null;
        this.kill();
        reject(
          new ChipiSessionError(
            HOST_ERROR,
            `${what} ran past its time limit of ${timeoutMs} ms; the component's worker was stopped and will be replaced`,
          ),
        );
      }, timeoutMs);
      this.#inflight = { id, resolve, reject, timer };
      this.#worker.ref();
      this.#worker.postMessage({ ...msg, id });
    });
  }

  /** Pass a fault to inject (tests). */
  inject(kind) {
    this.#worker.postMessage({ type: 'fault', kind });
  }

  /** Stop the worker at once. */
  kill() {
    if (!this.#dead) {
      this.#dead = true;
      this.#bridge.close();
    }
    return this.#worker.terminate().catch(() => {});
  }
}

/**
 * One wallet's session: the operations of Chipi's `useChipiSession` hook,
 * bound to a wallet, its encrypt key and a config. It owns one warm
 * `wallet-session` resource in the engine's worker, created by its first call
 * (so the second execute runs no key derivation) and re-created after the
 * worker is replaced (all session state is in the store).
 */
export class Session {
  /** @type {SessionEngine} */
  #engine;
  /** @type {number} */
  #id;
  /** @type {object} */
  #ctx;
  /** @type {string[]} */
  #allow;
  /** @type {number} */
  #budgetMs;

  /** @internal */
  constructor(engine, id, ctx, allow, budgetMs) {
    this.#engine = engine;
    this.#id = id;
    this.#ctx = ctx;
    this.#allow = allow;
    this.#budgetMs = budgetMs;
  }

  /** The wallet address. */
  get walletAddress() {
    return this.#ctx.wallet.address;
  }

  #call(method, args) {
    return this.#engine._invoke(this.#id, this.#ctx, this.#allow, method, args);
  }

  /**
   * Create a session key pair, encrypt its private key and store it.
   *
   * @param {{durationSeconds?: number, replaceExisting?: boolean}} [options]
   */
  async createSession(options = {}) {
    const args = [
      {
        durationSeconds: optional(options.durationSeconds, u64, 'durationSeconds'),
        replaceExisting: Boolean(options.replaceExisting),
      },
    ];
    return keyData(await this.#call('createSession', args));
  }

  /**
   * Register the stored session on chain (owner-signed, gasless). Resolves to
   * the transaction hash.
   *
   * @param {{validUntil?: number, maxCalls?: number, allowedEntrypoints?: string[], idempotencyKey?: string}} [options]
   *   `idempotencyKey` names the intent: its retry never signs a second transaction.
   */
  async registerSession(options = {}) {
    const { idempotencyKey } = intentOptions(options);
    const entrypoints = options?.allowedEntrypoints ?? [];
    if (!Array.isArray(entrypoints)) throw invalid('allowedEntrypoints must be an array of strings');
    const args = [
      {
        validUntil: optional(options?.validUntil, u64, 'validUntil'),
        maxCalls: optional(options?.maxCalls, u32, 'maxCalls'),
        allowedEntrypoints: entrypoints.map((e, i) => str(e, `allowedEntrypoints[${i}]`)),
        idempotencyKey,
      },
    ];
    return this.#call('registerSession', args);
  }

  /**
   * Execute calls signed by the session key. Resolves to the transaction hash.
   *
   * @param {{contractAddress: string, entrypoint: string, calldata?: Array<string | number | bigint>}[]} calls
   * @param {{idempotencyKey?: string}} [options] `idempotencyKey` names the
   *   intent: its retry never signs a second transaction.
   */
  async executeWithSession(calls, options = {}) {
    if (!Array.isArray(calls)) throw invalid('calls must be an array');
    const args = [
      calls.map((c, i) => ({
        contractAddress: str(c?.contractAddress, `calls[${i}].contractAddress`),
        entrypoint: str(c?.entrypoint, `calls[${i}].entrypoint`),
        calldata: (c.calldata ?? []).map((v, j) => feltArg(v, `calls[${i}].calldata[${j}]`)),
      })),
      intentOptions(options),
    ];
    return this.#call('executeWithSession', args);
  }

  /** Read the lifecycle state, the stored session and its on-chain data. */
  async getSessionStatus() {
    return status(await this.#call('getSessionStatus', []));
  }

  /**
   * Revoke the stored session on chain (owner-signed). Resolves to the transaction hash.
   *
   * @param {{idempotencyKey?: string}} [options]
   */
  async revokeSession(options = {}) {
    return this.#call('revokeSession', [intentOptions(options)]);
  }

  /** Forget the stored session locally (nothing is sent). */
  async clearSession() {
    await this.#call('clearSession', []);
  }

  /**
   * Set a spending policy for the stored session (owner-signed).
   *
   * @param {{token: string, maxPerCall: string | number | bigint, maxPerWindow: string | number | bigint, windowSeconds: number}} p
   * @param {{idempotencyKey?: string}} [options]
   */
  async setSpendingPolicy(p, options = {}) {
    const args = [
      {
        token: str(p?.token, 'token'),
        maxPerCall: feltArg(p.maxPerCall, 'maxPerCall'),
        maxPerWindow: feltArg(p.maxPerWindow, 'maxPerWindow'),
        windowSeconds: u64(p.windowSeconds, 'windowSeconds'),
      },
      intentOptions(options),
    ];
    return this.#call('setSpendingPolicy', args);
  }

  /**
   * Read the spending policy of the stored session for a token (null if unset).
   *
   * @param {string} token
   */
  async getSpendingPolicy(token) {
    return policy(await this.#call('getSpendingPolicy', [str(token, 'token')]));
  }

  /**
   * Remove the spending policy for a token (owner-signed).
   *
   * @param {string} token
   * @param {{idempotencyKey?: string}} [options]
   */
  async removeSpendingPolicy(token, options = {}) {
    return this.#call('removeSpendingPolicy', [str(token, 'token'), intentOptions(options)]);
  }

  /**
   * Wait until the chain accepted the transaction (succeeded or reverted).
   * Every failure (`TRANSACTION_PENDING` when the time ran out or the node
   * kept failing, a host failure, ...) carries `transactionHash`: the
   * transaction was sent and may still land.
   *
   * @param {string} transactionHash
   * @param {{timeoutMs?: number}} [options] Default and maximum: the call's time budget.
   */
  async waitForTransaction(transactionHash, options = {}) {
    const hash = str(transactionHash, 'transactionHash');
    try {
      const timeoutMs = Math.min(options?.timeoutMs ?? this.#budgetMs, this.#budgetMs);
      return receipt(await this.#call('waitForTransaction', [hash, u64(timeoutMs, 'timeoutMs')]));
    } catch (err) {
      throw withTransactionHash(err, hash);
    }
  }

  /** Write the last execute's landing to the store and zeroize the unlocked session key. */
  async lock() {
    await this.#call('lock', []);
  }

  /**
   * Drop this session's resource in the worker (writing the last execute's
   * landing). The session stays usable: the next call opens it again.
   */
  async close() {
    await this.#engine._drop(this.#id);
  }
}

/**
 * Runs the chipi-session component in a worker thread and hands out
 * {@link Session}s. Calls run one at a time, in order.
 */
export class SessionEngine {
  #opts;
  #modules;
  #componentUrl;
  /** @type {WorkerSlot | null} */
  #slot = null;
  #queue = Promise.resolve();
  #closed = false;
  #nextSession = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #sweepTimer = null;
  /** Sessions collected by the garbage collector, their resources not yet dropped. @type {number[]} */
  #collected = [];
  /** Drops the resource of a session object that was garbage collected. */
  #finalizer = new FinalizationRegistry((/** @type {number} */ id) => this.#onCollected(id));
  #stats = { workersStarted: 0, workersReplaced: 0, memoryBytes: 0, deniedRequests: 0, liveResources: 0 };

  /** @internal Use {@link SessionEngine.start}. */
  constructor(opts, modules, componentUrl) {
    this.#opts = opts;
    this.#modules = modules;
    this.#componentUrl = componentUrl;
  }

  /**
   * Load the component and start its worker.
   *
   * @param {object} options See index.d.ts (`EngineOptions`).
   * @returns {Promise<SessionEngine>}
   */
  static async start(options = {}) {
    const store = options.store ?? new MemoryStore();
    if (typeof store?.get !== 'function' || typeof store?.compareAndSwap !== 'function') {
      throw new TypeError('store must have async get(key) and compareAndSwap(key, expected, next)');
    }
    if (typeof options.getBearerToken !== 'function') {
      throw new TypeError('getBearerToken must be a function returning the bearer token');
    }
    const allowHosts = (options.allowHosts ?? []).map(canonicalEntry);
    const timeoutMs = options.timeoutMs ?? 60_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('timeoutMs must be a positive integer');
    const maxMemoryMb = options.maxMemoryMb ?? 256;
    if (!Number.isInteger(maxMemoryMb) || maxMemoryMb <= 0) throw new TypeError('maxMemoryMb must be a positive integer');
    const maxWarmSessions = options.maxWarmSessions ?? 1024;
    if (!Number.isInteger(maxWarmSessions) || maxWarmSessions <= 0) {
      throw new TypeError('maxWarmSessions must be a positive integer');
    }
    const idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
    if (!Number.isInteger(idleTimeoutMs) || idleTimeoutMs <= 0) throw new TypeError('idleTimeoutMs must be a positive integer');
    const onWarning = options.onWarning ?? (() => {});
    if (typeof onWarning !== 'function') throw new TypeError('onWarning must be a function');
    if (!options.allowCoreDumps) excludeFromCoreDumps();

    let dir = options.componentDir ?? DEFAULT_COMPONENT_DIR;
    if (typeof dir === 'string') dir = pathToFileURL(dir.endsWith('/') ? dir : `${dir}/`);
    const componentUrl = new URL(COMPONENT_JS, dir);
    /** @type {Record<string, WebAssembly.Module>} */
    const modules = {};
    try {
      await readFile(componentUrl);
      for (const name of await readdir(dir)) {
        if (name.endsWith('.wasm')) modules[name] = await WebAssembly.compile(await readFile(new URL(name, dir)));
      }
    } catch (err) {
      throw new Error(
        `the transpiled component is missing in ${fileURLToPath(dir)} (run \`npm run build\`): ${messageOf(err)}`,
      );
    }
    const engine = new SessionEngine(
      {
        store,
        getBearerToken: options.getBearerToken,
        allowHosts,
        allowConfigHosts: options.allowConfigHosts ?? true,
        timeoutMs,
        maxMemoryMb,
        maxWarmSessions,
        idleTimeoutMs,
        onWarning,
      },
      modules,
      componentUrl.href,
    );
    await engine.#enqueue(() => engine.#worker());
    return engine;
  }

  /**
   * A session for one wallet. Checks the config's URLs against the
   * allow-list and throws `TRANSPORT_ERROR` when one is refused (nothing is
   * sent); nothing else happens until the first call.
   *
   * `encryptKeyKind` says what `encryptKey` is, never guessed from its text:
   * `'pin'` (the default: a PIN or password, stretched with Argon2id) or
   * `'high-entropy'` (32 to 64 random bytes in unpadded base64url, expanded
   * with HKDF). A session key sealed under one kind is refused under the
   * other (`SESSION_DECRYPTION_FAILED` naming the kind).
   *
   * @param {{wallet: {publicKey: string, encryptedPrivateKey: string, walletType: string},
   *   encryptKey: string, encryptKeyKind?: 'pin' | 'high-entropy', config: object}} params
   * @returns {Session}
   */
  session({ wallet, encryptKey, encryptKeyKind = 'pin', config } = /** @type {any} */ ({})) {
    if (this.#closed) throw new ChipiSessionError(HOST_ERROR, 'the engine is closed');
    if (wallet === null || typeof wallet !== 'object') throw invalid('wallet must be {publicKey, encryptedPrivateKey, walletType}');
    const walletType = String(wallet.walletType ?? '').toLowerCase();
    if (walletType !== 'chipi' && walletType !== 'ready') throw invalid('wallet.walletType must be CHIPI or READY');
    if (!ENCRYPT_KEY_KINDS.includes(encryptKeyKind)) throw invalid("encryptKeyKind must be 'pin' or 'high-entropy'");
    if (config === null || typeof config !== 'object') throw invalid('config must be an object');
    const rpcUrls = config.rpcUrls ?? [];
    if (!Array.isArray(rpcUrls)) throw invalid('config.rpcUrls must be an array of URLs');
    const urls = [str(config.apiBaseUrl, 'config.apiBaseUrl'), ...rpcUrls.map((u, i) => str(u, `config.rpcUrls[${i}]`))];
    let allow;
    try {
      allow = sessionAllowList(this.#opts.allowHosts, this.#opts.allowConfigHosts, urls);
    } catch (err) {
      throw invalid(messageOf(err));
    }
    const allowed = new Set(allow);
    for (const url of urls) {
      let origin;
      try {
        origin = originOfUrl(url);
      } catch (err) {
        throw invalid(messageOf(err));
      }
      if (!allowed.has(origin)) {
        throw new ChipiSessionError('TRANSPORT_ERROR', `refused: ${origin} is not allow-listed`);
      }
    }
    const budgetMs = fitTimeoutMs(this.#opts.timeoutMs, optional(config.timeoutMs, u32, 'config.timeoutMs'));
    const ctx = {
      wallet: {
        address: str(wallet.publicKey, 'wallet.publicKey'),
        encryptedPrivateKey: str(wallet.encryptedPrivateKey, 'wallet.encryptedPrivateKey'),
        walletType,
      },
      encryptKey: str(encryptKey, 'encryptKey'),
      encryptKeyKind,
      config: {
        apiBaseUrl: config.apiBaseUrl,
        apiKey: str(config.apiKey, 'config.apiKey'),
        rpcUrls,
        chainId: optional(config.chainId, str, 'config.chainId'),
        defaultDurationSeconds: u64(config.defaultDurationSeconds ?? 21_600, 'config.defaultDurationSeconds'),
        defaultMaxCalls: u32(config.defaultMaxCalls ?? 1000, 'config.defaultMaxCalls'),
        timeoutMs: BigInt(budgetMs),
      },
    };
    checkArgumentBytes([ctx], 'session context');
    const session = new Session(this, ++this.#nextSession, ctx, allow, budgetMs);
    this.#finalizer.register(session, this.#nextSession);
    return session;
  }

  /**
   * Counters: workers started and replaced, the component's linear memory
   * after the last call, and requests refused by the HTTP allow-list check.
   *
   * @returns {{workersStarted: number, workersReplaced: number, memoryBytes: number, deniedRequests: number}}
   */
  stats() {
    return { ...this.#stats };
  }

  /**
   * The number of `wallet-session` resources alive in the worker (each may
   * hold an unlocked session key), as the worker counts them once the calls
   * queued before this one are done; 0 when no worker runs.
   *
   * @returns {Promise<number>}
   */
  liveResources() {
    return this.#enqueue(async () => {
      const slot = this.#slot;
      if (slot === null || slot.dead) return 0;
      const reply = await this.#request(slot, { type: 'count' }, 'counting the sessions');
      return reply.ok ? reply.value : 0;
    });
  }

  /**
   * Wait for the queued calls, drop every session resource (so their last
   * landings are written) and stop the worker. Idempotent.
   */
  async close() {
    if (this.#closed) return this.#queue;
    this.#closed = true;
    if (this.#sweepTimer !== null) clearTimeout(this.#sweepTimer);
    await this.#enqueue(async () => {
      const slot = this.#slot;
      this.#slot = null;
      if (slot !== null) await this.#retire(slot);
    }).catch(() => {});
  }

  /** @internal Tests: make the next host import of the worker fail ('trap') or exit ('exit'). */
  async _injectFault(kind) {
    await this.#enqueue(async () => (await this.#worker()).inject(kind));
  }

  /** @internal */
  _invoke(sessionId, ctx, allow, method, args) {
    if (this.#closed) return Promise.reject(new ChipiSessionError(HOST_ERROR, 'the engine is closed'));
    try {
      // The context is lowered with a call that opens the resource: counted with every call.
      checkArgumentBytes([ctx, args], `arguments of ${method} with the session context`);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(async () => {
      const slot = await this.#worker();
      // Dropped in the worker before the call: the idle sessions, then the least recently used.
      const drop = this.#takeIdle(slot);
      if (!slot.warm.has(sessionId)) {
        for (const id of slot.warm.keys()) {
          if (slot.warm.size < this.#opts.maxWarmSessions) break;
          slot.warm.delete(id);
          drop.push(id);
        }
      }
      const msg = { type: 'call', sessionId, method, args, drop };
      if (!slot.warm.has(sessionId)) Object.assign(msg, { ctx, allow });
      const reply = await this.#request(slot, msg, method);
      if (reply.ok || reply.error.kind === 'session') {
        slot.warm.delete(sessionId);
        slot.warm.set(sessionId, performance.now());
      }
      this.#armSweep();
      if (reply.ok) return reply.value;
      if (reply.error.kind === 'session') throw fromSessionError(reply.error.payload);
      throw new ChipiSessionError(
        HOST_ERROR,
        `${method} failed in the host: ${reply.error.message}; the component's worker was replaced`,
      );
    });
  }

  /** @internal */
  _drop(sessionId) {
    return this.#enqueue(() => this.#dropWarm([sessionId]));
  }

  /**
   * Drop the resources of the sessions unused for `idleTimeoutMs` (their
   * unlocked keys are zeroized, their last landings written). The engine does
   * it on its own timer and before each call; this does it now.
   *
   * @returns {Promise<number>} How many resources were dropped.
   */
  evictIdle() {
    if (this.#closed) return Promise.resolve(0);
    return this.#enqueue(async () => {
      const slot = this.#slot;
      const idle = slot === null || slot.dead ? [] : this.#takeIdle(slot);
      if (idle.length > 0) await this.#dropIn(slot, idle);
      this.#armSweep();
      return idle.length;
    });
  }

  /** Remove the idle sessions from `slot.warm` (least recently used first) and return them. */
  #takeIdle(slot) {
    const now = performance.now();
    const idle = [];
    for (const [id, used] of slot.warm) {
      if (now - used < this.#opts.idleTimeoutMs) break;
      slot.warm.delete(id);
      idle.push(id);
    }
    return idle;
  }

  /** Run the next idle eviction when the least recently used session turns idle. */
  #armSweep() {
    if (this.#sweepTimer !== null) clearTimeout(this.#sweepTimer);
    this.#sweepTimer = null;
    const oldest = this.#slot?.warm.values().next().value;
    if (oldest === undefined || this.#closed) return;
    const wait = Math.min(oldest + this.#opts.idleTimeoutMs - performance.now() + 1, 2 ** 31 - 1);
    this.#sweepTimer = setTimeout(() => void this.evictIdle().catch(() => {}), Math.max(0, wait));
    this.#sweepTimer.unref();
  }

  /** A session object was garbage collected: drop its resource (batched). */
  #onCollected(id) {
    this.#collected.push(id);
    if (this.#collected.length > 1) return; // a drop is queued already
    this.#enqueue(() => {
      const ids = this.#collected;
      this.#collected = [];
      return this.#dropWarm(ids);
    }).catch(() => {});
  }

  /** Drop those of `ids` whose resource is warm in the current worker (queued). */
  async #dropWarm(ids) {
    const slot = this.#slot;
    if (slot === null || slot.dead) return;
    const warm = ids.filter((id) => slot.warm.delete(id));
    if (warm.length > 0) await this.#dropIn(slot, warm);
    this.#armSweep();
  }

  /** Drop these resources in the worker. */
  async #dropIn(slot, sessionIds) {
    const reply = await this.#request(slot, { type: 'drop', sessionIds }, 'dropping sessions');
    if (!reply.ok) throw new ChipiSessionError(HOST_ERROR, `dropping sessions failed: ${reply.error.message}`);
  }

  /** Send a request; replace the worker after a host failure or above the memory limit. */
  async #request(slot, msg, what) {
    let reply;
    try {
      reply = await slot.request(msg, this.#opts.timeoutMs, what);
    } catch (err) {
      this.#forget(slot);
      throw err;
    }
    this.#stats.memoryBytes = slot.memoryBytes;
    this.#stats.liveResources = slot.resources;
    this.#stats.deniedRequests += reply.denied ?? 0;
    if (!reply.ok && reply.error.kind === 'host') {
      this.#forget(slot);
      await slot.kill();
    } else if (slot.memoryBytes > this.#opts.maxMemoryMb * MIB && this.#slot === slot) {
      this.#slot = null;
      this.#stats.workersReplaced += 1;
      await this.#retire(slot);
    }
    return reply;
  }

  #forget(slot) {
    if (this.#slot === slot) {
      this.#slot = null;
      this.#stats.workersReplaced += 1;
    }
    void slot.kill();
  }

  /** Drop every resource (within the time limit), then stop the worker. */
  async #retire(slot) {
    if (!slot.dead) {
      try {
        await slot.request({ type: 'shutdown' }, this.#opts.timeoutMs, 'closing the sessions');
      } catch {
        // stopped by the time limit or crashed: the store settles it later
      }
    }
    await slot.kill();
  }

  /** The live worker, started when there is none. */
  async #worker() {
    if (this.#slot !== null && !this.#slot.dead) return this.#slot;
    const slot = new WorkerSlot(
      { modules: this.#modules, componentUrl: this.#componentUrl, maxMemoryMb: this.#opts.maxMemoryMb },
      {
        serve: (req) => this.#serve(req),
        onWarning: (line) => {
          try {
            this.#opts.onWarning(line);
          } catch {
            // a failing callback does not fail the call
          }
        },
      },
    );
    this.#stats.workersStarted += 1;
    const timer = setTimeout(() => void slot.kill(), this.#opts.timeoutMs);
    try {
      await slot.ready;
    } catch (err) {
      void slot.kill();
      throw new ChipiSessionError(HOST_ERROR, `the component could not be started: ${messageOf(err)}`);
    } finally {
      clearTimeout(timer);
    }
    this.#slot = slot;
    return slot;
  }

  /** Run the store or token callback for the component. */
  async #serve(req) {
    const { store, getBearerToken } = this.#opts;
    if (req.op === 'get') {
      const value = await store.get(req.key);
      if (value === null || value === undefined) return null;
      if (!(value instanceof Uint8Array)) throw new TypeError('store.get must return a Uint8Array or null');
      const tooLarge = storeValueTooLarge(value.byteLength);
      if (tooLarge !== null) throw new Error(tooLarge);
      return value;
    }
    if (req.op === 'cas') {
      const swapped = await store.compareAndSwap(req.key, req.expected, req.next);
      if (typeof swapped !== 'boolean') throw new TypeError('store.compareAndSwap must return a boolean');
      return swapped;
    }
    if (req.op === 'token') {
      const token = await getBearerToken();
      if (typeof token !== 'string') throw new TypeError('getBearerToken must return a string');
      return token;
    }
    throw new Error(`unknown bridge request ${req.op}`);
  }

  #enqueue(fn) {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}
