// The allow-list check wrapped around `wasi:http/outgoing-handler#handle`.

import { requestOrigin } from './allowlist.js';

/**
 * Wrap an outgoing handler so that a request whose scheme, host and port are
 * not allow-listed is refused with the `wasi:http` error code
 * `HTTP-request-denied` before anything is resolved or connected.
 *
 * @param {(request: any, options: any) => any} handle The real handler (preview2-shim).
 * @param {() => ReadonlySet<string>} allowed The canonical origins allowed for the call running now.
 * @param {(origin: string | null) => void} [onDenied] Told about each refusal.
 * @returns {{handle: (request: any, options: any) => any}}
 */
export function guardOutgoingHandler(handle, allowed, onDenied = () => {}) {
  return {
    handle(request, options) {
      const origin = requestOrigin(request.scheme(), request.authority());
      if (origin === null || !allowed().has(origin)) {
        onDenied(origin);
        return { tag: 'err', val: { tag: 'HTTP-request-denied' } };
      }
      return handle(request, options);
    },
  };
}
