// Test helpers: a sandbox (the chipi-session CLI's `sandbox` command) per
// test file, fresh wallets, transfers.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const PIN = '1234';
export const RECIPIENT = '0xc0ffee';
export const TOKEN = '0x049d36570d4e46f48e99674bd3fcc84644ddd6b96f7c741b1562b82f9e004dc7';

/** The CLI binary from CHIPI_SESSION_BIN; fails (never skips) when it is missing. */
export function cliBinary() {
  const bin = process.env.CHIPI_SESSION_BIN;
  if (!bin) {
    throw new Error(
      'CHIPI_SESSION_BIN is not set: point it at the chipi-session binary ' +
        '(e.g. target/release/chipi-session, built with `cargo build --release -p chipi-session-cli`)',
    );
  }
  if (!existsSync(bin)) throw new Error(`CHIPI_SESSION_BIN=${bin} does not exist`);
  return bin;
}

/** Every process started here, killed on exit even when a test throws. */
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * Start `chipi-session --json sandbox` on a free loopback port.
 *
 * @returns {Promise<{apiUrl: string, rpcUrl: string, apiKey: string, bearerToken: string,
 *   wallet: object, base: string, port: number, stop: () => Promise<void>}>}
 */
export async function startSandbox() {
  const bin = cliBinary();
  const dir = mkdtempSync(join(tmpdir(), 'chipi-node-sandbox-'));
  const walletPath = join(dir, 'wallet.json');
  const child = spawn(
    bin,
    ['--json', 'sandbox', '--listen', '127.0.0.1:0', '--pin', PIN, '--wallet-out', walletPath],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } },
  );
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    children.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const line = await new Promise((resolve, reject) => {
      const rl = createInterface({ input: child.stdout });
      const timer = setTimeout(() => reject(new Error(`sandbox did not start in 20 s: ${stderr}`)), 20_000);
      rl.once('line', (l) => {
        clearTimeout(timer);
        resolve(l);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sandbox exited (${code}): ${stderr}`));
      });
    });
    const info = JSON.parse(line);
    const wallet = JSON.parse(readFileSync(walletPath, 'utf8'));
    const base = new URL(info.apiUrl).origin;
    return { ...info, wallet, base, port: Number(new URL(info.apiUrl).port), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A new wallet of the sandbox (`walletType` CHIPI or READY). */
export async function newWallet(sb, walletType = 'CHIPI', pin = PIN) {
  const res = await fetch(`${sb.base}/sandbox/wallets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pin, walletType }),
  });
  if (res.status !== 201) throw new Error(`creating a wallet: HTTP ${res.status} ${await res.text()}`);
  const w = await res.json();
  return { publicKey: w.publicKey, encryptedPrivateKey: w.encryptedPrivateKey, walletType: w.walletType };
}

/** Requests the sandbox recorded (API and RPC, not admin). */
export async function recordedRequests(sb) {
  const res = await fetch(`${sb.base}/sandbox/requests`);
  return res.json();
}

/** Transactions the sandbox executed. */
export async function transactions(sb) {
  const res = await fetch(`${sb.base}/sandbox/transactions`);
  return res.json();
}

/** The session config for a sandbox. */
export function configFor(sb, extra = {}) {
  return { apiBaseUrl: sb.apiUrl, apiKey: sb.apiKey, rpcUrls: [sb.rpcUrl], ...extra };
}

/** A transfer of `amount` (distinct amounts are distinct intents). */
export function transfer(amount) {
  return { contractAddress: TOKEN, entrypoint: 'transfer', calldata: [RECIPIENT, `0x${amount.toString(16)}`, '0x0'] };
}

/** Set the sandbox's faults (`POST /sandbox/faults`, snake_case knobs). */
export async function setFaults(sb, faults) {
  const res = await fetch(`${sb.base}/sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
  if (!res.ok) throw new Error(`setting faults: HTTP ${res.status} ${await res.text()}`);
}

/** Clear the sandbox's faults (`DELETE /sandbox/faults`). */
export async function clearFaults(sb) {
  const res = await fetch(`${sb.base}/sandbox/faults`, { method: 'DELETE' });
  if (!res.ok) throw new Error(`clearing faults: HTTP ${res.status} ${await res.text()}`);
}
