#!/usr/bin/env node
// Formats the results of scripts/bench.sh: our CLI's `bench` JSON next to the Chipi SDK's
// (tests/interop/sdk_bench.mjs), with ratios.
//
// Usage: node scripts/bench_report.mjs OURS.json SDK.json OUT_DIR [CONFIG_JSON]
//
// Prints the table on stdout and writes OUT_DIR/table.txt and OUT_DIR/bench.json
// ({ours, sdk, ratios, ratioNote, config}). The ratio is SDK/ours for times and CPU, and
// ours/SDK for executesPerSecond, so a ratio above 1 always means chipi-session is ahead.
// CONFIG_JSON (optional) is a JSON object describing the run; it is printed above the table
// and stored as `config`. Exit 1 when an input is not a JSON object or reports an error.
// Node built-ins only.

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

const [oursPath, sdkPath, outDir, configText] = process.argv.slice(2);
if (!oursPath || !sdkPath || !outDir) {
  die('usage: node scripts/bench_report.mjs OURS.json SDK.json OUT_DIR [CONFIG_JSON]');
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

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'table.txt'), `${table}\n`);
writeFileSync(
  join(outDir, 'bench.json'),
  `${JSON.stringify(
    {
      ours,
      sdk,
      ratios,
      ratioNote: 'SDK/ours for times and CPU, ours/SDK for executesPerSecond; above 1 = chipi-session ahead',
      ...(config ? { config } : {}),
    },
    null,
    2,
  )}\n`,
);
process.stdout.write(`${table}\n`);
