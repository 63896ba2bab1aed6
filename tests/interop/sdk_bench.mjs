#!/usr/bin/env node
// Benchmark of Chipi's real SDK (`ChipiSDK` from @chipi-stack/backend 14.4.0) on a
// Chipi-compatible backend (the Rust sandbox): the counterpart of `chipi-session bench`,
// which scripts/bench.sh runs against the same sandbox.
//
//   load + construct the SDK                       startupMs (from process start)
//   create (sessions.createSessionKey)             createMs
//   register (sessions.addSessionKeyToContract)    registerMs
//   execute #1 (executeTransactionWithSession)     firstExecuteMs
//   execute #2..#N, one after the other            the warm statistics
//
// Usage: node sdk_bench.mjs ARGS.json
// ARGS.json: the fields of sdk_client.mjs (apiUrl, rpcUrl, apiKey, bearerToken, wallet,
// encryptKey, durationSeconds, allowedEntrypoints), with these differences:
//   "executions": 50,          optional, default 50, at least 2 (one cold + N-1 warm)
//   "maxCalls": N,             optional, default max(1000, executions)
//   "calls": [...]             optional. Execute #i sends these calls with the amount of the
//                              first call (calldata[1], the low word of a transfer's u256)
//                              replaced by toHex(i), so every transaction is distinct.
//                              Default: one STRK `transfer` to 0xc0ffee.
//   checkStatus is ignored, and the session is not revoked (the bench measures executes).
//
// Stdout: exactly one JSON object (times in milliseconds):
//   {"startupMs", "createMs", "registerMs", "firstExecuteMs", "executeMedianMs",
//    "executeP99Ms", "clientCpuPerExecuteMs", "executesPerSecond", "executes"}
// The warm statistics cover executes #2..#N. The median of an even count is the mean of the
// two middle values, and p99 is the nearest-rank percentile. clientCpuPerExecuteMs is this
// process's CPU time (process.cpuUsage(), user + system) during the warm executes divided
// by their count. The backend runs in another process, so its CPU is not included.
// executesPerSecond is the number of warm executes divided by their total wall time.
// On failure: {"error": {"step", "name", "message", "code", "status"}} and exit code 1.
// The SDK's console output goes to stderr. Exit 2 on bad arguments.

import {
  describeError,
  emit,
  fail,
  importChipiSdk,
  newChipiSdk,
  readArgs,
  redirectConsoleToStderr,
} from './sdk_common.mjs';

const PROG = 'sdk_bench';
/// STRK on Starknet and the demo recipient, as in the CLI demo.
const DEFAULT_TOKEN = '0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d';
const DEFAULT_RECIPIENT = '0xc0ffee';

redirectConsoleToStderr();
const args = readArgs(PROG, ['apiUrl', 'apiKey', 'wallet', 'encryptKey']);
const executions = args.executions ?? 50;
if (!Number.isInteger(executions) || executions < 2) {
  fail(PROG, 2, `'executions' must be an integer >= 2 (one cold execute and at least one warm one), got ${JSON.stringify(executions)}`);
}
const template = args.calls ?? [
  { contractAddress: DEFAULT_TOKEN, entrypoint: 'transfer', calldata: [DEFAULT_RECIPIENT, '0x1', '0x0'] },
];
if (!Array.isArray(template) || template.length === 0 || !Array.isArray(template[0].calldata) || template[0].calldata.length < 2) {
  fail(PROG, 2, "'calls' must be a non-empty array whose first call has at least two calldata items");
}

const toHex = (n) => `0x${n.toString(16)}`;

/// The calls of execute #i (1-based): the template with the first call's amount set to i.
function callsFor(i) {
  return template.map((call, index) =>
    index === 0 ? { ...call, calldata: call.calldata.map((v, j) => (j === 1 ? toHex(i) : v)) } : call,
  );
}

const ms = (startNs) => Number(process.hrtime.bigint() - startNs) / 1e6;

function median(sorted) {
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(sorted, p) {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

let current = 'init';
try {
  const ChipiSDK = await importChipiSdk(args);
  const sdk = newChipiSdk(ChipiSDK, args);
  // performance.now() counts from the process's time origin (its start).
  const startupMs = performance.now();
  const { bearerToken, encryptKey, wallet } = args;

  current = 'create';
  let t = process.hrtime.bigint();
  const session = sdk.sessions.createSessionKey({
    encryptKey,
    ...(args.durationSeconds !== undefined ? { durationSeconds: args.durationSeconds } : {}),
  });
  const createMs = ms(t);

  current = 'register';
  t = process.hrtime.bigint();
  await sdk.sessions.addSessionKeyToContract(
    {
      encryptKey,
      wallet,
      sessionConfig: {
        sessionPublicKey: session.publicKey,
        validUntil: session.validUntil,
        maxCalls: args.maxCalls ?? Math.max(1000, executions),
        allowedEntrypoints: args.allowedEntrypoints ?? [],
      },
    },
    bearerToken,
  );
  const registerMs = ms(t);

  const execute = (i) =>
    sdk.executeTransactionWithSession({
      params: { encryptKey, wallet, session, calls: callsFor(i) },
      bearerToken,
    });

  current = 'execute#1';
  t = process.hrtime.bigint();
  await execute(1);
  const firstExecuteMs = ms(t);

  const warm = [];
  const cpuBefore = process.cpuUsage();
  const warmStart = process.hrtime.bigint();
  for (let i = 2; i <= executions; i += 1) {
    current = `execute#${i}`;
    t = process.hrtime.bigint();
    await execute(i);
    warm.push(ms(t));
  }
  const warmWallMs = ms(warmStart);
  const cpu = process.cpuUsage(cpuBefore);
  warm.sort((a, b) => a - b);

  emit(
    {
      startupMs,
      createMs,
      registerMs,
      firstExecuteMs,
      executeMedianMs: median(warm),
      executeP99Ms: percentile(warm, 99),
      clientCpuPerExecuteMs: (cpu.user + cpu.system) / 1000 / warm.length,
      executesPerSecond: warm.length / (warmWallMs / 1000),
      executes: executions,
    },
    0,
  );
} catch (e) {
  process.stderr.write(`${PROG}: ${current} failed: ${e?.stack ?? e}\n`);
  emit({ error: describeError(current, e) }, 1);
}
