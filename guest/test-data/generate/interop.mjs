// Shared helpers of the generators: the pinned npm packages of tests/interop (installed with
// tests/interop/install.sh), reading and writing the data files, and the --check mode.

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The test-data folder. */
export const dataDir = join(here, '..');

const interop = createRequire(join(here, '..', '..', '..', 'tests', 'interop', 'package.json'));

/** A package installed in tests/interop/node_modules (CommonJS build). */
export function requireInterop(name) {
  try {
    return interop(name);
  } catch (e) {
    console.error(`cannot load '${name}' from tests/interop/node_modules: run tests/interop/install.sh first`);
    throw e;
  }
}

/** An ES-module-only package installed in tests/interop/node_modules. */
export async function importInterop(name) {
  return import(pathToFileURL(interop.resolve(name)).href);
}

/** True when run with --check: compare instead of writing. */
export const checking = process.argv.includes('--check');

/** Read a data file. */
export function readData(file) {
  return JSON.parse(readFileSync(join(dataDir, file), 'utf8'));
}

/** Equal as numbers (felts written with or without leading zeros or in another case). */
export function sameNumber(a, b) {
  try {
    return BigInt(a) === BigInt(b);
  } catch {
    return a === b;
  }
}

/**
 * Pin `computed` in `object[field]`: an equal number keeps its spelling; a difference is
 * recorded in `mismatches` (--check) or written.
 */
export function pin(object, field, computed, what, mismatches) {
  const old = object[field];
  const same = typeof computed === 'string' && typeof old === 'string' && computed.startsWith('0x')
    ? sameNumber(old, computed)
    : JSON.stringify(old) === JSON.stringify(computed);
  if (same) return;
  mismatches.push(`${what}: file has ${JSON.stringify(old)}, computed ${JSON.stringify(computed)}`);
  if (!checking) object[field] = computed;
}

/** Write (or, with --check, verify) a data file; exits 1 on a difference when checking. */
export function finish(file, data, mismatches) {
  for (const m of mismatches) console.error(`${file}: ${m}`);
  if (checking) {
    const text = `${JSON.stringify(data, null, 2)}\n`;
    const onDisk = readFileSync(join(dataDir, file), 'utf8');
    if (mismatches.length > 0 || text !== onDisk) {
      console.error(`${file}: not current (${mismatches.length} value(s) differ${text !== onDisk ? ', or its formatting' : ''})`);
      process.exitCode = 1;
    } else {
      console.error(`${file}: current`);
    }
    return;
  }
  writeFileSync(join(dataDir, file), `${JSON.stringify(data, null, 2)}\n`);
  console.error(`${file}: written (${mismatches.length} value(s) changed)`);
}
