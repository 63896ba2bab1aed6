// Host-side limits and failures: the per-call time limit, traps, a crashed
// worker, the memory limit; each replaces the worker and the next call works.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { SessionEngine, MemoryStore, ChipiSessionError } from '../src/index.js';
import { startSandbox, newWallet, configFor, transfer, PIN } from './helpers.mjs';

let sb;
before(async () => {
  sb = await startSandbox();
});
after(async () => {
  await sb?.stop();
});

async function rejectsWith(promise, code, pattern) {
  const err = await promise.then(
    (v) => assert.fail(`expected ${code}, got ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(err instanceof ChipiSessionError, `not a ChipiSessionError: ${err?.stack ?? err}`);
  assert.equal(err.code, code, `${err.code}: ${err.message}`);
  if (pattern) assert.match(err.message, pattern);
  return err;
}

/** A MemoryStore whose get can be made to never answer. */
class HangingStore extends MemoryStore {
  hang = false;
  async get(key) {
    if (this.hang) return new Promise(() => {});
    return super.get(key);
  }
}

/** An active session with `maxCalls` calls. */
async function activeSession(engine, maxCalls = 5) {
  const s = engine.session({ wallet: await newWallet(sb), encryptKey: PIN, config: configFor(sb) });
  await s.createSession({ durationSeconds: 600 });
  await s.registerSession({ maxCalls, allowedEntrypoints: ['transfer'] });
  return s;
}

test('a call past timeoutMs (store get never answers) is HOST_ERROR; a fresh worker serves the next call', async (t) => {
  const store = new HangingStore();
  const engine = await SessionEngine.start({ store, getBearerToken: async () => sb.bearerToken, timeoutMs: 4000 });
  t.after(() => engine.close());
  const s = await activeSession(engine);
  await s.executeWithSession([transfer(1)]);

  store.hang = true;
  const started = Date.now();
  await rejectsWith(s.getSessionStatus(), 'HOST_ERROR', /ran past its time limit of 4000 ms/);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 3900 && elapsed < 8000, `stopped after ${elapsed} ms`);
  assert.equal(engine.stats().workersReplaced, 1);
  store.hang = false;

  // The session re-opens in the new worker; the first execute's landing was
  // deferred in the stopped worker and is settled from the chain, counted once.
  await s.executeWithSession([transfer(2)]);
  const st = await s.getSessionStatus();
  assert.equal(st.state, 'active');
  assert.equal(st.remainingCalls, 3);
  assert.equal(st.onChain.callsUsed, 2);
  assert.equal(engine.stats().workersStarted, 2);
});

test('a host import that throws traps the instance: HOST_ERROR, then a fresh worker', async (t) => {
  const engine = await SessionEngine.start({ getBearerToken: async () => sb.bearerToken });
  t.after(() => engine.close());
  const s = await activeSession(engine);
  await engine._injectFault('trap');
  await rejectsWith(s.executeWithSession([transfer(10)]), 'HOST_ERROR', /injected fault/);
  assert.equal(engine.stats().workersReplaced, 1);
  await s.executeWithSession([transfer(11)]);
  assert.equal((await s.getSessionStatus()).remainingCalls, 4);
});

test('a worker that dies during a call is HOST_ERROR, then a fresh worker', async (t) => {
  const engine = await SessionEngine.start({ getBearerToken: async () => sb.bearerToken });
  t.after(() => engine.close());
  const s = await activeSession(engine);
  await engine._injectFault('exit');
  await rejectsWith(s.getSessionStatus(), 'HOST_ERROR', /worker exited \(code 70\)/);
  assert.equal(engine.stats().workersReplaced, 1);
  await s.executeWithSession([transfer(20)]);
  assert.equal((await s.getSessionStatus()).remainingCalls, 4);
});

test('a getBearerToken that throws is UNAUTHORIZED, reported through the import', async (t) => {
  let fail = true;
  const engine = await SessionEngine.start({
    getBearerToken: async () => {
      if (fail) throw new Error('no token today');
      return sb.bearerToken;
    },
  });
  t.after(() => engine.close());
  const s = engine.session({ wallet: await newWallet(sb), encryptKey: PIN, config: configFor(sb) });
  await s.createSession({ durationSeconds: 600 });
  await rejectsWith(s.registerSession({ maxCalls: 1, allowedEntrypoints: ['transfer'] }), 'UNAUTHORIZED', /no token today/);
  fail = false;
  await s.registerSession({ maxCalls: 1, allowedEntrypoints: ['transfer'] });
  assert.equal(engine.stats().workersReplaced, 0);
});

test('above maxMemoryMb of linear memory the worker is replaced after the call, sessions re-open', async (t) => {
  const engine = await SessionEngine.start({ getBearerToken: async () => sb.bearerToken, maxMemoryMb: 16 });
  t.after(() => engine.close());
  const s = await activeSession(engine, 3);
  const replacedBefore = engine.stats().workersReplaced;
  assert.ok(replacedBefore >= 2, `replaced ${replacedBefore} times`);
  assert.ok(engine.stats().memoryBytes > 16 * 1024 * 1024);
  // An execute in a fresh worker unlocks the key (Argon2id, ~19 MiB): every
  // one leaves the memory above the limit and the worker is replaced.
  for (const [i, amount] of [30, 31].entries()) {
    await s.executeWithSession([transfer(amount)]);
    assert.equal(engine.stats().workersReplaced, replacedBefore + i + 1);
  }
  const st = await s.getSessionStatus();
  assert.equal(st.remainingCalls, 1);
  assert.equal(st.onChain.callsUsed, 2);
});

test("worker resourceLimits do not bound WebAssembly memory (why the host checks it after each call)", async () => {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const memory = new WebAssembly.Memory({ initial: 1 });
    memory.grow(64 * 16 - 1); // 64 MiB in 64 KiB pages
    parentPort.postMessage(memory.buffer.byteLength);
  `;
  const worker = new Worker(code, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 4 } });
  const bytes = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(bytes, 64 * 1024 * 1024);
});
