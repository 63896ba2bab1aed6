// Error codes and the error class of the package.

/**
 * The component's `session-error` cases (WIT case names) and the Chipi error
 * code each one maps to. A copy of `guest/src/protocol/error_table.rs`, in
 * the same order; `test/error_table.test.mjs` parses that file and fails when
 * the two differ.
 *
 * @type {Readonly<Record<string, string>>}
 */
export const SESSION_ERROR_CODES = Object.freeze({
  'invalid-wallet-type-for-session': 'INVALID_WALLET_TYPE_FOR_SESSION',
  'session-expired': 'SESSION_EXPIRED',
  'session-not-registered': 'SESSION_NOT_REGISTERED',
  'session-revoked': 'SESSION_REVOKED',
  'session-max-calls-exceeded': 'SESSION_MAX_CALLS_EXCEEDED',
  'session-entrypoint-not-allowed': 'SESSION_ENTRYPOINT_NOT_ALLOWED',
  'session-decryption-failed': 'SESSION_DECRYPTION_FAILED',
  'session-creation-failed': 'SESSION_CREATION_FAILED',
  'session-invalid-response': 'SESSION_INVALID_RESPONSE',
  'invalid-spending-policy': 'INVALID_SPENDING_POLICY',
  backend: 'BACKEND_ERROR',
  transport: 'TRANSPORT_ERROR',
  'invalid-input': 'INVALID_INPUT',
  store: 'STORE_ERROR',
  unauthorized: 'UNAUTHORIZED',
  'transaction-pending': 'TRANSACTION_PENDING',
  'already-executed': 'ALREADY_EXECUTED',
});

/** Code of failures of the host itself (trap, time limit, worker crash), as the CLI prints it. */
export const HOST_ERROR = 'HOST_ERROR';

/**
 * A failed operation. `code` is the Chipi error code the CLI prints
 * (`SESSION_MAX_CALLS_EXCEEDED`, `TRANSPORT_ERROR`, ..., or `HOST_ERROR` for a
 * failure of the host: trap, time limit, crashed worker). Backend errors also
 * carry the HTTP `status` (0 for a JSON-RPC error) and the body's `backendCode`.
 * A failure that concerns a transaction already sent (every failure of
 * `waitForTransaction`) carries its `transactionHash`: it may still land, so
 * it must not be sent again.
 */
export class ChipiSessionError extends Error {
  /**
   * @param {string} code Chipi error code.
   * @param {string} message Human-readable message (never contains secrets).
   * @param {{status?: number, backendCode?: string, transactionHash?: string, cause?: unknown}} [details]
   */
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    /** @type {string} */
    this.name = 'ChipiSessionError';
    /** @type {string} */
    this.code = code;
    if (details.status !== undefined) {
      /** @type {number | undefined} */
      this.status = details.status;
    }
    if (details.backendCode !== undefined) {
      /** @type {string | undefined} */
      this.backendCode = details.backendCode;
    }
    if (details.transactionHash !== undefined) {
      /** @type {string | undefined} */
      this.transactionHash = details.transactionHash;
    }
  }
}

/**
 * `HTTP <status> [<code>]: <message>` (status 0 reads `JSON-RPC`), as the Rust
 * host describes a backend error.
 *
 * @param {{status: number, code?: string, message: string}} b
 * @returns {string}
 */
function describeBackend(b) {
  const status = b.status === 0 ? 'JSON-RPC' : `HTTP ${b.status}`;
  return b.code === undefined || b.code === null
    ? `${status}: ${b.message}`
    : `${status} [${b.code}]: ${b.message}`;
}

/**
 * Whether `payload` is a value of the WIT `session-error` variant.
 *
 * @param {unknown} payload
 * @returns {boolean}
 */
export function isSessionErrorPayload(payload) {
  return (
    payload !== null &&
    typeof payload === 'object' &&
    typeof (/** @type {any} */ (payload).tag) === 'string' &&
    Object.hasOwn(SESSION_ERROR_CODES, /** @type {any} */ (payload).tag)
  );
}

/**
 * The error for a `session-error` value returned by the component.
 *
 * @param {{tag: string, val: any}} payload
 * @returns {ChipiSessionError}
 */
export function fromSessionError(payload) {
  const code = SESSION_ERROR_CODES[payload.tag];
  if (payload.tag === 'backend') {
    const b = payload.val;
    return new ChipiSessionError(code, describeBackend(b), {
      status: b.status,
      backendCode: b.code ?? undefined,
    });
  }
  return new ChipiSessionError(code, String(payload.val));
}
