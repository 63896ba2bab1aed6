// The worker thread that runs the component. Every import the component has
// is provided here: no environment, arguments or working directory, no
// filesystem, stdin empty, stdout discarded, stderr `warning: ` lines sent to
// the main thread, `exit` traps, and outgoing HTTP only to allow-listed
// origins. The store and the bearer token live on the main thread; the
// synchronous imports reach them through `callMain` (a MessagePort request
// answered by the main thread, which wakes this thread with Atomics.notify).

import { parentPort, workerData, receiveMessageOnPort } from 'node:worker_threads';
import { outgoingHandler, types as httpTypes } from '@bytecodealliance/preview2-shim/http';
import { error as ioError, poll as ioPoll, streams as ioStreams } from '@bytecodealliance/preview2-shim/io';
import { monotonicClock, wallClock } from '@bytecodealliance/preview2-shim/clocks';
import { random, insecureSeed } from '@bytecodealliance/preview2-shim/random';
import { guardOutgoingHandler } from './http_guard.js';
import { isSessionErrorPayload } from './errors.js';

const { componentUrl, modules, bridgePort, control } = workerData;
const signal = new Int32Array(control);
let bridgeSeq = 0;

// Nothing this thread prints reaches the host's stdout / stderr (the
// component's own stdio is handled below; this silences the glue code).
for (const stream of [process.stdout, process.stderr]) stream.write = () => true;

if (parentPort === null) {
  throw new Error('src/worker.js runs only as a worker thread');
}
const port = parentPort;

/** Faults injected by tests through `SessionEngine#_injectFault`. */
let pendingFault = null;

/**
 * Ask the main thread and block until it answers.
 *
 * @param {string} op
 * @param {object} payload
 * @returns {any}
 */
function callMain(op, payload) {
  if (pendingFault === 'trap') {
    pendingFault = null;
    throw new Error('injected fault: host import failed');
  }
  if (pendingFault === 'exit') {
    process.exit(70);
  }
  const seq = ++bridgeSeq;
  Atomics.store(signal, 0, 0);
  bridgePort.postMessage({ seq, op, ...payload });
  for (;;) {
    Atomics.wait(signal, 0, 0);
    const received = receiveMessageOnPort(bridgePort);
    if (received === undefined) {
      // Woken without an answer (spurious): wait again.
      Atomics.store(signal, 0, 0);
      continue;
    }
    const answer = received.message;
    if (answer.seq !== seq) continue;
    return answer;
  }
}

// --- stdio --------------------------------------------------------------------

const { OutputStream, InputStream } = ioStreams;
const readyPollable = () => monotonicClock.subscribeDuration(0n);

/** An output stream that hands each complete line to `onLine`. */
class LineStream extends OutputStream {
  #pending = '';
  #decoder = new TextDecoder();
  #onLine;
  constructor(onLine) {
    super();
    this.#onLine = onLine;
  }
  #take(bytes) {
    this.#pending += this.#decoder.decode(bytes, { stream: true });
    let nl;
    while ((nl = this.#pending.indexOf('\n')) >= 0) {
      const line = this.#pending.slice(0, nl).replace(/\r$/, '');
      this.#pending = this.#pending.slice(nl + 1);
      this.#onLine(line);
    }
    if (this.#pending.length > 65536) this.#pending = this.#pending.slice(-65536);
  }
  checkWrite() {
    return 65536n;
  }
  write(bytes) {
    this.#take(bytes);
  }
  blockingWriteAndFlush(bytes) {
    this.#take(bytes);
  }
  flush() {}
  blockingFlush() {}
  writeZeroes(len) {
    this.#take(new Uint8Array(Number(len)));
  }
  blockingWriteZeroesAndFlush(len) {
    this.#take(new Uint8Array(Number(len)));
  }
  splice() {
    return 0n;
  }
  blockingSplice() {
    return 0n;
  }
  subscribe() {
    return readyPollable();
  }
  [Symbol.dispose]() {}
}

/** An input stream that is always at its end. */
class EmptyInput extends InputStream {
  read() {
    throw { tag: 'closed' };
  }
  blockingRead() {
    throw { tag: 'closed' };
  }
  skip() {
    throw { tag: 'closed' };
  }
  blockingSkip() {
    throw { tag: 'closed' };
  }
  subscribe() {
    return readyPollable();
  }
  [Symbol.dispose]() {}
}

class TerminalInput {}
class TerminalOutput {}

/** Raised by `wasi:cli/exit`: the component may not end the host. */
class ExitTrap extends Error {}

const cli = {
  environment: {
    getEnvironment: () => [],
    getArguments: () => [],
    initialCwd: () => undefined,
  },
  exit: {
    exit(status) {
      throw new ExitTrap(`the component called exit (${status?.tag ?? 'unknown'})`);
    },
  },
  stdin: { getStdin: () => new EmptyInput() },
  stdout: { getStdout: () => new LineStream(() => {}) },
  stderr: {
    getStderr: () =>
      new LineStream((line) => {
        if (line.startsWith('warning: ')) port.postMessage({ type: 'warning', line });
      }),
  },
  terminalInput: { TerminalInput },
  terminalOutput: { TerminalOutput },
  terminalStdin: { getTerminalStdin: () => undefined },
  terminalStdout: { getTerminalStdout: () => undefined },
  terminalStderr: { getTerminalStderr: () => undefined },
};

// --- store, credentials, HTTP -------------------------------------------------------

const store = {
  get(key) {
    const answer = callMain('get', { key });
    if (!answer.ok) return { tag: 'failed', val: answer.message };
    // The main thread answers a value above MAX_STORE_VALUE_BYTES as a failure
    // (engine.js, #serve), so nothing larger reaches this import.
    return answer.value === null ? { tag: 'absent' } : { tag: 'found', val: answer.value };
  },
  compareAndSwap(key, expected, next) {
    const answer = callMain('cas', { key, expected: expected ?? null, next: next ?? null });
    return answer.ok ? { tag: 'ok', val: answer.value } : { tag: 'err', val: answer.message };
  },
};

const credentials = {
  bearerToken() {
    const answer = callMain('token', {});
    return answer.ok ? { tag: 'ok', val: answer.value } : { tag: 'err', val: answer.message };
  },
};

const NOTHING_ALLOWED = new Set();
let currentAllowed = NOTHING_ALLOWED;
let denied = 0;
const guardedHandler = guardOutgoingHandler(
  outgoingHandler.handle,
  () => currentAllowed,
  () => {
    denied += 1;
  },
);

// --- instantiation ------------------------------------------------------------------

const wasiImports = {
  'wasi:cli/environment': cli.environment,
  'wasi:cli/exit': cli.exit,
  'wasi:cli/stdin': cli.stdin,
  'wasi:cli/stdout': cli.stdout,
  'wasi:cli/stderr': cli.stderr,
  'wasi:cli/terminal-input': cli.terminalInput,
  'wasi:cli/terminal-output': cli.terminalOutput,
  'wasi:cli/terminal-stdin': cli.terminalStdin,
  'wasi:cli/terminal-stdout': cli.terminalStdout,
  'wasi:cli/terminal-stderr': cli.terminalStderr,
  'wasi:clocks/monotonic-clock': monotonicClock,
  'wasi:clocks/wall-clock': wallClock,
  'wasi:http/outgoing-handler': guardedHandler,
  'wasi:http/types': httpTypes,
  'wasi:io/error': ioError,
  'wasi:io/poll': ioPoll,
  'wasi:io/streams': ioStreams,
  'wasi:random/random': random,
  'wasi:random/insecure-seed': insecureSeed,
  'chipi:session/store': store,
  'chipi:session/credentials': credentials,
  'chipi:session/types': {},
};
/** Versions of the imported packages (`package chipi:session@...` in wit/session.wit). */
const WASI_VERSION = '0.2.4';
const WIT_VERSION = '0.5.0';
// The generated code looks imports up without their version; give both forms.
const imports = {};
for (const [name, value] of Object.entries(wasiImports)) {
  imports[name] = value;
  imports[`${name}@${name.startsWith('wasi:') ? WASI_VERSION : WIT_VERSION}`] = value;
}

/** Every linear memory of the component's core instances. */
const memories = [];
const { instantiate } = await import(componentUrl);
const root = await instantiate(
  (name) => {
    const module = modules[name];
    if (!module) throw new Error(`no compiled core module ${name}`);
    return module;
  },
  imports,
  async (module, moduleImports) => {
    const instance = await WebAssembly.instantiate(module, moduleImports);
    for (const value of Object.values(instance.exports)) {
      if (value instanceof WebAssembly.Memory) memories.push(value);
    }
    return instance;
  },
);
const { WalletSession } = root.session;

function memoryBytes() {
  let total = 0;
  for (const memory of memories) total += memory.buffer.byteLength;
  return total;
}

// --- requests from the main thread ---------------------------------------------------

/** sessionId -> {resource, allowed} */
const sessions = new Map();

function describe(err) {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  try {
    return String(err);
  } catch {
    return 'unprintable exception';
  }
}

function runCall(msg) {
  for (const id of msg.drop ?? []) dropSession(id);
  let entry = sessions.get(msg.sessionId);
  if (entry === undefined) {
    if (msg.ctx === undefined) throw new Error(`session ${msg.sessionId} is not open in this worker`);
    entry = { allowed: new Set(msg.allow), resource: null };
    currentAllowed = entry.allowed;
    entry.resource = new WalletSession(msg.ctx);
    sessions.set(msg.sessionId, entry);
  }
  currentAllowed = entry.allowed;
  const method = entry.resource[msg.method];
  if (typeof method !== 'function') throw new Error(`unknown method ${msg.method}`);
  return method.apply(entry.resource, msg.args);
}

function dropSession(sessionId) {
  const entry = sessions.get(sessionId);
  if (entry === undefined) return;
  sessions.delete(sessionId);
  currentAllowed = entry.allowed;
  entry.resource[Symbol.dispose]();
}

port.on('message', (msg) => {
  if (msg.type === 'fault') {
    pendingFault = msg.kind;
    return;
  }
  const deniedBefore = denied;
  let reply;
  try {
    let value;
    if (msg.type === 'call') value = runCall(msg);
    else if (msg.type === 'drop') for (const id of msg.sessionIds) dropSession(id);
    else if (msg.type === 'count') value = sessions.size;
    else if (msg.type === 'shutdown') {
      for (const id of [...sessions.keys()]) dropSession(id);
      value = undefined;
    } else throw new Error(`unknown request ${msg.type}`);
    reply = { ok: true, value };
  } catch (err) {
    const payload = err !== null && typeof err === 'object' && Object.hasOwn(err, 'payload') ? err.payload : undefined;
    if (isSessionErrorPayload(payload)) {
      reply = { ok: false, error: { kind: 'session', payload } };
    } else {
      reply = { ok: false, error: { kind: 'host', message: describe(err) } };
    }
  } finally {
    currentAllowed = NOTHING_ALLOWED;
  }
  port.postMessage({
    type: 'result',
    id: msg.id,
    ...reply,
    memoryBytes: memoryBytes(),
    resources: sessions.size,
    denied: denied - deniedBefore,
  });
});

port.postMessage({ type: 'ready', memoryBytes: memoryBytes() });
