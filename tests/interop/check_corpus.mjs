#!/usr/bin/env node
// Runs the typed-data corpus through referee.mjs (as a child process, over the same stdin /
// stdout protocol the Rust tests use) and checks that:
//   - every entry of guest/test-data/snip12_corpus.json hashes without error, to its pinned `hash`;
//   - every entry of guest/test-data/snip12_rejected.json is rejected, with its pinned `error`.
// Prints the counts; exits 1 on any mismatch.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const load = (name) => JSON.parse(readFileSync(join(here, '..', '..', 'guest', 'test-data', name), 'utf8'));
const accepted = load('snip12_corpus.json');
const rejected = load('snip12_rejected.json');

const ops = [...accepted, ...rejected].map((e) => ({
  op: 'messageHash',
  typedData: e.typedData,
  account: e.account,
}));
const run = spawnSync(process.execPath, [join(here, 'referee.mjs')], {
  input: JSON.stringify({ ops }),
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
});
if (run.status !== 0) {
  process.stderr.write(run.stderr);
  process.stderr.write(`referee.mjs exited with ${run.status}\n`);
  process.exit(1);
}
const { results } = JSON.parse(run.stdout);
if (!Array.isArray(results) || results.length !== ops.length) {
  process.stderr.write(`referee returned ${results?.length} results for ${ops.length} ops\n`);
  process.exit(1);
}

const failures = [];
accepted.forEach((e, i) => {
  const r = results[i];
  if (r.error !== undefined) failures.push(`${e.name}: starknet.js error: ${r.error}`);
  else if (e.hash !== undefined && r.hash !== e.hash) failures.push(`${e.name}: hash ${r.hash}, pinned ${e.hash}`);
});
rejected.forEach((e, j) => {
  const r = results[accepted.length + j];
  if (r.error === undefined) failures.push(`${e.name}: expected rejection, got ${r.hash}`);
  else if (e.error !== undefined && r.error !== e.error) failures.push(`${e.name}: error '${r.error}', pinned '${e.error}'`);
});

const revs = { r0: 0, r1: 0, oe: 0, quirk: 0 };
for (const e of accepted) {
  const family = e.name.split('/')[0];
  if (family in revs) revs[family] += 1;
}
const summary =
  `typed_data.json: ${accepted.length} entries hashed ` +
  `(r0 ${revs.r0}, r1 ${revs.r1}, oe ${revs.oe}, quirk ${revs.quirk}); ` +
  `typed_data_rejected.json: ${rejected.length} entries rejected`;
if (failures.length) {
  process.stderr.write(`${failures.join('\n')}\n`);
  process.stdout.write(`${summary}; ${failures.length} FAILURES\n`);
  process.exit(1);
}
process.stdout.write(`${summary}; all match\n`);
