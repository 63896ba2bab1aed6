// Sizes the host refuses to lower into the component: lowering copies a value
// into the component's linear memory (through its `cabi_realloc`), so an
// unbounded value grows that memory without limit, or past what the engine
// can allocate.

/**
 * Largest store value lowered into the component: 8 MiB, far above a real
 * session record (the component never writes a larger one). A store `get`
 * answering more is reported to the component as a store failure
 * (`STORE_ERROR`); the value itself never reaches it.
 */
export const MAX_STORE_VALUE_BYTES = 8 * 1024 * 1024;

/**
 * Largest total of an export call's string arguments with the session
 * context, in UTF-8 bytes: 1 MiB. A call above it is refused with
 * `INVALID_INPUT` before the component is called (the largest valid execute,
 * 64 calls of 4,096 felts in total, is about 350 KiB).
 */
export const MAX_ARGUMENT_BYTES = 1024 * 1024;

/**
 * The message of a store value above {@link MAX_STORE_VALUE_BYTES}, or null
 * when `bytes` is within it.
 *
 * @param {number} bytes
 * @returns {string | null}
 */
export function storeValueTooLarge(bytes) {
  return bytes > MAX_STORE_VALUE_BYTES
    ? `store value of ${bytes} bytes exceeds the 8 MiB limit of a session record`
    : null;
}

/**
 * The UTF-8 bytes of every string in `value` (arrays and plain objects
 * walked, other values count nothing).
 *
 * @param {unknown} value
 * @returns {number}
 */
export function stringBytes(value) {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  let total = 0;
  if (Array.isArray(value)) {
    for (const item of value) total += stringBytes(item);
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) total += stringBytes(item);
  }
  return total;
}
