#!/usr/bin/env node
// Self-test of sdk_client.mjs against mock_server.mjs (no Rust involved):
// makes a CHIPI wallet the way the SDK does, starts the mock on a free loopback port, runs
// sdk_client.mjs as a child process, and checks the steps and the recorded requests.
//
//   node selftest_sdk.mjs           prints a one-line summary
//   node selftest_sdk.mjs --dump    also prints every request the SDK sent (as JSON)

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CallData, ec, hash, num } from 'starknet';
import { encryptPrivateKey } from '@chipi-stack/backend';
import { startMockServer } from './mock_server.mjs';

for (const level of ['log', 'info', 'debug', 'warn']) {
  console[level] = (...a) => console.error(...a);
}

const here = dirname(fileURLToPath(import.meta.url));
const CHIPI_CLASS_HASH = '0x053f4f8791ed5bed0fddaa553d180c664e32cfaf8316bb232ae77bb08f459f2a';
const PIN = '123456';

const ownerPrivateKey = num.toHex(BigInt(`0x${Buffer.from(ec.starkCurve.utils.randomPrivateKey()).toString('hex')}`));
const ownerStarkKey = ec.starkCurve.getStarkKey(ownerPrivateKey);
const walletAddress = hash.calculateContractAddressFromHash(
  ownerStarkKey,
  CHIPI_CLASS_HASH,
  CallData.compile({ public_key: ownerStarkKey }),
  0,
);

const mock = await startMockServer({ ownerKey: ownerStarkKey });
const dir = mkdtempSync(join(tmpdir(), 'chipi-sdk-selftest-'));
const argsPath = join(dir, 'args.json');
writeFileSync(
  argsPath,
  JSON.stringify({
    apiUrl: mock.apiUrl,
    rpcUrl: mock.rpcUrl,
    apiKey: `pk_dev_${'a1B2c3D4'.repeat(4)}`,
    bearerToken: 'test-bearer-token',
    wallet: { publicKey: walletAddress, encryptedPrivateKey: encryptPrivateKey(ownerPrivateKey, PIN), walletType: 'CHIPI' },
    encryptKey: PIN,
    calls: [
      {
        contractAddress: '0x033068f6539f8e6e6b131e6b2b814e6c34a5224bc66947c47dab9dfee93b35fb',
        entrypoint: 'transfer',
        calldata: ['0x1', '0x2', '0x0'],
      },
    ],
    checkStatus: true,
  }),
);

// The child talks to our in-process server, so it must run asynchronously.
const child = spawn(process.execPath, [join(here, 'sdk_client.mjs'), argsPath], { stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
let err = '';
child.stdout.on('data', (d) => (out += d));
child.stderr.on('data', (d) => (err += d));
const code = await new Promise((resolve) => child.on('close', resolve));
await mock.close();
rmSync(dir, { recursive: true, force: true });

const problems = [];
let result;
try {
  result = JSON.parse(out);
} catch {
  problems.push(`stdout is not one JSON document: ${JSON.stringify(out.slice(0, 200))}`);
}
if (code !== 0) problems.push(`sdk_client exited ${code}: ${JSON.stringify(result?.error)}\n${err}`);
const kinds = result?.steps?.map((s) => s.step).join(',');
if (kinds !== 'create,register,status,execute,execute,status,revoke,status') problems.push(`unexpected steps ${kinds}`);

const api = mock.requests.filter((r) => r.path.startsWith('/v1/'));
const rpc = mock.requests.filter((r) => r.path === '/rpc');
const paths = api.map((r) => r.path.replace('/v1/transactions/', '')).join(',');
const expected = Array(4).fill('prepare-typed-data,execute-sponsored-transaction').join(',');
if (paths !== expected) problems.push(`unexpected API sequence ${paths}`);
for (const r of api) {
  if (r.query.__chipi_api_version !== '2025-12-30') problems.push(`${r.path}: query ${JSON.stringify(r.query)}`);
  if (r.headers.authorization !== 'Bearer test-bearer-token') problems.push(`${r.path}: no bearer`);
}

if (process.argv.includes('--dump')) {
  process.stdout.write(`${JSON.stringify({ result, requests: mock.requests }, null, 2)}\n`);
}
if (problems.length) {
  process.stderr.write(`${problems.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(
  `selftest ok: steps ${kinds}; ${api.length} API requests, ${rpc.length} RPC requests; ` +
    `registered session remainingCalls after 2 executions: ${result.steps[5].remainingCalls}\n`,
);
