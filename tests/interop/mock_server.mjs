#!/usr/bin/env node
// A throwaway Chipi-compatible backend + Starknet JSON-RPC stub, for exercising sdk_client.mjs
// (Chipi's real SDK) without the Rust sandbox. It records every request it receives.
//
// Standalone:  node mock_server.mjs [--port N] [--owner-key 0xSTARKKEY] [--record FILE]
//   prints one line `{"port":N,"apiUrl":"http://127.0.0.1:N/v1","rpcUrl":"http://127.0.0.1:N/rpc"}`
//   on stdout once listening, then serves until killed. GET /__requests returns the log.
// Library:     import { startMockServer } from './mock_server.mjs'
//
// Behaviour (deliberately small, but strict enough to catch a wrong request):
//   POST /v1/transactions/prepare-typed-data        -> {typedData, walletType:"CHIPI"}, an SNIP-9 v2
//        outside execution (SNIP-12 rev 1) of the given calls, hex selectors, chainId SN_SEPOLIA
//        as hex, Caller ANY_CALLER, Execute After now-60, Execute Before now+3600.
//   POST /v1/transactions/execute-sponsored-transaction -> {transactionHash}. Checks that the
//        typed data is one this server issued (unchanged), then the signature:
//          owner  {r,s}: verified against --owner-key when given;
//          session [pub, r, s, valid_until] with isSessionSignature:true: the session must be
//          registered, not revoked, not expired, have calls left; ECDSA over the message hash.
//        Applies add_or_update_session_key / revoke_session_key calls to its session table.
//   POST /rpc  starknet_call get_session_data -> [valid_until, max_calls, calls_used, len]
//        (the layout in docs/protocol.md, "Session account contract"), starknet_chainId, starknet_specVersion.
//   Every /v1 request must carry x-api-key and the __chipi_api_version query parameter.

import { appendFileSync, realpathSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { ec, hash, num, typedData as td } from 'starknet';
import { ANY_CALLER, OE_TYPES, SN_SEPOLIA_HEX } from './snip9.mjs';

const SELECTOR = {
  add: hash.getSelectorFromName('add_or_update_session_key'),
  revoke: hash.getSelectorFromName('revoke_session_key'),
  getData: hash.getSelectorFromName('get_session_data'),
};


const norm = (v) => num.toHex(v);

function verifyStarkKey(pubX, msgHash, r, s) {
  const x = BigInt(pubX).toString(16).padStart(64, '0');
  let sig;
  try {
    sig = new ec.starkCurve.Signature(BigInt(r), BigInt(s));
  } catch {
    return false;
  }
  for (const prefix of ['02', '03']) {
    try {
      if (ec.starkCurve.verify(sig, msgHash, prefix + x)) return true;
    } catch {
      /* not a point / out of range */
    }
  }
  return false;
}

class HttpError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function startMockServer({ port = 0, ownerKey, recordFile } = {}) {
  const requests = [];
  const issued = new Map(); // nonce -> JSON of the typed data we issued
  const sessions = new Map(); // `${wallet}:${pubkey}` -> {validUntil, maxCalls, callsUsed, allowed}
  let txCounter = 0;

  function record(entry) {
    requests.push(entry);
    if (recordFile) appendFileSync(recordFile, `${JSON.stringify(entry)}\n`);
  }

  function prepare(body) {
    if (!body || typeof body.publicKey !== 'string') throw new HttpError(400, 'publicKey is required', 'BAD_REQUEST');
    if (!Array.isArray(body.calls) || body.calls.length === 0) throw new HttpError(400, 'calls are required', 'BAD_REQUEST');
    const now = Math.floor(Date.now() / 1000);
    const nonce = num.toHex(BigInt(`0x${randomBytes(31).toString('hex')}`));
    const typedData = {
      types: OE_TYPES,
      primaryType: 'OutsideExecution',
      domain: { name: 'Account.execute_from_outside', version: '2', chainId: SN_SEPOLIA_HEX, revision: '1' },
      message: {
        Caller: ANY_CALLER,
        Nonce: nonce,
        'Execute After': num.toHex(now - 60),
        'Execute Before': num.toHex(now + 3600),
        Calls: body.calls.map((c) => ({
          To: norm(c.contractAddress),
          Selector: hash.getSelectorFromName(c.entrypoint),
          Calldata: (c.calldata ?? []).map((x) => norm(x)),
        })),
      },
    };
    issued.set(nonce, JSON.stringify(typedData));
    return { typedData, walletType: 'CHIPI' };
  }

  function execute(body) {
    const { publicKey: wallet, typedData, userSignature } = body ?? {};
    if (typeof wallet !== 'string' || !typedData || userSignature === undefined) {
      throw new HttpError(400, 'publicKey, typedData and userSignature are required', 'BAD_REQUEST');
    }
    const original = issued.get(typedData?.message?.Nonce);
    if (original === undefined || original !== JSON.stringify(typedData)) {
      throw new HttpError(400, 'typed data was not issued by this server or was modified', 'INVALID_TYPED_DATA');
    }
    const msgHash = td.getMessageHash(typedData, wallet);
    const now = Math.floor(Date.now() / 1000);
    const calls = typedData.message.Calls;
    if (body.isSessionSignature === true) {
      if (!Array.isArray(userSignature) || userSignature.length !== 4) {
        throw new HttpError(400, 'session signature must be [pubkey, r, s, valid_until]', 'INVALID_SIGNATURE');
      }
      const [pub, r, s, validUntil] = userSignature;
      const key = `${norm(wallet)}:${norm(pub)}`;
      const sess = sessions.get(key);
      if (!sess || sess.validUntil === 0) throw new HttpError(400, 'session not registered or revoked', 'SESSION_NOT_REGISTERED');
      if (BigInt(validUntil) !== BigInt(sess.validUntil)) throw new HttpError(400, 'valid_until mismatch', 'INVALID_SIGNATURE');
      if (now > sess.validUntil) throw new HttpError(400, 'session expired', 'SESSION_EXPIRED');
      if (sess.callsUsed >= sess.maxCalls) throw new HttpError(400, 'max calls exceeded', 'SESSION_MAX_CALLS_EXCEEDED');
      if (!verifyStarkKey(pub, msgHash, r, s)) throw new HttpError(400, 'invalid session signature', 'INVALID_SIGNATURE');
      sess.callsUsed += 1;
    } else {
      if (Array.isArray(userSignature) || typeof userSignature !== 'object' || userSignature.r === undefined || userSignature.s === undefined) {
        throw new HttpError(400, 'owner signature must be {r, s}', 'INVALID_SIGNATURE');
      }
      if (ownerKey && !verifyStarkKey(ownerKey, msgHash, userSignature.r, userSignature.s)) {
        throw new HttpError(400, 'invalid owner signature', 'INVALID_SIGNATURE');
      }
      for (const c of calls) {
        if (norm(c.To) !== norm(wallet)) continue;
        if (norm(c.Selector) === norm(SELECTOR.add)) {
          const [pub, validUntil, maxCalls, len, ...allowed] = c.Calldata;
          sessions.set(`${norm(wallet)}:${norm(pub)}`, {
            validUntil: Number(BigInt(validUntil)),
            maxCalls: Number(BigInt(maxCalls)),
            callsUsed: 0,
            allowed: allowed.slice(0, Number(BigInt(len))).map(norm),
          });
        } else if (norm(c.Selector) === norm(SELECTOR.revoke)) {
          const sess = sessions.get(`${norm(wallet)}:${norm(c.Calldata[0])}`);
          if (sess) sess.validUntil = 0;
        }
      }
    }
    issued.delete(typedData.message.Nonce); // one use per typed data, like a real nonce
    txCounter += 1;
    return { transactionHash: num.toHex(BigInt(hash.starknetKeccak(`tx-${txCounter}-${msgHash}`))) };
  }

  function rpc(body) {
    const reply = (result) => ({ jsonrpc: '2.0', id: body?.id ?? null, result });
    switch (body?.method) {
      case 'starknet_specVersion':
        return reply('0.10.0');
      case 'starknet_chainId':
        return reply(SN_SEPOLIA_HEX);
      case 'starknet_call': {
        const { request } = body.params ?? {};
        if (request && norm(request.entry_point_selector) === norm(SELECTOR.getData)) {
          const sess = sessions.get(`${norm(request.contract_address)}:${norm(request.calldata[0])}`);
          const s = sess ?? { validUntil: 0, maxCalls: 0, callsUsed: 0, allowed: [] };
          return reply([s.validUntil, s.maxCalls, s.callsUsed, s.allowed.length].map((v) => num.toHex(v)));
        }
        return { jsonrpc: '2.0', id: body.id, error: { code: 21, message: 'Requested entrypoint does not exist in the contract' } };
      }
      default:
        return { jsonrpc: '2.0', id: body?.id ?? null, error: { code: -32601, message: 'Method not found' } };
    }
  }

  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url, 'http://mock');
      let body;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      record({
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
      });
      const send = (status, obj) => {
        const text = JSON.stringify(obj);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      try {
        if (req.method === 'GET' && url.pathname === '/__requests') return send(200, requests);
        if (url.pathname === '/rpc' || url.pathname === '/rpc/') return send(200, rpc(body));
        if (!url.pathname.startsWith('/v1/')) throw new HttpError(404, `no route ${url.pathname}`, 'NOT_FOUND');
        if (!/^pk_(dev|prod)_/.test(req.headers['x-api-key'] ?? '')) throw new HttpError(401, 'missing or bad x-api-key', 'INVALID_API_KEY');
        if (!url.searchParams.get('__chipi_api_version')) throw new HttpError(400, 'missing __chipi_api_version', 'BAD_REQUEST');
        if (req.method === 'POST' && url.pathname === '/v1/transactions/prepare-typed-data') return send(200, prepare(body));
        if (req.method === 'POST' && url.pathname === '/v1/transactions/execute-sponsored-transaction') return send(200, execute(body));
        throw new HttpError(404, `no route ${req.method} ${url.pathname}`, 'NOT_FOUND');
      } catch (e) {
        const status = e instanceof HttpError ? e.status : 500;
        return send(status, { message: e.message, code: e.code ?? 'INTERNAL' });
      }
    });
  });

  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actualPort = server.address().port;
  return {
    port: actualPort,
    apiUrl: `http://127.0.0.1:${actualPort}/v1`,
    rpcUrl: `http://127.0.0.1:${actualPort}/rpc`,
    requests,
    sessions,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

const invokedAsProgram =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (invokedAsProgram) {
  const arg = (name) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const mock = await startMockServer({
    port: Number(arg('--port') ?? 0),
    ownerKey: arg('--owner-key'),
    recordFile: arg('--record'),
  });
  process.stdout.write(`${JSON.stringify({ port: mock.port, apiUrl: mock.apiUrl, rpcUrl: mock.rpcUrl })}\n`);
  const stop = () => mock.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
