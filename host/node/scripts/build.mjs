// Transpile the chipi-session component into dist/component/ with jco.
// The component comes from $CHIPI_SESSION_GUEST_WASM, by default the
// workspace's release build.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const wasm = resolve(
  root,
  process.env.CHIPI_SESSION_GUEST_WASM || '../../target/wasm32-wasip2/release/chipi_session_guest.wasm',
);
const out = join(root, 'dist', 'component');

if (!existsSync(wasm)) {
  console.error(
    `build: component not found at ${wasm}\n` +
      'build it with `cargo build -p chipi-session-guest --target wasm32-wasip2 --release` ' +
      'or point CHIPI_SESSION_GUEST_WASM at it',
  );
  process.exit(1);
}

const require = createRequire(import.meta.url);
// The package's directory: climb from its main module to its package.json.
let jcoDir = dirname(require.resolve('@bytecodealliance/jco'));
while (!existsSync(join(jcoDir, 'package.json'))) jcoDir = dirname(jcoDir);
const jco = join(jcoDir, JSON.parse(readFileSync(join(jcoDir, 'package.json'), 'utf8')).bin.jco);

rmSync(out, { recursive: true, force: true });
const args = [
  jco,
  'transpile',
  wasm,
  '--out-dir',
  out,
  '--name',
  'chipi_session',
  '--instantiation',
  'async',
  '--no-typescript',
  '--quiet',
];
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (result.status !== 0) {
  console.error(`build: jco transpile failed (${result.status ?? result.signal})`);
  process.exit(1);
}
const sha256 = createHash('sha256').update(readFileSync(wasm)).digest('hex');
writeFileSync(join(out, 'build-info.json'), `${JSON.stringify({ component: wasm, sha256 }, null, 2)}\n`);
console.log(`build: ${wasm} -> ${out} (sha256 ${sha256.slice(0, 16)}…)`);
