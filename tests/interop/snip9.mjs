// Shared constants of the SNIP-9 v2 outside execution (the typed data paymasters return
// and session keys sign), used by gen_corpus.mjs and mock_server.mjs. The schema itself
// is data shared with the guest's fake backend and the sandbox:
// guest/test-data/outside_execution_v2.json.

import { readFileSync } from 'node:fs';

const SCHEMA = JSON.parse(
  readFileSync(new URL('../../guest/test-data/outside_execution_v2.json', import.meta.url), 'utf8'),
);

/** Chain id of Starknet Sepolia, "SN_SEPOLIA" as a hex short string. */
export const SN_SEPOLIA_HEX = '0x534e5f5345504f4c4941';
/** "ANY_CALLER" as a short string: the Caller of paymaster outside executions. */
export const ANY_CALLER = '0x414e595f43414c4c4552';

/** SNIP-12 revision-1 types of `OutsideExecution` (SNIP-9 v2). */
export const OE_TYPES = SCHEMA.types;
