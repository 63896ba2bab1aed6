#!/usr/bin/env node
// Regenerates guest/test-data/snip12_corpus.json and snip12_rejected.json.
//
//   node gen_corpus.mjs            write both files
//   node gen_corpus.mjs --check    fail if the files on disk differ from what would be written
//
// Every accepted entry is `{name, account, typedData, hash}`, where `hash` is what
// starknet.js 9.2.1 `typedData.getMessageHash(typedData, account)` returns (normalized with
// num.toHex). Every rejected entry is `{name, account, typedData, error}` with the message
// starknet.js throws. Names are prefixed by family: r0/ (revision 0, Pedersen), r1/
// (revision 1, Poseidon), oe/ (paymaster outside execution, SNIP-9 v2 on SNIP-12 rev 1),
// quirk/ (hashes in starknet.js only because of a representation quirk; see README.md).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, num, outsideExecution, typedData } from 'starknet';
import { ANY_CALLER, OE_TYPES, SN_SEPOLIA_HEX } from './snip9.mjs';

const here = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------- constants
const SN_MAIN_HEX = '0x534e5f4d41494e';
const SN_SEPOLIA_DEC = BigInt(SN_SEPOLIA_HEX).toString(10);
const ACCOUNT = '0x0635e6e4f8a7eb1f8f2a9ba7f9cf1e0a8f6e2f3c3b4e2e1f0a9b8c7d6e5f4a3b';
const ACCOUNT_2 = '0x3a5b1c9d7e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c3d5e7f9a2b4c6d8e0f1a3';
const STRK = '0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d';
const USDC = '0x033068f6539f8e6e6b131e6b2b814e6c34a5224bc66947c47dab9dfee93b35fb';
const RECIPIENT = '0x05f2da5b9d0b0b2e6f3e3b7c1a8d9e4f2c6b7a8d9e0f1a2b3c4d5e6f7a8b9c0d';
const SPENDER = '0x02d65bb726d2c29e3c97669cf297c5145eac19284fb6f935c05c0bfc68dae2b7';
const SESSION_PUB = '0x2abbefdcbf731195ee2acd186441eb536e86f888327b3655cffbd07b57dbf26';
const SEL = {
  transfer: '0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e',
  approve: '0x219209e083275171774dab1df80982e9df2096516f06319c5c6d71ae0a8480c',
  add_or_update_session_key: '0x27d4f8b711f8a318b18cac75c0b7c9941844dbbece6f62ca10111055acb64c1',
};
const P = (1n << 251n) + 17n * (1n << 192n) + 1n;
const U128_MAX = (1n << 128n) - 1n;
const I128_MIN = -(1n << 127n);
const I128_MAX = (1n << 127n) - 1n;
const hex = (v) => `0x${BigInt(v).toString(16)}`;
const dec = (v) => BigInt(v).toString(10);
const clone = (v) => JSON.parse(JSON.stringify(v));

// A fixed "now" keeps the corpus reproducible; paymasters use now - 60 s / now + ttl.
const NOW = 1_764_000_000;
const AFTER = NOW - 60;
const BEFORE = NOW + 3600;
const NONCE = '0x6a5f0e2c1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3';

// ---------------------------------------------------------------- outside execution (v2)

const transferCall = (amount = 1_000_000n, token = USDC, selector = SEL.transfer) => ({
  To: token,
  Selector: selector,
  Calldata: [RECIPIENT, hex(amount), '0x0'],
});
const approveCall = (amount = 5_000_000n, selector = SEL.approve) => ({
  To: USDC,
  Selector: selector,
  Calldata: [SPENDER, hex(amount), '0x0'],
});

function oe({
  chainId = SN_SEPOLIA_HEX,
  version = '2',
  revision = '1',
  caller = ANY_CALLER,
  nonce = NONCE,
  after = hex(AFTER),
  before = hex(BEFORE),
  calls = [transferCall()],
  types = OE_TYPES,
} = {}) {
  return {
    types: clone(types),
    primaryType: 'OutsideExecution',
    domain: { name: 'Account.execute_from_outside', version, chainId, revision },
    message: {
      Caller: caller,
      Nonce: nonce,
      'Execute After': after,
      'Execute Before': before,
      Calls: calls,
    },
  };
}

const accepted = [];
const rejected = [];
const add = (name, td, account = ACCOUNT) => accepted.push({ name, account, typedData: td });
const reject = (name, td, account = ACCOUNT) => rejected.push({ name, account, typedData: td });

// -- canonical paymaster shape: every number a 0x-hex string, hex selectors, hex chain id
add('oe/paymaster_canonical_sepolia', oe());
add('oe/paymaster_canonical_mainnet', oe({ chainId: SN_MAIN_HEX }));
// -- chain id representations
add('oe/chain_shortstring_sepolia', oe({ chainId: 'SN_SEPOLIA' }));
add('oe/chain_shortstring_mainnet', oe({ chainId: 'SN_MAIN' }));
add('oe/chain_decimal_string_sepolia', oe({ chainId: SN_SEPOLIA_DEC }));
add('oe/chain_starknetjs_constant', oe({ chainId: constants.StarknetChainId.SN_SEPOLIA }));
// -- version / revision representations
add('oe/version_number', oe({ version: 2 }));
add('oe/version_hex_string', oe({ version: '0x2' }));
add('oe/revision_number', oe({ revision: 1 }));
add('oe/version_and_revision_numbers', oe({ version: 2, revision: 1 }));
add('oe/version_and_revision_numbers_mainnet_shortstring', oe({ chainId: 'SN_MAIN', version: 2, revision: 1 }));
// -- selector as a function name instead of the hex selector
add('oe/selector_name', oe({ calls: [transferCall(1_000_000n, USDC, 'transfer')] }));
add('oe/selector_name_mainnet_shortstring', oe({ chainId: 'SN_MAIN', calls: [transferCall(1_000_000n, USDC, 'transfer')] }));
add('oe/selector_hex_uppercase_digits', oe({ calls: [transferCall(1_000_000n, USDC, SEL.transfer.toUpperCase().replace('0X', '0x'))] }));
add('oe/selector_hex_zero_padded', oe({ calls: [transferCall(1_000_000n, USDC, `0x${SEL.transfer.slice(2).padStart(64, '0')}`)] }));
// -- number representations
add(
  'oe/decimal_strings',
  oe({
    caller: dec(ANY_CALLER),
    nonce: dec(NONCE),
    after: dec(AFTER),
    before: dec(BEFORE),
    calls: [{ To: dec(USDC), Selector: SEL.transfer, Calldata: [dec(RECIPIENT), '1000000', '0'] }],
  }),
);
add(
  'oe/json_numbers',
  oe({
    nonce: 42,
    after: AFTER,
    before: BEFORE,
    calls: [{ To: USDC, Selector: SEL.transfer, Calldata: [RECIPIENT, 1000000, 0] }],
  }),
);
add(
  'oe/mixed_representations',
  oe({
    chainId: 'SN_SEPOLIA',
    version: 2,
    revision: '1',
    nonce: dec(NONCE),
    after: AFTER,
    before: hex(BEFORE),
    calls: [
      { To: USDC, Selector: 'approve', Calldata: [SPENDER, '5000000', 0] },
      { To: dec(STRK), Selector: SEL.transfer, Calldata: [dec(RECIPIENT), hex(7n), '0x0'] },
    ],
  }),
);
add(
  'oe/uppercase_hex_digits',
  oe({
    nonce: `0x${NONCE.slice(2).toUpperCase()}`,
    calls: [{ To: `0x${USDC.slice(2).toUpperCase()}`, Selector: SEL.transfer, Calldata: [`0x${RECIPIENT.slice(2).toUpperCase()}`, '0xF4240', '0x0'] }],
  }),
);
add(
  'oe/unpadded_hex',
  oe({
    calls: [{ To: hex(USDC), Selector: SEL.transfer, Calldata: [hex(RECIPIENT), '0xf4240', '0x0'] }],
  }),
);
add('oe/account_unpadded', oe(), hex(ACCOUNT));
add('oe/account_other', oe({ chainId: 'SN_MAIN' }), ACCOUNT_2);
// -- calls
add('oe/two_calls_approve_transfer', oe({ calls: [approveCall(), transferCall()] }));
add(
  'oe/three_calls_mixed_selectors',
  oe({
    calls: [approveCall(5n, 'approve'), transferCall(3n, STRK), transferCall(2n, USDC, 'transfer')],
  }),
);
add('oe/empty_calldata', oe({ calls: [{ To: USDC, Selector: SEL.transfer, Calldata: [] }] }));
add(
  'oe/empty_calldata_two_calls_names',
  oe({
    calls: [
      { To: USDC, Selector: 'claim', Calldata: [] },
      { To: STRK, Selector: 'sync', Calldata: [] },
    ],
  }),
);
add('oe/no_calls', oe({ calls: [] }));
add(
  'oe/long_calldata',
  oe({ calls: [{ To: STRK, Selector: 'multicall_like', Calldata: Array.from({ length: 64 }, (_, i) => hex(i * 7919 + 1)) }] }),
);
add('oe/amount_u256_high_word', oe({ calls: [{ To: USDC, Selector: SEL.transfer, Calldata: [RECIPIENT, hex(U128_MAX), '0x1'] }] }));
// -- caller / nonce / time bounds
add('oe/caller_specific_address', oe({ caller: SPENDER }));
add('oe/caller_zero', oe({ caller: '0x0' }));
add('oe/nonce_small', oe({ nonce: '0x1' }));
add('oe/nonce_max_felt', oe({ nonce: hex(P - 1n) }));
add('oe/execute_after_zero', oe({ after: '0x0' }));
add('oe/execute_before_u128_max', oe({ before: hex(U128_MAX) }));
add('oe/execute_before_u128_max_decimal', oe({ before: dec(U128_MAX) }));
// -- session-management transactions (owner signed) as the paymaster would return them
add(
  'oe/register_session_empty_whitelist',
  oe({
    calls: [
      {
        To: ACCOUNT,
        Selector: SEL.add_or_update_session_key,
        Calldata: [SESSION_PUB, hex(NOW + 21600), hex(1000), '0x0'],
      },
    ],
  }),
);
add(
  'oe/register_session_whitelist',
  oe({
    calls: [
      {
        To: ACCOUNT,
        Selector: SEL.add_or_update_session_key,
        Calldata: [SESSION_PUB, hex(NOW + 21600), hex(10), '0x2', SEL.transfer, SEL.approve],
      },
    ],
  }),
);
add('oe/revoke_session', oe({ calls: [{ To: ACCOUNT, Selector: 'revoke_session_key', Calldata: [SESSION_PUB] }] }));
add(
  'oe/set_spending_policy',
  oe({
    calls: [
      {
        To: ACCOUNT,
        Selector: 'set_spending_policy',
        Calldata: [SESSION_PUB, USDC, hex(1_000_000n), '0x0', hex(50_000_000n), '0x0', hex(86400)],
      },
    ],
  }),
);
add('oe/remove_spending_policy', oe({ calls: [{ To: ACCOUNT, Selector: 'remove_spending_policy', Calldata: [SESSION_PUB, USDC] }] }));
// -- JSON shape variations that must not matter
{
  const td = oe();
  const shuffled = { Call: td.types.Call, OutsideExecution: td.types.OutsideExecution, StarknetDomain: td.types.StarknetDomain };
  add('oe/types_key_order_shuffled', { message: td.message, domain: td.domain, primaryType: td.primaryType, types: shuffled });
  const d = td.domain;
  add('oe/domain_key_order_shuffled', { ...oe(), domain: { revision: d.revision, chainId: d.chainId, name: d.name, version: d.version } });
  const m = td.message;
  add('oe/message_key_order_shuffled', {
    ...oe(),
    message: { Calls: m.Calls, 'Execute Before': m['Execute Before'], Nonce: m.Nonce, 'Execute After': m['Execute After'], Caller: m.Caller },
  });
  add('oe/extra_unused_type', oe({ types: { ...OE_TYPES, Unused: [{ name: 'x', type: 'felt' }] } }));
}
// -- starknet.js's own SNIP-9 helper (what a JS wallet builds locally)
add(
  'oe/starknetjs_helper_v2_sepolia',
  outsideExecution.getTypedData(
    constants.StarknetChainId.SN_SEPOLIA,
    { caller: ANY_CALLER, execute_after: AFTER, execute_before: BEFORE },
    NONCE,
    [
      { contractAddress: USDC, entrypoint: 'transfer', calldata: [RECIPIENT, '1000000', '0'] },
      { contractAddress: STRK, entrypoint: 'approve', calldata: [SPENDER, '10', '0'] },
    ],
    '2',
  ),
);
add(
  'oe/starknetjs_helper_v2_mainnet',
  outsideExecution.getTypedData(
    constants.StarknetChainId.SN_MAIN,
    { caller: ANY_CALLER, execute_after: hex(AFTER), execute_before: hex(BEFORE) },
    '0x1',
    [{ contractAddress: USDC, entrypoint: 'transfer', calldata: [] }],
    '2',
  ),
);
add(
  'r0/starknetjs_helper_outside_execution_v1',
  outsideExecution.getTypedData(
    constants.StarknetChainId.SN_SEPOLIA,
    { caller: ANY_CALLER, execute_after: AFTER, execute_before: BEFORE },
    NONCE,
    [{ contractAddress: USDC, entrypoint: 'transfer', calldata: [RECIPIENT, '1000000', '0'] }],
    '1',
  ),
);

// ---------------------------------------------------------------- revision 0 (Pedersen)
const R0_DOMAIN_TYPE = [
  { name: 'name', type: 'felt' },
  { name: 'version', type: 'felt' },
  { name: 'chainId', type: 'felt' },
];
const mail0 = (domain = { name: 'StarkNet Mail', version: '1', chainId: 1 }) => ({
  types: {
    StarkNetDomain: R0_DOMAIN_TYPE,
    Person: [
      { name: 'name', type: 'felt' },
      { name: 'wallet', type: 'felt' },
    ],
    Mail: [
      { name: 'from', type: 'Person' },
      { name: 'to', type: 'Person' },
      { name: 'contents', type: 'felt' },
    ],
  },
  primaryType: 'Mail',
  domain,
  message: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    contents: 'Hello, Bob!',
  },
});
add('r0/mail_classic', mail0(), '0xcd2a3d9f938e13cd947ec05abc7fe734df8dd826');
add('r0/mail_chain_shortstring', mail0({ name: 'StarkNet Mail', version: '1', chainId: 'SN_SEPOLIA' }));
add('r0/mail_chain_hex_version_number', mail0({ name: 'StarkNet Mail', version: 1, chainId: SN_MAIN_HEX }));
add('r0/mail_revision_string_0', mail0({ name: 'StarkNet Mail', version: '1', chainId: 1, revision: '0' }));
add('r0/mail_decimal_account', mail0(), dec(ACCOUNT));
add('r0/mail_struct_array', {
  types: {
    StarkNetDomain: R0_DOMAIN_TYPE,
    Person: [
      { name: 'name', type: 'felt' },
      { name: 'wallet', type: 'felt' },
    ],
    Post: [
      { name: 'title', type: 'felt' },
      { name: 'content', type: 'felt' },
    ],
    Mail: [
      { name: 'from', type: 'Person' },
      { name: 'to', type: 'Person' },
      { name: 'posts_len', type: 'felt' },
      { name: 'posts', type: 'Post*' },
    ],
  },
  primaryType: 'Mail',
  domain: { name: 'StarkNet Mail', version: '1', chainId: 1 },
  message: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    posts_len: 2,
    posts: [
      { title: 'Greeting', content: 'Hello, Bob!' },
      { title: 'Farewell', content: 'Goodbye, Bob!' },
    ],
  },
});
add('r0/felt_array_and_empty_array', {
  types: {
    StarkNetDomain: R0_DOMAIN_TYPE,
    Batch: [
      { name: 'ids', type: 'felt*' },
      { name: 'none', type: 'felt*' },
      { name: 'memo', type: 'felt' },
    ],
  },
  primaryType: 'Batch',
  domain: { name: 'Batches', version: '1', chainId: 'SN_SEPOLIA' },
  message: { ids: ['0x1', 2, '3', '0xabc'], none: [], memo: 'batch-1' },
});
add('r0/string_and_selector_types', {
  types: {
    StarkNetDomain: R0_DOMAIN_TYPE,
    Op: [
      { name: 'label', type: 'string' },
      { name: 'by_name', type: 'selector' },
      { name: 'by_hex', type: 'selector' },
    ],
  },
  primaryType: 'Op',
  domain: { name: 'Ops', version: '1', chainId: 'SN_MAIN' },
  message: { label: 'short label', by_name: 'transfer', by_hex: SEL.approve },
});
add('r0/rev1_basic_type_names_fall_back_to_felt', {
  types: {
    StarkNetDomain: R0_DOMAIN_TYPE,
    Mixed: [
      { name: 'who', type: 'ContractAddress' },
      { name: 'cls', type: 'ClassHash' },
      { name: 'amount', type: 'u128' },
      { name: 'when', type: 'timestamp' },
      { name: 'ok', type: 'bool' },
      { name: 'tag', type: 'shortstring' },
    ],
  },
  primaryType: 'Mixed',
  domain: { name: 'Mixed', version: '1', chainId: 'SN_SEPOLIA' },
  message: { who: USDC, cls: '0x053f4f8791ed5bed0fddaa553d180c664e32cfaf8316bb232ae77bb08f459f2a', amount: '1000', when: NOW, ok: true, tag: 'chipi' },
});
add('r0/nested_structs', {
  types: {
    StarkNetDomain: R0_DOMAIN_TYPE,
    Inner: [
      { name: 'a', type: 'felt' },
      { name: 'b', type: 'felt*' },
    ],
    Middle: [
      { name: 'inner', type: 'Inner' },
      { name: 'inners', type: 'Inner*' },
    ],
    Outer: [
      { name: 'middle', type: 'Middle' },
      { name: 'z', type: 'felt' },
    ],
  },
  primaryType: 'Outer',
  domain: { name: 'Nested', version: '1', chainId: 'SN_SEPOLIA' },
  message: {
    middle: {
      inner: { a: 1, b: ['0x2', '0x3'] },
      inners: [
        { a: '4', b: [] },
        { a: '0x5', b: ['6'] },
      ],
    },
    z: 'zz',
  },
});
const session0 = (policies) => ({
  types: {
    StarkNetDomain: R0_DOMAIN_TYPE,
    Session: [
      { name: 'key', type: 'felt' },
      { name: 'expires', type: 'felt' },
      { name: 'root', type: 'merkletree', contains: 'Policy' },
    ],
    Policy: [
      { name: 'contractAddress', type: 'felt' },
      { name: 'selector', type: 'selector' },
    ],
  },
  primaryType: 'Session',
  domain: { name: 'StarkNet Mail', version: '1', chainId: 1 },
  message: { key: '0x0000000000000000000000000000000000000000000000000000000000000000', expires: '0x0000000000000000000000000000000000000000000000000000000000000000', root: policies },
});
add(
  'r0/merkletree_session_two_policies',
  session0([
    { contractAddress: '0x1', selector: 'transfer' },
    { contractAddress: '0x2', selector: 'transfer' },
  ]),
);
add(
  'r0/merkletree_three_policies_mixed_selectors',
  session0([
    { contractAddress: USDC, selector: 'transfer' },
    { contractAddress: STRK, selector: SEL.approve },
    { contractAddress: '0x3', selector: 'swap' },
  ]),
);
add('r0/merkletree_single_leaf', session0([{ contractAddress: USDC, selector: 'transfer' }]));
add('r0/merkletree_raw_felts', {
  types: {
    StarkNetDomain: R0_DOMAIN_TYPE,
    Root: [{ name: 'root', type: 'merkletree', contains: 'felt' }],
  },
  primaryType: 'Root',
  domain: { name: 'Trees', version: '1', chainId: 'SN_SEPOLIA' },
  message: { root: ['0x1', '0x2', '0x3', '0x4', '0x5'] },
});

// ---------------------------------------------------------------- revision 1 (Poseidon)
const R1_DOMAIN_TYPE = OE_TYPES.StarknetDomain;
const r1 = (types, primaryType, message, domain = { name: 'Chipi Interop', version: '1', chainId: 'SN_SEPOLIA', revision: '1' }) => ({
  types: { StarknetDomain: R1_DOMAIN_TYPE, ...types },
  primaryType,
  domain,
  message,
});
const BASIC_TYPES = {
  Example: [
    { name: 'n0', type: 'felt' },
    { name: 'n1', type: 'shortstring' },
    { name: 'n2', type: 'ContractAddress' },
    { name: 'n3', type: 'ClassHash' },
    { name: 'n4', type: 'selector' },
    { name: 'n5', type: 'u128' },
    { name: 'n6', type: 'i128' },
    { name: 'n7', type: 'timestamp' },
    { name: 'n8', type: 'bool' },
    { name: 'n9', type: 'string' },
  ],
};
const basic = (over = {}) => ({
  n0: '0x3e8',
  n1: 'starknet',
  n2: USDC,
  n3: '0x053f4f8791ed5bed0fddaa553d180c664e32cfaf8316bb232ae77bb08f459f2a',
  n4: 'transfer',
  n5: '1000',
  n6: '-42',
  n7: NOW,
  n8: true,
  n9: 'a string that is longer than thirty-one characters',
  ...over,
});
add('r1/basic_types', r1(BASIC_TYPES, 'Example', basic()));
add('r1/basic_types_json_numbers', r1(BASIC_TYPES, 'Example', basic({ n0: 1000, n5: 1000, n6: -42, n7: NOW })));
add('r1/basic_types_hex_selector_false_bool', r1(BASIC_TYPES, 'Example', basic({ n4: SEL.transfer, n8: false })));
add('r1/basic_types_domain_numbers', r1(BASIC_TYPES, 'Example', basic(), { name: 'Chipi Interop', version: 1, chainId: SN_MAIN_HEX, revision: 1 }));
const ints = { Ints: [
  { name: 'u', type: 'u128' },
  { name: 'i', type: 'i128' },
  { name: 't', type: 'timestamp' },
] };
add('r1/u128_zero_i128_zero', r1(ints, 'Ints', { u: '0', i: '0', t: '0x0' }));
add('r1/u128_max_i128_max', r1(ints, 'Ints', { u: hex(U128_MAX), i: dec(I128_MAX), t: dec(U128_MAX) }));
add('r1/i128_min', r1(ints, 'Ints', { u: '1', i: dec(I128_MIN), t: 1 }));
add('r1/i128_minus_one_hex_u128', r1(ints, 'Ints', { u: '0xffff', i: '-1', t: NOW }));
add('r1/i128_negative_json_number', r1(ints, 'Ints', { u: 7, i: -123456789, t: NOW }));
const strings = { Strings: [
  { name: 's', type: 'string' },
] };
add('r1/string_empty', r1(strings, 'Strings', { s: '' }));
add('r1/string_1', r1(strings, 'Strings', { s: 'x' }));
add('r1/string_31', r1(strings, 'Strings', { s: 'a'.repeat(31) }));
add('r1/string_32', r1(strings, 'Strings', { s: 'b'.repeat(32) }));
add('r1/string_62', r1(strings, 'Strings', { s: 'c'.repeat(62) }));
add('r1/string_long_ascii', r1(strings, 'Strings', { s: 'Chipi session keys sign paymaster outside executions; 0123456789 !@#$%^&*()_+-=[]{};:,./<>?' }));
add('r1/string_digits_is_bytes_not_number', r1(strings, 'Strings', { s: '12345' }));
add('r1/string_hex_looking_is_bytes', r1(strings, 'Strings', { s: '0x1234' }));
const shortstrings = { Short: [
  { name: 'a', type: 'shortstring' },
  { name: 'b', type: 'shortstring' },
  { name: 'c', type: 'felt' },
] };
add('r1/shortstring_31_chars_and_numeric', r1(shortstrings, 'Short', { a: 'x'.repeat(31), b: '123', c: 'felt-as-text' }));
add('r1/shortstring_hex_and_json_number', r1(shortstrings, 'Short', { a: '0x68656c6c6f', b: 5, c: '0x0' }));
const ENUM_TYPES = {
  Example: [
    { name: 'someEnum1', type: 'enum', contains: 'EnumA' },
    { name: 'someEnum2', type: 'enum', contains: 'EnumB' },
  ],
  EnumA: [
    { name: 'Variant 1', type: '()' },
    { name: 'Variant 2', type: '(u128,u128*)' },
    { name: 'Variant 3', type: '(u128)' },
  ],
  EnumB: [
    { name: 'Variant 1', type: '()' },
    { name: 'Variant 2', type: '(u128)' },
  ],
};
add('r1/enum_starknetjs_example', r1(ENUM_TYPES, 'Example', { someEnum1: { 'Variant 2': [2, [0, 1]] }, someEnum2: { 'Variant 1': [] } }));
add('r1/enum_unit_and_single', r1(ENUM_TYPES, 'Example', { someEnum1: { 'Variant 1': [] }, someEnum2: { 'Variant 2': ['0x7'] } }));
add('r1/enum_third_variant', r1(ENUM_TYPES, 'Example', { someEnum1: { 'Variant 3': ['340282366920938463463374607431768211455'] }, someEnum2: { 'Variant 2': [0] } }));
const TREE_TYPES = {
  Session: [
    { name: 'Key', type: 'felt' },
    { name: 'Expires', type: 'timestamp' },
    { name: 'Root', type: 'merkletree', contains: 'Policy' },
  ],
  Policy: [
    { name: 'Contract Address', type: 'ContractAddress' },
    { name: 'Selector', type: 'selector' },
  ],
};
add('r1/merkletree_three_policies', r1(TREE_TYPES, 'Session', {
  Key: SESSION_PUB,
  Expires: NOW + 21600,
  Root: [
    { 'Contract Address': USDC, Selector: 'transfer' },
    { 'Contract Address': STRK, Selector: SEL.approve },
    { 'Contract Address': ACCOUNT, Selector: 'revoke_session_key' },
  ],
}));
add('r1/merkletree_single_policy', r1(TREE_TYPES, 'Session', { Key: SESSION_PUB, Expires: '0x0', Root: [{ 'Contract Address': USDC, Selector: 'transfer' }] }));
add('r1/merkletree_four_policies', r1(TREE_TYPES, 'Session', {
  Key: '0x1',
  Expires: NOW,
  Root: [USDC, STRK, RECIPIENT, SPENDER].map((a, i) => ({ 'Contract Address': a, Selector: i % 2 ? 'approve' : SEL.transfer })),
}));
const PRESET_TYPES = {
  Transfer: [
    { name: 'Amount', type: 'u256' },
    { name: 'Token Amount', type: 'TokenAmount' },
    { name: 'Nft', type: 'NftId' },
  ],
};
add('r1/presets_u256_tokenamount_nftid', r1(PRESET_TYPES, 'Transfer', {
  Amount: { low: '0xf4240', high: '0x0' },
  'Token Amount': { token_address: USDC, amount: { low: '1000000', high: '0' } },
  Nft: { collection_address: STRK, token_id: { low: hex(U128_MAX), high: '0x1' } },
}));
add('r1/presets_json_numbers', r1(PRESET_TYPES, 'Transfer', {
  Amount: { low: 1, high: 0 },
  'Token Amount': { token_address: USDC, amount: { low: 5, high: 0 } },
  Nft: { collection_address: STRK, token_id: { low: 42, high: 0 } },
}));
const NESTED_TYPES = {
  Order: [
    { name: 'Maker', type: 'ContractAddress' },
    { name: 'Legs', type: 'Leg*' },
    { name: 'Fee', type: 'TokenAmount' },
    { name: 'Meta', type: 'Meta' },
  ],
  Leg: [
    { name: 'Token', type: 'ContractAddress' },
    { name: 'Amount', type: 'u256' },
    { name: 'Tags', type: 'shortstring*' },
  ],
  Meta: [
    { name: 'Note', type: 'string' },
    { name: 'Flags', type: 'bool*' },
    { name: 'Deadline', type: 'timestamp' },
  ],
};
add('r1/nested_structs_arrays_presets', r1(NESTED_TYPES, 'Order', {
  Maker: ACCOUNT,
  Legs: [
    { Token: USDC, Amount: { low: '0x64', high: '0x0' }, Tags: ['buy', 'usdc'] },
    { Token: STRK, Amount: { low: '200', high: '0' }, Tags: [] },
  ],
  Fee: { token_address: STRK, amount: { low: 3, high: 0 } },
  Meta: { Note: 'nested structures with arrays of structs and presets', Flags: [true, false, true], Deadline: NOW + 60 },
}));
add('r1/empty_struct_array', r1(NESTED_TYPES, 'Order', {
  Maker: '0x1',
  Legs: [],
  Fee: { token_address: '0x2', amount: { low: 0, high: 0 } },
  Meta: { Note: '', Flags: [], Deadline: 0 },
}));
add('r1/selectors_name_and_hex_arrays', r1({ Sel: [
  { name: 'One', type: 'selector' },
  { name: 'Many', type: 'selector*' },
] }, 'Sel', { One: 'add_or_update_session_key', Many: ['transfer', SEL.approve, 'revoke_session_key'] }));
add('r1/domain_mainnet_shortstring_revision_number', r1(strings, 'Strings', { s: 'mainnet' }, { name: 'Chipi Interop', version: '2', chainId: 'SN_MAIN', revision: 1 }));

// ---------------------------------------------------------------- quirks (starknet.js accepts)
add('quirk/selector_decimal_string_hashed_as_name', oe({ calls: [{ To: USDC, Selector: dec(SEL.transfer), Calldata: [] }] }));
add('quirk/shortstring_empty_is_zero', r1(shortstrings, 'Short', { a: '', b: '0', c: '0x0' }));
add('quirk/bigint_literal_prefixes_binary_octal', r1(shortstrings, 'Short', { a: '0b101', b: '0o17', c: '0X1F' }));
add('quirk/whitespace_padded_numbers', oe({ nonce: ' 0x1 ', after: ` ${AFTER}`, before: `${BEFORE} ` }));
add('quirk/string_with_tab_unpadded_char_code', r1(strings, 'Strings', { s: 'tab\there' }));
add('quirk/domain_type_without_revision_field', {
  types: { StarknetDomain: R1_DOMAIN_TYPE.slice(0, 3), Strings: strings.Strings },
  primaryType: 'Strings',
  domain: { name: 'Chipi Interop', version: '1', chainId: 'SN_SEPOLIA', revision: '1' },
  message: { s: 'no revision in the domain type' },
});
add('quirk/r0_domain_has_extra_fields_ignored', mail0({ name: 'StarkNet Mail', version: '1', chainId: 1, extra: 'ignored' }));

// ---------------------------------------------------------------- rejected by starknet.js
reject('reject/r0_revision_json_number_zero', mail0({ name: 'StarkNet Mail', version: '1', chainId: 1, revision: 0 }));
reject('reject/revision_2', oe({ revision: '2' }));
reject('reject/rev1_with_legacy_domain_type', { ...oe(), types: { StarkNetDomain: OE_TYPES.StarknetDomain, OutsideExecution: OE_TYPES.OutsideExecution, Call: OE_TYPES.Call } });
reject('reject/rev1_missing_revision', (() => { const t = oe(); delete t.domain.revision; return t; })());
reject('reject/caller_as_shortstring', oe({ caller: 'ANY_CALLER' }));
reject('reject/execute_before_above_u128', oe({ before: hex(U128_MAX + 1n) }));
reject('reject/nonce_equal_to_prime', oe({ nonce: hex(P) }));
reject('reject/missing_message_field', (() => { const t = oe(); delete t.message.Nonce; return t; })());
reject('reject/missing_primary_type', (() => { const t = oe(); delete t.primaryType; return t; })());
reject('reject/i128_below_min', r1(ints, 'Ints', { u: '0', i: dec(I128_MIN - 1n), t: 0 }));
reject('reject/u128_negative', r1(ints, 'Ints', { u: '-1', i: '0', t: 0 }));
reject('reject/bool_as_string', r1(BASIC_TYPES, 'Example', basic({ n8: 'true' })));
reject('reject/shortstring_32_chars', r1(shortstrings, 'Short', { a: 'y'.repeat(32), b: '1', c: '1' }));
reject('reject/string_non_ascii', r1(strings, 'Strings', { s: 'señal' }));
reject('reject/string_with_newline', r1(strings, 'Strings', { s: 'line1\nline2' }));
reject('reject/unsupported_type_u64', r1({ T: [{ name: 'x', type: 'u64' }] }, 'T', { x: 1 }));
reject('reject/r0_felt_long_text', mail0({ name: 'A StarkNet domain name that is far too long', version: '1', chainId: 1 }));

// ---------------------------------------------------------------- hash and write
function messageHash(entry) {
  return num.toHex(typedData.getMessageHash(entry.typedData, entry.account));
}

for (const e of accepted) {
  e.hash = messageHash(e); // throws (and fails generation) if starknet.js cannot hash it
}
for (const e of rejected) {
  try {
    const h = messageHash(e);
    throw new Error(`${e.name} was expected to be rejected but hashed to ${h}`);
  } catch (err) {
    if (err.message.includes('was expected to be rejected')) throw err;
    e.error = err.message;
  }
}
const names = new Set();
for (const e of [...accepted, ...rejected]) {
  if (names.has(e.name)) throw new Error(`duplicate name ${e.name}`);
  names.add(e.name);
}

const files = [
  [join(here, '..', '..', 'guest', 'test-data', 'snip12_corpus.json'), accepted],
  [join(here, '..', '..', 'guest', 'test-data', 'snip12_rejected.json'), rejected],
];
const check = process.argv.includes('--check');
let stale = false;
for (const [path, entries] of files) {
  const text = `${JSON.stringify(entries, null, 2)}\n`;
  if (check) {
    let old = '';
    try {
      old = readFileSync(path, 'utf8');
    } catch {
      /* missing */
    }
    if (old !== text) {
      process.stderr.write(`stale: ${path}\n`);
      stale = true;
    }
  } else {
    writeFileSync(path, text);
  }
}
process.stdout.write(`accepted ${accepted.length}, rejected ${rejected.length}${check ? (stale ? ' (STALE)' : ' (up to date)') : ' (written)'}\n`);
process.exit(stale ? 1 : 0);
