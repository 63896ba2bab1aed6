// The encrypt key's kind: stated with `encryptKeyKind` ('pin' by default, or
// 'high-entropy'), never inferred from the key's text.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SessionEngine, MemoryStore, ChipiSessionError } from '../src/index.js';
import { startSandbox, newWallet, configFor, transfer, transactions, PIN } from './helpers.mjs';

let sb;
before(async () => {
  sb = await startSandbox();
});
after(async () => {
  await sb?.stop();
});

/** `size` random bytes in unpadded base64url. */
const highEntropyKey = (size = 32) => randomBytes(size).toString('base64url');

async function rejectsWith(promise, code) {
  const err = await promise.then(
    (v) => assert.fail(`expected ${code}, got ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(err instanceof ChipiSessionError, `not a ChipiSessionError: ${err?.stack ?? err}`);
  assert.equal(err.code, code, `${err.code}: ${err.message}`);
  return err;
}

/** Session-signed transfers of `amount` the sandbox applied for `wallet`. */
async function sessionTransfers(wallet, amount) {
  return (await transactions(sb)).filter(
    (tx) =>
      BigInt(tx.wallet) === BigInt(wallet.publicKey) &&
      tx.signer?.kind === 'session' &&
      tx.calls.some((c) => BigInt(c.calldata[1]) === BigInt(amount)),
  ).length;
}

test('a high-entropy key: round trip; the same text as a PIN is SESSION_DECRYPTION_FAILED naming the kind', async (t) => {
  const key = highEntropyKey();
  const wallet = await newWallet(sb, 'CHIPI', key); // the owner key is sealed under the same text
  const store = new MemoryStore();
  const engine = await SessionEngine.start({ store, getBearerToken: async () => sb.bearerToken });
  t.after(() => engine.close());
  const s = engine.session({ wallet, encryptKey: key, encryptKeyKind: 'high-entropy', config: configFor(sb) });
  const created = await s.createSession({ durationSeconds: 3600 });
  assert.match(created.encryptedPrivateKey, /^v1\.hkdf-sha256\./);
  await s.registerSession({ maxCalls: 5, allowedEntrypoints: ['transfer'] });
  await s.executeWithSession([transfer(1)]);
  const st = await s.getSessionStatus();
  assert.deepEqual([st.state, st.remainingCalls], ['active', 4]);
  await s.close();

  // The same text as a PIN (the default kind) is refused, naming the kind it was sealed with.
  const asPin = engine.session({ wallet, encryptKey: key, config: configFor(sb) });
  const err = await rejectsWith(asPin.executeWithSession([transfer(2)]), 'SESSION_DECRYPTION_FAILED');
  assert.match(err.message, /`high-entropy`/);
  assert.equal(await sessionTransfers(wallet, 2), 0, 'nothing signed');
  const explicitPin = engine.session({ wallet, encryptKey: key, encryptKeyKind: 'pin', config: configFor(sb) });
  await rejectsWith(explicitPin.executeWithSession([transfer(2)]), 'SESSION_DECRYPTION_FAILED');

  // A cold session of the right kind on another engine signs again.
  const other = await SessionEngine.start({ store, getBearerToken: async () => sb.bearerToken });
  t.after(() => other.close());
  const again = other.session({ wallet, encryptKey: key, encryptKeyKind: 'high-entropy', config: configFor(sb) });
  await again.executeWithSession([transfer(3)]);
  assert.equal(await sessionTransfers(wallet, 3), 1);
  assert.equal((await again.getSessionStatus()).remainingCalls, 3);
});

test('the kind is never inferred from the text; short keys and unknown kinds are INVALID_INPUT', async (t) => {
  const engine = await SessionEngine.start({ getBearerToken: async () => sb.bearerToken });
  t.after(() => engine.close());
  // The `hkdf:` prefix of earlier versions is an ordinary PIN now.
  const prefixed = `hkdf:${highEntropyKey()}`;
  const s = engine.session({ wallet: await newWallet(sb, 'CHIPI', prefixed), encryptKey: prefixed, config: configFor(sb) });
  assert.match((await s.createSession({ durationSeconds: 3600 })).encryptedPrivateKey, /^v1\.argon2id\./);
  await s.registerSession({ maxCalls: 2 });
  assert.equal((await s.getSessionStatus()).state, 'active');

  // A high-entropy key shorter than 32 bytes is refused, never stretched.
  const short = highEntropyKey(31);
  const weak = engine.session({
    wallet: await newWallet(sb, 'CHIPI', short),
    encryptKey: short,
    encryptKeyKind: 'high-entropy',
    config: configFor(sb),
  });
  await rejectsWith(weak.createSession({ durationSeconds: 3600 }), 'INVALID_INPUT');
  assert.equal((await weak.getSessionStatus()).state, 'none');

  // A PIN-sealed session opened as high-entropy is refused too.
  const pinWallet = await newWallet(sb);
  await engine.session({ wallet: pinWallet, encryptKey: PIN, config: configFor(sb) }).createSession({ durationSeconds: 3600 });
  const wrong = engine.session({ wallet: pinWallet, encryptKey: highEntropyKey(), encryptKeyKind: 'high-entropy', config: configFor(sb) });
  await rejectsWith(wrong.registerSession({ maxCalls: 2 }), 'SESSION_DECRYPTION_FAILED');

  for (const bad of ['hkdf', 'PIN', 'highEntropy', null, 1]) {
    assert.throws(
      () => engine.session({ wallet: pinWallet, encryptKey: PIN, encryptKeyKind: /** @type {any} */ (bad), config: configFor(sb) }),
      (e) => e instanceof ChipiSessionError && e.code === 'INVALID_INPUT' && /encryptKeyKind/.test(e.message),
      String(bad),
    );
  }
});
