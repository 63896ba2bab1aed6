#!/usr/bin/env node
// Pins the starknet.js 9.2.1 answers in the SNIP-12 data files:
//
// - snip12_vectors.json: `hash` of every document (typedData.getMessageHash), `encoding` and
//   `hash` of every type hash (encodeType / getTypeHash), struct hashes (getStructHash) and
//   merkle roots (MerkleTree, encodeValue);
// - snip12_corpus.json: `hash` of every entry; snip12_rejected.json: the `error` starknet.js
//   throws. The documents of these two come from tests/interop/gen_corpus.mjs.
//
//   node guest/test-data/generate/snip12.mjs            rewrite the pinned values
//   node guest/test-data/generate/snip12.mjs --check    exit 1 if a file is not current

import { finish, pin, readData, requireInterop } from './interop.mjs';

const { merkle, num, typedData } = requireInterop('starknet');

const hex = (v) => num.toHex(v);

/** The revision starknet.js applies to a document ('1' or '0'). */
function revisionOf(td) {
  const r = td.domain?.revision;
  return r === 1 || r === '1' ? '1' : '0';
}

function vectors() {
  const file = 'snip12_vectors.json';
  const data = readData(file);
  const mismatches = [];
  const byName = new Map(data.documents.map((d) => [d.name, d]));
  for (const d of data.documents) {
    pin(d, 'hash', hex(typedData.getMessageHash(d.typedData, d.account)), d.name, mismatches);
  }
  for (const t of data.typeHashes) {
    const doc = t.document === undefined ? undefined : byName.get(t.document).typedData;
    const types = doc ? doc.types : t.types;
    const revision = doc ? revisionOf(doc) : String(t.revision);
    const what = `${t.document ?? 'types'} ${t.type}`;
    if ('encoding' in t) {
      pin(t, 'encoding', typedData.encodeType(types, t.type, revision), `${what} encoding`, mismatches);
    }
    pin(t, 'hash', hex(typedData.getTypeHash(types, t.type, revision)), `${what} type hash`, mismatches);
  }
  for (const s of data.structHashes) {
    const doc = byName.get(s.document).typedData;
    const value = typedData.getStructHash(doc.types, s.type, doc[s.member], revisionOf(doc));
    pin(s, 'hash', hex(value), `${s.document} ${s.type} struct hash`, mismatches);
  }
  for (const m of data.merkleRoots) {
    let root;
    if (m.types === undefined) {
      root = new merkle.MerkleTree(m.leaves).root;
    } else {
      const ctx = { key: m.key, parent: m.parent };
      root = typedData.encodeValue(m.types, 'merkletree', m.leaves, ctx, String(m.revision))[1];
    }
    pin(m, 'root', hex(root), `merkle ${m.name}`, mismatches);
  }
  finish(file, data, mismatches);
}

function corpus() {
  const file = 'snip12_corpus.json';
  const data = readData(file);
  const mismatches = [];
  for (const e of data) {
    pin(e, 'hash', hex(typedData.getMessageHash(e.typedData, e.account)), e.name, mismatches);
  }
  finish(file, data, mismatches);
}

function rejected() {
  const file = 'snip12_rejected.json';
  const data = readData(file);
  const mismatches = [];
  for (const e of data) {
    let error;
    try {
      typedData.getMessageHash(e.typedData, e.account);
      error = null;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    pin(e, 'error', error, e.name, mismatches);
  }
  finish(file, data, mismatches);
}

vectors();
corpus();
rejected();
