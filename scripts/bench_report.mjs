#!/usr/bin/env node
// Formats the results of scripts/bench.sh: our CLI's `bench` JSON next to the Chipi SDK's
// (tests/interop/sdk_bench.mjs), with ratios; the session stores' speed; and the warm
// executes per second of one and of two processes sharing one Redis store.
//
// Usage: node scripts/bench_report.mjs OURS.json SDK.json OUT_DIR [CONFIG_JSON]
//          [--store LABEL=STORE.json]... [--redis-one ONE.json] [--redis-two A.json B.json]
//          [--host LABEL=HOST.json]...
//
//   --store LABEL=FILE      `chipi-session bench --only store --store-ops N --json` output
//                           (repeat: one row per store)
//   --redis-one FILE        `chipi-session bench --only throughput --json` with the sessions
//                           in Redis, one process
//   --redis-two FILE FILE   the same, two processes run at once on one Redis store
//   --host LABEL=FILE       one host's warm execute on one wallet, sequential, sessions in
//                           memory: `chipi-session bench --json` (clientCpuPerExecuteMs) or a
//                           package bench (host/node/bench, host/python/bench:
//                           {host, executes, cpuPerExecuteMs, executeMedianMs}); repeat: one
//                           row per host
//
// Prints the tables on stdout and writes OUT_DIR/table.txt and OUT_DIR/bench.json
// ({ours, sdk, ratios, ratioNote, config, stores, sharedRedis}). The ratio is SDK/ours for
// times and CPU, and ours/SDK for executesPerSecond, so a ratio above 1 always means
// chipi-session is ahead. CONFIG_JSON (optional) is a JSON object describing the run; it is
// printed above the table and stored as `config`.
//
// Two processes: combinedExecutesPerSecond = (executes of A + executes of B) /
// (max(end A, end B) - min(start A, start B)), where each process's window [start, end] is
// its throughput phase (`throughput.startUnixMs` .. `throughput.endUnixMs`: the first
// execute sent to the last answer, wall clock); overlapFraction = the time both windows
// share / that combined window.
//
// Exit 1 when an input is not a JSON object or reports an error. Node built-ins only.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/// Metrics both sides report; `higherIsBetter` flips the ratio to ours/SDK.
const COMMON = [
  { key: 'startupMs' },
  { key: 'createMs' },
  { key: 'registerMs' },
  { key: 'firstExecuteMs' },
  { key: 'executeMedianMs' },
  { key: 'executeP99Ms' },
  { key: 'clientCpuPerExecuteMs' },
  { key: 'executesPerSecond', higherIsBetter: true },
];
/// Metrics only chipi-session reports.
const OURS_ONLY = ['instantiateUs', 'rssPerIdleSessionKiB'];

function die(message) {
  process.stderr.write(`bench_report: ${message}\n`);
  process.exit(1);
}

function readResult(label, path) {
  let value;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    die(`${label}: ${path} is not JSON: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    die(`${label}: expected one JSON object in ${path}`);
  }
  if (value.error !== undefined) die(`${label} reported an error: ${JSON.stringify(value.error)}`);
  return value;
}

const USAGE =
  'usage: node scripts/bench_report.mjs OURS.json SDK.json OUT_DIR [CONFIG_JSON] ' +
  '[--store LABEL=FILE]... [--redis-one FILE] [--redis-two FILE FILE] [--host LABEL=FILE]...';
const argv = process.argv.slice(2);
const firstOption = argv.findIndex((a) => a.startsWith('--'));
const positional = firstOption === -1 ? argv : argv.slice(0, firstOption);
const options = firstOption === -1 ? [] : argv.slice(firstOption);
const [oursPath, sdkPath, outDir, configText] = positional;
if (!oursPath || !sdkPath || !outDir || positional.length > 4) die(USAGE);
const storePaths = [];
const hostPaths = [];
let redisOnePath;
let redisTwoPaths;
for (let i = 0; i < options.length; ) {
  const option = options[i];
  const value = options[i + 1];
  if (option === '--store' && value !== undefined && /^[^=]+=./.test(value)) {
    const at = value.indexOf('=');
    storePaths.push([value.slice(0, at), value.slice(at + 1)]);
    i += 2;
  } else if (option === '--host' && value !== undefined && /^[^=]+=./.test(value)) {
    const at = value.indexOf('=');
    hostPaths.push([value.slice(0, at), value.slice(at + 1)]);
    i += 2;
  } else if (option === '--redis-one' && value !== undefined) {
    redisOnePath = value;
    i += 2;
  } else if (option === '--redis-two' && value !== undefined && options[i + 2] !== undefined) {
    redisTwoPaths = [value, options[i + 2]];
    i += 3;
  } else {
    die(`bad option ${option}; ${USAGE}`);
  }
}
const ours = readResult('chipi-session', oursPath);
const sdk = readResult('Chipi SDK', sdkPath);
let config;
if (configText !== undefined) {
  try {
    config = JSON.parse(configText);
  } catch (e) {
    die(`CONFIG_JSON is not JSON: ${e.message}`);
  }
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
for (const { key } of COMMON) {
  if (!isNum(ours[key])) process.stderr.write(`bench_report: warning: chipi-session did not report ${key}\n`);
  if (!isNum(sdk[key])) process.stderr.write(`bench_report: warning: Chipi SDK did not report ${key}\n`);
}
for (const key of OURS_ONLY) {
  if (!isNum(ours[key])) process.stderr.write(`bench_report: warning: chipi-session did not report ${key}\n`);
}

function ratio(numerator, denominator) {
  return isNum(numerator) && isNum(denominator) && denominator !== 0 ? numerator / denominator : null;
}

const ratios = {};
for (const { key, higherIsBetter } of COMMON) {
  ratios[key] = higherIsBetter ? ratio(ours[key], sdk[key]) : ratio(sdk[key], ours[key]);
}

function fmt(v) {
  if (v === undefined || v === null) return '-';
  if (!isNum(v)) return String(v);
  const a = Math.abs(v);
  if (a === 0 || Number.isInteger(v)) return String(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function fmtRatio(r) {
  if (r === null) return 'n/a';
  return `${r >= 100 ? r.toFixed(0) : r.toFixed(2)}x`;
}

const header = ['metric', 'chipi-session', 'Chipi SDK', 'SDK/ours'];
const rows = COMMON.map(({ key, higherIsBetter }) => [
  key,
  fmt(ours[key]),
  fmt(sdk[key]),
  higherIsBetter ? `${fmtRatio(ratios[key])} (ours/SDK)` : fmtRatio(ratios[key]),
]);
for (const key of OURS_ONLY) rows.push([key, fmt(ours[key]), '-', '-']);

// Column 0 left-aligned, the numbers right-aligned; the ratio column left-aligned so that
// the "(ours/SDK)" note does not push the other ratios around.
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) =>
  cells
    .map((c, i) => (i === 0 || i === 3 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
    .join(' | ')
    .trimEnd();
const table = [
  ...(config ? [`config: ${JSON.stringify(config)}`] : []),
  line(header),
  widths.map((w) => '-'.repeat(w)).join('-|-'),
  ...rows.map(line),
  '',
  'Ratio: SDK/ours for times and CPU, ours/SDK for executesPerSecond; above 1 = chipi-session ahead.',
  'Times in ms (instantiateUs in microseconds); clientCpuPerExecuteMs is the client process CPU only.',
].join('\n');

/// Rows of cells as a table: column 0 left-aligned, the others right-aligned.
function grid(head, body) {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const row = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ').trimEnd();
  return [row(head), w.map((n) => '-'.repeat(n)).join('-|-'), ...body.map(row)];
}

// The session stores, one row each.
const stores = {};
const storeLines = [];
for (const [label, path] of storePaths) {
  const result = readResult(`store ${label}`, path);
  const store = result.store;
  if (store === null || typeof store !== 'object') die(`store ${label}: ${path} has no "store" object`);
  for (const key of ['getsPerSecond', 'getMedianUs', 'casPerSecond', 'casMedianUs']) {
    if (!isNum(store[key])) die(`store ${label}: ${path} has no ${key}`);
  }
  stores[label] = store;
}
if (storePaths.length > 0) {
  const first = Object.values(stores)[0];
  storeLines.push(
    '',
    `Session store, one operation after another on one thread (${first.ops} of each, ` +
      `${first.valueBytes}-byte value; compare-and-swap = a successful one, new value each time):`,
    ...grid(
      ['store', 'reads/s', 'read median (us)', 'compare-and-swaps/s', 'compare-and-swap median (us)'],
      Object.entries(stores).map(([label, st]) => [
        label,
        fmt(st.getsPerSecond),
        fmt(st.getMedianUs),
        fmt(st.casPerSecond),
        fmt(st.casMedianUs),
      ]),
    ),
  );
}

// Warm executes with the sessions in one Redis store.
function throughputOf(label, path) {
  const result = readResult(label, path);
  const window = result.throughput;
  if (
    !isNum(result.executesPerSecond) ||
    window === null ||
    typeof window !== 'object' ||
    !isNum(window.executes) ||
    !isNum(window.startUnixMs) ||
    !isNum(window.endUnixMs) ||
    !(window.endUnixMs > window.startUnixMs)
  ) {
    die(`${label}: ${path} has no executesPerSecond and throughput window`);
  }
  return {
    executes: window.executes,
    concurrency: result.concurrency,
    executesPerSecond: result.executesPerSecond,
    startUnixMs: window.startUnixMs,
    endUnixMs: window.endUnixMs,
    sessionStore: result.sessionStore,
  };
}
let sharedRedis;
const sharedLines = [];
if (redisOnePath !== undefined || redisTwoPaths !== undefined) {
  sharedRedis = {};
  const rows = [];
  if (redisOnePath !== undefined) {
    sharedRedis.oneProcess = throughputOf('Redis, one process', redisOnePath);
    rows.push(['1 process', fmt(sharedRedis.oneProcess.executesPerSecond)]);
  }
  if (redisTwoPaths !== undefined) {
    const a = throughputOf('Redis, two processes, A', redisTwoPaths[0]);
    const b = throughputOf('Redis, two processes, B', redisTwoPaths[1]);
    const start = Math.min(a.startUnixMs, b.startUnixMs);
    const end = Math.max(a.endUnixMs, b.endUnixMs);
    const shared = Math.max(0, Math.min(a.endUnixMs, b.endUnixMs) - Math.max(a.startUnixMs, b.startUnixMs));
    const windowSeconds = (end - start) / 1000;
    const combined = (a.executes + b.executes) / windowSeconds;
    sharedRedis.twoProcesses = {
      a,
      b,
      windowSeconds,
      overlapFraction: shared / (end - start),
      combinedExecutesPerSecond: combined,
      definition:
        '(executes of A + executes of B) / (max(end A, end B) - min(start A, start B)); ' +
        "each window is the process's throughput phase (first execute sent to last answer), wall clock",
    };
    rows.push(
      ['2 processes: A alone in its window', fmt(a.executesPerSecond)],
      ['2 processes: B alone in its window', fmt(b.executesPerSecond)],
      [
        `2 processes: combined (overlap ${(sharedRedis.twoProcesses.overlapFraction * 100).toFixed(0)}%)`,
        fmt(combined),
      ],
    );
  }
  const any = sharedRedis.oneProcess ?? sharedRedis.twoProcesses.a;
  sharedLines.push(
    '',
    `Warm executes per second, sessions in one Redis store, one sandbox process ` +
      `(${any.executes} executes per process, ${any.concurrency} in flight, one wallet per process):`,
    ...grid(['run', 'executes/s'], rows),
  );
  if (sharedRedis.twoProcesses) {
    sharedLines.push(
      'Combined = (executes of A + executes of B) / (last end - first start), each window being',
      "the process's throughput phase (first execute sent to last answer), wall clock.",
    );
  }
}

// One warm execute in each host: the same component, the same sandbox, one wallet each.
const hosts = {};
const hostLines = [];
if (hostPaths.length > 0) {
  const rows = [];
  for (const [label, path] of hostPaths) {
    const result = readResult(label, path);
    const cpu = result.cpuPerExecuteMs ?? result.clientCpuPerExecuteMs;
    if (!isNum(cpu) || !isNum(result.executeMedianMs)) {
      die(`${label}: ${path} lacks cpuPerExecuteMs/clientCpuPerExecuteMs or executeMedianMs`);
    }
    hosts[label] = { cpuPerExecuteMs: cpu, executeMedianMs: result.executeMedianMs, result };
    rows.push([label, fmt(cpu), fmt(result.executeMedianMs)]);
  }
  hostLines.push(
    '',
    'One warm execute in each host (the same component and sandbox, one wallet each, ' +
      'executes one after the other, sessions in memory; CPU is the whole client process):',
    ...grid(['host', 'client CPU per execute (ms)', 'median (ms)'], rows),
  );
}

const report = [table, ...storeLines, ...sharedLines, ...hostLines].join('\n');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'table.txt'), `${report}\n`);
writeFileSync(
  join(outDir, 'bench.json'),
  `${JSON.stringify(
    {
      ours,
      sdk,
      ratios,
      ratioNote: 'SDK/ours for times and CPU, ours/SDK for executesPerSecond; above 1 = chipi-session ahead',
      ...(config ? { config } : {}),
      ...(storePaths.length > 0 ? { stores } : {}),
      ...(sharedRedis ? { sharedRedis } : {}),
      ...(hostPaths.length > 0 ? { hosts } : {}),
    },
    null,
    2,
  )}\n`,
);
process.stdout.write(`${report}\n`);
