// The allow-list syntax and the wrapper around wasi:http's outgoing handler.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { outgoingHandler, types } from '@bytecodealliance/preview2-shim/http';
import { guardOutgoingHandler } from '../src/http_guard.js';
import { canonicalEntry, originOfUrl, requestOrigin, sessionAllowList } from '../src/allowlist.js';

test('allow-list entries: [SCHEME://]HOST[:PORT], bare host = https, default ports, no userinfo', () => {
  assert.equal(canonicalEntry('api.chipipay.com'), 'https://api.chipipay.com:443');
  assert.equal(canonicalEntry('API.Chipipay.com:8443'), 'https://api.chipipay.com:8443');
  assert.equal(canonicalEntry('http://127.0.0.1'), 'http://127.0.0.1:80');
  assert.equal(canonicalEntry('http://127.0.0.1:8080/rpc?x=1'), 'http://127.0.0.1:8080');
  assert.equal(canonicalEntry('https://[0:0::1]:5050'), 'https://[::1]:5050');
  assert.equal(canonicalEntry('[::1]:5050'), 'https://[::1]:5050');
  assert.throws(() => canonicalEntry('user:secret@host'), (e) => /userinfo/.test(e.message) && !e.message.includes('secret'));
  assert.throws(() => canonicalEntry('https://user:secret@host'), (e) => !e.message.includes('secret'));
  assert.throws(() => canonicalEntry('ftp://host'), /http or https/);
  assert.throws(() => canonicalEntry('host:99999'), /invalid/);
  assert.throws(() => canonicalEntry('host:'), /invalid/);
  assert.equal(originOfUrl('https://user:pw@api.chipipay.com/v1'), 'https://api.chipipay.com:443');
  assert.equal(requestOrigin({ tag: 'HTTP' }, '127.0.0.1:8545'), 'http://127.0.0.1:8545');
  assert.equal(requestOrigin(undefined, 'Example.com'), 'https://example.com:443');
  assert.equal(requestOrigin({ tag: 'other', val: 'ftp' }, 'example.com'), null);
  assert.equal(requestOrigin({ tag: 'HTTP' }, 'user@example.com'), null);
  assert.equal(requestOrigin({ tag: 'HTTP' }, undefined), null);
  assert.deepEqual(sessionAllowList(['https://a.io:443'], true, ['http://127.0.0.1:1/v1', 'http://127.0.0.1:1/rpc']), [
    'https://a.io:443',
    'http://127.0.0.1:1',
  ]);
  assert.deepEqual(sessionAllowList([], false, ['http://127.0.0.1:1/v1']), []);
});

function request(scheme, authority, path = '/') {
  const req = new types.OutgoingRequest(new types.Fields());
  req.setScheme(scheme);
  req.setAuthority(authority);
  req.setPathWithQuery(path);
  return req;
}

test('the guarded handler refuses a non-allow-listed origin with HTTP-request-denied: the server sees no connection', async (t) => {
  let connections = 0;
  let requests = 0;
  const server = createServer((_req, res) => {
    requests += 1;
    res.end('hello');
  });
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const port = server.address().port;

  let allowed = new Set([`http://127.0.0.1:${port + 1}`, `https://127.0.0.1:${port}`]);
  const denied = [];
  const guarded = guardOutgoingHandler(outgoingHandler.handle, () => allowed, (o) => denied.push(o));

  // Same host, other port; same host and port, other scheme; another name of the same host.
  for (const [scheme, authority] of [
    [{ tag: 'HTTP' }, `127.0.0.1:${port}`],
    [{ tag: 'HTTP' }, `localhost:${port}`],
    [{ tag: 'other', val: 'gopher' }, `127.0.0.1:${port}`],
  ]) {
    assert.deepEqual(guarded.handle(request(scheme, authority), undefined), {
      tag: 'err',
      val: { tag: 'HTTP-request-denied' },
    });
  }
  assert.deepEqual(denied, [`http://127.0.0.1:${port}`, `http://localhost:${port}`, null]);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(connections, 0);

  // Control: once allow-listed, the same request reaches the server.
  allowed = new Set([`http://127.0.0.1:${port}`]);
  const future = guarded.handle(request({ tag: 'HTTP' }, `127.0.0.1:${port}`), undefined);
  assert.ok(future instanceof types.FutureIncomingResponse);
  let response;
  for (let i = 0; i < 200 && response === undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    response = future.get();
  }
  assert.equal(response?.tag, 'ok');
  assert.equal(response.val.tag, 'ok');
  assert.equal(response.val.val.status(), 200);
  assert.equal(connections, 1);
  assert.equal(requests, 1);
});
