// The session lifecycle and the component's errors, against a sandbox.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SessionEngine, MemoryStore, ChipiSessionError } from '../src/index.js';
import { startSandbox, newWallet, configFor, transfer, recordedRequests, transactions, PIN } from './helpers.mjs';

let sb;
before(async () => {
  sb = await startSandbox();
});
after(async () => {
  await sb?.stop();
});

/** Start an engine for the sandbox; closed by the test's `t.after`. */
async function engineFor(t, options = {}) {
  const engine = await SessionEngine.start({ getBearerToken: async () => sb.bearerToken, ...options });
  t.after(() => engine.close());
  return engine;
}

/** Assert that `promise` rejects with a ChipiSessionError of `code`. */
async function rejectsWith(promise, code) {
  const err = await promise.then(
    (v) => assert.fail(`expected ${code}, got ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(err instanceof ChipiSessionError, `not a ChipiSessionError: ${err?.stack ?? err}`);
  assert.equal(err.name, 'ChipiSessionError');
  assert.equal(err.code, code, `${err.code}: ${err.message}`);
  return err;
}

test('lifecycle: create, register (2 calls), execute to the limit, status, revoke, clear', async (t) => {
  const engine = await engineFor(t, { store: new MemoryStore() });
  const wallet = await newWallet(sb);
  const s = engine.session({ wallet, encryptKey: PIN, config: { ...configFor(sb), chainId: undefined } });

  let st = await s.getSessionStatus();
  assert.deepEqual([st.state, st.isActive, st.session, st.remainingCalls], ['none', false, null, null]);

  const before = Math.floor(Date.now() / 1000);
  const key = await s.createSession({ durationSeconds: 3600 });
  assert.match(key.publicKey, /^0x[0-9a-f]+$/);
  assert.match(key.encryptedPrivateKey, /^v1\./);
  assert.equal(typeof key.validUntil, 'number');
  assert.ok(key.validUntil >= before + 3600 && key.validUntil <= before + 3600 + 120, `validUntil ${key.validUntil}`);

  st = await s.getSessionStatus();
  assert.equal(st.state, 'created');
  assert.equal(st.isActive, false);
  assert.deepEqual(st.session, key);
  assert.equal(st.onChain, null);

  const tx1 = await s.registerSession({ maxCalls: 2, allowedEntrypoints: ['transfer'] });
  assert.match(tx1, /^0x[0-9a-f]+$/);
  st = await s.getSessionStatus();
  assert.equal(st.state, 'active');
  assert.equal(st.isActive, true);
  assert.equal(st.remainingCalls, 2);
  assert.equal(st.onChain.maxCalls, 2);
  assert.equal(st.onChain.callsUsed, 0);
  assert.equal(st.onChain.validUntil, key.validUntil);
  assert.equal(st.onChain.allowedEntrypointsLen, 1);

  const tx2 = await s.executeWithSession([transfer(100)]);
  assert.match(tx2, /^0x[0-9a-f]+$/);
  st = await s.getSessionStatus();
  assert.equal(st.state, 'active');
  assert.equal(st.isActive, true);
  assert.equal(st.remainingCalls, 1);

  const tx3 = await s.executeWithSession([transfer(101)]);
  assert.notEqual(tx3, tx2);
  st = await s.getSessionStatus();
  assert.equal(st.state, 'expired');
  assert.equal(st.isActive, false);
  assert.equal(st.remainingCalls, 0);
  assert.equal(st.onChain.callsUsed, 2);

  await rejectsWith(s.executeWithSession([transfer(102)]), 'SESSION_MAX_CALLS_EXCEEDED');
  const txs = await transactions(sb);
  const hashes = JSON.stringify(txs);
  for (const h of [tx1, tx2, tx3]) assert.ok(hashes.includes(h.slice(3)), `sandbox has no transaction ${h}`);

  const tx4 = await s.revokeSession();
  assert.match(tx4, /^0x[0-9a-f]+$/);
  st = await s.getSessionStatus();
  assert.equal(st.state, 'revoked');
  assert.equal(st.isActive, false);

  await s.clearSession();
  st = await s.getSessionStatus();
  assert.equal(st.state, 'none');
  assert.equal(st.isActive, false);
  assert.equal(st.session, null);
  assert.equal(engine.stats().workersStarted, 1);
  assert.equal(engine.stats().workersReplaced, 0);
});

test('a wrong PIN is SESSION_DECRYPTION_FAILED', async (t) => {
  const engine = await engineFor(t);
  const wallet = await newWallet(sb);
  const s = engine.session({ wallet, encryptKey: '9999', config: configFor(sb) });
  await s.createSession({ durationSeconds: 600 });
  await rejectsWith(s.registerSession({ maxCalls: 1, allowedEntrypoints: ['transfer'] }), 'SESSION_DECRYPTION_FAILED');
});

test('a READY wallet is INVALID_WALLET_TYPE_FOR_SESSION', async (t) => {
  const engine = await engineFor(t);
  const wallet = await newWallet(sb, 'READY');
  assert.equal(wallet.walletType, 'READY');
  const s = engine.session({ wallet, encryptKey: PIN, config: configFor(sb) });
  await rejectsWith(s.createSession({ durationSeconds: 600 }), 'INVALID_WALLET_TYPE_FOR_SESSION');
  assert.equal((await s.getSessionStatus()).state, 'none');
});

test('a config URL outside the allow-list is refused with TRANSPORT_ERROR before anything is sent', async (t) => {
  await fetch(`${sb.base}/sandbox/requests`, { method: 'DELETE' });
  const engine = await engineFor(t, { allowConfigHosts: false, allowHosts: [sb.base] });
  const wallet = await newWallet(sb);
  const config = { ...configFor(sb), rpcUrls: [`http://localhost:${sb.port}/rpc`] };
  assert.throws(
    () => engine.session({ wallet, encryptKey: PIN, config }),
    (err) =>
      err instanceof ChipiSessionError &&
      err.code === 'TRANSPORT_ERROR' &&
      err.message === `refused: http://localhost:${sb.port} is not allow-listed`,
  );
  assert.deepEqual(await recordedRequests(sb), []);

  // The same origin under its allow-listed name works.
  const s = engine.session({ wallet, encryptKey: PIN, config: configFor(sb) });
  await s.createSession({ durationSeconds: 600 });
  await s.registerSession({ maxCalls: 1, allowedEntrypoints: ['transfer'] });
  assert.equal((await s.getSessionStatus()).state, 'active');
  assert.ok((await recordedRequests(sb)).length > 0);
  assert.equal(engine.stats().deniedRequests, 0);
});

test('a wrong bearer token: the backend 401 surfaces as the component maps it', async (t) => {
  const engine = await SessionEngine.start({ getBearerToken: async () => 'sandbox_wrong_token' });
  t.after(() => engine.close());
  const wallet = await newWallet(sb);
  const s = engine.session({ wallet, encryptKey: PIN, config: configFor(sb) });
  await s.createSession({ durationSeconds: 600 });
  const err = await rejectsWith(s.registerSession({ maxCalls: 1, allowedEntrypoints: ['transfer'] }), 'BACKEND_ERROR');
  assert.equal(err.status, 401);
  assert.equal(err.backendCode, 'UNAUTHORIZED');
  assert.equal(err.message, 'HTTP 401 [UNAUTHORIZED]: Invalid or missing bearer token');
});

/** A MemoryStore whose calls can be made to throw. */
class FlakyStore extends MemoryStore {
  failGet = null;
  failCas = null;
  async get(key) {
    if (this.failGet !== null) throw this.failGet;
    return super.get(key);
  }
  async compareAndSwap(key, expected, next) {
    if (this.failCas !== null) throw this.failCas;
    return super.compareAndSwap(key, expected, next);
  }
}

test('a store that throws is STORE_ERROR and the engine keeps working', async (t) => {
  const store = new FlakyStore();
  const warnings = [];
  const engine = await engineFor(t, { store, onWarning: (line) => warnings.push(line) });
  const wallet = await newWallet(sb);
  const s = engine.session({ wallet, encryptKey: PIN, config: configFor(sb) });

  store.failGet = new Error('disk on fire');
  let err = await rejectsWith(s.getSessionStatus(), 'STORE_ERROR');
  assert.match(err.message, /disk on fire/);
  store.failGet = 42; // not an Error
  await rejectsWith(s.createSession({ durationSeconds: 600 }), 'STORE_ERROR');
  store.failGet = null;

  store.failCas = new Error('read-only');
  err = await rejectsWith(s.createSession({ durationSeconds: 600 }), 'STORE_ERROR');
  assert.match(err.message, /read-only/);
  store.failCas = undefined; // `throw undefined`
  await rejectsWith(s.createSession({ durationSeconds: 600 }), 'STORE_ERROR');
  store.failCas = null;

  // Still the same worker, and it works.
  await s.createSession({ durationSeconds: 600 });
  await s.registerSession({ maxCalls: 3, allowedEntrypoints: ['transfer'] });
  await s.executeWithSession([transfer(7)]);
  assert.equal(engine.stats().workersReplaced, 0);

  // The landing of the warm execute cannot be written: the component warns
  // on stderr and the warning reaches onWarning.
  store.failCas = new Error('gone');
  await s.lock();
  store.failCas = null;
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(warnings[0], /^warning: transaction 0x[0-9a-f]+ was accepted but the local session record could not be updated/);
  const st = await s.getSessionStatus();
  assert.equal(st.remainingCalls, 2);
});

test('a store returning a wrong type is STORE_ERROR', async (t) => {
  const store = new MemoryStore();
  store.get = async () => 'not bytes';
  const engine = await engineFor(t, { store });
  const s = engine.session({ wallet: await newWallet(sb), encryptKey: PIN, config: configFor(sb) });
  const err = await rejectsWith(s.getSessionStatus(), 'STORE_ERROR');
  assert.match(err.message, /Uint8Array/);
});

test('two sessions of one engine, used concurrently, stay separate and warm', async (t) => {
  const engine = await engineFor(t);
  const sessions = await Promise.all(
    [1, 2].map(async () => engine.session({ wallet: await newWallet(sb), encryptKey: PIN, config: configFor(sb) })),
  );
  await Promise.all(sessions.map((s) => s.createSession({ durationSeconds: 600 })));
  await Promise.all(sessions.map((s) => s.registerSession({ maxCalls: 5, allowedEntrypoints: ['transfer'] })));
  const hashes = await Promise.all(
    sessions.flatMap((s, i) => [1, 2, 3].map((n) => s.executeWithSession([transfer(1000 * (i + 1) + n)]))),
  );
  assert.equal(new Set(hashes).size, 6);
  for (const s of sessions) assert.equal((await s.getSessionStatus()).remainingCalls, 2);
  await engine.close();
  await rejectsWith(sessions[0].getSessionStatus(), 'HOST_ERROR');
  assert.throws(() => engine.session({ wallet: {}, encryptKey: PIN, config: configFor(sb) }), { code: 'HOST_ERROR' });
});

test('malformed arguments are INVALID_INPUT', async (t) => {
  const engine = await engineFor(t);
  const wallet = await newWallet(sb);
  assert.throws(
    () => engine.session({ wallet: { ...wallet, walletType: 'OTHER' }, encryptKey: PIN, config: configFor(sb) }),
    { code: 'INVALID_INPUT' },
  );
  assert.throws(() => engine.session({ wallet, encryptKey: PIN, config: { ...configFor(sb), apiBaseUrl: 'ftp://x' } }), {
    code: 'INVALID_INPUT',
  });
  const s = engine.session({ wallet, encryptKey: PIN, config: configFor(sb) });
  await rejectsWith(s.createSession({ durationSeconds: -1 }), 'INVALID_INPUT');
  await rejectsWith(s.executeWithSession([{ contractAddress: 'zz', entrypoint: 'transfer', calldata: [] }]), 'INVALID_INPUT');
  await rejectsWith(s.executeWithSession([{ contractAddress: '0x1', entrypoint: 'transfer', calldata: [{}] }]), 'INVALID_INPUT');
});
