#!/usr/bin/env node
// Differential-testing referee: answers a batch of questions with the JavaScript
// implementations our Rust code must agree with (starknet.js 9.2.1, @scure/starknet via
// starknet's `ec`, crypto-es 2.1.0 through Chipi's own encrypt/decrypt helpers).
//
// Protocol: read ONE JSON document from stdin, `{"ops": [op, ...]}`; write ONE JSON document
// to stdout, `{"results": [result, ...]}`, same length and order. A failing op yields
// `{"error": "<message>"}` in its slot and never aborts the batch. Nothing else is printed on
// stdout (anything a library logs is sent to stderr). Exit code 0 when the batch was
// answered, 2 when the input was not a valid batch. See README.md for every op.

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ec, num, typedData } from 'starknet';

// Whatever a library prints must not corrupt the single JSON document on stdout.
for (const level of ['log', 'info', 'debug', 'warn']) {
  console[level] = (...args) => console.error(...args);
}

const curve = ec.starkCurve;

function errorMessage(e) {
  if (e instanceof Error) return e.message;
  return String(e);
}

function need(op, field) {
  const v = op[field];
  if (v === undefined || v === null) throw new Error(`missing field '${field}'`);
  return v;
}

// ---- lazy loaders (keep start-up cheap when a batch needs only curve / hash work) ----
let chipiCrypto;
async function loadChipiCrypto() {
  if (!chipiCrypto) {
    const backend = await import('@chipi-stack/backend');
    const CryptoES = (await import('crypto-es')).default;
    chipiCrypto = {
      encryptPrivateKey: backend.encryptPrivateKey,
      decryptPrivateKey: backend.decryptPrivateKey,
      CryptoES,
    };
  }
  return chipiCrypto;
}

// ---- ops ----

function opStarkKey(op) {
  return { publicKey: num.toHex(curve.getStarkKey(need(op, 'privateKey'))) };
}

function revisionOf(td) {
  const t = td && td.types ? td.types : {};
  const d = td && td.domain ? td.domain : {};
  if ('StarknetDomain' in t && d.revision?.toString() === '1') return 1;
  return 0;
}

function opMessageHash(op) {
  const td = need(op, 'typedData');
  const account = need(op, 'account');
  const out = { hash: num.toHex(typedData.getMessageHash(td, account)) };
  if (op.detail) {
    const rev = revisionOf(td);
    const revStr = rev === 1 ? '1' : '0';
    const domainType = rev === 1 ? 'StarknetDomain' : 'StarkNetDomain';
    out.revision = rev;
    out.domainTypeHash = num.toHex(typedData.getTypeHash(td.types, domainType, revStr));
    out.domainHash = num.toHex(typedData.getStructHash(td.types, domainType, td.domain, revStr));
    out.primaryTypeHash = num.toHex(typedData.getTypeHash(td.types, td.primaryType, revStr));
    out.primaryTypeEncoding = typedData.encodeType(td.types, td.primaryType, revStr);
    out.messageHash = num.toHex(
      typedData.getStructHash(td.types, td.primaryType, td.message, revStr),
    );
    out.typeHashes = {};
    for (const name of Object.keys(td.types)) {
      try {
        out.typeHashes[name] = num.toHex(typedData.getTypeHash(td.types, name, revStr));
      } catch (e) {
        out.typeHashes[name] = `error: ${errorMessage(e)}`;
      }
    }
  }
  return out;
}

function opSign(op) {
  const sig = curve.sign(need(op, 'hash'), need(op, 'privateKey'));
  return { r: num.toHex(sig.r), s: num.toHex(sig.s), recovery: sig.recovery };
}

// Compressed SEC1 encodings (02/03 || x, 32 bytes) of the two points with this x.
function pointsForStarkKey(x) {
  const hex = BigInt(x).toString(16).padStart(64, '0');
  if (hex.length > 64) throw new Error('public key does not fit in 32 bytes');
  return [
    { parity: 'even', key: `02${hex}` },
    { parity: 'odd', key: `03${hex}` },
  ];
}

function verifyOne(sig, hash, key) {
  try {
    return curve.verify(sig, hash, key);
  } catch (e) {
    // a point that is not on the curve, r or s out of range, hash >= 2^251 ...
    return { threw: errorMessage(e) };
  }
}

function opVerify(op) {
  const hash = need(op, 'hash');
  const r = BigInt(need(op, 'r'));
  const s = BigInt(need(op, 's'));
  let sig;
  try {
    sig = new curve.Signature(r, s);
  } catch (e) {
    return { valid: false, error: errorMessage(e) };
  }
  // 1) an explicit full point (uncompressed 04.. or compressed 02/03..), or one derived from a
  //    private key: exactly @scure/starknet's verify against that single point.
  let fullKey = op.fullPublicKey;
  if (fullKey === undefined && op.privateKey !== undefined) {
    fullKey = Buffer.from(curve.getPublicKey(op.privateKey, false)).toString('hex');
  }
  if (fullKey !== undefined) {
    const res = verifyOne(sig, hash, String(fullKey).replace(/^0x/i, ''));
    if (typeof res === 'object') return { valid: false, error: res.threw };
    return { valid: res };
  }
  // 2) a Stark key (x coordinate only), which is what accounts store: valid when the
  //    signature verifies against either point with that x, as Cairo's check_ecdsa_signature
  //    and starknet-crypto's verify do.
  const points = pointsForStarkKey(need(op, 'publicKey'));
  const matched = [];
  const errors = [];
  for (const { parity, key } of points) {
    const res = verifyOne(sig, hash, key);
    if (res === true) matched.push(parity);
    else if (typeof res === 'object') errors.push(res.threw);
  }
  const out = { valid: matched.length > 0, matchedY: matched };
  if (matched.length === 0 && errors.length === points.length) out.error = errors[0];
  return out;
}

async function opEncryptCryptoJs(op) {
  const plaintext = need(op, 'plaintext');
  const passphrase = need(op, 'passphrase');
  const { encryptPrivateKey, CryptoES } = await loadChipiCrypto();
  if (op.salt === undefined) {
    // Chipi SDK's own helper: CryptoES.AES.encrypt(privateKey, password).toString()
    return { ciphertext: encryptPrivateKey(plaintext, passphrase) };
  }
  // Deterministic variant for fixed vectors: same call with an explicit 8-byte salt.
  const saltHex = String(op.salt).replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{16}$/.test(saltHex)) throw new Error('salt must be 8 bytes of hex');
  const salt = CryptoES.enc.Hex.parse(saltHex);
  return { ciphertext: CryptoES.AES.encrypt(plaintext, passphrase, { salt }).toString() };
}

async function opDecryptCryptoJs(op) {
  const ciphertext = need(op, 'ciphertext');
  const passphrase = need(op, 'passphrase');
  const { decryptPrivateKey, CryptoES } = await loadChipiCrypto();
  // What crypto-es itself does (the raw library behaviour)...
  let out;
  try {
    const bytes = CryptoES.AES.decrypt(ciphertext, passphrase);
    out = { plaintext: bytes.toString(CryptoES.enc.Utf8) };
  } catch (e) {
    out = { error: errorMessage(e) };
  }
  // ...and what Chipi's decryptPrivateKey (which wraps it) reports.
  try {
    out.sdk = { plaintext: decryptPrivateKey(ciphertext, passphrase) };
  } catch (e) {
    out.sdk = { error: errorMessage(e) };
  }
  return out;
}

const OPS = {
  starkKey: opStarkKey,
  messageHash: opMessageHash,
  sign: opSign,
  verify: opVerify,
  encryptCryptoJs: opEncryptCryptoJs,
  decryptCryptoJs: opDecryptCryptoJs,
};

async function runOp(op) {
  if (!op || typeof op !== 'object' || Array.isArray(op)) return { error: 'op must be an object' };
  const fn = OPS[op.op];
  if (!fn) return { error: `unknown op '${op.op}'` };
  try {
    return await fn(op);
  } catch (e) {
    return { error: errorMessage(e) };
  }
}

export async function runBatch(ops) {
  const results = new Array(ops.length);
  for (let i = 0; i < ops.length; i += 1) {
    results[i] = await runOp(ops[i]);
  }
  return results;
}

// Optional parallelism for big batches: REFEREE_JOBS=n splits the batch into n contiguous
// chunks answered by n worker threads (each loads starknet.js once, ~0.3 s). Results keep
// the input order. Default 1: the tests' CPU budget is the caller's decision.
async function runBatchParallel(ops, jobs) {
  const size = Math.ceil(ops.length / jobs);
  const chunks = [];
  for (let i = 0; i < ops.length; i += size) chunks.push(ops.slice(i, i + size));
  const parts = await Promise.all(
    chunks.map(
      (chunk) =>
        new Promise((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), { workerData: { ops: chunk } });
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (code) => {
            if (code !== 0) reject(new Error(`referee worker exited with ${code}`));
          });
        }),
    ),
  );
  return parts.flat();
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function writeAndExit(text, code) {
  process.stdout.write(text, () => process.exit(code));
}

async function main() {
  let batch;
  try {
    batch = JSON.parse(await readStdin());
  } catch (e) {
    process.stderr.write(`referee: input is not JSON: ${errorMessage(e)}\n`);
    process.exit(2);
  }
  if (!batch || !Array.isArray(batch.ops)) {
    process.stderr.write('referee: expected {"ops": [...]} on stdin\n');
    process.exit(2);
  }
  const jobs = Math.max(1, Number.parseInt(process.env.REFEREE_JOBS ?? '1', 10) || 1);
  const results =
    jobs > 1 && batch.ops.length >= 2 * jobs
      ? await runBatchParallel(batch.ops, jobs)
      : await runBatch(batch.ops);
  writeAndExit(`${JSON.stringify({ results })}\n`, 0);
}

// Run as a program; stay importable (check_corpus.mjs reuses runBatch).
if (!isMainThread && workerData && Array.isArray(workerData.ops)) {
  runBatch(workerData.ops).then((results) => parentPort.postMessage(results));
}

const invokedAsProgram =
  isMainThread &&
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (invokedAsProgram) {
  main().catch((e) => {
    process.stderr.write(`referee: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}
