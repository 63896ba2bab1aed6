// MemoryStore and FileStore semantics, and FileStore shared by two processes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, fork } from 'node:child_process';
import {
  closeSync,
  existsSync,
  futimesSync,
  linkSync,
  statSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
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

test('FileStore: a claim left by a process that died taking over a stale lock is passed once stale', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'sessions.json');
  const lockPath = `${path}.lock`;
  assert.ok(plantStaleLock(lockPath, 'dead-holder'));
  // The taker died holding its claim on that lock (`lock.<inode>.0.claim`).
  const claim = `${lockPath}.${statSync(lockPath, { bigint: true }).ino}.0.claim`;
  linkSync(lockPath, claim);
  const store = new FileStore(path, { staleLockMs: 200, lockTimeoutMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(await store.compareAndSwap('k', null, bytes('v')), true);
  assert.deepEqual(await store.get('k'), bytes('v'));
  assert.deepEqual(readdirSync(dir), ['sessions.json'], 'the lock and the dead claim are gone');
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

/**
 * Leave a lock as a process that took it and died 60 s ago would: created
 * exclusively (never over a live lock), old. False when a lock is there.
 */
function plantStaleLock(lockPath, content) {
  let fd;
  try {
    fd = openSync(lockPath, 'wx');
  } catch (err) {
    if (err.code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, content);
    const old = new Date(Date.now() - 60_000);
    futimesSync(fd, old, old);
  } finally {
    closeSync(fd);
  }
  return true;
}

test('FileStore: 16 processes taking over the same stale lock at once lose no update', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'counter.json');
  const lockPath = `${path}.lock`;
  const processes = 16;
  const rounds = 10;
  const child = new URL('./fixtures/cas_race.mjs', import.meta.url).pathname;
  const children = Array.from({ length: processes }, () =>
    fork(child, [path, '1'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  t.after(() => children.forEach((c) => c.kill('SIGKILL')));
  /** The next message of `c`; rejects when it exits first. */
  const reply = (c) =>
    new Promise((resolve, reject) => {
      const onExit = (code) => reject(new Error(`a child exited (${code}) before answering`));
      c.once('exit', onExit);
      c.once('message', (m) => {
        c.off('exit', onExit);
        resolve(m);
      });
    });
  await Promise.all(children.map(reply));

  // Each round: a holder died leaving the lock, then every process wants it
  // at the same moment (each finds the stale lock and takes it over).
  let conflicts = 0;
  for (let round = 0; round < rounds; round++) {
    assert.ok(plantStaleLock(lockPath, `dead-${round}`), `round ${round}: the lock is free (the last one was released)`);
    const replies = children.map(reply);
    for (const c of children) c.send('go');
    for (const r of await Promise.all(replies)) conflicts += r.conflicts;
  }
  for (const c of children) c.send('done');

  const counter = new TextDecoder().decode(await new FileStore(path).get('counter'));
  t.diagnostic(`counter ${counter} of ${processes * rounds} after ${rounds} stale locks; ${conflicts} conflicts`);
  assert.equal(counter, String(processes * rounds), 'no lost update');
  assert.equal(existsSync(lockPath), false, 'the last stale lock was taken over and every lock released');
  assert.deepEqual(readdirSync(dir), ['counter.json'], 'no lock, claim or temporary file left');
});
