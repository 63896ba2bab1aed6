#!/usr/bin/env node
// Pins the starknet.js 9.2.1 answers in signatures.json: `publicKey` of every key
// (ec.starkCurve.getStarkKey) and `r`, `s`, `recovery` of every signature
// (ec.starkCurve.sign, RFC 6979 as @scure/starknet implements it).
//
//   node guest/test-data/generate/signatures.mjs            rewrite the pinned values
//   node guest/test-data/generate/signatures.mjs --check    exit 1 if the file is not current

import { finish, pin, readData, requireInterop } from './interop.mjs';

const { ec, num } = requireInterop('starknet');

const file = 'signatures.json';
const data = readData(file);
const mismatches = [];
for (const k of data.publicKeys) {
  pin(k, 'publicKey', num.toHex(ec.starkCurve.getStarkKey(k.privateKey)), `public key of ${k.privateKey}`, mismatches);
}
for (const s of data.signatures) {
  const sig = ec.starkCurve.sign(s.hash, s.privateKey);
  const what = `signature of ${s.hash} by ${s.privateKey}`;
  pin(s, 'r', num.toHex(sig.r), `${what}: r`, mismatches);
  pin(s, 's', num.toHex(sig.s), `${what}: s`, mismatches);
  pin(s, 'recovery', sig.recovery, `${what}: recovery`, mismatches);
}
finish(file, data, mismatches);
