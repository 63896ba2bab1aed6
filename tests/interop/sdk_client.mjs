#!/usr/bin/env node
// Drives Chipi's real SDK (`ChipiSDK` from @chipi-stack/backend 14.4.0) through the whole
// session lifecycle against a Chipi-compatible backend (the Rust sandbox, or mock_server.mjs):
//
//   create (sessions.createSessionKey)            local only: key pair + CryptoJS ciphertext
//   register (sessions.addSessionKeyToContract)   owner-signed sponsored tx
//   [status] (sessions.getSessionData)            starknet_call via JSON-RPC (opt-in)
//   execute x N (executeTransactionWithSession)   session-signed sponsored tx
//   [status]
//   revoke (sessions.revokeSessionKey)            owner-signed sponsored tx
//   [status]
//
// Usage: node sdk_client.mjs ARGS.json
// ARGS.json:
//   {
//     "apiUrl": "http://127.0.0.1:PORT/v1",          required; passed as the SDK's `alphaUrl`
//     "rpcUrl": "http://127.0.0.1:PORT/rpc",         optional; exported as STARKNET_RPC_URL before
//                                                    the SDK loads (only getSessionData uses it)
//     "apiKey": "pk_dev_<32+ alnum>",                required (SDK rejects other shapes)
//     "bearerToken": "...",                          optional (no Authorization header without it)
//     "wallet": {"publicKey": "0x..", "encryptedPrivateKey": "..", "walletType": "CHIPI"},
//     "encryptKey": "123456",                        decrypts the owner key, encrypts the session key
//     "calls": [{"contractAddress": "0x..", "entrypoint": "transfer", "calldata": ["0x1","0x2","0x0"]}],
//     "durationSeconds": 21600,                      optional, SDK default 21600
//     "maxCalls": 1000,                              optional, default 1000
//     "allowedEntrypoints": [],                      optional selectors (hex), default [] (= all)
//     "executions": 2,                               optional, default 2
//     "checkStatus": false                           optional; add getSessionData steps
//   }
//
// Stdout: exactly one JSON object,
//   {"steps":[{"step":"create","publicKey","validUntil","encryptedPrivateKey"},
//             {"step":"register","transactionHash"}, {"step":"execute","transactionHash"}, ...,
//             {"step":"revoke","transactionHash"}]}
// On failure the same object with the steps done so far plus
//   "error": {"step", "name", "message", "code", "status"}  and exit code 1.
// Everything the SDK logs (it console.logs a lot) goes to stderr. Exit 2 on bad arguments.

import {
  describeError,
  emit,
  importChipiSdk,
  newChipiSdk,
  readArgs,
  redirectConsoleToStderr,
} from './sdk_common.mjs';

redirectConsoleToStderr();
const args = readArgs('sdk_client', ['apiUrl', 'apiKey', 'wallet', 'encryptKey', 'calls']);
const ChipiSDK = await importChipiSdk(args);

const steps = [];
let current = 'init';

try {
  const sdk = newChipiSdk(ChipiSDK, args);
  const { bearerToken, encryptKey, calls } = args;
  const wallet = args.wallet;

  const status = async (label) => {
    if (!args.checkStatus) return;
    current = `status:${label}`;
    const data = await sdk.sessions.getSessionData({
      walletAddress: wallet.publicKey,
      sessionPublicKey: session.publicKey,
    });
    steps.push({ step: 'status', after: label, ...data });
  };

  current = 'create';
  const session = sdk.sessions.createSessionKey({
    encryptKey,
    ...(args.durationSeconds !== undefined ? { durationSeconds: args.durationSeconds } : {}),
  });
  steps.push({ step: 'create', ...session });

  current = 'register';
  const registerTx = await sdk.sessions.addSessionKeyToContract(
    {
      encryptKey,
      wallet,
      sessionConfig: {
        sessionPublicKey: session.publicKey,
        validUntil: session.validUntil,
        maxCalls: args.maxCalls ?? 1000,
        allowedEntrypoints: args.allowedEntrypoints ?? [],
      },
    },
    bearerToken,
  );
  steps.push({ step: 'register', transactionHash: registerTx });
  await status('register');

  const executions = args.executions ?? 2;
  for (let i = 0; i < executions; i += 1) {
    current = `execute#${i + 1}`;
    const tx = await sdk.executeTransactionWithSession({
      params: { encryptKey, wallet, session, calls },
      bearerToken,
    });
    steps.push({ step: 'execute', transactionHash: tx });
  }
  await status('execute');

  current = 'revoke';
  const revokeTx = await sdk.sessions.revokeSessionKey(
    { encryptKey, wallet, sessionPublicKey: session.publicKey },
    bearerToken,
  );
  steps.push({ step: 'revoke', transactionHash: revokeTx });
  await status('revoke');

  emit({ steps }, 0);
} catch (e) {
  process.stderr.write(`sdk_client: ${current} failed: ${e?.stack ?? e}\n`);
  emit({ steps, error: describeError(current, e) }, 1);
}
