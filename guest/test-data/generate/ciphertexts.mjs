#!/usr/bin/env node
// Pins the ciphertext vectors:
//
// - cryptojs.json: the plaintext crypto-es 2.1.0 decrypts from each ciphertext; the
//   EVP_BytesToKey (MD5, one iteration) key and IV; fixed-salt AES-256-CBC encryptions in
//   OpenSSL's `Salted__` format (node:crypto);
// - envelope.json: the Argon2id key (@noble/hashes) and the v1.argon2id envelope
//   (node:crypto AES-256-GCM) of every known answer; the HKDF-SHA256 key (node:crypto
//   hkdfSync) and the v1.hkdf-sha256 envelope (node:crypto AES-256-GCM) of every HKDF known
//   answer.
//
//   node guest/test-data/generate/ciphertexts.mjs            rewrite the pinned values
//   node guest/test-data/generate/ciphertexts.mjs --check    exit 1 if a file is not current

import { createCipheriv, createHash, hkdfSync } from 'node:crypto';
import { finish, importInterop, pin, readData, requireInterop } from './interop.mjs';

const { argon2id } = requireInterop('@noble/hashes/argon2');
const { ec } = requireInterop('starknet');
const CryptoES = (await importInterop('crypto-es')).default;

/** OpenSSL EVP_BytesToKey(AES-256-CBC, MD5, count 1): 32 bytes of key, 16 of IV. */
function evpBytesToKey(passphrase, salt) {
  const pass = Buffer.from(passphrase, 'utf8');
  let out = Buffer.alloc(0);
  let previous = Buffer.alloc(0);
  while (out.length < 48) {
    previous = createHash('md5').update(Buffer.concat([previous, pass, salt])).digest();
    out = Buffer.concat([out, previous]);
  }
  return { key: out.subarray(0, 32), iv: out.subarray(32, 48) };
}

function cryptojs() {
  const file = 'cryptojs.json';
  const data = readData(file);
  const mismatches = [];
  for (const c of data.ciphertexts) {
    const plaintext = CryptoES.AES.decrypt(c.ciphertext, c.passphrase).toString(CryptoES.enc.Utf8);
    pin(c, 'plaintext', plaintext, `plaintext of ${c.ciphertext}`, mismatches);
  }
  for (const k of data.keyDerivations) {
    const { key, iv } = evpBytesToKey(k.passphrase, Buffer.from(k.salt, 'hex'));
    const what = `EVP_BytesToKey(${JSON.stringify(k.passphrase)}, ${k.salt})`;
    pin(k, 'key', key.toString('hex').toUpperCase(), `${what} key`, mismatches);
    pin(k, 'iv', iv.toString('hex').toUpperCase(), `${what} iv`, mismatches);
  }
  for (const e of data.encryptions) {
    const salt = Buffer.from(e.salt, 'hex');
    const { key, iv } = evpBytesToKey(e.passphrase, salt);
    const cipher = createCipheriv('aes-256-cbc', key, iv);
    const body = Buffer.concat([cipher.update(e.plaintext, 'utf8'), cipher.final()]);
    const text = Buffer.concat([Buffer.from('Salted__'), salt, body]).toString('base64');
    pin(e, 'ciphertext', text, `encryption of ${JSON.stringify(e.plaintext)}`, mismatches);
  }
  finish(file, data, mismatches);
}

/** A felt as 32 big-endian bytes. */
function felt32(value) {
  return Buffer.from(BigInt(value).toString(16).padStart(64, '0'), 'hex');
}

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

function envelope() {
  const file = 'envelope.json';
  const data = readData(file);
  const mismatches = [];
  for (const a of data.knownAnswers) {
    const salt = Buffer.from(a.salt, 'hex');
    const nonce = Buffer.from(a.nonce, 'hex');
    const { m, t, p } = a.params;
    const derived = Buffer.from(
      argon2id(Buffer.from(a.encryptKey, 'utf8'), salt, { t, m, p, dkLen: 32, version: 0x13 }),
    );
    const slot = a.kind === 'owner' ? 0n : BigInt(ec.starkCurve.getStarkKey(a.privateKey));
    const ad = Buffer.concat([Buffer.from('chipi-session/v1|'), felt32(a.wallet), felt32(slot)]);
    const cipher = createCipheriv('aes-256-gcm', derived, nonce);
    cipher.setAAD(ad);
    const body = Buffer.concat([cipher.update(felt32(a.privateKey)), cipher.final(), cipher.getAuthTag()]);
    const text = `v1.argon2id.m=${m},t=${t},p=${p}.${b64url(salt)}.${b64url(nonce)}.${b64url(body)}`;
    pin(a, 'derivedKey', derived.toString('hex'), `${a.kind} ${a.privateKey} derived key`, mismatches);
    pin(a, 'envelope', text, `${a.kind} ${a.privateKey} envelope`, mismatches);
  }
  for (const a of data.hkdfKnownAnswers) {
    const salt = Buffer.from(a.salt, 'hex');
    const nonce = Buffer.from(a.nonce, 'hex');
    if (a.encryptKeyKind !== 'high-entropy') throw new Error(`${a.encryptKey}: not of kind high-entropy`);
    const ikm = Buffer.from(a.encryptKey, 'base64url');
    if (ikm.length < 32 || ikm.length > 64) throw new Error(`${a.encryptKey}: ${ikm.length} key bytes`);
    const slot = a.kind === 'owner' ? 0n : BigInt(ec.starkCurve.getStarkKey(a.privateKey));
    const ad = Buffer.concat([Buffer.from('chipi-session/v1|'), felt32(a.wallet), felt32(slot)]);
    const info = Buffer.concat([Buffer.from('chipi-session/v1/hkdf|'), ad]);
    const derived = Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
    const cipher = createCipheriv('aes-256-gcm', derived, nonce);
    cipher.setAAD(ad);
    const body = Buffer.concat([cipher.update(felt32(a.privateKey)), cipher.final(), cipher.getAuthTag()]);
    const text = `v1.hkdf-sha256.${b64url(salt)}.${b64url(nonce)}.${b64url(body)}`;
    pin(a, 'derivedKey', derived.toString('hex'), `hkdf ${a.kind} ${a.privateKey} derived key`, mismatches);
    pin(a, 'envelope', text, `hkdf ${a.kind} ${a.privateKey} envelope`, mismatches);
  }
  finish(file, data, mismatches);
}

cryptojs();
envelope();
