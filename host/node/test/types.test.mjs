// index.d.ts: it compiles, the README example type-checks against it, and it
// declares what src/index.js exports.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as api from '../src/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

test('tsc --noEmit accepts index.d.ts and the example written against it', () => {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve('typescript'));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  const tsc = join(dir, JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).bin.tsc);
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'test', 'tsconfig.json')], { encoding: 'utf8' });
  assert.equal(result.status, 0, `tsc failed:\n${result.stdout}${result.stderr}`);
});

test('index.d.ts declares every runtime export', () => {
  const dts = readFileSync(join(root, 'index.d.ts'), 'utf8');
  for (const name of Object.keys(api)) {
    assert.match(dts, new RegExp(`export (declare )?(class|const|function) ${name}\\b`), `${name} missing in index.d.ts`);
  }
});
