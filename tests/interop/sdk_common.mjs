// Shared by sdk_client.mjs and sdk_bench.mjs: console redirection, argument file reading,
// loading and constructing Chipi's SDK (@chipi-stack/backend), and the single-JSON output.

import { readFileSync } from 'node:fs';

/// The SDK logs progress with console.log; keep stdout for the single JSON document.
export function redirectConsoleToStderr() {
  for (const level of ['log', 'info', 'debug', 'warn']) {
    console[level] = (...args) => console.error(...args);
  }
}

/// Prints `prog: message` on stderr and exits with `code`.
export function fail(prog, code, message) {
  process.stderr.write(`${prog}: ${message}\n`);
  process.exit(code);
}

/// Reads the ARGS.json named on the command line; exits 2 when it is missing, unreadable or
/// lacks one of the `required` fields.
export function readArgs(prog, required) {
  const argsPath = process.argv[2];
  if (!argsPath) fail(prog, 2, `usage: node ${prog}.mjs ARGS.json`);
  let args;
  try {
    args = JSON.parse(readFileSync(argsPath, 'utf8'));
  } catch (e) {
    fail(prog, 2, `cannot read ${argsPath}: ${e.message}`);
  }
  for (const field of required) {
    if (args[field] === undefined) fail(prog, 2, `missing '${field}' in ${argsPath}`);
  }
  return args;
}

/// Imports the SDK and returns its `ChipiSDK` class.
///
/// @chipi-stack/shared reads STARKNET_RPC_URL once, when it is first imported, to build
/// WALLET_RPC_ENDPOINTS (the only RPC URL the session methods use). It is set here, before
/// loading.
export async function importChipiSdk(args) {
  if (args.rpcUrl) process.env.STARKNET_RPC_URL = args.rpcUrl;
  const { ChipiSDK } = await import('@chipi-stack/backend');
  return ChipiSDK;
}

/// Constructs the SDK for the backend that `args` names.
export function newChipiSdk(ChipiSDK, args) {
  return new ChipiSDK({
    apiPublicKey: args.apiKey,
    alphaUrl: args.apiUrl, // SDK strips a trailing /vN and appends /v1
    ...(args.rpcUrl ? { nodeUrl: args.rpcUrl } : {}), // stored by the SDK, unused by sessions
  });
}

/// The `error` object of the output: the failed step and what the SDK's error carries.
export function describeError(step, e) {
  return {
    step,
    name: e?.name ?? 'Error',
    message: e?.message ?? String(e),
    ...(e?.code !== undefined ? { code: e.code } : {}),
    ...(e?.status !== undefined ? { status: e.status } : {}),
  };
}

/// Writes `obj` as one line of JSON on stdout, then exits with `code` once it is flushed.
export function emit(obj, code) {
  process.stdout.write(`${JSON.stringify(obj)}\n`, () => process.exit(code));
}
