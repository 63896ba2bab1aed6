// Session stores: the component keeps one record per wallet in a store the
// host provides. A store is any object with
//   async get(key) -> Uint8Array | null
//   async compareAndSwap(key, expected: Uint8Array | null, next: Uint8Array | null) -> boolean
// where compareAndSwap replaces the value only when the current one equals
// `expected` (null = absent); `next` null deletes.

import { open, readFile, writeFile, rename, unlink, link, stat, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, basename, join } from 'node:path';

/**
 * @param {Uint8Array | null | undefined} a
 * @param {Uint8Array | null | undefined} b
 * @returns {boolean}
 */
function sameBytes(a, b) {
  if (a == null || b == null) return a == null && b == null;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A store in this process's memory (lost when it exits). Each call is atomic.
 */
export class MemoryStore {
  /** @type {Map<string, Uint8Array>} */
  #values = new Map();

  /**
   * @param {string} key
   * @returns {Promise<Uint8Array | null>}
   */
  async get(key) {
    const value = this.#values.get(key);
    return value === undefined ? null : value.slice();
  }

  /**
   * @param {string} key
   * @param {Uint8Array | null} expected
   * @param {Uint8Array | null} next
   * @returns {Promise<boolean>}
   */
  async compareAndSwap(key, expected, next) {
    if (!sameBytes(this.#values.get(key) ?? null, expected)) return false;
    if (next === null || next === undefined) this.#values.delete(key);
    else this.#values.set(key, Uint8Array.from(next));
    return true;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A store in one JSON file (`{"key": "<base64 value>", ...}`), safe for
 * several processes: writes replace the file atomically (temporary file in
 * the same directory, fsync, rename), and `compareAndSwap` holds an exclusive
 * lock file (`path + '.lock'`, created with link(2), which fails when it
 * exists) around its read-compare-write. A lock older than `staleLockMs` (its
 * holder died) is taken over atomically: of several processes taking over
 * the same stale lock, exactly one removes it, and none removes a lock taken
 * since. The directory must support hard links (every local POSIX file
 * system, NFS, NTFS). Reads take no lock: they see the file before or after
 * a write.
 */
export class FileStore {
  /** @type {string} */
  #path;
  /** @type {string} */
  #lockPath;
  /** @type {number} */
  #lockTimeoutMs;
  /** @type {number} */
  #staleLockMs;

  /**
   * @param {string} path The JSON file (created on first write).
   * @param {{lockTimeoutMs?: number, staleLockMs?: number}} [options]
   *   `lockTimeoutMs` (default 10000): how long compareAndSwap waits for the
   *   lock before failing; `staleLockMs` (default 30000): age after which a
   *   lock file is taken over.
   */
  constructor(path, options = {}) {
    if (typeof path !== 'string' || path === '') throw new TypeError('FileStore needs a file path');
    this.#path = path;
    this.#lockPath = `${path}.lock`;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.#staleLockMs = options.staleLockMs ?? 30_000;
  }

  /** The JSON file. */
  get path() {
    return this.#path;
  }

  /**
   * @param {string} key
   * @returns {Promise<Uint8Array | null>}
   */
  async get(key) {
    const data = await this.#read();
    const value = Object.hasOwn(data, key) ? data[key] : undefined;
    return typeof value === 'string' ? new Uint8Array(Buffer.from(value, 'base64')) : null;
  }

  /**
   * @param {string} key
   * @param {Uint8Array | null} expected
   * @param {Uint8Array | null} next
   * @returns {Promise<boolean>}
   */
  async compareAndSwap(key, expected, next) {
    return this.#withLock(async () => {
      const data = await this.#read();
      const current = typeof data[key] === 'string' && Object.hasOwn(data, key) ? Buffer.from(data[key], 'base64') : null;
      if (!sameBytes(current, expected ?? null)) return false;
      if (next === null || next === undefined) delete data[key];
      else data[key] = Buffer.from(next.buffer, next.byteOffset, next.byteLength).toString('base64');
      await this.#write(data);
      return true;
    });
  }

  /** @returns {Promise<Record<string, string>>} */
  async #read() {
    let text;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') return Object.create(null);
      throw err;
    }
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`store file ${this.#path} is not valid JSON`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error(`store file ${this.#path} does not hold a JSON object`);
    }
    return Object.assign(Object.create(null), parsed);
  }

  /** @param {Record<string, string>} data */
  async #write(data) {
    const dir = dirname(this.#path);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${basename(this.#path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    const file = await open(tmp, 'wx', 0o600);
    try {
      await file.writeFile(JSON.stringify(data));
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(tmp, this.#path);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    // Make the rename durable; not every platform can fsync a directory.
    try {
      const handle = await open(dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch {
      // best effort
    }
  }

  /**
   * Run `fn` holding the lock file; always release it.
   *
   * @template T
   * @param {() => Promise<T>} fn
   * @returns {Promise<T>}
   */
  async #withLock(fn) {
    const deadline = Date.now() + this.#lockTimeoutMs;
    let delay = 1;
    const dir = dirname(this.#lockPath);
    await mkdir(dir, { recursive: true });
    // The lock to be: a file holding a unique token, linked to the lock path to take the lock.
    const mine = join(dir, `.${basename(this.#lockPath)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    await writeFile(mine, `${process.pid}.${randomBytes(8).toString('hex')}`, { flag: 'wx', mode: 0o600 });
    try {
      const { ino } = await stat(mine, { bigint: true });
      for (;;) {
        try {
          await link(mine, this.#lockPath);
          break;
        } catch (err) {
          if (err.code !== 'EEXIST') throw err;
        }
        const removed = await this.#takeOverStale();
        if (Date.now() >= deadline) {
          throw new Error(`could not lock ${this.#lockPath} within ${this.#lockTimeoutMs} ms`);
        }
        if (!removed) {
          await sleep(delay + Math.random() * delay);
          delay = Math.min(delay * 2, 50);
        }
      }
      try {
        return await fn();
      } finally {
        // `mine` still links the lock's inode, so its number names no other file meanwhile.
        await this.#removeLock(ino).catch(() => {});
      }
    } finally {
      await unlink(mine).catch(() => {});
    }
  }

  // The lock protocol. Any process may die at any point, and several may
  // find the same stale lock at once.
  //
  // - Taking: a file holding a unique token is link(2)ed to the lock path;
  //   link fails when the path exists.
  // - Removing (releasing, or taking over a stale lock): only through a claim
  //   on the lock file's inode, `lock.<inode>.<n>.claim`, a link(2) of the
  //   lock path. The link fails while another process holds that claim, and
  //   names whatever the lock path named at that moment: its holder unlinks
  //   the lock path only when the claim's inode is the one it observed. While
  //   the claim is held nobody else unlinks that inode from the lock path and
  //   no lock can be created over it, so the unlink removes exactly the lock
  //   observed; a process acting on an old observation claims another inode
  //   and leaves it. An inode number names one file while that file has a
  //   link or an open descriptor, and the remover holds one of either.
  // - A claim unchanged for staleLockMs was left by a process that died
  //   holding it: the next claim number is tried.
  //
  // As with any lock taken over by age, a holder stalled for staleLockMs
  // inside the lock cannot be told from a dead one.

  /**
   * Remove the lock file when it is older than the stale limit.
   *
   * @returns {Promise<boolean>} Whether this call removed it, or it was gone.
   */
  async #takeOverStale() {
    const fresh = (info) => Date.now() - Number(info.mtimeMs) < this.#staleLockMs;
    const seen = await stat(this.#lockPath).catch(() => null);
    if (seen !== null && fresh(seen)) return false;
    let handle;
    try {
      handle = await open(this.#lockPath, 'r');
    } catch (err) {
      if (err.code === 'ENOENT') return true;
      throw err;
    }
    try {
      // The open descriptor keeps this inode (and its number) until the removal is done.
      const info = await handle.stat({ bigint: true });
      return !fresh(info) && (await this.#removeLock(info.ino));
    } finally {
      await handle.close();
    }
  }

  /**
   * Remove the lock file if it is still inode `ino` (see the protocol above).
   *
   * @param {bigint} ino
   * @returns {Promise<boolean>} Whether this call removed it.
   */
  async #removeLock(ino) {
    const claimPath = (n) => `${this.#lockPath}.${ino}.${n}.claim`;
    for (let n = 0; ; n++) {
      const claim = claimPath(n);
      try {
        await link(this.#lockPath, claim);
      } catch (err) {
        if (err.code === 'ENOENT') return false; // no lock file any more
        if (err.code !== 'EEXIST') throw err;
        // Another process holds this claim: it removes the lock, unless it died doing so.
        const info = await stat(claim).catch(() => null);
        if (info !== null && Date.now() - info.ctimeMs >= this.#staleLockMs) continue;
        return false;
      }
      try {
        if ((await stat(claim, { bigint: true })).ino !== ino) return false; // another lock now
        await unlink(this.#lockPath);
        // Claims of dead processes on this lock: it is gone, nobody needs them.
        for (let k = 0; k < n; k++) await unlink(claimPath(k)).catch(() => {});
        return true;
      } finally {
        await unlink(claim).catch(() => {});
      }
    }
  }
}
