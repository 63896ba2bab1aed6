// Session stores: the component keeps one record per wallet in a store the
// host provides. A store is any object with
//   async get(key) -> Uint8Array | null
//   async compareAndSwap(key, expected: Uint8Array | null, next: Uint8Array | null) -> boolean
// where compareAndSwap replaces the value only when the current one equals
// `expected` (null = absent); `next` null deletes.

import { open, readFile, rename, unlink, stat, mkdir } from 'node:fs/promises';
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
 * lock file (`path + '.lock'`, created with O_EXCL) around its
 * read-compare-write. A lock older than `staleLockMs` (its holder died) is
 * taken over. Reads take no lock: they see the file before or after a write.
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
    const token = `${process.pid}.${randomBytes(8).toString('hex')}`;
    const deadline = Date.now() + this.#lockTimeoutMs;
    let delay = 1;
    await mkdir(dirname(this.#lockPath), { recursive: true });
    for (;;) {
      try {
        const handle = await open(this.#lockPath, 'wx', 0o600);
        try {
          await handle.writeFile(token);
        } finally {
          await handle.close();
        }
        break;
      } catch (err) {
        if (err.code !== 'EEXIST') throw err;
      }
      await this.#takeOverStale();
      if (Date.now() >= deadline) {
        throw new Error(`could not lock ${this.#lockPath} within ${this.#lockTimeoutMs} ms`);
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 50);
    }
    try {
      return await fn();
    } finally {
      await this.#release(token);
    }
  }

  /** Remove the lock file when it is older than the stale limit. */
  async #takeOverStale() {
    let info;
    let content;
    try {
      info = await stat(this.#lockPath);
      content = await readFile(this.#lockPath, 'utf8');
    } catch {
      return;
    }
    if (Date.now() - info.mtimeMs < this.#staleLockMs) return;
    // Remove it only if it is still the same stale lock.
    try {
      if ((await readFile(this.#lockPath, 'utf8')) === content) await unlink(this.#lockPath);
    } catch {
      // someone else took it over or released it
    }
  }

  /** @param {string} token */
  async #release(token) {
    try {
      if ((await readFile(this.#lockPath, 'utf8')) === token) await unlink(this.#lockPath);
    } catch {
      // already gone (taken over as stale)
    }
  }
}
