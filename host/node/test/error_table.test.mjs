// The package's error codes are the component's: compare SESSION_ERROR_CODES
// with guest/src/protocol/error_table.rs, row by row.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SESSION_ERROR_CODES, ChipiSessionError } from '../src/index.js';
import { fromSessionError } from '../src/errors.js';

const TABLE = new URL('../../../guest/src/protocol/error_table.rs', import.meta.url);

test('SESSION_ERROR_CODES equals guest/src/protocol/error_table.rs', () => {
  const source = readFileSync(TABLE, 'utf8');
  const rows = [...source.matchAll(/^\s*(\w+)\s*=>\s*(\w+)\s*,\s*"([A-Z_]+)"\s*,\s*(chipi|local)\s*;/gm)];
  assert.ok(rows.length >= 17, `parsed only ${rows.length} rows of ${TABLE.pathname}`);
  const kebab = (camel) => camel.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
  const fromRust = rows.map(([, , wit, code]) => [kebab(wit), code]);
  assert.deepEqual(Object.entries(SESSION_ERROR_CODES), fromRust);
});

test('session-error values become ChipiSessionError with the code, backend status and code', () => {
  const e = fromSessionError({ tag: 'session-expired', val: 'expired at 100' });
  assert.ok(e instanceof ChipiSessionError);
  assert.equal(e.name, 'ChipiSessionError');
  assert.equal(e.code, 'SESSION_EXPIRED');
  assert.equal(e.message, 'expired at 100');
  assert.equal(e.status, undefined);
  const b = fromSessionError({ tag: 'backend', val: { status: 401, code: 'UNAUTHORIZED', message: 'bad token' } });
  assert.equal(b.code, 'BACKEND_ERROR');
  assert.equal(b.status, 401);
  assert.equal(b.backendCode, 'UNAUTHORIZED');
  assert.equal(b.message, 'HTTP 401 [UNAUTHORIZED]: bad token');
  const rpc = fromSessionError({ tag: 'backend', val: { status: 0, code: undefined, message: 'nonce' } });
  assert.equal(rpc.message, 'JSON-RPC: nonce');
  assert.equal(rpc.backendCode, undefined);
});
