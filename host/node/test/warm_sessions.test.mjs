// Sessions never closed: the engine keeps at most `maxWarmSessions` resources
// in its worker (least recently used dropped first), drops a resource idle
// for `idleTimeoutMs` (zeroizing its unlocked key), and drops the resource of
// a session object that was garbage collected.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SessionEngine, ChipiSessionError } from '../src/index.js';
import { startSandbox, newWallet, configFor, transfer, PIN } from './helpers.mjs';

setFlagsFromString('--expose-gc');
/** @type {() => void} */
const gc = runInNewContext('gc');

let sb;
before(async () => {
  sb = await startSandbox();
});
after(async () => {
  await sb?.stop();
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const MIB = 1024 * 1024;

/** Collect garbage until the finalizers ran and the engine's queue drained. */
async function collect(engine) {
  for (let i = 0; i < 5; i++) {
    gc();
    await sleep(10);
  }
  return engine.liveResources();
}

test('10,000 sessions never closed: at most maxWarmSessions resources live, memory bounded, collected sessions release theirs', async (t) => {
  const engine = await SessionEngine.start({ getBearerToken: async () => sb.bearerToken });
  t.after(() => engine.close());
  const wallet = await newWallet(sb);
  const config = configFor(sb);

  const total = 10_000;
  let peak = 0;
  // All kept referenced at first, so only the bound (not the garbage collector) limits them.
  const all = [];
  const heapStart = process.memoryUsage().heapUsed;
  let memoryAt1024 = 0;
  for (let i = 0; i < total; i++) {
    const s = engine.session({ wallet, encryptKey: PIN, config });
    assert.equal((await s.getSessionStatus()).state, 'none');
    all.push(s);
    if (i === 1023) memoryAt1024 = engine.stats().memoryBytes;
    if (i % 1000 === 999) peak = Math.max(peak, await engine.liveResources());
  }
  const stats = engine.stats();
  const heapEnd = process.memoryUsage().heapUsed;
  t.diagnostic(
    `peak ${peak} live resources; linear memory ${memoryAt1024} bytes at 1024 sessions, ${stats.memoryBytes} at ${total}; ` +
      `main heap ${Math.round(heapStart / MIB)} -> ${Math.round(heapEnd / MIB)} MiB`,
  );
  assert.ok(peak <= 1024, `${peak} resources live in the worker`);
  assert.equal(await engine.liveResources(), 1024, 'the 1024 most recently used stay warm');
  assert.equal(stats.workersReplaced, 0);
  assert.ok(stats.memoryBytes <= memoryAt1024 + 4 * MIB, `linear memory grew from ${memoryAt1024} to ${stats.memoryBytes}`);

  // The sessions were dropped, not broken: the first one (evicted long ago) re-opens.
  const kept = all[0];
  assert.equal((await kept.getSessionStatus()).state, 'none');
  assert.equal(await engine.liveResources(), 1024);

  // Every session but `kept` becomes garbage: collecting them releases their resources.
  all.length = 0;
  const live = await collect(engine);
  t.diagnostic(`after collection: ${live} live resources`);
  assert.equal(live, 1, 'only the session still referenced keeps a resource');
  await kept.close();
  assert.equal(await engine.liveResources(), 0);
});

test('unlocked sessions: at most maxWarmSessions live; idle for idleTimeoutMs, dropped (keys zeroized) without any call; they re-open on use', async (t) => {
  const idleTimeoutMs = 1500;
  const engine = await SessionEngine.start({ getBearerToken: async () => sb.bearerToken, idleTimeoutMs, maxWarmSessions: 4 });
  t.after(() => engine.close());
  const sessions = [];
  let lastCallStarted = 0;
  let peak = 0;
  for (let i = 0; i < 6; i++) {
    const s = engine.session({ wallet: await newWallet(sb), encryptKey: PIN, config: configFor(sb) });
    await s.createSession({ durationSeconds: 600 }); // the new key stays unlocked in the resource
    await s.registerSession({ maxCalls: 5, allowedEntrypoints: ['transfer'] });
    lastCallStarted = performance.now();
    await s.executeWithSession([transfer(i + 1)]);
    sessions.push(s);
    peak = Math.max(peak, await engine.liveResources());
  }
  t.diagnostic(`at most ${peak} live resources while 6 sessions were unlocked (maxWarmSessions 4)`);
  assert.ok(peak <= 4, `${peak} resources live`);

  // No call: the engine's own timer drops them once idle.
  let live = engine.stats().liveResources;
  while (live > 0 && performance.now() - lastCallStarted < idleTimeoutMs + 20_000) {
    await sleep(100);
    live = engine.stats().liveResources;
  }
  const after = performance.now() - lastCallStarted;
  t.diagnostic(`${live} live resources ${Math.round(after)} ms after the last call started`);
  assert.equal(live, 0, 'every idle resource was dropped by the engine');
  assert.ok(after >= idleTimeoutMs, 'none before its idle limit');
  assert.equal(await engine.liveResources(), 0);

  // Dropped resources wrote their landings; each session re-opens and goes on counting.
  for (const s of sessions) {
    await s.executeWithSession([transfer(100)]);
    assert.equal((await s.getSessionStatus()).remainingCalls, 3);
  }
  assert.equal(engine.stats().workersReplaced, 0);
});

test('evictIdle drops what is idle now; bad pool options are refused', async (t) => {
  const engine = await SessionEngine.start({ getBearerToken: async () => sb.bearerToken, idleTimeoutMs: 400 });
  t.after(() => engine.close());
  const s = engine.session({ wallet: await newWallet(sb), encryptKey: PIN, config: configFor(sb) });
  await s.getSessionStatus();
  assert.equal(await engine.evictIdle(), 0, 'not idle yet');
  assert.equal(await engine.liveResources(), 1);
  await sleep(500);
  const evicted = await engine.evictIdle();
  assert.ok(evicted <= 1, `${evicted}`); // the engine's timer may have dropped it first
  assert.equal(await engine.liveResources(), 0);

  for (const options of [{ maxWarmSessions: 0 }, { maxWarmSessions: 1.5 }, { idleTimeoutMs: 0 }, { idleTimeoutMs: -1 }]) {
    await assert.rejects(SessionEngine.start({ getBearerToken: async () => 't', ...options }), TypeError);
  }
  assert.ok(ChipiSessionError);
});
