// Exactly once, against the sandbox: an idempotency key names an intent, and
// its retry (after a lost answer, after a success, from another engine on the
// same store) never signs a second transaction; waitForTransaction never
// hides the hash of a transaction that was sent. Transactions are counted as
// the sandbox applied them (GET /sandbox/transactions), requests as it
// received them (GET /sandbox/requests).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SessionEngine, MemoryStore, ChipiSessionError } from '../src/index.js';
import {
  startSandbox,
  newWallet,
  configFor,
  transfer,
  transactions,
  recordedRequests,
  setFaults,
  clearFaults,
  PIN,
  TOKEN,
} from './helpers.mjs';

let sb;
before(async () => {
  sb = await startSandbox();
});
after(async () => {
  await sb?.stop();
});

/** Assert that `promise` rejects with a ChipiSessionError of `code`. */
async function rejectsWith(promise, code) {
  const err = await promise.then(
    (v) => assert.fail(`expected ${code}, got ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(err instanceof ChipiSessionError, `not a ChipiSessionError: ${err?.stack ?? err}`);
  assert.equal(err.code, code, `${err.code}: ${err.message}`);
  return err;
}

/** Felts compared by value (the sandbox and the component may pad differently). */
const felt = (hex) => BigInt(hex);

/** Transactions the sandbox applied for `wallet`, signed by `kind` ('session' or 'owner'). */
async function landed(wallet, kind = 'session') {
  return (await transactions(sb)).filter(
    (tx) => felt(tx.wallet) === felt(wallet.publicKey) && tx.signer?.kind === kind,
  );
}

/** How many requests the sandbox received on paths ending with `suffix`. */
async function requestsTo(suffix) {
  return (await recordedRequests(sb)).filter((r) => r.path.replace(/\/$/, '').endsWith(suffix)).length;
}

/** How many JSON-RPC requests of `method` the sandbox received. */
async function rpcCalls(method) {
  return (await recordedRequests(sb)).filter((r) => r.body?.method === method).length;
}

/** An engine (closed by the test's `t.after`) and an active session of a new wallet. */
async function activeSession(t, { maxCalls = 10, store = new MemoryStore() } = {}) {
  const engine = await SessionEngine.start({ store, getBearerToken: async () => sb.bearerToken });
  t.after(() => engine.close());
  t.after(() => clearFaults(sb));
  const wallet = await newWallet(sb);
  const s = engine.session({ wallet, encryptKey: PIN, config: configFor(sb) });
  await s.createSession({ durationSeconds: 3600 });
  await s.registerSession({ maxCalls, allowedEntrypoints: ['transfer'] });
  return { engine, s, wallet, store };
}

/**
 * The answer to the retry of an intent that landed (`tx`, as the sandbox
 * recorded it) but whose hash the caller never got: the hash (when the
 * component knows it) or ALREADY_EXECUTED naming its nonce.
 */
async function retryAnswer(promise, tx) {
  try {
    const hash = await promise;
    assert.equal(felt(hash), felt(tx.hash), 'the retry answers with the landed transaction');
    return hash;
  } catch (err) {
    assert.ok(err instanceof ChipiSessionError, `not a ChipiSessionError: ${err?.stack ?? err}`);
    assert.equal(err.code, 'ALREADY_EXECUTED', `${err.code}: ${err.message}`);
    const nonce = /nonce (0x[0-9a-f]+)/i.exec(err.message)?.[1];
    assert.ok(nonce !== undefined && felt(nonce) === felt(tx.nonce), `names another nonce than ${tx.nonce}: ${err.message}`);
    return err.code;
  }
}

test('a lost answer is TRANSACTION_PENDING; the retry with the same key reports the one transaction and signs nothing', async (t) => {
  const { s, wallet, store } = await activeSession(t);
  await setFaults(sb, { drop_answer: true, endpoint: 'execute-sponsored-transaction', remaining: 1 });
  await rejectsWith(s.executeWithSession([transfer(5)], { idempotencyKey: 'k1' }), 'TRANSACTION_PENDING');
  let txs = await landed(wallet);
  assert.equal(txs.length, 1, 'the transaction landed although its answer was lost');
  const [sent] = txs;

  const st = await s.getSessionStatus();
  assert.equal(st.state, 'active');
  assert.equal(st.remainingCalls, 9, 'counted once');

  const prepares = await requestsTo('prepare-typed-data');
  const executes = await requestsTo('execute-sponsored-transaction');
  const first = await retryAnswer(s.executeWithSession([transfer(5)], { idempotencyKey: 'k1' }), sent);
  // Asked again, the same answer.
  assert.equal(await retryAnswer(s.executeWithSession([transfer(5)], { idempotencyKey: 'k1' }), sent), first);

  // Another engine on the same store (another process) retrying the same key.
  const other = await SessionEngine.start({ store, getBearerToken: async () => sb.bearerToken });
  t.after(() => other.close());
  const s2 = other.session({ wallet, encryptKey: PIN, config: configFor(sb) });
  assert.equal(await retryAnswer(s2.executeWithSession([transfer(5)], { idempotencyKey: 'k1' }), sent), first);

  txs = await landed(wallet);
  assert.equal(txs.length, 1, 'never a second payment');
  assert.equal(await requestsTo('prepare-typed-data'), prepares, 'nothing prepared (so nothing signed) for a retry');
  assert.equal(await requestsTo('execute-sponsored-transaction'), executes, 'nothing sent for a retry');
  assert.equal((await s.getSessionStatus()).remainingCalls, 9);
  assert.equal((await s.getSessionStatus()).onChain.callsUsed, 1);
});

test('after a success: the same key answers the same hash, another key is a new payment, the same key with other calls is INVALID_INPUT', async (t) => {
  const { s, wallet } = await activeSession(t);
  const hash1 = await s.executeWithSession([transfer(10)], { idempotencyKey: 'k2' });
  assert.match(hash1, /^0x[0-9a-f]+$/);
  assert.equal((await landed(wallet)).length, 1);

  const executes = await requestsTo('execute-sponsored-transaction');
  assert.equal(await s.executeWithSession([transfer(10)], { idempotencyKey: 'k2' }), hash1);
  // Also from a fresh resource (the warm state dropped): the store answers.
  await s.close();
  assert.equal(await s.executeWithSession([transfer(10)], { idempotencyKey: 'k2' }), hash1);
  assert.equal(await requestsTo('execute-sponsored-transaction'), executes, 'nothing sent for the retries');
  assert.equal((await landed(wallet)).length, 1, 'nothing new landed');

  const hash2 = await s.executeWithSession([transfer(10)], { idempotencyKey: 'k3' });
  assert.notEqual(felt(hash2), felt(hash1), 'another key is a new intent, even for the same calls');
  const txs = await landed(wallet);
  assert.equal(txs.length, 2, 'two identical payments');
  assert.deepEqual(txs.map((tx) => felt(tx.hash)).sort(), [felt(hash1), felt(hash2)].sort());

  const err = await rejectsWith(s.executeWithSession([transfer(11)], { idempotencyKey: 'k2' }), 'INVALID_INPUT');
  assert.match(err.message, /idempotency key/);
  assert.equal((await landed(wallet)).length, 2);
  assert.equal((await s.getSessionStatus()).remainingCalls, 8);
});

test('waitForTransaction polls failing receipts until its time runs out: TRANSACTION_PENDING with transactionHash; then it resolves', async (t) => {
  const { s } = await activeSession(t);
  const hash = await s.executeWithSession([transfer(20)]);
  await setFaults(sb, { status: 503, rpc_method: 'starknet_getTransactionReceipt' });
  const polls = await rpcCalls('starknet_getTransactionReceipt');
  const started = Date.now();
  const err = await rejectsWith(s.waitForTransaction(hash, { timeoutMs: 3000 }), 'TRANSACTION_PENDING');
  const elapsed = Date.now() - started;
  assert.equal(err.transactionHash, hash);
  assert.ok(err.message.includes(hash), err.message);
  assert.ok(elapsed >= 2500, `gave up after ${elapsed} ms`);
  assert.ok((await rpcCalls('starknet_getTransactionReceipt')) - polls > 1, 'the receipt was polled again');

  await clearFaults(sb);
  const receipt = await s.waitForTransaction(hash, { timeoutMs: 3000 });
  assert.equal(felt(receipt.transactionHash), felt(hash));
  assert.equal(receipt.executionStatus, 'succeeded');
});

test('every failure of waitForTransaction carries transactionHash', async (t) => {
  const { engine, s } = await activeSession(t);
  // Refused by the component.
  let err = await rejectsWith(s.waitForTransaction('0xzz', { timeoutMs: 1000 }), 'INVALID_INPUT');
  assert.equal(err.transactionHash, '0xzz');
  // Refused by the host.
  err = await rejectsWith(s.waitForTransaction('0x1', { timeoutMs: -1 }), 'INVALID_INPUT');
  assert.equal(err.transactionHash, '0x1');
  // The engine is gone.
  const hash = await s.executeWithSession([transfer(30)]);
  await engine.close();
  err = await rejectsWith(s.waitForTransaction(hash), 'HOST_ERROR');
  assert.equal(err.transactionHash, hash);
  // Other operations carry none.
  err = await rejectsWith(s.getSessionStatus(), 'HOST_ERROR');
  assert.equal(err.transactionHash, undefined);
});

test('owner operations: register, spending policy and revoke retried with their key answer the same hash', async (t) => {
  const engine = await SessionEngine.start({ getBearerToken: async () => sb.bearerToken });
  t.after(() => engine.close());
  const wallet = await newWallet(sb);
  const s = engine.session({ wallet, encryptKey: PIN, config: configFor(sb) });
  await s.createSession({ durationSeconds: 3600 });

  const options = { maxCalls: 5, allowedEntrypoints: ['transfer'], idempotencyKey: 'register-1' };
  const registered = await s.registerSession(options);
  assert.equal(await s.registerSession(options), registered);
  assert.equal((await s.getSessionStatus()).state, 'active');

  const policy = { token: TOKEN, maxPerCall: 100n, maxPerWindow: '1000', windowSeconds: 3600 };
  const set = await s.setSpendingPolicy(policy, { idempotencyKey: 'policy-set-1' });
  assert.equal(await s.setSpendingPolicy(policy, { idempotencyKey: 'policy-set-1' }), set);
  assert.equal((await s.getSpendingPolicy(TOKEN))?.maxPerCall, '100');
  const removed = await s.removeSpendingPolicy(TOKEN, { idempotencyKey: 'policy-remove-1' });
  assert.equal(await s.removeSpendingPolicy(TOKEN, { idempotencyKey: 'policy-remove-1' }), removed);
  assert.equal(await s.getSpendingPolicy(TOKEN), null);

  const revoked = await s.revokeSession({ idempotencyKey: 'revoke-1' });
  assert.match(revoked, /^0x[0-9a-f]+$/);
  assert.equal((await s.getSessionStatus()).state, 'revoked');
  assert.equal(await s.revokeSession({ idempotencyKey: 'revoke-1' }), revoked);
  assert.equal((await s.getSessionStatus()).state, 'revoked');

  const txs = await landed(wallet, 'owner');
  assert.deepEqual(
    txs.map((tx) => felt(tx.hash)),
    [registered, set, removed, revoked].map(felt),
    'one transaction per intent',
  );
});

test('idempotencyKey is checked: a string (host), 1 to 256 bytes without control characters (component); nothing is sent', async (t) => {
  const { s, wallet } = await activeSession(t);
  const executes = await requestsTo('execute-sponsored-transaction');
  const policy = { token: TOKEN, maxPerCall: 1, maxPerWindow: 1, windowSeconds: 60 };
  for (const call of [
    () => s.executeWithSession([transfer(40)], { idempotencyKey: 42 }),
    () => s.executeWithSession([transfer(40)], /** @type {any} */ ('k-in-the-wrong-place')),
    () => s.registerSession({ maxCalls: 3, idempotencyKey: 7n }),
    () => s.revokeSession({ idempotencyKey: {} }),
    () => s.setSpendingPolicy(policy, { idempotencyKey: ['k'] }),
    () => s.removeSpendingPolicy(TOKEN, { idempotencyKey: true }),
  ]) {
    await rejectsWith(call(), 'INVALID_INPUT');
  }
  for (const key of ['', 'k'.repeat(257), 'é'.repeat(129), 'line\nbreak', 'nul\u0000']) {
    const err = await rejectsWith(s.executeWithSession([transfer(41)], { idempotencyKey: key }), 'INVALID_INPUT');
    assert.match(err.message, /idempotency key/);
  }
  assert.equal(await requestsTo('execute-sponsored-transaction'), executes, 'nothing sent');
  assert.equal((await landed(wallet)).length, 0);
  // Absent, null and the longest key are accepted.
  await s.executeWithSession([transfer(42)], { idempotencyKey: null });
  await s.executeWithSession([transfer(43)], {});
  await s.executeWithSession([transfer(44)], { idempotencyKey: 'k'.repeat(256) });
  assert.equal((await landed(wallet)).length, 3);
});
