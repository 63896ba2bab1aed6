// MemoryStore and FileStore semantics, and FileStore shared by two processes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MemoryStore, FileStore } from '../src/index.js';

const run = promisify(execFile);
const bytes = (s) => new TextEncoder().encode(s);

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'chipi-node-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function checkSemantics(store) {
  assert.equal(await store.get('k'), null);
  assert.equal(await store.compareAndSwap('k', bytes('x'), bytes('a')), false, 'expected x but absent');
  assert.equal(await store.compareAndSwap('k', null, bytes('a')), true);
  assert.deepEqual(await store.get('k'), bytes('a'));
  assert.equal(await store.compareAndSwap('k', null, bytes('b')), false, 'expected absent but present');
  assert.equal(await store.compareAndSwap('k', bytes('b'), bytes('c')), false);
  assert.equal(await store.compareAndSwap('k', bytes('a'), bytes('b')), true);
  assert.deepEqual(await store.get('k'), bytes('b'));
  assert.equal(await store.get('other'), null);
  const big = new Uint8Array(2 * 1024 * 1024).map((_, i) => i % 251);
  assert.equal(await store.compareAndSwap('big', null, big), true);
  assert.deepEqual(await store.get('big'), big);
  assert.equal(await store.compareAndSwap('k', bytes('b'), null), true, 'delete');
  assert.equal(await store.get('k'), null);
  const value = await store.get('big');
  value[0] = 99; // the caller's copy
  assert.deepEqual(await store.get('big'), big);
}

test('MemoryStore: get / compareAndSwap semantics', async () => {
  await checkSemantics(new MemoryStore());
});

test('FileStore: get / compareAndSwap semantics, base64 JSON file, no lock or temp file left', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'sub', 'sessions.json');
  await checkSemantics(new FileStore(path));
  const json = JSON.parse(readFileSync(path, 'utf8'));
  assert.deepEqual(Object.keys(json), ['big']);
  assert.equal(typeof json.big, 'string');
  assert.equal(Buffer.from(json.big, 'base64').length, 2 * 1024 * 1024);
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['sessions.json']);
  // A second instance on the same file sees the same data.
  assert.equal((await new FileStore(path).get('big')).length, 2 * 1024 * 1024);
});

test('FileStore: a stale lock is taken over, a live one makes compareAndSwap fail after lockTimeoutMs', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'sessions.json');
  writeFileSync(`${path}.lock`, 'dead-process');
  const old = new Date(Date.now() - 60_000);
  utimesSync(`${path}.lock`, old, old);
  const store = new FileStore(path, { staleLockMs: 5000, lockTimeoutMs: 2000 });
  assert.equal(await store.compareAndSwap('k', null, bytes('v')), true);
  assert.equal(existsSync(`${path}.lock`), false);

  writeFileSync(`${path}.lock`, 'live-process');
  const started = Date.now();
  await assert.rejects(store.compareAndSwap('k', bytes('v'), bytes('w')), /could not lock/);
  assert.ok(Date.now() - started >= 1900);
  assert.equal(readFileSync(`${path}.lock`, 'utf8'), 'live-process', "another holder's lock is left alone");
  rmSync(`${path}.lock`);
  assert.deepEqual(await store.get('k'), bytes('v'));
});

test('FileStore: a corrupt file fails get and compareAndSwap with a clear error', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'sessions.json');
  writeFileSync(path, '{not json');
  const store = new FileStore(path);
  await assert.rejects(store.get('k'), /not valid JSON/);
  await assert.rejects(store.compareAndSwap('k', null, bytes('v')), /not valid JSON/);
  assert.equal(existsSync(`${path}.lock`), false, 'lock released after a failure');
});

test('FileStore: two processes incrementing one counter with compareAndSwap lose no update', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'counter.json');
  const per = 150;
  const child = new URL('./fixtures/cas_increment.mjs', import.meta.url).pathname;
  const results = await Promise.all(
    [1, 2].map(() => run(process.execPath, [child, path, String(per)], { timeout: 120_000 })),
  );
  const counter = await new FileStore(path).get('counter');
  assert.equal(new TextDecoder().decode(counter), String(2 * per));
  const conflicts = results.map((r) => JSON.parse(r.stdout).conflicts);
  t.diagnostic(`conflicts per process: ${conflicts.join(', ')}`);
  assert.equal(existsSync(`${path}.lock`), false);
  assert.deepEqual(readdirSync(dir), ['counter.json']);
});
