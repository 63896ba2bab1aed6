// An engine keeps the process's anonymous memory (keys included) out of core
// dumps on Linux (where these tests run) unless `allowCoreDumps` is set. Each
// case runs in a fresh process: the setting is process-wide.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const INDEX = new URL('../src/index.js', import.meta.url).href;

function probe(allowCoreDumps) {
  const script = `
    import { readFileSync } from 'node:fs';
    import { SessionEngine, coreDumpsExcluded } from ${JSON.stringify(INDEX)};
    const engine = await SessionEngine.start({ getBearerToken: () => 't', allowCoreDumps: ${allowCoreDumps} });
    const filter = Number.parseInt(readFileSync('/proc/self/coredump_filter', 'ascii'), 16);
    console.log(JSON.stringify({ excluded: coreDumpsExcluded(), filter }));
    await engine.close();
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1));
}

test('an engine excludes the process from core dumps', () => {
  assert.deepEqual(probe(false), { excluded: true, filter: 0 });
});

test('allowCoreDumps leaves them alone', () => {
  const allowed = probe(true);
  assert.equal(allowed.excluded, false);
  assert.notEqual(allowed.filter, 0);
});
