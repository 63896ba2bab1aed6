// CPU cost of one warm execute in the Node host: create + register a session,
// then N (default 200, argv[2] or CHIPI_BENCH_EXECUTES) warm executes of
// distinct transfers. Prints one JSON line
//   {host, executes, cpuPerExecuteMs, executeMedianMs}
// where cpuPerExecuteMs is this process's CPU time (user + system, worker
// threads included) over the warm executes divided by N.
//
// The sandbox comes from CHIPI_BENCH_API_URL, CHIPI_BENCH_RPC_URL,
// CHIPI_BENCH_API_KEY, CHIPI_BENCH_TOKEN and CHIPI_BENCH_WALLET (wallet JSON,
// its PIN in CHIPI_BENCH_PIN, default 1234); without them the script starts its own with CHIPI_SESSION_BIN.

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SessionEngine, MemoryStore } from '../src/index.js';
import { startSandbox, transfer, PIN } from '../test/helpers.mjs';

const executes = Number(process.argv[2] ?? process.env.CHIPI_BENCH_EXECUTES ?? 200);
if (!Number.isInteger(executes) || executes <= 0) throw new Error('the number of executes must be a positive integer');

const env = process.env;
let sandbox = null;
let target;
if (env.CHIPI_BENCH_API_URL) {
  for (const name of ['CHIPI_BENCH_RPC_URL', 'CHIPI_BENCH_API_KEY', 'CHIPI_BENCH_TOKEN', 'CHIPI_BENCH_WALLET']) {
    if (!env[name]) throw new Error(`${name} is not set (CHIPI_BENCH_API_URL is)`);
  }
  target = {
    apiUrl: env.CHIPI_BENCH_API_URL,
    rpcUrl: env.CHIPI_BENCH_RPC_URL,
    apiKey: env.CHIPI_BENCH_API_KEY,
    bearerToken: env.CHIPI_BENCH_TOKEN,
    wallet: JSON.parse(readFileSync(env.CHIPI_BENCH_WALLET, 'utf8')),
  };
} else {
  sandbox = await startSandbox();
  target = sandbox;
}

const engine = await SessionEngine.start({ store: new MemoryStore(), getBearerToken: async () => target.bearerToken });
try {
  const s = engine.session({
    wallet: target.wallet,
    encryptKey: process.env.CHIPI_BENCH_PIN || PIN,
    config: { apiBaseUrl: target.apiUrl, apiKey: target.apiKey, rpcUrls: [target.rpcUrl] },
  });
  await s.createSession({ durationSeconds: 3600, replaceExisting: true });
  await s.registerSession({ maxCalls: executes + 10, allowedEntrypoints: ['transfer'] });
  // A random base keeps the amounts distinct from an earlier run on the same wallet.
  const base = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
  await s.executeWithSession([transfer(base)]);

  const walls = [];
  const cpuStart = process.cpuUsage();
  for (let i = 1; i <= executes; i++) {
    const t0 = performance.now();
    await s.executeWithSession([transfer(base + i)]);
    walls.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpuStart);
  walls.sort((a, b) => a - b);
  const mid = walls.length >> 1;
  const median = walls.length % 2 ? walls[mid] : (walls[mid - 1] + walls[mid]) / 2;
  const round = (x) => Math.round(x * 1000) / 1000;
  console.log(
    JSON.stringify({
      host: 'node',
      executes,
      cpuPerExecuteMs: round((cpu.user + cpu.system) / 1000 / executes),
      executeMedianMs: round(median),
    }),
  );
} finally {
  await engine.close();
  await sandbox?.stop();
}
